//! FreeBSD: where a datagram arrived comes from the IP_RECVDSTADDR control
//! message (IPv6: IPV6_PKTINFO), the interface it came in on from
//! IP_RECVIF (the interface's link address, `sdl_index`) and
//! IPV6_PKTINFO (`ipi6_ifindex`): `ip_savecontrol()` in
//! netinet/ip_input.c and `ip6_savecontrol()` in netinet6/ip6_input.c
//! take both from the packet's receiving interface, which pf's `rdr`
//! leaves as it was. FreeBSD has no IP_RECVDSTPORT: the port
//! is always the socket's own, which is right after an `rdr` (pfSense
//! redirects to 127.0.0.1 port 6969, the port xinetd bound). FreeBSD's pf
//! has no `divert-to`, so a datagram never arrives at a foreign address.
//!
//! This file owns those socket options and messages and the sending of
//! answers from the right address; it knows nothing of TFTP or pf.

use super::{receive_with, Arrival};
use nix::errno::Errno;
use nix::sys::socket::{
    sendmsg, sendto, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrStorage,
};
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Turns on the control messages that tell where each datagram arrived.
pub fn prepare(socket: BorrowedFd<'_>, bound: SocketAddr) -> io::Result<()> {
    match bound {
        SocketAddr::V4(_) => {
            setsockopt(&socket, sockopt::Ipv4RecvDstAddr, &true)?;
            setsockopt(&socket, sockopt::Ipv4RecvIf, &true)?;
        }
        SocketAddr::V6(_) => setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?,
    }
    Ok(())
}

/// Takes one datagram off the socket without waiting; `None` when the
/// socket is empty. The port is the socket's own (`bound`), and so is the
/// address where no control message tells it.
pub fn receive(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    bound: SocketAddr,
) -> io::Result<Option<Arrival>> {
    let mut space = nix::cmsg_space!(libc::in6_pktinfo, libc::sockaddr_dl);
    receive_with(
        socket,
        buf,
        bound,
        &mut space,
        MsgFlags::empty(),
        |cmsg, local, interface| match cmsg {
            // s_addr holds the address as the wire did, in network order.
            ControlMessageOwned::Ipv4RecvDstAddr(addr) => {
                local.set_ip(IpAddr::from(addr.s_addr.to_ne_bytes()))
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                local.set_ip(IpAddr::from(info.ipi6_addr.s6_addr));
                *interface = Some(info.ipi6_ifindex).filter(|&i| i != 0);
            }
            // Index 0: the kernel did not know the interface.
            ControlMessageOwned::Ipv4RecvIf(link) => {
                *interface = Some(u32::from(link.sdl_index)).filter(|&i| i != 0);
            }
            _ => {}
        },
    )
}

/// Sends `data` to `to` from the address `from` where the request arrived,
/// so pf's state maps the answer back to the address the client wrote to.
///
/// A socket bound to one address (xinetd's `bind = 127.0.0.1`) sends from
/// it anyway. One bound to a wildcard names the source: IP_SENDSRCADDR for
/// IPv4, IPV6_PKTINFO for IPv6. If the kernel refuses that address, the
/// answer goes out as a plain `sendto`.
pub fn reply(
    socket: BorrowedFd<'_>,
    data: &[u8],
    to: SocketAddr,
    from: SocketAddr,
) -> io::Result<()> {
    let bound = super::bound_address(socket)?;
    if !bound.ip().is_unspecified() || bound.ip() == from.ip() {
        return send_plain(socket, data, to);
    }
    match send_from(socket, data, to, from.ip()) {
        Err(e)
            if matches!(
                Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                Errno::EADDRNOTAVAIL | Errno::EINVAL
            ) =>
        {
            send_plain(socket, data, to)
        }
        other => other,
    }
}

/// `sendto(2)` with the kernel's choice of source address.
fn send_plain(socket: BorrowedFd<'_>, data: &[u8], to: SocketAddr) -> io::Result<()> {
    sendto(
        socket.as_raw_fd(),
        data,
        &SockaddrStorage::from(to),
        MsgFlags::MSG_DONTWAIT,
    )?;
    Ok(())
}

/// `sendmsg(2)` naming `source` as the source address.
fn send_from(
    socket: BorrowedFd<'_>,
    data: &[u8],
    to: SocketAddr,
    source: IpAddr,
) -> io::Result<()> {
    let iov = [IoSlice::new(data)];
    let dest = SockaddrStorage::from(to);
    match (source, to) {
        (IpAddr::V4(ip), SocketAddr::V4(_)) => {
            let addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(ip.octets()),
            };
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv4SendSrcAddr(&addr)],
                MsgFlags::MSG_DONTWAIT,
                Some(&dest),
            )?;
        }
        (IpAddr::V6(ip), SocketAddr::V6(_)) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                // Zero: the kernel picks the interface from the route.
                ipi6_ifindex: 0,
            };
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&info)],
                MsgFlags::MSG_DONTWAIT,
                Some(&dest),
            )?;
        }
        _ => return send_plain(socket, data, to),
    }
    Ok(())
}
