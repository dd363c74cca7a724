//! The end of a transfer's wait: its return path removed once its outcome
//! is read, and its port kept while filter state of the server's answers
//! still points at it (see [`super::held`]).
//!
//! This file owns those steps of the serve loop; the bookkeeping is in
//! `held.rs`, the kernel's answers come through [`Firewall`].

use super::held::Verdict;
use super::Proxy;
use crate::firewall::{Firewall, ReturnPath};
use std::net::UdpSocket;
use std::time::Instant;

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Removes return paths whose outcome was read (their wait over, or
    /// their answer passed, see `settle.rs`), while their elements still live (they outlive the wait by
    /// [`super::OUTCOME_GRACE`]), so the map's count drops now: an element
    /// left to expire stays counted against the map's size until the
    /// kernel's garbage collector takes it (`nft_add_set_elem()` compares
    /// the set's element count with its size, net/netfilter/nf_tables_api.c;
    /// `nft_rhash_gc()`, net/netfilter/nft_set_hash.c, collects expired
    /// elements only when its delayed work runs, through a GC transaction
    /// that a concurrent commit makes start over). Failures are logged;
    /// the elements expire anyway.
    pub(super) fn remove_paths(&mut self, paths: &[ReturnPath]) {
        for path in paths {
            if let Err(e) = self.firewall.close_return_path(path) {
                self.log.warning(format_args!(
                    "removing return path {} -> {} -> {}: {e} (it expires by itself)",
                    path.server, path.proxy, path.client
                ));
            }
        }
    }

    /// Keeps a finished transfer's port (its socket) while filter state of
    /// the server's answers still points at it; otherwise closes it.
    pub(super) fn hold_port(&mut self, path: ReturnPath, upstream: UdpSocket, now: Instant) {
        match self.firewall.state_left(&path) {
            Ok(Some(_)) => self.held.hold(path, upstream, now),
            Ok(None) => {}
            Err(e) => self.log.warning(format_args!(
                "{} -> {}: {e}; port {} released",
                path.proxy,
                path.server,
                path.proxy.port()
            )),
        }
    }

    /// Looks again at the held ports that are due: a port is let go once
    /// no state points at it, or once that state has gone idle (deleted
    /// first).
    pub(super) fn recheck_held(&mut self, now: Instant) {
        for taken in self.held.due(now) {
            let path = taken.path;
            let left = match self.firewall.state_left(&path) {
                Ok(left) => left,
                Err(e) => {
                    self.log.warning(format_args!(
                        "{} -> {}: {e}; port {} released",
                        path.proxy,
                        path.server,
                        path.proxy.port()
                    ));
                    None
                }
            };
            if let (Verdict::Clear, _) = self.held.judge(taken, left, now) {
                if let Err(e) = self.firewall.clear_state(&path) {
                    self.log.warning(format_args!(
                        "{} -> {}: {e} (port {} released; the entry times out by itself)",
                        path.server,
                        path.proxy,
                        path.proxy.port()
                    ));
                }
            }
        }
    }
}
