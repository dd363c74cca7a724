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
