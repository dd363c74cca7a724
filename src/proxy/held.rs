//! Proxy ports kept after their transfer wait, while filter state that
//! a server's answers created still points at them.
//!
//! A single-port server's answer creates a conntrack entry server:69 ->
//! firewall:P that carries the rest of the transfer and, while it lives,
//! catches any later answer of that server to port P before NAT is looked
//! at (see `Firewall::state_left`). So the helper keeps the socket (and
//! with it port P, which the kernel then gives to no other socket) until
//! that state is gone. State that has seen no packet for its path's
//! idle limit (`ReturnPath::idle_limit`: 6 s, or longer when the request
//! asked for a longer retransmission timeout) belongs to a transfer that
//! is over: the helper deletes it and lets the
//! port go, instead of holding it for the kernel's whole UDP timeout (120
//! s for a flow that saw both directions). The state never outlives the
//! port.
//!
//! pf keeps such state too (server:69 -> firewall:P, rdr'd to the
//! client), but a pledged helper may only ask whether it exists, not how
//! long it has left nor delete it. Its return path's rules carry the idle
//! limit as their UDP state timeouts instead, so pf expires the state
//! itself once the transfer is quiet
//! (`Firewall::state_expires_when_idle`); the port is held until it is
//! gone.
//!
//! This module owns that bookkeeping as pure code (the clock and the
//! kernel's answers passed in); the flow asks the firewall.

use crate::firewall::ReturnPath;
use std::time::{Duration, Instant};

/// How often held state is looked at again.
pub const RECHECK: Duration = Duration::from_secs(1);

/// One held port.
#[derive(Debug)]
pub struct HeldPort<S> {
    /// The return path the port served.
    pub path: ReturnPath,
    socket: S,
    /// When to ask the kernel again.
    recheck: Instant,
    /// The last answer: when, and the seconds the state had left.
    last: Option<(Instant, Duration)>,
    /// Since when no packet refreshed the state.
    idle_since: Instant,
}

/// What to do with a held port after the kernel's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep holding it.
    Hold,
    /// The state is idle: delete it, then let the port go.
    Clear,
    /// No state is left: let the port go.
    Release,
}

/// The held ports.
#[derive(Debug)]
pub struct Held<S> {
    ports: Vec<HeldPort<S>>,
    /// The filter removes idle state by itself
    /// (`Firewall::state_expires_when_idle`): a port is held until its
    /// state is gone, never cleared.
    expires_by_itself: bool,
}

impl<S> Default for Held<S> {
    fn default() -> Self {
        Held::new(false)
    }
}

impl<S> Held<S> {
    /// No port held yet; `expires_by_itself` as the firewall says
    /// (`Firewall::state_expires_when_idle`).
    pub fn new(expires_by_itself: bool) -> Self {
        Held {
            ports: Vec::new(),
            expires_by_itself,
        }
    }

    /// Holds `socket` (of `path`) from `now`, to be looked at again soon.
    pub fn hold(&mut self, path: ReturnPath, socket: S, now: Instant) {
        self.ports.push(HeldPort {
            path,
            socket,
            recheck: now + RECHECK,
            last: None,
            idle_since: now,
        });
    }

    /// Takes out the ports due for a look at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<HeldPort<S>> {
        let (due, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ports)
            .into_iter()
            .partition(|p| p.recheck <= now);
        self.ports = kept;
        due
    }

    /// Puts a port taken out by [`Held::due`] back after the kernel said
    /// its state has `left` at `now`; returns the verdict and, unless it
    /// is [`Verdict::Hold`], the socket to close.
    pub fn judge(
        &mut self,
        taken: HeldPort<S>,
        left: Option<Duration>,
        now: Instant,
    ) -> (Verdict, Option<S>) {
        let Some(left) = left else {
            return (Verdict::Release, Some(taken.socket));
        };
        let idle_since = if refreshed(taken.last, left, now) {
            now
        } else {
            taken.idle_since
        };
        // A filter that expires idle state by itself is never raced: the
        // port goes only once the state is gone.
        let idle_limit = taken.path.idle_limit;
        if !self.expires_by_itself && now.saturating_duration_since(idle_since) >= idle_limit {
            return (Verdict::Clear, Some(taken.socket));
        }
        self.ports.push(HeldPort {
            recheck: now + RECHECK,
            last: Some((now, left)),
            idle_since,
            ..taken
        });
        (Verdict::Hold, None)
    }

    /// When the last held port is next looked at (`None`: none is held).
    pub fn last_recheck(&self) -> Option<Instant> {
        self.ports.iter().map(|p| p.recheck).max()
    }
}

/// Whether a packet refreshed the state between the last answer and this
/// one. The kernel reports whole seconds, rounded down
/// (`ctnetlink_dump_timeout()`, net/netfilter/nf_conntrack_netlink.c), so
/// without a refresh the time left is always less than the last answer
/// minus the time since, plus one second; with one, the timeout starts
/// over (30 or 120 s) and it is at least that.
fn refreshed(last: Option<(Instant, Duration)>, left: Duration, now: Instant) -> bool {
    match last {
        None => false,
        Some((then, before)) => {
            let expected = before.saturating_sub(now.saturating_duration_since(then));
            left >= expected + Duration::from_secs(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{state_idle_limit, STATE_IDLE_LIMIT};

    /// The idle limit of a request without a `timeout` option.
    const IDLE_LIMIT: Duration = STATE_IDLE_LIMIT;

    fn path() -> ReturnPath {
        path_idle(IDLE_LIMIT)
    }

    fn path_idle(idle_limit: Duration) -> ReturnPath {
        ReturnPath {
            client: "192.0.2.20:5000".parse().unwrap(),
            proxy: "198.51.100.1:40000".parse().unwrap(),
            server: "198.51.100.5:69".parse().unwrap(),
            idle_limit,
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn released_at_once_when_no_state_is_left() {
        let now = Instant::now();
        let mut held = Held::default();
        held.hold(path(), 7u8, now);
        assert!(held.due(now).is_empty(), "not due before the recheck");
        let taken = held.due(now + RECHECK).pop().unwrap();
        assert_eq!(
            held.judge(taken, None, now + RECHECK),
            (Verdict::Release, Some(7))
        );
        assert_eq!(held.last_recheck(), None);
    }

    #[test]
    fn live_state_is_held_and_idle_state_cleared() {
        // No timeout option, and a phone that asked for 10 s
        // retransmissions: its state is held 11 s idle.
        for idle_limit in [IDLE_LIMIT, state_idle_limit(Some(secs(10)))] {
            cleared_after(idle_limit);
        }
        assert_eq!(state_idle_limit(Some(secs(10))), secs(11));
    }

    /// Holds a path whose limit is `idle_limit` through a busy transfer,
    /// then lets it go quiet: cleared once idle that long, not before.
    fn cleared_after(idle_limit: Duration) {
        let t0 = Instant::now();
        let mut held = Held::default();
        held.hold(path_idle(idle_limit), 1u8, t0);
        // A transfer in progress: every answer shows a fresh timeout.
        let mut now = t0;
        for _ in 0..10 {
            now += RECHECK;
            let taken = held.due(now).pop().unwrap();
            assert_eq!(held.judge(taken, Some(secs(120)), now).0, Verdict::Hold);
        }
        assert_eq!(held.last_recheck(), Some(now + RECHECK));
        // Then it goes quiet: the timeout runs down, and after the idle
        // limit the state is cleared.
        let quiet_from = now;
        let mut verdict = Verdict::Hold;
        while verdict == Verdict::Hold {
            now += RECHECK;
            let left = secs(120) - now.duration_since(quiet_from);
            let taken = held.due(now).pop().unwrap();
            verdict = held.judge(taken, Some(left), now).0;
        }
        assert_eq!(verdict, Verdict::Clear);
        let idle = now.duration_since(quiet_from);
        assert!(
            idle >= idle_limit && idle <= idle_limit + 2 * RECHECK,
            "{idle:?} for a limit of {idle_limit:?}"
        );
        assert_eq!(held.last_recheck(), None);
    }

    #[test]
    fn state_the_filter_expires_is_held_until_gone_never_cleared() {
        let t0 = Instant::now();
        let mut held = Held::new(true);
        held.hold(path(), 3u8, t0);
        // The filter reports the same bound at every look (pf cannot say
        // how much is left); long past the idle limit the port is still
        // held, since the state is there.
        let mut now = t0;
        for _ in 0..(3 * IDLE_LIMIT.as_secs()) {
            now += RECHECK;
            let taken = held.due(now).pop().unwrap();
            assert_eq!(
                held.judge(taken, Some(IDLE_LIMIT), now),
                (Verdict::Hold, None)
            );
        }
        // Once the filter has removed it, the port goes at the next look.
        now += RECHECK;
        let taken = held.due(now).pop().unwrap();
        assert_eq!(held.judge(taken, None, now), (Verdict::Release, Some(3)));
        assert_eq!(held.last_recheck(), None);
    }

    #[test]
    fn refresh_is_told_from_the_clock_running_down() {
        let then = Instant::now();
        let now = then + secs(3);
        assert!(!refreshed(None, secs(30), now));
        assert!(!refreshed(Some((then, secs(30))), secs(27), now));
        // 28 s cannot be read without a refresh: at most 27.99 is left.
        assert!(refreshed(Some((then, secs(30))), secs(28), now));
        assert!(refreshed(Some((then, secs(30))), secs(30), now));
        assert!(refreshed(Some((then, secs(30))), secs(120), now), "assured");
    }
}
