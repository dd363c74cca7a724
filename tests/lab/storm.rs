//! Boot storms: many phones at once, each fetching its files in order, as
//! phones do when power returns to a whole site. Each phone is a thread of
//! the calling process in the lab's client namespace, with its own socket
//! per read on its own address (several phones share an address, on
//! different ports, past [`super::MAX_PHONES`]).

use super::client::{self, Read};
use super::{netns, phone_address};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What one storm did.
pub struct Storm {
    /// From the phones' start to the last phone's last file.
    pub wall: Duration,
    /// Phones that did not get all their files.
    pub failed_phones: usize,
    /// Every read.
    pub reads: Vec<Read>,
    /// Each phone's time from the start to its last file (or failure).
    pub phone_times: Vec<Duration>,
}

impl Storm {
    /// The first failure of each failed read, with how many reads failed
    /// that way.
    pub fn failures(&self) -> Vec<(String, usize)> {
        let mut seen: Vec<(String, usize)> = Vec::new();
        for why in self.reads.iter().filter_map(|r| r.failure.as_ref()) {
            match seen.iter_mut().find(|(w, _)| w == why) {
                Some((_, n)) => *n += 1,
                None => seen.push((why.clone(), 1)),
            }
        }
        seen
    }

    /// RRQs and ACKs sent again after a timeout, over all reads.
    pub fn retransmits(&self) -> u32 {
        self.reads.iter().map(|r| r.retransmits).sum()
    }
}

/// `phones` phones starting at once in the network namespace `client_ns`,
/// each reading `files` in order from `server` (port 69) and stopping at
/// its first failed read. The first requests leave as one burst: every
/// phone binds its socket first, then one thread sends all the RRQs back
/// to back (the worst case of a power cut: the same firmware on the same
/// hardware, booting in the same time), and each phone goes on from there.
pub fn run(client_ns: &str, server: SocketAddr, phones: usize, files: &[&str]) -> Storm {
    run_from(client_ns, server, phones, files, phone_address)
}

/// [`run`], phone `i` reading from the address `source(i)` (e.g. every
/// phone behind one address, as behind another NAT).
pub fn run_from(
    client_ns: &str,
    server: SocketAddr,
    phones: usize,
    files: &[&str],
    source: fn(usize) -> std::net::Ipv4Addr,
) -> Storm {
    let Some((first, rest)) = files.split_first() else {
        return Storm {
            wall: Duration::ZERO,
            failed_phones: 0,
            reads: Vec::new(),
            phone_times: Vec::new(),
        };
    };
    let bound = Barrier::new(phones + 1);
    let burst_sent = Barrier::new(phones + 1);
    let sockets: Mutex<Vec<UdpSocket>> = Mutex::new(Vec::with_capacity(phones));
    let sent_at: OnceLock<Instant> = OnceLock::new();
    let (start, per_phone) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..phones)
            .map(|phone| {
                let (bound, burst_sent, sockets, sent_at) =
                    (&bound, &burst_sent, &sockets, &sent_at);
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        netns::enter(client_ns);
                        let source = source(phone);
                        let socket = UdpSocket::bind((source, 0)).ok();
                        if let Some(clone) = socket.as_ref().and_then(|s| s.try_clone().ok()) {
                            sockets.lock().expect("sockets").push(clone);
                        }
                        bound.wait();
                        burst_sent.wait();
                        let mut reads = Vec::new();
                        let read = match &socket {
                            Some(s) => client::read_on(s, server, first, sent_at.get().copied()),
                            None => client::read(server, first, Some(source)),
                        };
                        let mut ok = read.ok();
                        reads.push(read);
                        for file in rest {
                            if !ok {
                                break;
                            }
                            let read = client::read(server, file, Some(source));
                            ok = read.ok();
                            reads.push(read);
                        }
                        (reads, Instant::now())
                    })
                    .expect("starting a phone thread")
            })
            .collect();
        bound.wait();
        let request = client::request(first);
        let start = Instant::now();
        for socket in sockets.lock().expect("sockets").iter() {
            // A lost RRQ is retransmitted by its phone like any other.
            let _ = socket.send_to(&request, server);
        }
        let _ = sent_at.set(start);
        burst_sent.wait();
        let results: Vec<(Vec<Read>, Instant)> = handles
            .into_iter()
            .map(|h| h.join().expect("phone thread"))
            .collect();
        (start, results)
    });
    let end = per_phone.iter().map(|(_, t)| *t).max().unwrap_or(start);
    let phone_times = per_phone
        .iter()
        .map(|(_, t)| t.saturating_duration_since(start))
        .collect();
    let failed_phones = per_phone
        .iter()
        .filter(|(reads, _)| reads.len() < files.len() || reads.iter().any(|r| !r.ok()))
        .count();
    Storm {
        wall: end.saturating_duration_since(start),
        failed_phones,
        reads: per_phone.into_iter().flat_map(|(r, _)| r).collect(),
        phone_times,
    }
}
