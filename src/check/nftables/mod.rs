//! The nftables ruleset as `nft -j list ruleset` prints it, and the
//! judgements `--check` makes on it: is the shipped table loaded, does a
//! rule redirect TFTP to the helper, and what the filter chains do to the
//! packets a transfer needs.
//!
//! The walk through the chains is an approximation made for this purpose:
//! it knows the packets' interfaces, ports, conntrack state and status and
//! `fib` address types, and treats a match on anything else (addresses,
//! marks, ...) as not matching. It never claims more than it knows: a
//! verdict it cannot reach is the chain's policy.
//!
//! Files, one job each:
//! - `ruleset`: reading the JSON into a [`Ruleset`] (chains, maps, helpers);
//! - `walk`: walking a [`Packet`] through a hook's chains to its verdict;
//! - `redirect`: finding the rule that sends TFTP to the helper;
//! - `table`: judging the shipped table and its maps;
//! - `paths`: judging what the input, forward, output and nat chains do to
//!   the transfer's packets;
//! - `conntrack`: judging conntrack beside the helper (the kernel's TFTP
//!   helper, the notrack rule for single-port servers);
//! - `outcome`: judging what the outcome lines rest on (the maps' counters).
//!
//! This file only re-exports them and runs the checks in order
//! ([`check_ruleset`]); it must not hold a check of its own or parse JSON.

mod conntrack;
#[cfg(test)]
mod fixtures;
mod outcome;
mod paths;
mod redirect;
mod ruleset;
mod table;
mod walk;

pub use conntrack::{check_kernel_helper, check_single_port};
pub use outcome::check_outcome;
pub use paths::{check_forward, check_input, check_nat, check_output};
pub use redirect::{check_redirect, find_redirect, Redirect};
pub use ruleset::{Chain, Map, Ruleset};
pub use table::check_table;
pub use walk::Packet;

use super::Finding;

/// Every ruleset check, in order, from `nft -j list ruleset` output; also
/// the helper's port the redirect names.
pub fn check_ruleset(ruleset: &Ruleset, table: &str) -> (Vec<Finding>, Option<u16>) {
    let (table_finding, ext_if) = check_table(ruleset, table);
    let redirect = find_redirect(ruleset);
    let int_if = redirect.as_ref().and_then(|r| r.interface.clone());
    let port = redirect
        .as_ref()
        .map_or(super::DEFAULT_HELPER_PORT, |r| r.port);
    let findings = vec![
        table_finding,
        check_redirect(redirect.as_ref()),
        check_input(ruleset, port, int_if.as_deref()),
        check_forward(ruleset, ext_if.as_deref(), int_if.as_deref()),
        check_output(ruleset, ext_if.as_deref()),
        check_nat(ruleset, ext_if.as_deref()),
        check_kernel_helper(ruleset),
        check_outcome(ruleset, table),
    ];
    (findings, redirect.map(|r| r.port))
}

#[cfg(test)]
mod tests {
    use super::fixtures::gateway;
    use super::*;
    use crate::check::Status;

    fn lines(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(ToString::to_string).collect()
    }
    #[test]
    fn a_working_gateway_passes_every_check() {
        let (findings, port) = check_ruleset(&gateway(), "tftp_proxy");
        assert_eq!(port, Some(6969));
        assert_eq!(
            lines(&findings),
            [
                "ok: table inet tftp_proxy is loaded with maps return_v4 and return_v6",
                "ok: chain inet tftp_proxy prerouting redirects UDP port 69 to port 6969",
                "ok: the input path accepts redirected requests to port 6969",
                "ok: the forward path accepts the servers' answers (ct status dnat) and the transfers",
                "ok: the output path lets the helper's requests out",
                "ok: no masquerade or snat rewrites the helper's own requests",
                "ok: no conntrack TFTP helper is defined beside tftp-proxy",
                "ok: outcome lines come from the return-path maps' counters and the delivered sets' (counted in postrouting, after the forward chain), not from ICMP errors (a default-drop input chain with ct state invalid drop only hides their ICMP detail)",
            ]
        );
        let r = find_redirect(&gateway()).unwrap();
        assert_eq!(r.interface.as_deref(), Some("lan0"));
    }

    #[test]
    fn another_table_name_is_missing() {
        let (findings, _) = check_ruleset(&gateway(), "tftp");
        assert!(findings[0]
            .to_string()
            .starts_with("FAULT: table inet tftp is not loaded: include tftp-proxy.nft"));
    }

    #[test]
    fn missing_include_is_two_faults() {
        let mut r = gateway();
        r.tables.retain(|(_, n)| n != "tftp_proxy");
        r.maps.clear();
        r.chains.retain(|c| c.table != "tftp_proxy");
        let (findings, port) = check_ruleset(&r, "tftp_proxy");
        assert_eq!(port, None);
        assert_eq!(findings[0].status, Status::Fault);
        assert_eq!(
            findings[1].to_string(),
            "FAULT: no rule redirects UDP port 69 to the helper: include tftp-proxy.nft in your nftables ruleset and define int_if as the phones' interface"
        );
    }
}
