//! Stopping on a signal (a service stop or restart, a shutdown) without
//! costing a transfer: the helper stops reading and exits, and every live
//! return path is left to expire on its own at its time (nftables element
//! timeouts; pf's reaper keeps each anchor's deadline after the helper is
//! gone). The server's answers keep reaching the phones meanwhile. Only
//! `--remove-on-exit` removes them at once.
//!
//! This file owns that choice and the line that says what was left.

use super::transfers::Transfer;
use super::Proxy;
use crate::firewall::Firewall;
use std::time::Instant;

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Leaves (or, with `--remove-on-exit`, removes) the live return
    /// paths, and says which in one line.
    pub(super) fn stop(&mut self) {
        let live = self.transfers.paths_held();
        if live == 0 {
            self.log
                .notice("stopped by signal; no return path was live");
            return;
        }
        if self.settings.remove_on_exit {
            let removed = self.close_all();
            self.log.notice(format_args!(
                "stopped by signal; {removed} of {live} live return paths removed (--remove-on-exit)"
            ));
            return;
        }
        let last = self.transfers.last_until().map_or(0.0, |until| {
            until
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
        });
        self.log.notice(format_args!(
            "stopped by signal; {live} live return paths left to expire on their own, the last in {last:.1} s (--remove-on-exit removes them at once)"
        ));
    }

    /// Removes every return path this process installed; returns how many
    /// went.
    fn close_all(&mut self) -> usize {
        let mut removed = 0;
        for Transfer { path, settled, .. } in self.transfers.drain() {
            if settled {
                // Removed already, once its answer came.
                continue;
            }
            match self.firewall.close_return_path(&path) {
                Ok(()) => removed += 1,
                Err(e) => self.log.error(format_args!(
                    "removing return path {} -> {}: {e}",
                    path.server, path.client
                )),
            }
        }
        removed
    }
}
