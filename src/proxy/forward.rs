//! Forwarding a new request: a fresh socket toward the server, the
//! return path installed for it, the request sent, and the transfer
//! recorded; or, when that fails, the reason logged and the client
//! answered.
//!
//! This file owns that sequence and [`ForwardError`].

use super::admission::BUSY_MESSAGE;
use super::arrival::Arrival;
use super::dissect::Dissected;
use super::tally::Disposition;
use super::transfers::Transfer;
use super::{Proxy, SourceAddresses};
use crate::firewall::{Firewall, FirewallError, Redirection, ReturnPath};
use crate::log::Level;
use crate::tftp::ErrorCode;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Instant, SystemTime};

/// The ERROR text of a request that could not be forwarded.
const CANNOT_FORWARD: &str = "proxy cannot forward the request";

/// How many times a return path is tried with a fresh proxy port when the
/// kernel reports the key in use.
const PORT_ATTEMPTS: usize = 4;

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Forwards `request` as a new transfer and records it; logs and
    /// answers the client when it cannot.
    pub(super) fn start_transfer(
        &mut self,
        redirection: &Redirection,
        arrival: &Arrival,
        request: &Dissected<'_>,
    ) -> Disposition {
        let (client, server) = (arrival.client, redirection.original_destination);
        let what = &request.what;
        match self.forward(redirection, request.outgoing()) {
            Ok((path, upstream, sent_at)) => {
                self.log_forwarded(&path, request);
                if self.settings.dry_run {
                    self.answer(
                        arrival,
                        ErrorCode::NotDefined,
                        "tftp-proxy dry run: not forwarded",
                    );
                } else {
                    let now = Instant::now();
                    self.transfers.insert(Transfer {
                        path,
                        client,
                        request: request.datagram.to_vec(),
                        upstream,
                        until: now + self.settings.transfer_wait,
                        last_sent: now,
                        last_sent_at: sent_at,
                        label: request.label.clone(),
                        retransmissions: 0,
                        interface: arrival.interface,
                    });
                }
                Disposition::Forwarded
            }
            Err(e) if e.is_busy() => {
                self.refuse(
                    arrival,
                    Level::Error,
                    format_args!("{client} -> {server} {what}: refused: {e}"),
                    Some((ErrorCode::NotDefined, BUSY_MESSAGE)),
                );
                Disposition::Refused("busy")
            }
            Err(e @ ForwardError::Send(_)) => {
                // The firewall's state of the request is gone: an ERROR
                // now would leave from the helper's own address, which the
                // phone ignores. Its next copy recreates the state and is
                // answered (unsent_copy).
                self.unsent.record(client, server, Instant::now());
                self.refuse(
                    arrival,
                    Level::Error,
                    format_args!(
                        "{client} -> {server} {what}: {e} (the ERROR answers the phone's next copy)"
                    ),
                    None,
                );
                Disposition::Failed
            }
            Err(e) => {
                self.refuse(
                    arrival,
                    Level::Error,
                    format_args!("{client} -> {server} {what}: {e}"),
                    Some((ErrorCode::NotDefined, CANNOT_FORWARD)),
                );
                Disposition::Failed
            }
        }
    }

    /// Answers a copy of a request whose forward failed after the
    /// firewall's state of it was forgotten (see `unsent.rs`): the copy
    /// recreated that state, so the ERROR now reaches the phone. `None`:
    /// no such failure is remembered.
    pub(super) fn unsent_copy(
        &mut self,
        redirection: &Redirection,
        arrival: &Arrival,
        request: &Dissected<'_>,
    ) -> Option<Disposition> {
        let (client, server) = (arrival.client, redirection.original_destination);
        if !self.unsent.take(client, server, Instant::now()) {
            return None;
        }
        self.refuse(
            arrival,
            Level::Error,
            format_args!(
                "{client} -> {server} {}: the last copy could not be sent, answered with an ERROR",
                request.what
            ),
            Some((ErrorCode::NotDefined, CANNOT_FORWARD)),
        );
        Some(Disposition::Failed)
    }

    /// Opens the socket toward the server, installs the return path and
    /// sends the request. Returns the installed path, the socket, and the
    /// real-time clock just before the send (a datagram the kernel queued
    /// before it was queued before the request left).
    fn forward(
        &mut self,
        redirection: &Redirection,
        datagram: &[u8],
    ) -> Result<(ReturnPath, UdpSocket, SystemTime), ForwardError> {
        let server = redirection.original_destination;
        // Sockets of refused attempts stay open until the loop ends so the
        // kernel cannot hand out the same port again.
        let mut held = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let upstream =
                open_upstream(server, &self.settings.source).map_err(ForwardError::Socket)?;
            let proxy = upstream.local_addr().map_err(ForwardError::Socket)?;
            let path = ReturnPath {
                client: redirection.client,
                proxy,
                server,
            };
            if self.settings.dry_run {
                return Ok((path, upstream, SystemTime::now()));
            }
            match self.firewall.open_return_path(&path, upstream.as_fd()) {
                Ok(()) => {}
                Err(FirewallError::PathInUse { .. }) => {
                    held.push(upstream);
                    continue;
                }
                Err(e) => return Err(ForwardError::Firewall(e)),
            }
            self.request_forwarded(redirection);
            let sent_at = SystemTime::now();
            if let Err(e) = upstream.send(datagram) {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    self.tally.unsent += 1;
                }
                let _ = self.firewall.close_return_path(&path);
                return Err(ForwardError::Send(e));
            }
            return Ok((path, upstream, sent_at));
        }
        Err(ForwardError::NoFreePort)
    }

    /// [`Firewall::request_forwarded`], a failure logged: servers answering
    /// from a new port do not need it, so the transfer goes on.
    pub(super) fn request_forwarded(&mut self, redirection: &Redirection) {
        if let Err(e) = self.firewall.request_forwarded(redirection) {
            self.log.warning(format_args!(
                "{} -> {}: {e} (a server answering from port 69 will not reach the client)",
                redirection.client, redirection.original_destination
            ));
        }
    }
}

/// Why a checked request could not be forwarded.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("opening a socket toward the server: {0}")]
    Socket(std::io::Error),
    #[error("{0}")]
    Firewall(FirewallError),
    #[error("sending the request to the server: {0}")]
    Send(std::io::Error),
    #[error("no free proxy port after {PORT_ATTEMPTS} attempts")]
    NoFreePort,
}

impl ForwardError {
    /// Whether the request failed for lack of room (a full map, no free
    /// descriptor), which the client hears as "busy".
    fn is_busy(&self) -> bool {
        match self {
            ForwardError::Firewall(FirewallError::Full { .. }) => true,
            ForwardError::Socket(e) => matches!(
                e.raw_os_error(),
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS)
            ),
            _ => false,
        }
    }
}

/// A socket connected to `server` from the `-a` address of its family (or
/// the kernel's choice) on a port the kernel picks.
fn open_upstream(server: SocketAddr, source: &SourceAddresses) -> std::io::Result<UdpSocket> {
    let from = source.bind_address(server);
    let socket = UdpSocket::bind(from).map_err(|e| {
        if from.ip().is_unspecified() {
            e
        } else {
            std::io::Error::new(e.kind(), format!("binding to -a {}: {e}", from.ip()))
        }
    })?;
    socket.connect(server)?;
    // Never wait on a send: one that would block fails and is counted.
    socket.set_nonblocking(true)?;
    Ok(socket)
}
