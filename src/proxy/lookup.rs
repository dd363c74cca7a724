//! Where a request was going: the original destination the firewall
//! reports, a divert's own destination, or, for a copy queued behind a
//! request whose redirected state was forgotten, the live transfer it
//! repeats.
//!
//! This file owns that lookup and its fallback; the refusal when no
//! answer is found names the firewall's reason.

use super::arrival::Arrival;
use super::dissect::Dissected;
#[cfg(target_os = "openbsd")]
use super::divert;
use super::tally::Disposition;
use super::{unmapped_addr, Proxy};
use crate::firewall::{Firewall, FirewallError, Redirection};
use crate::log::Level;
use crate::tftp::ErrorCode;

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Where `request` was going, or how it ended (refused with an ERROR).
    pub(super) fn find_server(
        &mut self,
        arrival: &Arrival,
        request: &Dissected<'_>,
    ) -> Result<Redirection, Disposition> {
        let client = arrival.client;
        let found = self.original_destination(arrival).or_else(|e| {
            // A copy queued behind a request whose state was forgotten, or
            // another request queued from the same port (RRQ, then WRQ).
            let repeated = self
                .transfers
                .repeated_by(client, request.datagram)
                .or_else(|| self.transfers.latest_from(client));
            match (&e, repeated) {
                (FirewallError::NoRedirect { .. }, Some(live)) => Ok(Redirection {
                    client: live.path.client,
                    original_destination: live.path.server,
                }),
                _ => Err(e),
            }
        });
        found.map_err(|e| {
            self.refuse(
                arrival,
                Level::Error,
                format_args!("{client}: {}: {e}", request.what),
                Some((ErrorCode::NotDefined, "proxy cannot find the server")),
            );
            Disposition::Failed
        })
    }

    /// Where the datagram was going. On OpenBSD a diverted datagram (pf
    /// divert-to, see `divert::is_diverted`) still carries its original
    /// destination, so the firewall need not be asked.
    fn original_destination(&mut self, arrival: &Arrival) -> Result<Redirection, FirewallError> {
        let client = unmapped_addr(arrival.client);
        let local = unmapped_addr(arrival.local);
        // Only pf's divert-to delivers a datagram unchanged; elsewhere an
        // address that is not the firewall's is looked up like any other.
        #[cfg(target_os = "openbsd")]
        if divert::is_diverted(local, self.bound, self.own.host()) {
            return Ok(Redirection {
                client,
                original_destination: local,
            });
        }
        self.firewall.original_destination(client, local)
    }
}
