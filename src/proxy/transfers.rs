//! The live transfers of this process: each forwarded request with the
//! socket it left from, kept until its return path's transfer wait is
//! over.
//!
//! Holding the socket keeps its port: while a return path toward it may
//! still be used, the kernel cannot give that port to another socket (of
//! this process or another) toward the same server. A datagram identical to
//! a live transfer's request, from the same client address and port to the
//! same server, is a retransmission: it is sent again from the same
//! socket, so the server sees one transfer. A copy arriving less than
//! [`RESEND_AFTER`] after the last send is not sent at all: no client
//! timed out that fast, and a server that forks per request (tftpd-hpa)
//! would start a second transfer for it, which for a WRQ truncates the
//! file the first one is writing.
//!
//! This module owns that bookkeeping and the per-client count of live
//! return paths. Pure code with the clock passed in and the socket type a
//! parameter; it never sends, logs or touches the firewall.

use super::outcome::RequestLabel;
use crate::firewall::ReturnPath;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

/// How long after the last send a retransmitted request is sent again
/// (RFC 2349's shortest timeout is 1 s).
pub const RESEND_AFTER: Duration = Duration::from_secs(1);

/// One forwarded request whose return path may still be used.
#[derive(Debug)]
pub struct Transfer<S> {
    /// The installed return path.
    pub path: ReturnPath,
    /// The client as it reached the helper's socket (the retransmission key).
    pub client: SocketAddr,
    /// The request's exact bytes.
    pub request: Vec<u8>,
    /// The socket the request left from.
    pub upstream: S,
    /// When the return path's transfer wait is over.
    pub until: Instant,
    /// When the request was last sent to the server.
    pub last_sent: Instant,
    /// The same, on the real-time clock arrival timestamps use.
    pub last_sent_at: SystemTime,
    /// What the request line said (for the outcome line).
    pub label: RequestLabel,
    /// Copies of the request the client sent (absorbed or sent again).
    pub retransmissions: u32,
    /// The interface the request arrived on, where known.
    pub interface: Option<u32>,
}

impl<S> Transfer<S> {
    /// Whether a retransmission arriving at `now` is to be sent again
    /// (else it is a copy the server already has).
    pub fn resend_due(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_sent) >= RESEND_AFTER
    }
}

/// The live transfers, oldest first.
#[derive(Debug)]
pub struct Transfers<S> {
    live: VecDeque<Transfer<S>>,
    per_client: HashMap<IpAddr, usize>,
    /// Live return paths per map: IPv4, IPv6 (by the server's family).
    per_family: [usize; 2],
    per_interface: HashMap<Option<u32>, usize>,
}

impl<S> Default for Transfers<S> {
    fn default() -> Self {
        Transfers {
            live: VecDeque::new(),
            per_client: HashMap::new(),
            per_family: [0; 2],
            per_interface: HashMap::new(),
        }
    }
}

/// The index of the map a path to `server` lives in: 0 IPv4, 1 IPv6.
fn family(server: SocketAddr) -> usize {
    usize::from(server.is_ipv6())
}

impl<S> Transfers<S> {
    /// Takes out every transfer whose wait is over at `now` (dropping them
    /// closes their sockets).
    pub fn expire(&mut self, now: Instant) -> Vec<Transfer<S>> {
        let mut expired = Vec::new();
        while self.live.front().is_some_and(|t| t.until <= now) {
            if let Some(t) = self.live.pop_front() {
                self.uncount(&t);
                expired.push(t);
            }
        }
        expired
    }

    /// The live transfer `datagram` from `client` to `server` repeats, if any.
    pub fn retransmission_of(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        datagram: &[u8],
    ) -> Option<&mut Transfer<S>> {
        self.live.iter_mut().rev().find(|t| {
            t.client == client && t.path.server == server && t.request.as_slice() == datagram
        })
    }

    /// Moves the live transfer `datagram` from `client` to `server` repeats
    /// to the back, its wait now ending at `until` (it was sent again and
    /// its return path renewed), keeping the order of expiry.
    pub fn renew(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        datagram: &[u8],
        until: Instant,
    ) {
        let found = self.live.iter().rposition(|t| {
            t.client == client && t.path.server == server && t.request.as_slice() == datagram
        });
        if let Some(mut t) = found.and_then(|i| self.live.remove(i)) {
            t.until = until;
            self.live.push_back(t);
        }
    }

    /// The live transfer `client` started with exactly `datagram`, to
    /// whichever server: for a copy the firewall no longer knows the
    /// redirected flow of, because the first copy's state was forgotten
    /// (`Firewall::request_forwarded`) while the copy waited on the socket.
    pub fn repeated_by(&self, client: SocketAddr, datagram: &[u8]) -> Option<&Transfer<S>> {
        self.live
            .iter()
            .rev()
            .find(|t| t.client == client && t.request.as_slice() == datagram)
    }

    /// The latest live transfer from `client` (address and port), whatever
    /// its request: a datagram from that port queued while the first one's
    /// redirected state was forgotten went to the same server, since the
    /// firewall tracks one flow per client port and server (an RRQ, then a
    /// WRQ from the same port).
    pub fn latest_from(&self, client: SocketAddr) -> Option<&Transfer<S>> {
        self.live.iter().rev().find(|t| t.client == client)
    }

    /// How many live return paths lead to `client`'s address.
    pub fn count_for(&self, client: IpAddr) -> usize {
        self.per_client.get(&client).copied().unwrap_or(0)
    }

    /// How many live return paths lead to servers of `server`'s family
    /// (the paths in one map).
    pub fn count_in_family_of(&self, server: SocketAddr) -> usize {
        self.per_family[family(server)]
    }

    /// How many live return paths were asked for on `interface`.
    pub fn count_on_interface(&self, interface: Option<u32>) -> usize {
        self.per_interface.get(&interface).copied().unwrap_or(0)
    }

    /// How many transfers are live.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// When the last live transfer's wait is over (`None`: none is live).
    pub fn last_until(&self) -> Option<Instant> {
        self.live.iter().map(|t| t.until).max()
    }

    /// Records a new transfer.
    pub fn insert(&mut self, transfer: Transfer<S>) {
        *self.per_client.entry(transfer.client.ip()).or_insert(0) += 1;
        self.per_family[family(transfer.path.server)] += 1;
        *self.per_interface.entry(transfer.interface).or_insert(0) += 1;
        // Waits are all the same length, so the deque stays in order of
        // expiry; a clock that went backwards only delays one expiry.
        self.live.push_back(transfer);
    }

    /// Takes every live transfer out (the helper is stopping).
    pub fn drain(&mut self) -> Vec<Transfer<S>> {
        self.per_client.clear();
        self.per_family = [0; 2];
        self.per_interface.clear();
        self.live.drain(..).collect()
    }

    fn uncount(&mut self, transfer: &Transfer<S>) {
        let client = transfer.client.ip();
        if let Some(n) = self.per_client.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&client);
            }
        }
        let f = &mut self.per_family[family(transfer.path.server)];
        *f = f.saturating_sub(1);
        if let Some(n) = self.per_interface.get_mut(&transfer.interface) {
            *n -= 1;
            if *n == 0 {
                self.per_interface.remove(&transfer.interface);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn transfer(client: &str, server: &str, request: &[u8], until: Instant) -> Transfer<u16> {
        let client: SocketAddr = client.parse().unwrap();
        Transfer {
            path: ReturnPath {
                client,
                proxy: "198.51.100.1:40000".parse().unwrap(),
                server: server.parse().unwrap(),
                idle_limit: crate::firewall::STATE_IDLE_LIMIT,
            },
            client,
            request: request.to_vec(),
            upstream: 0,
            until,
            last_sent: until,
            last_sent_at: SystemTime::now(),
            label: RequestLabel {
                opcode: "RRQ",
                filename: "\"f\"".into(),
            },
            retransmissions: 0,
            interface: Some(2),
        }
    }

    #[test]
    fn identical_request_from_same_port_is_a_retransmission() {
        let now = Instant::now();
        let mut t = Transfers::default();
        t.insert(transfer(
            "192.0.2.20:5000",
            "198.51.100.2:69",
            b"\x00\x02a\x00octet\x00",
            now,
        ));
        let client = "192.0.2.20:5000".parse().unwrap();
        let server = "198.51.100.2:69".parse().unwrap();
        assert!(t
            .retransmission_of(client, server, b"\x00\x02a\x00octet\x00")
            .is_some());
        // Another request, port or server is a new transfer.
        assert!(t
            .retransmission_of(client, server, b"\x00\x01a\x00octet\x00")
            .is_none());
        let other_port = "192.0.2.20:5001".parse().unwrap();
        assert!(t
            .retransmission_of(other_port, server, b"\x00\x02a\x00octet\x00")
            .is_none());
        let other_server = "198.51.100.3:69".parse().unwrap();
        assert!(t
            .retransmission_of(client, other_server, b"\x00\x02a\x00octet\x00")
            .is_none());
    }

    #[test]
    fn a_repeat_is_found_without_the_server() {
        let now = Instant::now();
        let mut t = Transfers::default();
        t.insert(transfer("192.0.2.20:5000", "198.51.100.2:69", b"rrq", now));
        let client = "192.0.2.20:5000".parse().unwrap();
        let found = t.repeated_by(client, b"rrq").map(|l| l.path.server);
        assert_eq!(found, "198.51.100.2:69".parse().ok());
        assert!(t.repeated_by(client, b"other").is_none());
        let other_port = "192.0.2.20:5001".parse().unwrap();
        assert!(t.repeated_by(other_port, b"rrq").is_none());
    }

    #[test]
    fn the_latest_transfer_from_a_port_is_found_whatever_its_request() {
        let now = Instant::now();
        let mut t = Transfers::default();
        t.insert(transfer("192.0.2.20:5000", "198.51.100.2:69", b"rrq", now));
        t.insert(transfer("192.0.2.20:5000", "198.51.100.3:69", b"wrq", now));
        let client = "192.0.2.20:5000".parse().unwrap();
        let found = t.latest_from(client).map(|l| l.path.server);
        assert_eq!(found, "198.51.100.3:69".parse().ok());
        assert!(t.latest_from("192.0.2.20:5001".parse().unwrap()).is_none());
    }

    #[test]
    fn a_copy_is_sent_again_only_after_a_client_timeout() {
        let now = Instant::now();
        let t = transfer("192.0.2.20:5000", "198.51.100.2:69", b"a", now);
        assert!(!t.resend_due(now + Duration::from_millis(5)));
        assert!(t.resend_due(now + RESEND_AFTER));
    }

    #[test]
    fn expiry_forgets_and_uncounts() {
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        let mut t = Transfers::default();
        t.insert(transfer(
            "192.0.2.20:5000",
            "198.51.100.2:69",
            b"a",
            now + wait,
        ));
        t.insert(transfer(
            "192.0.2.20:5001",
            "198.51.100.2:69",
            b"b",
            now + 2 * wait,
        ));
        t.insert(transfer(
            "192.0.2.21:5000",
            "198.51.100.2:69",
            b"c",
            now + 2 * wait,
        ));
        let client: IpAddr = "192.0.2.20".parse().unwrap();
        assert_eq!(t.count_for(client), 2);
        let v4_server = "198.51.100.2:69".parse().unwrap();
        let v6_server = "[2001:db8:2::2]:69".parse().unwrap();
        assert_eq!(t.count_in_family_of(v4_server), 3);
        assert_eq!(t.count_in_family_of(v6_server), 0);
        assert_eq!(t.count_on_interface(Some(2)), 3);
        assert_eq!(t.count_on_interface(None), 0);
        assert_eq!(t.last_until(), Some(now + 2 * wait));
        assert_eq!(t.expire(now + wait).len(), 1, "the one whose wait is over");
        assert_eq!(t.count_for(client), 1);
        assert_eq!(t.len(), 2);
        assert_eq!(t.expire(now + 2 * wait).len(), 2);
        assert_eq!(t.count_for(client), 0);
        assert_eq!(t.count_in_family_of(v4_server), 0);
        assert_eq!(t.count_on_interface(Some(2)), 0);
        assert_eq!(t.len(), 0);
        assert_eq!(t.last_until(), None);
    }

    #[test]
    fn a_renewed_transfer_expires_last() {
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        let mut t = Transfers::default();
        t.insert(transfer(
            "192.0.2.20:5000",
            "198.51.100.2:69",
            b"a",
            now + wait,
        ));
        t.insert(transfer(
            "192.0.2.21:5000",
            "198.51.100.2:69",
            b"b",
            now + wait,
        ));
        let client = "192.0.2.20:5000".parse().unwrap();
        let server = "198.51.100.2:69".parse().unwrap();
        t.renew(client, server, b"a", now + 2 * wait);
        let first = t.expire(now + wait);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].request, b"b");
        assert_eq!(t.last_until(), Some(now + 2 * wait));
        assert_eq!(t.expire(now + 2 * wait)[0].request, b"a");
    }

    #[test]
    fn drain_takes_everything() {
        let now = Instant::now();
        let mut t = Transfers::default();
        t.insert(transfer("192.0.2.20:5000", "198.51.100.2:69", b"a", now));
        assert_eq!(t.drain().len(), 1);
        assert_eq!(t.count_for("192.0.2.20".parse().unwrap()), 0);
        assert_eq!(t.len(), 0);
    }
}
