//! Which interface a return path is bound to: the one that holds the
//! helper's upstream address (the local address of its socket toward the
//! server, `ReturnPath::proxy`).
//!
//! A pf rule without `on <interface>` matches on every interface
//! (pfi_kif_match() in net/pf_if.c): a host on the phones' side could
//! send a datagram with the server's address as its source to the
//! firewall's outside address and take the `once` rule (and the phone's
//! transfer) before the real server answers. Naming the interface the
//! answer arrives on closes that.
//!
//! Why the interface of the address, read with getifaddrs(3), rather than
//! a routing-socket lookup (RTM_GET) of the route toward the server: the
//! kernel picked that local address from the route's interface when the
//! socket was connected (in_pcbselsrc() in netinet/in_pcb.c uses the
//! route's `ifa`), so for a kernel-chosen address both name the same
//! interface; getifaddrs needs no new unsafe code, and it is allowed under
//! pledge "inet" (pledge_sysctl() in kern/kern_pledge.c lets NET_RT_IFLIST
//! through), which the running helper holds. An address the operator
//! chose with `-a` is where the servers answer to, so its interface is
//! where the answers arrive. An address on a loopback interface cannot be
//! where an answer arrives (and `set skip on lo` skips it): such a path
//! is refused with its cause rather than installed unbound.
//!
//! This module owns the choice; it reads the interface list (the only
//! system call) and must not touch pf.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use std::net::IpAddr;

/// One address of an interface, as getifaddrs(3) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The interface's name (`em0`, `vlan12`, `carp1`).
    pub interface: String,
    /// The address.
    pub address: IpAddr,
    /// Whether the interface is a loopback interface (IFF_LOOPBACK).
    pub loopback: bool,
}

/// Why no interface can be named for a return path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoInterface {
    /// No interface holds the address (it was removed meanwhile).
    #[error("no interface holds the helper's upstream address {0} (renumbered meanwhile?)")]
    NotHeld(IpAddr),
    /// Only a loopback interface holds it: no answer arrives there.
    #[error("the helper's upstream address {address} is on the loopback interface {interface}, where no server's answer arrives: send requests from an address of the interface toward the servers (-a)")]
    Loopback {
        /// The address.
        address: IpAddr,
        /// The loopback interface.
        interface: String,
    },
}

/// The interface to bind a return path to: the non-loopback interface
/// that holds `address` (IPv4-mapped addresses compared as IPv4).
pub fn choose(held: &[Held], address: IpAddr) -> Result<String, NoInterface> {
    let address = address.to_canonical();
    let mut loopback = None;
    for entry in held.iter().filter(|h| h.address.to_canonical() == address) {
        if !entry.loopback {
            return Ok(entry.interface.clone());
        }
        loopback.get_or_insert_with(|| entry.interface.clone());
    }
    match loopback {
        Some(interface) => Err(NoInterface::Loopback { address, interface }),
        None => Err(NoInterface::NotHeld(address)),
    }
}

/// Every address of every interface now (getifaddrs(3)).
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
pub fn list() -> std::io::Result<Vec<Held>> {
    use nix::net::if_::InterfaceFlags;
    let addresses = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
    Ok(addresses
        .filter_map(|a| {
            let storage = a.address?;
            let address = if let Some(v4) = storage.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(storage.as_sockaddr_in6()?.ip())
            };
            Some(Held {
                loopback: a.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                interface: a.interface_name,
                address,
            })
        })
        .collect())
}

/// The interface to bind the return path from `address` to, read now.
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
pub fn holding(address: IpAddr) -> Result<String, crate::firewall::FirewallError> {
    let held = list().map_err(|source| crate::firewall::FirewallError::System {
        what: "listing the interfaces (getifaddrs) to bind the return path",
        source,
    })?;
    choose(&held, address).map_err(|e| crate::firewall::FirewallError::System {
        what: "binding the return path to an interface",
        source: std::io::Error::other(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(interface: &str, address: &str, loopback: bool) -> Held {
        Held {
            interface: interface.to_owned(),
            address: address.parse().unwrap(),
            loopback,
        }
    }

    fn firewall() -> Vec<Held> {
        vec![
            held("lo0", "127.0.0.1", true),
            held("lo0", "::1", true),
            held("em0", "203.0.113.1", false),
            held("em0", "2001:db8:2::1", false),
            held("em1", "198.51.100.1", false),
            held("lo1", "192.0.2.99", true),
        ]
    }

    #[test]
    fn the_interface_holding_the_address_is_named() {
        let all = firewall();
        assert_eq!(choose(&all, "203.0.113.1".parse().unwrap()).unwrap(), "em0");
        assert_eq!(
            choose(&all, "2001:db8:2::1".parse().unwrap()).unwrap(),
            "em0"
        );
        assert_eq!(
            choose(&all, "198.51.100.1".parse().unwrap()).unwrap(),
            "em1"
        );
        assert_eq!(
            choose(&all, "::ffff:203.0.113.1".parse().unwrap()).unwrap(),
            "em0"
        );
    }

    #[test]
    fn loopback_and_unknown_addresses_are_refused_with_the_cause() {
        let all = firewall();
        let e = choose(&all, "192.0.2.99".parse().unwrap()).unwrap_err();
        assert!(matches!(&e, NoInterface::Loopback { interface, .. } if interface == "lo1"));
        assert!(e.to_string().contains("-a"), "{e}");
        assert_eq!(
            choose(&all, "192.0.2.7".parse().unwrap()),
            Err(NoInterface::NotHeld("192.0.2.7".parse().unwrap()))
        );
    }

    #[test]
    fn a_carp_address_names_the_carp_interface_not_loopback() {
        let mut all = firewall();
        all.push(held("carp0", "192.0.2.99", false));
        assert_eq!(
            choose(&all, "192.0.2.99".parse().unwrap()).unwrap(),
            "carp0"
        );
    }
}
