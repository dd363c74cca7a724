//! Judging the shipped table: loaded, with both return-path maps (with
//! timeouts) and the rules that use them.
//!
//! This file must not judge the redirect (`redirect` does) nor the filter
//! chains (`paths` does).

use super::redirect::rule_iifname;
use super::ruleset::Ruleset;
use crate::check::Finding;
use serde_json::Value;

/// Whether `table inet <table>` is loaded with both maps and the rules
/// that use them. Also returns the servers' side interface the map rules
/// name, if they do.
pub fn check_table(ruleset: &Ruleset, table: &str) -> (Finding, Option<String>) {
    if !ruleset
        .tables
        .iter()
        .any(|(f, n)| f == "inet" && n == table)
    {
        return (
            Finding::fault(format!(
                "table inet {table} is not loaded: include tftp-proxy.nft in your nftables ruleset (include \"/usr/local/share/tftp-proxy/tftp-proxy.nft\") and load it, or name the right table with --table"
            )),
            None,
        );
    }
    let mut ext_if = None;
    for map in ["return_v4", "return_v6"] {
        let Some(m) = ruleset
            .maps
            .iter()
            .find(|m| m.family == "inet" && m.table == table && m.name == map)
        else {
            return (
                Finding::fault(format!(
                    "table inet {table} has no map {map}: load tftp-proxy.nft as shipped"
                )),
                None,
            );
        };
        if !m.flags.iter().any(|f| f == "timeout") {
            return (
                Finding::fault(format!(
                    "map inet {table} {map} has no timeout flag, so return paths would never expire: load tftp-proxy.nft as shipped"
                )),
                None,
            );
        }
        let reference = format!("\"@{map}\"");
        let user = ruleset.chains.iter().find_map(|c| {
            c.rules
                .iter()
                .find(|(_, e)| Value::Array(e.clone()).to_string().contains(&reference))
                .map(|(_, e)| rule_iifname(e))
        });
        match user {
            None => {
                return (
                    Finding::fault(format!(
                        "no rule sends the servers' answers through map {map}: load tftp-proxy.nft as shipped"
                    )),
                    None,
                )
            }
            Some(i) => ext_if = ext_if.or(i),
        }
    }
    (
        Finding::ok(format!(
            "table inet {table} is loaded with maps return_v4 and return_v6"
        )),
        ext_if,
    )
}
