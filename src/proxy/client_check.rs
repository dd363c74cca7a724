//! The client must be where its request came from: the checks run before
//! anything is installed for a request.
//!
//! This module owns the order of the checks and the routing-table handle:
//! first the address alone ([`check_client`]: the firewall's own,
//! loopback, multicast, broadcast, IPv4-mapped, link-local), then
//! whether the route back to the client leaves by the interface the
//! request arrived on ([`check_route`]; Linux over rtnetlink, the BSDs
//! over a routing socket opened at start). A LAN host that writes another
//! network's address (a management host, the firewall's own) as its
//! source fails the second check even where no address list would catch
//! it.

use crate::policy::{check_client, ClientRefusal, Host};
use std::net::IpAddr;

/// Why a client could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ClientCheckError {
    /// The client is refused (see [`ClientRefusal`]).
    #[error("{0}")]
    Refused(ClientRefusal),
    /// The routing table could not be asked.
    #[error("cannot look up the route back to {client}: {source}")]
    Lookup {
        /// The client address.
        client: IpAddr,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
    },
}

impl ClientCheckError {
    /// The refusal, if the client was refused (not a failed lookup).
    pub fn refusal(&self) -> Option<&ClientRefusal> {
        match self {
            ClientCheckError::Refused(refusal) => Some(refusal),
            ClientCheckError::Lookup { .. } => None,
        }
    }
}

/// The client checks and the routing-table socket they keep.
#[derive(Debug, Default)]
pub struct ClientCheck {
    /// Linux: opened at the first check. The BSDs: opened at start
    /// ([`ClientCheck::with_routes`]); `None` until then.
    routes: Option<crate::route::Routes>,
    /// The BSDs: why the routing socket did not open at start.
    #[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
    unopened: Option<String>,
    /// Linux: interface names and address holders kept between checks.
    #[cfg(target_os = "linux")]
    interfaces: crate::route::InterfaceCache,
}

impl ClientCheck {
    /// The checks with the routing socket opened at start (or why it did
    /// not open: every route check then fails as a lookup would).
    #[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
    pub fn with_routes(routes: std::io::Result<crate::route::Routes>) -> Self {
        match routes {
            Ok(routes) => ClientCheck {
                routes: Some(routes),
                unopened: None,
            },
            Err(e) => ClientCheck {
                routes: None,
                unopened: Some(e.to_string()),
            },
        }
    }

    /// Starts a wake-up whose datagrams saw own-address read `own_reads`
    /// (see [`crate::route::InterfaceCache::next_wakeup`]; nothing is kept
    /// on the BSDs).
    pub fn next_wakeup(&mut self, own_reads: u64) {
        #[cfg(target_os = "linux")]
        self.interfaces.next_wakeup(own_reads);
        #[cfg(not(target_os = "linux"))]
        let _ = own_reads;
    }

    /// Checks `client` (the firewall's answer, not the socket's) whose
    /// request arrived on interface `interface` at address `local`.
    pub fn check(
        &mut self,
        client: IpAddr,
        interface: Option<u32>,
        local: IpAddr,
        host: &Host,
    ) -> Result<(), ClientCheckError> {
        check_client(client, host).map_err(ClientCheckError::Refused)?;
        self.check_route(client, interface, crate::policy::unmap(local))
    }

    /// The arrival interface is the one IP_PKTINFO names; for a datagram
    /// queued before the helper turned that option on (inetd's first one)
    /// the kernel reports index 0 (`ipv4_pktinfo_prepare()`,
    /// net/ipv4/ip_sockglue.c, runs at enqueue), so the interface that
    /// holds the address the datagram was redirected to stands in: a
    /// `redirect` picks an address of the incoming interface
    /// (net/netfilter/nf_nat_redirect.c). Interface names and the
    /// holder of the local address come from the cache
    /// ([`crate::route::InterfaceCache`]); the route is asked every time.
    #[cfg(target_os = "linux")]
    fn check_route(
        &mut self,
        client: IpAddr,
        interface: Option<u32>,
        local: IpAddr,
    ) -> Result<(), ClientCheckError> {
        use crate::policy::check_route;
        use crate::route::Routes;
        let interfaces = &mut self.interfaces;
        let Some(arrival) = interface.or_else(|| interfaces.holder(local)) else {
            return Ok(());
        };
        let lookup = |source| ClientCheckError::Lookup { client, source };
        let routes = match &mut self.routes {
            Some(routes) => routes,
            None => self.routes.insert(Routes::open().map_err(lookup)?),
        };
        let route = routes.toward(client, interfaces).map_err(lookup)?;
        check_route(client, (arrival, &interfaces.name(arrival)), &route)
            .map_err(ClientCheckError::Refused)
    }

    /// The arrival interface is the one the kernel names (IP_RECVIF's
    /// link address, or IPV6_PKTINFO). A datagram queued before the
    /// helper asked for those (inetd's first) carries none: the kernel
    /// builds the control messages as it queues a datagram, from the
    /// socket's options then (`ip_savecontrol()`, netinet/ip_input.c;
    /// `ip6_savecontrol()`, netinet6/ip6_input.c; both kernels). The
    /// interface holding the local address stands in where that is an
    /// interface's own; behind pf's `rdr-to 127.0.0.1` or a `divert-to`
    /// it is not (loopback, the server's address), and then only a route
    /// to the firewall itself or to nowhere is refused
    /// ([`crate::policy::check_route_back`]): pf's `urpf-failed` and
    /// `antispoof` rules are the layer that judges those datagrams'
    /// interface. A client on a network the arrival interface itself
    /// holds passes even when the route names another interface: a
    /// carp(4) interface receives the phones' packets (`carp_input()`,
    /// netinet/ip_carp.c, hands them to it), while the route to their
    /// network may be its parent's.
    #[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
    fn check_route(
        &mut self,
        client: IpAddr,
        interface: Option<u32>,
        local: IpAddr,
    ) -> Result<(), ClientCheckError> {
        use crate::policy::{check_route, check_route_back, RouteToClient};
        use crate::route::{interface_name, interface_of, on_link};
        let lookup = |source| ClientCheckError::Lookup { client, source };
        let Some(routes) = &mut self.routes else {
            let why = self.unopened.as_deref().unwrap_or("not opened");
            return Err(lookup(std::io::Error::other(format!(
                "the routing socket did not open at start: {why}"
            ))));
        };
        let route = routes.toward(client).map_err(lookup)?;
        let own_interface = || {
            let stands_in = !local.is_loopback() && !local.is_unspecified();
            stands_in.then(|| interface_of(local)).flatten()
        };
        match interface.or_else(own_interface) {
            Some(arrival) => {
                // The route's answer names its interface: no second
                // lookup when that is the arrival interface.
                let name = match &route {
                    RouteToClient::Interface { index, name } if *index == arrival => name.clone(),
                    _ => interface_name(arrival),
                };
                check_route(client, (arrival, &name), &route).or_else(|refusal| {
                    // A route by another interface, to a client on a
                    // network the arrival interface holds: carp(4).
                    let other = matches!(route, RouteToClient::Interface { .. });
                    if other && on_link(arrival, client) {
                        Ok(())
                    } else {
                        Err(refusal)
                    }
                })
            }
            None => check_route_back(client, &route),
        }
        .map_err(ClientCheckError::Refused)
    }
}
