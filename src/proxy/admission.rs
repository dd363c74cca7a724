//! Whether a new request may become a transfer: the destination is not
//! the firewall itself, the policy lets it pass, and the client and the
//! process have room for one more.
//!
//! This file owns those refusals (logged, answered with an ERROR) and the
//! [`Busy`] reasons.

use super::arrival::Arrival;
use super::dissect::Dissected;
use super::tally::Disposition;
use super::Proxy;
use crate::firewall::{Firewall, Redirection};
use crate::log::Level;
use crate::policy::{check_destination, unmap, Refusal};
use crate::tftp::ErrorCode;
use std::net::{IpAddr, SocketAddr};

/// The ERROR text a client gets when the proxy cannot take its transfer now.
pub const BUSY_MESSAGE: &str = "proxy busy, try again later";

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Refuses `request` (logged, answered) if it may not become a new
    /// transfer now; `None`: it may.
    pub(super) fn refusal(
        &mut self,
        redirection: &Redirection,
        arrival: &Arrival,
        request: &Dissected<'_>,
    ) -> Option<Disposition> {
        let (client, server) = (arrival.client, redirection.original_destination);
        let what = &request.what;
        let refusal: Option<Refusal> = check_destination(server.ip(), self.own.host())
            .and_then(|()| {
                self.settings
                    .policy
                    .check(&request.request, unmap(client.ip()), unmap(server.ip()))
            })
            .err();
        if let Some(refusal) = refusal {
            self.refuse(
                arrival,
                Level::Notice,
                format_args!("{client} -> {server} {what}: refused: {refusal}"),
                Some((ErrorCode::AccessViolation, refusal.tftp_message())),
            );
            return Some(Disposition::Refused("not allowed"));
        }
        if let Some(busy) = self.busy(client) {
            self.refuse(
                arrival,
                Level::Warning,
                format_args!("{client} -> {server} {what}: refused: {busy}"),
                Some((ErrorCode::NotDefined, BUSY_MESSAGE)),
            );
            return Some(Disposition::Refused("busy"));
        }
        None
    }

    /// Why a new transfer for `client` cannot be taken now, if it cannot.
    fn busy(&self, client: SocketAddr) -> Option<Busy> {
        let max = self.settings.max_per_client;
        let held = self.transfers.count_for(client.ip());
        if held >= max {
            return Some(Busy::ClientCap {
                client: unmap(client.ip()),
                held,
                max,
            });
        }
        let live = self.transfers.len();
        if live >= self.settings.max_transfers {
            return Some(Busy::ProcessCap { live });
        }
        None
    }
}

/// Why a new transfer cannot be taken now.
#[derive(Debug, thiserror::Error)]
enum Busy {
    #[error("proxy busy: {client} holds {held} live transfers (--max-per-client {max})")]
    ClientCap {
        client: IpAddr,
        held: usize,
        max: usize,
    },
    #[error("proxy busy: {live} live transfers, as many as the open-file limit allows")]
    ProcessCap { live: usize },
}
