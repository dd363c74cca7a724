//! How full the kernel's conntrack table is, and when that is worth a
//! warning.
//!
//! A full table does not show up as an error anywhere the helper looks:
//! the kernel drops the packet that would have created an entry
//! (`__nf_conntrack_alloc()`, net/netfilter/nf_conntrack_core.c, "table
//! full, dropping packet"), so a phone's request never reaches the helper
//! and the server's first answer never reaches the phone. The helper reads
//! `nf_conntrack_count` and `nf_conntrack_max` itself; this module owns
//! that reading and the judgment, the judgment as pure code.

use std::fmt;
use std::path::Path;

/// The share of `nf_conntrack_max` from which the table counts as nearly
/// full (percent).
pub const NEARLY_FULL_PERCENT: u64 = 90;

const COUNT: &str = "/proc/sys/net/netfilter/nf_conntrack_count";
const MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";

/// The table's fill, when it is worth a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pressure {
    /// Entries in the table.
    pub count: u64,
    /// Its limit.
    pub max: u64,
}

impl fmt::Display for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.count >= self.max {
            "full"
        } else {
            "nearly full"
        };
        write!(
            f,
            "the conntrack table is {state}: {} of {} entries; the kernel drops new flows (phones' requests and servers' first answers among them) before the helper sees them: raise net.netfilter.nf_conntrack_max (sysctl -w net.netfilter.nf_conntrack_max=N, and in /etc/sysctl.d/)",
            self.count, self.max
        )
    }
}

/// Judges a count against the limit: `Some` from [`NEARLY_FULL_PERCENT`].
pub fn judge(count: u64, max: u64) -> Option<Pressure> {
    (max > 0 && count.saturating_mul(100) >= max.saturating_mul(NEARLY_FULL_PERCENT))
        .then_some(Pressure { count, max })
}

/// Reads `nf_conntrack_count` and `nf_conntrack_max` (`None`: conntrack
/// is not loaded, or /proc cannot be read).
pub fn read() -> Option<(u64, u64)> {
    let number = |path: &str| -> Option<u64> {
        std::fs::read_to_string(Path::new(path))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some((number(COUNT)?, number(MAX)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_threshold_is_quiet() {
        assert_eq!(judge(0, 65536), None);
        assert_eq!(judge(58_981, 65536), None);
        assert_eq!(judge(5, 0), None, "no limit read");
    }

    #[test]
    fn near_and_at_the_limit_are_named_with_the_sysctl() {
        let near = judge(58_983, 65536).unwrap();
        assert!(near
            .to_string()
            .starts_with("the conntrack table is nearly full: 58983 of 65536 entries"));
        // Recorded from a lab firewall whose table was filled:
        // nf_conntrack_count 256, nf_conntrack_max 256.
        let full = judge(256, 256).unwrap();
        let text = full.to_string();
        assert!(text.starts_with("the conntrack table is full: 256 of 256 entries"));
        assert!(text.contains("net.netfilter.nf_conntrack_max"));
        assert!(judge(300, 256).is_some(), "a count past a lowered limit");
    }
}
