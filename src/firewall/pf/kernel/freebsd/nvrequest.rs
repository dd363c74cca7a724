//! pf's nvlist ioctls, which FreeBSD 13 to 15 all have (FreeBSD 14.0, as
//! in pfSense 2.7, has no netlink commands for status or state killing):
//! the lists the helper sends and what it reads from the answers.
//!
//! - `DIOCGETSTATUSNV` (pf_getstatus in sys/netpfil/pf/pf_ioctl.c): no
//!   key is read; the answer's `running` is a bool.
//! - `DIOCKILLSTATESNV` (pf_killstates_nv, pf_nvstate_kill_to_kstate_kill
//!   in sys/netpfil/pf/pf_nv.c): `cmp` {`id`, `creatorid`, `direction`},
//!   `af`, `proto`, `src` and `dst` as rule addresses, `ifname`, `label`
//!   and `kill_match` are all required; a `cmp.id` of 0 kills by the other
//!   keys (pf_killstates). A rule address is `addr` {`type`, `iflags`,
//!   `addr` {`addr`: 16 bytes}, `mask` {`addr`}}, `port` (two numbers,
//!   network order as `pf_rule_addr.port`), `neg`, `port_op`. The answer
//!   holds `killed`.
//! - `DIOCGETRULENV`: `anchor`, `ruleset` (a rule action, mapped by
//!   pf_get_ruleset_number), `ticket` and `nr` in (the ticket and count
//!   come from `DIOCGETRULES`); the answer's `anchor_call` is the called
//!   anchor's path as pfctl prints it (pf_kanchor_nvcopyout in
//!   sys/netpfil/pf/pf_ruleset.c: relative to the main ruleset, or with a
//!   leading `/`, `/*` appended for a wildcard). The answer is the rule
//!   as pf_krule_to_nvrule() (sys/netpfil/pf/pf_nv.c) writes it, with
//!   its counters: `packets` and `bytes` (two numbers each, in and out)
//!   and `states_tot`; a return path's anchor is read so for the outcome
//!   line.
//!
//! Pure code: `ioctl.rs` issues the ioctls.
#![cfg_attr(not(target_os = "freebsd"), allow(dead_code))]

use super::nvlist::{NvList, Value};
use crate::firewall::pf::anchor;
use crate::firewall::pf::encode::{address, canonical};
use crate::firewall::pf::outcome::CatchingRule;
use pf_sys::freebsd::{
    AF_INET, AF_INET6, IPPROTO_UDP, PF_ADDR_ADDRMASK, PF_OP_EQ, PF_PASS, PF_RDR,
};
use std::net::SocketAddr;

/// A single host and port as pf's `pf_rule_addr`.
fn rule_address(at: SocketAddr) -> NvList {
    let af = if at.is_ipv4() { AF_INET } else { AF_INET6 } as u8;
    let wrapped = |bytes: [u8; 16]| NvList::new().with("addr", Value::Binary(bytes.to_vec()));
    let wrap = NvList::new()
        .with("type", Value::Number(u64::from(PF_ADDR_ADDRMASK)))
        .with("iflags", Value::Number(0))
        .with("addr", Value::List(wrapped(address(at.ip()).addr8)))
        .with(
            "mask",
            Value::List(wrapped(pf_sys::pf_addr::full_mask(af).addr8)),
        );
    NvList::new()
        .with("addr", Value::List(wrap))
        // The kernel keeps the number as the u16 it stores, which holds
        // the port in network order.
        .with(
            "port",
            Value::NumberArray(vec![u64::from(at.port().to_be()), 0]),
        )
        .with("neg", Value::Number(0))
        .with("port_op", Value::Number(u64::from(PF_OP_EQ)))
}

/// The order to kill the states of UDP flows from `client` to `server`
/// (the client's redirected request: its state's wire key runs from the
/// client to the server it wrote to). `None` for mixed families.
pub fn kill_request(client: SocketAddr, server: SocketAddr) -> Option<NvList> {
    let (client, server) = (canonical(client), canonical(server));
    let af = match (client, server) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => AF_INET,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => AF_INET6,
        _ => return None,
    };
    let cmp = NvList::new()
        .with("id", Value::Number(0))
        .with("creatorid", Value::Number(0))
        .with("direction", Value::Number(0));
    Some(
        NvList::new()
            .with("cmp", Value::List(cmp))
            .with("af", Value::Number(u64::from(af)))
            .with("proto", Value::Number(u64::from(IPPROTO_UDP)))
            .with("src", Value::List(rule_address(client)))
            .with("dst", Value::List(rule_address(server)))
            .with("ifname", Value::String(String::new()))
            .with("label", Value::String(String::new()))
            .with("kill_match", Value::Bool(false)),
    )
}

/// The status question: pf_getstatus reads no key.
pub fn status_request() -> NvList {
    NvList::new()
}

/// Whether a status answer says pf is enabled.
pub fn running(answer: &NvList) -> Option<bool> {
    answer.bool("running")
}

/// The main ruleset's two rulesets the helper needs a call in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainRuleset {
    /// Translation rules: needs `rdr-anchor "tftp-proxy/*"`.
    Rdr,
    /// Filter rules: needs `anchor "tftp-proxy/*"`.
    Filter,
}

impl MainRuleset {
    /// Both, in the order pf.conf has them.
    pub const ALL: [MainRuleset; 2] = [MainRuleset::Rdr, MainRuleset::Filter];

    /// The rule action that names this ruleset to `DIOCGETRULES` and
    /// `DIOCGETRULENV` (pf_get_ruleset_number).
    pub fn action(self) -> u8 {
        match self {
            MainRuleset::Rdr => PF_RDR as u8,
            MainRuleset::Filter => PF_PASS as u8,
        }
    }

    /// The pf.conf line that calls `parent`'s children from this ruleset.
    pub fn line(self, parent: &str) -> String {
        match self {
            MainRuleset::Rdr => format!("rdr-anchor \"{parent}/*\""),
            MainRuleset::Filter => format!("anchor \"{parent}/*\""),
        }
    }
}

/// The question for rule `nr` of the main ruleset's `ruleset`, read
/// under `ticket`.
pub fn rule_request(ruleset: MainRuleset, ticket: u32, nr: u32) -> NvList {
    anchor_rule_request("", ruleset, ticket, nr)
}

/// The question for rule `nr` of `anchor`'s `ruleset`, read under
/// `ticket`.
pub fn anchor_rule_request(anchor: &str, ruleset: MainRuleset, ticket: u32, nr: u32) -> NvList {
    NvList::new()
        .with("anchor", Value::String(anchor.to_owned()))
        .with("ruleset", Value::Number(u64::from(ruleset.action())))
        .with("ticket", Value::Number(u64::from(ticket)))
        .with("nr", Value::Number(u64::from(nr)))
}

/// The anchor a rule answer calls (`""` for a rule that calls none).
pub fn anchor_call(answer: &NvList) -> Option<&str> {
    answer.string("anchor_call")
}

/// A rule answer's direction and counters, as pf_krule_to_nvrule()
/// (sys/netpfil/pf/pf_nv.c) writes them: `direction`, `packets` and
/// `bytes` (in, out), `states_tot`. `None` if one is missing.
pub fn rule_counters(answer: &NvList) -> Option<(u8, CatchingRule)> {
    let pair = |name: &str| match answer.get(name) {
        Some(Value::NumberArray(n)) if n.len() == 2 => Some(n[0].saturating_add(n[1])),
        _ => None,
    };
    let direction = u8::try_from(answer.number("direction")?).ok()?;
    Some((
        direction,
        CatchingRule {
            expired: false,
            packets: pair("packets")?,
            bytes: pair("bytes")?,
            states: answer.number("states_tot")?,
        },
    ))
}

/// Whether the anchor calls read from one ruleset include `parent/*`.
pub fn calls_children(calls: &[String], parent: &str) -> bool {
    calls.iter().any(|c| anchor::calls_children_of(c, parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Little-endian bytes of one pair, from libnv's `nvpair_header`.
    fn pair(kind: u8, name: &str, size: u64, n: u64) -> Vec<u8> {
        let mut b = vec![kind];
        b.extend_from_slice(&((name.len() + 1) as u16).to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(name.as_bytes());
        b.push(0);
        b
    }

    fn header(rest: usize) -> Vec<u8> {
        let mut b = vec![0x6c, 0, 0];
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&(rest as u64).to_le_bytes());
        b
    }

    fn number(name: &str, n: u64) -> Vec<u8> {
        let mut b = pair(3, name, 8, 0);
        b.extend_from_slice(&n.to_le_bytes());
        b
    }

    /// A whole list from its pairs' bytes (no nesting).
    fn flat(pairs: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = pairs.concat();
        let mut b = header(body.len());
        b.extend(body);
        b
    }

    #[test]
    fn a_rules_counters_are_read_from_its_answer() {
        let answer = NvList::new()
            .with("direction", Value::Number(1))
            .with("packets", Value::NumberArray(vec![3, 2]))
            .with("bytes", Value::NumberArray(vec![1600, 96]))
            .with("states_tot", Value::Number(1));
        assert_eq!(
            rule_counters(&answer),
            Some((
                1,
                CatchingRule {
                    expired: false,
                    packets: 5,
                    bytes: 1696,
                    states: 1
                }
            ))
        );
        // A kernel answer without the counters is not read as unused.
        let bare = NvList::new().with("direction", Value::Number(1));
        assert_eq!(rule_counters(&bare), None);
        let one_side = NvList::new()
            .with("direction", Value::Number(1))
            .with("packets", Value::NumberArray(vec![3]))
            .with("bytes", Value::NumberArray(vec![1600, 96]))
            .with("states_tot", Value::Number(1));
        assert_eq!(rule_counters(&one_side), None);
        assert_eq!(
            anchor_rule_request("tftp-proxy/7.1", MainRuleset::Filter, 9, 2).string("anchor"),
            Some("tftp-proxy/7.1")
        );
    }

    #[test]
    fn the_kill_order_names_the_request_flow() {
        let client: SocketAddr = "192.0.2.20:50232".parse().unwrap();
        let server: SocketAddr = "198.51.100.2:69".parse().unwrap();
        let kill = kill_request(client, server).unwrap();
        assert_eq!(kill.number("af"), Some(u64::from(AF_INET)));
        assert_eq!(kill.number("proto"), Some(17));
        assert_eq!(kill.list("cmp").unwrap().number("id"), Some(0));
        for key in ["ifname", "label"] {
            assert_eq!(kill.string(key), Some(""), "{key}");
        }
        assert_eq!(kill.bool("kill_match"), Some(false));
        let src = kill.list("src").unwrap();
        assert_eq!(
            src.get("port"),
            Some(&Value::NumberArray(vec![u64::from(50232u16.to_be()), 0]))
        );
        assert_eq!(src.number("port_op"), Some(u64::from(PF_OP_EQ)));
        let wrap = src.list("addr").unwrap();
        assert_eq!(wrap.number("type"), Some(u64::from(PF_ADDR_ADDRMASK)));
        let addr = |l: &NvList, k: &str| l.list(k).unwrap().get("addr").cloned();
        let mut host = vec![192, 0, 2, 20];
        host.resize(16, 0);
        assert_eq!(addr(wrap, "addr"), Some(Value::Binary(host)));
        let mut mask = vec![0xff; 4];
        mask.resize(16, 0);
        assert_eq!(addr(wrap, "mask"), Some(Value::Binary(mask)));
        let dst = kill.list("dst").unwrap();
        assert_eq!(
            dst.get("port"),
            Some(&Value::NumberArray(vec![u64::from(69u16.to_be()), 0]))
        );
        // What the kernel unpacks is what was built.
        assert_eq!(NvList::unpack(&kill.pack()).unwrap(), kill);
        // IPv6, and a v4-mapped client next to a v4 server.
        let v6 = kill_request(
            "[2001:db8::20]:50232".parse().unwrap(),
            "[2001:db8:1::2]:69".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(v6.number("af"), Some(u64::from(AF_INET6)));
        assert!(kill_request("[::ffff:192.0.2.20]:50232".parse().unwrap(), server).is_some());
        assert!(kill_request(client, "[2001:db8::2]:69".parse().unwrap()).is_none());
    }

    #[test]
    fn the_kill_order_has_libnvs_nesting() {
        let kill = kill_request(
            "192.0.2.20:50232".parse().unwrap(),
            "198.51.100.2:69".parse().unwrap(),
        )
        .unwrap();
        let packed = kill.pack_with(crate::firewall::pf::kernel::freebsd::nvlist::Endian::Little);
        // The first pair is the nested "cmp": type 5, its data size the
        // nested list alone (header and three numbers), then the nested
        // header, whose size counts to the end of the whole buffer.
        let cmp_len =
            19 + 3 * (19 + 8) + "id".len() + 1 + "creatorid".len() + 1 + "direction".len() + 1;
        assert_eq!(&packed[19..19 + 23], &pair(5, "cmp", cmp_len as u64, 0)[..]);
        let nested = 19 + 23;
        assert_eq!(packed[nested], 0x6c);
        assert_eq!(
            &packed[nested + 11..nested + 19],
            &((packed.len() - nested - 19) as u64).to_le_bytes()
        );
        let id = number("id", 0);
        assert_eq!(&packed[nested + 19..nested + 19 + id.len()], &id[..]);
        // The nested list closes with an up pair before "af".
        let up = nested + cmp_len;
        assert_eq!(&packed[up..up + 20], &pair(255, "", 0, 0)[..]);
        let af = number("af", 2);
        assert_eq!(&packed[up + 20..up + 20 + af.len()], &af[..]);
    }

    #[test]
    fn a_recorded_status_answer_says_running() {
        // As pf_getstatus packs it (keys abridged): running, since, a
        // nested counters list with arrays, ifname, chksum.
        let counters = {
            let mut ids = pair(9, "ids", 16, 2);
            ids.extend_from_slice(&0u64.to_le_bytes());
            ids.extend_from_slice(&1u64.to_le_bytes());
            let mut names = pair(10, "names", 6 + 9, 2);
            names.extend_from_slice(b"match\0bad-offs\0");
            [ids, names].concat()
        };
        let mut enabled = pair(2, "running", 1, 0);
        enabled.push(1);
        let mut ifname = pair(4, "ifname", 1, 0);
        ifname.push(0);
        let mut chksum = pair(7, "chksum", 16, 0);
        chksum.extend_from_slice(&[0xab; 16]);
        let before = [enabled, number("since", 1_700_000_000)].concat();
        let after = [ifname, chksum].concat();
        let nested = pair(5, "counters", (19 + counters.len()) as u64, 0);
        let up = pair(255, "", 0, 0);
        let mut answer =
            header(before.len() + nested.len() + 19 + counters.len() + 20 + after.len());
        answer.extend(&before);
        answer.extend(&nested);
        answer.extend(header(counters.len() + 20 + after.len()));
        answer.extend(&counters);
        answer.extend(&up);
        answer.extend(&after);
        let list = NvList::unpack(&answer).unwrap();
        assert_eq!(running(&list), Some(true));
        assert_eq!(list.number("since"), Some(1_700_000_000));
        let counters = list.list("counters").unwrap();
        assert_eq!(
            counters.get("names"),
            Some(&Value::StringArray(vec!["match".into(), "bad-offs".into()]))
        );
        assert_eq!(list.string("ifname"), Some(""));
        assert_eq!(running(&NvList::new()), None);
        assert!(status_request().pack().len() == 19);
    }

    #[test]
    fn a_recorded_rule_answer_names_its_anchor_call() {
        // DIOCGETRULENV's answer: nr, the rule (abridged), anchor_call.
        let mut call = pair(4, "anchor_call", 13, 0);
        call.extend_from_slice(b"tftp-proxy/*\0");
        let rule_pairs = [number("action", u64::from(PF_RDR)), number("nr", 4)].concat();
        let rule_len = 19 + rule_pairs.len();
        let nr = number("nr", 4);
        let rest = nr.len() + (19 + 5) + rule_len + 20 + call.len();
        let mut answer = header(rest);
        answer.extend(&nr);
        answer.extend(pair(5, "rule", rule_len as u64, 0));
        answer.extend(header(rule_pairs.len() + 20 + call.len()));
        answer.extend(&rule_pairs);
        answer.extend(pair(255, "", 0, 0));
        answer.extend(&call);
        let list = NvList::unpack(&answer).unwrap();
        assert_eq!(anchor_call(&list), Some("tftp-proxy/*"));
        assert_eq!(
            list.list("rule").unwrap().number("action"),
            Some(u64::from(PF_RDR))
        );
    }

    #[test]
    fn the_rule_question_is_libnvs_bytes() {
        let asked = rule_request(MainRuleset::Rdr, 9, 2);
        let mut anchor = pair(4, "anchor", 1, 0);
        anchor.push(0);
        let expected = flat(&[
            anchor,
            number("ruleset", u64::from(PF_RDR)),
            number("ticket", 9),
            number("nr", 2),
        ]);
        assert_eq!(
            asked.pack_with(crate::firewall::pf::kernel::freebsd::nvlist::Endian::Little),
            expected
        );
        assert_eq!(
            rule_request(MainRuleset::Filter, 1, 0).number("ruleset"),
            Some(u64::from(PF_PASS))
        );
    }

    #[test]
    fn anchor_lines_are_found_by_their_calls() {
        let recorded = |calls: &[&str]| calls.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        // pfSense's main ruleset: its own anchors, then ours.
        let rdr = recorded(&["", "natearly/*", "natrules/*", "tftp-proxy/*", ""]);
        let filter = recorded(&["", "", "userrules/*", "/tftp-proxy/*", ""]);
        assert!(calls_children(&rdr, "tftp-proxy"));
        assert!(calls_children(&filter, "tftp-proxy"));
        // A call of one anchor, or of another name, is not the wildcard.
        for other in [&["tftp-proxy"][..], &["tftp-proxy/1.0"], &["relayd/*"], &[]] {
            assert!(!calls_children(&recorded(other), "tftp-proxy"), "{other:?}");
        }
        assert_eq!(
            MainRuleset::Rdr.line("tftp-proxy"),
            "rdr-anchor \"tftp-proxy/*\""
        );
        assert_eq!(
            MainRuleset::Filter.line("tftp-proxy"),
            "anchor \"tftp-proxy/*\""
        );
    }
}
