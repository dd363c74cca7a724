//! The backend's own record of the return paths it installed: which anchor
//! holds each, and until when it may still match; and the ports earlier
//! helpers' return paths still wait on.
//!
//! It owns anchor numbering and the "path in use" decision: a proxy port
//! the kernel hands out again while an earlier path from the same server
//! to that port may still match would send the new transfer's answers to
//! the old client. That holds across helpers too: after an abnormal exit
//! (a helper killed) its upstream sockets are closed, so the kernel may
//! hand their ports to the next helper while the dead helper's anchors
//! wait for the reaper. The next helper learns those ports and deadlines
//! from the anchors' names (`anchor.rs`) before it installs anything
//! ([`Ledger::learn`]) and treats them as in use, whatever the server.
//!
//! Pure code with the clock passed in; it must not touch the kernel.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use super::anchor;
use crate::firewall::ReturnPath;
use std::time::{Duration, Instant};

/// How long after the reaper's deadline a path is still counted live: the
/// reaper starts its clock a moment after the parent does, and empties the
/// anchor a moment after its deadline.
const MARGIN: Duration = Duration::from_secs(1);

/// One moment read on both clocks: an `Instant` and the system's
/// monotonic clock in milliseconds (which every process shares, so a
/// deadline written into an anchor's name by one helper means the same to
/// the next).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The moment as an `Instant`.
    pub instant: Instant,
    /// The same moment on the monotonic clock, in milliseconds.
    pub monotonic_ms: u64,
}

impl Clock {
    /// `at` on the monotonic clock, in milliseconds (rounded up).
    pub fn ms(&self, at: Instant) -> u64 {
        let ahead = at.saturating_duration_since(self.instant);
        let ahead_ms = u64::try_from(ahead.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
        self.monotonic_ms.saturating_add(ahead_ms)
    }

    /// Monotonic `ms` as an `Instant` (no earlier than this moment).
    pub fn instant(&self, ms: u64) -> Instant {
        self.instant + Duration::from_millis(ms.saturating_sub(self.monotonic_ms))
    }
}

/// One installed return path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path.
    pub path: ReturnPath,
    /// The anchor holding its rules.
    pub anchor: String,
    /// When the reaper will have emptied the anchor.
    pub until: Instant,
}

/// A port an earlier helper's return path still waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    port: u16,
    until: Instant,
}

/// The installed paths of this process.
#[derive(Debug)]
pub struct Ledger {
    owner: u32,
    next: u64,
    clock: Clock,
    live: Vec<Entry>,
    held: Vec<Held>,
}

/// A path whose proxy port and server match a live one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse;

impl Ledger {
    /// An empty ledger for anchors named after `owner` (the reaper's pid),
    /// their deadlines written on `clock`.
    pub fn new(owner: u32, clock: Clock) -> Self {
        Ledger {
            owner,
            next: 1,
            clock,
            live: Vec::new(),
            held: Vec::new(),
        }
    }

    /// Learns the ports still held by the anchors `names` (directly below
    /// `tftp-proxy`) of other owners, until their deadlines. Names without
    /// a port (older helpers) and past deadlines teach nothing. Returns how
    /// many ports were learned.
    pub fn learn(&mut self, names: &[String], now: Instant) -> usize {
        let before = self.held.len();
        for name in names {
            let Some(parsed) = anchor::parse(name) else {
                continue;
            };
            let Some((port, until_ms)) = parsed.held else {
                continue;
            };
            let margin_ms = u64::try_from(MARGIN.as_millis()).unwrap_or(u64::MAX);
            let past = until_ms.saturating_add(margin_ms) <= self.clock.ms(now);
            if parsed.owner != self.owner && !past {
                let until = self.clock.instant(until_ms) + MARGIN;
                self.held.push(Held { port, until });
            }
        }
        self.held.len() - before
    }

    /// The anchor for a new path to be installed at `now` for `wait`, or
    /// [`InUse`] if a live path already covers the same proxy address and
    /// port and the same server, or an earlier helper's path waits on the
    /// same port. Paths past their time are forgotten first.
    pub fn reserve(
        &mut self,
        path: &ReturnPath,
        now: Instant,
        wait: Duration,
    ) -> Result<String, InUse> {
        self.live.retain(|entry| entry.until > now);
        self.held.retain(|held| held.until > now);
        let own = self.live.iter().any(|entry| {
            entry.path.proxy == path.proxy && entry.path.server.ip() == path.server.ip()
        });
        let earlier = self.held.iter().any(|held| held.port == path.proxy.port());
        if own || earlier {
            return Err(InUse);
        }
        let until = self.clock.ms(now + wait + MARGIN);
        let name = anchor::path(self.owner, self.next, path.proxy.port(), until);
        self.next += 1;
        Ok(name)
    }

    /// Records a path installed at `now` into `anchor`, removed by the
    /// reaper after `wait`.
    pub fn record(&mut self, path: ReturnPath, anchor: String, now: Instant, wait: Duration) {
        self.live.push(Entry {
            path,
            anchor,
            until: now + wait + MARGIN,
        });
    }

    /// Counts `path`'s wait again from `now` (its request was sent again)
    /// and names its anchor, for the reaper's new deadline. `None`: not on
    /// record (never installed, or expired).
    ///
    /// The anchor's name keeps its first deadline: a helper that learns
    /// it after an abnormal exit holds the port at most one wait too
    /// briefly, and only for a path whose first answer never came.
    pub fn renew(&mut self, path: &ReturnPath, now: Instant, wait: Duration) -> Option<&str> {
        let entry = self.live.iter_mut().find(|entry| entry.path == *path)?;
        entry.until = entry.until.max(now + wait + MARGIN);
        Some(&entry.anchor)
    }

    /// Takes the record of `path` out (it is being removed now).
    pub fn take(&mut self, path: &ReturnPath) -> Option<Entry> {
        let index = self.live.iter().position(|entry| entry.path == *path)?;
        Some(self.live.swap_remove(index))
    }

    /// How many paths are recorded live (expired ones included until the
    /// next [`Ledger::reserve`]).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(2);

    fn path(proxy_port: u16, server: &str) -> ReturnPath {
        ReturnPath {
            client: "198.51.100.2:50232".parse().unwrap(),
            proxy: format!("203.0.113.1:{proxy_port}").parse().unwrap(),
            server: server.parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    fn clock_at(instant: Instant) -> Clock {
        Clock {
            instant,
            monotonic_ms: 5_000_000,
        }
    }

    #[test]
    fn anchors_are_numbered_per_owner_and_carry_port_and_deadline() {
        let now = Instant::now();
        let mut ledger = Ledger::new(77, clock_at(now));
        // Deadline: 5_000_000 ms + the wait (2 s) + the margin (1 s).
        assert_eq!(
            ledger
                .reserve(&path(1000, "192.0.2.20:69"), now, WAIT)
                .unwrap(),
            "tftp-proxy/77.1.1000.5003000"
        );
        assert_eq!(
            ledger
                .reserve(&path(1001, "192.0.2.20:69"), now, WAIT)
                .unwrap(),
            "tftp-proxy/77.2.1001.5003000"
        );
    }

    #[test]
    fn same_proxy_port_and_server_is_in_use_until_expiry() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(77, clock_at(t0));
        let first = path(1000, "192.0.2.20:69");
        let anchor = ledger.reserve(&first, t0, WAIT).unwrap();
        ledger.record(first, anchor, t0, WAIT);

        let again = path(1000, "192.0.2.20:69");
        assert_eq!(ledger.reserve(&again, t0 + WAIT, WAIT), Err(InUse));
        // Another server, or another port: no conflict.
        assert!(ledger
            .reserve(&path(1000, "192.0.2.21:69"), t0, WAIT)
            .is_ok());
        assert!(ledger
            .reserve(&path(1001, "192.0.2.20:69"), t0, WAIT)
            .is_ok());
        // Past the wait and the margin the old path is gone.
        assert!(ledger
            .reserve(&again, t0 + WAIT + MARGIN + Duration::from_millis(1), WAIT)
            .is_ok());
        assert_eq!(ledger.len(), 0);
    }

    #[test]
    fn take_removes_one_path() {
        let now = Instant::now();
        let mut ledger = Ledger::new(1, clock_at(now));
        let p = path(1000, "192.0.2.20:69");
        let anchor = ledger.reserve(&p, now, WAIT).unwrap();
        ledger.record(p, anchor.clone(), now, WAIT);
        assert_eq!(ledger.take(&p).map(|e| e.anchor), Some(anchor));
        assert_eq!(ledger.take(&p), None);
        assert!(ledger.reserve(&p, now, WAIT).is_ok());
    }

    #[test]
    fn a_renewed_path_holds_its_port_for_the_wait_from_the_renewal() {
        let t0 = Instant::now();
        let mut ledger = Ledger::new(1, clock_at(t0));
        let p = path(1000, "192.0.2.20:69");
        let anchor = ledger.reserve(&p, t0, WAIT).unwrap();
        ledger.record(p, anchor.clone(), t0, WAIT);
        let later = t0 + WAIT;
        assert_eq!(ledger.renew(&p, later, WAIT), Some(anchor.as_str()));
        // Past the first deadline, the port is still held toward that server.
        let past_first = t0 + WAIT + MARGIN + Duration::from_millis(1);
        assert_eq!(ledger.reserve(&p, past_first, WAIT), Err(InUse));
        assert!(ledger
            .reserve(&p, later + WAIT + MARGIN + Duration::from_millis(1), WAIT)
            .is_ok());
        // A path not on record is not renewed.
        assert_eq!(
            ledger.renew(&path(1001, "192.0.2.20:69"), later, WAIT),
            None
        );
    }

    #[test]
    fn a_new_helper_learns_the_ports_a_killed_one_still_holds() {
        // The killed helper's reaper (pid 77) named its anchors at its
        // own time; the new helper (reaper 88) starts 1 s later.
        let t0 = Instant::now() + Duration::from_secs(60);
        let mut old = Ledger::new(77, clock_at(t0));
        let held = old.reserve(&path(1000, "192.0.2.20:69"), t0, WAIT).unwrap();
        // One of its anchors whose deadline passed 10 s ago, one of an
        // older helper (no port in the name), one not ours.
        let expired = "tftp-proxy/77.2.1002.4993000".to_owned();
        let names: Vec<String> = [held, expired, "77.9".to_owned(), "x".to_owned()]
            .iter()
            .map(|a| a.trim_start_matches("tftp-proxy/").to_owned())
            .collect();

        let t1 = t0 + Duration::from_secs(1);
        let mut new = Ledger::new(
            88,
            Clock {
                instant: t1,
                monotonic_ms: 5_001_000,
            },
        );
        assert_eq!(new.learn(&names, t1), 1, "only the live, named port");
        // Port 1000 is in use, toward any server, until the old deadline
        // (t0 + 3 s) and the margin have passed.
        assert_eq!(
            new.reserve(&path(1000, "192.0.2.99:69"), t1, WAIT),
            Err(InUse)
        );
        assert!(new.reserve(&path(1002, "192.0.2.20:69"), t1, WAIT).is_ok());
        let later = t0 + WAIT + MARGIN + MARGIN + Duration::from_millis(1);
        assert!(new
            .reserve(&path(1000, "192.0.2.20:69"), later, WAIT)
            .is_ok());
    }

    #[test]
    fn its_own_names_teach_nothing() {
        let now = Instant::now();
        let mut ledger = Ledger::new(77, clock_at(now));
        assert_eq!(ledger.learn(&["77.1.1000.9999999999".to_owned()], now), 0);
        assert!(ledger
            .reserve(&path(1000, "192.0.2.20:69"), now, WAIT)
            .is_ok());
    }

    #[test]
    fn the_clock_converts_both_ways() {
        let now = Instant::now();
        let clock = clock_at(now);
        assert_eq!(clock.ms(now), 5_000_000);
        assert_eq!(clock.ms(now + Duration::from_micros(1500)), 5_000_002);
        assert_eq!(clock.ms(now - Duration::from_secs(1)), 5_000_000);
        assert_eq!(clock.instant(5_002_000), now + Duration::from_secs(2));
        assert_eq!(clock.instant(4_000_000), now);
    }
}
