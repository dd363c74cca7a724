//! The firewall's own addresses, read once at start (a request to one of
//! them would loop back into the helper).

use crate::policy::Host;
use std::net::IpAddr;

/// Reads the addresses and broadcast addresses of every interface.
pub fn local_host() -> std::io::Result<Host> {
    let mut host = Host {
        addresses: Vec::new(),
        broadcasts: Vec::new(),
    };
    for interface in nix::ifaddrs::getifaddrs()? {
        let ip = |a: Option<nix::sys::socket::SockaddrStorage>| -> Option<IpAddr> {
            let a = a?;
            if let Some(v4) = a.as_sockaddr_in() {
                return Some(IpAddr::V4(v4.ip()));
            }
            a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        };
        if let Some(a) = ip(interface.address) {
            host.addresses.push(a);
        }
        if let Some(b) = ip(interface.broadcast) {
            host.broadcasts.push(b);
        }
    }
    Ok(host)
}
