//! The routing socket's `RTM_GET`, sans-IO: the request for one address
//! and the reading of the kernel's answer, over either kernel's layout
//! ([`Layout`]).
//!
//! What the kernels do with it (read, not copied):
//! - OpenBSD, `route_output()` and `rtm_output()` in net/rtsock.c: a
//!   `RTM_GET` without a netmask is a best match in table `rtm_tableid`
//!   (`rtable_lookup()`, net/rtable.c); `rtm_report()` answers with the
//!   route's flags, `rtm_index` set to the route's interface and, when it
//!   has one, an `RTA_IFP` link address (its `sockaddr_dl`, name
//!   included). No route: the write fails with `ESRCH` and the message is
//!   echoed with `rtm_errno` set.
//! - FreeBSD, `route_output()` and `handle_rtm_get()` in net/rtsock.c: no
//!   `RTA_NETMASK` means longest-prefix match in the socket's FIB;
//!   `update_rtm_from_rc()` adds the `RTA_IFP` link address only when the
//!   request named `RTA_IFP`, and sets `rtm_index` to the next hop's
//!   interface either way. The route to each of the host's own addresses
//!   leaves by the loopback interface (`ifa_maintain_loopback_route()`,
//!   net/route.c).
//! - Both: `RTM_GET` needs no privilege (every other type does), the
//!   kernel writes the sender's pid into `rtm_pid`, and the answer goes to
//!   every routing socket, so the reader matches pid and `rtm_seq`.
//!   Addresses follow the header in `rtm_addrs` bit order, each padded to
//!   `sizeof(long)`.

use super::layout::{Layout, IFT_LOOP};
use std::io;
use std::net::IpAddr;

/// What the routing table says about the way to an address, before the
/// interface is named (the naming is IO: see `bsd.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The route leaves by this interface.
    Interface {
        /// Its index.
        index: u32,
        /// Its name, where the answer carried the link address.
        name: Option<String>,
    },
    /// The address is the host's own (`RTF_LOCAL`, or a route by the
    /// loopback interface).
    Local,
    /// No usable route: why.
    Unreachable(String),
}

/// `ROUNDUP()` / `SA_SIZE()`: the room one address takes in a message.
fn padded(layout: &Layout, len: usize) -> usize {
    if len == 0 {
        layout.align
    } else {
        1 + ((len - 1) | (layout.align - 1))
    }
}

fn put_u16(m: &mut [u8], at: usize, value: u16) {
    m[at..at + 2].copy_from_slice(&value.to_ne_bytes());
}

fn put_u32(m: &mut [u8], at: usize, value: u32) {
    m[at..at + 4].copy_from_slice(&value.to_ne_bytes());
}

fn get_u16(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(m.get(at..at + 2)?.try_into().ok()?))
}

fn get_u32(m: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(m.get(at..at + 4)?.try_into().ok()?))
}

/// The `RTM_GET` for `ip` in routing table `table` (OpenBSD; FreeBSD asks
/// the socket's FIB), numbered `seq`: the destination and an empty link
/// address under `RTA_IFP`, so both kernels name the interface.
pub fn request(layout: &Layout, seq: u32, table: u16, ip: IpAddr) -> Vec<u8> {
    let (family, sa_len) = match ip {
        IpAddr::V4(_) => (layout.af_inet, layout.sockaddr_in),
        IpAddr::V6(_) => (layout.af_inet6, layout.sockaddr_in6),
    };
    let dst_at = layout.header;
    let ifp_at = dst_at + padded(layout, sa_len);
    let len = ifp_at + padded(layout, layout.sockaddr_dl);
    let mut m = vec![0u8; len];
    put_u16(&mut m, layout.msglen, len as u16);
    m[layout.version] = layout.rtm_version;
    m[layout.kind] = layout.rtm_get;
    if let Some(at) = layout.hdrlen {
        put_u16(&mut m, at, layout.header as u16);
    }
    if let Some(at) = layout.tableid {
        put_u16(&mut m, at, table);
    }
    put_u32(&mut m, layout.addrs, layout.rta_dst | layout.rta_ifp);
    put_u32(&mut m, layout.seq, seq);
    // struct sockaddr_in / sockaddr_in6 (<netinet/in.h>, <netinet6/in6.h>):
    // length, family, port (zero), then the address after the port for
    // IPv4 and after the flow label for IPv6.
    m[dst_at] = sa_len as u8;
    m[dst_at + 1] = family;
    match ip {
        IpAddr::V4(v4) => m[dst_at + 4..dst_at + 8].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => m[dst_at + 8..dst_at + 24].copy_from_slice(&v6.octets()),
    }
    m[ifp_at] = layout.sockaddr_dl as u8;
    m[ifp_at + 1] = layout.af_link;
    m
}

/// Reads one message off the routing socket: `None` if it is not the
/// answer to request `seq` of process `pid` (another process's, another
/// type, a truncated one), else the route or the kernel's error.
pub fn answer(layout: &Layout, message: &[u8], pid: u32, seq: u32) -> Option<io::Result<Route>> {
    let len = usize::from(get_u16(message, layout.msglen)?);
    if len < layout.header || len > message.len() {
        return None;
    }
    let message = &message[..len];
    if message[layout.version] != layout.rtm_version
        || message[layout.kind] != layout.rtm_get
        || get_u32(message, layout.pid)? != pid
        || get_u32(message, layout.seq)? != seq
    {
        return None;
    }
    let errno = get_u32(message, layout.errno)? as i32;
    if errno != 0 {
        return Some(match errno {
            libc::ESRCH | libc::ENETUNREACH | libc::EHOSTUNREACH => Ok(Route::Unreachable(
                io::Error::from_raw_os_error(errno).to_string(),
            )),
            _ => Err(io::Error::from_raw_os_error(errno)),
        });
    }
    let flags = get_u32(message, layout.flags)?;
    let named = |reason: &str| Some(Ok(Route::Unreachable(reason.to_owned())));
    if flags & layout.rtf_up == 0 {
        return named("a route that is down");
    }
    if flags & layout.rtf_reject != 0 {
        return named("a reject route");
    }
    if flags & layout.rtf_blackhole != 0 {
        return named("a blackhole route");
    }
    if flags & layout.rtf_local != 0 {
        return Some(Ok(Route::Local));
    }
    if flags & layout.rtf_broadcast != 0 {
        return named("a broadcast route");
    }
    if flags & layout.rtf_multicast != 0 {
        return named("a multicast route");
    }
    let link = link_address(layout, message);
    if link.as_ref().is_some_and(|l| l.kind == IFT_LOOP) {
        return Some(Ok(Route::Local));
    }
    let index = match get_u16(message, layout.index)? {
        0 => link.as_ref().map_or(0, |l| l.index),
        index => index,
    };
    if index == 0 {
        return named("a route without an interface");
    }
    Some(Ok(Route::Interface {
        index: u32::from(index),
        name: link.and_then(|l| l.name).filter(|n| !n.is_empty()),
    }))
}

/// The interface named by an answer's `RTA_IFP` link address.
struct Link {
    index: u16,
    kind: u8,
    name: Option<String>,
}

/// Walks the addresses after the header to the `RTA_IFP` one.
fn link_address(layout: &Layout, message: &[u8]) -> Option<Link> {
    let addrs = get_u32(message, layout.addrs)?;
    let start = match layout.hdrlen {
        Some(at) => usize::from(get_u16(message, at)?),
        None => layout.header,
    };
    let mut at = start.max(layout.header);
    for bit in 0..u32::BITS {
        let mask = 1u32 << bit;
        if addrs & mask == 0 {
            continue;
        }
        let sa_len = usize::from(*message.get(at)?);
        if mask == layout.rta_ifp {
            let sa = message.get(at..at + sa_len)?;
            if sa.get(1) != Some(&layout.af_link) {
                return None;
            }
            let nlen = usize::from(*sa.get(layout.sdl_nlen)?);
            let name = sa
                .get(layout.sdl_data..layout.sdl_data + nlen)
                .map(|n| String::from_utf8_lossy(n).into_owned());
            return Some(Link {
                index: get_u16(sa, layout.sdl_index)?,
                kind: *sa.get(layout.sdl_type)?,
                name,
            });
        }
        at += padded(layout, sa_len);
    }
    None
}

#[cfg(all(test, not(any(target_os = "openbsd", target_os = "freebsd"))))]
mod tests {
    use super::super::layout::{FREEBSD, OPENBSD};
    use super::*;

    const PID: u32 = 4242;

    /// A kernel answer built as rtm_report() / update_rtm_from_rc() lay it
    /// out: header, then RTA_DST, RTA_GATEWAY (a link address, skipped),
    /// RTA_IFP with `name` of type `kind`, RTA_IFA.
    fn kernel_answer(
        l: &Layout,
        seq: u32,
        flags: u32,
        index: u16,
        link: Option<(u16, u8, &str)>,
        errno: i32,
    ) -> Vec<u8> {
        let mut addrs = Vec::new();
        let mut bits = 0u32;
        let mut push = |bit: u32, sa: Vec<u8>| {
            bits |= bit;
            let mut sa = sa;
            sa.resize(padded(l, sa.len()), 0);
            addrs.extend_from_slice(&sa);
        };
        let mut dst = vec![0u8; l.sockaddr_in];
        dst[0] = l.sockaddr_in as u8;
        dst[1] = l.af_inet;
        dst[4..8].copy_from_slice(&[192, 0, 2, 0]);
        push(l.rta_dst, dst);
        // RTA_GATEWAY = 0x2: an odd-sized link address to skip over.
        let mut gateway = vec![0u8; 20];
        gateway[0] = 20;
        gateway[1] = l.af_link;
        push(0x2, gateway);
        if let Some((sdl_index, kind, name)) = link {
            let mut sdl = vec![0u8; l.sockaddr_dl.max(l.sdl_data + name.len() + 6)];
            sdl[0] = sdl.len() as u8;
            sdl[1] = l.af_link;
            sdl[l.sdl_index..l.sdl_index + 2].copy_from_slice(&sdl_index.to_ne_bytes());
            sdl[l.sdl_type] = kind;
            sdl[l.sdl_nlen] = name.len() as u8;
            sdl[l.sdl_data..l.sdl_data + name.len()].copy_from_slice(name.as_bytes());
            push(l.rta_ifp, sdl);
        }
        let mut ifa = vec![0u8; l.sockaddr_in];
        ifa[0] = l.sockaddr_in as u8;
        ifa[1] = l.af_inet;
        push(0x20, ifa);
        let mut m = vec![0u8; l.header];
        m.extend_from_slice(&addrs);
        let len = m.len() as u16;
        put_u16(&mut m, l.msglen, len);
        m[l.version] = l.rtm_version;
        m[l.kind] = l.rtm_get;
        if let Some(at) = l.hdrlen {
            put_u16(&mut m, at, l.header as u16);
        }
        put_u16(&mut m, l.index, index);
        put_u32(&mut m, l.flags, flags);
        put_u32(&mut m, l.addrs, bits);
        put_u32(&mut m, l.pid, PID);
        put_u32(&mut m, l.seq, seq);
        put_u32(&mut m, l.errno, errno as u32);
        // A reader must not trust bytes past rtm_msglen.
        m.extend_from_slice(&[0xff; 16]);
        m
    }

    #[test]
    fn requests_name_destination_table_and_interface() {
        for l in [&OPENBSD, &FREEBSD] {
            let m = request(l, 7, 3, "192.0.2.20".parse().unwrap());
            let dst = l.header;
            let ifp = dst + 16;
            assert_eq!(m.len(), ifp + padded(l, l.sockaddr_dl), "{}", l.kernel);
            assert_eq!(get_u16(&m, l.msglen), Some(m.len() as u16));
            assert_eq!((m[l.version], m[l.kind]), (5, 4));
            assert_eq!(get_u32(&m, l.addrs), Some(l.rta_dst | l.rta_ifp));
            assert_eq!(get_u32(&m, l.seq), Some(7));
            assert_eq!(&m[dst..dst + 8], &[16, 2, 0, 0, 192, 0, 2, 20]);
            assert_eq!((m[ifp] as usize, m[ifp + 1]), (l.sockaddr_dl, l.af_link));
            let m = request(l, 7, 3, "2001:db8::20".parse().unwrap());
            assert_eq!((m[dst], m[dst + 1]), (28, l.af_inet6), "{}", l.kernel);
            assert_eq!(m[dst + 8..dst + 10], [0x20, 0x01]);
            assert_eq!(m[dst + 23], 0x20);
            assert_eq!(m[dst + 32 + 1], l.af_link, "the in6 address padded to 32");
        }
        let m = request(&OPENBSD, 7, 3, "192.0.2.20".parse().unwrap());
        assert_eq!(get_u16(&m, 4), Some(96), "OpenBSD's rtm_hdrlen");
        assert_eq!(get_u16(&m, 8), Some(3), "OpenBSD's rtm_tableid");
        assert_eq!(m.len(), 96 + 16 + 32);
        let m = request(&FREEBSD, 7, 3, "192.0.2.20".parse().unwrap());
        assert_eq!(m.len(), 152 + 16 + 56);
    }

    #[test]
    fn a_route_names_its_interface() {
        for l in [&OPENBSD, &FREEBSD] {
            let up = l.rtf_up;
            let m = kernel_answer(l, 9, up, 2, Some((2, 6, "em1")), 0);
            assert_eq!(
                answer(l, &m, PID, 9).unwrap().unwrap(),
                Route::Interface {
                    index: 2,
                    name: Some("em1".into())
                },
                "{}",
                l.kernel
            );
            // Without the link address the index alone tells.
            let m = kernel_answer(l, 9, up | 0x2, 4, None, 0);
            assert_eq!(
                answer(l, &m, PID, 9).unwrap().unwrap(),
                Route::Interface {
                    index: 4,
                    name: None
                }
            );
            // rtm_index 0: the link address's index.
            let m = kernel_answer(l, 9, up, 0, Some((5, 6, "vlan5")), 0);
            assert!(matches!(
                answer(l, &m, PID, 9).unwrap().unwrap(),
                Route::Interface { index: 5, .. }
            ));
            let m = kernel_answer(l, 9, up, 0, None, 0);
            assert!(matches!(
                answer(l, &m, PID, 9).unwrap().unwrap(),
                Route::Unreachable(r) if r.contains("without an interface")
            ));
        }
    }

    #[test]
    fn route_types_are_judged_by_flags_and_interface() {
        for l in [&OPENBSD, &FREEBSD] {
            let up = l.rtf_up;
            let judge = |flags: u32, kind: u8| {
                let m = kernel_answer(l, 1, flags, 3, Some((3, kind, "x0")), 0);
                answer(l, &m, PID, 1).unwrap().unwrap()
            };
            assert_eq!(judge(up | l.rtf_local, 6), Route::Local, "{}", l.kernel);
            assert_eq!(judge(up, IFT_LOOP), Route::Local, "{}", l.kernel);
            for (flag, word) in [
                (l.rtf_reject, "reject"),
                (l.rtf_blackhole, "blackhole"),
                (l.rtf_broadcast, "broadcast"),
                (l.rtf_multicast, "multicast"),
            ] {
                assert!(
                    matches!(judge(up | flag, 6), Route::Unreachable(r) if r.contains(word)),
                    "{} {word}",
                    l.kernel
                );
            }
            assert!(matches!(judge(0, 6), Route::Unreachable(r) if r.contains("down")));
        }
        // FreeBSD's RTF_MULTICAST bit is OpenBSD's RTF_CONNECTED (an
        // interface route, the usual route to a phone): each kernel's
        // answer is read with its own bits.
        let m = kernel_answer(
            &OPENBSD,
            1,
            OPENBSD.rtf_up | FREEBSD.rtf_multicast,
            3,
            None,
            0,
        );
        assert!(matches!(
            answer(&OPENBSD, &m, PID, 1).unwrap().unwrap(),
            Route::Interface { index: 3, .. }
        ));
    }

    #[test]
    fn errors_and_other_messages() {
        for l in [&OPENBSD, &FREEBSD] {
            let m = kernel_answer(l, 2, 0, 0, None, libc::ESRCH);
            assert!(matches!(
                answer(l, &m, PID, 2).unwrap().unwrap(),
                Route::Unreachable(_)
            ));
            let m = kernel_answer(l, 2, 0, 0, None, libc::ENOBUFS);
            assert!(answer(l, &m, PID, 2).unwrap().is_err());
            let m = kernel_answer(l, 2, l.rtf_up, 2, None, 0);
            assert!(answer(l, &m, PID, 3).is_none(), "another request");
            assert!(answer(l, &m, PID + 1, 2).is_none(), "another process");
            assert!(answer(l, &m[..l.header - 1], PID, 2).is_none(), "truncated");
            let mut other = m.clone();
            other[l.kind] = 0x1;
            assert!(answer(l, &other, PID, 2).is_none(), "RTM_ADD");
            let mut short = m.clone();
            put_u16(&mut short, l.msglen, (m.len() + 100) as u16);
            assert!(answer(l, &short, PID, 2).is_none(), "longer than read");
        }
    }

    #[test]
    fn a_request_is_read_back_by_the_answer_reader() {
        // The kernel echoes the request with the pid, flags and errno set;
        // reading the echo walks the same addresses.
        for l in [&OPENBSD, &FREEBSD] {
            let mut m = request(l, 11, 0, "2001:db8::20".parse().unwrap());
            put_u32(&mut m, l.pid, PID);
            put_u32(&mut m, l.flags, l.rtf_up);
            put_u16(&mut m, l.index, 6);
            assert_eq!(
                answer(l, &m, PID, 11).unwrap().unwrap(),
                Route::Interface {
                    index: 6,
                    name: None
                },
                "{}",
                l.kernel
            );
        }
    }
}
