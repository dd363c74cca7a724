//! Whether a new request may become a transfer: the client is where its
//! request came from, the destination is not the firewall itself, the
//! policy lets it pass, and the client, its interface, the map and the
//! process have room for one more.
//!
//! This file owns those refusals (logged, answered with an ERROR) and the
//! [`Busy`] reasons.

use super::arrival::Arrival;
use super::dissect::Dissected;
use super::tally::Disposition;
use super::Proxy;
use crate::firewall::{Firewall, Redirection, ReturnPath, STATE_IDLE_LIMIT};
use crate::log::Level;
use crate::policy::{check_destination, unmap, Refusal};
use crate::tftp::ErrorCode;
use std::net::{IpAddr, SocketAddr};

/// The ERROR text a client gets when the proxy cannot take its transfer now.
pub const BUSY_MESSAGE: &str = "proxy busy, try again later";

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Refuses `request` if its client failed the client checks (see
    /// [`super::client_check`]): logged, and answered only where the
    /// address is the sender's own (an answer to a forged source would go
    /// to its victim). `None`: the client may be served.
    pub(super) fn check_client(
        &mut self,
        redirection: &Redirection,
        arrival: &Arrival,
        request: &Dissected<'_>,
    ) -> Option<Disposition> {
        let e = self
            .clients
            .check(
                redirection.client.ip(),
                arrival.interface,
                arrival.local.ip(),
                self.own.host(),
            )
            .err()?;
        let (client, server) = (arrival.client, redirection.original_destination);
        let what = &request.what;
        let reply = e
            .refusal()
            .filter(|r| r.answerable())
            .map(|r| (ErrorCode::AccessViolation, r.tftp_message()));
        self.refuse(
            arrival,
            Level::Warning,
            format_args!("{client} -> {server} {what}: refused: {e}"),
            reply,
        );
        Some(Disposition::Refused("client"))
    }

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
        if let Some(busy) = self.busy(client, server, arrival.interface) {
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

    /// Why a new transfer for `client` to `server`, asked for on
    /// `interface`, cannot be taken now, if it cannot: known from the
    /// helper's own count of live return paths, without asking the kernel
    /// to fail.
    fn busy(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        interface: Option<u32>,
    ) -> Option<Busy> {
        let busy = self.busy_now(client, server, interface);
        match busy {
            Some(Busy::ProcessCap { .. }) | None => busy,
            // Paths answered since the last read give their places back.
            Some(_) if self.settle_before_refusing() => self.busy_now(client, server, interface),
            Some(_) => busy,
        }
    }

    /// [`Proxy::busy`] by the counts as they stand.
    fn busy_now(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        interface: Option<u32>,
    ) -> Option<Busy> {
        let probe = ReturnPath {
            client,
            proxy: client,
            server,
            idle_limit: STATE_IDLE_LIMIT,
        };
        // Requests of this wake-up admitted before this one hold their
        // places too, though their paths are not installed yet.
        let waiting = &self.waiting;
        if let Some(limit) = self.firewall.capacity(&probe) {
            let held = self.transfers.count_in_family_of(server) + waiting.in_family_of(server);
            if held >= limit {
                return Some(Busy::MapFull { held, limit });
            }
            let share = interface_share(limit);
            let on_interface =
                self.transfers.count_on_interface(interface) + waiting.on_interface(interface);
            if let (Some(index), true) = (interface, on_interface >= share) {
                return Some(Busy::InterfaceShare {
                    interface: interface_label(index),
                    held: on_interface,
                    share,
                    limit,
                });
            }
        }
        let max = self.settings.max_per_client;
        let held = self.transfers.count_for(client.ip()) + self.waiting.for_client(client.ip());
        if held >= max {
            return Some(Busy::ClientCap {
                client: unmap(client.ip()),
                held,
                max,
            });
        }
        let live = self.transfers.len() + self.waiting.len();
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
    #[error(
        "proxy busy: the return-path map is full ({held} live return paths, its size is {limit})"
    )]
    MapFull { held: usize, limit: usize },
    #[error("proxy busy: clients on {interface} hold {held} live return paths, their share of the map (size {limit}) is {share}")]
    InterfaceShare {
        interface: String,
        held: usize,
        share: usize,
        limit: usize,
    },
}

/// How many of a map's `limit` return paths the clients of one interface
/// may hold: three quarters. Addresses on one network are free for any
/// host there to take (IPv4 by ARP, IPv6 by SLAAC privacy addresses), so
/// no cap per address or prefix can tell one host with many addresses
/// from many phones; the interface is what a host cannot choose (the
/// client check holds every client to its arrival interface), so a flood
/// from one network leaves the last quarter to the others.
fn interface_share(limit: usize) -> usize {
    limit - limit / 4
}

/// An interface's name for the log.
fn interface_label(index: u32) -> String {
    #[cfg(target_os = "linux")]
    return crate::route::interface_name(index);
    #[cfg(not(target_os = "linux"))]
    return format!("interface {index}");
}
