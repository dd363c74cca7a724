//! Judging what the input, forward, output and nat postrouting chains do
//! to the packets a transfer needs, by walking each through them.
//!
//! This file words the findings; it must not walk the chains itself (`walk`
//! does) nor judge the shipped table or the redirect.

use super::ruleset::Ruleset;
use super::walk::{dropped, Dropped, Packet, Walk};
use crate::check::Finding;

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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{gateway, remove_rules};
    use super::*;
    use crate::check::Status;

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
        assert!(check_input(&gateway(), 6969, Some("lan0")).status == Status::Ok);
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
        assert_eq!(f.status, Status::Warning);
        assert!(
            f.text.starts_with("snat in chain ip nat post also applies"),
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
}
