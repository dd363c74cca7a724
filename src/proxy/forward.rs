//! Forwarding the new requests of one wake-up: a fresh socket toward
//! each one's server, their return paths installed together, the
//! firewall told they are the helper's now, each request sent, and each
//! transfer recorded; or, for a request where that fails, the reason
//! logged and the client answered. A failure is the request's own: the
//! others go on.
//!
//! This file owns that sequence and [`ForwardError`].

use super::admission::BUSY_MESSAGE;
use super::arrival::Arrival;
use super::dissect::Dissected;
use super::tally::Disposition;
use super::transfers::Transfer;
use super::{Proxy, SourceAddresses};
use crate::firewall::{state_idle_limit, Firewall, FirewallError, Redirection, ReturnPath};
use crate::log::Level;
use crate::tftp::ErrorCode;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant, SystemTime};

/// The ERROR text of a request that could not be forwarded.
const CANNOT_FORWARD: &str = "proxy cannot forward the request";

/// How many times a return path is tried with a fresh proxy port when the
/// kernel reports the key in use.
const PORT_ATTEMPTS: usize = 4;

/// A request that passed every check, waiting for its wake-up's forward.
pub(super) struct Admitted<'d> {
    /// How it arrived.
    pub arrival: Arrival,
    /// Where it was going.
    pub redirection: Redirection,
    /// The request.
    pub request: Dissected<'d>,
}

/// A request's forward: the installed path, its socket and the real-time
/// clock just before the send (a datagram the kernel queued before it was
/// queued before the request left).
type Forwarded = (ReturnPath, UdpSocket, SystemTime);

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Forwards every admitted request as a new transfer and records it;
    /// logs and answers the client of each that cannot be. Returns how
    /// each ended, in their order.
    pub(super) fn start_transfers(&mut self, admitted: &[Admitted<'_>]) -> Vec<Disposition> {
        let forwarded = self.forward(admitted);
        admitted
            .iter()
            .zip(forwarded)
            .map(|(one, result)| self.report_forward(one, result))
            .collect()
    }

    /// Logs, records and answers one request's forward.
    fn report_forward(
        &mut self,
        admitted: &Admitted<'_>,
        result: Result<Forwarded, ForwardError>,
    ) -> Disposition {
        let Admitted {
            arrival,
            redirection,
            request,
        } = admitted;
        let (client, server) = (arrival.client, redirection.original_destination);
        let what = &request.what;
        match result {
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
                    self.live_read.1 = true;
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
                        settled: false,
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

    /// Opens a socket toward each request's server and installs all their
    /// return paths at once ([`Firewall::open_return_paths`]); a path
    /// whose key is in use is tried again with a fresh port. Then tells
    /// the firewall the installed requests are the helper's now
    /// ([`Firewall::requests_forwarded`], all at once) and sends each.
    fn forward(&mut self, admitted: &[Admitted<'_>]) -> Vec<Result<Forwarded, ForwardError>> {
        let mut results: Vec<Option<Result<Forwarded, ForwardError>>> =
            admitted.iter().map(|_| None).collect();
        // Sockets of refused attempts stay open until the forward ends so
        // the kernel cannot hand out the same port again.
        let mut held = Vec::new();
        let mut todo: Vec<usize> = (0..admitted.len()).collect();
        for _ in 0..PORT_ATTEMPTS {
            if todo.is_empty() {
                break;
            }
            let mut opened = Vec::new();
            for i in std::mem::take(&mut todo) {
                let Admitted {
                    redirection,
                    request,
                    ..
                } = &admitted[i];
                let idle_limit = state_idle_limit(request.request.retransmission_timeout());
                match open_path(redirection, idle_limit, &self.settings.source) {
                    Ok((path, upstream)) => opened.push((i, path, upstream)),
                    Err(e) => results[i] = Some(Err(ForwardError::Socket(e))),
                }
            }
            if self.settings.dry_run {
                for (i, path, upstream) in opened {
                    results[i] = Some(Ok((path, upstream, SystemTime::now())));
                }
                return settled(results);
            }
            let paths: Vec<(ReturnPath, BorrowedFd<'_>)> = opened
                .iter()
                .map(|(_, path, upstream)| (*path, upstream.as_fd()))
                .collect();
            let installed = self.firewall.open_return_paths(&paths);
            drop(paths);
            for ((i, path, upstream), result) in opened.into_iter().zip(installed) {
                match result {
                    // Its send time is set when it is sent, below.
                    Ok(()) => results[i] = Some(Ok((path, upstream, SystemTime::UNIX_EPOCH))),
                    Err(FirewallError::PathInUse { .. }) => {
                        held.push(upstream);
                        todo.push(i);
                    }
                    Err(e) => results[i] = Some(Err(ForwardError::Firewall(e))),
                }
            }
        }
        for i in todo {
            results[i] = Some(Err(ForwardError::NoFreePort));
        }
        let ready: Vec<usize> = (0..admitted.len())
            .filter(|&i| matches!(results[i], Some(Ok(_))))
            .collect();
        let redirections: Vec<Redirection> =
            ready.iter().map(|&i| admitted[i].redirection).collect();
        self.requests_forwarded(&redirections);
        for i in ready {
            let Some(Ok((path, upstream, _))) = results[i].take() else {
                continue;
            };
            let sent_at = SystemTime::now();
            results[i] = Some(match upstream.send(admitted[i].request.outgoing()) {
                Ok(_) => Ok((path, upstream, sent_at)),
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::WouldBlock {
                        self.tally.unsent += 1;
                    }
                    let _ = self.firewall.close_return_path(&path);
                    Err(ForwardError::Send(e))
                }
            });
        }
        settled(results)
    }

    /// [`Firewall::requests_forwarded`], each failure logged: servers
    /// answering from a new port do not need it, so the transfer goes on.
    pub(super) fn requests_forwarded(&mut self, redirections: &[Redirection]) {
        if redirections.is_empty() {
            return;
        }
        let told = self.firewall.requests_forwarded(redirections);
        for (redirection, result) in redirections.iter().zip(told) {
            if let Err(e) = result {
                self.log.warning(format_args!(
                    "{} -> {}: {e} (a server answering from port 69 will not reach the client)",
                    redirection.client, redirection.original_destination
                ));
            }
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

/// Each request's forward; one left unsettled (none should be) had no
/// port to use.
fn settled(
    results: Vec<Option<Result<Forwarded, ForwardError>>>,
) -> Vec<Result<Forwarded, ForwardError>> {
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(ForwardError::NoFreePort)))
        .collect()
}

/// A socket toward the request's server and the return path it needs,
/// whose answers' state counts as over after `idle_limit` without a packet.
fn open_path(
    redirection: &Redirection,
    idle_limit: Duration,
    source: &SourceAddresses,
) -> std::io::Result<(ReturnPath, UdpSocket)> {
    let server = redirection.original_destination;
    let upstream = open_upstream(server, source)?;
    let proxy = upstream.local_addr()?;
    let path = ReturnPath {
        client: redirection.client,
        proxy,
        server,
        idle_limit,
    };
    Ok((path, upstream))
}

/// A socket connected to `server` from the `-a` address of its family (or
/// the kernel's choice) on a port the kernel picks.
fn open_upstream(server: SocketAddr, source: &SourceAddresses) -> std::io::Result<UdpSocket> {
    let from = source.bind_address(server);
    let socket = bind_nonblocking(from).map_err(|e| {
        if from.ip().is_unspecified() {
            e
        } else {
            std::io::Error::new(e.kind(), format!("binding to -a {}: {e}", from.ip()))
        }
    })?;
    socket.connect(server)?;
    Ok(socket)
}

/// A UDP socket bound to `from`, non-blocking from its creation (never
/// wait on a send: one that would block fails and is counted), which
/// saves the `ioctl` a later `set_nonblocking` costs every request.
fn bind_nonblocking(from: SocketAddr) -> std::io::Result<UdpSocket> {
    use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
    use std::os::fd::AsRawFd;
    let family = match from {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket(family, SockType::Datagram, flags, None)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(from))?;
    Ok(UdpSocket::from(fd))
}
