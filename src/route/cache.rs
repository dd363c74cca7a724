//! Linux: the interface facts a client check needs, kept between
//! requests instead of asked for each one (each name is a socket, an
//! ioctl and a close; each address's interface a `getifaddrs`).
//!
//! This file owns what is kept and for how long:
//! - an interface's name by index, kept until the firewall's own
//!   addresses are read again (`src/proxy/own_addresses.rs`: at most
//!   5 s apart, sooner after a renumbering). On Linux
//!   a name only words a refusal: the check compares indexes, so a name
//!   a rename made stale can never change a verdict;
//! - the interface holding a local address, kept for one wake-up only: a
//!   renumbering that moves an address to another interface is seen by
//!   the next wake-up's datagrams, as it was when each asked anew.

use super::{interface_name, interface_of};
use std::collections::HashMap;
use std::net::IpAddr;

/// Interface names and address holders as last looked up.
#[derive(Debug, Default)]
pub struct InterfaceCache {
    names: HashMap<u32, String>,
    holders: HashMap<IpAddr, Option<u32>>,
    /// The own-address read the names were kept under.
    own_reads: u64,
}

impl InterfaceCache {
    /// The name of interface `index`, looked up once per own-address read.
    pub fn name(&mut self, index: u32) -> String {
        self.names
            .entry(index)
            .or_insert_with(|| interface_name(index))
            .clone()
    }

    /// The index of the interface holding `ip`, looked up once a wake-up.
    pub fn holder(&mut self, ip: IpAddr) -> Option<u32> {
        *self.holders.entry(ip).or_insert_with(|| interface_of(ip))
    }

    /// Starts a wake-up whose datagrams saw own-address read `own_reads`:
    /// the holders are asked again, and the names too if the own
    /// addresses were read again since they were kept.
    pub fn next_wakeup(&mut self, own_reads: u64) {
        self.holders.clear();
        if own_reads != self.own_reads {
            self.names.clear();
            self.own_reads = own_reads;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_last_a_wakeup_and_names_an_own_address_read() {
        let mut cache = InterfaceCache::default();
        cache.names.insert(1, "stale".into());
        cache.holders.insert("192.0.2.1".parse().unwrap(), Some(7));
        assert_eq!(cache.name(1), "stale");
        assert_eq!(cache.holder("192.0.2.1".parse().unwrap()), Some(7));
        cache.next_wakeup(0);
        assert!(cache.holders.is_empty());
        assert_eq!(cache.name(1), "stale");
        cache.next_wakeup(1);
        assert!(cache.names.is_empty());
        // An address no interface holds is looked up and kept as none.
        assert_eq!(cache.holder("192.0.2.77".parse().unwrap()), None);
        assert_eq!(cache.holders.len(), 1);
    }
}
