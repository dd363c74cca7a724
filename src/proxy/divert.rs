//! Telling a diverted datagram from a redirected one, by where it
//! arrived.
//!
//! pf's `divert-to` hands a datagram to the helper's socket unchanged: it
//! still carries its original destination (the server), which the
//! arrival control messages report (IP_RECVDSTADDR, IP_RECVDSTPORT; see
//! `arrival/openbsd.rs`). A redirect (`rdr-to`, nftables `redirect`)
//! rewrites the destination to one of the firewall's own addresses and the
//! socket's port, so the firewall must be asked where it was going.
//!
//! This file owns that decision, as a pure function of addresses; it
//! knows nothing of sockets or firewalls.

use crate::policy::{unmap, Host};
use std::net::{IpAddr, SocketAddr};

/// Whether a datagram that arrived at `local` on a socket bound at
/// `bound` was diverted, i.e. `local` is its original destination.
///
/// It was when it arrived at another port than the socket's (a divert to
/// the helper's port from port 69), or at an address that is neither the
/// socket's own nor one of the firewall's (a divert keeps the server's
/// address whatever the port: `divert-to 127.0.0.1 port 69` with the
/// helper on port 69 must not look like a redirect).
///
/// An unknown arrival address (the socket's wildcard, when no control
/// message told) and broadcast or multicast destinations are never taken
/// for a divert: the firewall is asked, and refuses them by name.
pub fn is_diverted(local: SocketAddr, bound: SocketAddr, host: &Host) -> bool {
    if local.port() != bound.port() {
        return true;
    }
    let ip = unmap(local.ip());
    if ip.is_unspecified() || ip == unmap(bound.ip()) || is_group(ip) {
        return false;
    }
    let own = |list: &[IpAddr]| list.iter().any(|&a| unmap(a) == ip);
    !own(&host.addresses) && !own(&host.broadcasts)
}

/// Broadcast and multicast addresses: never a divert's destination here.
fn is_group(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn host() -> Host {
        Host {
            addresses: vec![
                "127.0.0.1".parse().unwrap(),
                "192.0.2.1".parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
                "::1".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            ],
            broadcasts: vec!["192.0.2.255".parse().unwrap()],
        }
    }

    #[test]
    fn a_divert_to_the_helper_port_is_diverted() {
        // divert-to 127.0.0.1 port 6969: the server's address and port 69.
        let bound = addr("127.0.0.1:6969");
        assert!(is_diverted(addr("198.51.100.2:69"), bound, &host()));
        let bound6 = addr("[::1]:6969");
        assert!(is_diverted(addr("[2001:db8:3::2]:69"), bound6, &host()));
    }

    #[test]
    fn a_divert_to_port_69_is_diverted() {
        // The helper itself on port 69: only the address tells.
        let bound = addr("127.0.0.1:69");
        assert!(is_diverted(addr("198.51.100.2:69"), bound, &host()));
        let wildcard = addr("0.0.0.0:69");
        assert!(is_diverted(addr("203.0.113.9:69"), wildcard, &host()));
        assert!(is_diverted(
            addr("[::ffff:203.0.113.9]:69"),
            addr("[::]:69"),
            &host()
        ));
    }

    #[test]
    fn a_redirect_is_not_diverted() {
        // rdr-to 127.0.0.1 port 6969: the socket's own address.
        let bound = addr("127.0.0.1:6969");
        assert!(!is_diverted(bound, bound, &host()));
        // A wildcard socket: one of the firewall's addresses (nftables
        // redirect to the inbound interface's address).
        let wildcard = addr("0.0.0.0:6969");
        assert!(!is_diverted(addr("192.0.2.1:6969"), wildcard, &host()));
        assert!(!is_diverted(
            addr("[::ffff:192.0.2.1]:6969"),
            addr("[::]:6969"),
            &host()
        ));
        assert!(!is_diverted(
            addr("[2001:db8::1]:6969"),
            addr("[::]:6969"),
            &host()
        ));
    }

    #[test]
    fn unknown_or_group_destinations_are_not_diverted() {
        let wildcard = addr("0.0.0.0:69");
        assert!(
            !is_diverted(wildcard, wildcard, &host()),
            "no control message"
        );
        for group in ["255.255.255.255:69", "192.0.2.255:69", "224.0.0.1:69"] {
            assert!(!is_diverted(addr(group), wildcard, &host()), "{group}");
        }
        assert!(!is_diverted(addr("[ff02::1]:69"), addr("[::]:69"), &host()));
    }
}
