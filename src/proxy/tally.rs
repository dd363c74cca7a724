//! How each datagram ended, for the exit summary (`outcome.rs` counts).
//!
//! This file owns the count and that line; the exit summary's counts
//! are `outcome.rs`'s.

use super::{Outcome, Proxy};
use crate::firewall::Firewall;

/// How one datagram ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    Forwarded,
    Retransmitted,
    /// Refused, for this reason (a short name in the summary).
    Refused(&'static str),
    Failed,
}

/// Datagrams handled by one process, by how they ended.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub forwarded: usize,
    pub retransmitted: usize,
    pub refused: usize,
    pub failed: usize,
    /// Sends dropped because the socket could not take them at once.
    pub unsent: usize,
}

impl Tally {
    /// Datagrams counted, however they ended.
    pub fn handled(&self) -> usize {
        self.forwarded + self.retransmitted + self.refused + self.failed
    }

    /// Counts one datagram.
    pub fn count(&mut self, disposition: Disposition) {
        match disposition {
            Disposition::Forwarded => self.forwarded += 1,
            Disposition::Retransmitted => self.retransmitted += 1,
            Disposition::Refused(_) => self.refused += 1,
            Disposition::Failed => self.failed += 1,
        }
    }
}

impl<'a, F: Firewall> Proxy<'a, F> {
    /// The `-v` line that ends a process: why it ends and what it did.
    pub(super) fn log_tally(&mut self, outcome: Outcome) {
        let why = match outcome {
            Outcome::Idle => format!("exiting after {} s idle", self.settings.idle.as_secs_f64()),
            Outcome::Stopped => "exiting on a signal".to_owned(),
            Outcome::FirewallEnded { .. } => "exiting: the firewall backend ended".to_owned(),
        };
        let t = &self.tally;
        let mut line = format!(
            "{why}: {} forwarded, {} retransmitted, {} refused, {} failed",
            t.forwarded, t.retransmitted, t.refused, t.failed
        );
        if t.unsent > 0 {
            line.push_str(&format!(
                ", {} sends dropped (the socket could not take them at once)",
                t.unsent
            ));
        }
        self.log.info(line);
    }
}
