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

mod admission;
pub mod arrival;
mod dissect;
#[cfg(any(target_os = "openbsd", test))]
mod divert;
mod forward;
mod host;
mod lookup;
mod own_addresses;
mod refuse;
mod reply;
mod report;
mod retransmit;
mod source;
mod stop;
mod tally;
mod transfers;

pub use admission::BUSY_MESSAGE;
pub use host::local_host;
pub use refuse::refuse_until_idle;
pub use source::{SourceAddresses, SourceError};

pub(crate) use reply::is_broadcast_like;

use crate::firewall::Firewall;
use crate::log::Log;
use crate::policy::{unmap, Host, Policy};
use crate::tftp;
use arrival::Arrival;
use own_addresses::OwnAddresses;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tally::{Disposition, Tally};
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
    /// `--remove-on-exit`: a signal removes the live return paths instead
    /// of leaving them to expire on their own.
    pub remove_on_exit: bool,
}

/// How the serving of the socket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The socket stayed empty for the idle time and no return path
    /// could still be used.
    Idle,
    /// A termination signal arrived: the helper stopped reading, left
    /// the live return paths to expire on their own (or, with
    /// `--remove-on-exit`, removed them) and logged which.
    Stopped,
    /// The firewall backend can no longer keep its promises
    /// ([`Firewall::check_alive`]; logged): serving stopped before the
    /// next datagram was read, after `handled` datagrams.
    FirewallEnded {
        /// Datagrams this process handled before.
        handled: usize,
    },
}

/// The helper's state while it serves one inherited socket.
pub struct Proxy<'a, F: Firewall> {
    firewall: &'a mut F,
    log: &'a mut Log,
    settings: &'a Settings,
    socket: BorrowedFd<'a>,
    bound: SocketAddr,
    transfers: Transfers<UdpSocket>,
    tally: Tally,
    own: OwnAddresses,
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
            tally: Tally::default(),
            own: OwnAddresses::new(settings.host.clone(), Instant::now(), host::local_host),
        }
    }

    /// Handles every datagram arriving on the socket until it has been
    /// idle for [`Settings::idle`] and no transfer is live, then returns.
    /// `stop` is raised by a termination signal.
    pub fn serve(&mut self, stop: &AtomicBool) -> std::io::Result<Outcome> {
        let mut buf = vec![0u8; tftp::MAX_DATAGRAM + 1];
        let mut last_arrival = Instant::now();
        let mut next_tick = last_arrival + TICK;
        let outcome = loop {
            if stop.load(Ordering::Relaxed) {
                self.stop();
                break Outcome::Stopped;
            }
            if let Err(e) = self.firewall.check_alive() {
                self.log.error(&e);
                break Outcome::FirewallEnded {
                    handled: self.tally.handled(),
                };
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
            let disposition = self.handle(&arrival, datagram, oversized);
            self.tally.count(disposition);
        };
        if self.log.verbose {
            self.log_tally(outcome);
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

    /// One datagram, through each step of the flow in turn: the first
    /// look, the server's address, a retransmission, the admission of a
    /// new transfer, the forward.
    fn handle(&mut self, arrival: &Arrival, datagram: &[u8], oversized: bool) -> Disposition {
        let request = match self.dissect(arrival, datagram, oversized) {
            Ok(request) => request,
            Err(disposition) => return disposition,
        };
        let redirection = match self.find_server(arrival, &request) {
            Ok(redirection) => redirection,
            Err(disposition) => return disposition,
        };
        if let Some(disposition) = self.retransmission(&redirection, arrival, &request) {
            return disposition;
        }
        if let Some(disposition) = self.refusal(&redirection, arrival, &request) {
            return disposition;
        }
        self.start_transfer(&redirection, arrival, &request)
    }
}

fn unmapped_addr(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmap(addr.ip()), addr.port())
}
