//! The firewall's own addresses, read once at start (a request to one of
//! them would loop back into the helper), and the broadcast addresses of
//! its networks (a request to one of them must be refused as such, not
//! fail later in `sendto`).

use crate::policy::{subnet_router_anycast, Host};
use nix::net::if_::InterfaceFlags;
use std::net::{IpAddr, Ipv4Addr};

/// One address of an interface, as `getifaddrs` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The address.
    pub address: IpAddr,
    /// Its netmask, if reported.
    pub netmask: Option<IpAddr>,
    /// The broadcast (or, on a point-to-point link, peer) slot.
    pub broadcast: Option<IpAddr>,
    /// Whether the interface has `IFF_BROADCAST`: only then is the slot a
    /// broadcast address.
    pub broadcast_capable: bool,
}

/// The subnet-directed broadcast of an IPv4 address and netmask. Linux
/// adds a broadcast route for it whenever the prefix is shorter than 31
/// (net/ipv4/fib_frontend.c, `fib_add_ifaddr`), whether or not a
/// broadcast address was configured.
fn subnet_broadcast(address: Ipv4Addr, netmask: Ipv4Addr) -> Option<Ipv4Addr> {
    let mask = u32::from(netmask);
    if mask.leading_ones() >= 31 || mask.leading_ones() + mask.trailing_zeros() != 32 {
        return None;
    }
    Some(Ipv4Addr::from(u32::from(address) | !mask))
}

/// The [`Host`] these interface addresses describe. A broadcast slot equal
/// to the address itself (glibc's `getifaddrs` puts the address there when
/// no broadcast address was configured) is not a broadcast address. Each
/// IPv6 prefix's subnet-router anycast address counts as the firewall's
/// own: as a router it answers that address (Linux adds it to the `local`
/// table when forwarding is on: net/ipv6/addrconf.c, `addrconf_join_anycast`).
pub fn host_from(addresses: impl IntoIterator<Item = InterfaceAddress>) -> Host {
    let mut host = Host::default();
    for a in addresses {
        if !host.addresses.contains(&a.address) {
            host.addresses.push(a.address);
        }
        if let (IpAddr::V6(v6), Some(IpAddr::V6(mask))) = (a.address, a.netmask) {
            let prefix = u128::from(mask).leading_ones();
            if let Some(anycast) = subnet_router_anycast(v6, prefix) {
                let anycast = IpAddr::V6(anycast);
                if !host.addresses.contains(&anycast) {
                    host.addresses.push(anycast);
                }
            }
        }
        let mut add = |b: IpAddr| {
            if b != a.address && !host.broadcasts.contains(&b) {
                host.broadcasts.push(b);
            }
        };
        if a.broadcast_capable {
            if let Some(b) = a.broadcast {
                add(b);
            }
        }
        if let (IpAddr::V4(v4), Some(IpAddr::V4(mask))) = (a.address, a.netmask) {
            if let Some(b) = subnet_broadcast(v4, mask) {
                add(IpAddr::V4(b));
            }
        }
    }
    host
}

/// Reads the addresses and broadcast addresses of every interface.
pub fn local_host() -> std::io::Result<Host> {
    let ip = |a: Option<nix::sys::socket::SockaddrStorage>| -> Option<IpAddr> {
        let a = a?;
        if let Some(v4) = a.as_sockaddr_in() {
            return Some(IpAddr::V4(v4.ip()));
        }
        a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    };
    let addresses: Vec<InterfaceAddress> = nix::ifaddrs::getifaddrs()?
        .filter_map(|interface| {
            Some(InterfaceAddress {
                address: ip(interface.address)?,
                netmask: ip(interface.netmask),
                broadcast: ip(interface.broadcast),
                broadcast_capable: interface.flags.contains(InterfaceFlags::IFF_BROADCAST),
            })
        })
        .collect();
    Ok(host_from(addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v4(address: &str, netmask: &str, broadcast: Option<&str>) -> InterfaceAddress {
        InterfaceAddress {
            address: ip(address),
            netmask: Some(ip(netmask)),
            broadcast: broadcast.map(ip),
            broadcast_capable: true,
        }
    }

    #[test]
    fn address_without_configured_broadcast_is_not_its_own_broadcast() {
        // `ip addr add 192.0.2.1/24 dev eth1`: no brd, the slot holds the
        // address itself.
        let host = host_from([v4("192.0.2.1", "255.255.255.0", Some("192.0.2.1"))]);
        assert_eq!(host.addresses, vec![ip("192.0.2.1")]);
        assert_eq!(host.broadcasts, vec![ip("192.0.2.255")]);
    }

    #[test]
    fn configured_broadcast_and_subnet_broadcast_once_each() {
        let host = host_from([
            v4("198.51.100.1", "255.255.255.0", Some("198.51.100.255")),
            v4("203.0.113.9", "255.255.255.240", Some("203.0.113.0")),
        ]);
        assert_eq!(
            host.broadcasts,
            vec![ip("198.51.100.255"), ip("203.0.113.0"), ip("203.0.113.15")]
        );
    }

    #[test]
    fn point_to_point_peer_and_host_routes_are_not_broadcasts() {
        let peer = InterfaceAddress {
            address: ip("192.0.2.1"),
            netmask: Some(ip("255.255.255.255")),
            broadcast: Some(ip("192.0.2.2")),
            broadcast_capable: false,
        };
        let slash31 = v4("198.51.100.0", "255.255.255.254", None);
        let host = host_from([peer, slash31]);
        assert_eq!(host.broadcasts, Vec::<IpAddr>::new());
        assert_eq!(host.addresses, vec![ip("192.0.2.1"), ip("198.51.100.0")]);
    }

    #[test]
    fn ipv6_has_no_subnet_broadcast() {
        let host = host_from([InterfaceAddress {
            address: ip("2001:db8::1"),
            netmask: Some(ip("ffff:ffff:ffff:ffff::")),
            broadcast: None,
            broadcast_capable: true,
        }]);
        assert_eq!(host.broadcasts, Vec::<IpAddr>::new());
        // Its subnet-router anycast address is the firewall's own.
        assert_eq!(host.addresses, vec![ip("2001:db8::1"), ip("2001:db8::")]);
    }

    #[test]
    fn subnet_router_anycast_once_per_prefix_and_none_for_host_routes() {
        let v6 = |address: &str, mask: &str| InterfaceAddress {
            address: ip(address),
            netmask: Some(ip(mask)),
            broadcast: None,
            broadcast_capable: false,
        };
        let host = host_from([
            v6("2001:db8:1::1", "ffff:ffff:ffff:ffff::"),
            v6("2001:db8:1::2", "ffff:ffff:ffff:ffff::"),
            v6("2001:db8:9::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ]);
        assert_eq!(
            host.addresses,
            vec![
                ip("2001:db8:1::1"),
                ip("2001:db8:1::"),
                ip("2001:db8:1::2"),
                ip("2001:db8:9::1")
            ]
        );
    }

    #[test]
    fn subnet_broadcast_needs_a_contiguous_mask() {
        let a = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(
            subnet_broadcast(a, Ipv4Addr::new(255, 255, 0, 0)),
            Some(Ipv4Addr::new(192, 0, 255, 255))
        );
        assert_eq!(subnet_broadcast(a, Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(subnet_broadcast(a, Ipv4Addr::new(255, 255, 255, 254)), None);
    }
}
