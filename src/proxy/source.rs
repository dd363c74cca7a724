//! The address the helper's requests to servers leave from (`-a`).
//!
//! By default the kernel picks the source of each request by its route
//! toward the server. `-a` names it instead, at most once per address
//! family: the shared address of a CARP or VRRP pair, which the servers
//! must see and answer to whichever firewall holds it, or one uplink's
//! address on a firewall with several. The return path is keyed on the
//! socket's address, so it follows. This file owns that choice, as pure
//! code; the socket itself is opened in the request flow.

use crate::policy::unmap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The chosen source addresses, one per family at most.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceAddresses {
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

/// Why the `-a` addresses cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Two addresses of one family: which one should a request use?
    #[error("-a {0} and -a {1}: at most one source address per address family")]
    TwoOfAFamily(IpAddr, IpAddr),
    /// An address no request can leave from.
    #[error("-a {0}: not a unicast address")]
    NotUnicast(IpAddr),
}

impl SourceAddresses {
    /// Checks the `-a` addresses (IPv4-mapped IPv6 ones count as IPv4).
    pub fn new(addresses: &[IpAddr]) -> Result<Self, SourceError> {
        let mut chosen = SourceAddresses::default();
        for &given in addresses {
            let ip = unmap(given);
            let unicast = match ip {
                IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
                IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
            };
            if !unicast {
                return Err(SourceError::NotUnicast(given));
            }
            let earlier: Option<IpAddr> = match ip {
                IpAddr::V4(v4) => chosen.v4.replace(v4).map(Into::into),
                IpAddr::V6(v6) => chosen.v6.replace(v6).map(Into::into),
            };
            if let Some(earlier) = earlier {
                return Err(SourceError::TwoOfAFamily(earlier, ip));
            }
        }
        Ok(chosen)
    }

    /// Where a socket toward `server` is bound: the chosen address of the
    /// server's family, or that family's wildcard; port 0 (the kernel
    /// picks it).
    pub fn bind_address(&self, server: SocketAddr) -> SocketAddr {
        let ip: IpAddr = match server.ip() {
            IpAddr::V4(_) => self.v4.unwrap_or(Ipv4Addr::UNSPECIFIED).into(),
            IpAddr::V6(_) => self.v6.unwrap_or(Ipv6Addr::UNSPECIFIED).into(),
        };
        SocketAddr::new(ip, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_a_the_kernel_picks() {
        let none = SourceAddresses::new(&[]).unwrap();
        assert_eq!(
            none.bind_address(addr("198.51.100.2:69")),
            addr("0.0.0.0:0")
        );
        assert_eq!(
            none.bind_address(addr("[2001:db8:2::2]:69")),
            addr("[::]:0")
        );
    }

    #[test]
    fn each_family_uses_its_own_address() {
        let both = SourceAddresses::new(&ips(&["198.51.100.9", "2001:db8:2::9"])).unwrap();
        assert_eq!(
            both.bind_address(addr("203.0.113.5:69")),
            addr("198.51.100.9:0")
        );
        assert_eq!(
            both.bind_address(addr("[2001:db8:3::5]:69")),
            addr("[2001:db8:2::9]:0")
        );
        let v4_only = SourceAddresses::new(&ips(&["198.51.100.9"])).unwrap();
        assert_eq!(
            v4_only.bind_address(addr("[2001:db8:3::5]:69")),
            addr("[::]:0"),
            "an IPv6 server without an IPv6 -a"
        );
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let mapped = SourceAddresses::new(&ips(&["::ffff:198.51.100.9"])).unwrap();
        assert_eq!(
            mapped.bind_address(addr("203.0.113.5:69")),
            addr("198.51.100.9:0")
        );
        assert_eq!(
            SourceAddresses::new(&ips(&["198.51.100.9", "::ffff:198.51.100.10"])),
            Err(SourceError::TwoOfAFamily(
                ips(&["198.51.100.9"])[0],
                ips(&["198.51.100.10"])[0]
            ))
        );
    }

    #[test]
    fn two_of_a_family_or_non_unicast_are_refused() {
        assert!(matches!(
            SourceAddresses::new(&ips(&["2001:db8::1", "2001:db8::2"])),
            Err(SourceError::TwoOfAFamily(..))
        ));
        for bad in ["0.0.0.0", "255.255.255.255", "224.0.0.1", "::", "ff02::1"] {
            assert_eq!(
                SourceAddresses::new(&ips(&[bad])),
                Err(SourceError::NotUnicast(bad.parse().unwrap())),
                "{bad}"
            );
        }
        let message = SourceAddresses::new(&ips(&["192.0.2.1", "192.0.2.2"]))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("-a 192.0.2.1 and -a 192.0.2.2"),
            "{message}"
        );
    }
}
