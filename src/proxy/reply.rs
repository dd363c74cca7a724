//! TFTP ERROR replies to clients, sent from the address each request
//! arrived at, and the sources no reply may go to.
//!
//! This file owns that sending; the callers decide what to answer.

use super::arrival::{self, Arrival};
use super::Proxy;
use crate::firewall::Firewall;
use crate::log::Level;
use crate::policy::{is_scoped, unmap};
use crate::tftp::{self, ErrorCode};
use std::fmt::Display;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Logs why `arrival` was refused or failed and answers it with a TFTP
    /// ERROR (`reply`, if any), both rate-limited per client and in total
    /// ([`crate::log::Log::refusal`], [`crate::log::Log::reply_allowed`]):
    /// past the limits they are counted for the summary lines instead.
    pub(super) fn refuse(
        &mut self,
        arrival: &Arrival,
        level: Level,
        line: impl Display,
        reply: Option<(ErrorCode, &str)>,
    ) {
        self.log.refusal(arrival.client.ip(), level, line);
        if let Some((code, message)) = reply {
            if self.log.reply_allowed(arrival.client.ip()) {
                self.answer(arrival, code, message);
            }
        }
    }

    /// Answers the client with a TFTP ERROR from the address it wrote to,
    /// without waiting: a reply the socket cannot take now is dropped and
    /// counted.
    pub(super) fn answer(&mut self, arrival: &Arrival, code: ErrorCode, message: &str) {
        if arrival.client.port() == 0 || is_broadcast_like(arrival.client.ip()) {
            return;
        }
        let packet = tftp::error_packet(code, message);
        let to = scoped(arrival.client, arrival.local, arrival.interface);
        match arrival::reply(self.socket, &packet, to, arrival.local) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.tally.unsent += 1,
            Err(e) => {
                // Rate-limited like the refusal it answers.
                self.log.refusal(
                    arrival.client.ip(),
                    Level::Warning,
                    format_args!("{}: sending TFTP ERROR: {e}", arrival.client),
                );
            }
        }
    }
}

/// `to` with the arrival interface as its scope when it or `from` is
/// link-local: a link-local address means nothing without its interface,
/// and the kernel refuses to send to or from one without it (EINVAL).
fn scoped(to: SocketAddr, from: SocketAddr, interface: Option<u32>) -> SocketAddr {
    match (to, interface) {
        (SocketAddr::V6(mut v6), Some(index))
            if is_scoped(IpAddr::V6(*v6.ip())) || is_scoped(from.ip()) =>
        {
            v6.set_scope_id(index);
            SocketAddr::V6(v6)
        }
        _ => to,
    }
}

/// Sources no answer should go to.
pub(crate) fn is_broadcast_like(ip: IpAddr) -> bool {
    match unmap(ip) {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.is_multicast() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_multicast() || v6.is_unspecified(),
    }
}
