//! Rendering encoded rules back as pf.conf(5) text: what `-n` and `-v`
//! print, and what `pfctl -a 'tftp-proxy/*' -sr` would show an operator.
//!
//! Pure code over `pf_sys::pf_rule`. It renders the subset of pf.conf the
//! backend writes (pass/block/match, direction, log, quick, `on`
//! interface, family, UDP or TCP, host or network addresses, `port` equality, `rdr-to`, `once`,
//! `no state`, `keep state` with timeouts) and says so plainly for
//! anything else rather than guess.
//! It must not touch the kernel.
#![cfg_attr(not(target_os = "openbsd"), allow(dead_code))]

use super::rule::STATE_TIMEOUTS;
use crate::firewall::pf::encode::{push_interface, render_address};
use crate::firewall::pf::idle;
use pf_sys::openbsd::{
    pf_rule, pf_rule_addr, pfioc_rule, AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, PFRULE_ONCE,
    PF_ADDR_NONE, PF_DROP, PF_IN, PF_LOG, PF_MATCH, PF_OP_EQ, PF_OP_NONE, PF_OUT, PF_PASS,
};
use std::fmt::Write;

/// The rules as pf.conf lines, one per rule, joined with newlines.
pub fn render_all(rules: &[pfioc_rule]) -> String {
    rules
        .iter()
        .map(|ioc| render(&ioc.rule))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One rule as a pf.conf line.
pub fn render(r: &pf_rule) -> String {
    let mut line = String::from(match u32::from(r.action) {
        PF_PASS => "pass",
        PF_DROP => "block",
        PF_MATCH => "match",
        _ => return format!("# rule with action {} (not rendered)", r.action),
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
    if r.rdr.addr.type_ != PF_ADDR_NONE as u8 {
        let _ = write!(line, " rdr-to {}", render_address(&r.rdr.addr, is_v4(r.af)));
        match r.rdr.proxy_port {
            [0, _] => {}
            [p, 0] => {
                let _ = write!(line, " port {p}");
            }
            [low, high] => {
                let _ = write!(line, " port {low}:{high}");
            }
        }
    }
    if r.keep_state == 0 && u32::from(r.action) == PF_PASS {
        line.push_str(" no state");
    }
    let options = idle::options(&r.timeout, STATE_TIMEOUTS);
    if r.keep_state != 0 && !options.is_empty() {
        let _ = write!(line, " keep state ({})", options.join(", "));
    }
    if r.rule_flag & PFRULE_ONCE != 0 {
        line.push_str(" once");
    }
    line
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

/// Whether pf's family number `af` is IPv4.
fn is_v4(af: u8) -> bool {
    u32::from(af) == AF_INET
}

#[cfg(test)]
mod tests {
    use super::super::rule;
    use super::*;
    use crate::firewall::ReturnPath;
    use pf_sys::openbsd::{pf_addr, pf_addr_wrap};

    #[test]
    fn ipv4_return_path_text() {
        let path = ReturnPath {
            client: "198.51.100.2:50232".parse().unwrap(),
            proxy: "203.0.113.1:49441".parse().unwrap(),
            server: "192.0.2.20:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        };
        let rules = rule::return_path_rules(&path, "em0", "tftp-proxy/1.1", false).unwrap();
        // Written by hand from pf.conf(5): "pass [in|out] [log] [quick]
        // [on interface] [af] [proto] from ... to ... [rdr-to ...]
        // [keep state (udp.first n, ...)] [once]", filter options being
        // accepted in any order.
        assert_eq!(
            render_all(&rules),
            "pass in quick on em0 inet proto udp from 192.0.2.20 to 203.0.113.1 port 49441 \
             rdr-to 198.51.100.2 port 50232 \
             keep state (udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295) once\n\
             pass out quick inet proto udp from 192.0.2.20 to 198.51.100.2 port 50232 \
             keep state (udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
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
        let rules = rule::return_path_rules(&path, "em0", "tftp-proxy/1.1", false).unwrap();
        assert_eq!(
            render_all(&rules),
            "pass in quick on em0 inet proto udp from 192.0.2.20 to 203.0.113.1 port 49441 \
             rdr-to 198.51.100.2 port 50232 \
             keep state (udp.first 11, udp.single 11, udp.multiple 11, adaptive.start 4294967294, adaptive.end 4294967295) once\n\
             pass out quick inet proto udp from 192.0.2.20 to 198.51.100.2 port 50232 \
             keep state (udp.first 11, udp.single 11, udp.multiple 11, adaptive.start 4294967294, adaptive.end 4294967295)\n\
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
        let rules = rule::return_path_rules(&path, "vlan12", "tftp-proxy/1.1", true).unwrap();
        assert_eq!(
            render_all(&rules),
            "pass in log quick on vlan12 inet6 proto udp from 2001:db8:3::20 to 2001:db8:2::1 port 49441 \
             rdr-to 2001:db8:1::10 port 50232 \
             keep state (udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295) once\n\
             pass out log quick inet6 proto udp from 2001:db8:3::20 to 2001:db8:1::10 port 50232 \
             keep state (udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out log quick inet6 proto udp from 2001:db8:2::1 port 49441 \
             to 2001:db8:3::20 port 69 no state"
        );
    }

    #[test]
    fn networks_any_and_no_state() {
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
        r.dst.addr = pf_addr_wrap::addr_mask(pf_addr::default(), pf_addr::default());
        r.rdr.addr = pf_addr_wrap::none();
        assert_eq!(
            render(&r),
            "pass inet proto tcp from 192.0.2.0/24 to any no state"
        );
        crate::firewall::pf::encode::interface_name(&mut r.ifname, "em1").unwrap();
        r.ifnot = 1;
        assert_eq!(
            render(&r),
            "pass on ! em1 inet proto tcp from 192.0.2.0/24 to any no state"
        );
    }
}
