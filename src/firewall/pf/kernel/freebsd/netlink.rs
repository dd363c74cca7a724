//! pf's generic netlink requests, for what FreeBSD 15 no longer offers as
//! a plain ioctl: whether pf is enabled (`DIOCGETSTATUS` was removed) and
//! killing the state of a redirected request (`DIOCKILLSTATES` was
//! removed). pfctl speaks the same family, "pfctl"
//! (sys/netpfil/pf/pf_nl.h):
//! - `PFNL_CMD_GET_STATUS`, answered by pf_handle_get_status in
//!   sys/netpfil/pf/pf_nl.c with a `PF_GS_RUNNING` bool attribute;
//! - `PFNL_CMD_KILLSTATES`, parsed by pf_nl.c's clear_states_parser into
//!   a `pf_kstate_kill` (source and destination as nested rule addresses:
//!   an address wrap, ports in network order, a port operator) and
//!   matched by pf_killstates_row in sys/netpfil/pf/pf_ioctl.c against
//!   each state's wire key (an inbound state's source is the client).
//!
//! The family's id comes first from the generic netlink controller
//! (`CTRL_CMD_GETFAMILY`, sys/netlink/netlink_generic.h). This file is the
//! sans-IO part: the request bytes and the parsing of the answers,
//! unit-tested on any host. It must not touch sockets; `ioctl.rs` sends
//! and receives.
#![cfg_attr(not(target_os = "freebsd"), allow(dead_code))]

use crate::firewall::pf::encode::{address, canonical};
use pf_sys::freebsd::{
    genlmsghdr, nlattr, nlmsghdr, AF_INET, AF_INET6, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME,
    CTRL_CMD_GETFAMILY, GENL_ID_CTRL, IPPROTO_UDP, NLMSG_DONE, NLMSG_ERROR, NLM_F_REQUEST,
    PFNL_CMD_GET_STATUS, PFNL_CMD_KILLSTATES, PFNL_FAMILY_NAME, PF_ADDR_ADDRMASK, PF_AT_ADDR,
    PF_AT_MASK, PF_AT_TYPE, PF_CS_AF, PF_CS_DST, PF_CS_PROTO, PF_CS_SRC, PF_GS_RUNNING, PF_OP_EQ,
    PF_RAT_ADDR, PF_RAT_OP, PF_RAT_SRC_PORT,
};
use std::mem::size_of;
use std::net::SocketAddr;

/// `struct nlmsghdr`: length, type, flags, sequence, port id.
const NLMSG_HDRLEN: usize = size_of::<nlmsghdr>();
/// `struct genlmsghdr`: command, version, reserved.
const GENL_HDRLEN: usize = size_of::<genlmsghdr>();
/// `struct nlattr`: length, type.
const NLA_HDRLEN: usize = size_of::<nlattr>();

/// Why the status could not be read from an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The kernel answered with an error (`NLMSG_ERROR`), e.g. ENOENT when
    /// no family "pfctl" exists (a kernel before pf spoke netlink).
    #[error("netlink error {0}")]
    Kernel(i32),
    /// The answer did not hold what was asked for.
    #[error("netlink answer without {0}")]
    Missing(&'static str),
}

/// Netlink's 4-byte alignment (`NLMSG_ALIGN`, `NLA_ALIGN`).
fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// One attribute: length, type, value, padded to 4 bytes.
fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = NLA_HDRLEN + value.len();
    let mut bytes = Vec::with_capacity(align(len));
    bytes.extend_from_slice(&(len as u16).to_ne_bytes());
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(value);
    bytes.resize(align(len), 0);
    bytes
}

/// One generic netlink request: header, `cmd`, and attributes.
fn request(kind: u16, cmd: u8, seq: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[cmd, 0, 0, 0]);
    for (kind, value) in attrs {
        body.extend_from_slice(&attribute(*kind, value));
    }
    let len = NLMSG_HDRLEN + body.len();
    let mut message = Vec::with_capacity(len);
    message.extend_from_slice(&(len as u32).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST as u16).to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    // Port id 0: the kernel fills in the sender's.
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&body);
    message
}

/// A nested rule address (`pfrule_addr_type_t`): the single host `at`
/// (an address wrap of type `PF_ADDR_ADDRMASK`, address and mask as 16
/// bytes each, pf_nl.c's addr_wrap_parser) and its port, equal to
/// (`PF_OP_EQ`), in network order as `pf_rule_addr.port[0]`.
fn rule_address(at: SocketAddr) -> Vec<u8> {
    let af = if at.is_ipv4() { AF_INET } else { AF_INET6 } as u8;
    let mut wrap = attribute(PF_AT_ADDR as u16, &address(at.ip()).addr8);
    wrap.extend_from_slice(&attribute(
        PF_AT_MASK as u16,
        &pf_sys::pf_addr::full_mask(af).addr8,
    ));
    wrap.extend_from_slice(&attribute(PF_AT_TYPE as u16, &[PF_ADDR_ADDRMASK as u8]));
    let mut rule_addr = attribute(PF_RAT_ADDR as u16, &wrap);
    rule_addr.extend_from_slice(&attribute(
        PF_RAT_SRC_PORT as u16,
        &at.port().to_be().to_ne_bytes(),
    ));
    rule_addr.extend_from_slice(&attribute(PF_RAT_OP as u16, &[PF_OP_EQ as u8]));
    rule_addr
}

/// pf's order to kill the states of UDP flows from `client` to `server`:
/// the client's redirected request (its state's wire key runs from the
/// client to the server it wrote to). `None` for mixed families.
pub fn kill_request(
    family: u16,
    seq: u32,
    client: SocketAddr,
    server: SocketAddr,
) -> Option<Vec<u8>> {
    let (client, server) = (canonical(client), canonical(server));
    let af = match (client, server) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => AF_INET,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => AF_INET6,
        _ => return None,
    } as u8;
    let (src, dst) = (rule_address(client), rule_address(server));
    Some(request(
        family,
        PFNL_CMD_KILLSTATES as u8,
        seq,
        &[
            (PF_CS_AF as u16, &[af]),
            (PF_CS_PROTO as u16, &[IPPROTO_UDP as u8]),
            (PF_CS_SRC as u16, &src),
            (PF_CS_DST as u16, &dst),
        ],
    ))
}

/// Whether the kernel carried out a request of family `family`: its
/// answer (pf_nl.c replies to a kill with the number killed), or an
/// acknowledgement, rather than an error.
pub fn done(datagram: &[u8], family: u16) -> Result<(), StatusError> {
    for message in messages(datagram) {
        match error(&message) {
            Some(0) => return Ok(()),
            Some(code) => return Err(StatusError::Kernel(code)),
            None if message.kind == family => return Ok(()),
            None => {}
        }
    }
    Err(StatusError::Missing("an answer"))
}

/// The controller's question: which id has the family "pfctl"?
pub fn family_request(seq: u32) -> Vec<u8> {
    request(
        GENL_ID_CTRL as u16,
        CTRL_CMD_GETFAMILY as u8,
        seq,
        &[(CTRL_ATTR_FAMILY_NAME as u16, PFNL_FAMILY_NAME)],
    )
}

/// pf's question: what is your status?
pub fn status_request(family: u16, seq: u32) -> Vec<u8> {
    request(family, PFNL_CMD_GET_STATUS as u8, seq, &[])
}

/// The sequence number of the first message in `datagram` (`None` if it
/// is too short to have one).
pub fn sequence(datagram: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(datagram.get(8..12)?.try_into().ok()?))
}

/// One message of an answer: its type and what follows its header.
struct Message<'a> {
    kind: u16,
    payload: &'a [u8],
}

/// The messages in one datagram read from the socket.
fn messages(datagram: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = datagram;
    std::iter::from_fn(move || {
        let len = u32::from_ne_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let kind = u16::from_ne_bytes(rest.get(4..6)?.try_into().ok()?);
        let payload = &rest[NLMSG_HDRLEN..len];
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some(Message { kind, payload })
    })
}

/// The attributes after a message's generic netlink header: (type, value).
fn attributes(payload: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = payload.get(GENL_HDRLEN..).unwrap_or(&[]);
    std::iter::from_fn(move || {
        let len = u16::from_ne_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        if len < NLA_HDRLEN || len > rest.len() {
            return None;
        }
        // The top bits flag nested and byte-order attributes.
        let kind = u16::from_ne_bytes(rest.get(2..4)?.try_into().ok()?) & 0x3fff;
        let value = &rest[NLA_HDRLEN..len];
        rest = rest.get(align(len)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

/// The error a `NLMSG_ERROR` message carries (`struct nlmsgerr`: the
/// error first; zero is an acknowledgement), if `message` is one.
fn error(message: &Message<'_>) -> Option<i32> {
    if u32::from(message.kind) != NLMSG_ERROR {
        return None;
    }
    let code = i32::from_ne_bytes(message.payload.get(..4)?.try_into().ok()?);
    Some(code)
}

/// Reads the family id out of the controller's answer.
pub fn family_id(datagram: &[u8]) -> Result<u16, StatusError> {
    for message in messages(datagram) {
        match error(&message) {
            Some(0) => continue,
            Some(code) => return Err(StatusError::Kernel(code)),
            None => {}
        }
        if u32::from(message.kind) == NLMSG_DONE {
            break;
        }
        if u32::from(message.kind) != GENL_ID_CTRL {
            continue;
        }
        let id = attributes(message.payload)
            .find(|&(kind, _)| u32::from(kind) == CTRL_ATTR_FAMILY_ID)
            .and_then(|(_, value)| value.get(..2)?.try_into().ok())
            .map(u16::from_ne_bytes);
        if let Some(id) = id {
            return Ok(id);
        }
    }
    Err(StatusError::Missing("the family id"))
}

/// Reads `PF_GS_RUNNING` out of pf's status answer (from family `family`).
pub fn running(datagram: &[u8], family: u16) -> Result<bool, StatusError> {
    for message in messages(datagram) {
        match error(&message) {
            Some(0) => continue,
            Some(code) => return Err(StatusError::Kernel(code)),
            None => {}
        }
        if message.kind != family {
            continue;
        }
        let running = attributes(message.payload)
            .find(|&(kind, _)| u32::from(kind) == PF_GS_RUNNING)
            .and_then(|(_, value)| value.first().copied());
        if let Some(running) = running {
            return Ok(running != 0);
        }
    }
    Err(StatusError::Missing("PF_GS_RUNNING"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as the kernel writes it: header, genl header, attributes.
    fn answer(kind: u16, cmd: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        request(kind, cmd, 7, attrs)
    }

    #[test]
    fn headers_have_the_kernels_sizes() {
        assert_eq!((NLMSG_HDRLEN, GENL_HDRLEN, NLA_HDRLEN), (16, 4, 4));
        assert_eq!(GENL_ID_CTRL, 16);
        assert_eq!(PFNL_FAMILY_NAME, b"pfctl\0");
    }

    #[test]
    fn family_request_bytes() {
        let bytes = family_request(1);
        // 16 header + 4 genl + (4 + 6 "pfctl\0", padded to 12).
        assert_eq!(bytes.len(), 32);
        assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()), 32);
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 16);
        assert_eq!(
            u16::from_ne_bytes(bytes[6..8].try_into().unwrap()),
            1,
            "NLM_F_REQUEST"
        );
        assert_eq!(
            u32::from_ne_bytes(bytes[8..12].try_into().unwrap()),
            1,
            "sequence"
        );
        assert_eq!(bytes[16], CTRL_CMD_GETFAMILY as u8);
        assert_eq!(
            u16::from_ne_bytes(bytes[20..22].try_into().unwrap()),
            10,
            "attribute length"
        );
        assert_eq!(
            u16::from_ne_bytes(bytes[22..24].try_into().unwrap()),
            2,
            "CTRL_ATTR_FAMILY_NAME"
        );
        assert_eq!(&bytes[24..30], b"pfctl\0");
        assert_eq!(&bytes[30..], [0, 0], "padding");
    }

    #[test]
    fn sequence_is_read_back() {
        assert_eq!(sequence(&status_request(0x1d, 42)), Some(42));
        assert_eq!(sequence(&[0; 11]), None);
    }

    #[test]
    fn status_request_bytes() {
        let bytes = status_request(0x1d, 2);
        assert_eq!(bytes.len(), 20);
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 0x1d);
        assert_eq!(bytes[16], 11, "PFNL_CMD_GET_STATUS");
    }

    #[test]
    fn family_id_from_the_controllers_answer() {
        let id = 0x1du16.to_ne_bytes();
        let reply = answer(
            16,
            1, // CTRL_CMD_NEWFAMILY
            &[(2, b"pfctl\0"), (1, &id)],
        );
        assert_eq!(family_id(&reply), Ok(0x1d));
    }

    #[test]
    fn family_missing_is_the_kernels_error() {
        // NLMSG_ERROR: error -2 (ENOENT), then the request's header.
        let mut reply = Vec::new();
        reply.extend_from_slice(&36u32.to_ne_bytes());
        reply.extend_from_slice(&(NLMSG_ERROR as u16).to_ne_bytes());
        reply.extend_from_slice(&[0; 10]);
        reply.extend_from_slice(&(-2i32).to_ne_bytes());
        reply.extend_from_slice(&[0; 16]);
        assert_eq!(family_id(&reply), Err(StatusError::Kernel(-2)));
        assert_eq!(running(&reply, 0x1d), Err(StatusError::Kernel(-2)));
    }

    #[test]
    fn running_from_pfs_answer() {
        let since = 1_700_000_000u32.to_ne_bytes();
        for (flag, expected) in [(1u8, true), (0u8, false)] {
            let reply = answer(
                0x1d,
                PFNL_CMD_GET_STATUS as u8,
                &[(1, b"\0"), (2, &[flag]), (3, &since)],
            );
            assert_eq!(running(&reply, 0x1d), Ok(expected));
            assert_eq!(
                running(&reply, 0x1e),
                Err(StatusError::Missing("PF_GS_RUNNING")),
                "another family's message"
            );
        }
    }

    /// The attributes of a nested attribute's value.
    fn nested(value: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut with_genl = vec![0; GENL_HDRLEN];
        with_genl.extend_from_slice(value);
        attributes(&with_genl)
            .map(|(k, v)| (k, v.to_vec()))
            .collect()
    }

    #[test]
    fn kill_request_names_the_clients_request() {
        let client: SocketAddr = "198.51.100.2:50232".parse().unwrap();
        let server: SocketAddr = "192.0.2.20:69".parse().unwrap();
        let bytes = kill_request(0x1d, 3, client, server).unwrap();
        assert_eq!(
            u32::from_ne_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 0x1d);
        assert_eq!(bytes[16], 9, "PFNL_CMD_KILLSTATES");
        let attrs: Vec<(u16, Vec<u8>)> = attributes(&bytes[NLMSG_HDRLEN..])
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        assert_eq!(attrs[0], (4, vec![2]), "PF_CS_AF: AF_INET");
        assert_eq!(attrs[1], (5, vec![17]), "PF_CS_PROTO: UDP");
        for ((kind, value), (want_kind, at)) in attrs[2..].iter().zip([(6, client), (7, server)]) {
            assert_eq!(*kind, want_kind, "PF_CS_SRC, PF_CS_DST");
            let rule_addr = nested(value);
            assert_eq!(rule_addr.len(), 3);
            let (kind, wrap) = &rule_addr[0];
            assert_eq!(*kind, 1, "PF_RAT_ADDR");
            let wrap = nested(wrap);
            let mut want_addr = [0u8; 16];
            if let std::net::IpAddr::V4(v4) = at.ip() {
                want_addr[..4].copy_from_slice(&v4.octets());
            }
            assert_eq!(wrap[0], (1, want_addr.to_vec()), "PF_AT_ADDR");
            let mut mask = [0u8; 16];
            mask[..4].fill(0xff);
            assert_eq!(wrap[1], (2, mask.to_vec()), "PF_AT_MASK: a host");
            assert_eq!(wrap[2], (5, vec![0]), "PF_AT_TYPE: PF_ADDR_ADDRMASK");
            assert_eq!(
                rule_addr[1],
                (2, at.port().to_be_bytes().to_vec()),
                "network order"
            );
            assert_eq!(rule_addr[2], (5, vec![2]), "PF_RAT_OP: PF_OP_EQ");
        }
    }

    #[test]
    fn kill_request_ipv6_and_mixed() {
        let client: SocketAddr = "[2001:db8:1::10]:50232".parse().unwrap();
        let server: SocketAddr = "[2001:db8:3::20]:69".parse().unwrap();
        let bytes = kill_request(0x1d, 3, client, server).unwrap();
        let attrs: Vec<(u16, Vec<u8>)> = attributes(&bytes[NLMSG_HDRLEN..])
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        assert_eq!(attrs[0], (4, vec![28]), "FreeBSD's AF_INET6");
        let wrap = nested(&nested(&attrs[3].1)[0].1);
        assert_eq!(
            wrap[0].1,
            "2001:db8:3::20"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert_eq!(wrap[1].1, [0xff; 16]);
        assert!(kill_request(0x1d, 3, client, "192.0.2.1:69".parse().unwrap()).is_none());
        let mapped: SocketAddr = "[::ffff:198.51.100.2]:50232".parse().unwrap();
        let bytes = kill_request(0x1d, 3, mapped, "192.0.2.20:69".parse().unwrap()).unwrap();
        assert_eq!(attributes(&bytes[NLMSG_HDRLEN..]).next().unwrap().1, [2]);
    }

    #[test]
    fn done_is_an_answer_or_an_ack() {
        let killed = 1u32.to_ne_bytes();
        assert_eq!(done(&answer(0x1d, 9, &[(13, &killed)]), 0x1d), Ok(()));
        assert!(done(&answer(0x1e, 9, &[]), 0x1d).is_err());
        assert!(done(&[], 0x1d).is_err());
        let mut ack = Vec::new();
        ack.extend_from_slice(&36u32.to_ne_bytes());
        ack.extend_from_slice(&(NLMSG_ERROR as u16).to_ne_bytes());
        ack.extend_from_slice(&[0; 30]);
        assert_eq!(done(&ack, 0x1d), Ok(()));
        ack[16..20].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(done(&ack, 0x1d), Err(StatusError::Kernel(-1)));
    }

    #[test]
    fn truncated_answers_are_missing_not_misread() {
        let reply = answer(0x1d, 11, &[(2, &[1])]);
        for cut in 0..reply.len() {
            assert!(running(&reply[..cut], 0x1d).is_err(), "cut at {cut}");
        }
        assert!(family_id(&[]).is_err());
    }
}
