//! Settling a transfer as soon as its return path has carried the
//! server's answer, instead of at the end of its transfer wait.
//!
//! A return path is needed only for a transfer's first answer: that
//! answer's packet, redirected by the map's lookup in the nat prerouting
//! chain, creates the conntrack entry (DNATed to the client) that carries
//! the rest of the transfer, and nat chains see only a flow's first
//! packet (`nf_nat_inet_fn()`, net/netfilter/nf_nat_core.c; the chain
//! type in net/netfilter/nft_chain_nat.c), so the element is never
//! consulted again. The kernel's own TFTP helper does the same with its
//! expectation: the first packet that matches it unlinks it unless it is
//! permanent (`nf_ct_find_expectation()`,
//! net/netfilter/nf_conntrack_expect.c). So at each outcome read, a path
//! the kernel counted as answered and delivered (where the `delivered`
//! sets tell it) gets its outcome line and is removed then, and the
//! helper's count of live paths drops with it: a map holds the paths of
//! the transfers waiting for an answer, not of every transfer of the
//! last few seconds. Its transfer stays (`transfers.rs`) for copies of
//! its request; its port is held or released at the end of the wait as
//! before (`release.rs`).
//!
//! This file owns that decision and those outcome lines.

use super::outcome::{self, Verdict};
use super::{Proxy, READ_EVERY};
use crate::firewall::{Firewall, PathUse, ReturnPath};
use crate::log::Level;
use std::time::{Duration, Instant};

/// Which of the live `paths` a read's `uses` settle: those the server's
/// answer took to the client. A path unused, dropped on the firewall
/// (the answer may still come again and pass), unknown or pending waits
/// for its wait to end, as before.
pub(super) fn settled_by<T: Copy>(paths: &[T], uses: &[PathUse]) -> Vec<(T, PathUse)> {
    paths
        .iter()
        .zip(uses)
        .filter(|(_, used)| used.answered())
        .map(|(path, used)| (*path, *used))
        .collect()
}

/// The longest pause between reads of live paths alone when the reads
/// settle nothing.
const LIVE_READ_MAX_PAUSE: Duration = Duration::from_millis(800);

/// The pause before the next read, after one that found `finished`
/// transfers waiting (or not) and settled `settled` live paths, the
/// pause before it `previous`: [`READ_EVERY`] while finished transfers
/// wait for their outcome or the reads settle paths; doubled, up to
/// [`LIVE_READ_MAX_PAUSE`], while reads of live paths alone settle none.
/// Each read dumps the whole map: a flood toward a server that never
/// answers fills it with paths no read can settle, and must not cost a
/// dump of thousands of elements every 100 ms.
pub(super) fn pause_after(previous: Duration, finished: bool, settled: usize) -> Duration {
    if finished || settled > 0 {
        READ_EVERY
    } else {
        (previous * 2).clamp(READ_EVERY, LIVE_READ_MAX_PAUSE)
    }
}

/// How soon after the last read of the live paths a refusal may read
/// them again: a phone fetching its files one after another starts
/// transfers far faster than the outcome reads come ([`READ_EVERY`]),
/// while a flood into a full map must not cost a map dump per request.
const READ_BEFORE_REFUSING_EVERY: Duration = Duration::from_millis(20);

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Before a request is refused for want of room (the map, the
    /// interface's share, the client's cap): reads the live paths now, so
    /// that those answered since the last read are settled and give their
    /// places back, if a transfer was started since that read (else
    /// nothing new can have been answered but by the paths the last read
    /// saw unanswered) and it is at least
    /// [`READ_BEFORE_REFUSING_EVERY`] old. Whether it read.
    pub(super) fn settle_before_refusing(&mut self) -> bool {
        let now = Instant::now();
        let (last, started_since) = self.live_read;
        if !self.firewall.reads_live_use()
            || !started_since
            || now < last + READ_BEFORE_REFUSING_EVERY
        {
            return false;
        }
        self.read_outcomes();
        self.live_pause = READ_EVERY;
        self.next_read = now + READ_EVERY;
        true
    }

    /// Settles the live transfers on `paths` (each with its slot number,
    /// [`super::transfers::Transfers::unsettled`]) whose `uses` say
    /// answered: logs each one's outcome line and returns their paths, to
    /// remove.
    pub(super) fn settle_answered(
        &mut self,
        paths: &[(u64, ReturnPath)],
        uses: &[PathUse],
        now: Instant,
    ) -> Vec<ReturnPath> {
        let mut settled = Vec::new();
        for ((number, path), used) in settled_by(paths, uses) {
            let Some(transfer) = self.transfers.settle(number, &path) else {
                continue;
            };
            let verdict = Verdict::judge(used, None);
            let waited = now
                .saturating_duration_since(transfer.last_sent)
                .min(self.settings.transfer_wait);
            let line = outcome::event(
                &path,
                &transfer.label,
                &verdict,
                transfer.retransmissions,
                super::round_wait(waited),
            );
            self.log.event(Level::Info, &line);
            self.summary.outcome(path.server, &verdict);
            settled.push(path);
        }
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(port: u16) -> ReturnPath {
        ReturnPath {
            client: "192.0.2.20:5000".parse().unwrap(),
            proxy: std::net::SocketAddr::new("198.51.100.1".parse().unwrap(), port),
            server: "198.51.100.2:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    #[test]
    fn a_read_settles_only_paths_whose_answer_reached_the_client() {
        let paths: Vec<ReturnPath> = (40000..40007).map(path).collect();
        let uses = [
            PathUse::Used {
                packets: 1,
                bytes: 544,
            },
            PathUse::Unused,
            PathUse::Dropped {
                packets: 1,
                bytes: 544,
            },
            PathUse::Unknown,
            PathUse::Pending,
            // A counter present but zero is no answer.
            PathUse::Used {
                packets: 0,
                bytes: 0,
            },
            PathUse::Used {
                packets: 2,
                bytes: 1000,
            },
        ];
        let settled = settled_by(&paths, &uses);
        let ports: Vec<u16> = settled.iter().map(|(p, _)| p.proxy.port()).collect();
        assert_eq!(ports, [40000, 40006]);
        assert_eq!(settled[1].1, uses[6]);
        // Fewer uses than paths (a short answer): the rest wait.
        assert_eq!(settled_by(&paths, &uses[..1]).len(), 1);
        assert!(settled_by(&paths, &[]).is_empty());
    }

    #[test]
    fn reads_that_settle_nothing_back_off_and_one_that_settles_resets() {
        let max = LIVE_READ_MAX_PAUSE;
        let mut pause = READ_EVERY;
        let mut seen = Vec::new();
        for _ in 0..6 {
            pause = pause_after(pause, false, 0);
            seen.push(pause.as_millis());
        }
        assert_eq!(seen, [200, 400, 800, 800, 800, 800]);
        assert_eq!(pause_after(max, false, 3), READ_EVERY);
        // Finished transfers wait for their outcome: no back-off.
        assert_eq!(pause_after(max, true, 0), READ_EVERY);
    }

    #[test]
    fn short_answers_settle_only_what_they_cover() {
        let paths: Vec<ReturnPath> = (40000..40002).map(path).collect();
        let uses = [PathUse::Used {
            packets: 1,
            bytes: 1,
        }];
        assert_eq!(settled_by(&paths, &uses[..1]).len(), 1);
        assert!(settled_by(&paths, &[]).is_empty());
    }
}
