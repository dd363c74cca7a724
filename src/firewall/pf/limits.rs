//! pf's hard limits as the helper meets them: the anchor pool every
//! return path takes one anchor from, the storm arithmetic the shipped
//! pf.conf's `set limit anchors` is sized by, and the errno a kernel
//! answers when a pool is exhausted, reported as "busy".
//!
//! Each live return path holds one anchor (`tftp-proxy/<pid>.<n>`) from
//! the moment it is installed until the reaper empties it, the transfer
//! wait later. pf caps anchors with a hard pool limit, `set limit anchors`
//! (OpenBSD: `PF_ANCHOR_HIWAT`, 512, in net/pfvar.h, applied with
//! pool_sethardlimit() in net/pf_ioctl.c; FreeBSD 15: `PF_LIMIT_ANCHORS`).
//!
//! Pure code: it must not touch the kernel. Both kernels' `ioctl.rs` call
//! [`exhausted`] on a failed rule change.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use crate::firewall::FirewallError;
use nix::errno::Errno;

/// pf's own default anchor limit (`PF_ANCHOR_HIWAT` in net/pfvar.h).
pub const DEFAULT_ANCHOR_LIMIT: u32 = 512;

/// The anchor limit the shipped pf.conf files set (`set limit anchors`):
/// at least [`anchors_for_storm`] of [`STORM_PHONES`] phones fetching
/// [`STORM_FILES`] files each (3501), and four times the default
/// `--max-per-client` (2048), so that one client address can take at most
/// a quarter of it, as on Linux (a quarter of the 8192-entry maps); room
/// is left for other anchors (ftp-proxy's, relayd's, the operator's).
/// An anchor costs pf about 1.3 KB while it exists (its path and name
/// buffers and its ruleset heads), nothing before: the limit is a cap,
/// not a reservation.
pub const SHIPPED_ANCHOR_LIMIT: u32 = 8192;

/// The storm the shipped limit is sized for: phones booting at once...
pub const STORM_PHONES: u32 = 500;
/// ...each fetching this many files (firmware, configuration, ring
/// tones, directory, ...).
pub const STORM_FILES: u32 = 7;

/// The pf.conf line that raises the anchor limit, as the log and
/// `--check` quote it.
pub const RAISE_LINE: &str = "set limit anchors 8192";

/// Anchors a storm of `phones` phones fetching `files` files each can
/// hold at once, at worst: every request of the storm inside one
/// transfer wait (each anchor lives for the wait, and a fast server lets
/// a phone ask for its next file well within it), plus the parent
/// anchor `tftp-proxy` itself.
///
/// 500 phones x 7 files = 3500 anchors, + 1 = 3501: nearly seven times
/// pf's default of 512, under half the shipped 8192.
pub fn anchors_for_storm(phones: u32, files: u32) -> u32 {
    phones.saturating_mul(files).saturating_add(1)
}

/// Which step of a rule change failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `DIOCXBEGIN`: the transaction that creates the anchor.
    Begin,
    /// `DIOCADDRULE`: one rule into it.
    AddRule,
}

/// The "busy" error for an errno that means a pf pool is exhausted, or
/// `None` for any other failure.
///
/// - `DIOCXBEGIN` answers EINVAL when pf cannot create the anchor:
///   pf_begin_rules() returns EINVAL when pf_find_or_create_ruleset()
///   returns NULL (net/pf_ioctl.c), which it does when pool_get() on
///   `pf_anchor_pl` (PR_LIMITFAIL) fails at the hard limit
///   (net/pf_ruleset.c, pf_create_anchor()). FreeBSD's pf_begin_rules()
///   does the same with pf_find_or_create_kruleset()
///   (sys/netpfil/pf/pf_ioctl.c, pf_ruleset.c). The helper's anchor names
///   are always well formed, so EINVAL has no other cause there.
/// - `DIOCADDRULE` answers ENOMEM when pool_get() on `pf_rule_pl` fails
///   (net/pf_ioctl.c, DIOCADDRULE).
pub fn exhausted(step: Step, errno: Errno) -> Option<FirewallError> {
    match (step, errno) {
        (Step::Begin, Errno::EINVAL) => Some(FirewallError::Full {
            what: format!(
                "pf's anchor pool (one anchor per live return path; `{RAISE_LINE}` in pf.conf raises it, then pfctl -f /etc/pf.conf; pfctl -s memory shows it)"
            ),
            limit: None,
        }),
        (Step::AddRule, Errno::ENOMEM) => Some(FirewallError::Full {
            what: "pf's rule memory (DIOCADDRULE: out of memory for rules)".to_owned(),
            limit: None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storm_fits_the_shipped_limit_and_not_the_default() {
        let need = anchors_for_storm(STORM_PHONES, STORM_FILES);
        assert_eq!(need, 3501);
        assert!(2 * need <= SHIPPED_ANCHOR_LIMIT);
        assert!(need > DEFAULT_ANCHOR_LIMIT);
        assert!(RAISE_LINE.ends_with(&SHIPPED_ANCHOR_LIMIT.to_string()));
    }

    #[test]
    fn anchor_exhaustion_is_busy_and_names_the_line() {
        let e = exhausted(Step::Begin, Errno::EINVAL).expect("EINVAL at DIOCXBEGIN is the pool");
        assert!(matches!(e, FirewallError::Full { .. }));
        let text = e.to_string();
        assert!(text.contains("set limit anchors 8192"), "{text}");
        assert!(text.contains("pfctl -s memory"), "{text}");
        assert!(matches!(
            exhausted(Step::AddRule, Errno::ENOMEM),
            Some(FirewallError::Full { .. })
        ));
    }

    #[test]
    fn other_errors_are_not_busy() {
        for (step, errno) in [
            (Step::Begin, Errno::EPERM),
            (Step::Begin, Errno::ENODEV),
            (Step::Begin, Errno::ENOMEM),
            (Step::AddRule, Errno::EINVAL),
            (Step::AddRule, Errno::EBUSY),
        ] {
            assert!(exhausted(step, errno).is_none(), "{step:?} {errno}");
        }
    }
}
