//! The host's interfaces by index, name and address, for naming the
//! interfaces a client check compares (every platform).
//!
//! Under OpenBSD's pledge "stdio inet" both lookups stay allowed: they
//! read the interface list through sysctl(2) `NET_RT_IFLIST` (allowed
//! with "inet") and `NET_RT_IFNAMES` (always), `pledge_sysctl()` in
//! kern/kern_pledge.c.

use std::net::IpAddr;

/// The name of interface `index` (its number if it has none now).
pub fn interface_name(index: u32) -> String {
    nix::net::if_::if_indextoname(index)
        .ok()
        .and_then(|n| n.into_string().ok())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("interface {index}"))
}

/// The index of the interface that holds address `ip`, if one does.
pub fn interface_of(ip: IpAddr) -> Option<u32> {
    let name = nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        let address = a.address?;
        let found = match ip {
            IpAddr::V4(v4) => address.as_sockaddr_in().map(|s| s.ip()) == Some(v4),
            IpAddr::V6(v6) => address.as_sockaddr_in6().map(|s| s.ip()) == Some(v6),
        };
        found.then_some(a.interface_name)
    })?;
    nix::net::if_::if_nametoindex(name.as_str()).ok()
}

/// Whether interface `index` holds an address whose network contains
/// `ip`: the client is on one of that interface's own links. (OpenBSD's
/// carp(4) delivers a phone's packets to the carp interface, while the
/// route to the phone's network may name the parent interface, which
/// holds the same network: the phone is where it came from all the same.)
pub fn on_link(index: u32, ip: IpAddr) -> bool {
    let name = interface_name(index);
    let Ok(addresses) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    addresses.filter(|a| a.interface_name == name).any(|a| {
        let (Some(address), Some(mask)) = (a.address, a.netmask) else {
            return false;
        };
        let pair = match (address.as_sockaddr_in(), mask.as_sockaddr_in()) {
            (Some(a), Some(m)) => Some((IpAddr::V4(a.ip()), IpAddr::V4(m.ip()))),
            _ => match (address.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
                (Some(a), Some(m)) => Some((IpAddr::V6(a.ip()), IpAddr::V6(m.ip()))),
                _ => None,
            },
        };
        pair.is_some_and(|(address, mask)| same_network(ip, address, mask))
    })
}

/// Whether `ip` and `address` agree on every bit `mask` sets (and are of
/// one family).
fn same_network(ip: IpAddr, address: IpAddr, mask: IpAddr) -> bool {
    let bits = |a: IpAddr| match a {
        IpAddr::V4(v4) => (4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (6, u128::from(v6)),
    };
    let ((fi, i), (fa, a), (fm, m)) = (bits(ip), bits(address), bits(mask));
    fi == fa && fa == fm && m != 0 && i & m == a & m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_are_compared_under_the_mask() {
        let mask24 = ip("255.255.255.0");
        assert!(same_network(ip("192.0.2.20"), ip("192.0.2.1"), mask24));
        assert!(!same_network(ip("198.51.100.5"), ip("192.0.2.1"), mask24));
        assert!(!same_network(
            ip("192.0.2.20"),
            ip("192.0.2.1"),
            ip("0.0.0.0")
        ));
        let mask64 = ip("ffff:ffff:ffff:ffff::");
        assert!(same_network(
            ip("2001:db8:1::20"),
            ip("2001:db8:1::1"),
            mask64
        ));
        assert!(!same_network(
            ip("2001:db8:2::20"),
            ip("2001:db8:1::1"),
            mask64
        ));
        assert!(!same_network(ip("192.0.2.20"), ip("2001:db8:1::1"), mask64));
    }
}
