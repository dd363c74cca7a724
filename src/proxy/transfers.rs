//! The live transfers of this process: each forwarded request with the
//! socket it left from, kept until its return path's transfer wait is
//! over. A transfer whose return path carried the server's answer is
//! settled before that ([`Transfers::settle`]): its path is removed and no
//! longer counted, but the transfer stays, with its socket, until its
//! wait is over, so that copies of its request are still told apart.
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
use std::collections::{BTreeMap, HashMap, VecDeque};
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
    /// Whether its return path carried the server's answer and was
    /// removed, its outcome logged ([`Transfers::settle`]).
    pub settled: bool,
}

impl<S> Transfer<S> {
    /// Whether a retransmission arriving at `now` is to be sent again
    /// (else it is a copy the server already has).
    pub fn resend_due(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_sent) >= RESEND_AFTER
    }
}

/// The live transfers, oldest first.
///
/// Every per-datagram operation costs O(1), or O(log n) in the number of
/// live transfers, amortized: transfers sit in slots numbered in order of
/// insertion (a renewed one moves to a new slot at the back, leaving its
/// old slot empty until it reaches the front), each client address and
/// port keeps the numbers of its own slots in the same order, and the
/// counts and the set of waits are kept as transfers come and go.
#[derive(Debug)]
pub struct Transfers<S> {
    /// The slots, oldest first; the front one is numbered `first`. An
    /// empty slot is one whose transfer was renewed into a later slot.
    slots: VecDeque<Option<Transfer<S>>>,
    /// The number of the front slot.
    first: u64,
    /// How many slots hold a transfer.
    live: usize,
    /// The numbers of each client's (address and port) slots, oldest first.
    by_client: HashMap<SocketAddr, VecDeque<u64>>,
    /// How many live transfers' waits end at each instant.
    untils: BTreeMap<Instant, usize>,
    per_client: HashMap<IpAddr, usize>,
    /// Live return paths per map: IPv4, IPv6 (by the server's family).
    per_family: [usize; 2],
    per_interface: HashMap<Option<u32>, usize>,
}

impl<S> Default for Transfers<S> {
    fn default() -> Self {
        Transfers {
            slots: VecDeque::new(),
            first: 0,
            live: 0,
            by_client: HashMap::new(),
            untils: BTreeMap::new(),
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

/// Adds one to `key`'s count.
fn add<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: K) {
    *counts.entry(key).or_insert(0) += 1;
}

/// Takes one from `key`'s count, forgetting the key at zero.
fn take<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl<S> Transfers<S> {
    /// Takes out every transfer whose wait is over at `now` (dropping them
    /// closes their sockets).
    pub fn expire(&mut self, now: Instant) -> Vec<Transfer<S>> {
        let mut expired = Vec::new();
        loop {
            match self.slots.front() {
                Some(None) => {}
                Some(Some(t)) if t.until <= now => {}
                _ => break,
            }
            let slot = self.slots.pop_front().flatten();
            let number = self.first;
            self.first += 1;
            if let Some(t) = slot {
                // The oldest live transfer overall is its client's oldest:
                // found at the front of its numbers.
                if let Some(numbers) = self.by_client.get_mut(&t.client) {
                    if let Some(i) = numbers.iter().position(|&n| n == number) {
                        numbers.remove(i);
                    }
                    if numbers.is_empty() {
                        self.by_client.remove(&t.client);
                    }
                }
                self.uncount(&t);
                expired.push(t);
            }
        }
        expired
    }

    /// The live transfers not settled yet: each one's slot number (for
    /// [`Transfers::settle`]) and return path.
    pub fn unsettled(&self) -> Vec<(u64, ReturnPath)> {
        (self.first..)
            .zip(&self.slots)
            .filter_map(|(number, slot)| {
                let t = slot.as_ref()?;
                (!t.settled).then_some((number, t.path))
            })
            .collect()
    }

    /// Marks the live transfer in slot `number`, on `path`, settled: its
    /// return path is removed now and no longer counts against any cap.
    /// The transfer itself stays until its wait is over. `None`: that slot
    /// holds no unsettled transfer on that path.
    pub fn settle(&mut self, number: u64, path: &ReturnPath) -> Option<&Transfer<S>> {
        let index = usize::try_from(number.checked_sub(self.first)?).ok()?;
        let t = self.slots.get_mut(index)?.as_mut()?;
        if t.settled || t.path != *path {
            return None;
        }
        t.settled = true;
        let (client, server, interface) = (t.client.ip(), t.path.server, t.interface);
        self.uncount_path(client, server, interface);
        self.slots.get(index)?.as_ref()
    }

    /// How many live transfers still hold a return path.
    pub fn paths_held(&self) -> usize {
        self.per_family.iter().sum()
    }

    /// The slot numbered `number`, if it holds a transfer.
    fn slot(&self, number: u64) -> Option<&Transfer<S>> {
        let index = usize::try_from(number.checked_sub(self.first)?).ok()?;
        self.slots.get(index)?.as_ref()
    }

    /// The slot numbered `number`, if it holds a transfer, to change.
    fn slot_mut(&mut self, number: u64) -> Option<&mut Option<Transfer<S>>> {
        let index = usize::try_from(number.checked_sub(self.first)?).ok()?;
        self.slots.get_mut(index).filter(|slot| slot.is_some())
    }

    /// The number of the latest live transfer from `client` that `matches`.
    fn latest_matching(
        &self,
        client: SocketAddr,
        matches: impl Fn(&Transfer<S>) -> bool,
    ) -> Option<u64> {
        self.by_client
            .get(&client)?
            .iter()
            .rev()
            .copied()
            .find(|&number| self.slot(number).is_some_and(&matches))
    }

    /// The number of the live transfer `datagram` from `client` to
    /// `server` repeats, if any.
    fn repeated_to(&self, client: SocketAddr, server: SocketAddr, datagram: &[u8]) -> Option<u64> {
        self.latest_matching(client, |t| {
            t.path.server == server && t.request.as_slice() == datagram
        })
    }

    /// The live transfer `datagram` from `client` to `server` repeats, if any.
    pub fn retransmission_of(
        &mut self,
        client: SocketAddr,
        server: SocketAddr,
        datagram: &[u8],
    ) -> Option<&mut Transfer<S>> {
        let number = self.repeated_to(client, server, datagram)?;
        self.slot_mut(number)?.as_mut()
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
        let Some(number) = self.repeated_to(client, server, datagram) else {
            return;
        };
        let Some(mut t) = self.slot_mut(number).and_then(Option::take) else {
            return;
        };
        self.forget_until(t.until);
        *self.untils.entry(until).or_insert(0) += 1;
        t.until = until;
        let back = self.first + self.slots.len() as u64;
        if let Some(numbers) = self.by_client.get_mut(&client) {
            if let Some(i) = numbers.iter().rposition(|&n| n == number) {
                numbers.remove(i);
            }
            numbers.push_back(back);
        }
        self.slots.push_back(Some(t));
    }

    /// The live transfer `client` started with exactly `datagram`, to
    /// whichever server: for a copy the firewall no longer knows the
    /// redirected flow of, because the first copy's state was forgotten
    /// (`Firewall::request_forwarded`) while the copy waited on the socket.
    pub fn repeated_by(&self, client: SocketAddr, datagram: &[u8]) -> Option<&Transfer<S>> {
        let number = self.latest_matching(client, |t| t.request.as_slice() == datagram)?;
        self.slot(number)
    }

    /// The latest live transfer from `client` (address and port), whatever
    /// its request: a datagram from that port queued while the first one's
    /// redirected state was forgotten went to the same server, since the
    /// firewall tracks one flow per client port and server (an RRQ, then a
    /// WRQ from the same port).
    pub fn latest_from(&self, client: SocketAddr) -> Option<&Transfer<S>> {
        let number = self.latest_matching(client, |_| true)?;
        self.slot(number)
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

    /// How many transfers are live (settled or not: each holds a socket).
    pub fn len(&self) -> usize {
        self.live
    }

    /// When the last live transfer's wait is over (`None`: none is live).
    pub fn last_until(&self) -> Option<Instant> {
        self.untils.last_key_value().map(|(&until, _)| until)
    }

    /// Records a new transfer.
    pub fn insert(&mut self, transfer: Transfer<S>) {
        add(&mut self.per_client, transfer.client.ip());
        self.per_family[family(transfer.path.server)] += 1;
        add(&mut self.per_interface, transfer.interface);
        *self.untils.entry(transfer.until).or_insert(0) += 1;
        self.live += 1;
        let number = self.first + self.slots.len() as u64;
        self.by_client
            .entry(transfer.client)
            .or_default()
            .push_back(number);
        // Waits are all the same length, so the slots stay in order of
        // expiry; a clock that went backwards only delays one expiry.
        self.slots.push_back(Some(transfer));
    }

    /// Takes every live transfer out (the helper is stopping).
    pub fn drain(&mut self) -> Vec<Transfer<S>> {
        self.per_client.clear();
        self.per_family = [0; 2];
        self.per_interface.clear();
        self.by_client.clear();
        self.untils.clear();
        self.live = 0;
        self.first += self.slots.len() as u64;
        self.slots.drain(..).flatten().collect()
    }

    /// Forgets one live transfer's wait ending at `until`.
    fn forget_until(&mut self, until: Instant) {
        if let Some(n) = self.untils.get_mut(&until) {
            *n -= 1;
            if *n == 0 {
                self.untils.remove(&until);
            }
        }
    }

    fn uncount(&mut self, transfer: &Transfer<S>) {
        if !transfer.settled {
            self.uncount_path(
                transfer.client.ip(),
                transfer.path.server,
                transfer.interface,
            );
        }
        self.forget_until(transfer.until);
        self.live -= 1;
    }

    /// Takes one return path out of the counts of `client`, `server`'s
    /// map and `interface`.
    fn uncount_path(&mut self, client: IpAddr, server: SocketAddr, interface: Option<u32>) {
        take(&mut self.per_client, &client);
        let f = &mut self.per_family[family(server)];
        *f = f.saturating_sub(1);
        take(&mut self.per_interface, &interface);
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
            settled: false,
        }
    }

    /// Transfers holding one transfer for each (client, server, request),
    /// all waiting until `until`.
    fn holding(entries: &[(&str, &str, &[u8])], until: Instant) -> Transfers<u16> {
        let mut t = Transfers::default();
        for (client, server, request) in entries {
            t.insert(transfer(client, server, request, until));
        }
        t
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
        let mut t = holding(
            &[
                ("192.0.2.20:5000", "198.51.100.2:69", b"a"),
                ("192.0.2.21:5000", "198.51.100.2:69", b"b"),
            ],
            now + wait,
        );
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
    fn a_settled_transfer_stops_counting_but_stays_until_its_wait_is_over() {
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        let mut t = holding(
            &[
                ("192.0.2.20:5000", "198.51.100.2:69", b"a"),
                ("192.0.2.20:5001", "198.51.100.2:69", b"b"),
            ],
            now + wait,
        );
        let (number, first) = t.unsettled()[0];
        let client: IpAddr = "192.0.2.20".parse().unwrap();
        let server: SocketAddr = "198.51.100.2:69".parse().unwrap();
        let other = t.unsettled()[1].1;
        assert!(t.settle(number, &other).is_none(), "another path");
        let settled = t.settle(number, &first).map(|s| s.request.clone());
        assert_eq!(settled, Some(b"a".to_vec()));
        assert!(t.settle(number, &first).is_none(), "settled once only");
        t.assert_consistent();
        assert_eq!(t.count_for(client), 1);
        assert_eq!(t.count_in_family_of(server), 1);
        assert_eq!(t.count_on_interface(Some(2)), 1);
        assert_eq!(t.paths_held(), 1);
        // Still found, so a late copy of its request is told apart.
        assert!(t
            .retransmission_of("192.0.2.20:5000".parse().unwrap(), server, b"a")
            .is_some_and(|s| s.settled));
        assert_eq!(t.len(), 2);
        assert_eq!(t.unsettled().len(), 1);
        // Its expiry uncounts nothing twice.
        assert_eq!(t.expire(now + wait).len(), 2);
        t.assert_consistent();
        assert_eq!(t.count_for(client), 0);
        assert_eq!(t.paths_held(), 0);
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

    impl<S> Transfers<S> {
        /// Recounts everything from the slots and compares it with what is
        /// kept as transfers come and go.
        fn assert_consistent(&self) {
            let live: Vec<(u64, &Transfer<S>)> = (self.first..)
                .zip(&self.slots)
                .filter_map(|(number, slot)| Some((number, slot.as_ref()?)))
                .collect();
            assert_eq!(self.live, live.len());
            let mut per_client = HashMap::new();
            let mut per_family = [0; 2];
            let mut per_interface = HashMap::new();
            let mut untils = BTreeMap::new();
            let mut by_client: HashMap<SocketAddr, VecDeque<u64>> = HashMap::new();
            for &(number, t) in &live {
                if !t.settled {
                    *per_client.entry(t.client.ip()).or_insert(0) += 1;
                    per_family[family(t.path.server)] += 1;
                    *per_interface.entry(t.interface).or_insert(0) += 1;
                }
                *untils.entry(t.until).or_insert(0) += 1;
                by_client.entry(t.client).or_default().push_back(number);
            }
            assert_eq!(self.per_client, per_client);
            assert_eq!(self.per_family, per_family);
            assert_eq!(self.per_interface, per_interface);
            assert_eq!(self.untils, untils);
            assert_eq!(self.by_client, by_client);
        }
    }

    #[test]
    fn the_latest_of_several_transfers_from_one_port_is_found() {
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        let mut t = Transfers::default();
        let client: SocketAddr = "192.0.2.20:5000".parse().unwrap();
        let first: SocketAddr = "198.51.100.2:69".parse().unwrap();
        let second: SocketAddr = "198.51.100.3:69".parse().unwrap();
        let mut a = transfer("192.0.2.20:5000", "198.51.100.2:69", b"rrq", now + wait);
        a.upstream = 1;
        let mut b = transfer("192.0.2.20:5000", "198.51.100.3:69", b"rrq", now + wait);
        b.upstream = 2;
        let mut c = transfer("192.0.2.20:5000", "198.51.100.2:69", b"wrq", now + wait);
        c.upstream = 3;
        t.insert(a);
        t.insert(transfer("192.0.2.21:5000", "198.51.100.2:69", b"rrq", now));
        t.insert(b);
        t.insert(c);
        t.assert_consistent();
        assert_eq!(t.latest_from(client).map(|l| l.upstream), Some(3));
        assert_eq!(t.repeated_by(client, b"rrq").map(|l| l.upstream), Some(2));
        let to_first = t.retransmission_of(client, first, b"rrq");
        assert_eq!(to_first.map(|l| l.upstream), Some(1));
        // Renewing the oldest makes it the latest.
        t.renew(client, first, b"rrq", now + 2 * wait);
        t.assert_consistent();
        assert_eq!(t.latest_from(client).map(|l| l.upstream), Some(1));
        assert_eq!(t.repeated_by(client, b"rrq").map(|l| l.upstream), Some(1));
        let to_second = t.retransmission_of(client, second, b"rrq");
        assert_eq!(to_second.map(|l| l.upstream), Some(2));
        // The others' wait ends first: the renewed one is left.
        assert_eq!(t.expire(now + wait).len(), 3);
        t.assert_consistent();
        assert_eq!(t.latest_from(client).map(|l| l.upstream), Some(1));
        assert!(t.repeated_by(client, b"wrq").is_none());
        assert_eq!(t.count_for(client.ip()), 1);
    }

    #[test]
    fn a_renewal_leaves_an_empty_slot_that_expiry_clears() {
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        let mut t = holding(
            &[
                ("192.0.2.20:5000", "198.51.100.2:69", b"a"),
                ("192.0.2.21:5000", "198.51.100.2:69", b"b"),
            ],
            now + wait,
        );
        let client = "192.0.2.20:5000".parse().unwrap();
        let server = "198.51.100.2:69".parse().unwrap();
        t.renew(client, server, b"a", now + 2 * wait);
        t.renew(client, server, b"a", now + 3 * wait);
        t.assert_consistent();
        assert_eq!(t.len(), 2);
        assert_eq!(t.slots.len(), 4, "two slots left empty by the renewals");
        assert_eq!(t.last_until(), Some(now + 3 * wait));
        // Renewing what is not live changes nothing.
        t.renew(client, server, b"b", now + 4 * wait);
        assert_eq!(t.slots.len(), 4);
        assert_eq!(t.expire(now + wait).len(), 1);
        t.assert_consistent();
        assert_eq!(t.slots.len(), 1, "the empty slots in front went with it");
        assert_eq!(t.count_for(client.ip()), 1);
        assert_eq!(t.count_in_family_of(server), 1);
        assert_eq!(t.count_on_interface(Some(2)), 1);
        assert_eq!(t.expire(now + 2 * wait).len(), 0, "renewed past it");
        let last = t.expire(now + 3 * wait);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].request, b"a");
        t.assert_consistent();
        assert!(t.slots.is_empty());
        assert_eq!(t.last_until(), None);
        assert!(t.latest_from(client).is_none());
    }

    #[test]
    fn counts_after_renew_and_drain() {
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        let mut t = holding(
            &[
                ("192.0.2.20:5000", "198.51.100.2:69", b"a"),
                ("192.0.2.20:5001", "[2001:db8:2::2]:69", b"b"),
            ],
            now + wait,
        );
        let client = "192.0.2.20:5000".parse().unwrap();
        let v4_server = "198.51.100.2:69".parse().unwrap();
        let v6_server = "[2001:db8:2::2]:69".parse().unwrap();
        t.renew(client, v4_server, b"a", now + 2 * wait);
        t.assert_consistent();
        assert_eq!(t.count_for(client.ip()), 2, "a renewal counts once");
        assert_eq!(t.count_in_family_of(v4_server), 1);
        assert_eq!(t.count_in_family_of(v6_server), 1);
        assert_eq!(t.count_on_interface(Some(2)), 2);
        let drained: Vec<_> = t.drain().into_iter().map(|l| l.request).collect();
        assert_eq!(drained, [b"b".to_vec(), b"a".to_vec()], "oldest first");
        t.assert_consistent();
        assert_eq!(t.count_for(client.ip()), 0);
        assert_eq!(t.count_in_family_of(v4_server), 0);
        assert_eq!(t.count_on_interface(Some(2)), 0);
        assert_eq!(t.last_until(), None);
        // Numbering goes on after a drain.
        t.insert(transfer(
            "192.0.2.20:5000",
            "198.51.100.2:69",
            b"c",
            now + wait,
        ));
        t.assert_consistent();
        assert_eq!(
            t.latest_from(client).map(|l| l.request.clone()),
            Some(b"c".to_vec())
        );
    }

    /// The live transfers kept as one list searched from end to end: what
    /// [`Transfers`] must answer the same as.
    #[derive(Default)]
    struct Searched(Vec<Transfer<u16>>);

    impl Searched {
        fn expire(&mut self, now: Instant) -> Vec<u16> {
            let mut expired = Vec::new();
            while self.0.first().is_some_and(|t| t.until <= now) {
                expired.push(self.0.remove(0).upstream);
            }
            expired
        }

        fn find(
            &self,
            client: SocketAddr,
            server: Option<SocketAddr>,
            request: Option<&[u8]>,
        ) -> Option<usize> {
            self.0.iter().rposition(|t| {
                t.client == client
                    && server.is_none_or(|s| t.path.server == s)
                    && request.is_none_or(|r| t.request.as_slice() == r)
            })
        }

        fn renew(
            &mut self,
            client: SocketAddr,
            server: SocketAddr,
            request: &[u8],
            until: Instant,
        ) {
            if let Some(i) = self.find(client, Some(server), Some(request)) {
                let mut t = self.0.remove(i);
                t.until = until;
                self.0.push(t);
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert {
            client: usize,
            server: usize,
            request: usize,
            wait_ms: u64,
            interface: usize,
        },
        Renew {
            client: usize,
            server: usize,
            request: usize,
            wait_ms: u64,
        },
        Expire {
            advance_ms: u64,
        },
        Drain,
    }

    const CLIENTS: [&str; 4] = [
        "192.0.2.20:5000",
        "192.0.2.20:5001",
        "192.0.2.21:5000",
        "[2001:db8::1]:5000",
    ];
    const SERVERS: [&str; 3] = ["198.51.100.2:69", "198.51.100.3:69", "[2001:db8:2::2]:69"];
    const REQUESTS: [&[u8]; 2] = [b"rrq", b"wrq"];
    const INTERFACES: [Option<u32>; 3] = [Some(2), Some(3), None];

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..4usize, 0..3usize, 0..2usize, 0..3000u64, 0..3usize).prop_map(
                |(client, server, request, wait_ms, interface)| Step::Insert { client, server, request, wait_ms, interface }
            ),
            3 => (0..4usize, 0..3usize, 0..2usize, 0..3000u64).prop_map(
                |(client, server, request, wait_ms)| Step::Renew { client, server, request, wait_ms }
            ),
            3 => (0..1500u64).prop_map(|advance_ms| Step::Expire { advance_ms }),
            1 => Just(Step::Drain),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn answers_as_a_search_of_every_transfer_would(steps in prop::collection::vec(step(), 1..80)) {
            let start = Instant::now();
            let mut now = start;
            let mut kept = Transfers::default();
            let mut searched = Searched::default();
            let mut next_id = 0u16;
            for step in steps {
                match step {
                    Step::Insert { client, server, request, wait_ms, interface } => {
                        let mut t = transfer(CLIENTS[client], SERVERS[server], REQUESTS[request], now + Duration::from_millis(wait_ms));
                        t.upstream = next_id;
                        t.interface = INTERFACES[interface];
                        next_id += 1;
                        let mut copy = transfer(CLIENTS[client], SERVERS[server], REQUESTS[request], t.until);
                        copy.upstream = t.upstream;
                        copy.interface = t.interface;
                        kept.insert(t);
                        searched.0.push(copy);
                    }
                    Step::Renew { client, server, request, wait_ms } => {
                        let (c, s) = (CLIENTS[client].parse().unwrap(), SERVERS[server].parse().unwrap());
                        let until = now + Duration::from_millis(wait_ms);
                        kept.renew(c, s, REQUESTS[request], until);
                        searched.renew(c, s, REQUESTS[request], until);
                    }
                    Step::Expire { advance_ms } => {
                        now += Duration::from_millis(advance_ms);
                        let expired: Vec<u16> = kept.expire(now).into_iter().map(|t| t.upstream).collect();
                        prop_assert_eq!(expired, searched.expire(now));
                    }
                    Step::Drain => {
                        let drained: Vec<u16> = kept.drain().into_iter().map(|t| t.upstream).collect();
                        let all: Vec<u16> = searched.0.drain(..).map(|t| t.upstream).collect();
                        prop_assert_eq!(drained, all);
                    }
                }
                kept.assert_consistent();
                prop_assert_eq!(kept.len(), searched.0.len());
                prop_assert_eq!(kept.last_until(), searched.0.iter().map(|t| t.until).max());
                for client in CLIENTS {
                    let client: SocketAddr = client.parse().unwrap();
                    let of = |i: Option<usize>| i.map(|i| searched.0[i].upstream);
                    prop_assert_eq!(kept.latest_from(client).map(|t| t.upstream), of(searched.find(client, None, None)));
                    prop_assert_eq!(kept.count_for(client.ip()), searched.0.iter().filter(|t| t.client.ip() == client.ip()).count());
                    for request in REQUESTS {
                        prop_assert_eq!(kept.repeated_by(client, request).map(|t| t.upstream), of(searched.find(client, None, Some(request))));
                        for server in SERVERS {
                            let server: SocketAddr = server.parse().unwrap();
                            let expected = of(searched.find(client, Some(server), Some(request)));
                            prop_assert_eq!(kept.retransmission_of(client, server, request).map(|t| t.upstream), expected);
                        }
                    }
                }
                for server in SERVERS {
                    let server: SocketAddr = server.parse().unwrap();
                    prop_assert_eq!(kept.count_in_family_of(server), searched.0.iter().filter(|t| t.path.server.is_ipv6() == server.is_ipv6()).count());
                }
                for interface in INTERFACES {
                    prop_assert_eq!(kept.count_on_interface(interface), searched.0.iter().filter(|t| t.interface == interface).count());
                }
            }
        }
    }
}
