//! Encoding what the backend asks of FreeBSD's pf into its structures, and
//! decoding the answers: the return path's three rules (an `rdr` rule in
//! the anchor's RDR ruleset, its target in a `pfioc_pooladdr`, and two
//! `pass` rules in the anchor's FILTER ruleset), the transaction over both
//! rulesets, the anchor listing and the redirect lookup.
//!
//! This is the encoding FreeBSD's own tftp-proxy uses
//! (contrib/pf/tftp-proxy/filter.c): FreeBSD keeps translation rules in
//! rulesets of their own, has no `rdr-to` on a pass rule and no `once`.
//! The kernel facts relied on are cited where used, from
//! sys/netpfil/pf/pf_ioctl.c and sys/netpfil/pf/pf_lb.c.
//!
//! Pure code over `pf_sys::freebsd` types: no file descriptors, no system
//! calls, so every field is unit-tested on any host. It must not touch the
//! kernel; `ioctl.rs` passes these structures on.
#![cfg_attr(not(target_os = "freebsd"), allow(dead_code))]

use crate::firewall::pf::encode::{
    address, c_string, canonical, host, interface_name, ip, EncodeError,
};
use crate::firewall::pf::idle;
use crate::firewall::{Redirection, ReturnPath, STATE_IDLE_LIMIT};
use pf_sys::freebsd::{
    pf_rule, pfioc_natlook, pfioc_pooladdr, pfioc_rule, pfioc_ruleset, pfioc_trans, pfioc_trans_e,
    AF_INET, AF_INET6, IPPROTO_UDP, PFTM_ADAPTIVE_END, PFTM_ADAPTIVE_START, PFTM_UDP_FIRST_PACKET,
    PFTM_UDP_MULTIPLE, PFTM_UDP_SINGLE, PF_IN, PF_LOG, PF_OP_EQ, PF_OUT, PF_PASS, PF_RDR,
    PF_RULESET_FILTER, PF_RULESET_RDR, PF_STATE_NORMAL,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// FreeBSD's address family number (`AF_INET6` is 28 there) shared by `a`
/// and `b`.
pub fn family(a: IpAddr, b: IpAddr) -> Result<u8, EncodeError> {
    match (a, b) {
        (IpAddr::V4(_), IpAddr::V4(_)) => Ok(AF_INET as u8),
        (IpAddr::V6(_), IpAddr::V6(_)) => Ok(AF_INET6 as u8),
        _ => Err(EncodeError::MixedFamilies(a, b)),
    }
}

fn is_v4(af: u8) -> bool {
    u32::from(af) == AF_INET
}

/// The `DIOCNATLOOK` question for a UDP datagram from `client` that
/// arrived at `local`: as on OpenBSD, direction `PF_OUT` with the source
/// and destination as the helper's socket sees them (after the redirect).
/// pf_ioctl.c (DIOCNATLOOK) refuses a zero address or port with EINVAL.
pub fn natlook_query(client: SocketAddr, local: SocketAddr) -> Result<pfioc_natlook, EncodeError> {
    let (client, local) = (canonical(client), canonical(local));
    let af = family(client.ip(), local.ip())?;
    Ok(pfioc_natlook {
        saddr: address(client.ip()),
        daddr: address(local.ip()),
        sport: client.port().to_be(),
        dport: local.port().to_be(),
        af,
        proto: IPPROTO_UDP as u8,
        direction: PF_OUT as u8,
        ..Default::default()
    })
}

/// This kernel's slots in `pf_rule.timeout` of the state timeouts the
/// return path's rules set (`idle.rs`)
/// (`enum pftimeout`, net/pfvar.h); DIOCADDRULE copies the array into
/// the kernel's rule (pf_rule_to_krule(), sys/netpfil/pf/pf_ioctl.c).
pub const STATE_TIMEOUTS: idle::Slots = [
    PFTM_UDP_FIRST_PACKET as usize,
    PFTM_UDP_SINGLE as usize,
    PFTM_UDP_MULTIPLE as usize,
    PFTM_ADAPTIVE_START as usize,
    PFTM_ADAPTIVE_END as usize,
];

/// The `DIOCNATLOOK` question "does a state of `path`'s server answering
/// from its request port still point at the proxy port?": the state a
/// single-port server's answer created through the `rdr` and `pass in`
/// rules of [`return_path_rules`].
///
/// As on OpenBSD, that state's wire key holds the server at index 0 and
/// the proxy at index 1 (created inbound), and DIOCNATLOOK in direction
/// `PF_IN` puts `saddr`/`sport` at index 1 and matches wire keys only
/// (DIOCNATLOOK in sys/netpfil/pf/pf_ioctl.c, pf_find_state_all() in
/// sys/netpfil/pf/pf.c): the proxy is the source here. The lookup finds
/// every state the packet path would match (pf_find_state() skips only
/// states being removed) and a few more.
pub fn answer_state_query(path: &ReturnPath) -> Result<pfioc_natlook, EncodeError> {
    let (proxy, server) = (canonical(path.proxy), canonical(path.server));
    let af = family(proxy.ip(), server.ip())?;
    Ok(pfioc_natlook {
        saddr: address(proxy.ip()),
        daddr: address(server.ip()),
        sport: proxy.port().to_be(),
        dport: server.port().to_be(),
        af,
        proto: IPPROTO_UDP as u8,
        direction: PF_IN as u8,
        ..Default::default()
    })
}

/// Reads the answer to [`natlook_query`]: `rdaddr`/`rdport` is where the
/// client sent the datagram (the server), `rsaddr`/`rsport` the client as
/// the wire carried it. `None` when the state shows no redirect (the
/// datagram was sent to the helper directly) or no usable address.
pub fn natlook_answer(answer: &pfioc_natlook, local: SocketAddr) -> Option<Redirection> {
    let v4 = is_v4(answer.af);
    let client = SocketAddr::new(ip(&answer.rsaddr, v4), u16::from_be(answer.rsport));
    let server = SocketAddr::new(ip(&answer.rdaddr, v4), u16::from_be(answer.rdport));
    let unusable = |a: SocketAddr| a.port() == 0 || a.ip().is_unspecified();
    if unusable(client) || unusable(server) || server == canonical(local) {
        return None;
    }
    Some(Redirection {
        client,
        original_destination: server,
    })
}

/// The rulesets a return path's anchor holds, in the order of the
/// transaction's elements.
pub const RULESETS: [u32; 2] = [PF_RULESET_RDR, PF_RULESET_FILTER];

/// The transaction elements that replace both rulesets of `anchor` (RDR,
/// then FILTER). Committing them with no rule added empties the anchor.
pub fn transaction_elements(anchor: &str) -> Result<[pfioc_trans_e; 2], EncodeError> {
    let mut elements = [pfioc_trans_e::default(); 2];
    for (element, ruleset) in elements.iter_mut().zip(RULESETS) {
        element.rs_num = ruleset as i32;
        c_string(&mut element.anchor, anchor)?;
    }
    Ok(elements)
}

/// A transaction over `elements`. The kernel copies the elements in and
/// out through the pointer, so they must stay put while it is in use.
pub fn transaction(elements: &mut [pfioc_trans_e]) -> pfioc_trans {
    pfioc_trans {
        size: i32::try_from(elements.len()).unwrap_or(i32::MAX),
        // pf_ioctl.c (DIOCXBEGIN) answers ENODEV unless this is its own
        // sizeof(struct pfioc_trans_e).
        esize: std::mem::size_of::<pfioc_trans_e>() as i32,
        array: elements.as_mut_ptr(),
    }
}

/// Which ruleset (and so which transaction ticket) a rule goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruleset {
    /// `PF_RULESET_RDR`: translation rules.
    Rdr,
    /// `PF_RULESET_FILTER`: pass and block rules.
    Filter,
}

impl Ruleset {
    /// The index of this ruleset's element in [`transaction_elements`].
    pub fn element(self) -> usize {
        match self {
            Ruleset::Rdr => 0,
            Ruleset::Filter => 1,
        }
    }
}

/// One rule to add, with the pool address it needs (an rdr rule's
/// target), if any.
#[derive(Clone, Copy)]
pub struct Staged {
    /// The ruleset the rule goes into.
    pub ruleset: Ruleset,
    /// The address for `DIOCADDADDR` before the rule (its ticket is set
    /// from `DIOCBEGINADDRS` when installing).
    pub pool: Option<pfioc_pooladdr>,
    /// The rule for `DIOCADDRULE` (tickets set when installing).
    pub rule: pfioc_rule,
}

/// The address `DIOCADDADDR` puts into the pool buffer: `target` as a
/// single host, for `anchor` (the ticket comes from `DIOCBEGINADDRS`).
/// pf_ioctl.c (DIOCADDADDR) takes only `PF_ADDR_ADDRMASK`, dynamic or
/// table addresses, and no interface name here.
pub fn pool_address(anchor: &str, target: IpAddr, af: u8) -> Result<pfioc_pooladdr, EncodeError> {
    let mut pool = pfioc_pooladdr {
        af,
        ..Default::default()
    };
    pool.addr.addr = host(target, af);
    c_string(&mut pool.anchor, anchor)?;
    Ok(pool)
}

/// The fields every rule of ours shares: one address family, UDP, from the
/// server (any port: its transfer ID) to `to` port `port`; no routing
/// table (-1, as pfctl writes it: pf_ioctl.c's pf_ioctl_addrule takes any
/// rtableid > 0 as a FIB number).
fn base_rule(af: u8, server: IpAddr, to: SocketAddr) -> pf_rule {
    let mut rule = pf_rule {
        af,
        proto: IPPROTO_UDP as u8,
        rtableid: -1,
        ..Default::default()
    };
    rule.src.addr = host(server, af);
    rule.dst.addr = host(to.ip(), af);
    rule.dst.port_op = PF_OP_EQ as u8;
    rule.dst.port = [to.port().to_be(), 0];
    rule
}

/// A `pass quick ... keep state (max 1)` rule in `direction` from the
/// server to the client's address and port, as FreeBSD's tftp-proxy adds
/// (contrib/pf/tftp-proxy/filter.c, prepare_rule): one state per rule, so
/// only the transfer the path was made for passes. Its state takes the
/// UDP timeouts of `idle.rs` for `idle_limit` (pf_state_expires() in
/// sys/netpfil/pf/pf.c reads the creating rule's), so it goes once the
/// transfer is quiet that long.
fn pass_rule(
    af: u8,
    server: IpAddr,
    client: SocketAddr,
    direction: u32,
    idle_limit: Duration,
    verbose: bool,
) -> pf_rule {
    let mut rule = pf_rule {
        action: PF_PASS as u8,
        direction: direction as u8,
        quick: 1,
        keep_state: PF_STATE_NORMAL as u8,
        max_states: 1,
        log: if verbose { PF_LOG as u8 } else { 0 },
        ..base_rule(af, server, client)
    };
    idle::set(&mut rule.timeout, STATE_TIMEOUTS, idle_limit);
    rule
}

/// The rules of a return path, for `anchor`:
///
/// 1. in the RDR ruleset, `rdr on <interface>` from the server (any port)
///    to the proxy's address and port, whose pool holds the client's
///    address and whose `rpool.proxy_port[0]` is the client's port in
///    host order (pf_lb.c turns it into the new destination port with
///    htons);
/// 2. in the FILTER ruleset, `pass in quick on <interface>` from the
///    server to the client's address and port (the translated packet),
///    `max-states 1`. Rules 1 and 2 catch the server's answer and are
///    bound to `interface`, where it arrives (`interface.rs`): an unbound
///    rule matches on every interface (pfi_kkif_match() in
///    sys/netpfil/pf/pf_if.c), so a datagram forged with the server's
///    address on the phones' side would be redirected to the phone and
///    take the one state rule 2 allows;
/// 3. `pass out quick`, the same, for the packet leaving toward the
///    client;
/// 4. `pass out quick ... no state` from the proxy's address and port to
///    the server's: the forwarded request leaves without a state. A
///    server answering from port 69 itself would otherwise match the
///    request's state (same addresses and ports; pf looks states up
///    before translation rules, sys/netpfil/pf/pf.c pf_test) and reach
///    the helper's socket instead of rule 1. Servers answering from a new
///    port are not affected: no state would match them anyway.
///
/// There is no `once` on FreeBSD: the rules stay until the reaper empties
/// the anchor; `max-states 1` lets a single transfer through meanwhile.
/// Rules 2 and 3 keep state with the timeouts of `idle.rs`: the answer's
/// states go once the transfer is quiet, so neither outlives the
/// helper's hold of the proxy port nor lets the client send more past
/// the helper (states are looked up before any rule, pf_test() in
/// sys/netpfil/pf/pf.c).
pub fn return_path_rules(
    path: &ReturnPath,
    interface: &str,
    anchor: &str,
    verbose: bool,
) -> Result<[Staged; 4], EncodeError> {
    let (client, proxy, server) = (
        canonical(path.client),
        canonical(path.proxy),
        canonical(path.server),
    );
    let af = family(server.ip(), proxy.ip())?;
    family(server.ip(), client.ip())?;

    let mut rdr = base_rule(af, server.ip(), proxy);
    // No `log`: pf.conf(5) logs a translation only with `rdr pass`; the
    // pass rules below log the transfer.
    rdr.action = PF_RDR as u8;
    rdr.rpool.proxy_port = [client.port(), 0];
    interface_name(&mut rdr.ifname, interface)?;

    let idle_limit = path.idle_limit;
    let mut pass_in = pass_rule(af, server.ip(), client, PF_IN, idle_limit, verbose);
    interface_name(&mut pass_in.ifname, interface)?;

    let mut request = pass_rule(af, proxy.ip(), server, PF_OUT, idle_limit, verbose);
    request.keep_state = 0;
    request.max_states = 0;
    request.timeout = Default::default();
    request.src.port_op = PF_OP_EQ as u8;
    request.src.port = [proxy.port().to_be(), 0];

    let staged = [
        (
            Ruleset::Rdr,
            Some(pool_address(anchor, client.ip(), af)?),
            rdr,
        ),
        (Ruleset::Filter, None, pass_in),
        (
            Ruleset::Filter,
            None,
            pass_rule(af, server.ip(), client, PF_OUT, idle_limit, verbose),
        ),
        (Ruleset::Filter, None, request),
    ];
    let mut out = [Staged {
        ruleset: Ruleset::Rdr,
        pool: None,
        rule: pfioc_rule::default(),
    }; 4];
    for (slot, (ruleset, pool, rule)) in out.iter_mut().zip(staged) {
        slot.ruleset = ruleset;
        slot.pool = pool;
        c_string(&mut slot.rule.anchor, anchor)?;
        slot.rule.rule = rule;
    }
    Ok(out)
}

/// A rule for `anchor` that only tests whether the kernel knows this
/// build's `DIOCADDRULE`: `pass in quick inet proto udp`, any to any
/// port 1. The caller gives it a stale ticket, so pf reads it and refuses
/// it (EBUSY, pf_ioctl.c's pf_ioctl_addrule) and nothing is staged.
pub fn probe_rule(anchor: &str) -> Result<pfioc_rule, EncodeError> {
    let any: SocketAddr = (std::net::Ipv4Addr::UNSPECIFIED, 1).into();
    let mut rule = pass_rule(AF_INET as u8, any.ip(), any, PF_IN, STATE_IDLE_LIMIT, false);
    rule.src.addr = pf_sys::pf_addr_wrap::addr_mask(address(any.ip()), Default::default());
    rule.dst.addr = rule.src.addr;
    let mut ioc = pfioc_rule {
        rule,
        ..Default::default()
    };
    c_string(&mut ioc.anchor, anchor)?;
    Ok(ioc)
}

/// The `DIOCGETRULESETS`/`DIOCGETRULESET` question about the anchors
/// directly below `path` (`nr` picks one for `DIOCGETRULESET`).
pub fn ruleset_query(path: &str, nr: u32) -> Result<pfioc_ruleset, EncodeError> {
    let mut query = pfioc_ruleset {
        nr,
        ..Default::default()
    };
    c_string(&mut query.path, path)?;
    Ok(query)
}

/// `DIOCGETRULES` of `anchor`'s FILTER ruleset (a return path's `pass
/// in` and `pass out`): the count and the ticket to read them with.
pub fn anchor_filter_rules_query(anchor: &str) -> Result<pfioc_rule, EncodeError> {
    let mut query = main_rules_query(PF_PASS as u8);
    c_string(&mut query.anchor, anchor)?;
    Ok(query)
}

/// `DIOCGETRULES` of the main ruleset's ruleset holding rules of
/// `action` (PF_RDR, PF_PASS): the kernel answers the count and the
/// ticket to read them with (pf_ioctl.c maps the action with
/// pf_get_ruleset_number).
pub fn main_rules_query(action: u8) -> pfioc_rule {
    let mut query = pfioc_rule::default();
    query.rule.action = action;
    query
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::pf::encode::from_c_string;
    use pf_sys::freebsd::{pf_addr, pf_addr_wrap, PF_ADDR_ADDRMASK, PF_OP_NONE, PF_POOL_NONE};

    const ANCHOR: &str = "tftp-proxy/77.3";

    fn v4_path() -> ReturnPath {
        ReturnPath {
            client: "198.51.100.2:50232".parse().unwrap(),
            proxy: "203.0.113.1:49441".parse().unwrap(),
            server: "192.0.2.20:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    fn v6_path() -> ReturnPath {
        ReturnPath {
            client: "[2001:db8:1::10]:50232".parse().unwrap(),
            proxy: "[2001:db8:2::1]:49441".parse().unwrap(),
            server: "[2001:db8:3::20]:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    fn assert_host(wrap: &pf_addr_wrap, ip: IpAddr) {
        let ip = ip.to_canonical();
        assert_eq!(wrap.type_, PF_ADDR_ADDRMASK as u8);
        assert_eq!(wrap.v.addr, address(ip));
        let mask_len = if ip.is_ipv4() { 4 } else { 16 };
        assert!(wrap.v.mask.addr8[..mask_len].iter().all(|&b| b == 0xff));
        assert!(wrap.v.mask.addr8[mask_len..].iter().all(|&b| b == 0));
        assert_eq!(wrap.p, 0, "DIOCADDADDR refuses a set p.dyn");
    }

    fn assert_common(staged: &Staged, path: &ReturnPath, af: u32, log: bool) {
        let ioc = &staged.rule;
        let r = &ioc.rule;
        assert_eq!(from_c_string(&ioc.anchor), ANCHOR);
        assert_eq!(from_c_string(&ioc.anchor_call), "");
        assert_eq!((ioc.ticket, ioc.pool_ticket), (0, 0), "set when installing");
        assert_eq!(r.af, af as u8);
        assert_eq!(r.proto, 17);
        assert_eq!(r.rtableid, -1);
        assert_eq!(r.log, if log { PF_LOG as u8 } else { 0 });
        assert_host(&r.src.addr, path.server.ip());
        assert_eq!(r.src.port_op, PF_OP_NONE as u8, "the server's port is new");
        assert_eq!((r.src.neg, r.dst.neg), (0, 0));
        assert_eq!(r.dst.port_op, PF_OP_EQ as u8);
        assert_eq!(r.dst.port[1], 0);
        assert_eq!(r.ifnot, 0);
        assert_eq!(r.rule_flag, 0, "FreeBSD has no once");
        assert_eq!(r.natpass, 0);
    }

    fn check(path: ReturnPath, af: u32, verbose: bool) {
        let [rdr, pass_in, pass_out, request] =
            return_path_rules(&path, "igb0", ANCHOR, verbose).unwrap();
        // The two rules that catch the server's answer are bound to where
        // it arrives; the rest are not.
        assert_eq!(from_c_string(&rdr.rule.rule.ifname), "igb0");
        assert_eq!(from_c_string(&pass_in.rule.rule.ifname), "igb0");
        assert_eq!(pass_out.rule.rule.ifname[0], 0);
        assert_eq!(request.rule.rule.ifname[0], 0);

        assert_eq!(rdr.ruleset, Ruleset::Rdr);
        assert_common(&rdr, &path, af, false);
        let r = &rdr.rule.rule;
        assert_eq!(r.action, PF_RDR as u8);
        assert_host(&r.dst.addr, path.proxy.ip());
        assert_eq!(
            r.dst.port[0].to_ne_bytes(),
            49441u16.to_be_bytes(),
            "network order"
        );
        assert_eq!(r.rpool.proxy_port, [50232, 0], "host order");
        assert_eq!(r.rpool.opts, PF_POOL_NONE as u8, "a single address");
        assert_eq!((r.quick, r.keep_state, r.max_states), (0, 0, 0));
        let pool = rdr.pool.expect("the rdr rule's target");
        assert_eq!(from_c_string(&pool.anchor), ANCHOR);
        assert_eq!(pool.af, af as u8);
        assert_eq!(pool.ticket, 0, "set from DIOCBEGINADDRS");
        assert_host(&pool.addr.addr, path.client.ip());
        assert_eq!(pool.addr.ifname[0], 0);

        for (pass, direction) in [(pass_in, PF_IN), (pass_out, PF_OUT)] {
            assert_eq!(pass.ruleset, Ruleset::Filter);
            assert!(pass.pool.is_none());
            assert_common(&pass, &path, af, verbose);
            let r = &pass.rule.rule;
            assert_eq!(r.action, PF_PASS as u8);
            assert_eq!(r.direction, direction as u8);
            assert_eq!(r.quick, 1);
            assert_eq!(r.keep_state, PF_STATE_NORMAL as u8);
            assert_eq!(r.max_states, 1);
            assert_host(&r.dst.addr, path.client.ip());
            assert_eq!(
                r.dst.port[0].to_ne_bytes(),
                50232u16.to_be_bytes(),
                "network order"
            );
            assert_eq!(r.rpool.proxy_port, [0, 0]);
            for (slot, &seconds) in r.timeout.iter().enumerate() {
                let expected = match slot {
                    6..=8 => u32::try_from(path.idle_limit.as_secs()).unwrap(),
                    16 => u32::MAX - 1,
                    17 => u32::MAX,
                    _ => 0,
                };
                assert_eq!(seconds, expected, "timeout slot {slot}");
            }
        }
        assert!(
            rdr.rule.rule.timeout.iter().all(|&t| t == 0),
            "the rdr rule keeps no state of its own"
        );

        // The forwarded request: proxy port to server port, no state.
        assert_eq!(request.ruleset, Ruleset::Filter);
        assert!(request.pool.is_none());
        let r = &request.rule.rule;
        assert_eq!(from_c_string(&request.rule.anchor), ANCHOR);
        assert_eq!(
            (r.action, r.direction, r.quick),
            (PF_PASS as u8, PF_OUT as u8, 1)
        );
        assert_eq!(
            (r.keep_state, r.max_states),
            (0, 0),
            "no state for the request"
        );
        assert_eq!(r.af, af as u8);
        assert_host(&r.src.addr, path.proxy.ip());
        assert_eq!(r.src.port_op, PF_OP_EQ as u8);
        assert_eq!(r.src.port[0].to_ne_bytes(), 49441u16.to_be_bytes());
        assert_host(&r.dst.addr, path.server.ip());
        assert_eq!(r.dst.port_op, PF_OP_EQ as u8);
        assert_eq!(r.dst.port[0].to_ne_bytes(), 69u16.to_be_bytes());
        assert!(r.timeout.iter().all(|&t| t == 0), "no state, no timeout");
    }

    #[test]
    fn state_timeout_slots_are_the_headers() {
        // enum pftimeout: six TCP slots, then udp.first, single,
        // multiple; adaptive.start and end after the interval (15).
        assert_eq!(STATE_TIMEOUTS, [6, 7, 8, 16, 17]);
        let rule = pf_rule::default();
        assert!(STATE_TIMEOUTS.iter().all(|&slot| slot < rule.timeout.len()));
    }

    #[test]
    fn answer_state_query_is_the_answers_wire_key_inbound() {
        let q = answer_state_query(&v4_path()).unwrap();
        assert_eq!((q.af, q.proto), (AF_INET as u8, 17));
        assert_eq!(q.direction, PF_IN as u8, "wire keys");
        assert_eq!(q.saddr.addr8[..4], [203, 0, 113, 1], "the proxy");
        assert_eq!(q.sport.to_ne_bytes(), 49441u16.to_be_bytes());
        assert_eq!(q.daddr.addr8[..4], [192, 0, 2, 20], "the server");
        assert_eq!(q.dport.to_ne_bytes(), 69u16.to_be_bytes());
        assert_eq!((q.rsport, q.rdport), (0, 0));
        let q = answer_state_query(&v6_path()).unwrap();
        assert_eq!(q.af, AF_INET6 as u8);
        assert_eq!(q.saddr, address(v6_path().proxy.ip()));
        assert_eq!(q.daddr, address(v6_path().server.ip()));
        let mut mixed = v4_path();
        mixed.server = "[2001:db8::20]:69".parse().unwrap();
        assert!(answer_state_query(&mixed).is_err());
    }

    #[test]
    fn ipv4_return_path() {
        check(v4_path(), AF_INET, false);
        check(v4_path(), AF_INET, true);
    }

    #[test]
    fn a_longer_retransmission_timeout_lengthens_the_state_timeouts() {
        // A phone that asked for `timeout 30`: its answer's states live
        // 31 s idle, not 6.
        let path = ReturnPath {
            idle_limit: crate::firewall::state_idle_limit(Some(std::time::Duration::from_secs(30))),
            ..v4_path()
        };
        assert_eq!(path.idle_limit.as_secs(), 31);
        check(path, AF_INET, false);
        check(
            ReturnPath {
                idle_limit: path.idle_limit,
                ..v6_path()
            },
            AF_INET6,
            true,
        );
    }

    #[test]
    fn ipv6_return_path() {
        assert_eq!(AF_INET6, 28, "FreeBSD's value, whatever the host's");
        check(v6_path(), AF_INET6, false);
        check(v6_path(), AF_INET6, true);
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        let mut path = v4_path();
        path.client = "[::ffff:198.51.100.2]:50232".parse().unwrap();
        check(path, AF_INET, false);
    }

    #[test]
    fn mixed_families_are_refused() {
        let mut path = v4_path();
        path.server = "[2001:db8::20]:69".parse().unwrap();
        assert!(matches!(
            return_path_rules(&path, "igb0", ANCHOR, false),
            Err(EncodeError::MixedFamilies(..))
        ));
        let mut path = v6_path();
        path.client = "192.0.2.1:1".parse().unwrap();
        assert!(return_path_rules(&path, "igb0", ANCHOR, false).is_err());
    }

    #[test]
    fn anchor_paths_must_fit() {
        let long = "x".repeat(1024);
        assert!(return_path_rules(&v4_path(), "igb0", &long, false).is_err());
        assert!(transaction_elements(&long).is_err());
        assert!(pool_address(&long, "192.0.2.1".parse().unwrap(), 2).is_err());
        assert!(ruleset_query("a\0b", 0).is_err());
        let longest = "x".repeat(1023);
        let elements = transaction_elements(&longest).unwrap();
        assert_eq!(from_c_string(&elements[1].anchor), longest);
    }

    #[test]
    fn the_interface_name_must_fit() {
        for bad in ["", "a-name-longer-than-ifnamsiz"] {
            assert_eq!(
                return_path_rules(&v4_path(), bad, ANCHOR, false).err(),
                Some(EncodeError::InterfaceName(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn transaction_covers_both_rulesets_of_the_anchor() {
        let mut elements = transaction_elements(ANCHOR).unwrap();
        assert_eq!(
            elements[Ruleset::Rdr.element()].rs_num,
            PF_RULESET_RDR as i32
        );
        assert_eq!(
            elements[Ruleset::Filter.element()].rs_num,
            PF_RULESET_FILTER as i32
        );
        assert_eq!((PF_RULESET_FILTER, PF_RULESET_RDR), (1, 4));
        for element in &elements {
            assert_eq!(from_c_string(&element.anchor), ANCHOR);
            assert_eq!(element.ticket, 0);
        }
        let trans = transaction(&mut elements);
        assert_eq!(trans.size, 2);
        assert_eq!(trans.esize, 1032, "sizeof(struct pfioc_trans_e) on amd64");
        assert_eq!(trans.array, elements.as_mut_ptr());
    }

    #[test]
    fn pool_address_is_the_client_alone() {
        let pool = pool_address(ANCHOR, "2001:db8::5".parse().unwrap(), 28).unwrap();
        assert_eq!(pool.af, 28);
        assert_eq!(pool.addr.addr.v.addr.to_ipv6().to_string(), "2001:db8::5");
        assert_eq!(pool.addr.addr.v.mask, pf_addr::full_mask(28));
        assert_eq!(
            (pool.action, pool.nr, pool.r_num, pool.r_action, pool.r_last),
            (0, 0, 0, 0, 0)
        );
    }

    #[test]
    fn probe_rule_is_a_valid_rule_for_the_anchor() {
        let ioc = probe_rule("tftp-proxy/77.0").unwrap();
        assert_eq!(from_c_string(&ioc.anchor), "tftp-proxy/77.0");
        let r = &ioc.rule;
        assert_eq!(r.action, PF_PASS as u8);
        assert_eq!(r.af, AF_INET as u8);
        assert_eq!(r.src.addr.type_, PF_ADDR_ADDRMASK as u8);
        assert_eq!(r.src.addr.v.mask, pf_addr::default(), "any");
        assert!(probe_rule(&"x".repeat(1024)).is_err());
    }

    #[test]
    fn ioctl_lengths_match_the_structures_passed() {
        use pf_sys::freebsd::{
            ioctl_group, ioctl_number, ioctl_param_len, DIOCADDADDR, DIOCADDRULE, DIOCBEGINADDRS,
            DIOCGETRULESET, DIOCGETRULESETS, DIOCNATLOOK, DIOCXBEGIN, DIOCXCOMMIT,
        };
        use std::mem::size_of;
        // (request, its number in pfvar.h, the structure this backend passes)
        let table = [
            (DIOCADDRULE, 4, size_of::<pfioc_rule>()),
            (DIOCNATLOOK, 23, size_of::<pfioc_natlook>()),
            (DIOCBEGINADDRS, 51, size_of::<pfioc_pooladdr>()),
            (DIOCADDADDR, 52, size_of::<pfioc_pooladdr>()),
            (DIOCGETRULESETS, 58, size_of::<pfioc_ruleset>()),
            (DIOCGETRULESET, 59, size_of::<pfioc_ruleset>()),
            (DIOCXBEGIN, 81, size_of::<pfioc_trans>()),
            (DIOCXCOMMIT, 82, size_of::<pfioc_trans>()),
        ];
        for (request, number, len) in table {
            assert_eq!(ioctl_param_len(request), len, "{request:#x}");
            assert_eq!(ioctl_group(request), b'D');
            assert_eq!(ioctl_number(request), number);
            assert_eq!(request >> 29, 0b110, "IOC_INOUT: copied in and out");
        }
        // FreeBSD/amd64, 13.x to 15.x.
        assert_eq!(size_of::<pfioc_natlook>(), 76);
        assert_eq!(size_of::<pfioc_rule>(), 3040);
        assert_eq!(size_of::<pfioc_pooladdr>(), 1136);
        assert_eq!(size_of::<pfioc_trans_e>(), 1032);
        assert_eq!(DIOCNATLOOK, 0xc04c_4417);
        assert_eq!(DIOCADDRULE, 0xcbe0_4404);
    }

    #[test]
    fn natlook_query_ipv4() {
        let q = natlook_query(
            "198.51.100.2:50232".parse().unwrap(),
            "127.0.0.1:6969".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(q.af, 2);
        assert_eq!(q.proto, 17);
        assert_eq!(q.direction, PF_OUT as u8);
        assert_eq!(q.saddr.addr8[..4], [198, 51, 100, 2]);
        assert!(q.saddr.addr8[4..].iter().all(|&b| b == 0));
        assert_eq!(q.daddr.addr8[..4], [127, 0, 0, 1]);
        assert_eq!(q.sport.to_ne_bytes(), 50232u16.to_be_bytes());
        assert_eq!(q.dport.to_ne_bytes(), 6969u16.to_be_bytes());
        assert_eq!((q.rsport, q.rdport), (0, 0));
        assert_eq!(q.rsaddr, pf_addr::default());
        assert_eq!(q.rdaddr, pf_addr::default());
    }

    #[test]
    fn natlook_query_ipv6() {
        let q = natlook_query(
            "[2001:db8:1::10]:50232".parse().unwrap(),
            "[::1]:6969".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(q.af, 28);
        assert_eq!(q.daddr.to_ipv6(), std::net::Ipv6Addr::LOCALHOST);
        assert!(natlook_query(
            "192.0.2.1:1".parse().unwrap(),
            "[::1]:6969".parse().unwrap()
        )
        .is_err());
    }

    fn answered(query: pfioc_natlook, client: SocketAddr, server: SocketAddr) -> pfioc_natlook {
        pfioc_natlook {
            rsaddr: address(client.ip()),
            rsport: client.port().to_be(),
            rdaddr: address(server.ip()),
            rdport: server.port().to_be(),
            ..query
        }
    }

    #[test]
    fn natlook_answer_names_the_server() {
        // pfSense's redirect: to 127.0.0.1 port 6969.
        let local: SocketAddr = "127.0.0.1:6969".parse().unwrap();
        let client: SocketAddr = "198.51.100.2:50232".parse().unwrap();
        let server: SocketAddr = "192.0.2.20:69".parse().unwrap();
        let query = natlook_query(client, local).unwrap();
        let answer = natlook_answer(&answered(query, client, server), local).unwrap();
        assert_eq!(answer.client, client);
        assert_eq!(answer.original_destination, server);

        let local: SocketAddr = "[::1]:6969".parse().unwrap();
        let client: SocketAddr = "[2001:db8:1::10]:50232".parse().unwrap();
        let server: SocketAddr = "[2001:db8:3::20]:69".parse().unwrap();
        let query = natlook_query(client, local).unwrap();
        let answer = natlook_answer(&answered(query, client, server), local).unwrap();
        assert_eq!(answer.original_destination, server);
    }

    #[test]
    fn natlook_answer_without_redirect_is_none() {
        let local: SocketAddr = "192.0.2.1:6969".parse().unwrap();
        let client: SocketAddr = "198.51.100.2:50232".parse().unwrap();
        let query = natlook_query(client, local).unwrap();
        assert_eq!(natlook_answer(&answered(query, client, local), local), None);
        assert_eq!(natlook_answer(&query, local), None, "an unanswered query");
    }
}
