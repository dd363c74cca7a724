//! The client must be where its request came from: the checks run before
//! anything is installed for a request.
//!
//! This module owns the order of the checks and the routing-table handle:
//! first the address alone ([`check_client`]: the firewall's own,
//! loopback, multicast, broadcast, IPv4-mapped, link-local), then, where
//! the platform tells the arrival interface and can look up routes
//! (Linux), whether the route back to the client leaves by that interface
//! ([`check_route`]). A LAN host that writes another network's address
//! (a management host, the firewall's own) as its source fails the second
//! check even where no address list would catch it.

use crate::policy::{check_client, ClientRefusal, Host};
use std::net::IpAddr;

/// Why a client could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ClientCheckError {
    /// The client is refused (see [`ClientRefusal`]).
    #[error("{0}")]
    Refused(ClientRefusal),
    /// The routing table could not be asked.
    #[cfg(target_os = "linux")]
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
            #[cfg(target_os = "linux")]
            ClientCheckError::Lookup { .. } => None,
        }
    }
}

/// The client checks and the routing-table socket they keep.
#[derive(Debug, Default)]
pub struct ClientCheck {
    #[cfg(target_os = "linux")]
    routes: Option<crate::route::Routes>,
}

impl ClientCheck {
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
    /// (net/netfilter/nf_nat_redirect.c).
    #[cfg(target_os = "linux")]
    fn check_route(
        &mut self,
        client: IpAddr,
        interface: Option<u32>,
        local: IpAddr,
    ) -> Result<(), ClientCheckError> {
        use crate::policy::check_route;
        use crate::route::{interface_name, interface_of, Routes};
        let Some(arrival) = interface.or_else(|| interface_of(local)) else {
            return Ok(());
        };
        let lookup = |source| ClientCheckError::Lookup { client, source };
        let routes = match &mut self.routes {
            Some(routes) => routes,
            None => self.routes.insert(Routes::open().map_err(lookup)?),
        };
        let route = routes.toward(client).map_err(lookup)?;
        check_route(client, (arrival, &interface_name(arrival)), &route)
            .map_err(ClientCheckError::Refused)
    }

    /// pf: no route lookup here (see [`crate::route`]).
    #[cfg(not(target_os = "linux"))]
    fn check_route(
        &mut self,
        _client: IpAddr,
        _interface: Option<u32>,
        _local: IpAddr,
    ) -> Result<(), ClientCheckError> {
        Ok(())
    }
}
