//! nf_tables: the return-path map elements, as bytes and as nft syntax.
//!
//! This module owns the encoding of one [`ReturnPath`] as an element of the
//! shipped ruleset's maps (`etc/tftp-proxy.nft`):
//! key `server . proxy address . proxy port`, value `client . client port`,
//! with a timeout so the kernel removes it even if the helper dies; and
//! its twin in the `delivered` set (the same key, no value), which counts
//! the answers that left toward the client.

use super::message::{
    Attributes, MessageBuilder, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use crate::firewall::ReturnPath;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The nf_tables subsystem of nfnetlink.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_GETSET: u16 = 10;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
/// The `inet` family of the shipped table.
pub const NFPROTO_INET: u8 = 1;

// enum nft_set_attributes and nft_set_desc_attributes in
// include/uapi/linux/netfilter/nf_tables.h.
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_DESC_SIZE: u16 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_TIMEOUT: u16 = 4;
const NFTA_DATA_VALUE: u16 = 1;

/// Message type of an element addition.
pub const NEWSETELEM: u16 = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
/// Message type of a set (map) lookup.
pub const GETSET: u16 = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSET;
/// Message type of an element removal.
pub const DELSETELEM: u16 = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELSETELEM;

/// One element message of a batch [`ReturnMaps::add_many`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementMessage {
    /// Its sequence number.
    pub seq: u32,
    /// The index of the path it adds.
    pub path: usize,
    /// Whether it asks for an acknowledgement (a path's last message).
    pub acked: bool,
}

/// Where the return paths live: an `inet` table holding one map per family,
/// and one `delivered` set per family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnMaps {
    /// The `inet` table's name.
    pub table: String,
    /// Whether additions and renewals carry the `delivered` element too
    /// (false once the table was found without the sets: an older
    /// include, whose maps still work alone).
    pub delivered: bool,
}

impl ReturnMaps {
    /// The name of the map for this path's address family.
    pub fn map_for(&self, path: &ReturnPath) -> &'static str {
        match path.server {
            SocketAddr::V4(_) => "return_v4",
            SocketAddr::V6(_) => "return_v6",
        }
    }

    /// The name of the `delivered` set for this path's address family.
    pub fn delivered_for(&self, path: &ReturnPath) -> &'static str {
        match path.server {
            SocketAddr::V4(_) => "delivered_v4",
            SocketAddr::V6(_) => "delivered_v6",
        }
    }

    /// The sets an element of `path` goes into: its map, and its
    /// `delivered` set when [`ReturnMaps::delivered`].
    fn sets_for(&self, path: &ReturnPath) -> Vec<&'static str> {
        let mut sets = vec![self.map_for(path)];
        if self.delivered {
            sets.push(self.delivered_for(path));
        }
        sets
    }

    /// A batch adding `path` (failing if it exists) with `timeout`, to its
    /// map and its `delivered` set in one transaction; the element
    /// messages carry sequence number `seq`, and only the last asks for an
    /// acknowledgement, so the first answer is the first error or that
    /// acknowledgement.
    pub fn add_batch(&self, seq: u32, path: &ReturnPath, timeout: Duration) -> Vec<u8> {
        let sets = self.sets_for(path);
        let mut buf = batch_begin(seq);
        for (i, set) in sets.iter().enumerate() {
            let ack = if i + 1 == sets.len() { NLM_F_ACK } else { 0 };
            let flags = NLM_F_REQUEST | ack | NLM_F_CREATE | NLM_F_EXCL;
            buf = self.element(buf, seq, NEWSETELEM, flags, set, path, Some(timeout));
        }
        batch_end(buf, seq)
    }

    /// One batch adding every path of `paths` (each failing if it
    /// exists) with `timeout`: one NEWSETELEM message per path and set,
    /// each with its own sequence number (from `first_seq` on), so an
    /// error names its message. A path's last message asks for an
    /// acknowledgement (`NLM_F_ACK`): the kernel delivers a batch's
    /// answers in the order of its messages once it has processed them
    /// all (`nfnl_err_add()`, `nfnl_err_deliver()`,
    /// net/netfilter/nfnetlink.c), so by that acknowledgement (or error)
    /// any error of the path's earlier message has come too. The begin
    /// message has `first_seq - 1`, the end message the number after the
    /// last element's. Returns the bytes and, for each element message in
    /// order, its sequence number, the index in `paths` of the path it
    /// adds, and whether it asks for an acknowledgement.
    pub fn add_many(
        &self,
        first_seq: u32,
        paths: &[ReturnPath],
        timeout: Duration,
    ) -> (Vec<u8>, Vec<ElementMessage>) {
        let mut buf = batch_begin(first_seq);
        let mut seq = first_seq;
        let mut messages = Vec::new();
        for (path_index, path) in paths.iter().enumerate() {
            let sets = self.sets_for(path);
            for (i, set) in sets.iter().enumerate() {
                let acked = i + 1 == sets.len();
                let ack = if acked { NLM_F_ACK } else { 0 };
                let flags = NLM_F_REQUEST | ack | NLM_F_CREATE | NLM_F_EXCL;
                buf = self.element(buf, seq, NEWSETELEM, flags, set, path, Some(timeout));
                messages.push(ElementMessage {
                    seq,
                    path: path_index,
                    acked,
                });
                seq = seq.wrapping_add(1);
            }
        }
        // batch_end numbers its message one past the argument.
        (batch_end(buf, seq.wrapping_sub(1)), messages)
    }

    /// How many element messages [`ReturnMaps::add_many`] writes per path.
    pub fn messages_per_path(&self) -> usize {
        1 + usize::from(self.delivered)
    }

    /// A batch removing `path` from its map and its `delivered` set; the
    /// element messages carry `seq`.
    pub fn remove_batch(&self, seq: u32, path: &ReturnPath) -> Vec<u8> {
        let sets = self.sets_for(path);
        let mut buf = batch_begin(seq);
        for (i, set) in sets.iter().enumerate() {
            let ack = if i + 1 == sets.len() { NLM_F_ACK } else { 0 };
            buf = self.element(buf, seq, DELSETELEM, NLM_F_REQUEST | ack, set, path, None);
        }
        batch_end(buf, seq)
    }

    /// A batch replacing `path` with itself, its timeout counted from now
    /// and its counters from zero: the removals and the additions commit
    /// together or not at all (nf_tables batches are one transaction,
    /// nfnetlink_rcv_batch(), net/netfilter/nfnetlink.c), so no answer
    /// meets the path missing. Every message carries `seq`; only the last
    /// addition asks for an acknowledgement, so the first answer is a
    /// removal's error (ENOENT: the element expired) or the additions'.
    pub fn renew_batch(&self, seq: u32, path: &ReturnPath, timeout: Duration) -> Vec<u8> {
        let sets = self.sets_for(path);
        let mut buf = batch_begin(seq);
        for set in &sets {
            buf = self.element(buf, seq, DELSETELEM, NLM_F_REQUEST, set, path, None);
        }
        for (i, set) in sets.iter().enumerate() {
            let ack = if i + 1 == sets.len() { NLM_F_ACK } else { 0 };
            let flags = NLM_F_REQUEST | ack | NLM_F_CREATE | NLM_F_EXCL;
            buf = self.element(buf, seq, NEWSETELEM, flags, set, path, Some(timeout));
        }
        batch_end(buf, seq)
    }

    /// Appends one element message to `buf`: `path`'s key in `set`, with
    /// the client as value when `set` is a map and a timeout is given.
    #[allow(clippy::too_many_arguments)]
    fn element(
        &self,
        buf: Vec<u8>,
        seq: u32,
        kind: u16,
        flags: u16,
        set: &str,
        path: &ReturnPath,
        timeout: Option<Duration>,
    ) -> Vec<u8> {
        let mut m = MessageBuilder::new(buf, kind, flags, seq, NFPROTO_INET, 0);
        m.attr_str(NFTA_SET_ELEM_LIST_TABLE, &self.table);
        m.attr_str(NFTA_SET_ELEM_LIST_SET, set);
        m.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS)
            .begin_nest(NFTA_LIST_ELEM);
        m.begin_nest(NFTA_SET_ELEM_KEY)
            .attr(NFTA_DATA_VALUE, &key(path))
            .end_nest();
        if timeout.is_some() && set == self.map_for(path) {
            m.begin_nest(NFTA_SET_ELEM_DATA)
                .attr(NFTA_DATA_VALUE, &value(path))
                .end_nest();
        }
        if let Some(t) = timeout {
            m.attr(NFTA_SET_ELEM_TIMEOUT, &(t.as_millis() as u64).to_be_bytes());
        }
        m.end_nest().end_nest();
        m.finish()
    }

    /// A request for the description of the map `path` goes into
    /// (answered with its attributes, see [`declared_size`]).
    pub fn size_request(&self, seq: u32, path: &ReturnPath) -> Vec<u8> {
        let mut m = MessageBuilder::new(Vec::new(), GETSET, NLM_F_REQUEST, seq, NFPROTO_INET, 0);
        m.attr_str(NFTA_SET_TABLE, &self.table);
        m.attr_str(NFTA_SET_NAME, self.map_for(path));
        m.finish()
    }

    /// The element in nft syntax, as `nft` would add it.
    pub fn describe(&self, path: &ReturnPath, timeout: Duration) -> String {
        format!(
            "add element inet {} {} {{ {} . {} . {} timeout {}ms : {} . {} }}",
            self.table,
            self.map_for(path),
            path.server.ip(),
            path.proxy.ip(),
            path.proxy.port(),
            timeout.as_millis(),
            path.client.ip(),
            path.client.port()
        )
    }
}

/// A buffer holding a batch's begin message (sequence `seq - 1`).
fn batch_begin(seq: u32) -> Vec<u8> {
    MessageBuilder::new(
        Vec::new(),
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq.wrapping_sub(1),
        0,
        NFNL_SUBSYS_NFTABLES,
    )
    .finish()
}

/// `buf` with the batch's end message (sequence `seq + 1`) appended.
fn batch_end(buf: Vec<u8>, seq: u32) -> Vec<u8> {
    MessageBuilder::new(
        buf,
        NFNL_MSG_BATCH_END,
        NLM_F_REQUEST,
        seq.wrapping_add(1),
        0,
        NFNL_SUBSYS_NFTABLES,
    )
    .finish()
}

/// The `size` a map was declared with, from the attributes of the kernel's
/// answer to [`ReturnMaps::size_request`] (`None`: declared without one).
pub fn declared_size(attributes: Attributes<'_>) -> Option<u32> {
    let size = attributes
        .find(NFTA_SET_DESC)?
        .nested()
        .find(NFTA_SET_DESC_SIZE)?;
    let bytes: [u8; 4] = size.payload.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Appends an address as nf_tables stores it in a concatenation.
fn push_addr(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
    }
}

/// Appends a port: network order, padded to a 32-bit register.
fn push_port(out: &mut Vec<u8>, port: u16) {
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

/// The map key: `server address . proxy address . proxy port`.
pub fn key(path: &ReturnPath) -> Vec<u8> {
    let mut out = Vec::with_capacity(36);
    push_addr(&mut out, path.server.ip());
    push_addr(&mut out, path.proxy.ip());
    push_port(&mut out, path.proxy.port());
    out
}

/// The map value: `client address . client port`.
pub fn value(path: &ReturnPath) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    push_addr(&mut out, path.client.ip());
    push_port(&mut out, path.client.port());
    out
}

#[cfg(test)]
mod tests {
    use super::super::message::messages;
    use super::*;

    fn path4() -> ReturnPath {
        ReturnPath {
            client: "192.0.2.20:50232".parse().unwrap(),
            proxy: "198.51.100.1:49441".parse().unwrap(),
            server: "198.51.100.2:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    #[test]
    fn declared_size_is_read_from_the_nested_description() {
        // NFTA_SET_NAME "return_v4", then NFTA_SET_DESC { NFTA_SET_DESC_SIZE 8192 }.
        let mut m = MessageBuilder::new(Vec::new(), GETSET, 0, 1, NFPROTO_INET, 0);
        m.attr_str(NFTA_SET_NAME, "return_v4");
        m.begin_nest(NFTA_SET_DESC)
            .attr(NFTA_SET_DESC_SIZE, &8192u32.to_be_bytes())
            .end_nest();
        let bytes = m.finish();
        let msg = messages(&bytes).next().unwrap().unwrap();
        assert_eq!(declared_size(msg.attributes()), Some(8192));
        let mut m = MessageBuilder::new(Vec::new(), GETSET, 0, 1, NFPROTO_INET, 0);
        m.attr_str(NFTA_SET_NAME, "return_v4");
        let bytes = m.finish();
        let msg = messages(&bytes).next().unwrap().unwrap();
        assert_eq!(declared_size(msg.attributes()), None);
    }

    #[test]
    fn key_and_value_match_nft_layout() {
        // As `nft --debug=netlink add element` prints this element:
        // key 026433c6 016433c6 000021c1 : 140200c0 000038c4
        assert_eq!(
            key(&path4()),
            [198, 51, 100, 2, 198, 51, 100, 1, 0xc1, 0x21, 0, 0]
        );
        assert_eq!(value(&path4()), [192, 0, 2, 20, 0xc4, 0x38, 0, 0]);
    }

    #[test]
    fn v6_key_is_36_bytes_value_20() {
        let p = ReturnPath {
            client: "[2001:db8:1::20]:1000".parse().unwrap(),
            proxy: "[2001:db8:2::1]:2000".parse().unwrap(),
            server: "[2001:db8:2::2]:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        };
        assert_eq!(key(&p).len(), 36);
        assert_eq!(&key(&p)[32..], &[0x07, 0xd0, 0, 0]);
        assert_eq!(value(&p).len(), 20);
        let maps = ReturnMaps {
            table: "t".into(),
            delivered: true,
        };
        assert_eq!(maps.map_for(&p), "return_v6");
    }

    #[test]
    fn add_batch_is_begin_element_end() {
        let maps = ReturnMaps {
            table: "tftp_proxy".into(),
            delivered: false,
        };
        let buf = maps.add_batch(10, &path4(), Duration::from_secs(2));
        let msgs: Vec<_> = messages(&buf).map(Result::unwrap).collect();
        let kinds: Vec<_> = msgs.iter().map(|m| m.msg_type).collect();
        assert_eq!(
            kinds,
            [NFNL_MSG_BATCH_BEGIN, NEWSETELEM, NFNL_MSG_BATCH_END]
        );
        assert_eq!(msgs[1].seq, 10);
        assert_eq!(&msgs[0].payload[2..4], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
        let attrs = msgs[1].attributes();
        assert_eq!(
            attrs
                .clone()
                .find(NFTA_SET_ELEM_LIST_TABLE)
                .unwrap()
                .payload,
            b"tftp_proxy\0"
        );
        assert_eq!(
            attrs.clone().find(NFTA_SET_ELEM_LIST_SET).unwrap().payload,
            b"return_v4\0"
        );
        let elem = attrs
            .find(NFTA_SET_ELEM_LIST_ELEMENTS)
            .unwrap()
            .nested()
            .find(NFTA_LIST_ELEM)
            .unwrap();
        let timeout = elem.nested().find(NFTA_SET_ELEM_TIMEOUT).unwrap();
        assert_eq!(timeout.payload, &2000u64.to_be_bytes());
        let data = elem
            .nested()
            .find(NFTA_SET_ELEM_DATA)
            .unwrap()
            .nested()
            .find(NFTA_DATA_VALUE)
            .unwrap();
        assert_eq!(data.payload, value(&path4()).as_slice());
    }

    /// The flags word of message `i` of `buf`.
    fn flags_of(buf: &[u8], i: usize) -> u16 {
        let mut at = 0;
        for _ in 0..i {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            at += (len + 3) & !3;
        }
        u16::from_ne_bytes([buf[at + 6], buf[at + 7]])
    }

    /// The key each element message of `msgs` adds.
    fn keys_of(msgs: &[crate::firewall::netfilter::message::Message<'_>]) -> Vec<Vec<u8>> {
        msgs.iter()
            .filter(|m| m.msg_type == NEWSETELEM)
            .map(|m| {
                m.attributes()
                    .find(NFTA_SET_ELEM_LIST_ELEMENTS)
                    .unwrap()
                    .nested()
                    .find(NFTA_LIST_ELEM)
                    .unwrap()
                    .nested()
                    .find(NFTA_SET_ELEM_KEY)
                    .unwrap()
                    .nested()
                    .find(NFTA_DATA_VALUE)
                    .unwrap()
                    .payload
                    .to_vec()
            })
            .collect()
    }

    fn paths(n: u16) -> Vec<ReturnPath> {
        (0..n)
            .map(|i| ReturnPath {
                client: SocketAddr::from(([192, 0, 2, 50 + i as u8], 5000 + i)),
                proxy: SocketAddr::from(([198, 51, 100, 1], 40000 + i)),
                server: "198.51.100.2:69".parse().unwrap(),
                idle_limit: crate::firewall::STATE_IDLE_LIMIT,
            })
            .collect()
    }

    #[test]
    fn add_many_is_one_batch_with_an_acknowledged_message_per_element() {
        let maps = ReturnMaps {
            table: "tftp_proxy".into(),
            delivered: true,
        };
        let paths = paths(3);
        let (buf, written) = maps.add_many(100, &paths, Duration::from_secs(2));
        let owners: Vec<(u32, usize)> = written.iter().map(|m| (m.seq, m.path)).collect();
        let msgs: Vec<_> = messages(&buf).map(Result::unwrap).collect();
        let kinds: Vec<_> = msgs.iter().map(|m| m.msg_type).collect();
        assert_eq!(
            kinds,
            [
                NFNL_MSG_BATCH_BEGIN,
                NEWSETELEM,
                NEWSETELEM,
                NEWSETELEM,
                NEWSETELEM,
                NEWSETELEM,
                NEWSETELEM,
                NFNL_MSG_BATCH_END
            ]
        );
        let seqs: Vec<_> = msgs.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [99, 100, 101, 102, 103, 104, 105, 106]);
        assert_eq!(
            owners,
            [(100, 0), (101, 0), (102, 1), (103, 1), (104, 2), (105, 2)]
        );
        // Each path's last message (its delivered set) asks for the
        // acknowledgement; an error of the first comes unasked.
        for i in 1..=6 {
            let ack = if i % 2 == 0 { NLM_F_ACK } else { 0 };
            let want = NLM_F_REQUEST | ack | NLM_F_CREATE | NLM_F_EXCL;
            assert_eq!(flags_of(&buf, i), want, "message {i}");
            assert_eq!(written[i - 1].acked, ack != 0);
        }
        assert_eq!(flags_of(&buf, 0) & NLM_F_ACK, 0);
        assert_eq!(flags_of(&buf, 7) & NLM_F_ACK, 0);
        let sets: Vec<_> = msgs[1..7]
            .iter()
            .map(|m| m.attributes().find(NFTA_SET_ELEM_LIST_SET).unwrap().payload)
            .collect();
        assert_eq!(
            sets,
            [
                &b"return_v4\0"[..],
                b"delivered_v4\0",
                b"return_v4\0",
                b"delivered_v4\0",
                b"return_v4\0",
                b"delivered_v4\0"
            ]
        );
        let keys = keys_of(&msgs);
        for (m, &(_, owner)) in owners.iter().enumerate() {
            assert_eq!(keys[m], key(&paths[owner]));
        }
        // Each message is the one the single-path batch writes.
        let (single, _) = maps.add_many(101, &paths[1..2], Duration::from_secs(2));
        let one: Vec<_> = messages(&single).map(Result::unwrap).collect();
        assert_eq!(one[1].payload, msgs[3].payload);
    }

    #[test]
    fn the_retry_batch_holds_the_others_only() {
        use super::super::batch::tests::error_for;
        use super::super::batch::{settle, Answers, Round};
        let maps = ReturnMaps {
            table: "tftp_proxy".into(),
            delivered: false,
        };
        let paths = paths(3);
        let (_, written) = maps.add_many(10, &paths, Duration::from_secs(2));
        // The kernel's answers, in its order: an ack for each message, the
        // second path's an EEXIST.
        let seqs: Vec<u32> = written.iter().map(|m| m.seq).collect();
        let mut answers = Answers::new(&seqs).with_batch_begin(9);
        for (seq, errno) in [(12, 0), (11, libc::EEXIST), (10, 0)] {
            answers.feed(&error_for(seq, errno)).unwrap();
        }
        assert!(answers.complete());
        let owner: Vec<usize> = written.iter().map(|m| m.path).collect();
        let round = settle(&answers.into_answers(), &owner, paths.len(), None);
        let Round::Aborted { failed, retry } = round else {
            panic!("{round:?}");
        };
        assert_eq!(failed, [(1, nix::errno::Errno::EEXIST)]);
        assert_eq!(retry, [0, 2]);
        let again: Vec<ReturnPath> = retry.iter().map(|&i| paths[i]).collect();
        let (buf, _) = maps.add_many(20, &again, Duration::from_secs(2));
        let msgs: Vec<_> = messages(&buf).map(Result::unwrap).collect();
        assert_eq!(keys_of(&msgs), [key(&paths[0]), key(&paths[2])]);
    }

    #[test]
    fn renew_batch_removes_then_adds_in_one_transaction() {
        let maps = ReturnMaps {
            table: "tftp_proxy".into(),
            delivered: false,
        };
        let buf = maps.renew_batch(20, &path4(), Duration::from_secs(2));
        let msgs: Vec<_> = messages(&buf).map(Result::unwrap).collect();
        let kinds: Vec<_> = msgs.iter().map(|m| m.msg_type).collect();
        assert_eq!(
            kinds,
            [
                NFNL_MSG_BATCH_BEGIN,
                DELSETELEM,
                NEWSETELEM,
                NFNL_MSG_BATCH_END
            ]
        );
        let seqs: Vec<_> = msgs.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [19, 20, 20, 21]);
        let flags = |i: usize| {
            let at = buf
                .windows(msgs[i].payload.len())
                .position(|w| w == msgs[i].payload)
                .unwrap()
                - 16;
            u16::from_ne_bytes([buf[at + 6], buf[at + 7]])
        };
        assert_eq!(
            flags(1) & NLM_F_ACK,
            0,
            "the removal asks no acknowledgement"
        );
        assert_eq!(flags(2) & NLM_F_ACK, NLM_F_ACK);
    }

    #[test]
    fn remove_batch_names_only_the_key() {
        let maps = ReturnMaps {
            table: "tftp_proxy".into(),
            delivered: false,
        };
        let buf = maps.remove_batch(4, &path4());
        let msgs: Vec<_> = messages(&buf).map(Result::unwrap).collect();
        assert_eq!(msgs[1].msg_type, DELSETELEM);
        let elem = msgs[1]
            .attributes()
            .find(NFTA_SET_ELEM_LIST_ELEMENTS)
            .unwrap()
            .nested()
            .find(NFTA_LIST_ELEM)
            .unwrap();
        assert!(elem.nested().find(NFTA_SET_ELEM_KEY).is_some());
        assert!(elem.nested().find(NFTA_SET_ELEM_DATA).is_none());
        assert!(elem.nested().find(NFTA_SET_ELEM_TIMEOUT).is_none());
    }

    #[test]
    fn describes_in_nft_syntax() {
        let maps = ReturnMaps {
            table: "tftp_proxy".into(),
            delivered: false,
        };
        assert_eq!(
            maps.describe(&path4(), Duration::from_secs(2)),
            "add element inet tftp_proxy return_v4 { 198.51.100.2 . 198.51.100.1 . 49441 timeout 2000ms : 192.0.2.20 . 50232 }"
        );
    }
}
