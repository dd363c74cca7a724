//! The rule that sends the phones' TFTP requests to the helper: finding
//! it in a nat prerouting chain, and judging it.
//!
//! This file must not judge the filter chains (`paths` does) nor the
//! shipped table (`table` does).

use super::ruleset::Ruleset;
use super::walk::{matches, Packet};
use crate::check::Finding;
use serde_json::Value;

/// The interface a rule matches with `iifname "x"`, if it does.
pub(super) fn rule_iifname(exprs: &[Value]) -> Option<String> {
    exprs.iter().find_map(|e| {
        let m = e.get("match")?;
        let key = m.get("left")?.get("meta")?.get("key")?.as_str()?;
        let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
        ((key == "iifname" || key == "iif") && op == "==")
            .then(|| m.get("right")?.as_str().map(str::to_owned))?
    })
}

/// The rule that sends phones' TFTP requests to the helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The helper's port it redirects to.
    pub port: u16,
    /// The chain holding it.
    pub chain: String,
    /// The phones' interface, if the rule names it.
    pub interface: Option<String>,
}

/// Finds a rule in a nat prerouting chain matching UDP port 69 and
/// redirecting it (`redirect to :P`, or `dnat` to a port).
pub fn find_redirect(ruleset: &Ruleset) -> Option<Redirect> {
    let probe = Packet {
        v6: false,
        iif: None,
        oif: None,
        dport: Some(69),
        ct_state: "new",
        ct_status: &[],
        fib_daddr: None,
        fib_saddr: None,
    };
    for chain in &ruleset.chains {
        if chain.hook.as_deref() != Some("prerouting") {
            continue;
        }
        for (_, exprs) in &chain.rules {
            let port69 = exprs.iter().any(|e| {
                e.get("match").is_some_and(|m| {
                    let dport = m
                        .get("left")
                        .and_then(|l| l.get("payload"))
                        .is_some_and(|p| p.get("field").and_then(Value::as_str) == Some("dport"));
                    dport && matches(&probe, m) == Some(true)
                })
            });
            let port = exprs.iter().find_map(|e| {
                e.get("redirect")
                    .or_else(|| e.get("dnat"))
                    .and_then(|r| r.get("port"))
                    .and_then(Value::as_u64)
            });
            if let (true, Some(port)) = (port69, port) {
                return Some(Redirect {
                    port: u16::try_from(port).ok()?,
                    chain: chain.describe(),
                    interface: rule_iifname(exprs),
                });
            }
        }
    }
    None
}

/// Judges the redirect rule: found, or the fault.
pub fn check_redirect(redirect: Option<&Redirect>) -> Finding {
    match redirect {
        Some(r) => Finding::ok(format!(
            "chain {} redirects UDP port 69 to port {}",
            r.chain, r.port
        )),
        None => Finding::fault(
            "no rule redirects UDP port 69 to the helper: include tftp-proxy.nft in your nftables ruleset and define int_if as the phones' interface",
        ),
    }
}
