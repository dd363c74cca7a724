//! Answering requests when the helper cannot serve them: it failed to
//! start (a bad flag, a missing ruleset, no such user).
//!
//! A datagram left on the socket makes inetd start the helper again at
//! once, in a loop; so the helper answers each with a TFTP ERROR and stays
//! until the socket has been idle for the idle time, so that a broken
//! configuration costs one start per idle gap, not one per request. This
//! module owns that loop; it never parses more than the opcode and never
//! touches the firewall.

use super::{arrival, is_broadcast_like};
use crate::log::{Level, Log};
use crate::tftp::{self, ErrorCode};
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// The ERROR text a client gets while the helper cannot start.
pub const NOT_WORKING_MESSAGE: &str = "tftp-proxy is not working, see its log";

/// Answers every datagram arriving on `socket` with a TFTP ERROR until
/// none has arrived for `idle`, and returns how many there were. A socket
/// that cannot be read (not a socket at all) ends it at once.
pub fn refuse_until_idle(socket: BorrowedFd<'_>, idle: Duration, log: &mut Log) -> usize {
    let Ok(bound) = arrival::bound_address(socket) else {
        return 0;
    };
    let mut buf = vec![0u8; tftp::MAX_DATAGRAM + 1];
    let mut count = 0;
    let mut last_arrival = Instant::now();
    loop {
        match arrival::receive(socket, &mut buf, bound) {
            Ok(Some(arrival)) => {
                last_arrival = Instant::now();
                count += 1;
                if tftp::Opcode::of(&buf[..arrival.len]) == Some(tftp::Opcode::Error)
                    || is_broadcast_like(arrival.client.ip())
                    || arrival.client.port() == 0
                    || !log.reply_allowed(arrival.client.ip())
                {
                    continue;
                }
                let packet = tftp::error_packet(ErrorCode::NotDefined, NOT_WORKING_MESSAGE);
                // Never waits (arrival::reply); failures are rate-limited.
                if let Err(e) = arrival::reply(socket, &packet, arrival.client, arrival.local) {
                    log.refusal(
                        arrival.client.ip(),
                        Level::Warning,
                        format_args!("{}: sending TFTP ERROR: {e}", arrival.client),
                    );
                }
            }
            Ok(None) => {
                let elapsed = last_arrival.elapsed();
                if elapsed >= idle {
                    return count;
                }
                if arrival::wait(socket, idle - elapsed).is_err() {
                    return count;
                }
            }
            Err(_) => return count,
        }
    }
}
