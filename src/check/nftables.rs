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

use super::Finding;
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
    fn describe(&self) -> String {
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

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
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

    fn chain(&self, family: &str, table: &str, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|c| c.family == family && c.table == table && c.name == name)
    }

    /// The base chains a packet of this family meets on `hook`, in order.
    fn base_chains(&self, hook: &str, v6: bool) -> Vec<&Chain> {
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
struct NatReached {
    chain: String,
    kind: String,
    flags: Vec<String>,
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
fn matches(packet: &Packet, m: &Value) -> Option<bool> {
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
struct Walk<'a> {
    ruleset: &'a Ruleset,
    packet: &'a Packet,
    nat: Vec<NatReached>,
    /// Rules that could accept the packet but match on something the walk
    /// does not know (so were taken as not matching).
    unsure: Vec<String>,
}

/// Where a walk found the packet dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dropped {
    /// Which chain or rule drops it.
    why: String,
    /// Rules the walk could not judge that might have accepted it first.
    unsure: Vec<String>,
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
    fn through(&mut self, hook: &str, kind: Option<&str>) -> Option<Dropped> {
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
fn dropped(ruleset: &Ruleset, packet: &Packet, hook: &str) -> Option<Dropped> {
    Walk {
        ruleset,
        packet,
        nat: Vec::new(),
        unsure: Vec::new(),
    }
    .through(hook, None)
}

/// A fault when the walk is sure of the drop; a warning naming the rules
/// it could not judge otherwise. `what` says what is dropped, `fix` what
/// to add.
fn drop_finding(what: &str, dropped: Dropped, fix: &str) -> Finding {
    if dropped.unsure.is_empty() {
        Finding::fault(format!("{what}: {}; {fix}", dropped.why))
    } else {
        Finding::warning(format!(
            "{what}, unless {} accepts them (it matches on what --check cannot see): {}; {fix}",
            dropped.unsure.join(" or "),
            dropped.why
        ))
    }
}

/// The interface a rule matches with `iifname "x"`, if it does.
fn rule_iifname(exprs: &[Value]) -> Option<String> {
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

/// Whether the input path accepts redirected requests to `port`.
pub fn check_input(ruleset: &Ruleset, port: u16, int_if: Option<&str>) -> Finding {
    for v6 in [false, true] {
        let packet = Packet {
            v6,
            iif: int_if.map(str::to_owned),
            oif: None,
            dport: Some(port),
            ct_state: "new",
            ct_status: &["dnat"],
            fib_daddr: Some("local"),
            fib_saddr: None,
        };
        if let Some(d) = dropped(ruleset, &packet, "input") {
            let family = if v6 { "IPv6" } else { "IPv4" };
            return drop_finding(
                &format!("the input path drops redirected requests to port {port} ({family})"),
                d,
                &format!("add `udp dport {port} ct status dnat accept` to it"),
            );
        }
    }
    Finding::ok(format!(
        "the input path accepts redirected requests to port {port}"
    ))
}

/// Whether the forward path lets the servers' answers through to the
/// phones: the first answer (dnat'ed by the return path) and the rest of
/// the transfer (established).
pub fn check_forward(ruleset: &Ruleset, ext_if: Option<&str>, int_if: Option<&str>) -> Finding {
    for (state, what) in [("new", "first answers"), ("established", "transfers")] {
        for v6 in [false, true] {
            let packet = Packet {
                v6,
                iif: ext_if.map(str::to_owned),
                oif: int_if.map(str::to_owned),
                dport: None,
                ct_state: state,
                ct_status: &["dnat"],
                fib_daddr: None,
                fib_saddr: None,
            };
            if let Some(d) = dropped(ruleset, &packet, "forward") {
                return drop_finding(
                    &format!("the forward path drops the servers' {what} to the phones"),
                    d,
                    "add `ct status dnat meta l4proto udp accept` and `ct state established,related accept` to it",
                );
            }
        }
    }
    Finding::ok("the forward path accepts the servers' answers (ct status dnat) and the transfers")
}

/// Whether the output path lets the helper's own requests to the servers
/// out.
pub fn check_output(ruleset: &Ruleset, ext_if: Option<&str>) -> Finding {
    for v6 in [false, true] {
        let packet = Packet {
            v6,
            iif: None,
            oif: ext_if.map(str::to_owned),
            dport: Some(69),
            ct_state: "new",
            ct_status: &[],
            fib_daddr: None,
            fib_saddr: Some("local"),
        };
        if let Some(d) = dropped(ruleset, &packet, "output") {
            return drop_finding(
                "the output path drops the helper's requests to the servers' port 69",
                d,
                "accept `udp dport 69` in it",
            );
        }
    }
    Finding::ok("the output path lets the helper's requests out")
}

/// Whether a masquerade or snat rewrites the helper's own requests.
pub fn check_nat(ruleset: &Ruleset, ext_if: Option<&str>) -> Finding {
    let exempt = format!(
        "`oifname \"{}\" fib saddr type local return`",
        ext_if.unwrap_or("<servers' interface>")
    );
    for v6 in [false, true] {
        let packet = Packet {
            v6,
            iif: None,
            oif: ext_if.map(str::to_owned),
            dport: Some(69),
            ct_state: "new",
            ct_status: &[],
            fib_daddr: None,
            fib_saddr: Some("local"),
        };
        let mut walk = Walk {
            ruleset,
            packet: &packet,
            nat: Vec::new(),
            unsure: Vec::new(),
        };
        walk.through("postrouting", Some("nat"));
        if let Some(nat) = walk.nat.first() {
            let random = nat
                .flags
                .iter()
                .find(|f| f.as_str() == "random" || f.as_str() == "fully-random");
            if let Some(flag) = random {
                return Finding::fault(format!(
                    "{} {flag} in chain {} rewrites the source port of the helper's own requests, so the servers' answers miss their return path: put {exempt} before it",
                    nat.kind, nat.chain
                ));
            }
            return Finding::warning(format!(
                "{} in chain {} also applies to the helper's own requests; it keeps their source port only while no other flow holds it: put {exempt} before it",
                nat.kind, nat.chain
            ));
        }
    }
    Finding::ok("no masquerade or snat rewrites the helper's own requests")
}

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
    ];
    (findings, redirect.map(|r| r.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gateway's ruleset, as `nft -j list ruleset` printed it: the
    /// shipped include, an input chain with policy drop (a verdict map and
    /// a jump), a forward chain with policy drop, and masquerade random
    /// behind the exemption for the firewall's own packets.
    fn gateway() -> Ruleset {
        Ruleset::parse(include_str!("testdata/gateway.json")).expect("fixture parses")
    }

    fn lines(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(ToString::to_string).collect()
    }

    fn remove_rules(ruleset: &mut Ruleset, table: &str, chain: &str, containing: &str) {
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

    #[test]
    fn single_port_servers_need_the_notrack_rule_for_the_mark() {
        let shipped = 0x7466_7470;
        assert_eq!(
            check_single_port(&gateway(), shipped).to_string(),
            "ok: the helper's requests (mark 0x74667470) leave untracked: servers answering from port 69 work"
        );
        let other = check_single_port(&gateway(), 7);
        assert_eq!(other.status, super::super::Status::Warning);
        assert!(
            other
                .text
                .contains("a notrack rule matches mark 0x74667470"),
            "{other}"
        );
        assert_eq!(
            check_single_port(&gateway(), 0).status,
            super::super::Status::Warning
        );
        let mut r = gateway();
        remove_rules(&mut r, "tftp_proxy", "output", "notrack");
        let missing = check_single_port(&r, shipped);
        assert_eq!(
            missing.to_string(),
            "warning: no output chain of priority raw sets notrack on mark 0x74667470 for IPv4 and IPv6: servers that answer from port 69 (single-port servers) fail; include the shipped etc/tftp-proxy.nft as is"
        );
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
        assert_eq!(findings[0].status, super::super::Status::Fault);
        assert_eq!(
            findings[1].to_string(),
            "FAULT: no rule redirects UDP port 69 to the helper: include tftp-proxy.nft in your nftables ruleset and define int_if as the phones' interface"
        );
    }

    #[test]
    fn input_policy_drop_without_the_accept_rule() {
        let mut r = gateway();
        remove_rules(&mut r, "filter", "lan_in", "6969");
        assert_eq!(
            check_input(&r, 6969, Some("lan0")).to_string(),
            "FAULT: the input path drops redirected requests to port 6969 (IPv4): chain inet filter input drops them (policy drop); add `udp dport 6969 ct status dnat accept` to it"
        );
        // The shipped chain's own drop does not catch redirected requests,
        // but does catch the rest.
        assert!(check_input(&gateway(), 6969, Some("lan0")).status == super::super::Status::Ok);
    }

    #[test]
    fn forward_without_dnat_accept() {
        let mut r = gateway();
        remove_rules(&mut r, "filter", "forward", "\"dnat\"");
        assert_eq!(
            check_forward(&r, Some("wan0"), Some("lan0")).to_string(),
            "FAULT: the forward path drops the servers' first answers to the phones: chain inet filter forward drops them (policy drop); add `ct status dnat meta l4proto udp accept` and `ct state established,related accept` to it"
        );
    }

    #[test]
    fn masquerade_random_without_the_exemption() {
        let mut r = gateway();
        remove_rules(&mut r, "filter", "postrouting", "\"return\"");
        assert_eq!(
            check_nat(&r, Some("wan0")).to_string(),
            "FAULT: masquerade random in chain inet filter postrouting rewrites the source port of the helper's own requests, so the servers' answers miss their return path: put `oifname \"wan0\" fib saddr type local return` before it"
        );
    }

    #[test]
    fn plain_snat_is_a_warning() {
        let json = r#"{"nftables":[{"table":{"family":"ip","name":"nat"}},
            {"chain":{"family":"ip","table":"nat","name":"post","type":"nat","hook":"postrouting","prio":100,"policy":"accept"}},
            {"rule":{"family":"ip","table":"nat","chain":"post","handle":2,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"eth*"}},{"snat":{"family":"ip","addr":"198.51.100.1"}}]}}]}"#;
        let f = check_nat(&Ruleset::parse(json).unwrap(), Some("eth0"));
        assert_eq!(f.status, super::super::Status::Warning);
        assert!(
            f.text.starts_with("snat in chain ip nat post also applies"),
            "{f}"
        );
    }

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

    #[test]
    fn kernel_tftp_helper_is_a_warning() {
        let json = r#"{"nftables":[{"table":{"family":"inet","name":"kernel_tftp"}},
            {"ct helper":{"family":"inet","name":"tftp_69","table":"kernel_tftp","type":"tftp","protocol":"udp","l3proto":"inet"}}]}"#;
        let f = check_kernel_helper(&Ruleset::parse(json).unwrap());
        assert_eq!(f.status, super::super::Status::Warning);
        assert!(
            f.text
                .starts_with("the conntrack TFTP helper inet kernel_tftp tftp_69 is defined"),
            "{f}"
        );
    }

    #[test]
    fn an_accept_on_addresses_makes_a_drop_a_warning() {
        // `ip daddr 192.0.2.1 udp dport 6969 accept`: --check does not know
        // the address a redirect picks, so it cannot be sure of the drop.
        let json = r#"{"nftables":[{"table":{"family":"inet","name":"f"}},
            {"chain":{"family":"inet","table":"f","name":"in","type":"filter","hook":"input","prio":0,"policy":"drop"}},
            {"rule":{"family":"inet","table":"f","chain":"in","handle":7,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"192.0.2.1"}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":6969}},{"accept":null}]}}]}"#;
        let f = check_input(&Ruleset::parse(json).unwrap(), 6969, None);
        assert_eq!(
            f.to_string(),
            "warning: the input path drops redirected requests to port 6969 (IPv4), unless rule handle 7 of chain inet f in accepts them (it matches on what --check cannot see): chain inet f in drops them (policy drop); add `udp dport 6969 ct status dnat accept` to it"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Ruleset::parse("not json").is_err());
        assert!(Ruleset::parse("{}").is_err());
    }
}
