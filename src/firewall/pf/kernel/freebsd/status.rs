//! Whether pf is enabled, asked over netlink: FreeBSD 15 removed the
//! `DIOCGETSTATUS` ioctl, and pfctl reads the status with the generic
//! netlink family "pfctl" instead (`PFNL_CMD_GET_STATUS`,
//! sys/netpfil/pf/pf_nl.h; answered by pf_handle_get_status in
//! sys/netpfil/pf/pf_nl.c with a `PF_GS_RUNNING` bool attribute).
//!
//! Two exchanges: the generic netlink controller names the family's id
//! (`CTRL_CMD_GETFAMILY`, sys/netlink/netlink_generic.h), then the
//! family answers the status request. This file is the sans-IO part:
//! the request bytes and the parsing of the answers, unit-tested on any
//! host. It must not touch sockets; `ioctl.rs` sends and receives.
#![cfg_attr(not(target_os = "freebsd"), allow(dead_code))]

use pf_sys::freebsd::{
    genlmsghdr, nlattr, nlmsghdr, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY,
    GENL_ID_CTRL, NLMSG_DONE, NLMSG_ERROR, NLM_F_REQUEST, PFNL_CMD_GET_STATUS, PFNL_FAMILY_NAME,
    PF_GS_RUNNING,
};
use std::mem::size_of;

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

/// One generic netlink request: header, `cmd`, and attributes.
fn request(kind: u16, cmd: u8, seq: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[cmd, 0, 0, 0]);
    for (kind, value) in attrs {
        let len = NLA_HDRLEN + value.len();
        body.extend_from_slice(&(len as u16).to_ne_bytes());
        body.extend_from_slice(&kind.to_ne_bytes());
        body.extend_from_slice(value);
        body.resize(align(body.len()), 0);
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

    #[test]
    fn truncated_answers_are_missing_not_misread() {
        let reply = answer(0x1d, 11, &[(2, &[1])]);
        for cut in 0..reply.len() {
            assert!(running(&reply[..cut], 0x1d).is_err(), "cut at {cut}");
        }
        assert!(family_id(&[]).is_err());
    }
}
