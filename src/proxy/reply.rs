//! TFTP ERROR replies to clients, sent from the address each request
//! arrived at, and the sources no reply may go to.
//!
//! This file owns that sending; the callers decide what to answer.

use super::arrival::{self, Arrival};
use super::Proxy;
use crate::firewall::Firewall;
use crate::log::Level;
use crate::policy::unmap;
use crate::tftp::{self, ErrorCode};
use std::net::IpAddr;

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Answers the client with a TFTP ERROR from the address it wrote to.
    pub(super) fn answer(&mut self, arrival: &Arrival, code: ErrorCode, message: &str) {
        if arrival.client.port() == 0 || is_broadcast_like(arrival.client.ip()) {
            return;
        }
        let packet = tftp::error_packet(code, message);
        if let Err(e) = arrival::reply(self.socket, &packet, arrival.client, arrival.local) {
            // Rate-limited like the refusal it answers: a flood fills the
            // send buffer too.
            self.log.refusal(
                arrival.client.ip(),
                Level::Warning,
                format_args!("{}: sending TFTP ERROR: {e}", arrival.client),
            );
        }
    }
}

/// Sources no answer should go to.
pub(crate) fn is_broadcast_like(ip: IpAddr) -> bool {
    match unmap(ip) {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_multicast() || v6.is_unspecified(),
    }
}
