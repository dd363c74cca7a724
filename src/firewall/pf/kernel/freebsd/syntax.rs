//! Rendering FreeBSD's encoded rules back as pf.conf(5) text, FreeBSD's
//! syntax: what `-n` and `-v` print, and what `pfctl -a 'tftp-proxy/*'
//! -sn` / `-sr` would show an operator.
//!
//! Translation rules are `rdr [pass [log]] ... -> host [port p]` (their
//! target is the pool address, given beside the rule); filter rules are
//! `pass|block in|out [log] [quick] ... [keep state (max n, udp.first
//! n, ...)]`. The subset
//! rendered is what the backend writes (and pfSense's own `rdr pass`);
//! anything else is said plainly rather than guessed. Pure code over
//! `pf_sys::freebsd` types; it must not touch the kernel.
#![cfg_attr(not(target_os = "freebsd"), allow(dead_code))]

use super::rule::{Staged, STATE_TIMEOUTS};
use crate::firewall::pf::encode::{push_interface, render_address};
use crate::firewall::pf::idle;
use pf_sys::freebsd::{
    pf_rule, pf_rule_addr, pfioc_pooladdr, AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, PF_DROP,
    PF_IN, PF_LOG, PF_OP_EQ, PF_OP_NONE, PF_OUT, PF_PASS, PF_RDR,
};
use std::fmt::Write;

/// The staged rules as pf.conf lines, one per rule, joined with newlines.
pub fn render_all(rules: &[Staged]) -> String {
    rules
        .iter()
        .map(|staged| render(&staged.rule.rule, staged.pool.as_ref()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One rule as a pf.conf line; `pool` is the address a translation rule
/// redirects to.
pub fn render(r: &pf_rule, pool: Option<&pfioc_pooladdr>) -> String {
    match u32::from(r.action) {
        PF_RDR => render_rdr(r, pool),
        PF_PASS | PF_DROP => render_filter(r),
        other => format!("# rule with action {other} (not rendered)"),
    }
}

/// `rdr [pass [log]] [on <if>] <family> <proto> from ... to ... -> <host>
/// [port p]`.
fn render_rdr(r: &pf_rule, pool: Option<&pfioc_pooladdr>) -> String {
    let mut line = String::from("rdr");
    if r.natpass != 0 {
        line.push_str(" pass");
        if u32::from(r.log) & PF_LOG != 0 {
            line.push_str(" log");
        }
    }
    push_interface(&mut line, &r.ifname, r.ifnot);
    push_match(&mut line, r);
    match pool {
        Some(pool) => {
            let _ = write!(line, " -> {}", render_address(&pool.addr.addr, is_v4(r.af)));
        }
        None => line.push_str(" -> (no pool address)"),
    }
    match r.rpool.proxy_port {
        [0, _] => {}
        [p, 0] => {
            let _ = write!(line, " port {p}");
        }
        [low, high] => {
            let _ = write!(line, " port {low}:{high}");
        }
    }
    line
}

/// `pass|block in|out [log] [quick] [on <if>] ... [no state | keep state
/// (max n, udp.first n, ...)]`.
fn render_filter(r: &pf_rule) -> String {
    let mut line = String::from(if u32::from(r.action) == PF_PASS {
        "pass"
    } else {
        "block"
    });
    match u32::from(r.direction) {
        PF_IN => line.push_str(" in"),
        PF_OUT => line.push_str(" out"),
        _ => {}
    }
    if u32::from(r.log) & PF_LOG != 0 {
        line.push_str(" log");
    }
    if r.quick != 0 {
        line.push_str(" quick");
    }
    push_interface(&mut line, &r.ifname, r.ifnot);
    push_match(&mut line, r);
    if u32::from(r.action) == PF_PASS {
        if r.keep_state == 0 {
            line.push_str(" no state");
        } else {
            let mut options = Vec::new();
            if r.max_states != 0 {
                options.push(format!("max {}", r.max_states));
            }
            options.extend(idle::options(&r.timeout, STATE_TIMEOUTS));
            if !options.is_empty() {
                let _ = write!(line, " keep state ({})", options.join(", "));
            }
        }
    }
    line
}

/// ` <family> <proto> from <src> to <dst>`, shared by both rule kinds.
fn push_match(line: &mut String, r: &pf_rule) {
    match u32::from(r.af) {
        AF_INET => line.push_str(" inet"),
        AF_INET6 => line.push_str(" inet6"),
        _ => {}
    }
    match u32::from(r.proto) {
        0 => {}
        IPPROTO_TCP => line.push_str(" proto tcp"),
        IPPROTO_UDP => line.push_str(" proto udp"),
        p => {
            let _ = write!(line, " proto {p}");
        }
    }
    let _ = write!(line, " from {}", endpoint(&r.src, r.af));
    let _ = write!(line, " to {}", endpoint(&r.dst, r.af));
}

fn is_v4(af: u8) -> bool {
    u32::from(af) == AF_INET
}

/// `address [port n]` of a rule's source or destination.
fn endpoint(side: &pf_rule_addr, af: u8) -> String {
    let mut text = String::new();
    if side.neg != 0 {
        text.push_str("! ");
    }
    text.push_str(&render_address(&side.addr, is_v4(af)));
    match u32::from(side.port_op) {
        PF_OP_NONE => {}
        PF_OP_EQ => {
            let _ = write!(text, " port {}", u16::from_be(side.port[0]));
        }
        op => {
            let _ = write!(text, " port (operator {op})");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::super::rule;
    use super::*;
    use crate::firewall::ReturnPath;
    use pf_sys::{pf_addr, pf_addr_wrap};

    #[test]
    fn ipv4_return_path_text() {
        let path = ReturnPath {
            client: "198.51.100.2:50232".parse().unwrap(),
            proxy: "203.0.113.1:49441".parse().unwrap(),
            server: "192.0.2.20:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        };
        let rules = rule::return_path_rules(&path, "igb0", "tftp-proxy/1.1", false).unwrap();
        // Written by hand from FreeBSD's pf.conf(5): "rdr [on interface]
        // [af] [proto] from ... to ... -> host [port]" and "pass in [log]
        // [quick] [on interface] ... keep state (max-states)" as pfctl -s
        // prints it.
        assert_eq!(
            render_all(&rules),
            "rdr on igb0 inet proto udp from 192.0.2.20 to 203.0.113.1 port 49441 \
             -> 198.51.100.2 port 50232\n\
             pass in quick on igb0 inet proto udp from 192.0.2.20 to 198.51.100.2 port 50232 \
             keep state (max 1, udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out quick inet proto udp from 192.0.2.20 to 198.51.100.2 port 50232 \
             keep state (max 1, udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out quick inet proto udp from 203.0.113.1 port 49441 to 192.0.2.20 port 69 \
             no state"
        );
    }

    #[test]
    fn a_long_retransmission_timeout_shows_in_the_state_timeouts() {
        // The request asked for `timeout 10`: its states live 11 s idle.
        let path = ReturnPath {
            client: "198.51.100.2:50232".parse().unwrap(),
            proxy: "203.0.113.1:49441".parse().unwrap(),
            server: "192.0.2.20:69".parse().unwrap(),
            idle_limit: crate::firewall::state_idle_limit(Some(std::time::Duration::from_secs(10))),
        };
        let rules = rule::return_path_rules(&path, "igb0", "tftp-proxy/1.1", false).unwrap();
        assert_eq!(
            render_all(&rules),
            "rdr on igb0 inet proto udp from 192.0.2.20 to 203.0.113.1 port 49441 \
             -> 198.51.100.2 port 50232\n\
             pass in quick on igb0 inet proto udp from 192.0.2.20 to 198.51.100.2 port 50232 \
             keep state (max 1, udp.first 11, udp.single 11, udp.multiple 11, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out quick inet proto udp from 192.0.2.20 to 198.51.100.2 port 50232 \
             keep state (max 1, udp.first 11, udp.single 11, udp.multiple 11, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out quick inet proto udp from 203.0.113.1 port 49441 to 192.0.2.20 port 69 \
             no state"
        );
    }

    #[test]
    fn ipv6_return_path_text_with_log() {
        let path = ReturnPath {
            client: "[2001:db8:1::10]:50232".parse().unwrap(),
            proxy: "[2001:db8:2::1]:49441".parse().unwrap(),
            server: "[2001:db8:3::20]:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        };
        let rules = rule::return_path_rules(&path, "vtnet0", "tftp-proxy/1.1", true).unwrap();
        assert_eq!(
            render_all(&rules),
            "rdr on vtnet0 inet6 proto udp from 2001:db8:3::20 to 2001:db8:2::1 port 49441 \
             -> 2001:db8:1::10 port 50232\n\
             pass in log quick on vtnet0 inet6 proto udp from 2001:db8:3::20 to 2001:db8:1::10 \
             port 50232 keep state (max 1, udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out log quick inet6 proto udp from 2001:db8:3::20 to 2001:db8:1::10 \
             port 50232 keep state (max 1, udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out log quick inet6 proto udp from 2001:db8:2::1 port 49441 \
             to 2001:db8:3::20 port 69 no state"
        );
    }

    #[test]
    fn pfsense_rdr_pass_form() {
        // pfSense's own redirect: rdr pass ... to any port tftp -> 127.0.0.1 port 6969.
        let mut r = pf_rule {
            action: PF_RDR as u8,
            natpass: 1,
            log: PF_LOG as u8,
            af: AF_INET as u8,
            proto: IPPROTO_UDP as u8,
            ..Default::default()
        };
        r.src.addr = pf_addr_wrap::addr_mask(pf_addr::default(), pf_addr::default());
        r.dst.addr = r.src.addr;
        r.dst.port_op = PF_OP_EQ as u8;
        r.dst.port = [69u16.to_be(), 0];
        r.rpool.proxy_port = [6969, 0];
        let pool = rule::pool_address("", "127.0.0.1".parse().unwrap(), AF_INET as u8).unwrap();
        assert_eq!(
            render(&r, Some(&pool)),
            "rdr pass log inet proto udp from any to any port 69 -> 127.0.0.1 port 6969"
        );
        r.rpool.proxy_port = [6969, 6970];
        assert!(render(&r, None).ends_with("-> (no pool address) port 6969:6970"));
    }

    #[test]
    fn networks_no_state_and_unknown_actions() {
        let mut r = pf_rule {
            action: PF_PASS as u8,
            af: AF_INET as u8,
            proto: IPPROTO_TCP as u8,
            ..Default::default()
        };
        r.src.addr = pf_addr_wrap::addr_mask(
            pf_addr::from_ipv4([192, 0, 2, 0].into()),
            pf_addr::from_ipv4([255, 255, 255, 0].into()),
        );
        r.src.neg = 1;
        r.dst.addr = pf_addr_wrap::addr_mask(pf_addr::default(), pf_addr::default());
        assert_eq!(
            render(&r, None),
            "pass inet proto tcp from ! 192.0.2.0/24 to any no state"
        );
        r.action = 4; // PF_NAT
        assert!(render(&r, None).starts_with("# "));
    }
}
