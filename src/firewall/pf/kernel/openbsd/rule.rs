//! Encoding what the backend asks of pf into the kernel's structures, and
//! decoding the kernel's answers: the two rules of a return path (inside
//! `pfioc_rule`s), the transaction that installs them (`pfioc_trans` of
//! `pfioc_trans_e`), the anchor listing (`pfioc_ruleset`), the main
//! ruleset's anchor rule (`pfioc_rule` again) and the redirect lookup
//! (`pfioc_natlook`).
//!
//! Pure code over `pf_sys` types: no file descriptors, no system calls, so
//! every field is unit-tested on any host. It must not touch the kernel;
//! `ioctl.rs` passes these structures on.
#![cfg_attr(not(target_os = "openbsd"), allow(dead_code))]

use crate::firewall::pf::encode::from_c_string;
use crate::firewall::pf::encode::{c_string, canonical, interface_name, EncodeError};
use crate::firewall::pf::idle;
use crate::firewall::{Redirection, ReturnPath};
use pf_sys::openbsd::{
    iowr, pf_addr, pf_addr_wrap, pf_rule, pfioc_natlook, pfioc_rule, pfioc_ruleset, pfioc_trans,
    pfioc_trans_e, AF_INET, AF_INET6, IPPROTO_UDP, PFRULE_ONCE, PFTM_ADAPTIVE_END,
    PFTM_ADAPTIVE_START, PFTM_UDP_FIRST_PACKET, PFTM_UDP_MULTIPLE, PFTM_UDP_SINGLE, PF_IN, PF_LOG,
    PF_OP_EQ, PF_OUT, PF_PASS, PF_STATE_NORMAL, PF_TRANS_RULESET,
};
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::raw::c_ulong;

/// Reads how many rules a ruleset has and opens a read transaction over
/// them (`_IOWR('D', 6, struct pfioc_rule)`, net/pfvar.h).
pub const DIOCGETRULES: c_ulong = iowr(b'D', 6, size_of::<pfioc_rule>());
/// Reads the next rule of that read transaction (`_IOWR('D', 7, struct
/// pfioc_rule)`).
pub const DIOCGETRULE: c_ulong = iowr(b'D', 7, size_of::<pfioc_rule>());
/// Closes a read transaction given its ticket (`_IOWR('D', 100,
/// u_int32_t)`).
pub const DIOCXEND: c_ulong = iowr(b'D', 100, size_of::<u32>());

/// What a `DIOCNATLOOK` answer says, decoded.
pub type NatAnswer = Redirection;

/// pf's address family number (OpenBSD's own values: `AF_INET6` is 24
/// there, not Linux's 10) shared by `a` and `b`.
pub fn family(a: IpAddr, b: IpAddr) -> Result<u8, EncodeError> {
    match (a, b) {
        (IpAddr::V4(_), IpAddr::V4(_)) => Ok(AF_INET as u8),
        (IpAddr::V6(_), IpAddr::V6(_)) => Ok(AF_INET6 as u8),
        _ => Err(EncodeError::MixedFamilies(a, b)),
    }
}

/// An address in pf's form.
pub fn address(ip: IpAddr) -> pf_addr {
    match ip {
        IpAddr::V4(v4) => pf_addr::from_ipv4(v4),
        IpAddr::V6(v6) => pf_addr::from_ipv6(v6),
    }
}

/// The address in pf's form back as an `IpAddr` of family `af`.
pub fn ip(addr: &pf_addr, af: u8) -> IpAddr {
    if u32::from(af) == AF_INET {
        IpAddr::V4(addr.to_ipv4())
    } else {
        IpAddr::V6(addr.to_ipv6())
    }
}

/// A single host: the address with an all-ones mask.
pub fn host(ip: IpAddr, af: u8) -> pf_addr_wrap {
    pf_addr_wrap::addr_mask(address(ip), pf_addr::full_mask(af))
}

/// The `DIOCNATLOOK` question for a UDP datagram from `client` that arrived
/// at `local`: "which state carried it here, and where was it going?".
///
/// Asked in direction `PF_OUT` with the source and destination as the
/// helper's socket sees them (after the redirect), pf answers with the
/// addresses on the wire before it.
///
/// `rdomain` is the routing domain the datagram arrived in: pf keys every
/// state on it (`key.rdomain` in DIOCNATLOOK, net/pf_ioctl.c), so a
/// lookup in another domain finds nothing (ENOENT).
pub fn natlook_query(
    client: SocketAddr,
    local: SocketAddr,
    rdomain: u16,
) -> Result<pfioc_natlook, EncodeError> {
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
        rdomain,
        ..Default::default()
    })
}

/// This kernel's slots in `pf_rule.timeout` of the state timeouts the
/// return path's rules set (`idle.rs`)
/// (`enum pftimeout`, net/pfvar.h).
pub const STATE_TIMEOUTS: idle::Slots = [
    PFTM_UDP_FIRST_PACKET as usize,
    PFTM_UDP_SINGLE as usize,
    PFTM_UDP_MULTIPLE as usize,
    PFTM_ADAPTIVE_START as usize,
    PFTM_ADAPTIVE_END as usize,
];

/// The `DIOCNATLOOK` question "does a state of `path`'s server answering
/// from its request port still point at the proxy port?": the state a
/// single-port server's answer created through rule 1 of
/// [`return_path_rules`].
///
/// That state was created by the inbound packet server -> proxy, so its
/// wire key holds the server at index 0 and the proxy at index 1
/// (pf_setup_pdesc() sets `sidx` 0 for PF_IN, net/pf.c). DIOCNATLOOK in
/// direction `PF_IN` puts `saddr`/`sport` at index 1 and `daddr`/`dport`
/// at index 0 and matches wire keys only (pf_find_state_all(), net/pf.c;
/// DIOCNATLOOK in net/pf_ioctl.c): so the proxy is the source here, the
/// server the destination. pf_find_state_all() skips no state that is
/// expired but not yet purged, and neither does the packet path
/// (pf_find_state() skips only PFTM_PURGE): while the lookup finds
/// nothing, no datagram can match it either.
pub fn answer_state_query(path: &ReturnPath, rdomain: u16) -> Result<pfioc_natlook, EncodeError> {
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
        rdomain,
        ..Default::default()
    })
}

/// Reads the answer to [`natlook_query`]: `rdaddr`/`rdport` is where the
/// client sent the datagram (the server), `rsaddr`/`rsport` the client as
/// the wire carried it (rdr-to may have changed its port).
///
/// A state that translated nothing answers with `local` itself: the
/// datagram was addressed to where it arrived (sent to the helper
/// directly, or diverted), and that is its original destination; the
/// request flow judges it like any other (it refuses the firewall's own
/// addresses by name).
///
/// `None` when the answer is not a usable address.
pub fn natlook_answer(answer: &pfioc_natlook, _local: SocketAddr) -> Option<NatAnswer> {
    let client = SocketAddr::new(ip(&answer.rsaddr, answer.af), u16::from_be(answer.rsport));
    let server = SocketAddr::new(ip(&answer.rdaddr, answer.af), u16::from_be(answer.rdport));
    let unusable = |a: SocketAddr| a.port() == 0 || a.ip().is_unspecified();
    if unusable(client) || unusable(server) {
        return None;
    }
    Some(Redirection {
        client,
        original_destination: server,
    })
}

/// A rule with the fields every rule of ours shares: pass, quick, keep
/// state, one address family, UDP; no routing table or rdomain change
/// (-1); every pool unused (`PF_ADDR_NONE`, since zero would mean an
/// address of 0.0.0.0); `log` when `verbose`.
fn base_rule(af: u8, direction: u8, verbose: bool) -> pf_rule {
    pf_rule {
        action: PF_PASS as u8,
        direction,
        quick: 1,
        keep_state: PF_STATE_NORMAL as u8,
        log: if verbose { PF_LOG as u8 } else { 0 },
        af,
        proto: IPPROTO_UDP as u8,
        rtableid: -1,
        onrdomain: -1,
        nat: pf_sys::openbsd::pf_pool {
            addr: pf_addr_wrap::none(),
            ..Default::default()
        },
        rdr: pf_sys::openbsd::pf_pool {
            addr: pf_addr_wrap::none(),
            ..Default::default()
        },
        route: pf_sys::openbsd::pf_pool {
            addr: pf_addr_wrap::none(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The three rules of a return path, for `DIOCADDRULE` into `anchor`:
///
/// 1. `pass in quick on <interface>` from the server (any port: its
///    transfer ID) to the proxy's address and port, `rdr-to` the client's
///    address and port, `once` (pf drops the rule after its first match;
///    the state it made carries the rest of the transfer). `interface` is
///    where the answer arrives (`interface.rs`): without it the rule
///    matches on every interface (pfi_kif_match() in net/pf_if.c), and a
///    datagram forged with the server's address on the phones' side
///    would spend `once` and be sent to the phone;
/// 2. `pass out quick` from the server to the client's address and port,
///    for the rewritten packets leaving toward the client;
/// 3. `pass out quick ... no state` from the proxy's address and port to
///    the server's: the forwarded request itself leaves without a state.
///    A server that answers from port 69 itself (a single-port server)
///    would otherwise match the request's state (its key is the same
///    address pair and ports, net/pf.c pf_find_state()) and be delivered
///    to the helper's socket instead of taking rule 1. Servers answering
///    from a new port are not affected: no state would match them anyway.
///
/// Rules 1 and 2 keep state with the UDP timeouts of `idle.rs`: the
/// states of the answer (server -> proxy, rdr'd to the client, and its
/// leg toward the client) go once the transfer is quiet, so that neither
/// outlives the helper's hold of the proxy port (a later transfer from
/// the same port would have its answers sent to this client) nor lets
/// the client send more past the helper (states are looked up before any
/// rule, pf_test() in net/pf.c).
///
/// Ports in `src`/`dst` are in network order, `rdr.proxy_port` in host
/// order, as the kernel reads them. The transaction ticket is filled in
/// when the transaction is open.
pub fn return_path_rules(
    path: &ReturnPath,
    interface: &str,
    anchor: &str,
    verbose: bool,
) -> Result<[pfioc_rule; 3], EncodeError> {
    let (client, proxy, server) = (
        canonical(path.client),
        canonical(path.proxy),
        canonical(path.server),
    );
    let af = family(server.ip(), proxy.ip())?;
    family(server.ip(), client.ip())?;

    let mut inbound = base_rule(af, PF_IN as u8, verbose);
    interface_name(&mut inbound.ifname, interface)?;
    inbound.rule_flag = PFRULE_ONCE;
    inbound.src.addr = host(server.ip(), af);
    inbound.dst.addr = host(proxy.ip(), af);
    inbound.dst.port_op = PF_OP_EQ as u8;
    inbound.dst.port = [proxy.port().to_be(), 0];
    inbound.rdr.addr = host(client.ip(), af);
    inbound.rdr.proxy_port = [client.port(), 0];
    idle::set(&mut inbound.timeout, STATE_TIMEOUTS, path.idle_limit);

    let mut outbound = base_rule(af, PF_OUT as u8, verbose);
    outbound.src.addr = host(server.ip(), af);
    outbound.dst.addr = host(client.ip(), af);
    outbound.dst.port_op = PF_OP_EQ as u8;
    outbound.dst.port = [client.port().to_be(), 0];
    idle::set(&mut outbound.timeout, STATE_TIMEOUTS, path.idle_limit);

    let mut request = base_rule(af, PF_OUT as u8, verbose);
    request.keep_state = 0;
    request.src.addr = host(proxy.ip(), af);
    request.src.port_op = PF_OP_EQ as u8;
    request.src.port = [proxy.port().to_be(), 0];
    request.dst.addr = host(server.ip(), af);
    request.dst.port_op = PF_OP_EQ as u8;
    request.dst.port = [server.port().to_be(), 0];

    let mut rules = [
        pfioc_rule::default(),
        pfioc_rule::default(),
        pfioc_rule::default(),
    ];
    for (ioc, rule) in rules.iter_mut().zip([inbound, outbound, request]) {
        c_string(&mut ioc.anchor, anchor)?;
        ioc.rule = rule;
    }
    Ok(rules)
}

/// A rule for `anchor` that only tests whether the kernel knows this
/// build's `DIOCADDRULE`: `pass in quick inet proto udp`, any to any. The
/// caller gives it a stale ticket, so pf reads it and refuses it (EBUSY)
/// and nothing is ever staged.
pub fn probe_rule(anchor: &str) -> Result<pfioc_rule, EncodeError> {
    let mut ioc = pfioc_rule {
        rule: base_rule(AF_INET as u8, PF_IN as u8, false),
        ..Default::default()
    };
    c_string(&mut ioc.anchor, anchor)?;
    Ok(ioc)
}

/// The transaction element that replaces the ruleset of `anchor`.
pub fn transaction_element(anchor: &str) -> Result<pfioc_trans_e, EncodeError> {
    let mut element = pfioc_trans_e {
        type_: PF_TRANS_RULESET as i32,
        ..Default::default()
    };
    c_string(&mut element.anchor, anchor)?;
    Ok(element)
}

/// A transaction over `elements`. The kernel copies the elements in and
/// out through the pointer, so they must stay put while it is in use: the
/// borrow says so to the reader, `ioctl.rs` makes sure of it.
pub fn transaction(elements: &mut [pfioc_trans_e]) -> pfioc_trans {
    pfioc_trans {
        size: i32::try_from(elements.len()).unwrap_or(i32::MAX),
        // The kernel answers ENODEV unless this is its own sizeof.
        esize: std::mem::size_of::<pfioc_trans_e>() as i32,
        array: elements.as_mut_ptr(),
    }
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

/// The `DIOCGETRULES` question about the active rules of `anchor` (`""`:
/// the main ruleset).
pub fn rules_query(anchor: &str) -> Result<pfioc_rule, EncodeError> {
    let mut query = pfioc_rule::default();
    c_string(&mut query.anchor, anchor)?;
    Ok(query)
}

/// The `DIOCGETRULE` question for the next rule of the read transaction
/// `ticket` opened on `anchor`.
pub fn next_rule_query(anchor: &str, ticket: u32) -> Result<pfioc_rule, EncodeError> {
    let mut query = rules_query(anchor)?;
    query.ticket = ticket;
    Ok(query)
}

/// `PF_DIVERT_TO`, the second of `enum pf_divert_types` in net/pfvar.h
/// (PF_DIVERT_NONE, PF_DIVERT_TO, PF_DIVERT_REPLY, PF_DIVERT_PACKET).
pub const PF_DIVERT_TO: u8 = 1;

/// Whether a rule read from the main ruleset diverts packets to a local
/// socket (`divert-to`), as the shipped pf-divert.conf does.
pub fn diverts(rule: &pfioc_rule) -> bool {
    rule.rule.divert.type_ == PF_DIVERT_TO
}

/// Whether a rule read from the main ruleset is `anchor "<parent>/*"`,
/// the rule that evaluates every anchor below `parent`. pf hands a rule's
/// anchor back in `anchor_call` as pfctl wrote it: relative to the
/// ruleset (`tftp-proxy/*`) or absolute (`/tftp-proxy/*`), the wildcard
/// as `/*` (pf_anchor_copyout() in net/pf_ruleset.c).
pub fn calls_children_of(rule: &pfioc_rule, parent: &str) -> bool {
    crate::firewall::pf::anchor::calls_children_of(&from_c_string(&rule.anchor_call), parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_sys::openbsd::{PF_ADDR_ADDRMASK, PF_ADDR_NONE, PF_OP_NONE};

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
    }

    fn assert_common(ioc: &pfioc_rule, af: u32, direction: u32, verbose: bool) {
        let r = &ioc.rule;
        assert_eq!(from_c_string(&ioc.anchor), "tftp-proxy/77.3");
        assert_eq!(from_c_string(&ioc.anchor_call), "");
        assert_eq!(
            ioc.ticket, 0,
            "the ticket is set once the transaction is open"
        );
        assert_eq!(r.action, PF_PASS as u8);
        assert_eq!(r.direction, direction as u8);
        assert_eq!(r.quick, 1);
        assert_eq!(r.keep_state, PF_STATE_NORMAL as u8);
        assert_eq!(r.af, af as u8);
        assert_eq!(r.proto, 17);
        assert_eq!(r.rtableid, -1);
        assert_eq!(r.onrdomain, -1);
        assert_eq!(r.log, if verbose { PF_LOG as u8 } else { 0 });
        assert_eq!(r.nat.addr.type_, PF_ADDR_NONE as u8);
        assert_eq!(r.route.addr.type_, PF_ADDR_NONE as u8);
        assert_eq!(
            r.src.port_op, PF_OP_NONE as u8,
            "the server may answer from any port"
        );
        assert_eq!(r.src.neg, 0);
        assert_eq!(r.dst.neg, 0);
        assert_eq!(r.ifnot, 0);
        assert_eq!(r.naf, 0);
    }

    fn check(path: ReturnPath, af: u32, verbose: bool) {
        let [inbound, outbound, request] =
            return_path_rules(&path, "em0", "tftp-proxy/77.3", verbose).unwrap();

        assert_common(&inbound, af, PF_IN, verbose);
        let r = &inbound.rule;
        assert_eq!(
            from_c_string(&r.ifname),
            "em0",
            "the answer-catching rule is bound to where the answer arrives"
        );
        assert_eq!(r.rule_flag, PFRULE_ONCE);
        assert_host(&r.src.addr, path.server.ip());
        assert_host(&r.dst.addr, path.proxy.ip());
        assert_eq!(r.dst.port_op, PF_OP_EQ as u8);
        assert_eq!(
            r.dst.port[0].to_ne_bytes(),
            49441u16.to_be_bytes(),
            "network order"
        );
        assert_eq!(r.dst.port[1], 0);
        assert_host(&r.rdr.addr, path.client.ip());
        assert_eq!(r.rdr.proxy_port, [50232, 0], "host order");
        assert_eq!(r.rdr.opts, 0, "a single address needs no pool type");

        assert_common(&outbound, af, PF_OUT, verbose);
        let r = &outbound.rule;
        assert_eq!(r.ifname[0], 0, "leaves toward the phone, wherever it is");
        assert_eq!(r.rule_flag, 0);
        assert_host(&r.src.addr, path.server.ip());
        assert_host(&r.dst.addr, path.client.ip());
        assert_eq!(r.dst.port_op, PF_OP_EQ as u8);
        assert_eq!(
            r.dst.port[0].to_ne_bytes(),
            50232u16.to_be_bytes(),
            "network order"
        );
        assert_eq!(r.rdr.addr.type_, PF_ADDR_NONE as u8);

        // The answer's states expire once the transfer is quiet.
        for r in [&inbound.rule, &outbound.rule] {
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

        // The forwarded request: proxy port to server port, no state.
        let r = &request.rule;
        assert_eq!(from_c_string(&request.anchor), "tftp-proxy/77.3");
        assert_eq!(r.action, PF_PASS as u8);
        assert_eq!(r.direction, PF_OUT as u8);
        assert_eq!(r.quick, 1);
        assert_eq!(r.keep_state, 0, "no state for the request");
        assert_eq!((r.af, r.proto), (af as u8, 17));
        assert_eq!((r.rtableid, r.onrdomain), (-1, -1));
        assert_eq!(r.log, if verbose { PF_LOG as u8 } else { 0 });
        assert_eq!(r.rule_flag, 0);
        assert_host(&r.src.addr, path.proxy.ip());
        assert_eq!(r.src.port_op, PF_OP_EQ as u8);
        assert_eq!(r.src.port[0].to_ne_bytes(), 49441u16.to_be_bytes());
        assert_host(&r.dst.addr, path.server.ip());
        assert_eq!(r.dst.port_op, PF_OP_EQ as u8);
        assert_eq!(r.dst.port[0].to_ne_bytes(), 69u16.to_be_bytes());
        for pool in [&r.rdr, &r.nat, &r.route] {
            assert_eq!(pool.addr.type_, PF_ADDR_NONE as u8);
        }
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
        let path = v4_path();
        let q = answer_state_query(&path, 3).unwrap();
        assert_eq!(q.af, AF_INET as u8);
        assert_eq!(q.proto, 17);
        assert_eq!(q.direction, PF_IN as u8, "wire keys");
        // Index 1 of the key (saddr): the proxy; index 0 (daddr): the
        // server, as the server's inbound answer made it.
        assert_eq!(q.saddr.addr8[..4], [203, 0, 113, 1]);
        assert_eq!(q.sport.to_ne_bytes(), 49441u16.to_be_bytes());
        assert_eq!(q.daddr.addr8[..4], [192, 0, 2, 20]);
        assert_eq!(q.dport.to_ne_bytes(), 69u16.to_be_bytes());
        assert_eq!(q.rdomain, 3);
        assert_eq!((q.rsport, q.rdport, q.rrdomain), (0, 0, 0));

        let q = answer_state_query(&v6_path(), 0).unwrap();
        assert_eq!(q.af, AF_INET6 as u8);
        assert_eq!(q.saddr, address(v6_path().proxy.ip()));
        assert_eq!(q.daddr, address(v6_path().server.ip()));

        let mut mapped = v4_path();
        mapped.proxy = "[::ffff:203.0.113.1]:49441".parse().unwrap();
        assert_eq!(answer_state_query(&mapped, 0).unwrap().af, AF_INET as u8);
        let mut mixed = v4_path();
        mixed.server = "[2001:db8::20]:69".parse().unwrap();
        assert!(answer_state_query(&mixed, 0).is_err());
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
        assert_eq!(AF_INET6, 24, "OpenBSD's value, whatever the host's");
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
            return_path_rules(&path, "em0", "tftp-proxy/1.1", false),
            Err(EncodeError::MixedFamilies(..))
        ));
        let mut path = v6_path();
        path.client = "192.0.2.1:1".parse().unwrap();
        assert!(return_path_rules(&path, "em0", "tftp-proxy/1.1", false).is_err());
    }

    #[test]
    fn anchor_paths_must_fit() {
        let long = "x".repeat(1024);
        assert_eq!(
            return_path_rules(&v4_path(), "em0", &long, false).err(),
            Some(EncodeError::PathTooLong(long.clone()))
        );
        assert!(transaction_element(&long).is_err());
        assert!(ruleset_query("a\0b", 0).is_err());
        let longest = "x".repeat(1023);
        assert_eq!(
            from_c_string(&transaction_element(&longest).unwrap().anchor),
            longest
        );
    }

    #[test]
    fn the_interface_name_must_fit() {
        for bad in ["", "a-name-longer-than-ifnamsiz", "em\0"] {
            assert_eq!(
                return_path_rules(&v4_path(), bad, "tftp-proxy/1.1", false).err(),
                Some(EncodeError::InterfaceName(bad.to_owned())),
                "{bad:?}"
            );
        }
        let [inbound, ..] =
            return_path_rules(&v4_path(), "vlan4094abcdefg", "tftp-proxy/1.1", false).unwrap();
        assert_eq!(from_c_string(&inbound.rule.ifname), "vlan4094abcdefg");
    }

    #[test]
    fn ioctl_lengths_match_the_structures_passed() {
        use pf_sys::openbsd::{
            ioctl_group, ioctl_number, ioctl_param_len, pf_status, DIOCADDRULE, DIOCGETRULESET,
            DIOCGETRULESETS, DIOCGETSTATUS, DIOCNATLOOK, DIOCXBEGIN, DIOCXCOMMIT,
        };
        use std::mem::size_of;
        // (request, its number in pfvar.h, the structure this backend passes)
        let table = [
            (DIOCADDRULE, 4, size_of::<pfioc_rule>()),
            (DIOCGETSTATUS, 21, size_of::<pf_status>()),
            (DIOCNATLOOK, 23, size_of::<pfioc_natlook>()),
            (DIOCGETRULESETS, 58, size_of::<pfioc_ruleset>()),
            (DIOCGETRULESET, 59, size_of::<pfioc_ruleset>()),
            (DIOCXBEGIN, 81, size_of::<pfioc_trans>()),
            (DIOCXCOMMIT, 82, size_of::<pfioc_trans>()),
            (DIOCGETRULES, 6, size_of::<pfioc_rule>()),
            (DIOCGETRULE, 7, size_of::<pfioc_rule>()),
            (DIOCXEND, 100, size_of::<u32>()),
        ];
        for (request, number, len) in table {
            // Bits 16..28 (IOCPARM_MASK, 13 bits) hold the length.
            assert_eq!(ioctl_param_len(request), len, "{request:#x}");
            assert_eq!((request >> 16) & 0x1fff, len as std::os::raw::c_ulong);
            assert_eq!(ioctl_group(request), b'D');
            assert_eq!(ioctl_number(request), number);
            assert_eq!(request >> 29, 0b110, "IOC_INOUT: copied in and out");
        }
        // The sizes themselves, per release: layout.rs.
    }

    #[test]
    fn probe_rule_is_a_valid_rule_for_the_anchor() {
        let ioc = probe_rule("tftp-proxy/77.0").unwrap();
        assert_eq!(from_c_string(&ioc.anchor), "tftp-proxy/77.0");
        assert_eq!(from_c_string(&ioc.anchor_call), "");
        let r = &ioc.rule;
        // What DIOCADDRULE checks before the ticket: a known family, no
        // PF_ADDR_NONE source or destination, unused pools.
        assert_eq!(r.af, AF_INET as u8);
        assert_eq!(r.naf, 0);
        assert_eq!(r.src.addr.type_, PF_ADDR_ADDRMASK as u8);
        assert_eq!(r.dst.addr.type_, PF_ADDR_ADDRMASK as u8);
        assert_eq!(r.rdr.addr.type_, PF_ADDR_NONE as u8);
        assert_eq!((r.rtableid, r.onrdomain), (-1, -1));
        assert_eq!(r.rule_flag, 0);
        assert!(probe_rule(&"x".repeat(1024)).is_err());
    }

    #[test]
    fn transaction_points_at_its_elements() {
        let mut elements = [transaction_element("tftp-proxy/77.3").unwrap()];
        assert_eq!(elements[0].type_, PF_TRANS_RULESET as i32);
        assert_eq!(elements[0].ticket, 0);
        assert_eq!(from_c_string(&elements[0].anchor), "tftp-proxy/77.3");
        let trans = transaction(&mut elements);
        assert_eq!(trans.size, 1);
        assert_eq!(trans.esize as usize, std::mem::size_of::<pfioc_trans_e>());
        assert_eq!(trans.esize, 1032, "sizeof(struct pfioc_trans_e) on amd64");
        assert_eq!(trans.array, elements.as_mut_ptr());
    }

    #[test]
    fn ruleset_query_names_the_parent() {
        let q = ruleset_query("tftp-proxy", 5).unwrap();
        assert_eq!(q.nr, 5);
        assert_eq!(from_c_string(&q.path), "tftp-proxy");
        assert_eq!(from_c_string(&q.name), "");
    }

    #[test]
    fn natlook_query_ipv4() {
        let q = natlook_query(
            "198.51.100.2:50232".parse().unwrap(),
            "127.0.0.1:6969".parse().unwrap(),
            0,
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
        assert_eq!(q.rdomain, 0);
        assert_eq!((q.rsport, q.rdport, q.rrdomain), (0, 0, 0));
        assert_eq!(q.rsaddr, pf_addr::default());
        assert_eq!(q.rdaddr, pf_addr::default());
    }

    #[test]
    fn natlook_query_ipv6() {
        let q = natlook_query(
            "[2001:db8:1::10]:50232".parse().unwrap(),
            "[::1]:6969".parse().unwrap(),
            0,
        )
        .unwrap();
        assert_eq!(q.af, 24);
        assert_eq!(
            q.saddr.to_ipv6(),
            "2001:db8:1::10".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(q.daddr.to_ipv6(), std::net::Ipv6Addr::LOCALHOST);
        assert!(natlook_query(
            "192.0.2.1:1".parse().unwrap(),
            "[::1]:6969".parse().unwrap(),
            0
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
    fn natlook_answer_ipv4() {
        let local: SocketAddr = "127.0.0.1:6969".parse().unwrap();
        let query = natlook_query("198.51.100.2:50232".parse().unwrap(), local, 0).unwrap();
        // rdr-to rewrote the source port: the wire's one is in rsport.
        let wire_client: SocketAddr = "198.51.100.2:1024".parse().unwrap();
        let server: SocketAddr = "192.0.2.20:69".parse().unwrap();
        let answer = natlook_answer(&answered(query, wire_client, server), local).unwrap();
        assert_eq!(answer.client, wire_client);
        assert_eq!(answer.original_destination, server);
    }

    #[test]
    fn natlook_answer_ipv6() {
        let local: SocketAddr = "[::1]:6969".parse().unwrap();
        let client: SocketAddr = "[2001:db8:1::10]:50232".parse().unwrap();
        let server: SocketAddr = "[2001:db8:3::20]:69".parse().unwrap();
        let query = natlook_query(client, local, 0).unwrap();
        let answer = natlook_answer(&answered(query, client, server), local).unwrap();
        assert_eq!(answer.client, client);
        assert_eq!(answer.original_destination, server);
    }

    #[test]
    fn natlook_answer_without_translation_is_the_arrival_address() {
        // A state that translated nothing: the datagram's destination
        // was where it arrived; the flow refuses the firewall's own
        // address by name.
        let local: SocketAddr = "192.0.2.1:6969".parse().unwrap();
        let client: SocketAddr = "198.51.100.2:50232".parse().unwrap();
        let query = natlook_query(client, local, 0).unwrap();
        let answer = natlook_answer(&answered(query, client, local), local).unwrap();
        assert_eq!(answer.original_destination, local);
        assert_eq!(answer.client, client);
        assert_eq!(natlook_answer(&query, local), None, "an unanswered query");
    }

    #[test]
    fn natlook_asks_in_the_given_routing_domain() {
        let q = natlook_query(
            "198.51.100.2:50232".parse().unwrap(),
            "127.0.0.1:6969".parse().unwrap(),
            7,
        )
        .unwrap();
        assert_eq!(q.rdomain, 7);
        assert_eq!(q.rrdomain, 0, "the kernel's answer");
    }

    #[test]
    fn rule_queries_name_the_ruleset_and_ticket() {
        let q = rules_query("").unwrap();
        assert_eq!(from_c_string(&q.anchor), "", "the main ruleset");
        assert_eq!((q.ticket, q.nr), (0, 0));
        let q = next_rule_query("", 42).unwrap();
        assert_eq!(from_c_string(&q.anchor), "");
        assert_eq!(q.ticket, 42);
        assert!(rules_query(&"x".repeat(1024)).is_err());
    }

    fn calling(anchor_call: &str) -> pfioc_rule {
        let mut rule = pfioc_rule::default();
        c_string(&mut rule.anchor_call, anchor_call).unwrap();
        rule
    }

    #[test]
    fn divert_to_is_recognised() {
        let mut rule = pfioc_rule::default();
        assert!(!diverts(&rule));
        rule.rule.divert.type_ = PF_DIVERT_TO;
        rule.rule.divert.port = 6969u16.to_be();
        assert!(diverts(&rule));
        rule.rule.divert.type_ = PF_DIVERT_TO + 1; // divert-reply
        assert!(!diverts(&rule));
    }

    #[test]
    fn the_anchor_rule_is_recognised_as_pf_hands_it_back() {
        assert!(calls_children_of(&calling("tftp-proxy/*"), "tftp-proxy"));
        assert!(calls_children_of(&calling("/tftp-proxy/*"), "tftp-proxy"));
        for other in [
            "",
            "tftp-proxy",
            "/tftp-proxy",
            "tftp-proxy/1.2",
            "ftp-proxy/*",
            "x/tftp-proxy/*",
            "tftp-proxy/*/*",
            "*",
        ] {
            assert!(
                !calls_children_of(&calling(other), "tftp-proxy"),
                "{other:?}"
            );
        }
    }
}
