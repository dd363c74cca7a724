//! ctnetlink: asking conntrack where a redirected datagram was going.
//!
//! This module owns the conntrack request and the decoding of its answer,
//! as bytes. The lookup is the Linux analogue of pf's DIOCNATLOOK: the
//! entry whose *reply* tuple runs from the helper's address and port back
//! to the client holds, in its *original* tuple, the client as the wire
//! saw it and the server it addressed.

use super::message::{Attributes, MessageBuilder, NLM_F_ACK, NLM_F_REQUEST};
use crate::firewall::Redirection;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;

/// Message type of a conntrack lookup.
pub const CT_GET: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
/// Message type of a conntrack deletion.
pub const CT_DELETE: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
/// Message type of a conntrack entry in an answer.
pub const CT_NEW: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;

const CTA_TIMEOUT: u16 = 7;
const CTA_ZONE: u16 = 18;

const IPPROTO_UDP: u8 = 17;

/// The conntrack zone the shipped ruleset puts a phone's requests in
/// (`ct zone set 1` in its raw prerouting chain, and on the helper's
/// answers in raw output): a request never joins the flow of an earlier
/// transfer's answers, which live in the default zone 0, so every request
/// reaches the helper.
pub const REQUEST_ZONE: u16 = 1;

fn family(addr: &SocketAddr) -> u8 {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET as u8,
        SocketAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// Builds the lookup of the UDP entry in `zone` whose reply tuple is
/// `local -> client`.
pub fn lookup_request(seq: u32, client: SocketAddr, local: SocketAddr, zone: u16) -> Vec<u8> {
    let mut m = MessageBuilder::new(Vec::new(), CT_GET, NLM_F_REQUEST, seq, family(&local), 0);
    udp_tuple(&mut m, CTA_TUPLE_REPLY, local, client);
    m.attr(CTA_ZONE, &zone.to_be_bytes());
    m.finish()
}

/// The lookups of many datagrams (`client`, `local`) in `zone`, one
/// message each, numbered from `first_seq` on, in one buffer: sent at
/// once, each answered on its own (`netlink_rcv_skb()`,
/// net/netlink/af_netlink.c, runs every message of a datagram).
pub fn lookup_requests(first_seq: u32, queries: &[(SocketAddr, SocketAddr)], zone: u16) -> Vec<u8> {
    numbered(first_seq, queries, |seq, (client, local)| {
        lookup_request(seq, client, local, zone)
    })
}

/// The deletions of many requests' entries (`client`, `server`) in
/// `zone`, numbered from `first_seq` on, in one buffer, as
/// [`lookup_requests`].
pub fn delete_requests(first_seq: u32, flows: &[(SocketAddr, SocketAddr)], zone: u16) -> Vec<u8> {
    numbered(first_seq, flows, |seq, (client, server)| {
        delete_request(seq, client, server, zone)
    })
}

/// One buffer holding `build(seq, item)` for each of `items`, the
/// sequence numbers counting from `first_seq`.
fn numbered<T: Copy>(first_seq: u32, items: &[T], build: impl Fn(u32, T) -> Vec<u8>) -> Vec<u8> {
    let mut buf = Vec::new();
    for (i, &item) in (0u32..).zip(items) {
        buf.extend_from_slice(&build(first_seq.wrapping_add(i), item));
    }
    buf
}

/// Builds the lookup of the UDP entry (default zone) whose original
/// tuple is `src -> dst`.
pub fn get_request(seq: u32, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut m = MessageBuilder::new(Vec::new(), CT_GET, NLM_F_REQUEST, seq, family(&dst), 0);
    udp_tuple(&mut m, CTA_TUPLE_ORIG, src, dst);
    m.finish()
}

/// The seconds an entry has left (`CTA_TIMEOUT` of a `CT_NEW` answer).
pub fn timeout_left(attrs: Attributes<'_>) -> Option<u32> {
    let a = attrs.find(CTA_TIMEOUT)?;
    let b: [u8; 4] = a.payload.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Builds the deletion of the UDP entry whose original tuple is
/// `client -> server`: the client's redirected request.
///
/// The tuple is always present: a delete without CTA_TUPLE_ORIG or
/// CTA_TUPLE_REPLY flushes the whole table
/// (`ctnetlink_del_conntrack()`, net/netfilter/nf_conntrack_netlink.c).
pub fn delete_request(seq: u32, client: SocketAddr, server: SocketAddr, zone: u16) -> Vec<u8> {
    let mut m = MessageBuilder::new(
        Vec::new(),
        CT_DELETE,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        family(&server),
        0,
    );
    udp_tuple(&mut m, CTA_TUPLE_ORIG, client, server);
    m.attr(CTA_ZONE, &zone.to_be_bytes());
    m.finish()
}

/// Appends a UDP tuple `src -> dst` as attribute `kind` (orig or reply).
fn udp_tuple(m: &mut MessageBuilder, kind: u16, src: SocketAddr, dst: SocketAddr) {
    m.begin_nest(kind).begin_nest(CTA_TUPLE_IP);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            m.attr(CTA_IP_V4_SRC, &s.octets())
                .attr(CTA_IP_V4_DST, &d.octets());
        }
        (s, d) => {
            m.attr(CTA_IP_V6_SRC, &as_v6(s).octets())
                .attr(CTA_IP_V6_DST, &as_v6(d).octets());
        }
    }
    m.end_nest().begin_nest(CTA_TUPLE_PROTO);
    m.attr(CTA_PROTO_NUM, &[IPPROTO_UDP]);
    m.attr(CTA_PROTO_SRC_PORT, &src.port().to_be_bytes());
    m.attr(CTA_PROTO_DST_PORT, &dst.port().to_be_bytes());
    m.end_nest().end_nest();
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Decodes the original tuple of a conntrack entry (the attributes of a
/// `CT_NEW` answer) into the client and the server it addressed.
pub fn decode_entry(attrs: Attributes<'_>) -> Result<Redirection, String> {
    let orig = attrs
        .find(CTA_TUPLE_ORIG)
        .ok_or("entry has no original tuple")?;
    let ip = orig
        .nested()
        .find(CTA_TUPLE_IP)
        .ok_or("tuple has no addresses")?;
    let proto = orig
        .nested()
        .find(CTA_TUPLE_PROTO)
        .ok_or("tuple has no ports")?;
    let num = proto.nested().find(CTA_PROTO_NUM).map(|a| a.payload);
    if num != Some(&[IPPROTO_UDP][..]) {
        return Err(format!("entry is not UDP (protocol {num:?})"));
    }
    let port = |kind| -> Result<u16, String> {
        let a = proto.nested().find(kind).ok_or("tuple lacks a port")?;
        let b: [u8; 2] = a.payload.try_into().map_err(|_| "port is not 2 bytes")?;
        Ok(u16::from_be_bytes(b))
    };
    let (src, dst) = if let Some(src) = ip.nested().find(CTA_IP_V4_SRC) {
        let dst = ip
            .nested()
            .find(CTA_IP_V4_DST)
            .ok_or("tuple lacks a destination")?;
        let v4 = |p: &[u8]| -> Result<IpAddr, String> {
            let b: [u8; 4] = p.try_into().map_err(|_| "IPv4 address is not 4 bytes")?;
            Ok(IpAddr::V4(Ipv4Addr::from(b)))
        };
        (v4(src.payload)?, v4(dst.payload)?)
    } else {
        let src = ip
            .nested()
            .find(CTA_IP_V6_SRC)
            .ok_or("tuple lacks a source")?;
        let dst = ip
            .nested()
            .find(CTA_IP_V6_DST)
            .ok_or("tuple lacks a destination")?;
        let v6 = |p: &[u8]| -> Result<IpAddr, String> {
            let b: [u8; 16] = p.try_into().map_err(|_| "IPv6 address is not 16 bytes")?;
            Ok(IpAddr::V6(Ipv6Addr::from(b)))
        };
        (v6(src.payload)?, v6(dst.payload)?)
    };
    Ok(Redirection {
        client: SocketAddr::new(src, port(CTA_PROTO_SRC_PORT)?),
        original_destination: SocketAddr::new(dst, port(CTA_PROTO_DST_PORT)?),
    })
}

#[cfg(test)]
mod tests {
    use super::super::message::{messages, Message, MessageBuilder};
    use super::*;

    #[test]
    fn request_carries_the_reply_tuple() {
        let client: SocketAddr = "192.0.2.20:50232".parse().unwrap();
        let local: SocketAddr = "192.0.2.1:6969".parse().unwrap();
        let buf = lookup_request(3, client, local, REQUEST_ZONE);
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(msg.msg_type, CT_GET);
        assert_eq!(msg.payload[0], libc::AF_INET as u8);
        let reply = msg.attributes().find(CTA_TUPLE_REPLY).unwrap();
        let ip = reply.nested().find(CTA_TUPLE_IP).unwrap();
        assert_eq!(
            ip.nested().find(CTA_IP_V4_SRC).unwrap().payload,
            &[192, 0, 2, 1]
        );
        assert_eq!(
            ip.nested().find(CTA_IP_V4_DST).unwrap().payload,
            &[192, 0, 2, 20]
        );
        let proto = reply.nested().find(CTA_TUPLE_PROTO).unwrap();
        assert_eq!(proto.nested().find(CTA_PROTO_NUM).unwrap().payload, &[17]);
        assert_eq!(
            proto.nested().find(CTA_PROTO_SRC_PORT).unwrap().payload,
            &6969u16.to_be_bytes()
        );
        assert_eq!(
            proto.nested().find(CTA_PROTO_DST_PORT).unwrap().payload,
            &50232u16.to_be_bytes()
        );
        assert!(msg.attributes().find(CTA_TUPLE_ORIG).is_none());
        assert_eq!(msg.attributes().find(CTA_ZONE).unwrap().payload, &[0, 1]);
    }

    #[test]
    fn get_carries_the_original_tuple_and_timeout_is_read() {
        let server: SocketAddr = "198.51.100.5:69".parse().unwrap();
        let proxy: SocketAddr = "198.51.100.1:40000".parse().unwrap();
        let buf = get_request(4, server, proxy);
        let msg = messages(&buf).next().unwrap().unwrap();
        let r = decode_entry(msg.attributes()).unwrap();
        assert_eq!((r.client, r.original_destination), (server, proxy));
        assert!(msg.attributes().find(CTA_ZONE).is_none());
        let mut m = MessageBuilder::new(Vec::new(), CT_NEW, 0, 4, 2, 0);
        udp_tuple(&mut m, CTA_TUPLE_ORIG, server, proxy);
        m.attr(CTA_TIMEOUT, &117u32.to_be_bytes());
        let buf = m.finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!(timeout_left(msg.attributes()), Some(117));
    }

    #[test]
    fn decodes_original_tuple_v4_and_v6() {
        for (client, server, local) in [
            ("192.0.2.20:50232", "198.51.100.2:69", "192.0.2.1:6969"),
            (
                "[2001:db8:1::20]:40000",
                "[2001:db8:2::2]:69",
                "[2001:db8:1::1]:6969",
            ),
        ] {
            let (client, server, local): (SocketAddr, SocketAddr, SocketAddr) = (
                client.parse().unwrap(),
                server.parse().unwrap(),
                local.parse().unwrap(),
            );
            let mut m = MessageBuilder::new(Vec::new(), CT_NEW, 0, 3, family(&client), 0);
            udp_tuple(&mut m, CTA_TUPLE_ORIG, client, server);
            udp_tuple(&mut m, CTA_TUPLE_REPLY, local, client);
            let buf = m.finish();
            let msg = messages(&buf).next().unwrap().unwrap();
            let r = decode_entry(msg.attributes()).unwrap();
            assert_eq!(r.client, client);
            assert_eq!(r.original_destination, server);
        }
    }

    #[test]
    fn delete_carries_the_original_tuple() {
        for (client, server) in [
            ("192.0.2.20:50232", "198.51.100.2:69"),
            ("[2001:db8:1::20]:40000", "[2001:db8:2::2]:69"),
        ] {
            let (client, server): (SocketAddr, SocketAddr) =
                (client.parse().unwrap(), server.parse().unwrap());
            let buf = delete_request(9, client, server, 0);
            let msg = messages(&buf).next().unwrap().unwrap();
            assert_eq!(msg.msg_type, CT_DELETE);
            assert_eq!(msg.msg_type, 0x0102);
            assert_eq!(msg.payload[0], family(&server));
            // Decoding the message as an entry gives back the same tuple:
            // the deletion names exactly the request's flow, never nothing.
            let r = decode_entry(msg.attributes()).unwrap();
            assert_eq!(r.client, client);
            assert_eq!(r.original_destination, server);
            assert!(msg.attributes().find(CTA_TUPLE_REPLY).is_none());
        }
    }

    #[test]
    fn pipelined_answers_reach_their_own_requests() {
        use super::super::batch::tests::error_for;
        use super::super::batch::Answers;
        let local: SocketAddr = "192.0.2.1:6969".parse().unwrap();
        let clients: Vec<SocketAddr> = (0..4)
            .map(|i| SocketAddr::from(([192, 0, 2, 50 + i], 5000 + u16::from(i))))
            .collect();
        let queries: Vec<_> = clients.iter().map(|&c| (c, local)).collect();
        let buf = lookup_requests(40, &queries, REQUEST_ZONE);
        let sent: Vec<_> = messages(&buf).map(Result::unwrap).collect();
        assert_eq!(sent.len(), 4);
        for (i, m) in sent.iter().enumerate() {
            assert_eq!((m.msg_type, m.seq), (CT_GET, 40 + i as u32));
        }
        // The kernel answers in another order; the third has no entry.
        let server = |i: u16| SocketAddr::from(([198, 51, 100, 2], 69 + i));
        let entry = |seq: u32, i: usize| {
            let mut m = MessageBuilder::new(Vec::new(), CT_NEW, 0, seq, 2, 0);
            udp_tuple(&mut m, CTA_TUPLE_ORIG, clients[i], server(i as u16));
            udp_tuple(&mut m, CTA_TUPLE_REPLY, local, clients[i]);
            m.finish()
        };
        let seqs: Vec<u32> = (40..44).collect();
        let mut answers = Answers::new(&seqs);
        answers.feed(&entry(43, 3)).unwrap();
        answers.feed(&error_for(42, libc::ENOENT)).unwrap();
        // Two answers in one datagram.
        let mut both = entry(41, 1);
        both.extend_from_slice(&entry(40, 0));
        answers.feed(&both).unwrap();
        assert!(answers.complete());
        let got = answers.into_answers();
        for i in [0, 1, 3] {
            let Some(Ok(Some(payload))) = &got[i] else {
                panic!("answer {i}: {:?}", got[i]);
            };
            let msg = Message {
                msg_type: CT_NEW,
                seq: 0,
                payload,
            };
            let r = decode_entry(msg.attributes()).unwrap();
            assert_eq!(r.client, clients[i]);
            assert_eq!(r.original_destination, server(i as u16));
        }
        assert_eq!(got[2], Some(Err(nix::errno::Errno::ENOENT)));
    }

    #[test]
    fn refuses_entries_it_cannot_read() {
        let m = MessageBuilder::new(Vec::new(), CT_NEW, 0, 3, 2, 0);
        let buf = m.finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        assert!(decode_entry(msg.attributes()).is_err());
    }
}
