//! Linux: one `RTM_GETROUTE` over rtnetlink per check.
//!
//! The kernel answers with the route it would use to send to the address
//! (`inet_rtm_getroute()`, net/ipv4/route.c; `inet6_rtm_getroute()`,
//! net/ipv6/route.c): its type and, for a unicast route, the output
//! interface (`RTA_OIF`). Reading routes needs no privilege.

use super::InterfaceCache;
use crate::policy::RouteToClient;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};
use std::io;
use std::net::IpAddr;

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
// enum in include/uapi/linux/rtnetlink.h.
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;
const RTN_BROADCAST: u8 = 3;
const RTN_ANYCAST: u8 = 4;
const RTN_MULTICAST: u8 = 5;
const RTN_BLACKHOLE: u8 = 6;
const RTN_UNREACHABLE: u8 = 7;
const RTN_PROHIBIT: u8 = 8;
/// `struct nlmsghdr` and `struct rtmsg`.
const NLMSG_HDRLEN: usize = 16;
const RTMSG_LEN: usize = 12;

/// The routing table, asked over one rtnetlink socket.
#[derive(Debug)]
pub struct Routes {
    socket: Socket,
    seq: u32,
}

impl Routes {
    /// Opens the rtnetlink socket.
    pub fn open() -> io::Result<Routes> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        // The kernel answers at once; the timeout only guards against a lost answer.
        setsockopt(&socket, sockopt::ReceiveTimeout, &TimeVal::seconds(1))?;
        Ok(Routes {
            socket,
            seq: std::process::id().wrapping_mul(7),
        })
    }

    /// Where the firewall would send a datagram to `ip`; the route's
    /// interface named from `names`.
    pub fn toward(&mut self, ip: IpAddr, names: &mut InterfaceCache) -> io::Result<RouteToClient> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.socket.send(&request(seq, ip), 0)?;
        loop {
            let (datagram, _) = self.socket.recv_from_full()?;
            if let Some(answer) = answer(&datagram, seq, &mut |index| names.name(index)) {
                return answer;
            }
        }
    }
}

/// The `RTM_GETROUTE` request for `ip`.
fn request(seq: u32, ip: IpAddr) -> Vec<u8> {
    let (family, octets): (u8, Vec<u8>) = match ip {
        IpAddr::V4(v4) => (libc::AF_INET as u8, v4.octets().to_vec()),
        IpAddr::V6(v6) => (libc::AF_INET6 as u8, v6.octets().to_vec()),
    };
    let attr_len = 4 + octets.len();
    let len = NLMSG_HDRLEN + RTMSG_LEN + attr_len;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
    // type, flags.
    let dst_len = (octets.len() * 8) as u8;
    m.extend_from_slice(&[family, dst_len, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&RTA_DST.to_ne_bytes());
    m.extend_from_slice(&octets);
    m
}

/// The answer to request `seq` in one datagram from the kernel, if it
/// holds it; an interface is named by `name`.
fn answer(
    datagram: &[u8],
    seq: u32,
    name: &mut dyn FnMut(u32) -> String,
) -> Option<io::Result<RouteToClient>> {
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(rest[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Some(Err(io::Error::other("malformed rtnetlink answer")));
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let got = u32::from_ne_bytes(rest[8..12].try_into().ok()?);
        let payload = &rest[NLMSG_HDRLEN..len];
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
        if got != seq {
            continue;
        }
        return Some(match kind {
            NLMSG_ERROR => {
                let code = payload
                    .get(..4)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                match -code {
                    // An error code of 0 is an acknowledgement, not a route.
                    0 => Err(io::Error::other("rtnetlink acknowledged without a route")),
                    errno @ (libc::ENETUNREACH
                    | libc::EHOSTUNREACH
                    | libc::EACCES
                    | libc::EINVAL) => Ok(RouteToClient::Unreachable(
                        io::Error::from_raw_os_error(errno).to_string(),
                    )),
                    errno => Err(io::Error::from_raw_os_error(errno)),
                }
            }
            RTM_NEWROUTE => decode_route(payload, name),
            other => Err(io::Error::other(format!(
                "rtnetlink answered with message type {other}"
            ))),
        });
    }
    None
}

/// Reads the type and output interface (named by `name`) of one
/// `RTM_NEWROUTE` payload.
fn decode_route(payload: &[u8], name: &mut dyn FnMut(u32) -> String) -> io::Result<RouteToClient> {
    let header = payload
        .get(..RTMSG_LEN)
        .ok_or_else(|| io::Error::other("short rtnetlink route"))?;
    let kind = header[7];
    let mut oif = None;
    let mut attrs = &payload[RTMSG_LEN..];
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let typ = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        let Some(value) = attrs.get(4..len.max(4)) else {
            break;
        };
        if typ == RTA_OIF {
            oif = value
                .get(..4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        }
        attrs = attrs.get((len.max(4) + 3) & !3..).unwrap_or(&[]);
    }
    Ok(match kind {
        RTN_LOCAL => RouteToClient::Local,
        RTN_UNICAST | RTN_ANYCAST => match oif {
            Some(index) => RouteToClient::Interface {
                index,
                name: name(index),
            },
            None => RouteToClient::Unreachable("route without an output interface".into()),
        },
        RTN_BROADCAST => RouteToClient::Unreachable("a broadcast route".into()),
        RTN_MULTICAST => RouteToClient::Unreachable("a multicast route".into()),
        RTN_BLACKHOLE => RouteToClient::Unreachable("a blackhole route".into()),
        RTN_UNREACHABLE => RouteToClient::Unreachable("an unreachable route".into()),
        RTN_PROHIBIT => RouteToClient::Unreachable("a prohibit route".into()),
        other => RouteToClient::Unreachable(format!("a route of type {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel answer: header, rtmsg of `kind`, and an `RTA_OIF`.
    fn route_answer(seq: u32, kind: u8, oif: Option<u32>) -> Vec<u8> {
        let mut body = vec![libc::AF_INET as u8, 32, 0, 0, 254, 2, 0, kind, 0, 0, 0, 0];
        if let Some(index) = oif {
            body.extend_from_slice(&8u16.to_ne_bytes());
            body.extend_from_slice(&RTA_OIF.to_ne_bytes());
            body.extend_from_slice(&index.to_ne_bytes());
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn error_answer(seq: u32, errno: i32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&(-errno).to_ne_bytes());
        m.extend_from_slice(&[0; 16]);
        m
    }

    #[test]
    fn request_names_the_destination() {
        let m = request(5, "192.0.2.20".parse().unwrap());
        assert_eq!(m.len(), 16 + 12 + 8);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_GETROUTE);
        assert_eq!(m[16], libc::AF_INET as u8);
        assert_eq!(m[17], 32);
        assert_eq!(&m[32..36], &[192, 0, 2, 20]);
        let m = request(5, "2001:db8::1".parse().unwrap());
        assert_eq!((m[16], m[17]), (libc::AF_INET6 as u8, 128));
        assert_eq!(m.len(), 16 + 12 + 20);
    }

    #[test]
    fn answers_are_read_by_type() {
        let mut named = |index| format!("if{index}");
        let r = answer(&route_answer(3, RTN_UNICAST, Some(1)), 3, &mut named)
            .unwrap()
            .unwrap();
        assert!(matches!(r, RouteToClient::Interface { index: 1, ref name } if name == "if1"));
        let r = answer(&route_answer(3, RTN_LOCAL, Some(1)), 3, &mut named)
            .unwrap()
            .unwrap();
        assert_eq!(r, RouteToClient::Local);
        let r = answer(&route_answer(3, RTN_BLACKHOLE, None), 3, &mut named)
            .unwrap()
            .unwrap();
        assert!(matches!(r, RouteToClient::Unreachable(_)));
        let r = answer(&error_answer(3, libc::ENETUNREACH), 3, &mut named)
            .unwrap()
            .unwrap();
        assert!(matches!(r, RouteToClient::Unreachable(ref s) if s.contains("unreachable")));
        assert!(answer(&error_answer(3, libc::ENOBUFS), 3, &mut named)
            .unwrap()
            .is_err());
        // Another request's answer is skipped.
        assert!(answer(&route_answer(4, RTN_UNICAST, Some(1)), 3, &mut named).is_none());
    }
}
