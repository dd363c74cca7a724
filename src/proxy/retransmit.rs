//! A request that repeats a live transfer's: a true copy (the kernel saw
//! no answer take that transfer's return path yet, or it was queued
//! before that request was sent) is sent again from that transfer's
//! socket once a client could have timed out, its return path renewed,
//! and absorbed before that (see [`super::transfers`]); a copy of a
//! settled transfer's request (answered, its path removed) is absorbed;
//! anything else is a new request from a reused port.
//!
//! This file owns that decision's sending and logging.

use super::arrival::Arrival;
use super::dissect::Dissected;
use super::tally::Disposition;
use super::Proxy;
use crate::firewall::{Firewall, PathUse, Redirection};
use crate::tftp;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

impl<'a, F: Firewall> Proxy<'a, F> {
    /// Handles `request` if it is a true copy of a live transfer's
    /// request: same bytes, client port and server, and no answer has
    /// reached the client on that transfer's return path. A copy is sent
    /// again once a client could have timed out (the path renewed, so a
    /// server answering that copy is reached like one answering the
    /// first), absorbed before that: tftpd-hpa forks per request, and a
    /// second WRQ would truncate the upload. `None`: a new request, to
    /// forward as a new transfer, even with the same bytes.
    pub(super) fn retransmission(
        &mut self,
        redirection: &Redirection,
        arrival: &Arrival,
        request: &Dissected<'_>,
    ) -> Option<Disposition> {
        let (client, server) = (arrival.client, redirection.original_destination);
        let what = &request.what;
        let (path, settled) = self
            .transfers
            .retransmission_of(client, server, request.datagram)
            .map(|t| (t.path, t.settled))?;
        if settled {
            return self.settled_copy(arrival, client, server, request);
        }
        let used = self.firewall.path_use(&path).unwrap_or_else(|e| {
            self.log
                .warning(format_args!("reading the return path's use: {e}"));
            PathUse::Unknown
        });
        if used.answered() && self.is_new_request(arrival, client, server, request.datagram) {
            return None;
        }
        let live = self
            .transfers
            .retransmission_of(client, server, request.datagram)?;
        live.retransmissions += 1;
        let now = Instant::now();
        let since = now.saturating_duration_since(live.last_sent);
        if !live.resend_due(now) {
            // Absorbed: the firewall's state of this copy is left alone.
            self.log.info(format_args!(
                "{} -> {} -> {} {what}: retransmission {} ms after the last send, not sent again",
                path.client,
                path.proxy,
                path.server,
                since.as_millis()
            ));
            return Some(Disposition::Retransmitted);
        }
        // Redirected again: forget that state too, before sending.
        self.requests_forwarded(std::slice::from_ref(redirection));
        let live = self
            .transfers
            .retransmission_of(client, server, request.datagram)?;
        // An ICMP error left on the socket (forged, or about the first
        // copy) would fail this send: it is read out first, never in the way.
        let _ = live.upstream.take_error();
        let sent_at = SystemTime::now();
        let sent = live.upstream.send(request.outgoing());
        if sent.is_ok() {
            live.last_sent = now;
            live.last_sent_at = sent_at;
        }
        Some(match sent {
            Ok(_) => {
                let renewed = self.firewall.renew_return_path(&path);
                self.transfers.renew(
                    client,
                    server,
                    request.datagram,
                    now + self.settings.transfer_wait,
                );
                match renewed {
                    Ok(()) => self.log.info(format_args!(
                        "{} -> {} -> {} {what}: retransmission, sent again",
                        path.client, path.proxy, path.server
                    )),
                    Err(e) => self.log.warning(format_args!(
                        "{} -> {} -> {} {what}: retransmission, sent again; renewing its return path: {e}",
                        path.client, path.proxy, path.server
                    )),
                }
                Disposition::Retransmitted
            }
            Err(e) => {
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    self.tally.unsent += 1;
                }
                self.log.error(format_args!(
                    "{client} -> {server} {what}: sending the retransmission: {e}"
                ));
                Disposition::Failed
            }
        })
    }

    /// A request repeating a settled transfer's (its path carried the
    /// answer and is removed, see `settle.rs`): a new request by the
    /// same rule as for any answered path; otherwise a copy that was
    /// queued before the send (or a WRQ inside the resend window), which
    /// is absorbed. It is never sent again: the server has answered it,
    /// and there is no path left to renew.
    fn settled_copy(
        &mut self,
        arrival: &Arrival,
        client: SocketAddr,
        server: SocketAddr,
        request: &Dissected<'_>,
    ) -> Option<Disposition> {
        if self.is_new_request(arrival, client, server, request.datagram) {
            return None;
        }
        let live = self
            .transfers
            .retransmission_of(client, server, request.datagram)?;
        live.retransmissions += 1;
        let path = live.path;
        self.log.info(format_args!(
            "{} -> {} -> {} {}: retransmission of a request already answered, not sent again",
            path.client, path.proxy, path.server, request.what
        ));
        Some(Disposition::Retransmitted)
    }

    /// Whether a request whose live transfer's path already carried the
    /// server's answer is a new request rather than a late copy. Not if
    /// it was queued on the socket before that transfer's last send: no
    /// answer could have reached the client when it sent it (two WRQs in
    /// a row). A WRQ also needs the resend window over: a second WRQ
    /// truncates the upload the first is writing at servers that fork per
    /// request, so only a client that waited a timeout gets a new one.
    fn is_new_request(
        &mut self,
        arrival: &Arrival,
        client: SocketAddr,
        server: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let Some(live) = self.transfers.retransmission_of(client, server, datagram) else {
            return true;
        };
        let queued_before = arrival.received.is_some_and(|at| at <= live.last_sent_at);
        let is_write = tftp::Opcode::of(datagram) == Some(tftp::Opcode::Wrq);
        !queued_before && (!is_write || live.resend_due(Instant::now()))
    }
}
