//! Linux: the arrival address comes from IP_PKTINFO / IPV6_PKTINFO.
//!
//! The port is the socket's own: a `redirect` rewrites the destination to
//! the socket's address and port, so only the address needs telling.
//! SO_TIMESTAMPNS tells when each datagram was queued, so that a copy of
//! a request queued before that request was forwarded is known as one.
//! A wake-up takes every queued datagram in one `recvmmsg`, each with
//! its own control messages.

use super::{arrival_of, receive_with, Arrival, BATCH};
use nix::sys::socket::{
    recvmmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    MultiHeaders, SockaddrStorage,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, SystemTime};

/// Turns on the control messages that tell where each datagram arrived.
pub fn prepare(socket: BorrowedFd<'_>, bound: SocketAddr) -> io::Result<()> {
    match bound {
        SocketAddr::V4(_) => setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?,
        SocketAddr::V6(_) => setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?,
    }
    setsockopt(&socket, sockopt::ReceiveTimestampns, &true)?;
    Ok(())
}

/// Takes one datagram off the socket without waiting; `None` when the
/// socket is empty.
pub fn receive(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    bound: SocketAddr,
) -> io::Result<Option<Arrival>> {
    let mut space = nix::cmsg_space!(libc::in6_pktinfo, libc::timespec);
    let mut received = None;
    // MSG_TRUNC: report the datagram's real length, even if longer than buf.
    let arrival = receive_with(
        socket,
        buf,
        bound,
        &mut space,
        MsgFlags::MSG_TRUNC,
        |cmsg, local, interface| read_control(cmsg, local, interface, &mut received),
    )?;
    Ok(arrival.map(|a| Arrival { received, ..a }))
}

/// Takes up to one datagram per `slot` bytes of `space` (at most
/// [`BATCH`]) off the socket in one `recvmmsg` without waiting (none when
/// it is empty), each with its own arrival address, interface and
/// receive time. Datagram `i` starts at `space[i * slot]`.
pub fn receive_many(
    socket: BorrowedFd<'_>,
    space: &mut [u8],
    slot: usize,
    bound: SocketAddr,
) -> io::Result<Vec<Arrival>> {
    let control = nix::cmsg_space!(libc::in6_pktinfo, libc::timespec);
    let mut slices: Vec<[IoSliceMut<'_>; 1]> = space
        .chunks_mut(slot)
        .take(BATCH)
        .map(|b| [IoSliceMut::new(b)])
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), Some(control));
    // MSG_TRUNC: each datagram's real length, even if longer than its buffer.
    let flags = MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT;
    let taken = match recvmmsg(
        socket.as_raw_fd(),
        &mut headers,
        slices.iter_mut(),
        flags,
        None,
    ) {
        Ok(taken) => taken,
        Err(nix::errno::Errno::EAGAIN) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut arrivals = Vec::new();
    for msg in taken {
        let mut received = None;
        let arrival = arrival_of(&msg, slot, bound, &mut |cmsg, local, interface| {
            read_control(cmsg, local, interface, &mut received)
        })?;
        arrivals.push(Arrival {
            received,
            ..arrival
        });
    }
    Ok(arrivals)
}

/// Reads one control message: the address and interface a datagram
/// arrived at, or when the kernel queued it.
fn read_control(
    cmsg: ControlMessageOwned,
    local: &mut SocketAddr,
    interface: &mut Option<u32>,
    received: &mut Option<SystemTime>,
) {
    match cmsg {
        // s_addr holds the address in network order, as it was on the wire.
        ControlMessageOwned::Ipv4PacketInfo(info) => {
            local.set_ip(IpAddr::from(info.ipi_addr.s_addr.to_ne_bytes()));
            // 0: queued before IP_PKTINFO was on, the interface unknown.
            *interface = u32::try_from(info.ipi_ifindex).ok().filter(|&i| i != 0);
        }
        ControlMessageOwned::Ipv6PacketInfo(info) => {
            local.set_ip(IpAddr::from(info.ipi6_addr.s6_addr));
            *interface = Some(info.ipi6_ifindex).filter(|&i| i != 0);
        }
        ControlMessageOwned::ScmTimestampns(at) => {
            let since_epoch = Duration::new(
                u64::try_from(at.tv_sec()).unwrap_or(0),
                u32::try_from(at.tv_nsec()).unwrap_or(0),
            );
            *received = SystemTime::UNIX_EPOCH.checked_add(since_epoch);
        }
        _ => {}
    }
}

/// Sends `data` to `to` from the address `from` (where the request arrived),
/// so connection tracking maps the answer back to the address the client used.
pub fn reply(
    socket: BorrowedFd<'_>,
    data: &[u8],
    to: SocketAddr,
    from: SocketAddr,
) -> io::Result<()> {
    let iov = [IoSlice::new(data)];
    let dest = SockaddrStorage::from(to);
    let sent = match from.ip() {
        IpAddr::V4(ip) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from_ne_bytes(ip.octets()),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::MSG_DONTWAIT,
                Some(&dest),
            )
        }
        IpAddr::V6(ip) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                // A link-local destination (its scope set by the caller)
                // or source needs the interface: without it the kernel
                // refuses the send with EINVAL.
                ipi6_ifindex: match to {
                    SocketAddr::V6(v6) => v6.scope_id(),
                    SocketAddr::V4(_) => 0,
                },
            };
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&info)],
                MsgFlags::MSG_DONTWAIT,
                Some(&dest),
            )
        }
    };
    sent.map(|_| ()).map_err(io::Error::from)
}
