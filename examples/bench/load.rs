//! An open-loop load of one-block reads that does not give out before the
//! paths it measures: a few threads, each with one epoll set over many
//! non-blocking sockets, start reads on a fixed schedule (a read waiting
//! for its retransmission holds a socket, not a thread), answer each DATA
//! with its ACK, retransmit the RRQ after 1 s of silence as a phone does,
//! and give a read up after 8 s. Each read has a socket of its own, bound
//! to the next phone's address, as each phone would.

#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use crate::lab::client::{request, Read, DEADLINE, RETRANSMIT};
use crate::lab::phone_address;
use crate::netns;
#[cfg(target_os = "linux")]
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Threads sharing the schedule: two cores' worth; each thread starts
/// every read that is due when it wakes, so a thread that falls behind
/// catches up in one batch and shows as lateness.
pub const THREADS: usize = 2;

const DATA: u16 = 3;
const ERROR: u16 = 5;

/// What one load run did.
pub struct Load {
    /// Every read.
    pub reads: Vec<Read>,
    /// The latest a read started after its scheduled time.
    pub late: Duration,
    /// CPU time (user and system) of the load's own threads.
    pub cpu: Duration,
}

/// One read in flight.
struct Flight {
    socket: UdpSocket,
    started: Instant,
    sent_at: Instant,
    retransmits: u32,
}

impl Flight {
    fn finish(self, first_data: Option<Duration>, failure: Option<String>, bytes: usize) -> Read {
        Read {
            first_data,
            total: self.started.elapsed(),
            retransmits: self.retransmits,
            failure,
            bytes,
        }
    }
}

/// Open files this process (and what it starts afterwards: inetd, and
/// the helper under it) may hold.
pub const OPEN_FILES: u64 = 131_072;

/// Raises this process's open-file limit, soft and hard, to
/// [`OPEN_FILES`] (as root): reads waiting for a retransmission each hold
/// a socket here, and the helper holds one per live transfer (2 s of
/// them at the rate tried) under the limit it inherits through inetd.
#[cfg(target_os = "linux")]
pub fn raise_open_files() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    if setrlimit(Resource::RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES.max(hard)).is_err() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.max(soft), hard);
    }
}

/// `rate` one-block reads of `file` a second for `duration` from `server`,
/// from the phones' addresses in turn, in the network namespace `ns`.
pub fn run(ns: &str, server: SocketAddr, file: &str, rate: u32, duration: Duration) -> Load {
    let total = (rate as f64 * duration.as_secs_f64()).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(100);
    let per_thread: Vec<(Vec<Read>, Duration, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS.min(total))
            .map(|thread| {
                scope.spawn(move || {
                    netns::enter(ns);
                    let cpu = thread_cpu();
                    let (reads, late) = drive(
                        server,
                        file,
                        start,
                        interval,
                        (thread..total).step_by(THREADS),
                    );
                    (reads, late, thread_cpu().saturating_sub(cpu))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .collect()
    });
    Load {
        late: per_thread.iter().map(|t| t.1).max().unwrap_or_default(),
        cpu: per_thread.iter().map(|t| t.2).sum(),
        reads: per_thread.into_iter().flat_map(|t| t.0).collect(),
    }
}

/// Elsewhere than Linux there is no epoll and no benchmark lab: the
/// example compiles (the BSD checks build every target) but does not run.
#[cfg(not(target_os = "linux"))]
fn drive(
    _: SocketAddr,
    _: &str,
    _: Instant,
    _: Duration,
    _: impl Iterator<Item = usize>,
) -> (Vec<Read>, Duration) {
    eprintln!("bench: the load generator needs Linux (epoll)");
    std::process::exit(1)
}

/// One thread's share of the schedule: reads `ks` (read k is due at
/// `start + k * interval`).
#[cfg(target_os = "linux")]
fn drive(
    server: SocketAddr,
    file: &str,
    start: Instant,
    interval: Duration,
    ks: impl Iterator<Item = usize>,
) -> (Vec<Read>, Duration) {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("load: epoll_create");
    let rrq = request(file);
    let mut ks = ks.peekable();
    let mut flights: HashMap<u64, Flight> = HashMap::new();
    let mut reads = Vec::new();
    let mut late = Duration::ZERO;
    let mut events = vec![EpollEvent::empty(); 256];
    let mut buf = [0u8; 1024];
    let mut last_sweep = Instant::now();
    loop {
        let now = Instant::now();
        // Start every read that is due.
        while let Some(&k) = ks.peek() {
            let due = start + interval * k as u32;
            if due > now {
                break;
            }
            ks.next();
            late = late.max(now - due);
            match begin(&epoll, server, &rrq, k, now) {
                Ok(flight) => {
                    flights.insert(flight.socket.as_raw_fd() as u64, flight);
                }
                Err(failure) => reads.push(Read {
                    first_data: None,
                    total: Duration::ZERO,
                    retransmits: 0,
                    failure: Some(failure),
                    bytes: 0,
                }),
            }
        }
        if ks.peek().is_none() && flights.is_empty() {
            return (reads, late);
        }
        // Retransmit and give up, every 10 ms.
        if now.duration_since(last_sweep) >= Duration::from_millis(10) {
            last_sweep = now;
            let overdue: Vec<u64> = flights
                .iter()
                .filter(|(_, f)| now.duration_since(f.sent_at) >= RETRANSMIT)
                .map(|(&t, _)| t)
                .collect();
            for token in overdue {
                let Some(mut f) = flights.remove(&token) else {
                    continue;
                };
                if now.duration_since(f.started) > DEADLINE {
                    let _ = epoll.delete(&f.socket);
                    reads.push(f.finish(None, Some(format!("no DATA after {DEADLINE:?}")), 0));
                    continue;
                }
                let _ = f.socket.send_to(&rrq, server);
                f.retransmits += 1;
                f.sent_at = now;
                flights.insert(token, f);
            }
        }
        // Sleep until the next read is due (at most 10 ms, for the sweep).
        let wait = ks
            .peek()
            .map(|&k| (start + interval * k as u32).saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(10))
            .min(Duration::from_millis(10));
        // epoll's timeout is in whole milliseconds: round up, so a due
        // read is not started early, and 0 only when one is due now.
        let ms = wait.as_micros().div_ceil(1000) as u16;
        let n = epoll.wait(&mut events, ms).unwrap_or(0);
        for event in &events[..n] {
            let token = event.data();
            let Some(f) = flights.get(&token) else {
                continue;
            };
            match answer(&f.socket, &mut buf) {
                Answer::Pending => {}
                Answer::Done { bytes } => {
                    let f = flights.remove(&token).expect("flight");
                    let _ = epoll.delete(&f.socket);
                    let first = f.started.elapsed();
                    reads.push(f.finish(Some(first), None, bytes));
                }
                Answer::Failed(why) => {
                    let f = flights.remove(&token).expect("flight");
                    let _ = epoll.delete(&f.socket);
                    reads.push(f.finish(None, Some(why), 0));
                }
            }
        }
    }
}

/// Opens read `k`'s socket on its phone's address and sends the RRQ.
#[cfg(target_os = "linux")]
fn begin(
    epoll: &Epoll,
    server: SocketAddr,
    rrq: &[u8],
    k: usize,
    now: Instant,
) -> Result<Flight, String> {
    let socket = UdpSocket::bind((phone_address(k), 0)).map_err(|e| format!("socket: {e}"))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("socket: {e}"))?;
    let token = socket.as_raw_fd() as u64;
    epoll
        .add(&socket, EpollEvent::new(EpollFlags::EPOLLIN, token))
        .map_err(|e| format!("epoll: {e}"))?;
    socket
        .send_to(rrq, server)
        .map_err(|e| format!("sending RRQ: {e}"))?;
    Ok(Flight {
        socket,
        started: now,
        sent_at: now,
        retransmits: 0,
    })
}

enum Answer {
    Pending,
    Done { bytes: usize },
    Failed(String),
}

/// Reads what arrived on a read's socket: block 1 of a one-block file is
/// ACKed and ends the read; an ERROR fails it.
fn answer(socket: &UdpSocket, buf: &mut [u8]) -> Answer {
    loop {
        let (n, from) = match socket.recv_from(buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Answer::Pending,
            // An ICMP error from a retransmission's earlier copy: wait on.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Answer::Failed(format!("receiving: {e}")),
        };
        if n < 4 {
            continue;
        }
        let opcode = u16::from_be_bytes([buf[0], buf[1]]);
        let number = u16::from_be_bytes([buf[2], buf[3]]);
        match opcode {
            DATA if number == 1 => {
                let ack = [0, 4, 0, 1];
                let _ = socket.send_to(&ack, from);
                if n - 4 < 512 {
                    return Answer::Done { bytes: n - 4 };
                }
                return Answer::Failed("more than one block".into());
            }
            ERROR => {
                let text = String::from_utf8_lossy(&buf[4..n]);
                return Answer::Failed(format!("ERROR {number}: {}", text.trim_end_matches('\0')));
            }
            _ => {}
        }
    }
}

/// The calling thread's CPU time so far.
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// Elsewhere the load never runs (see the other `drive`); `rlim_t` is
/// signed on the BSDs.
#[cfg(not(target_os = "linux"))]
pub fn raise_open_files() {}

/// Elsewhere the load never runs (see the other `drive`).
#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Duration {
    Duration::ZERO
}
