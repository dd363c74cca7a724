//! The backend's own record of the return paths it installed: which anchor
//! holds each, and until when it may still match.
//!
//! It owns anchor numbering and the "path in use" decision: a proxy port
//! the kernel hands out again while an earlier path from the same server
//! to that port may still match would send the new transfer's answers to
//! the old client. Pure code with the clock passed in; it must not touch
//! the kernel.
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

/// The installed paths of this process.
#[derive(Debug)]
pub struct Ledger {
    owner: u32,
    next: u64,
    live: Vec<Entry>,
}

/// A path whose proxy port and server match a live one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse;

impl Ledger {
    /// An empty ledger for anchors named after `owner` (the reaper's pid).
    pub fn new(owner: u32) -> Self {
        Ledger {
            owner,
            next: 1,
            live: Vec::new(),
        }
    }

    /// The anchor for a new path, or [`InUse`] if a live path already
    /// covers the same proxy address and port and the same server. Paths
    /// past their time are forgotten first.
    pub fn reserve(&mut self, path: &ReturnPath, now: Instant) -> Result<String, InUse> {
        self.live.retain(|entry| entry.until > now);
        if self.live.iter().any(|entry| {
            entry.path.proxy == path.proxy && entry.path.server.ip() == path.server.ip()
        }) {
            return Err(InUse);
        }
        let name = anchor::path(self.owner, self.next);
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

    fn path(proxy_port: u16, server: &str) -> ReturnPath {
        ReturnPath {
            client: "198.51.100.2:50232".parse().unwrap(),
            proxy: format!("203.0.113.1:{proxy_port}").parse().unwrap(),
            server: server.parse().unwrap(),
        }
    }

    #[test]
    fn anchors_are_numbered_per_owner() {
        let mut ledger = Ledger::new(77);
        let now = Instant::now();
        assert_eq!(
            ledger.reserve(&path(1000, "192.0.2.20:69"), now).unwrap(),
            "tftp-proxy/77.1"
        );
        assert_eq!(
            ledger.reserve(&path(1001, "192.0.2.20:69"), now).unwrap(),
            "tftp-proxy/77.2"
        );
    }

    #[test]
    fn same_proxy_port_and_server_is_in_use_until_expiry() {
        let wait = Duration::from_secs(2);
        let mut ledger = Ledger::new(77);
        let t0 = Instant::now();
        let first = path(1000, "192.0.2.20:69");
        let anchor = ledger.reserve(&first, t0).unwrap();
        ledger.record(first, anchor, t0, wait);

        let again = path(1000, "192.0.2.20:69");
        assert_eq!(ledger.reserve(&again, t0 + wait), Err(InUse));
        // Another server, or another port: no conflict.
        assert!(ledger.reserve(&path(1000, "192.0.2.21:69"), t0).is_ok());
        assert!(ledger.reserve(&path(1001, "192.0.2.20:69"), t0).is_ok());
        // Past the wait and the margin the old path is gone.
        assert!(ledger
            .reserve(&again, t0 + wait + MARGIN + Duration::from_millis(1))
            .is_ok());
        assert_eq!(ledger.len(), 0);
    }

    #[test]
    fn take_removes_one_path() {
        let mut ledger = Ledger::new(1);
        let now = Instant::now();
        let p = path(1000, "192.0.2.20:69");
        let anchor = ledger.reserve(&p, now).unwrap();
        ledger.record(p, anchor.clone(), now, Duration::from_secs(2));
        assert_eq!(ledger.take(&p).map(|e| e.anchor), Some(anchor));
        assert_eq!(ledger.take(&p), None);
        assert!(ledger.reserve(&p, now).is_ok());
    }
}
