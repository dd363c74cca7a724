//! Setup latency: sequential reads of a one-block file, RRQ to the first
//! DATA, with a gap between reads so each one finds the path idle (for the
//! helper: not running when cold, running and waiting when warm).

use crate::lab::client::{self, Read};
use crate::lab::phone_address;
use crate::netns;
use crate::paths::Subject;
use std::time::Duration;

/// The one-block file the latency reads fetch.
pub const FILE: &str = "setup.bin";

/// `count` reads, one after the other, `gap` apart; with `prime`, one
/// uncounted read first (to start the helper).
pub fn sequential(subject: &Subject, count: usize, gap: Duration, prime: bool) -> Vec<Read> {
    let ns = subject.client_ns();
    let server = subject.server();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                netns::enter(&ns);
                if prime {
                    client::read(server, FILE, None);
                    std::thread::sleep(gap);
                }
                (0..count)
                    .map(|i| {
                        // Phones in turn: one address's return paths stay
                        // far below the helper's cap per client.
                        let read = client::read(server, FILE, Some(phone_address(i)));
                        std::thread::sleep(gap);
                        read
                    })
                    .collect()
            })
            .join()
            .expect("latency thread")
    })
}
