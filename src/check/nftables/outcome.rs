//! Judging what the outcome lines rest on: per-element counters on both
//! return-path maps.
//!
//! The helper tells whether a server answered from the count the kernel
//! keeps on each map element (`counter` in the map declaration), not from
//! ICMP errors: the helper's requests leave untracked, so ICMP errors
//! about them are conntrack-invalid and a default-drop input chain with
//! `ct state invalid drop` never delivers them. An answer the forward
//! chain drops was redirected (the map counted it) but never left: the
//! `delivered` sets, looked up in a postrouting chain, tell the two apart.
//! This file says which of these the loaded ruleset gives; it must not
//! judge anything else of the table.

use super::ruleset::Ruleset;
use crate::check::Finding;
use serde_json::Value;

/// The `delivered` sets whose lookups in a postrouting chain of `table`
/// count their elements' use; the ones missing from that, by name.
fn uncounted_delivered(ruleset: &Ruleset, table: &str) -> Vec<&'static str> {
    ["delivered_v4", "delivered_v6"]
        .into_iter()
        .filter(|name| {
            let declared = ruleset
                .maps
                .iter()
                .any(|m| m.family == "inet" && m.table == table && m.name == *name && m.counter);
            let looked_up = ruleset.chains.iter().any(|c| {
                c.family == "inet"
                    && c.table == table
                    && c.hook.as_deref() == Some("postrouting")
                    && c.rules.iter().any(|(_, expr)| {
                        Value::Array(expr.clone())
                            .to_string()
                            .contains(&format!("\"@{name}\""))
                    })
            });
            !(declared && looked_up)
        })
        .collect()
}

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
    let undelivered = uncounted_delivered(ruleset, table);
    if uncounted.is_empty() && undelivered.is_empty() {
        Finding::ok(
            "outcome lines come from the return-path maps' counters and the delivered sets' (counted in postrouting, after the forward chain), not from ICMP errors (a default-drop input chain with ct state invalid drop only hides their ICMP detail)",
        )
    } else if uncounted.is_empty() {
        Finding::warning(format!(
            "set {} of table inet {table} missing, without counter, or looked up in no postrouting chain: an answer the firewall drops is logged \"answered\" instead of \"answer dropped on the firewall\"; load tftp-proxy.nft as shipped",
            undelivered.join(" and ")
        ))
    } else {
        Finding::warning(format!(
            "map {} of table inet {table} declared without counter: outcome lines say \"outcome unknown\" instead of whether the server answered; load tftp-proxy.nft as shipped (its maps declare counter)",
            uncounted.join(" and ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{gateway, remove_rules};
    use super::*;

    #[test]
    fn delivered_sets_missing_or_not_looked_up_are_named() {
        let mut r = gateway();
        r.maps.retain(|m| m.name != "delivered_v6");
        assert_eq!(
            check_outcome(&r, "tftp_proxy").to_string(),
            "warning: set delivered_v6 of table inet tftp_proxy missing, without counter, or looked up in no postrouting chain: an answer the firewall drops is logged \"answered\" instead of \"answer dropped on the firewall\"; load tftp-proxy.nft as shipped"
        );
        let mut r = gateway();
        remove_rules(&mut r, "tftp_proxy", "postrouting", "@delivered_v4");
        assert!(check_outcome(&r, "tftp_proxy")
            .to_string()
            .starts_with("warning: set delivered_v4 of table"));
    }

    #[test]
    fn maps_without_counters_are_named() {
        assert!(check_outcome(&gateway(), "tftp_proxy")
            .to_string()
            .starts_with(
            "ok: outcome lines come from the return-path maps' counters and the delivered sets'"
        ));
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
