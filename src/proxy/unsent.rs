//! Requests whose forward failed after the firewall's state of them was
//! forgotten ([`crate::firewall::Firewall::request_forwarded`] runs just
//! before the send, so that a server answering from port 69 meets no
//! state of the request, however fast it answers). An ERROR sent then
//! would leave without that state: on Linux it is not rewritten back to
//! the server's address (measured in the lab: it left from the
//! firewall's 192.0.2.1:6969), and a phone ignores it. So none is sent
//! then; the phone's next copy of the request recreates the state, and
//! this list lets the helper answer that copy with the ERROR at once,
//! while the state exists, instead of forwarding it again.
//!
//! This file owns that short memory: pure bookkeeping with the clock
//! passed in, bounded in size.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long a failed forward is remembered: longer than the phones'
/// retransmission timeouts (RFC 2349's longest is 255 s, but phones
/// retry within seconds).
pub const REMEMBER: Duration = Duration::from_secs(10);

/// Failed forwards remembered at once; older ones are forgotten first.
pub const MAX_REMEMBERED: usize = 256;

/// Forwards that failed after the firewall's state was forgotten.
#[derive(Debug, Default)]
pub struct Unsent {
    failed: VecDeque<(SocketAddr, SocketAddr, Instant)>,
}

impl Unsent {
    /// Remembers that the request from `client` to `server` could not be
    /// sent at `now`.
    pub fn record(&mut self, client: SocketAddr, server: SocketAddr, now: Instant) {
        if self.failed.len() >= MAX_REMEMBERED {
            self.failed.pop_front();
        }
        self.failed.push_back((client, server, now + REMEMBER));
    }

    /// Takes the memory of a failed forward from `client` to `server`, if
    /// one is still fresh at `now`.
    pub fn take(&mut self, client: SocketAddr, server: SocketAddr, now: Instant) -> bool {
        self.failed.retain(|&(_, _, until)| until > now);
        match self
            .failed
            .iter()
            .position(|&(c, s, _)| c == client && s == server)
        {
            Some(at) => {
                self.failed.remove(at);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_failed_forward_is_answered_once_while_fresh() {
        let t0 = Instant::now();
        let mut u = Unsent::default();
        let (client, server) = (addr("192.0.2.20:5000"), addr("198.51.100.2:69"));
        u.record(client, server, t0);
        assert!(!u.take(addr("192.0.2.20:5001"), server, t0), "another port");
        assert!(u.take(client, server, t0 + Duration::from_secs(2)));
        assert!(!u.take(client, server, t0), "answered once");
        u.record(client, server, t0);
        assert!(!u.take(client, server, t0 + REMEMBER), "stale");
    }

    #[test]
    fn memory_is_bounded() {
        let t0 = Instant::now();
        let mut u = Unsent::default();
        let server = addr("198.51.100.2:69");
        for port in 0..=MAX_REMEMBERED as u16 {
            u.record(SocketAddr::new([192, 0, 2, 20].into(), port), server, t0);
        }
        assert!(!u.take(addr("192.0.2.20:0"), server, t0), "the oldest went");
        assert!(u.take(addr("192.0.2.20:1"), server, t0));
    }
}
