//! Steady rate: reads started on a fixed schedule (open loop: a slow read
//! does not slow the schedule down), each fetching one of a phone's boot
//! files in turn.

use crate::lab::client::{self, Read};
use crate::lab::{phone_address, BOOT_FILES};
use crate::netns;
use crate::paths::Subject;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Client threads sharing the schedule: enough that a read waiting for a
/// retransmission does not delay the reads after it.
const WORKERS: usize = 64;

/// What one steady run did.
pub struct Steady {
    /// Every read.
    pub reads: Vec<Read>,
    /// The latest a read started after its scheduled time.
    pub late: Duration,
}

/// `rate` reads a second for `duration` from tftpd-hpa, a phone's boot
/// files in turn.
pub fn run(subject: &Subject, rate: u32, duration: Duration) -> Steady {
    run_from(subject, subject.server(), &BOOT_FILES, rate, duration)
}

/// `rate` reads a second for `duration` from `server`, `files` in turn.
pub fn run_from(
    subject: &Subject,
    server: SocketAddr,
    files: &[&str],
    rate: u32,
    duration: Duration,
) -> Steady {
    let total = (rate as f64 * duration.as_secs_f64()).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let ns = subject.client_ns();
    let start = Instant::now() + Duration::from_millis(100);
    let per_worker: Vec<(Vec<Read>, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS.min(total))
            .map(|worker| {
                let ns = ns.clone();
                scope.spawn(move || {
                    netns::enter(&ns);
                    let mut reads = Vec::new();
                    let mut late = Duration::ZERO;
                    for k in (worker..total).step_by(WORKERS) {
                        let due = start + interval * k as u32;
                        let now = Instant::now();
                        if now < due {
                            std::thread::sleep(due - now);
                        } else {
                            late = late.max(now - due);
                        }
                        reads.push(client::read(
                            server,
                            files[k % files.len()],
                            Some(phone_address(k)),
                        ));
                    }
                    (reads, late)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("steady worker"))
            .collect()
    });
    let late = per_worker.iter().map(|(_, l)| *l).max().unwrap_or_default();
    Steady {
        reads: per_worker.into_iter().flat_map(|(r, _)| r).collect(),
        late,
    }
}
