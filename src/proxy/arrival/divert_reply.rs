//! OpenBSD: answering a diverted request from its original destination.
//!
//! pf's `divert-to` hands the helper a datagram still addressed to the
//! server. An answer must leave from the server's address too: the phone
//! takes the first datagram from the server's address, from any port, as
//! the server's answer (its transfer ID), and ignores anything else. The
//! helper's own socket cannot send from an address that is not the
//! host's: udp_output() refuses an IP_SENDSRCADDR source with
//! EADDRNOTAVAIL unless the socket has SO_BINDANY (in_pcbaddrisavail(),
//! netinet/udp_usrreq.c and netinet/in_pcb.c), and only root may set
//! SO_BINDANY (sosetopt(), kern/uipc_socket.c). So [`open`] makes one
//! such socket while the helper is still root, bound to a wildcard
//! address and a kernel-chosen port; after the privilege drop, sending on
//! it with IP_SENDSRCADDR needs only pledge "inet" (pledge_sendit(),
//! kern/kern_pledge.c). Outbound on the inside interface the answer is
//! from the server to the phone, which the shipped pf.conf passes.
//!
//! IPv6 answers get no such socket: naming the source needs an
//! IPV6_PKTINFO control message (nix builds none on OpenBSD) or the
//! sticky IPV6_PKTINFO option, which pledge(2) forbids. A diverted IPv6
//! request that is refused gets no ERROR (the refusal is logged); it never
//! gets one from a wrong address.
//!
//! This file owns that socket; it knows nothing of TFTP or pf.

use nix::sys::socket::{sendmsg, setsockopt, ControlMessage, MsgFlags, SockaddrStorage};
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

sockopt_impl!(
    /// SO_BINDANY: the socket may send from (and bind to) any address.
    BindAny,
    Both,
    libc::SOL_SOCKET,
    libc::SO_BINDANY,
    bool
);

/// The socket, or why there is none; set once, before the privilege drop.
static SOCKET: OnceLock<Result<UdpSocket, String>> = OnceLock::new();

/// Opens the IPv4 socket that answers diverted requests. Call it as root,
/// before the privilege drop, and only when pf diverts requests to the
/// helper (a `divert-to` rule in the main ruleset): the socket keeps the
/// privilege to send from any address. A failure is remembered and told
/// when an answer cannot be sent; it does not stop the helper.
pub fn open() {
    SOCKET.get_or_init(|| {
        let socket =
            UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| format!("opening it: {e}"))?;
        setsockopt(&socket, BindAny, &true)
            .map_err(|e| format!("SO_BINDANY (needs root at start): {e}"))?;
        Ok(socket)
    });
}

/// Sends `data` to `to` from the address of `from`, a diverted request's
/// original destination.
pub fn send(data: &[u8], to: SocketAddr, from: SocketAddr) -> io::Result<()> {
    let (IpAddr::V4(source), SocketAddr::V4(_)) = (from.ip(), to) else {
        return Err(io::Error::other(
            "not sent: an answer to a diverted IPv6 request cannot name the server's address \
             as its source under pledge",
        ));
    };
    let socket = match SOCKET.get() {
        Some(Ok(socket)) => socket,
        Some(Err(why)) => {
            return Err(io::Error::other(format!(
                "not sent: no socket may send from {source}: {why}"
            )))
        }
        None => {
            return Err(io::Error::other(format!(
                "not sent: no socket may send from {source} (opened at start, only when the main ruleset has a divert-to rule)"
            )))
        }
    };
    let source = libc::in_addr {
        s_addr: u32::from_ne_bytes(source.octets()),
    };
    sendmsg(
        socket.as_raw_fd(),
        &[IoSlice::new(data)],
        &[ControlMessage::Ipv4SendSrcAddr(&source)],
        MsgFlags::MSG_DONTWAIT,
        Some(&SockaddrStorage::from(to)),
    )?;
    Ok(())
}
