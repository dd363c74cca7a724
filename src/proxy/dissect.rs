//! The first look at a datagram: refusals that need no firewall (too
//! long, a loop from the helper's own socket, not a well-formed request)
//! and, for a request, what the rest of the flow needs from its bytes.
//!
//! This file owns those early refusals and [`Dissected`]; it never asks
//! the firewall.

use super::arrival::Arrival;
use super::outcome::RequestLabel;
use super::tally::Disposition;
use super::{Proxy, Settings};
use crate::firewall::Firewall;
use crate::log::Level;
use crate::policy::{unmap, Host};
use crate::tftp::{self, ErrorCode, Request};
use std::net::SocketAddr;
use std::time::Instant;

/// A request that passed the first look.
pub(super) struct Dissected<'d> {
    /// The datagram as it arrived.
    pub datagram: &'d [u8],
    /// Its parsed form.
    pub request: Request<'d>,
    /// `RRQ "file"`, for log lines.
    pub what: String,
    /// The opcode and the quoted filename, for the outcome line.
    pub label: RequestLabel,
    /// The request with its blksize lowered (`--max-blksize`), if it was.
    pub lowered: Option<tftp::LoweredBlksize>,
}

impl Dissected<'_> {
    /// The bytes to send to the server.
    pub fn outgoing(&self) -> &[u8] {
        self.lowered
            .as_ref()
            .map_or(self.datagram, |l| &l.bytes[..])
    }
}

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Takes the first look at `datagram`: the request, or how it ended
    /// (refused, answered with an ERROR where one may be sent).
    pub(super) fn dissect<'d>(
        &mut self,
        arrival: &Arrival,
        datagram: &'d [u8],
        oversized: bool,
    ) -> Result<Dissected<'d>, Disposition> {
        let client = arrival.client;
        if oversized {
            self.refuse(
                arrival,
                Level::Warning,
                format_args!(
                    "{client}: datagram longer than {} bytes, dropped",
                    tftp::MAX_DATAGRAM
                ),
                Some((ErrorCode::IllegalOperation, "datagram too long")),
            );
            return Err(Disposition::Refused("too long"));
        }
        if let Some(e) = self.own.follow(arrival.local.ip(), Instant::now()) {
            self.log.refusal(
                client.ip(),
                Level::Warning,
                format_args!("reading the firewall's own addresses again: {e}"),
            );
        }
        if is_own_socket(client, self.bound, self.own.host()) {
            // Never answered: an answer would go back to this socket.
            self.refuse(
                arrival,
                Level::Warning,
                format_args!(
                    "{client}: datagram from the helper's own address and port, dropped (a loop)"
                ),
                None,
            );
            return Err(Disposition::Refused("loop"));
        }
        match parse(datagram, self.settings) {
            Ok(request) => {
                let label = RequestLabel {
                    opcode: match request.kind() {
                        tftp::Kind::Read => "RRQ",
                        tftp::Kind::Write => "WRQ",
                    },
                    filename: tftp::quoted(request.filename()),
                };
                let what = format!("{} {}", label.opcode, label.filename);
                let lowered = self
                    .settings
                    .max_blksize
                    .and_then(|max| request.lowered_blksize(max));
                Ok(Dissected {
                    datagram,
                    request,
                    what,
                    label,
                    lowered,
                })
            }
            Err(e) => {
                // Never answer an ERROR with an ERROR.
                let text = e.to_string();
                let reply = (tftp::Opcode::of(datagram) != Some(tftp::Opcode::Error))
                    .then_some((ErrorCode::IllegalOperation, text.as_str()));
                self.refuse(
                    arrival,
                    Level::Warning,
                    format_args!("{client}: refused: {e}"),
                    reply,
                );
                Err(Disposition::Refused("malformed"))
            }
        }
    }
}

/// The request in `datagram`, checked strictly with `--strict-requests`.
fn parse<'d>(datagram: &'d [u8], settings: &Settings) -> Result<Request<'d>, tftp::ParseError> {
    let request = Request::parse(datagram)?;
    if settings.strict_requests {
        request.check_strict()?;
    }
    Ok(request)
}

/// Whether `client` is the helper's own socket (`bound`) as seen from any
/// of the firewall's addresses: only a loop (one of the helper's ERRORs
/// come back to it) sends from there, and answering would feed the loop.
fn is_own_socket(client: SocketAddr, bound: SocketAddr, host: &Host) -> bool {
    let ip = unmap(client.ip());
    client.port() == bound.port()
        && (ip.is_loopback()
            || ip == unmap(bound.ip())
            || host.addresses.iter().any(|&a| unmap(a) == ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn own_socket_is_recognized_from_any_own_address() {
        let host = Host {
            addresses: vec![
                "192.0.2.1".parse().unwrap(),
                "198.51.100.1".parse().unwrap(),
            ],
            broadcasts: Vec::new(),
        };
        let bound = addr("0.0.0.0:6969");
        assert!(is_own_socket(addr("192.0.2.1:6969"), bound, &host));
        assert!(is_own_socket(addr("198.51.100.1:6969"), bound, &host));
        assert!(is_own_socket(addr("127.0.0.1:6969"), bound, &host));
        assert!(is_own_socket(
            addr("[::ffff:192.0.2.1]:6969"),
            addr("[::]:6969"),
            &host
        ));
        // Another port of the firewall, or a phone using port 6969: served.
        assert!(!is_own_socket(addr("192.0.2.1:50000"), bound, &host));
        assert!(!is_own_socket(addr("192.0.2.20:6969"), bound, &host));
    }
}
