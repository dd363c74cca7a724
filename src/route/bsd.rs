//! OpenBSD and FreeBSD: one `RTM_GET` on a `PF_ROUTE` socket per check
//! (the message itself is `message.rs`).
//!
//! The socket is opened at start, while the helper is still root and not
//! yet confined: on OpenBSD, pledge(2) refuses socket(2) for `AF_ROUTE`
//! whatever the promises (`pledge_socket()` allows only `AF_INET`,
//! `AF_INET6` and `AF_UNIX`, kern/kern_pledge.c), and its setsockopt(2)
//! at level `AF_ROUTE` (`pledge_sockopt()`). Once open, the helper's
//! "stdio inet pf" is enough and nothing is widened: write(2) and recv(2)
//! are "stdio" (`pledge_syscalls`), send without an address passes
//! `pledge_sendit()`, and the routing socket itself asks nothing of the
//! writer for `RTM_GET`: `route_output()` (net/rtsock.c) requires root
//! for every other message type only. The "route" promise governs
//! sysctl(2) reads of the table and interface ioctls, neither of which
//! this uses. FreeBSD has no pledge; `RTM_GET` needs no privilege there
//! either (`route_output()`, net/rtsock.c). Neither kernel needs a
//! path, so the chroot changes nothing.
//!
//! Every routing socket also receives the system's routing messages
//! (interface and route changes, other processes' answers): OpenBSD's
//! `ROUTE_MSGFILTER` narrows that to `RTM_GET` messages; on both, what
//! queued since the last check is drained before asking, so a full
//! receive buffer never drops the answer, and the answer is told from the
//! rest by pid and sequence number. No `unsafe` here: nix wraps every
//! call.

use super::interface_name;
use super::layout::{Layout, NATIVE};
use super::message::{answer, request, Route};
use crate::policy::RouteToClient;
use nix::errno::Errno;
use nix::sys::socket::{
    recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockType,
};
use nix::sys::time::{TimeVal, TimeValLike};
#[cfg(target_os = "openbsd")]
use nix::{setsockopt_impl, sockopt_impl};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long a lookup waits for the kernel's answer (it comes at once; the
/// limit only guards against a lost one).
const PATIENCE: Duration = Duration::from_secs(1);

/// The largest message a lookup reads (OpenBSD's `RTM_MAXSIZE` is 2048;
/// a longer one is not an answer to this request).
const ANSWER_SPACE: usize = 2048;

/// The most queued messages one drain reads before asking anyway.
const DRAIN_LIMIT: usize = 4096;

/// OpenBSD's `ROUTE_MSGFILTER` option (net/route.h), at level `AF_ROUTE`.
#[cfg(target_os = "openbsd")]
const ROUTE_MSGFILTER: libc::c_int = pf_sys::openbsd::ROUTE_MSGFILTER as libc::c_int;

#[cfg(target_os = "openbsd")]
sockopt_impl!(
    /// The message types this socket receives, one bit per type
    /// (`route_ctloutput()` in net/rtsock.c takes an unsigned int).
    MessageFilter,
    SetOnly,
    libc::AF_ROUTE,
    ROUTE_MSGFILTER,
    u32
);

/// The routing table, asked over one routing socket.
#[derive(Debug)]
pub struct Routes {
    socket: OwnedFd,
    layout: &'static Layout,
    pid: u32,
    seq: u32,
    table: u16,
}

impl Routes {
    /// Opens the routing socket: call it before the privilege drop.
    pub fn open() -> io::Result<Routes> {
        let socket = socket(
            AddressFamily::Route,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        setsockopt(&socket, sockopt::ReceiveTimeout, &TimeVal::seconds(1))?;
        #[cfg(target_os = "openbsd")]
        setsockopt(&socket, MessageFilter, &(1u32 << NATIVE.rtm_get))?;
        #[cfg(target_os = "openbsd")]
        let table = crate::firewall::pf::routing_table();
        #[cfg(not(target_os = "openbsd"))]
        let table = 0;
        Ok(Routes {
            socket,
            layout: NATIVE,
            pid: std::process::id(),
            seq: std::process::id().wrapping_mul(7),
            table,
        })
    }

    /// Where the firewall would send a datagram to `ip`.
    pub fn toward(&mut self, ip: IpAddr) -> io::Result<RouteToClient> {
        let route = self.ask(ip)?;
        Ok(match route {
            Route::Interface { index, name } => RouteToClient::Interface {
                index,
                name: name.unwrap_or_else(|| interface_name(index)),
            },
            Route::Local => RouteToClient::Local,
            Route::Unreachable(reason) => RouteToClient::Unreachable(reason),
        })
    }

    fn ask(&mut self, ip: IpAddr) -> io::Result<Route> {
        self.drain()?;
        self.seq = self.seq.wrapping_add(1);
        let message = request(self.layout, self.seq, self.table, ip);
        match nix::unistd::write(&self.socket, &message) {
            Ok(_) => {}
            // No route: route_output() fails the write (and echoes the
            // message with rtm_errno set, drained next time).
            Err(errno @ (Errno::ESRCH | Errno::ENETUNREACH | Errno::EHOSTUNREACH)) => {
                return Ok(Route::Unreachable(io::Error::from(errno).to_string()))
            }
            Err(errno) => return Err(errno.into()),
        }
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; ANSWER_SPACE];
        loop {
            let n = match recv(self.socket.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(Errno::EAGAIN) => {
                    return Err(io::Error::other(format!(
                        "the {} routing socket did not answer within {} s",
                        self.layout.kernel,
                        PATIENCE.as_secs()
                    )))
                }
                Err(errno) => return Err(errno.into()),
            };
            if let Some(answer) = answer(self.layout, &buf[..n], self.pid, self.seq) {
                return answer;
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "no answer of ours on the {} routing socket within {} s",
                    self.layout.kernel,
                    PATIENCE.as_secs()
                )));
            }
        }
    }

    /// Reads away what queued since the last lookup.
    fn drain(&mut self) -> io::Result<()> {
        let mut buf = [0u8; ANSWER_SPACE];
        for _ in 0..DRAIN_LIMIT {
            match recv(self.socket.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(()),
                // The kernel tells of messages it had to drop for want of
                // room: nothing to do, they were not ours.
                Err(Errno::ENOBUFS) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(())
    }
}
