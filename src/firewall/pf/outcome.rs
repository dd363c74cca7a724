//! pf's side of the outcome line: whether a return path's anchor caught
//! the server's answer, from the rules the anchor still holds when it is
//! read (DIOCGETRULES, then DIOCGETRULE for each rule) before the reaper
//! empties it.
//!
//! - OpenBSD: the answer-catching rule is the anchor's `pass in ...
//!   rdr-to ... once`. At its first match pf marks it expired
//!   (`PFRULE_EXPIRED`) and later purges it from the ruleset
//!   (pf_test_rule() and pf_purge_rule(), sys/net/pf.c), so a rule
//!   flagged expired, or missing while the anchor's `pass out` is still
//!   there, was used; its `packets`, `bytes` and `states_tot` counters
//!   (struct pf_rule, sys/net/pfvar.h) say the same while it is listed.
//! - FreeBSD: no `once`; the anchor's `pass in` filter rule (`max-states
//!   1`) counts the state the answer created (`u_states_tot`) and its
//!   packets (struct pf_rule as DIOCGETRULE copies it out,
//!   sys/netpfil/pf/pf_ioctl.c; FreeBSD 14 and later answer only
//!   DIOCGETRULENV, whose nvlist carries the same counters,
//!   pf_krule_to_nvrule() in sys/netpfil/pf/pf_nv.c).
//!
//! Counters and flags are the kernel's own: an ICMP error, forged or
//! not, creates no state on these rules. This file owns the decoding of
//! those ioctl answers and the judgement; the ioctls themselves belong to
//! `kernel/*/ioctl.rs`.

use crate::firewall::PathUse;

/// What a read of one anchor found of its answer-catching rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorRead {
    /// The anchor holds no rule: emptied (the wait and its grace are
    /// over) or never installed; nothing to tell.
    Gone,
    /// The anchor's other rules are there but the catching rule is not:
    /// pf purged it after its one match (OpenBSD `once`).
    Purged,
    /// The catching rule, as the kernel copied it out.
    Listed(CatchingRule),
}

/// The counters and flag of an answer-catching rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchingRule {
    /// pf flagged the `once` rule expired: it matched.
    pub expired: bool,
    /// Packets it passed, both directions.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// States it created.
    pub states: u64,
}

/// The path's use from a read of its anchor.
pub fn judge(read: AnchorRead) -> PathUse {
    match read {
        AnchorRead::Gone => PathUse::Unknown,
        // Purged after a match whose counters went with the rule.
        AnchorRead::Purged => PathUse::Used {
            packets: 1,
            bytes: 0,
        },
        AnchorRead::Listed(rule) => {
            if rule.expired || rule.packets > 0 || rule.states > 0 {
                PathUse::Used {
                    packets: rule.packets.max(1),
                    bytes: rule.bytes,
                }
            } else {
                PathUse::Unused
            }
        }
    }
}

/// OpenBSD's decoding of DIOCGETRULE answers.
#[cfg(any(target_os = "openbsd", all(test, not(target_os = "freebsd"))))]
pub mod openbsd {
    use super::{AnchorRead, CatchingRule};
    use pf_sys::openbsd::{pf_rule, PFRULE_ONCE, PF_IN};

    /// `PFRULE_EXPIRED` in sys/net/pfvar.h (after `PFRULE_ONCE`,
    /// 0x00100000, and `PFRULE_AFTO`, 0x00200000): set on a `once` rule
    /// at its first match.
    pub const PFRULE_EXPIRED: u32 = 0x0040_0000;

    /// The catching rule among an anchor's rules as DIOCGETRULE returned
    /// them, in order.
    pub fn read(rules: &[pf_rule]) -> AnchorRead {
        if rules.is_empty() {
            return AnchorRead::Gone;
        }
        rules
            .iter()
            .find(|r| u32::from(r.direction) == PF_IN && r.rule_flag & PFRULE_ONCE != 0)
            .map_or(AnchorRead::Purged, |r| {
                AnchorRead::Listed(CatchingRule {
                    expired: r.rule_flag & PFRULE_EXPIRED != 0,
                    packets: r.packets[0].saturating_add(r.packets[1]),
                    bytes: r.bytes[0].saturating_add(r.bytes[1]),
                    states: u64::from(r.states_tot),
                })
            })
    }
}

/// FreeBSD's decoding of DIOCGETRULE answers (the anchor's FILTER
/// ruleset).
#[cfg(any(target_os = "freebsd", all(test, not(target_os = "openbsd"))))]
pub mod freebsd {
    use super::{AnchorRead, CatchingRule};
    use pf_sys::freebsd::{pf_rule, PF_IN};

    /// The `pass in` rule among the anchor's filter rules, in order.
    pub fn read(rules: &[pf_rule]) -> AnchorRead {
        let counted: Vec<(u8, CatchingRule)> = rules
            .iter()
            .map(|r| {
                (
                    r.direction,
                    CatchingRule {
                        expired: false,
                        packets: r.packets[0].saturating_add(r.packets[1]),
                        bytes: r.bytes[0].saturating_add(r.bytes[1]),
                        states: r.u_states_tot,
                    },
                )
            })
            .collect();
        read_counted(&counted)
    }

    /// The `pass in` rule among the anchor's filter rules, each as its
    /// direction and counters (from a DIOCGETRULENV answer, which
    /// FreeBSD 14 and later give instead of the structure).
    pub fn read_counted(rules: &[(u8, CatchingRule)]) -> AnchorRead {
        rules
            .iter()
            .find(|(direction, _)| u32::from(*direction) == PF_IN)
            .map_or(AnchorRead::Gone, |(_, rule)| AnchorRead::Listed(*rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The anchor as DIOCGETRULE copies it out after installation: the
    /// `pass in ... rdr-to ... once` rule (direction in, PFRULE_ONCE,
    /// counters zero) and its `pass out`; then as the kernel answers once
    /// the server's answer matched the `once` rule.
    #[cfg(not(target_os = "freebsd"))]
    #[test]
    fn openbsd_once_rule_unused_matched_and_purged() {
        use pf_sys::openbsd::{pf_rule, PFRULE_ONCE, PF_IN, PF_OUT};
        let catching = pf_rule {
            direction: PF_IN as u8,
            rule_flag: PFRULE_ONCE,
            ..Default::default()
        };
        let pass_out = pf_rule {
            direction: PF_OUT as u8,
            ..Default::default()
        };
        let mut listed = vec![catching, pass_out];
        assert_eq!(judge(openbsd::read(&listed)), PathUse::Unused);
        // The answer matched: flagged expired, counted, one state.
        let catching = listed
            .iter_mut()
            .find(|r| u32::from(r.direction) != PF_OUT)
            .unwrap();
        catching.rule_flag |= openbsd::PFRULE_EXPIRED;
        catching.packets = [1, 0];
        catching.bytes = [544, 0];
        catching.states_tot = 1;
        assert_eq!(
            judge(openbsd::read(&listed)),
            PathUse::Used {
                packets: 1,
                bytes: 544
            }
        );
        // Purged: only the `pass out` is left.
        listed.retain(|r| u32::from(r.direction) == PF_OUT);
        assert_eq!(openbsd::read(&listed), AnchorRead::Purged);
        assert!(judge(openbsd::read(&listed)).answered());
        // Emptied by the reaper: nothing to tell.
        assert_eq!(judge(openbsd::read(&[])), PathUse::Unknown);
    }

    #[cfg(not(target_os = "openbsd"))]
    #[test]
    fn freebsd_pass_in_counts_the_answers_state() {
        use pf_sys::freebsd::{pf_rule, PF_IN, PF_OUT};
        let mut pass_in = pf_rule {
            direction: PF_IN as u8,
            ..Default::default()
        };
        let pass_out = pf_rule {
            direction: PF_OUT as u8,
            ..Default::default()
        };
        assert_eq!(judge(freebsd::read(&[pass_in, pass_out])), PathUse::Unused);
        pass_in.u_states_tot = 1;
        pass_in.packets = [3, 2];
        pass_in.bytes = [1600, 96];
        assert_eq!(
            judge(freebsd::read(&[pass_in, pass_out])),
            PathUse::Used {
                packets: 5,
                bytes: 1696
            }
        );
        assert_eq!(judge(freebsd::read(&[pass_out])), PathUse::Unknown);
        // The same answers as DIOCGETRULENV's counters.
        let counted = |r: &pf_rule| {
            (
                r.direction,
                CatchingRule {
                    expired: false,
                    packets: r.packets[0] + r.packets[1],
                    bytes: r.bytes[0] + r.bytes[1],
                    states: r.u_states_tot,
                },
            )
        };
        assert_eq!(
            freebsd::read_counted(&[counted(&pass_in), counted(&pass_out)]),
            freebsd::read(&[pass_in, pass_out])
        );
        assert_eq!(
            freebsd::read_counted(&[counted(&pass_out)]),
            AnchorRead::Gone
        );
    }

    #[test]
    fn a_forged_icmp_leaves_no_trace_a_match_does() {
        let quiet = CatchingRule::default();
        assert_eq!(judge(AnchorRead::Listed(quiet)), PathUse::Unused);
        let expired_only = CatchingRule {
            expired: true,
            ..quiet
        };
        assert!(judge(AnchorRead::Listed(expired_only)).answered());
    }
}
