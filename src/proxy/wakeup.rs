//! One wake-up's datagrams through the flow together.
//!
//! The serve loop takes every datagram queued on the socket at once (up
//! to [`arrival::BATCH`](super::arrival::BATCH), one system call where
//! the platform has `recvmmsg`). They go through the stages together
//! where the firewall can be asked once for many: the first look at each
//! (`dissect.rs`); the lookups of all of them in one exchange
//! (`lookup.rs`); then, in arrival order, each one's checks (client,
//! unsent copy, retransmission, admission); the admitted requests wait
//! and are forwarded together (`forward.rs`: their return paths in one
//! transaction, the firewall's state of them forgotten in one exchange).
//! A datagram from a client address and port that a waiting request
//! came from is checked only after the waiting ones are forwarded: its
//! checks (a copy of a live transfer, a copy of an unsent request) read
//! what their forward records. Requests admitted earlier in the wake-up
//! count against the caps as live transfers do ([`Waiting`]).
//!
//! This file owns that order and [`Waiting`]; one datagram alone takes
//! the same path as a wake-up of one.

use super::arrival::Arrival;
use super::dissect::Dissected;
use super::forward::Admitted;
use super::tally::Disposition;
use super::Proxy;
use crate::firewall::{Firewall, FirewallError, Redirection};
use crate::policy::unmap;
use crate::tftp;
use std::net::{IpAddr, SocketAddr};

/// Requests of the current wake-up admitted and not yet forwarded.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Each one's client (as the socket saw it), server and arrival
    /// interface.
    admitted: Vec<(SocketAddr, SocketAddr, Option<u32>)>,
}

impl Waiting {
    /// How many wait.
    pub fn len(&self) -> usize {
        self.admitted.len()
    }

    /// How many go to servers of `server`'s family (one map).
    pub fn in_family_of(&self, server: SocketAddr) -> usize {
        self.admitted
            .iter()
            .filter(|(_, s, _)| s.is_ipv4() == server.is_ipv4())
            .count()
    }

    /// How many arrived on `interface`.
    pub fn on_interface(&self, interface: Option<u32>) -> usize {
        self.admitted
            .iter()
            .filter(|(_, _, i)| *i == interface)
            .count()
    }

    /// How many came from `client`'s address.
    pub fn for_client(&self, client: IpAddr) -> usize {
        self.admitted
            .iter()
            .filter(|(c, _, _)| c.ip() == client)
            .count()
    }

    /// Whether one came from `client` (address and port).
    fn holds(&self, client: SocketAddr) -> bool {
        self.admitted.iter().any(|(c, _, _)| *c == client)
    }
}

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Handles one wake-up's datagrams: `arrivals[i]`'s bytes start at
    /// `space[i * slot]`.
    pub(super) fn handle_wakeup(&mut self, arrivals: &[Arrival], space: &[u8], slot: usize) {
        let mut looked = Vec::with_capacity(arrivals.len());
        for (arrival, buffer) in arrivals.iter().zip(space.chunks(slot)) {
            let datagram = &buffer[..arrival.len.min(buffer.len())];
            let oversized = arrival.truncated || arrival.len > tftp::MAX_DATAGRAM;
            looked.push(self.dissect(arrival, datagram, oversized));
        }
        // After the first looks, which may have read the own addresses
        // again: the client checks' kept interface facts follow them.
        self.clients.next_wakeup(self.own.reads());
        let asked: Vec<&Arrival> = arrivals
            .iter()
            .zip(&looked)
            .filter(|(_, looked)| looked.is_ok())
            .map(|(arrival, _)| arrival)
            .collect();
        let mut found = self.original_destinations(&asked).into_iter();
        let mut admitted: Vec<Admitted<'_>> = Vec::new();
        for (arrival, looked) in arrivals.iter().zip(looked) {
            let request = match looked {
                Ok(request) => request,
                Err(disposition) => {
                    self.account(arrival, disposition);
                    continue;
                }
            };
            let found = found.next().unwrap_or_else(|| {
                Err(FirewallError::BadAnswer {
                    what: "looking up the original destinations",
                    detail: "fewer answers than datagrams".into(),
                })
            });
            if self.waiting.holds(arrival.client) {
                self.forward_waiting(&mut admitted);
            }
            match self.check(arrival, &request, found) {
                Ok(redirection) => {
                    self.waiting.admitted.push((
                        arrival.client,
                        redirection.original_destination,
                        arrival.interface,
                    ));
                    admitted.push(Admitted {
                        arrival: *arrival,
                        redirection,
                        request,
                    });
                }
                Err(disposition) => self.account(arrival, disposition),
            }
        }
        self.forward_waiting(&mut admitted);
    }

    /// Forwards the waiting requests together and counts how each ended.
    fn forward_waiting(&mut self, admitted: &mut Vec<Admitted<'_>>) {
        if admitted.is_empty() {
            return;
        }
        let dispositions = self.start_transfers(admitted);
        for (one, disposition) in admitted.iter().zip(dispositions) {
            self.account(&one.arrival, disposition);
        }
        admitted.clear();
        self.waiting.admitted.clear();
    }

    /// One request's checks in turn, from the firewall's answer about it:
    /// the server's address, the client, a copy of an unsent request, a
    /// retransmission, the admission of a new transfer. `Ok`: it may be
    /// forwarded as a new transfer, to this server.
    fn check(
        &mut self,
        arrival: &Arrival,
        request: &Dissected<'_>,
        found: Result<Redirection, FirewallError>,
    ) -> Result<Redirection, Disposition> {
        let redirection = self.find_server(arrival, request, found)?;
        if let Some(disposition) = self.check_client(&redirection, arrival, request) {
            return Err(disposition);
        }
        if let Some(disposition) = self.unsent_copy(&redirection, arrival, request) {
            return Err(disposition);
        }
        if let Some(disposition) = self.retransmission(&redirection, arrival, request) {
            return Err(disposition);
        }
        if let Some(disposition) = self.refusal(&redirection, arrival, request) {
            return Err(disposition);
        }
        Ok(redirection)
    }

    /// Counts how one datagram ended.
    fn account(&mut self, arrival: &Arrival, disposition: Disposition) {
        self.tally.count(disposition);
        self.summary.request(unmap(arrival.client.ip()));
        match disposition {
            Disposition::Forwarded => self.summary.forwarded(),
            Disposition::Retransmitted => self.summary.retransmission(),
            Disposition::Refused(reason) => self.summary.refused(reason),
            Disposition::Failed => self.summary.failed(),
        }
    }
}
