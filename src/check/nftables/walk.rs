//! Walking a packet through the base chains of one hook, as far as the
//! walk knows the packet (interfaces, UDP port, conntrack state and status,
//! `fib` address types): the verdict it reaches, the NAT statements it
//! meets, and the rules it could not judge.
//!
//! This file only walks; it must not word findings (the checks do) nor read
//! JSON beyond the rules' expressions the [`Ruleset`] holds.

use super::ruleset::{strings, Chain, Ruleset};
use serde_json::Value;

/// A packet as far as the walk knows it.
#[derive(Debug, Clone)]
pub struct Packet {
    /// IPv6 rather than IPv4.
    pub v6: bool,
    /// Input interface, if known.
    pub iif: Option<String>,
    /// Output interface, if known.
    pub oif: Option<String>,
    /// UDP destination port, if known.
    pub dport: Option<u16>,
    /// Conntrack state: `new`, `established`, ...
    pub ct_state: &'static str,
    /// Conntrack status bits set: `dnat`, `snat`, ...
    pub ct_status: &'static [&'static str],
    /// `fib daddr type`, if known.
    pub fib_daddr: Option<&'static str>,
    /// `fib saddr type`, if known.
    pub fib_saddr: Option<&'static str>,
}

/// What a field of the packet is, to the walk.
enum Field {
    Text(String),
    Number(u64),
    Flags(Vec<String>),
    /// Not known: a match on it is taken as not matching.
    Unknown,
    /// A header of the other family: the rule cannot match.
    OtherFamily,
}

/// Where a chain walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accept,
    /// Dropped or rejected, and by what.
    Drop(String),
    Return,
    Continue,
}

/// A NAT statement a packet reached: chain, kind (`masquerade`, `snat`),
/// flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NatReached {
    pub(super) chain: String,
    pub(super) kind: String,
    pub(super) flags: Vec<String>,
}
impl Packet {
    fn field(&self, left: &Value) -> Field {
        let opt_text = |s: &Option<String>| match s {
            Some(s) => Field::Text(s.clone()),
            None => Field::Unknown,
        };
        if let Some(meta) = left.get("meta") {
            return match meta.get("key").and_then(Value::as_str) {
                Some("iifname" | "iif") => opt_text(&self.iif),
                Some("oifname" | "oif") => opt_text(&self.oif),
                Some("l4proto") => Field::Text("udp".into()),
                Some("nfproto") => Field::Text(if self.v6 { "ipv6" } else { "ipv4" }.into()),
                Some("protocol") => Field::Text(if self.v6 { "ip6" } else { "ip" }.into()),
                _ => Field::Unknown,
            };
        }
        if let Some(payload) = left.get("payload") {
            let protocol = payload.get("protocol").and_then(Value::as_str);
            let field = payload.get("field").and_then(Value::as_str);
            return match (protocol, field) {
                (Some("ip"), _) if self.v6 => Field::OtherFamily,
                (Some("ip6"), _) if !self.v6 => Field::OtherFamily,
                (Some("ip"), Some("protocol")) | (Some("ip6"), Some("nexthdr")) => {
                    Field::Text("udp".into())
                }
                (Some("udp" | "th"), Some("dport")) => match self.dport {
                    Some(p) => Field::Number(p.into()),
                    None => Field::Unknown,
                },
                (Some("tcp" | "icmp" | "icmpv6" | "sctp" | "dccp"), _) => Field::OtherFamily,
                _ => Field::Unknown,
            };
        }
        if let Some(ct) = left.get("ct") {
            return match ct.get("key").and_then(Value::as_str) {
                Some("state") => Field::Flags(vec![self.ct_state.into()]),
                Some("status") => {
                    Field::Flags(self.ct_status.iter().map(|s| s.to_string()).collect())
                }
                _ => Field::Unknown,
            };
        }
        if let Some(fib) = left.get("fib") {
            let flags = strings(fib.get("flags"));
            if fib.get("result").and_then(Value::as_str) != Some("type") {
                return Field::Unknown;
            }
            let known = if flags.iter().any(|f| f == "daddr") {
                self.fib_daddr
            } else if flags.iter().any(|f| f == "saddr") {
                self.fib_saddr
            } else {
                None
            };
            return known.map_or(Field::Unknown, |t| Field::Text(t.into()));
        }
        Field::Unknown
    }
}

/// The values on the right of a match, flattened.
fn items(right: &Value) -> Vec<&Value> {
    match right {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.contains_key("set") => match &o["set"] {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        },
        other => vec![other],
    }
}

fn item_matches(field: &Field, item: &Value) -> Option<bool> {
    match (field, item) {
        (Field::Text(t), Value::String(s)) => Some(match s.strip_suffix('*') {
            Some(prefix) => t.starts_with(prefix),
            None => t == s,
        }),
        // l4proto / ip protocol written as a number.
        (Field::Text(t), Value::Number(n)) => Some(t == "udp" && n.as_u64() == Some(17)),
        (Field::Number(p), Value::Number(n)) => Some(n.as_u64() == Some(*p)),
        (Field::Number(p), Value::Object(o)) if o.contains_key("range") => {
            let r = o["range"].as_array()?;
            let (lo, hi) = (r.first()?.as_u64()?, r.get(1)?.as_u64()?);
            Some(lo <= *p && *p <= hi)
        }
        (Field::Flags(set), Value::String(s)) => Some(set.contains(s)),
        _ => None,
    }
}

/// Whether a match holds: `Some(true)`, `Some(false)`, or `None` when the
/// walk does not know.
pub(super) fn matches(packet: &Packet, m: &Value) -> Option<bool> {
    let field = packet.field(m.get("left")?);
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let right = m.get("right")?;
    match field {
        Field::Unknown => return None,
        Field::OtherFamily => return Some(false),
        _ => {}
    }
    let any = || -> Option<bool> {
        let mut result = Some(false);
        for item in items(right) {
            match item_matches(&field, item) {
                Some(true) => return Some(true),
                None => result = None,
                Some(false) => {}
            }
        }
        result
    };
    match op {
        "==" | "in" => any(),
        "!=" => any().map(|b| !b),
        // Flags: none of them set.
        "!" => any().map(|b| !b),
        "<" | ">" | "<=" | ">=" => {
            let (Field::Number(p), Some(n)) = (&field, right.as_u64()) else {
                return None;
            };
            Some(match op {
                "<" => *p < n,
                ">" => *p > n,
                "<=" => *p <= n,
                _ => *p >= n,
            })
        }
        _ => None,
    }
}

/// The walk of one packet through one hook.
pub(super) struct Walk<'a> {
    pub(super) ruleset: &'a Ruleset,
    pub(super) packet: &'a Packet,
    pub(super) nat: Vec<NatReached>,
    /// Rules that could accept the packet but match on something the walk
    /// does not know (so were taken as not matching).
    pub(super) unsure: Vec<String>,
}

/// Where a walk found the packet dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Dropped {
    /// Which chain or rule drops it.
    pub(super) why: String,
    /// Rules the walk could not judge that might have accepted it first.
    pub(super) unsure: Vec<String>,
}

/// Whether a rule holds a verdict that could let a packet on.
fn may_accept(exprs: &[Value]) -> bool {
    exprs.iter().any(|e| {
        ["accept", "jump", "goto", "vmap"]
            .iter()
            .any(|k| e.get(k).is_some())
    })
}

impl Walk<'_> {
    /// Applies a verdict statement (accept, drop, jump, ...), if it is one.
    fn verdict(
        &mut self,
        chain: &Chain,
        handle: u64,
        key: &str,
        value: &Value,
        depth: usize,
    ) -> Option<Verdict> {
        match key {
            "accept" => Some(Verdict::Accept),
            "drop" | "reject" => Some(Verdict::Drop(format!(
                "chain {} drops them (rule handle {handle})",
                chain.describe()
            ))),
            "return" => Some(Verdict::Return),
            "jump" | "goto" => {
                let target = value.get("target").and_then(Value::as_str)?;
                let called = self.ruleset.chain(&chain.family, &chain.table, target)?;
                let v = self.run(called, depth + 1);
                match (key, v) {
                    (_, Verdict::Accept) => Some(Verdict::Accept),
                    (_, Verdict::Drop(d)) => Some(Verdict::Drop(d)),
                    ("goto", _) => Some(Verdict::Return),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn run(&mut self, chain: &Chain, depth: usize) -> Verdict {
        if depth > 16 {
            return Verdict::Continue;
        }
        'rules: for (handle, exprs) in &chain.rules {
            for expr in exprs {
                let Some((key, value)) = expr.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                match key.as_str() {
                    "match" => match matches(self.packet, value) {
                        Some(true) => {}
                        Some(false) => continue 'rules,
                        None => {
                            if may_accept(exprs) {
                                self.unsure.push(format!(
                                    "rule handle {handle} of chain {}",
                                    chain.describe()
                                ));
                            }
                            continue 'rules;
                        }
                    },
                    "vmap" => {
                        let Some(left) = value.get("key") else {
                            continue 'rules;
                        };
                        let field = self.packet.field(left);
                        if matches!(field, Field::Unknown) {
                            self.unsure.push(format!(
                                "rule handle {handle} of chain {}",
                                chain.describe()
                            ));
                            continue 'rules;
                        }
                        let Some(Value::Array(entries)) =
                            value.get("data").and_then(|d| d.get("set"))
                        else {
                            continue 'rules;
                        };
                        let found = entries.iter().find_map(|e| {
                            let pair = e.as_array()?;
                            (item_matches(&field, pair.first()?) == Some(true))
                                .then(|| pair.get(1))?
                        });
                        let Some(statement) = found
                            .and_then(Value::as_object)
                            .and_then(|o| o.iter().next())
                        else {
                            continue 'rules;
                        };
                        if let Some(v) =
                            self.verdict(chain, *handle, statement.0, statement.1, depth)
                        {
                            return v;
                        }
                        continue 'rules;
                    }
                    "masquerade" | "snat" => {
                        self.nat.push(NatReached {
                            chain: chain.describe(),
                            kind: key.clone(),
                            flags: strings(value.get("flags")),
                        });
                        return Verdict::Accept;
                    }
                    "dnat" | "redirect" => return Verdict::Accept,
                    other => {
                        if let Some(v) = self.verdict(chain, *handle, other, value, depth) {
                            return v;
                        }
                    }
                }
            }
        }
        Verdict::Continue
    }

    /// Runs the packet through every base chain of `hook`; the first drop,
    /// if any.
    pub(super) fn through(&mut self, hook: &str, kind: Option<&str>) -> Option<Dropped> {
        for chain in self.ruleset.base_chains(hook, self.packet.v6) {
            if kind.is_some() && chain.kind.as_deref() != kind {
                continue;
            }
            self.unsure.clear();
            let why = match self.run(chain, 0) {
                Verdict::Drop(d) => d,
                Verdict::Accept => continue,
                Verdict::Return | Verdict::Continue if chain.policy == "drop" => {
                    format!("chain {} drops them (policy drop)", chain.describe())
                }
                Verdict::Return | Verdict::Continue => continue,
            };
            return Some(Dropped {
                why,
                unsure: std::mem::take(&mut self.unsure),
            });
        }
        None
    }
}

/// The first drop of `packet` on `hook`, if any.
pub(super) fn dropped(ruleset: &Ruleset, packet: &Packet, hook: &str) -> Option<Dropped> {
    Walk {
        ruleset,
        packet,
        nat: Vec::new(),
        unsure: Vec::new(),
    }
    .through(hook, None)
}

#[cfg(test)]
mod tests {
    use super::super::{check_input, Ruleset};

    #[test]
    fn tcp_and_address_matches_do_not_catch_the_packets() {
        // `tcp dport 22 drop` and `ip saddr 203.0.113.0/24 drop` before an
        // accept: neither applies to a redirected UDP request.
        let json = r#"{"nftables":[{"table":{"family":"inet","name":"f"}},
            {"chain":{"family":"inet","table":"f","name":"in","type":"filter","hook":"input","prio":0,"policy":"drop"}},
            {"rule":{"family":"inet","table":"f","chain":"in","handle":2,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":22}},{"drop":null}]}},
            {"rule":{"family":"inet","table":"f","chain":"in","handle":3,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"203.0.113.0","len":24}}}},{"drop":null}]}},
            {"rule":{"family":"inet","table":"f","chain":"in","handle":4,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"th","field":"dport"}},"right":{"set":[69,{"range":[6960,6970]}]}}},{"accept":null}]}}]}"#;
        let r = Ruleset::parse(json).unwrap();
        assert_eq!(
            check_input(&r, 6969, None).to_string(),
            "ok: the input path accepts redirected requests to port 6969"
        );
        assert!(check_input(&r, 7000, None).text.contains("policy drop"));
    }
}
