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
mod client_check;
mod dissect;
#[cfg(any(target_os = "openbsd", test))]
mod divert;
mod forward;
mod held;
mod host;
mod lookup;
mod outcome;
mod own_addresses;
mod refuse;
mod release;
mod reply;
mod report;
mod retransmit;
mod settle;
mod source;
mod stop;
mod tally;
mod transfers;
mod unsent;
mod wakeup;

pub use admission::BUSY_MESSAGE;
pub use host::local_host;
pub use refuse::refuse_until_idle;
pub use source::{SourceAddresses, SourceError};

pub(crate) use reply::is_broadcast_like;

use crate::firewall::{Firewall, PathUse, ReturnPath, OUTCOME_PATIENCE};
use crate::log::{Level, Log};
use crate::policy::{unmap, Host, Policy};
use crate::tftp;
use client_check::ClientCheck;
use held::Held;
use outcome::{RequestLabel, Summary, Verdict};
use own_addresses::OwnAddresses;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tally::Tally;
use transfers::{Transfer, Transfers};
use unsent::Unsent;
use wakeup::Waiting;

/// The longest the loop waits on the socket before it looks at the stop
/// flag and the clock again (a signal may not interrupt the wait).
const MAX_POLL: Duration = Duration::from_millis(500);

/// How soon the loop comes back while log lines wait for syslog.
const PENDING_LOG_POLL: Duration = Duration::from_millis(20);

/// How often the return paths whose wait is over are read, all in one
/// batch: outcomes are read off the request path, at most this often.
const READ_EVERY: Duration = Duration::from_millis(100);

/// How long a return path outlives its transfer wait in the kernel: the
/// flow reads its counter when the wait is over (within [`READ_EVERY`]
/// and a busy loop's lag), which must happen before the element expires
/// (an expired element is no longer listed). Backends install return
/// paths for `transfer_wait + OUTCOME_GRACE`; a server's answer arriving
/// in the grace still reaches the client, and its outcome line says no
/// answer came within the wait.
pub const OUTCOME_GRACE: Duration = Duration::from_secs(1);

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
    held: Held<UdpSocket>,
    clients: ClientCheck,
    tally: Tally,
    own: OwnAddresses,
    unsent: Unsent,
    /// This wake-up's admitted requests, not yet forwarded.
    waiting: Waiting,
    /// Transfers whose wait is over, their outcome not yet read.
    finished: Vec<Finished>,
    /// When the finished transfers may be read next.
    next_read: Instant,
    /// When live paths were last read, and whether a transfer was
    /// started since (`settle.rs`: a read before a refusal).
    live_read: (Instant, bool),
    /// The pause before the next read (`settle.rs`, [`settle::pause_after`]).
    live_pause: Duration,
    summary: Summary,
    started: Instant,
}

/// A transfer whose wait is over, waiting for its counter to be read.
struct Finished {
    path: ReturnPath,
    label: RequestLabel,
    retransmissions: u32,
    /// An ICMP error the upstream socket held.
    socket_error: Option<std::io::Error>,
    /// How long the path waited for an answer after the last send.
    waited: Duration,
    /// When its wait was over: a backend answering
    /// [`PathUse::Pending`] is asked again until
    /// [`OUTCOME_PATIENCE`](crate::firewall::OUTCOME_PATIENCE) later.
    at: Instant,
    /// Whether the backend answered [`PathUse::Pending`] for it already.
    pending: bool,
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
        let held = Held::new(firewall.state_expires_when_idle());
        Proxy {
            firewall,
            log,
            settings,
            socket,
            bound,
            transfers: Transfers::default(),
            held,
            clients: ClientCheck::default(),
            tally: Tally::default(),
            own: OwnAddresses::new(settings.host.clone(), Instant::now(), host::local_host),
            unsent: Unsent::default(),
            waiting: Waiting::default(),
            finished: Vec::new(),
            next_read: Instant::now(),
            live_read: (Instant::now(), false),
            live_pause: READ_EVERY,
            summary: Summary::default(),
            started: Instant::now(),
        }
    }

    /// The BSDs: hands the client check its routing socket, opened before
    /// the privilege drop ([`crate::route::Routes::open`]), or why it
    /// did not open (each route check then fails as a failed lookup).
    #[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
    pub fn use_routes(&mut self, routes: std::io::Result<crate::route::Routes>) {
        self.clients = ClientCheck::with_routes(routes);
    }

    /// Handles every datagram arriving on the socket until it has been
    /// idle for [`Settings::idle`] and no transfer is live, then returns.
    /// `stop` is raised by a termination signal.
    pub fn serve(&mut self, stop: &AtomicBool) -> std::io::Result<Outcome> {
        // Room for a wake-up's datagrams in one allocation, so large
        // that the allocator maps it zeroed from the kernel: pages no
        // datagram reached are never touched (32 buffers of their own,
        // each zeroed by the allocator, cost a cold start 1.4 MiB of
        // memory and about 0.8 ms).
        let slot = tftp::MAX_DATAGRAM + 1;
        let mut space = vec![0u8; arrival::BATCH * slot];
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
                self.finish(transfer, now);
            }
            if self.outcomes_to_read() && now >= self.next_read {
                let finished = !self.finished.is_empty();
                let settled = self.read_outcomes();
                self.live_pause = settle::pause_after(self.live_pause, finished, settled);
                self.next_read = now + self.live_pause;
            }
            self.recheck_held(now);
            if now >= next_tick {
                if let Some(warning) = self.firewall.table_pressure() {
                    self.log.warning(warning);
                }
                // Also in a flood that never lets the socket empty.
                self.log.tick();
                next_tick = now + TICK;
            } else if self.log.has_pending() {
                self.log.flush();
            }
            let arrivals = arrival::receive_many(self.socket, &mut space, slot, self.bound)?;
            if arrivals.is_empty() {
                let exit_at = self.exit_time(last_arrival);
                if now >= exit_at {
                    break Outcome::Idle;
                }
                let poll = if self.log.has_pending() {
                    PENDING_LOG_POLL
                } else if self.outcomes_to_read() {
                    READ_EVERY
                } else {
                    MAX_POLL
                };
                arrival::wait(self.socket, (exit_at - now).min(poll))?;
                continue;
            }
            last_arrival = now;
            self.handle_wakeup(&arrivals, &space, slot);
        };
        if self.log.verbose {
            self.log_tally(outcome);
        }
        self.read_outcomes_at_exit();
        let end = match outcome {
            Outcome::Idle => format!("exiting after {} s idle", self.settings.idle.as_secs_f64()),
            Outcome::Stopped => format!(
                "stopped by signal, {} transfers left live without an outcome line",
                self.transfers.paths_held()
            ),
            Outcome::FirewallEnded { .. } => "the firewall backend ended".to_owned(),
        };
        let summary = self.summary.event(self.started.elapsed(), &end);
        self.log.event(Level::Info, &summary);
        Ok(outcome)
    }

    /// A transfer whose wait is over (or cut short at `now`): its socket
    /// closes, its pending ICMP error kept, and its outcome is read with
    /// the next batch.
    fn finish(&mut self, transfer: Transfer<UdpSocket>, now: Instant) {
        if transfer.settled {
            // Its outcome is logged and its path removed already.
            self.hold_port(transfer.path, transfer.upstream, now);
            return;
        }
        let socket_error = transfer.upstream.take_error().ok().flatten();
        self.finished.push(Finished {
            path: transfer.path,
            label: transfer.label,
            retransmissions: transfer.retransmissions,
            socket_error,
            waited: now
                .saturating_duration_since(transfer.last_sent)
                .min(self.settings.transfer_wait),
            at: now,
            pending: false,
        });
        self.hold_port(transfer.path, transfer.upstream, now);
    }

    /// Reads the counters of every finished transfer's return path in one
    /// batch ([`Firewall::paths_use`]) and logs each one's outcome line. A
    /// failed read is one line, and those outcomes unknown. A use the
    /// backend will know later ([`PathUse::Pending`]) is asked again at
    /// the next batch, until its patience is over.
    /// Returns how many live paths it settled.
    fn read_outcomes(&mut self) -> usize {
        self.read_outcomes_until(Instant::now(), true)
    }

    /// Whether a read is due: finished transfers wait for their outcome,
    /// or live paths may have been answered
    /// ([`Firewall::reads_live_use`], `settle.rs`).
    fn outcomes_to_read(&self) -> bool {
        !self.finished.is_empty()
            || (self.firewall.reads_live_use() && self.transfers.paths_held() > 0)
    }

    /// The last batch, before the exit summary: a use still pending is
    /// unknown (the helper waited for it, see [`Proxy::exit_time`], or
    /// was stopped).
    fn read_outcomes_at_exit(&mut self) {
        self.read_outcomes_until(Instant::now() + OUTCOME_PATIENCE, false);
    }

    /// [`Proxy::read_outcomes`], pending uses given up for finished
    /// transfers whose patience ends by `give_up`; with `live`, the same
    /// read settles the live paths already answered (`settle.rs`).
    fn read_outcomes_until(&mut self, give_up: Instant, live: bool) -> usize {
        let live_paths = if live && self.firewall.reads_live_use() {
            self.transfers.unsettled()
        } else {
            Vec::new()
        };
        if live {
            self.live_read = (Instant::now(), false);
        }
        if self.finished.is_empty() && live_paths.is_empty() {
            return 0;
        }
        let finished = std::mem::take(&mut self.finished);
        let mut paths: Vec<ReturnPath> = finished.iter().map(|f| f.path).collect();
        paths.extend(live_paths.iter().map(|&(_, path)| path));
        let mut uses = match self.firewall.paths_use(&paths) {
            Ok(uses) => uses,
            Err(e) => {
                self.log
                    .warning(format_args!("reading the return paths' use: {e}"));
                vec![PathUse::Unknown; paths.len()]
            }
        };
        let live_uses = uses.split_off(finished.len().min(uses.len()));
        let mut judged = Vec::with_capacity(paths.len());
        for (done, used) in finished.into_iter().zip(uses) {
            if used == PathUse::Pending && done.at + OUTCOME_PATIENCE > give_up {
                self.finished.push(Finished {
                    pending: true,
                    ..done
                });
                continue;
            }
            let verdict = Verdict::judge(used, done.socket_error.as_ref());
            let level = match verdict {
                Verdict::Answered { .. } => Level::Info,
                _ => Level::Warning,
            };
            let line = outcome::event(
                &done.path,
                &done.label,
                &verdict,
                done.retransmissions,
                round_wait(done.waited),
            );
            self.log.event(level, &line);
            self.summary.outcome(done.path.server, &verdict);
            judged.push(done.path);
        }
        let settled = self.settle_answered(&live_paths, &live_uses, Instant::now());
        let count = settled.len();
        judged.extend(settled);
        // A path still pending stays until its report has come.
        self.remove_paths(&judged);
        count
    }

    /// When the helper may exit: the socket idle long enough, every
    /// upstream socket past its transfer wait, and no port held.
    fn exit_time(&self, last_arrival: Instant) -> Instant {
        let idle_end = last_arrival + self.settings.idle;
        // Outcomes the backend will report later (pending at the last
        // batch) are waited for, up to their patience.
        let pending_end = self
            .finished
            .iter()
            .filter(|f| f.pending)
            .map(|f| f.at + OUTCOME_PATIENCE)
            .max();
        [
            self.transfers.last_until(),
            self.held.last_recheck(),
            pending_end,
        ]
        .into_iter()
        .flatten()
        .fold(idle_end, Instant::max)
    }
}

/// `waited` to a tenth of a second, as outcome lines show it.
fn round_wait(waited: Duration) -> Duration {
    Duration::from_millis((waited.as_millis() as u64 + 50) / 100 * 100)
}

fn unmapped_addr(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmap(addr.ip()), addr.port())
}
