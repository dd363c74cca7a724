//! Where a request was going: the original destination the firewall
//! reports (asked for one wake-up's datagrams at once), a divert's own
//! destination, or, for a copy queued behind a request whose redirected
//! state was forgotten, the live transfer it repeats.
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
    /// Where each of one wake-up's datagrams was going, as the firewall
    /// tells, in their order: the firewall is asked about all of them at
    /// once ([`Firewall::original_destinations`]). On OpenBSD a diverted
    /// datagram (pf divert-to, see `divert::is_diverted`) still carries
    /// its original destination, so the firewall is not asked about it.
    pub(super) fn original_destinations(
        &mut self,
        arrivals: &[&Arrival],
    ) -> Vec<Result<Redirection, FirewallError>> {
        let mut found: Vec<Option<Result<Redirection, FirewallError>>> = Vec::new();
        let mut asked = Vec::new();
        for arrival in arrivals {
            let client = unmapped_addr(arrival.client);
            let local = unmapped_addr(arrival.local);
            // Only pf's divert-to delivers a datagram unchanged; elsewhere
            // an address that is not the firewall's is looked up like any
            // other.
            #[cfg(target_os = "openbsd")]
            if divert::is_diverted(local, self.bound, self.own.host()) {
                found.push(Some(Ok(Redirection {
                    client,
                    original_destination: local,
                })));
                continue;
            }
            found.push(None);
            asked.push((client, local));
        }
        let mut answers = self.firewall.original_destinations(&asked).into_iter();
        found
            .into_iter()
            .map(|f| {
                f.or_else(|| answers.next()).unwrap_or_else(|| {
                    Err(FirewallError::BadAnswer {
                        what: "looking up the original destinations",
                        detail: "fewer answers than datagrams".into(),
                    })
                })
            })
            .collect()
    }

    /// Where `request` was going, from the firewall's answer `found`, or
    /// how it ended (refused with an ERROR).
    pub(super) fn find_server(
        &mut self,
        arrival: &Arrival,
        request: &Dissected<'_>,
        found: Result<Redirection, FirewallError>,
    ) -> Result<Redirection, Disposition> {
        let client = arrival.client;
        let found = found.or_else(|e| {
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
}
