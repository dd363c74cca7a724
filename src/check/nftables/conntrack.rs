//! Judging conntrack beside the helper: the kernel's own TFTP helper, and
//! the notrack rule for the helper's marked requests that single-port
//! servers need.
//!
//! This file must not judge the filter chains (`paths` does) nor walk
//! packets.

use super::ruleset::Ruleset;
use crate::check::Finding;
use serde_json::Value;

/// Whether the kernel's own conntrack TFTP helper is defined as well.
pub fn check_kernel_helper(ruleset: &Ruleset) -> Finding {
    match ruleset.tftp_helpers.first() {
        None => Finding::ok("no conntrack TFTP helper is defined beside tftp-proxy"),
        Some(helper) => Finding::warning(format!(
            "the conntrack TFTP helper {helper} is defined: where it is attached to port 69 it and tftp-proxy both act on the same transfers; remove it, or leave TFTP to it alone"
        )),
    }
}

/// The mark a rule's expressions match with `meta mark == N`, if any.
fn matched_mark(exprs: &[Value]) -> Option<u64> {
    exprs.iter().find_map(|e| {
        let m = e.get("match")?;
        let key = m.get("left")?.get("meta")?.get("key")?.as_str()?;
        let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
        (key == "mark" && op == "==")
            .then(|| m.get("right")?.as_u64())
            .flatten()
    })
}

/// Whether the helper's requests to the servers, marked with `mark`
/// (`--mark`), leave untracked, as servers that answer from port 69 need:
/// a rule matching that mark with `notrack` in an output chain that runs
/// before conntrack (priority below -200, e.g. `raw`), for IPv4 and IPv6.
pub fn check_single_port(ruleset: &Ruleset, mark: u32) -> Finding {
    if mark == 0 {
        return Finding::warning(
            "--mark 0: servers that answer from port 69 (single-port servers) fail; drop --mark 0 to serve them",
        );
    }
    let notrack_marks = |families: &[&str]| -> Vec<u64> {
        ruleset
            .chains
            .iter()
            .filter(|c| {
                c.hook.as_deref() == Some("output")
                    && c.priority < -200
                    && families.contains(&c.family.as_str())
            })
            .flat_map(|c| &c.rules)
            .filter(|(_, exprs)| exprs.iter().any(|e| e.get("notrack").is_some()))
            .filter_map(|(_, exprs)| matched_mark(exprs))
            .collect()
    };
    let v4 = notrack_marks(&["inet", "ip"]);
    let v6 = notrack_marks(&["inet", "ip6"]);
    let wanted = u64::from(mark);
    if v4.contains(&wanted) && v6.contains(&wanted) {
        return Finding::ok(format!(
            "the helper's requests (mark {mark:#x}) leave untracked: servers answering from port 69 work"
        ));
    }
    let other = v4.iter().chain(&v6).find(|&&m| m != wanted);
    let hint = match other {
        Some(m) => format!(
            " (a notrack rule matches mark {m:#x}: pass that to --mark, or change the rule)"
        ),
        None => String::new(),
    };
    Finding::warning(format!(
        "no output chain of priority raw sets notrack on mark {mark:#x} for IPv4 and IPv6{hint}: servers that answer from port 69 (single-port servers) fail; include the shipped etc/tftp-proxy.nft as is"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{gateway, remove_rules};
    use super::*;
    use crate::check::Status;

    #[test]
    fn single_port_servers_need_the_notrack_rule_for_the_mark() {
        let shipped = 0x7466_7470;
        assert_eq!(
            check_single_port(&gateway(), shipped).to_string(),
            "ok: the helper's requests (mark 0x74667470) leave untracked: servers answering from port 69 work"
        );
        let other = check_single_port(&gateway(), 7);
        assert_eq!(other.status, Status::Warning);
        assert!(
            other
                .text
                .contains("a notrack rule matches mark 0x74667470"),
            "{other}"
        );
        assert_eq!(check_single_port(&gateway(), 0).status, Status::Warning);
        let mut r = gateway();
        remove_rules(&mut r, "tftp_proxy", "output", "notrack");
        let missing = check_single_port(&r, shipped);
        assert_eq!(
            missing.to_string(),
            "warning: no output chain of priority raw sets notrack on mark 0x74667470 for IPv4 and IPv6: servers that answer from port 69 (single-port servers) fail; include the shipped etc/tftp-proxy.nft as is"
        );
    }
    #[test]
    fn kernel_tftp_helper_is_a_warning() {
        let json = r#"{"nftables":[{"table":{"family":"inet","name":"kernel_tftp"}},
            {"ct helper":{"family":"inet","name":"tftp_69","table":"kernel_tftp","type":"tftp","protocol":"udp","l3proto":"inet"}}]}"#;
        let f = check_kernel_helper(&Ruleset::parse(json).unwrap());
        assert_eq!(f.status, Status::Warning);
        assert!(
            f.text
                .starts_with("the conntrack TFTP helper inet kernel_tftp tftp_69 is defined"),
            "{f}"
        );
    }
}
