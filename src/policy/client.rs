//! Client sanity: which source addresses may open a return path at all.
//!
//! A return path carries a server's datagrams to the client's address, so
//! a request naming an address that cannot be a phone on the network it
//! came from would open a way into somewhere else: the firewall itself
//! (its own addresses, loopback), many hosts at once (multicast,
//! broadcast), another of the firewall's networks (a forged source, found
//! by asking the routing table where the client's address lives), or an
//! address whose meaning depends on an interface the map cannot carry
//! (link-local and other scoped addresses). This module decides, as pure
//! functions over addresses and the routing table's answer; the lookup
//! itself is the platform's (`crate::route`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::{unmap, Host};

/// Why a client address may not open a return path. `Display` is the log
/// reason; [`ClientRefusal::answerable`] says whether the sender may be
/// told (an answer to a forged address would go to its victim).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ClientRefusal {
    /// 0.0.0.0 or `::` as a source.
    #[error("client {0} is unspecified")]
    Unspecified(IpAddr),
    /// A multicast source: no host sends from one.
    #[error("client {0} is a multicast address")]
    Multicast(IpAddr),
    /// 255.255.255.255 or one of the firewall's broadcast addresses.
    #[error("client {0} is a broadcast address")]
    Broadcast(IpAddr),
    /// A loopback source arriving from a network.
    #[error("client {0} is a loopback address")]
    Loopback(IpAddr),
    /// One of the firewall's own addresses: the server's answer would be
    /// delivered to the firewall itself.
    #[error("client {0} is one of the firewall's own addresses (forged source)")]
    OwnAddress(IpAddr),
    /// An IPv4-mapped IPv6 source on an IPv6 packet: no host sends one.
    #[error("client {0} is an IPv4-mapped IPv6 address (forged source)")]
    Mapped(IpAddr),
    /// A link-local (or other scoped) source: the map keys addresses
    /// without the interface they belong to, so the answer would leave by
    /// whichever interface routes that address, not the phone's.
    #[error("client {0} is a link-local address: the return path cannot keep its interface; the phone must use a global address")]
    Scoped(IpAddr),
    /// The routing table reaches the client through another interface
    /// than the request came in on: the source is forged.
    #[error("forged client: {client} is not reachable through {arrival} (the route to it leaves by {route})")]
    Forged {
        /// The client address.
        client: IpAddr,
        /// The interface the request arrived on.
        arrival: String,
        /// The interface the route toward the client leaves by.
        route: String,
    },
    /// No route leads back to the client at all.
    #[error(
        "forged client: {client} is not reachable through {arrival} (no route to it: {reason})"
    )]
    Unroutable {
        /// The client address.
        client: IpAddr,
        /// The interface the request arrived on.
        arrival: String,
        /// What the routing table answered.
        reason: String,
    },
}

impl ClientRefusal {
    /// Whether the client may be sent an ERROR: only when the address is a
    /// real host's on the arrival network (a phone still using its
    /// link-local address). Every other refusal names an address that did
    /// not send the request, and an answer would go to it.
    pub fn answerable(&self) -> bool {
        matches!(self, ClientRefusal::Scoped(_))
    }

    /// The short reason sent to the client in a TFTP ERROR packet.
    pub fn tftp_message(&self) -> &'static str {
        match self {
            ClientRefusal::Scoped(_) => "link-local source not proxied, use a global address",
            _ => "client not allowed",
        }
    }
}

/// Whether `ip` has a meaning only together with an interface: IPv6
/// link-local (fe80::/10) and the deprecated site-local (fec0::/10), and
/// IPv4 link-local (169.254.0.0/16, which routers must not forward, RFC
/// 3927 section 7).
pub fn is_scoped(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            let top = v6.segments()[0] & 0xffc0;
            top == 0xfe80 || top == 0xfec0
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// Refuses client addresses that no phone on the request's network can
/// have, before anything is looked up: unspecified, multicast, broadcast,
/// loopback, an IPv4-mapped IPv6 source, any of the firewall's own
/// addresses, and scoped (link-local) addresses.
pub fn check_client(client: IpAddr, host: &Host) -> Result<(), ClientRefusal> {
    if let IpAddr::V6(v6) = client {
        if v6.to_ipv4_mapped().is_some() {
            return Err(ClientRefusal::Mapped(client));
        }
    }
    let listed = |list: &[IpAddr]| list.iter().any(|&a| unmap(a) == client);
    if client.is_unspecified() {
        Err(ClientRefusal::Unspecified(client))
    } else if client.is_multicast() {
        Err(ClientRefusal::Multicast(client))
    } else if client == IpAddr::V4(Ipv4Addr::BROADCAST) || listed(&host.broadcasts) {
        Err(ClientRefusal::Broadcast(client))
    } else if is_loopback(client) {
        Err(ClientRefusal::Loopback(client))
    } else if listed(&host.addresses) {
        Err(ClientRefusal::OwnAddress(client))
    } else if is_scoped(client) {
        Err(ClientRefusal::Scoped(client))
    } else {
        Ok(())
    }
}

/// What the routing table says about the way back to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteToClient {
    /// The route leaves by this interface (index and name).
    Interface {
        /// Interface index.
        index: u32,
        /// Interface name (the index in decimal if it has none).
        name: String,
    },
    /// The address is the firewall's own (a local route).
    Local,
    /// No usable route (unreachable, prohibited, blackhole, none at all).
    Unreachable(String),
}

/// Judges the route back to `client` against the interface the request
/// arrived on (`arrival`: index and name).
pub fn check_route(
    client: IpAddr,
    arrival: (u32, &str),
    route: &RouteToClient,
) -> Result<(), ClientRefusal> {
    match route {
        RouteToClient::Interface { index, .. } if *index == arrival.0 => Ok(()),
        RouteToClient::Interface { name, .. } => Err(ClientRefusal::Forged {
            client,
            arrival: arrival.1.to_owned(),
            route: name.clone(),
        }),
        RouteToClient::Local => Err(ClientRefusal::OwnAddress(client)),
        RouteToClient::Unreachable(reason) => Err(ClientRefusal::Unroutable {
            client,
            arrival: arrival.1.to_owned(),
            reason: reason.clone(),
        }),
    }
}

/// Judges the route back to `client` where the interface its request
/// arrived on is unknown (a datagram queued before the helper asked the
/// kernel to tell, whose local address is no interface's: a redirect to
/// loopback, a divert): only a route that delivers to the firewall itself
/// or leads nowhere is refused; which interface it leaves by cannot be
/// judged.
pub fn check_route_back(client: IpAddr, route: &RouteToClient) -> Result<(), ClientRefusal> {
    match route {
        RouteToClient::Interface { .. } => Ok(()),
        RouteToClient::Local => Err(ClientRefusal::OwnAddress(client)),
        RouteToClient::Unreachable(reason) => Err(ClientRefusal::Unroutable {
            client,
            arrival: "the interface it came in on".to_owned(),
            reason: reason.clone(),
        }),
    }
}

/// The subnet-router anycast address of an IPv6 prefix (RFC 4291 section
/// 2.6.1: the prefix with every host bit zero), which every router on the
/// link answers, so it counts among the firewall's own addresses. `None`
/// for /127 and /128, which have no such address (RFC 6164), and for /0.
pub fn subnet_router_anycast(address: Ipv6Addr, prefix: u32) -> Option<Ipv6Addr> {
    if prefix == 0 || prefix >= 127 {
        return None;
    }
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    Some(Ipv6Addr::from(u128::from(address) & mask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::ip;

    fn host() -> Host {
        Host {
            addresses: vec![ip("192.0.2.1"), ip("2001:db8:1::1"), ip("2001:db8:1::")],
            broadcasts: vec![ip("192.0.2.255")],
        }
    }

    #[test]
    fn phones_pass() {
        for s in ["192.0.2.20", "2001:db8:1::20", "10.1.2.3"] {
            assert_eq!(check_client(ip(s), &host()), Ok(()), "{s}");
        }
    }

    #[test]
    fn impossible_sources_are_named() {
        let h = host();
        let cases = [
            ("0.0.0.0", ClientRefusal::Unspecified(ip("0.0.0.0"))),
            ("::", ClientRefusal::Unspecified(ip("::"))),
            ("224.0.0.1", ClientRefusal::Multicast(ip("224.0.0.1"))),
            ("ff02::1", ClientRefusal::Multicast(ip("ff02::1"))),
            (
                "255.255.255.255",
                ClientRefusal::Broadcast(ip("255.255.255.255")),
            ),
            ("192.0.2.255", ClientRefusal::Broadcast(ip("192.0.2.255"))),
            ("127.0.0.1", ClientRefusal::Loopback(ip("127.0.0.1"))),
            ("::1", ClientRefusal::Loopback(ip("::1"))),
            ("192.0.2.1", ClientRefusal::OwnAddress(ip("192.0.2.1"))),
            (
                "2001:db8:1::1",
                ClientRefusal::OwnAddress(ip("2001:db8:1::1")),
            ),
            (
                "2001:db8:1::",
                ClientRefusal::OwnAddress(ip("2001:db8:1::")),
            ),
            (
                "::ffff:192.0.2.20",
                ClientRefusal::Mapped(ip("::ffff:192.0.2.20")),
            ),
            ("fe80::20", ClientRefusal::Scoped(ip("fe80::20"))),
            ("febf::1", ClientRefusal::Scoped(ip("febf::1"))),
            ("fec0::1", ClientRefusal::Scoped(ip("fec0::1"))),
            ("169.254.7.7", ClientRefusal::Scoped(ip("169.254.7.7"))),
        ];
        for (s, want) in cases {
            assert_eq!(check_client(ip(s), &h), Err(want), "{s}");
        }
        assert_eq!(
            check_client(ip("2001:db8:1::1"), &h)
                .unwrap_err()
                .to_string(),
            "client 2001:db8:1::1 is one of the firewall's own addresses (forged source)"
        );
    }

    #[test]
    fn only_a_link_local_phone_is_answered() {
        let h = host();
        assert!(check_client(ip("fe80::20"), &h).unwrap_err().answerable());
        for s in ["192.0.2.1", "224.0.0.1", "127.0.0.1", "::ffff:192.0.2.20"] {
            assert!(!check_client(ip(s), &h).unwrap_err().answerable(), "{s}");
        }
        let forged = check_route(
            ip("198.51.100.5"),
            (2, "lan0"),
            &RouteToClient::Interface {
                index: 4,
                name: "mgmt0".into(),
            },
        )
        .unwrap_err();
        assert!(!forged.answerable());
    }

    #[test]
    fn the_route_back_must_leave_by_the_arrival_interface() {
        let client = ip("198.51.100.5");
        let lan = RouteToClient::Interface {
            index: 2,
            name: "lan0".into(),
        };
        assert_eq!(check_route(client, (2, "lan0"), &lan), Ok(()));
        let e = check_route(
            client,
            (2, "lan0"),
            &RouteToClient::Interface {
                index: 4,
                name: "mgmt0".into(),
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "forged client: 198.51.100.5 is not reachable through lan0 (the route to it leaves by mgmt0)"
        );
        assert_eq!(
            check_route(client, (2, "lan0"), &RouteToClient::Local),
            Err(ClientRefusal::OwnAddress(client))
        );
        let e = check_route(
            client,
            (2, "lan0"),
            &RouteToClient::Unreachable("Network is unreachable".into()),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "forged client: 198.51.100.5 is not reachable through lan0 (no route to it: Network is unreachable)"
        );
    }

    #[test]
    fn without_the_arrival_interface_only_local_and_unroutable_are_refused() {
        let client = ip("198.51.100.5");
        let any = RouteToClient::Interface {
            index: 4,
            name: "mgmt0".into(),
        };
        assert_eq!(check_route_back(client, &any), Ok(()));
        assert_eq!(
            check_route_back(client, &RouteToClient::Local),
            Err(ClientRefusal::OwnAddress(client))
        );
        let e = check_route_back(client, &RouteToClient::Unreachable("a reject route".into()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "forged client: 198.51.100.5 is not reachable through the interface it came in on (no route to it: a reject route)"
        );
    }

    #[test]
    fn subnet_router_anycast_is_the_prefix() {
        let a: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        assert_eq!(subnet_router_anycast(a, 64), "2001:db8:1::".parse().ok());
        let b: Ipv6Addr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(subnet_router_anycast(b, 48), "2001:db8:1::".parse().ok());
        assert_eq!(subnet_router_anycast(b, 0), None);
        assert_eq!(subnet_router_anycast(b, 127), None);
        assert_eq!(subnet_router_anycast(b, 128), None);
    }
}
