//! Reading `nft -j list ruleset` output into a [`Ruleset`]: its tables,
//! maps and sets, conntrack TFTP helpers, and chains with their rules.
//!
//! This file only reads the JSON into plain data; it must not judge the
//! ruleset (the checks do) nor walk packets through it (`walk` does).

use serde_json::Value;

/// A base or regular chain with its rules.
#[derive(Debug, Clone)]
pub struct Chain {
    /// `inet`, `ip`, `ip6`, ...
    pub family: String,
    /// The table's name.
    pub table: String,
    /// The chain's name.
    pub name: String,
    /// The hook of a base chain.
    pub hook: Option<String>,
    /// `filter`, `nat`, `route` for a base chain.
    pub kind: Option<String>,
    /// The base chain's priority.
    pub priority: i64,
    /// The base chain's policy (`accept` unless told).
    pub policy: String,
    /// The rules: each a handle and its expressions.
    pub rules: Vec<(u64, Vec<Value>)>,
}

impl Chain {
    /// `family table name`, as findings name the chain.
    pub(super) fn describe(&self) -> String {
        format!("{} {} {}", self.family, self.table, self.name)
    }
}

/// A named map or set.
#[derive(Debug, Clone)]
pub struct Map {
    /// Family of its table.
    pub family: String,
    /// Its table.
    pub table: String,
    /// Its name.
    pub name: String,
    /// Its flags (`timeout`, ...).
    pub flags: Vec<String>,
    /// Whether its elements carry a `counter`.
    pub counter: bool,
}

/// The parts of a ruleset the checks read.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    /// Every table, as (family, name).
    pub tables: Vec<(String, String)>,
    /// Every map.
    pub maps: Vec<Map>,
    /// Every chain, with its rules.
    pub chains: Vec<Chain>,
    /// The conntrack TFTP helpers defined (`ct helper` objects of type
    /// `tftp`), as `family table name`.
    pub tftp_helpers: Vec<String>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// A JSON string or array of strings, as strings; nothing otherwise.
pub(super) fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a set's `stmt` (one statement or a list) holds a `counter`.
fn declares_counter(stmt: Option<&Value>) -> bool {
    match stmt {
        Some(Value::Array(list)) => list.iter().any(|s| s.get("counter").is_some()),
        Some(one) => one.get("counter").is_some(),
        None => false,
    }
}

impl Ruleset {
    /// Parses `nft -j list ruleset` output.
    pub fn parse(json: &str) -> Result<Ruleset, String> {
        let root: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let items = root
            .get("nftables")
            .and_then(Value::as_array)
            .ok_or("no \"nftables\" array")?;
        let mut ruleset = Ruleset::default();
        for item in items {
            if let Some(t) = item.get("table") {
                ruleset.tables.push((text(t, "family"), text(t, "name")));
            } else if let Some(m) = item.get("map").or_else(|| item.get("set")) {
                ruleset.maps.push(Map {
                    family: text(m, "family"),
                    table: text(m, "table"),
                    name: text(m, "name"),
                    flags: strings(m.get("flags")),
                    counter: declares_counter(m.get("stmt")),
                });
            } else if let Some(h) = item.get("ct helper") {
                if text(h, "type") == "tftp" {
                    ruleset.tftp_helpers.push(format!(
                        "{} {} {}",
                        text(h, "family"),
                        text(h, "table"),
                        text(h, "name")
                    ));
                }
            } else if let Some(c) = item.get("chain") {
                ruleset.chains.push(Chain {
                    family: text(c, "family"),
                    table: text(c, "table"),
                    name: text(c, "name"),
                    hook: c.get("hook").and_then(Value::as_str).map(str::to_owned),
                    kind: c.get("type").and_then(Value::as_str).map(str::to_owned),
                    priority: c.get("prio").and_then(Value::as_i64).unwrap_or(0),
                    policy: c
                        .get("policy")
                        .and_then(Value::as_str)
                        .unwrap_or("accept")
                        .to_owned(),
                    rules: Vec::new(),
                });
            } else if let Some(r) = item.get("rule") {
                let (family, table, chain) =
                    (text(r, "family"), text(r, "table"), text(r, "chain"));
                let handle = r.get("handle").and_then(Value::as_u64).unwrap_or(0);
                let expr = r
                    .get("expr")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(c) = ruleset
                    .chains
                    .iter_mut()
                    .find(|c| c.family == family && c.table == table && c.name == chain)
                {
                    c.rules.push((handle, expr));
                }
            }
        }
        Ok(ruleset)
    }

    /// The chain `name` of table `family table`, if there is one.
    pub(super) fn chain(&self, family: &str, table: &str, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|c| c.family == family && c.table == table && c.name == name)
    }

    /// The base chains a packet of this family meets on `hook`, in order.
    pub(super) fn base_chains(&self, hook: &str, v6: bool) -> Vec<&Chain> {
        let own = if v6 { "ip6" } else { "ip" };
        let mut chains: Vec<&Chain> = self
            .chains
            .iter()
            .filter(|c| c.hook.as_deref() == Some(hook) && (c.family == "inet" || c.family == own))
            .collect();
        chains.sort_by_key(|c| c.priority);
        chains
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error() {
        assert!(Ruleset::parse("not json").is_err());
        assert!(Ruleset::parse("{}").is_err());
    }
}
