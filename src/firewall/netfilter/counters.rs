//! nf_tables element counters: how each return path was used.
//!
//! The shipped maps are declared with `counter` (`etc/tftp-proxy.nft`).
//! An element the helper adds without expressions of its own gets a clone
//! of the map's counter (nft_add_set_elem() -> nft_set_elem_expr_clone(),
//! net/netfilter/nf_tables_api.c), and the lookup that redirects a
//! server's answer updates it (nft_lookup_eval() ->
//! nft_set_elem_update_expr(), net/netfilter/nft_lookup.c). Only a
//! datagram from the server's address to the proxy port passes that
//! lookup, and only as a flow's first packet (NAT runs once per
//! connection), so a count above zero means the server's answer took the
//! path to the client; an ICMP error, forged or not, never touches it.
//! That lookup runs in nat prerouting, before the forward chain: the
//! element's twin in the `delivered` set is counted the same way by a
//! plain lookup in a postrouting chain, which an answer the forward chain
//! dropped never reaches (a forwarded datagram meets NF_INET_FORWARD in
//! ip_forward() and only then NF_INET_POST_ROUTING in ip_output(),
//! net/ipv4/ip_forward.c, net/ipv4/ip_output.c; ip6_forward() and
//! ip6_output() likewise, net/ipv6/). The map counted and the set not:
//! the firewall dropped the answer.
//!
//! This module owns the requests (one element; a whole map, dumped) and
//! the walk of the kernel's answers (NFT_MSG_NEWSETELEM messages, each
//! element nested with its key and its expressions,
//! nf_tables_fill_setelem(), nf_tables_api.c). Pure code: no socket.

use super::message::{Attributes, MessageBuilder, NLM_F_REQUEST};
use super::nftables::{key, ReturnMaps, NFNL_SUBSYS_NFTABLES, NFPROTO_INET};
use crate::firewall::{PathUse, ReturnPath};

const NFT_MSG_GETSETELEM: u16 = 13;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const NLM_F_DUMP: u16 = 0x300;

// enum nft_set_elem_list_attributes, nft_set_elem_attributes,
// nft_expr_attributes and nft_counter_attributes in
// include/uapi/linux/netfilter/nf_tables.h.
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_EXPR: u16 = 7;
const NFTA_SET_ELEM_EXPRESSIONS: u16 = 10;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;

/// Message type of an element read (one element, or a dump of a map).
pub const GETSETELEM: u16 = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM;

/// A request for `path`'s element alone in `set` (answered with one
/// NFT_MSG_NEWSETELEM message, or ENOENT once it expired).
pub fn element_request(maps: &ReturnMaps, seq: u32, set: &str, path: &ReturnPath) -> Vec<u8> {
    let mut m = MessageBuilder::new(Vec::new(), GETSETELEM, NLM_F_REQUEST, seq, NFPROTO_INET, 0);
    m.attr_str(NFTA_SET_ELEM_LIST_TABLE, &maps.table);
    m.attr_str(NFTA_SET_ELEM_LIST_SET, set);
    m.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS)
        .begin_nest(NFTA_LIST_ELEM)
        .begin_nest(NFTA_SET_ELEM_KEY)
        .attr(NFTA_DATA_VALUE, &key(path))
        .end_nest()
        .end_nest()
        .end_nest();
    m.finish()
}

/// A request for every element of the map or set `set` (a multipart
/// answer ending with NLMSG_DONE).
pub fn dump_request(maps: &ReturnMaps, seq: u32, set: &str) -> Vec<u8> {
    let mut m = MessageBuilder::new(
        Vec::new(),
        GETSETELEM,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        NFPROTO_INET,
        0,
    );
    m.attr_str(NFTA_SET_ELEM_LIST_TABLE, &maps.table);
    m.attr_str(NFTA_SET_ELEM_LIST_SET, set);
    m.finish()
}

/// What a path's map element and its `delivered` twin say together:
/// redirected and left toward the client is [`PathUse::Used`], redirected
/// but never left is [`PathUse::Dropped`]. Without a twin (an older
/// include, or expired) the map's count stands alone.
pub fn combine(map: PathUse, delivered: PathUse) -> PathUse {
    match (map, delivered) {
        (PathUse::Used { packets, bytes }, PathUse::Unused) if packets > 0 => {
            PathUse::Dropped { packets, bytes }
        }
        (map, _) => map,
    }
}

/// One element of an answer: its key bytes and what its counter says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementUse {
    /// The key, as [`key`] encodes it.
    pub key: Vec<u8>,
    /// Unused, used, or unknown when the element carries no counter.
    pub used: PathUse,
}

/// The elements in the attributes of one NFT_MSG_NEWSETELEM message.
pub fn elements(attributes: Attributes<'_>) -> Vec<ElementUse> {
    let Some(list) = attributes.find(NFTA_SET_ELEM_LIST_ELEMENTS) else {
        return Vec::new();
    };
    list.nested()
        .filter(|a| a.kind == NFTA_LIST_ELEM)
        .filter_map(|element| {
            let fields = element.nested();
            let key = fields
                .find(NFTA_SET_ELEM_KEY)?
                .nested()
                .find(NFTA_DATA_VALUE)?
                .payload
                .to_vec();
            Some(ElementUse {
                key,
                used: counter(fields),
            })
        })
        .collect()
}

/// The element's counter: in NFTA_SET_ELEM_EXPR when the map has one
/// expression, in NFTA_SET_ELEM_EXPRESSIONS when it has several
/// (nft_set_elem_expr_dump(), nf_tables_api.c).
fn counter(fields: Attributes<'_>) -> PathUse {
    let single = fields.find(NFTA_SET_ELEM_EXPR).into_iter();
    let listed = fields
        .find(NFTA_SET_ELEM_EXPRESSIONS)
        .into_iter()
        .flat_map(|list| list.nested().filter(|a| a.kind == NFTA_LIST_ELEM));
    single
        .chain(listed)
        .find_map(|expr| counter_values(expr.nested()))
        .unwrap_or(PathUse::Unknown)
}

/// Packets and bytes of a `counter` expression (`None`: another one).
fn counter_values(expr: Attributes<'_>) -> Option<PathUse> {
    if expr
        .find(NFTA_EXPR_NAME)?
        .payload
        .split(|&b| b == 0)
        .next()?
        != b"counter"
    {
        return None;
    }
    let data = expr.find(NFTA_EXPR_DATA)?.nested();
    let read = |kind| -> Option<u64> {
        let bytes: [u8; 8] = data.find(kind)?.payload.get(..8)?.try_into().ok()?;
        Some(u64::from_be_bytes(bytes))
    };
    let packets = read(NFTA_COUNTER_PACKETS)?;
    let bytes = read(NFTA_COUNTER_BYTES)?;
    Some(if packets == 0 {
        PathUse::Unused
    } else {
        PathUse::Used { packets, bytes }
    })
}

#[cfg(test)]
mod tests {
    use super::super::message::messages;
    use super::super::nftables::NEWSETELEM;
    use super::*;

    fn path() -> ReturnPath {
        ReturnPath {
            client: "192.0.2.20:50232".parse().unwrap(),
            proxy: "198.51.100.1:49441".parse().unwrap(),
            server: "198.51.100.2:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    /// An answer shaped as the kernel sends it: one element with its key,
    /// data and a counter, the way `nft list map` shows
    /// `counter packets 1 bytes 60`.
    fn answer(counter: Option<(u64, u64)>, nested_list: bool) -> Vec<u8> {
        let mut m = MessageBuilder::new(Vec::new(), NEWSETELEM, 0, 5, NFPROTO_INET, 0);
        m.attr_str(NFTA_SET_ELEM_LIST_TABLE, "tftp_proxy");
        m.attr_str(NFTA_SET_ELEM_LIST_SET, "return_v4");
        m.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS)
            .begin_nest(NFTA_LIST_ELEM);
        m.begin_nest(NFTA_SET_ELEM_KEY)
            .attr(NFTA_DATA_VALUE, &key(&path()))
            .end_nest();
        if let Some((packets, bytes)) = counter {
            if nested_list {
                m.begin_nest(NFTA_SET_ELEM_EXPRESSIONS)
                    .begin_nest(NFTA_LIST_ELEM);
            } else {
                m.begin_nest(NFTA_SET_ELEM_EXPR);
            }
            m.attr_str(NFTA_EXPR_NAME, "counter")
                .begin_nest(NFTA_EXPR_DATA)
                .attr(NFTA_COUNTER_BYTES, &bytes.to_be_bytes())
                .attr(NFTA_COUNTER_PACKETS, &packets.to_be_bytes())
                .end_nest()
                .end_nest();
            if nested_list {
                m.end_nest();
            }
        }
        m.finish()
    }

    fn walk(bytes: &[u8]) -> Vec<ElementUse> {
        let msg = messages(bytes).next().unwrap().unwrap();
        elements(msg.attributes())
    }

    #[test]
    fn a_used_element_reports_its_counter() {
        let found = walk(&answer(Some((1, 60)), false));
        assert_eq!(
            found,
            [ElementUse {
                key: key(&path()),
                used: PathUse::Used {
                    packets: 1,
                    bytes: 60
                }
            }]
        );
        let found = walk(&answer(Some((3, 200)), true));
        assert!(found[0].used.answered());
    }

    #[test]
    fn zero_packets_is_unused_and_no_counter_is_unknown() {
        assert_eq!(walk(&answer(Some((0, 0)), false))[0].used, PathUse::Unused);
        assert_eq!(walk(&answer(None, false))[0].used, PathUse::Unknown);
    }

    #[test]
    fn redirected_but_not_delivered_is_dropped() {
        let used = PathUse::Used {
            packets: 2,
            bytes: 120,
        };
        let left = PathUse::Used {
            packets: 5,
            bytes: 900,
        };
        assert_eq!(combine(used, left), used);
        assert_eq!(
            combine(used, PathUse::Unused),
            PathUse::Dropped {
                packets: 2,
                bytes: 120
            }
        );
        assert_eq!(combine(used, PathUse::Unknown), used);
        assert_eq!(combine(PathUse::Unused, PathUse::Unused), PathUse::Unused);
        assert_eq!(combine(PathUse::Unknown, left), PathUse::Unknown);
    }

    #[test]
    fn requests_name_table_map_and_key() {
        let maps = ReturnMaps {
            table: "tftp_proxy".into(),
            delivered: true,
        };
        let one = element_request(&maps, 7, "return_v4", &path());
        let msg = messages(&one).next().unwrap().unwrap();
        assert_eq!((msg.msg_type, msg.seq), (GETSETELEM, 7));
        let keys: Vec<_> = msg
            .attributes()
            .find(NFTA_SET_ELEM_LIST_ELEMENTS)
            .unwrap()
            .nested()
            .filter_map(|e| e.nested().find(NFTA_SET_ELEM_KEY))
            .map(|k| k.nested().find(NFTA_DATA_VALUE).unwrap().payload.to_vec())
            .collect();
        assert_eq!(keys, [key(&path())]);
        let dump = dump_request(&maps, 8, "return_v6");
        let msg = messages(&dump).next().unwrap().unwrap();
        let flags = u16::from_ne_bytes([dump[6], dump[7]]);
        assert_eq!(flags & NLM_F_DUMP, NLM_F_DUMP);
        assert_eq!(
            msg.attributes()
                .find(NFTA_SET_ELEM_LIST_SET)
                .unwrap()
                .payload,
            b"return_v6\0"
        );
    }
}
