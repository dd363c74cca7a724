//! Destination sanity: [`Host`], the firewall's view of its own
//! addresses, and [`check_destination`], which refuses the servers a
//! proxied request must never go to, whatever the allow lists say.

use std::net::{IpAddr, Ipv4Addr};

use super::{is_scoped, unmap, Refusal};

/// The firewall's own view of itself, for [`check_destination`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// Every address of the firewall's interfaces.
    pub addresses: Vec<IpAddr>,
    /// The broadcast addresses of the firewall's interfaces.
    pub broadcasts: Vec<IpAddr>,
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// Refuses destinations a proxied request must never go to: unspecified
/// (0.0.0.0, `::`), the limited broadcast 255.255.255.255, multicast,
/// loopback, any of `host.addresses` (no loops through the firewall), and
/// any of `host.broadcasts`. Checked in that order, so an address that is
/// both (a peer address reported in the broadcast slot) is named as the
/// firewall's own; IPv4-mapped addresses are unmapped first, on both sides.
/// Then an IPv4-mapped destination that is none of those is refused as
/// such (an IPv6 packet's return path cannot carry an IPv4 transfer), and
/// so is a link-local one (see [`is_scoped`]).
pub fn check_destination(server: IpAddr, host: &Host) -> Result<(), Refusal> {
    let raw = server;
    let server = unmap(server);
    let listed = |list: &[IpAddr]| list.iter().any(|&a| unmap(a) == server);
    if server.is_unspecified() {
        Err(Refusal::Unspecified(server))
    } else if server == IpAddr::V4(Ipv4Addr::BROADCAST) {
        Err(Refusal::LimitedBroadcast)
    } else if server.is_multicast() {
        Err(Refusal::Multicast(server))
    } else if is_loopback(server) {
        Err(Refusal::Loopback(server))
    } else if listed(&host.addresses) {
        Err(Refusal::OwnAddress(server))
    } else if listed(&host.broadcasts) {
        Err(Refusal::Broadcast(server))
    } else if raw != server {
        Err(Refusal::Mapped(raw))
    } else if is_scoped(server) {
        Err(Refusal::Scoped(server))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::ip;

    fn host() -> Host {
        Host {
            addresses: vec![
                ip("192.0.2.1"),
                ip("198.51.100.1"),
                ip("2001:db8::1"),
                ip("127.0.0.1"),
            ],
            broadcasts: vec![ip("192.0.2.255"), ip("198.51.100.255")],
        }
    }

    #[test]
    fn ordinary_destinations_pass() {
        let h = host();
        for s in ["198.51.100.7", "203.0.113.5", "2001:db8:1::7"] {
            assert_eq!(check_destination(ip(s), &h), Ok(()), "{s}");
        }
        assert_eq!(check_destination(ip("10.0.0.1"), &Host::default()), Ok(()));
    }

    #[test]
    fn mapped_and_link_local_destinations_refused() {
        let h = host();
        let e = check_destination(ip("::ffff:203.0.113.69"), &h).unwrap_err();
        assert_eq!(e, Refusal::Mapped(ip("::ffff:203.0.113.69")));
        assert_eq!(
            e.to_string(),
            "destination ::ffff:203.0.113.69 is an IPv4-mapped IPv6 address (ask for the IPv4 address itself)"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        for s in ["fe80::1", "169.254.1.1"] {
            let e = check_destination(ip(s), &h).unwrap_err();
            assert_eq!(e, Refusal::Scoped(ip(s)), "{s}");
            assert_eq!(e.tftp_message(), "destination not allowed");
        }
    }

    #[test]
    fn unspecified_refused() {
        let h = host();
        let e = check_destination(ip("0.0.0.0"), &h).unwrap_err();
        assert_eq!(e, Refusal::Unspecified(ip("0.0.0.0")));
        assert_eq!(e.to_string(), "destination 0.0.0.0 is unspecified");
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("::"), &h),
            Err(Refusal::Unspecified(ip("::")))
        );
        assert_eq!(
            check_destination(ip("::ffff:0.0.0.0"), &h),
            Err(Refusal::Unspecified(ip("0.0.0.0")))
        );
    }

    #[test]
    fn limited_broadcast_refused() {
        let e = check_destination(ip("255.255.255.255"), &Host::default()).unwrap_err();
        assert_eq!(e, Refusal::LimitedBroadcast);
        assert_eq!(
            e.to_string(),
            "destination 255.255.255.255 is the limited broadcast address"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("::ffff:255.255.255.255"), &Host::default()),
            Err(Refusal::LimitedBroadcast)
        );
    }

    #[test]
    fn interface_broadcast_refused() {
        let e = check_destination(ip("198.51.100.255"), &host()).unwrap_err();
        assert_eq!(e, Refusal::Broadcast(ip("198.51.100.255")));
        assert_eq!(
            e.to_string(),
            "destination 198.51.100.255 is a broadcast address"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("::ffff:192.0.2.255"), &host()),
            Err(Refusal::Broadcast(ip("192.0.2.255")))
        );
        // Not a broadcast on a host without that interface.
        assert_eq!(
            check_destination(ip("198.51.100.255"), &Host::default()),
            Ok(())
        );
    }

    #[test]
    fn multicast_refused() {
        let e = check_destination(ip("224.0.0.1"), &host()).unwrap_err();
        assert_eq!(e, Refusal::Multicast(ip("224.0.0.1")));
        assert_eq!(
            e.to_string(),
            "destination 224.0.0.1 is a multicast address"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("239.255.255.250"), &host()),
            Err(Refusal::Multicast(ip("239.255.255.250")))
        );
        assert_eq!(
            check_destination(ip("ff02::1"), &host()),
            Err(Refusal::Multicast(ip("ff02::1")))
        );
    }

    #[test]
    fn loopback_refused() {
        for s in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            let e = check_destination(ip(s), &Host::default()).unwrap_err();
            assert_eq!(e, Refusal::Loopback(unmap(ip(s))), "{s}");
            assert_eq!(e.tftp_message(), "destination not allowed");
        }
        assert_eq!(
            check_destination(ip("::1"), &Host::default())
                .unwrap_err()
                .to_string(),
            "destination ::1 is a loopback address"
        );
    }

    #[test]
    fn own_address_refused() {
        let e = check_destination(ip("192.0.2.1"), &host()).unwrap_err();
        assert_eq!(e, Refusal::OwnAddress(ip("192.0.2.1")));
        assert_eq!(
            e.to_string(),
            "destination 192.0.2.1 is one of the firewall's own addresses"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("2001:db8::1"), &host()),
            Err(Refusal::OwnAddress(ip("2001:db8::1")))
        );
        assert_eq!(
            check_destination(ip("::ffff:198.51.100.1"), &host()),
            Err(Refusal::OwnAddress(ip("198.51.100.1")))
        );
        let mapped_host = Host {
            addresses: vec![ip("::ffff:203.0.113.1")],
            broadcasts: Vec::new(),
        };
        assert_eq!(
            check_destination(ip("203.0.113.1"), &mapped_host),
            Err(Refusal::OwnAddress(ip("203.0.113.1")))
        );
    }

    #[test]
    fn own_address_also_listed_as_broadcast_is_named_as_own() {
        // getifaddrs reports an address without a broadcast address of
        // its own with the address itself in the broadcast slot.
        let h = Host {
            addresses: vec![ip("192.0.2.1")],
            broadcasts: vec![ip("192.0.2.1"), ip("192.0.2.255")],
        };
        assert_eq!(
            check_destination(ip("192.0.2.1"), &h),
            Err(Refusal::OwnAddress(ip("192.0.2.1")))
        );
        assert_eq!(
            check_destination(ip("192.0.2.255"), &h),
            Err(Refusal::Broadcast(ip("192.0.2.255")))
        );
    }
}
