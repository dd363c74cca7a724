//! A request that repeats a live transfer's: sent again from that
//! transfer's socket once a client could have timed out, absorbed before
//! that (see [`super::transfers`]).
//!
//! This file owns that decision's sending and logging.

use super::arrival::Arrival;
use super::dissect::Dissected;
use super::tally::Disposition;
use super::Proxy;
use crate::firewall::{Firewall, Redirection};
use std::time::Instant;

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Handles `request` if it repeats a live transfer's request: sent
    /// again from that transfer's socket once a client could have timed
    /// out, absorbed before that. `None`: a new request.
    pub(super) fn retransmission(
        &mut self,
        redirection: &Redirection,
        arrival: &Arrival,
        request: &Dissected<'_>,
    ) -> Option<Disposition> {
        let (client, server) = (arrival.client, redirection.original_destination);
        let what = &request.what;
        let live = self
            .transfers
            .retransmission_of(client, server, request.datagram)?;
        let path = live.path;
        let now = Instant::now();
        let since = now.saturating_duration_since(live.last_sent);
        if !live.resend_due(now) {
            // Absorbed: the firewall's state of this copy is left alone.
            self.log.info(format_args!(
                "{} -> {} -> {} {what}: retransmission {} ms after the last send, not sent again",
                path.client,
                path.proxy,
                path.server,
                since.as_millis()
            ));
            return Some(Disposition::Retransmitted);
        }
        // Redirected again: forget that state too, before sending.
        self.request_forwarded(redirection);
        let live = self
            .transfers
            .retransmission_of(client, server, request.datagram)?;
        let sent = live.upstream.send(request.outgoing());
        if sent.is_ok() {
            live.last_sent = now;
        }
        Some(match sent {
            Ok(_) => {
                self.log.info(format_args!(
                    "{} -> {} -> {} {what}: retransmission, sent again",
                    path.client, path.proxy, path.server
                ));
                Disposition::Retransmitted
            }
            Err(e) => {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    self.tally.unsent += 1;
                }
                self.log.error(format_args!(
                    "{client} -> {server} {what}: sending the retransmission: {e}"
                ));
                Disposition::Failed
            }
        })
    }
}
