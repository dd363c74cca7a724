//! The request flow, written once for every firewall backend.
//!
//! This module owns what happens to each datagram inetd's socket holds:
//! dissect it, ask the firewall where it was going, apply the policy, open
//! a socket toward the server, install the return path, forward the request
//! (unchanged, or with its blksize lowered by `--max-blksize`), and log
//! one line. It talks to the packet filter only through
//! [`Firewall`].
//!
//! The process lives until the socket has been idle for `--idle` seconds
//! and no forwarded request's return path can still be used: inetd does
//! not watch the socket meanwhile, so this loop is the listener, and
//! process starts scale with idle gaps, not with requests. It never sleeps
//! while a request waits: it polls the socket. Each forwarded request's
//! socket toward the server is kept for the transfer wait
//! ([`transfers`]), so a retransmitted request leaves from the same port
//! (or, repeated at once, is not sent twice) and the server sees one
//! transfer.

pub mod arrival;
mod divert;
mod host;
mod refuse;
mod source;
mod transfers;

pub use host::local_host;
pub use refuse::refuse_until_idle;
pub use source::{SourceAddresses, SourceError};

use crate::firewall::{Firewall, FirewallError, Redirection, ReturnPath};
use crate::log::{Level, Log};
use crate::policy::{check_destination, unmap, Host, Policy, Refusal};
use crate::tftp::{self, ErrorCode, Request};
use arrival::Arrival;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use transfers::{Transfer, Transfers};

/// The longest the loop waits on the socket before it looks at the stop
/// flag and the clock again (a signal may not interrupt the wait).
const MAX_POLL: Duration = Duration::from_millis(500);

/// How soon the loop comes back while log lines wait for syslog.
const PENDING_LOG_POLL: Duration = Duration::from_millis(20);

/// How often the log's housekeeping runs (summaries of suppressed lines,
/// the count of dropped ones).
const TICK: Duration = Duration::from_millis(500);

/// Everything the flow needs to know besides the datagrams.
#[derive(Debug)]
pub struct Settings {
    /// What may pass.
    pub policy: Policy,
    /// The firewall's own addresses (no loops).
    pub host: Host,
    /// `-n`: log what would be installed, install and forward nothing.
    pub dry_run: bool,
    /// `--idle`: how long the socket may stay empty before the helper exits.
    pub idle: Duration,
    /// `-w`: how long a return path (and so its upstream socket) lives.
    pub transfer_wait: Duration,
    /// `--max-per-client`: live return paths one client address may hold.
    pub max_per_client: usize,
    /// Live transfers the process can hold at all (its open-file limit).
    pub max_transfers: usize,
    /// `--strict-requests`: refuse requests with any RFC irregularity.
    pub strict_requests: bool,
    /// `--max-blksize`: lower a larger requested blksize to this.
    pub max_blksize: Option<u16>,
    /// `-a`: where requests to servers leave from.
    pub source: SourceAddresses,
}

/// How the serving of the socket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The socket stayed empty for the idle time and no return path
    /// could still be used.
    Idle,
    /// A termination signal arrived; installed return paths were removed.
    Stopped,
}

/// How one datagram ended, for the tally logged with `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Forwarded,
    Retransmitted,
    Refused,
    Failed,
}

/// Datagrams handled by one process, by how they ended.
#[derive(Debug, Default)]
struct Tally {
    forwarded: usize,
    retransmitted: usize,
    refused: usize,
    failed: usize,
}

impl Tally {
    fn count(&mut self, disposition: Disposition) {
        match disposition {
            Disposition::Forwarded => self.forwarded += 1,
            Disposition::Retransmitted => self.retransmitted += 1,
            Disposition::Refused => self.refused += 1,
            Disposition::Failed => self.failed += 1,
        }
    }
}

/// How many times a return path is tried with a fresh proxy port when the
/// kernel reports the key in use.
const PORT_ATTEMPTS: usize = 4;

/// The helper's state while it serves one inherited socket.
pub struct Proxy<'a, F: Firewall> {
    firewall: &'a mut F,
    log: &'a mut Log,
    settings: &'a Settings,
    socket: BorrowedFd<'a>,
    bound: SocketAddr,
    transfers: Transfers<UdpSocket>,
}

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Serves `socket` (bound at `bound`, prepared with [`arrival::prepare`]).
    pub fn new(
        firewall: &'a mut F,
        log: &'a mut Log,
        settings: &'a Settings,
        socket: BorrowedFd<'a>,
        bound: SocketAddr,
    ) -> Self {
        Proxy {
            firewall,
            log,
            settings,
            socket,
            bound,
            transfers: Transfers::default(),
        }
    }

    /// Handles every datagram arriving on the socket until it has been
    /// idle for [`Settings::idle`] and no transfer is live, then returns.
    /// `stop` is raised by a termination signal.
    pub fn serve(&mut self, stop: &AtomicBool) -> std::io::Result<Outcome> {
        let mut buf = vec![0u8; tftp::MAX_DATAGRAM + 1];
        let mut tally = Tally::default();
        let mut last_arrival = Instant::now();
        let mut next_tick = last_arrival + TICK;
        let outcome = loop {
            if stop.load(Ordering::Relaxed) {
                self.close_all();
                break Outcome::Stopped;
            }
            let now = Instant::now();
            for transfer in self.transfers.expire(now) {
                self.log_unanswered(&transfer);
            }
            if now >= next_tick {
                // Also in a flood that never lets the socket empty.
                self.log.tick();
                next_tick = now + TICK;
            } else if self.log.has_pending() {
                self.log.flush();
            }
            let Some(arrival) = arrival::receive(self.socket, &mut buf, self.bound)? else {
                let exit_at = self.exit_time(last_arrival);
                if now >= exit_at {
                    break Outcome::Idle;
                }
                let poll = if self.log.has_pending() {
                    PENDING_LOG_POLL
                } else {
                    MAX_POLL
                };
                arrival::wait(self.socket, (exit_at - now).min(poll))?;
                continue;
            };
            last_arrival = now;
            let datagram = &buf[..arrival.len];
            let oversized = arrival.truncated || arrival.len > tftp::MAX_DATAGRAM;
            tally.count(self.handle(&arrival, datagram, oversized));
        };
        if self.log.verbose {
            self.log.info(format_args!(
                "exiting after {} s idle: {} forwarded, {} retransmitted, {} refused, {} failed",
                self.settings.idle.as_secs_f64(),
                tally.forwarded,
                tally.retransmitted,
                tally.refused,
                tally.failed
            ));
        }
        Ok(outcome)
    }

    /// A transfer whose wait is over, logged if its server answered the
    /// request with an ICMP error (no TFTP server there, host unreachable):
    /// the kernel left it on the upstream socket, so this costs one
    /// `getsockopt` per transfer. Other unused return paths leave no trace
    /// the helper can read cheaply (see doc/troubleshooting.md).
    fn log_unanswered(&mut self, transfer: &Transfer<UdpSocket>) {
        if let Ok(Some(e)) = transfer.upstream.take_error() {
            let path = &transfer.path;
            self.log.warning(format_args!(
                "{} -> {} -> {}: no answer, the server's side reported: {e}; the return path expired unused",
                path.client, path.proxy, path.server
            ));
        }
    }

    /// When the helper may exit: the socket idle long enough, and every
    /// upstream socket past its transfer wait.
    fn exit_time(&self, last_arrival: Instant) -> Instant {
        let idle_end = last_arrival + self.settings.idle;
        self.transfers
            .last_until()
            .map_or(idle_end, |until| until.max(idle_end))
    }

    fn handle(&mut self, arrival: &Arrival, datagram: &[u8], oversized: bool) -> Disposition {
        let client = arrival.client;
        if oversized {
            self.log.refusal(
                client.ip(),
                Level::Warning,
                format_args!(
                    "{client}: datagram longer than {} bytes, dropped",
                    tftp::MAX_DATAGRAM
                ),
            );
            self.answer(arrival, ErrorCode::IllegalOperation, "datagram too long");
            return Disposition::Refused;
        }
        if is_own_socket(client, self.bound, &self.settings.host) {
            // Never answered: an answer would go back to this socket.
            self.log.refusal(
                client.ip(),
                Level::Warning,
                format_args!(
                    "{client}: datagram from the helper's own address and port, dropped (a loop)"
                ),
            );
            return Disposition::Refused;
        }
        let parsed = Request::parse(datagram).and_then(|r| {
            if self.settings.strict_requests {
                r.check_strict()?;
            }
            Ok(r)
        });
        let request = match parsed {
            Ok(r) => r,
            Err(e) => {
                self.log.refusal(
                    client.ip(),
                    Level::Warning,
                    format_args!("{client}: refused: {e}"),
                );
                // Never answer an ERROR with an ERROR.
                if tftp::Opcode::of(datagram) != Some(tftp::Opcode::Error) {
                    self.answer(arrival, ErrorCode::IllegalOperation, &e.to_string());
                }
                return Disposition::Refused;
            }
        };
        let what = format!("{} {}", request.kind(), tftp::quoted(request.filename()));
        let lowered = self
            .settings
            .max_blksize
            .and_then(|max| request.lowered_blksize(max));
        let outgoing = lowered.as_ref().map_or(datagram, |l| &l.bytes[..]);

        let found = self.original_destination(arrival).or_else(|e| {
            // A copy queued behind a request whose state was forgotten, or
            // another request queued from the same port (RRQ, then WRQ).
            let repeated = self
                .transfers
                .repeated_by(client, datagram)
                .or_else(|| self.transfers.latest_from(client));
            match (&e, repeated) {
                (FirewallError::NoRedirect { .. }, Some(live)) => Ok(Redirection {
                    client: live.path.client,
                    original_destination: live.path.server,
                }),
                _ => Err(e),
            }
        });
        let redirection = match found {
            Ok(r) => r,
            Err(e) => {
                self.log.refusal(
                    client.ip(),
                    Level::Error,
                    format_args!("{client}: {what}: {e}"),
                );
                self.answer(
                    arrival,
                    ErrorCode::NotDefined,
                    "proxy cannot find the server",
                );
                return Disposition::Failed;
            }
        };
        let server = redirection.original_destination;

        if let Some(disposition) =
            self.retransmission(&redirection, arrival, datagram, outgoing, &what)
        {
            return disposition;
        }

        let refusal: Option<Refusal> = check_destination(server.ip(), &self.settings.host)
            .and_then(|()| {
                self.settings
                    .policy
                    .check(&request, unmap(client.ip()), unmap(server.ip()))
            })
            .err();
        if let Some(refusal) = refusal {
            self.log.refusal(
                client.ip(),
                Level::Notice,
                format_args!("{client} -> {server} {what}: refused: {refusal}"),
            );
            self.answer(arrival, ErrorCode::AccessViolation, refusal.tftp_message());
            return Disposition::Refused;
        }

        if let Some(busy) = self.busy(client) {
            self.log.refusal(
                client.ip(),
                Level::Warning,
                format_args!("{client} -> {server} {what}: refused: {busy}"),
            );
            self.answer(arrival, ErrorCode::NotDefined, BUSY_MESSAGE);
            return Disposition::Refused;
        }

        match self.forward(&redirection, unmapped_addr(arrival.local), outgoing) {
            Ok((path, upstream)) => {
                self.log_forwarded(&path, &request, &what, lowered.as_ref());
                if !self.settings.dry_run {
                    let now = Instant::now();
                    self.transfers.insert(Transfer {
                        path,
                        client,
                        request: datagram.to_vec(),
                        upstream,
                        until: now + self.settings.transfer_wait,
                        last_sent: now,
                    });
                }
                if self.settings.dry_run {
                    self.answer(
                        arrival,
                        ErrorCode::NotDefined,
                        "tftp-proxy dry run: not forwarded",
                    );
                }
                Disposition::Forwarded
            }
            Err(e) if e.is_busy() => {
                self.log.refusal(
                    client.ip(),
                    Level::Error,
                    format_args!("{client} -> {server} {what}: refused: {e}"),
                );
                self.answer(arrival, ErrorCode::NotDefined, BUSY_MESSAGE);
                Disposition::Refused
            }
            Err(e) => {
                self.log
                    .error(format_args!("{client} -> {server} {what}: {e}"));
                self.answer(
                    arrival,
                    ErrorCode::NotDefined,
                    "proxy cannot forward the request",
                );
                Disposition::Failed
            }
        }
    }

    /// Handles `datagram` if it repeats a live transfer's request: sent
    /// again from that transfer's socket once a client could have timed
    /// out, absorbed before that. `None`: a new request.
    fn retransmission(
        &mut self,
        redirection: &Redirection,
        arrival: &Arrival,
        datagram: &[u8],
        outgoing: &[u8],
        what: &str,
    ) -> Option<Disposition> {
        let (client, server) = (arrival.client, redirection.original_destination);
        self.transfers.retransmission_of(client, server, datagram)?;
        // Redirected again: forget that state too, before sending.
        self.forget_request(redirection, unmapped_addr(arrival.local));
        let live = self.transfers.retransmission_of(client, server, datagram)?;
        let path = live.path;
        let now = Instant::now();
        let since = now.saturating_duration_since(live.last_sent);
        if !live.resend_due(now) {
            self.log.info(format_args!(
                "{} -> {} -> {} {what}: retransmission {} ms after the last send, not sent again",
                path.client,
                path.proxy,
                path.server,
                since.as_millis()
            ));
            return Some(Disposition::Retransmitted);
        }
        let sent = live.upstream.send(outgoing);
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
                self.log.error(format_args!(
                    "{client} -> {server} {what}: sending the retransmission: {e}"
                ));
                Disposition::Failed
            }
        })
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

    /// The request's log line (`client -> proxy -> server RRQ "file"`,
    /// options appended with `-v`) and, with `-v` or `-n`, the rules.
    fn log_forwarded(
        &mut self,
        path: &ReturnPath,
        request: &Request<'_>,
        what: &str,
        lowered: Option<&tftp::LoweredBlksize>,
    ) {
        let mut line = format!(
            "{} -> {} -> {} {what}",
            path.client, path.proxy, path.server
        );
        if self.log.verbose {
            let options = tftp::describe_options(request.options());
            if !options.is_empty() {
                line.push(' ');
                line.push_str(&options);
            }
        }
        self.log.info(line);
        if self.log.verbose {
            if let Some(lowered) = lowered {
                for requested in &lowered.requested {
                    self.log.info(format_args!(
                        "{}: blksize {} lowered to {} (--max-blksize)",
                        path.client,
                        tftp::quoted(requested),
                        lowered.max
                    ));
                }
            }
            if !request.irregularities().is_empty() {
                let list: Vec<String> = request
                    .irregularities()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                self.log.info(format_args!(
                    "{}: not RFC-strict, forwarded as the servers take it: {}",
                    path.client,
                    list.join("; ")
                ));
            }
        }
        if self.log.verbose || self.settings.dry_run {
            let verb = if self.settings.dry_run {
                "would install"
            } else {
                "installed"
            };
            for rule in self.firewall.describe_return_path(path).lines() {
                self.log.info(format_args!("{verb}: {rule}"));
            }
        }
    }

    /// Where the datagram was going. A diverted datagram (pf divert-to,
    /// see [`divert::is_diverted`]) still carries its original
    /// destination, so the firewall need not be asked.
    fn original_destination(&mut self, arrival: &Arrival) -> Result<Redirection, FirewallError> {
        let client = unmapped_addr(arrival.client);
        let local = unmapped_addr(arrival.local);
        if divert::is_diverted(local, self.bound, &self.settings.host) {
            return Ok(Redirection {
                client,
                original_destination: local,
            });
        }
        self.firewall.original_destination(client, local)
    }

    /// Opens the socket toward the server, installs the return path and
    /// sends the request. Returns the installed path and the socket.
    fn forward(
        &mut self,
        redirection: &Redirection,
        local: SocketAddr,
        datagram: &[u8],
    ) -> Result<(ReturnPath, UdpSocket), ForwardError> {
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
                return Ok((path, upstream));
            }
            match self.firewall.open_return_path(&path) {
                Ok(()) => {}
                Err(FirewallError::PathInUse { .. }) => {
                    held.push(upstream);
                    continue;
                }
                Err(e) => return Err(ForwardError::Firewall(e)),
            }
            self.prepare_single_port(&upstream, redirection, local, &path);
            if let Err(e) = upstream.send(datagram) {
                let _ = self.firewall.close_return_path(&path);
                return Err(ForwardError::Send(e));
            }
            return Ok((path, upstream));
        }
        Err(ForwardError::NoFreePort)
    }

    /// Lets a server that answers from port 69 itself reach the client
    /// (see [`Firewall::prepare_upstream`] and [`Firewall::forget_request`]).
    /// Servers answering from a new port need neither step, so a failure
    /// is logged and the request forwarded all the same.
    fn prepare_single_port(
        &mut self,
        upstream: &UdpSocket,
        redirection: &Redirection,
        local: SocketAddr,
        path: &ReturnPath,
    ) {
        if let Err(e) = self.firewall.prepare_upstream(upstream.as_fd(), path) {
            self.log.warning(format_args!(
                "{} -> {}: {e} (a server answering from port 69 will not reach the client)",
                path.client, path.server
            ));
        }
        self.forget_request(redirection, local);
    }

    /// [`Firewall::forget_request`], a failure logged.
    fn forget_request(&mut self, redirection: &Redirection, local: SocketAddr) {
        if let Err(e) = self.firewall.forget_request(redirection, local) {
            self.log.warning(format_args!(
                "{} -> {}: {e} (a server answering from port 69 will not reach the client)",
                redirection.client, redirection.original_destination
            ));
        }
    }

    /// Answers the client with a TFTP ERROR from the address it wrote to.
    fn answer(&mut self, arrival: &Arrival, code: ErrorCode, message: &str) {
        if arrival.client.port() == 0 || is_broadcast_like(arrival.client.ip()) {
            return;
        }
        let packet = tftp::error_packet(code, message);
        if let Err(e) = arrival::reply(self.socket, &packet, arrival.client, arrival.local) {
            // Rate-limited like the refusal it answers: a flood fills the
            // send buffer too.
            self.log.refusal(
                arrival.client.ip(),
                Level::Warning,
                format_args!("{}: sending TFTP ERROR: {e}", arrival.client),
            );
        }
    }

    /// Removes every return path this process installed.
    fn close_all(&mut self) {
        for Transfer { path, .. } in self.transfers.drain() {
            if let Err(e) = self.firewall.close_return_path(&path) {
                self.log.error(format_args!(
                    "removing return path {} -> {}: {e}",
                    path.server, path.client
                ));
            }
        }
    }
}

/// The ERROR text a client gets when the proxy cannot take its transfer now.
pub const BUSY_MESSAGE: &str = "proxy busy, try again later";

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
    Ok(socket)
}

fn unmapped_addr(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmap(addr.ip()), addr.port())
}

/// Sources no answer should go to.
pub(crate) fn is_broadcast_like(ip: IpAddr) -> bool {
    match unmap(ip) {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_multicast() || v6.is_unspecified(),
    }
}

/// Whether `client` is the helper's own socket (`bound`) as seen from any
/// of the firewall's addresses: only a loop (one of the helper's ERRORs
/// come back to it) sends from there, and answering would feed the loop.
fn is_own_socket(client: SocketAddr, bound: SocketAddr, host: &Host) -> bool {
    let ip = unmap(client.ip());
    client.port() == bound.port()
        && (ip.is_loopback()
            || ip == unmap(bound.ip())
            || host.addresses.iter().any(|&a| unmap(a) == ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn own_socket_is_recognized_from_any_own_address() {
        let host = Host {
            addresses: vec![
                "192.0.2.1".parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
            ],
            broadcasts: Vec::new(),
        };
        let bound = addr("0.0.0.0:6969");
        assert!(is_own_socket(addr("192.0.2.1:6969"), bound, &host));
        assert!(is_own_socket(addr("198.51.100.1:6969"), bound, &host));
        assert!(is_own_socket(addr("127.0.0.1:6969"), bound, &host));
        assert!(is_own_socket(
            addr("[::ffff:192.0.2.1]:6969"),
            addr("[::]:6969"),
            &host
        ));
        // Another port of the firewall, or a phone using port 6969: served.
        assert!(!is_own_socket(addr("192.0.2.1:50000"), bound, &host));
        assert!(!is_own_socket(addr("192.0.2.20:6969"), bound, &host));
    }
}
