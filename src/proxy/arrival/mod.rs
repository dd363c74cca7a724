//! Reading requests off the inherited socket with the address each one
//! arrived at, and answering from that same address.
//!
//! This module owns the socket options and control messages that tell
//! where a datagram was addressed; it knows nothing of TFTP or firewalls.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "openbsd")]
mod openbsd;

#[cfg(target_os = "linux")]
pub use linux::{prepare, receive, reply};
#[cfg(target_os = "openbsd")]
pub use openbsd::{prepare, receive, reply};

use nix::sys::socket::{getsockname, SockaddrLike, SockaddrStorage};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// One datagram taken off the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Bytes stored in the caller's buffer.
    pub len: usize,
    /// The datagram was longer than the buffer.
    pub truncated: bool,
    /// Who sent it.
    pub client: SocketAddr,
    /// The address and port it was addressed to, as it arrived at this
    /// host (after any redirect; with divert-to, the original destination).
    pub local: SocketAddr,
}

/// The socket's own address.
pub fn bound_address(socket: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let addr: SockaddrStorage = getsockname(socket.as_raw_fd())?;
    to_std(&addr).ok_or_else(|| {
        io::Error::other(format!(
            "not an internet socket (family {:?})",
            addr.family()
        ))
    })
}

pub(crate) fn to_std(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}
