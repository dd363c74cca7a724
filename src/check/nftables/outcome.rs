//! Judging what the outcome lines rest on: per-element counters on both
//! return-path maps.
//!
//! The helper tells whether a server answered from the count the kernel
//! keeps on each map element (`counter` in the map declaration), not from
//! ICMP errors: the helper's requests leave untracked, so ICMP errors
//! about them are conntrack-invalid and a default-drop input chain with
//! `ct state invalid drop` never delivers them. This file says which one
//! the loaded ruleset gives; it must not judge anything else of the table.

use super::ruleset::Ruleset;
use crate::check::Finding;

/// Whether both maps of `table` count their elements' use.
pub fn check_outcome(ruleset: &Ruleset, table: &str) -> Finding {
    let uncounted: Vec<&str> = ["return_v4", "return_v6"]
        .into_iter()
        .filter(|name| {
            ruleset
                .maps
                .iter()
                .any(|m| m.family == "inet" && m.table == table && m.name == *name && !m.counter)
        })
        .collect();
    if uncounted.is_empty() {
        Finding::ok(
            "outcome lines come from the return-path maps' counters, not from ICMP errors (a default-drop input chain with ct state invalid drop only hides their ICMP detail)",
        )
    } else {
        Finding::warning(format!(
            "map {} of table inet {table} declared without counter: outcome lines say \"outcome unknown\" instead of whether the server answered; load tftp-proxy.nft as shipped (its maps declare counter)",
            uncounted.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::gateway;
    use super::*;

    #[test]
    fn maps_without_counters_are_named() {
        assert!(check_outcome(&gateway(), "tftp_proxy")
            .to_string()
            .starts_with("ok: outcome lines come from the return-path maps' counters"));
        let mut r = gateway();
        for m in &mut r.maps {
            if m.name == "return_v6" {
                m.counter = false;
            }
        }
        assert_eq!(
            check_outcome(&r, "tftp_proxy").to_string(),
            "warning: map return_v6 of table inet tftp_proxy declared without counter: outcome lines say \"outcome unknown\" instead of whether the server answered; load tftp-proxy.nft as shipped (its maps declare counter)"
        );
    }
}
