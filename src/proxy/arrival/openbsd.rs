//! OpenBSD: where a datagram arrived comes from the IP_RECVDSTADDR and
//! IP_RECVDSTPORT control messages (IPv6: IPV6_PKTINFO and
//! IPV6_RECVDSTPORT), the interface it came in on from IP_RECVIF (the
//! interface's link address, `sdl_index`) and IPV6_PKTINFO
//! (`ipi6_ifindex`): `ip_savecontrol()` in netinet/ip_input.c and
//! `ip6_savecontrol()` in netinet6/ip6_input.c take both from the
//! packet's receiving interface, which an `rdr-to` or `divert-to` leaves
//! as it was.
//!
//! After an `rdr-to`, address and port are the socket's own (or one of the
//! host's addresses for a socket bound to a wildcard). After a
//! `divert-to`, pf hands the datagram over unchanged: they are the
//! original destination, the server. This file owns those socket options
//! and messages and the sending of answers from the right address; it
//! knows nothing of TFTP or pf.

use super::{receive_with, Arrival};
use nix::errno::Errno;
use nix::sys::socket::{
    sendmsg, sendto, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags,
    SockaddrStorage, UnknownCmsg,
};
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::raw::c_int;

/// `IP_RECVDSTPORT` in OpenBSD's `<netinet/in.h>` (libc does not have
/// it): deliver each datagram's destination port, in network order, as an
/// `IPPROTO_IP` control message of this type.
const IP_RECVDSTPORT: c_int = 33;

/// `IPV6_RECVDSTPORT` in OpenBSD's `<netinet6/in6.h>`: the same for IPv6,
/// at level `IPPROTO_IPV6`.
const IPV6_RECVDSTPORT: c_int = 64;

sockopt_impl!(
    /// Turns on the `IP_RECVDSTPORT` control message.
    RecvDstPort,
    Both,
    libc::IPPROTO_IP,
    IP_RECVDSTPORT,
    bool
);

sockopt_impl!(
    /// Turns on the `IPV6_RECVDSTPORT` control message.
    Ipv6RecvDstPort,
    Both,
    libc::IPPROTO_IPV6,
    IPV6_RECVDSTPORT,
    bool
);

/// Turns on the control messages that tell where each datagram arrived
/// (before the pledge: pledge_sockopt() in kern/kern_pledge.c refuses
/// these options under "inet"). The socket that answers diverted requests is opened apart, only when
/// pf diverts (`open_divert_reply`): SO_BINDANY is a privilege the helper
/// keeps after the drop, and `rdr-to` never needs it.
pub fn prepare(socket: BorrowedFd<'_>, bound: SocketAddr) -> io::Result<()> {
    match bound {
        SocketAddr::V4(_) => {
            setsockopt(&socket, sockopt::Ipv4RecvDstAddr, &true)?;
            setsockopt(&socket, RecvDstPort, &true)?;
            setsockopt(&socket, sockopt::Ipv4RecvIf, &true)?;
        }
        SocketAddr::V6(_) => {
            setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
            setsockopt(&socket, Ipv6RecvDstPort, &true)?;
        }
    }
    Ok(())
}

/// Takes one datagram off the socket without waiting; `None` when the
/// socket is empty. Where no control message tells the address or the
/// port, the socket's own (`bound`) stands in.
pub fn receive(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
    bound: SocketAddr,
) -> io::Result<Option<Arrival>> {
    let mut space = nix::cmsg_space!(libc::in6_pktinfo, u16, libc::sockaddr_dl);
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
            // Index 0: the kernel no longer knew the interface.
            ControlMessageOwned::Ipv4RecvIf(link) => {
                *interface = Some(u32::from(link.sdl_index)).filter(|&i| i != 0);
            }
            ControlMessageOwned::Unknown(unknown) => match unknown_cmsg(&unknown) {
                Some(Destination::Port(port)) => local.set_port(port),
                Some(Destination::PacketInfo(ip, index)) => {
                    local.set_ip(ip);
                    *interface = Some(index).filter(|&i| i != 0);
                }
                None => {}
            },
            _ => {}
        },
    )
}

/// What a control message nix does not parse on OpenBSD told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Port(u16),
    /// The address and the arrival interface's index.
    PacketInfo(IpAddr, u32),
}

/// Reads the destination port messages and, for IPv6, the packet info
/// (nix parses IPV6_PKTINFO on other systems only).
fn unknown_cmsg(cmsg: &UnknownCmsg) -> Option<Destination> {
    let (level, kind, data) = (
        cmsg.cmsg_header.cmsg_level,
        cmsg.cmsg_header.cmsg_type,
        &cmsg.data_bytes,
    );
    match (level, kind) {
        (libc::IPPROTO_IP, IP_RECVDSTPORT) | (libc::IPPROTO_IPV6, IPV6_RECVDSTPORT) => {
            let port: [u8; 2] = data.get(..2)?.try_into().ok()?;
            Some(Destination::Port(u16::from_be_bytes(port)))
        }
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
            // struct in6_pktinfo (netinet6/in6.h): the 16 address bytes,
            // then the interface index, an unsigned int.
            let addr: [u8; 16] = data.get(..16)?.try_into().ok()?;
            let index: [u8; 4] = data.get(16..20)?.try_into().ok()?;
            Some(Destination::PacketInfo(
                IpAddr::V6(Ipv6Addr::from(addr)),
                u32::from_ne_bytes(index),
            ))
        }
        _ => None,
    }
}

/// Sends `data` to `to` from the address `from` where the request arrived,
/// so pf's state maps the answer back to the address the client wrote to.
///
/// Arrived at the socket's own address (after an `rdr-to`), the answer
/// leaves from it. An IPv4 socket bound to a wildcard names the source in
/// an IP_SENDSRCADDR control message; an IPv6 one leaves the choice to the
/// kernel (see `send_from`). Arrived at an address that is not this
/// host's (a diverted request: `from` is the server), the answer leaves
/// from the server's address or not at all (`divert_reply.rs`), never
/// from the socket's own address, which the phone would ignore and which,
/// being 127.0.0.1, must not reach a wire.
pub fn reply(
    socket: BorrowedFd<'_>,
    data: &[u8],
    to: SocketAddr,
    from: SocketAddr,
) -> io::Result<()> {
    let bound = super::bound_address(socket)?;
    if bound.ip() == from.ip() {
        return send_plain(socket, data, to);
    }
    if bound.ip().is_unspecified() {
        match send_from(socket, data, to, from.ip()) {
            // Not one of this host's addresses: diverted.
            Err(e) if is_foreign_source(&e) => {}
            other => return other,
        }
    }
    super::divert_reply::send(data, to, from)
}

/// The errors udp_output() gives for a source address the host does not
/// have (netinet/udp_usrreq.c, in_pcbaddrisavail() in netinet/in_pcb.c).
fn is_foreign_source(e: &io::Error) -> bool {
    matches!(
        Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        Errno::EADDRNOTAVAIL | Errno::EINVAL
    )
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
    match (source, to) {
        (IpAddr::V4(ip), SocketAddr::V4(_)) => {
            let addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(ip.octets()),
            };
            let iov = [IoSlice::new(data)];
            let dest = SockaddrStorage::from(to);
            sendmsg(
                socket.as_raw_fd(),
                &iov,
                &[ControlMessage::Ipv4SendSrcAddr(&addr)],
                MsgFlags::MSG_DONTWAIT,
                Some(&dest),
            )?;
            Ok(())
        }
        // IPv6 would need an IPV6_PKTINFO control message, which nix does
        // not build on OpenBSD, or the sticky IPV6_PKTINFO option, which
        // pledge(2) forbids (it would kill the helper). Sockets bound to
        // one address, as etc/inetd.conf.openbsd binds them, need neither.
        // A source that is not this host's (binding a scratch socket to it
        // fails) is a diverted request's: the caller decides.
        (IpAddr::V6(ip), _) => match std::net::UdpSocket::bind((ip, 0)) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Err(e),
            _ => send_plain(socket, data, to),
        },
        _ => send_plain(socket, data, to),
    }
}
