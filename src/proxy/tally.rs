//! How each datagram ended, counted for the summary line logged with `-v`.
//!
//! This file owns the count; it never logs.

/// How one datagram ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    Forwarded,
    Retransmitted,
    Refused,
    Failed,
}

/// Datagrams handled by one process, by how they ended.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub forwarded: usize,
    pub retransmitted: usize,
    pub refused: usize,
    pub failed: usize,
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
            Disposition::Refused => self.refused += 1,
            Disposition::Failed => self.failed += 1,
        }
    }
}
