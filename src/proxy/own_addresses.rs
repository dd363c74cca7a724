//! The firewall's own addresses as the serve loop knows them, kept in
//! step with the interfaces while the helper lives: a renumbering (an
//! IPv6 prefix change, a new DHCP lease, an operator's edit) must neither
//! make a redirected request look like something else nor let a request
//! to a new address of the firewall through as a server.
//!
//! They are read again when a datagram arrives at an address not among
//! them (on Linux a redirect always delivers to one of the firewall's own
//! addresses, so an unknown one means they changed), at most every
//! [`REREAD_UNKNOWN`], and every [`REREAD_EVERY`] regardless, so a removed
//! address stops counting as the firewall's. One read is one
//! `getifaddrs`, which OpenBSD allows a process pledged "inet"
//! (`pledge_sysctl()` in kern/kern_pledge.c lets NET_RT_IFLIST through).
//! This file owns that bookkeeping; the reader is passed in.

use crate::policy::{unmap, Host};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The shortest gap between two reads caused by unknown arrival
/// addresses (a flood to unknown addresses costs at most this many reads).
pub const REREAD_UNKNOWN: Duration = Duration::from_millis(100);

/// How often the addresses are read again in any case.
pub const REREAD_EVERY: Duration = Duration::from_secs(5);

/// Reads the firewall's addresses.
pub type Reader = fn() -> std::io::Result<Host>;

/// The firewall's own addresses, and when they were read.
#[derive(Debug)]
pub struct OwnAddresses {
    host: Host,
    read_at: Instant,
    reader: Reader,
    /// How many reads succeeded after the first.
    reads: u64,
}

impl OwnAddresses {
    /// Starts from `host`, read at `now`; later reads use `reader`.
    pub fn new(host: Host, now: Instant, reader: Reader) -> Self {
        OwnAddresses {
            host,
            read_at: now,
            reader,
            reads: 0,
        }
    }

    /// The addresses as last read.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// How many times the addresses were read again: what was derived
    /// from the interfaces under an older count may be stale.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Reads the addresses again if a datagram arrived at `local`, an
    /// address not among them, or if they are due anyway. A failed read
    /// keeps the old ones and is returned.
    pub fn follow(&mut self, local: IpAddr, now: Instant) -> Option<std::io::Error> {
        let since = now.saturating_duration_since(self.read_at);
        let due = since >= REREAD_EVERY || (since >= REREAD_UNKNOWN && !self.knows(local));
        if !due {
            return None;
        }
        self.read_at = now;
        match (self.reader)() {
            Ok(host) => {
                self.host = host;
                self.reads += 1;
                None
            }
            Err(e) => Some(e),
        }
    }

    /// Whether `local` is a known arrival address: one of the firewall's,
    /// one of its broadcast addresses, or a group or unspecified address
    /// (which no renumbering explains).
    fn knows(&self, local: IpAddr) -> bool {
        let ip = unmap(local);
        let group = match ip {
            IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast(),
            IpAddr::V6(v6) => v6.is_multicast(),
        };
        let listed = |list: &[IpAddr]| list.iter().any(|&a| unmap(a) == ip);
        group
            || ip.is_unspecified()
            || listed(&self.host.addresses)
            || listed(&self.host.broadcasts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renumbered() -> std::io::Result<Host> {
        Ok(Host {
            addresses: vec!["192.0.2.254".parse().unwrap()],
            broadcasts: vec!["192.0.2.255".parse().unwrap()],
        })
    }

    fn start(now: Instant) -> OwnAddresses {
        let host = Host {
            addresses: vec!["192.0.2.1".parse().unwrap()],
            broadcasts: vec!["192.0.2.255".parse().unwrap()],
        };
        OwnAddresses::new(host, now, renumbered)
    }

    #[test]
    fn an_unknown_arrival_address_is_looked_up() {
        let t0 = Instant::now();
        let mut own = start(t0);
        let new: IpAddr = "192.0.2.254".parse().unwrap();
        // Too soon after the last read: not yet.
        assert!(own.follow(new, t0).is_none());
        assert_eq!(
            own.host().addresses,
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(own.reads(), 0);
        assert!(own.follow(new, t0 + REREAD_UNKNOWN).is_none());
        assert_eq!(own.host().addresses, [new]);
        assert_eq!(own.reads(), 1);
    }

    #[test]
    fn known_addresses_cost_no_read_until_due() {
        let t0 = Instant::now();
        let mut own = start(t0);
        for known in ["192.0.2.1", "192.0.2.255", "255.255.255.255", "0.0.0.0"] {
            own.follow(known.parse().unwrap(), t0 + Duration::from_secs(1));
            assert_eq!(
                own.host().addresses,
                ["192.0.2.1".parse::<IpAddr>().unwrap()]
            );
        }
        own.follow("192.0.2.1".parse().unwrap(), t0 + REREAD_EVERY);
        assert_eq!(
            own.host().addresses,
            ["192.0.2.254".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn a_failed_read_keeps_the_old_addresses() {
        let t0 = Instant::now();
        let host = Host {
            addresses: vec!["192.0.2.1".parse().unwrap()],
            broadcasts: Vec::new(),
        };
        let mut own = OwnAddresses::new(host, t0, || Err(std::io::Error::other("no")));
        assert!(own
            .follow("192.0.2.254".parse().unwrap(), t0 + REREAD_EVERY)
            .is_some());
        assert_eq!(
            own.host().addresses,
            ["192.0.2.1".parse::<IpAddr>().unwrap()]
        );
    }
}
