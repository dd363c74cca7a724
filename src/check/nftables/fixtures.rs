//! Test fixtures shared by the nftables checks' tests: a gateway's
//! ruleset as `nft -j list ruleset` printed it, and a way to take rules out
//! of it. Only tests use this file; it must not hold assertions of a check.

use super::Ruleset;
use serde_json::Value;

/// A gateway's ruleset, as `nft -j list ruleset` printed it: the
/// shipped include, an input chain with policy drop (a verdict map and
/// a jump), a forward chain with policy drop, and masquerade random
/// behind the exemption for the firewall's own packets.
pub(super) fn gateway() -> Ruleset {
    Ruleset::parse(include_str!("../testdata/gateway.json")).expect("fixture parses")
}

pub(super) fn remove_rules(ruleset: &mut Ruleset, table: &str, chain: &str, containing: &str) {
    let c = ruleset
        .chains
        .iter_mut()
        .find(|c| c.table == table && c.name == chain)
        .expect("chain in fixture");
    let before = c.rules.len();
    c.rules
        .retain(|(_, e)| !Value::Array(e.clone()).to_string().contains(containing));
    assert!(
        c.rules.len() < before,
        "no rule with {containing} in {chain}"
    );
}
