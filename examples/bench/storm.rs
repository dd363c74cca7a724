//! Boot storms: many phones at once, each fetching its seven boot files in
//! order, as a phone does when power returns to a whole site.

use crate::client::{self, Read};
use crate::lab::{phone_address, BOOT_FILES};
use crate::netns;
use crate::paths::Subject;
use std::sync::Barrier;
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

/// `phones` phones booting at once.
pub fn run(subject: &Subject, phones: usize) -> Storm {
    let ns = subject.client_ns();
    let server = subject.server();
    let ready = Barrier::new(phones + 1);
    let (start, per_phone) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..phones)
            .map(|phone| {
                let (ns, ready) = (ns.clone(), &ready);
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        netns::enter(&ns);
                        ready.wait();
                        let mut reads = Vec::new();
                        for file in BOOT_FILES {
                            let read = client::read(server, file, Some(phone_address(phone)));
                            let ok = read.ok();
                            reads.push(read);
                            if !ok {
                                break;
                            }
                        }
                        (reads, Instant::now())
                    })
                    .expect("starting a phone thread")
            })
            .collect();
        ready.wait();
        let start = Instant::now();
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
        .filter(|(reads, _)| reads.len() < BOOT_FILES.len() || reads.iter().any(|r| !r.ok()))
        .count();
    Storm {
        wall: end.saturating_duration_since(start),
        failed_phones,
        reads: per_phone.into_iter().flat_map(|(r, _)| r).collect(),
        phone_times,
    }
}
