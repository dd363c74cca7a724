//! Reading requests off the inherited socket with the address each one
//! arrived at, and answering from that same address.
//!
//! This module owns the socket options and control messages that tell
//! where a datagram was addressed; it knows nothing of TFTP or firewalls.
//! Every receive and every reply is non-blocking (`MSG_DONTWAIT`): a reply
//! that would block fails with `WouldBlock` at once, for the caller to
//! drop and count.

#[cfg(target_os = "openbsd")]
mod divert_reply;
#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "openbsd")]
mod openbsd;

/// Opens the socket that answers diverted IPv4 requests from their
/// original destination (SO_BINDANY): only when pf diverts requests to
/// the helper, as root, before the privilege drop (`divert_reply.rs`).
#[cfg(target_os = "openbsd")]
pub use divert_reply::open as open_divert_reply;
#[cfg(target_os = "freebsd")]
pub use freebsd::{prepare, receive, reply};
#[cfg(target_os = "linux")]
pub use linux::{prepare, receive, receive_many, reply};
#[cfg(target_os = "openbsd")]
pub use openbsd::{prepare, receive, reply};

use nix::sys::socket::{
    getsockname, recvmsg, ControlMessageOwned, MsgFlags, RecvMsg, SockaddrLike, SockaddrStorage,
};
use std::io::{self, IoSliceMut};
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
    /// When the kernel queued it on the socket (Linux: SO_TIMESTAMPNS,
    /// the real-time clock), where the platform tells.
    pub received: Option<std::time::SystemTime>,
    /// The index of the interface it came in on, where the platform tells
    /// (Linux: IP_PKTINFO / IPV6_PKTINFO; the BSDs: IP_RECVIF /
    /// IPV6_PKTINFO). `None` for a datagram queued before the socket
    /// asked (inetd's first).
    pub interface: Option<u32>,
}

/// Takes one datagram off the socket without waiting (`None` when it is
/// empty). `local` starts as the socket's own address (`bound`); `read`
/// sees each control message and corrects it (and fills in the arrival
/// interface where the message carries one). `space` is the control
/// buffer sized for the messages the platform asked for in `prepare`.
fn receive_with(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    bound: SocketAddr,
    space: &mut [u8],
    flags: MsgFlags,
    mut read: impl FnMut(ControlMessageOwned, &mut SocketAddr, &mut Option<u32>),
) -> io::Result<Option<Arrival>> {
    let capacity = buf.len();
    let mut iov = [IoSliceMut::new(buf)];
    let flags = flags | MsgFlags::MSG_DONTWAIT;
    let msg = match recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(space), flags) {
        Ok(msg) => msg,
        Err(nix::errno::Errno::EAGAIN) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    arrival_of(&msg, capacity, bound, &mut read).map(Some)
}

/// The [`Arrival`] of one received message (`capacity`: its buffer's
/// size), `read` correcting `local` and the interface from each control
/// message, as in [`receive_with`].
fn arrival_of(
    msg: &RecvMsg<'_, '_, SockaddrStorage>,
    capacity: usize,
    bound: SocketAddr,
    read: &mut impl FnMut(ControlMessageOwned, &mut SocketAddr, &mut Option<u32>),
) -> io::Result<Arrival> {
    let client = msg
        .address
        .as_ref()
        .and_then(to_std)
        .ok_or_else(|| io::Error::other("datagram without a source address"))?;
    let mut local = bound;
    let mut interface = None;
    for cmsg in msg.cmsgs()? {
        read(cmsg, &mut local, &mut interface);
    }
    Ok(Arrival {
        len: msg.bytes.min(capacity),
        truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
        client,
        local,
        received: None,
        interface,
    })
}

/// Datagrams taken off the socket in one wake-up, at most.
pub const BATCH: usize = 32;

/// Takes up to one datagram per `slot` bytes of `space` (at most
/// [`BATCH`]) off the socket without waiting (none when it is empty), one
/// [`receive`] after the other; the platforms with `recvmmsg` take them
/// in one call. Datagram `i` starts at `space[i * slot]`.
#[cfg(not(target_os = "linux"))]
pub fn receive_many(
    socket: BorrowedFd<'_>,
    space: &mut [u8],
    slot: usize,
    bound: SocketAddr,
) -> io::Result<Vec<Arrival>> {
    let mut arrivals = Vec::new();
    for buffer in space.chunks_mut(slot).take(BATCH) {
        match receive(socket, buffer, bound) {
            Ok(Some(arrival)) => arrivals.push(arrival),
            Ok(None) => break,
            Err(e) if arrivals.is_empty() => return Err(e),
            // Those taken are served; the error comes again next time.
            Err(_) => break,
        }
    }
    Ok(arrivals)
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

/// Waits until a datagram is queued on `socket` or `timeout` has passed;
/// returns whether one is queued. A signal ends the wait early (`false`).
pub fn wait(socket: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let millis = u16::try_from(timeout.as_millis().max(1)).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(socket, PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(millis)) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The receive buffer asked for on the inherited socket: room for a storm
/// of requests queued while one is being served (a small datagram costs
/// the socket about 1 KiB of kernel memory, so a few thousand).
pub const RECEIVE_BUFFER: usize = 4 << 20;

/// Raises the socket's receive buffer toward `bytes` (never lowers it) and
/// returns the size the kernel reports afterwards. Linux: SO_RCVBUFFORCE,
/// which passes net.core.rmem_max but needs CAP_NET_ADMIN, so call it while
/// still root; failing that (and elsewhere), SO_RCVBUF, halved until the
/// kernel's limit accepts it (OpenBSD: `sb_max`, sys/kern/uipc_socket2.c).
pub fn enlarge_receive_buffer(socket: BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    let current = getsockopt(&socket, sockopt::RcvBuf)?;
    if current >= bytes {
        return Ok(current);
    }
    #[cfg(target_os = "linux")]
    if setsockopt(&socket, sockopt::RcvBufForce, &bytes).is_ok() {
        return Ok(getsockopt(&socket, sockopt::RcvBuf)?);
    }
    let mut asked = bytes;
    while asked > current {
        if setsockopt(&socket, sockopt::RcvBuf, &asked).is_ok() {
            break;
        }
        asked /= 2;
    }
    Ok(getsockopt(&socket, sockopt::RcvBuf)?)
}
