//! Where the routing socket's fields lie on each BSD kernel, read from the
//! kernel's own headers (`pf-sys` binds `<net/route.h>` and
//! `<net/if_dl.h>` with the kernel's target triple), so the encoding in
//! `message.rs` is one piece of code over two layouts.
//!
//! The two headers differ: OpenBSD's `rt_msghdr` carries `rtm_hdrlen`
//! and `rtm_tableid` and puts `rtm_addrs` before `rtm_flags`; FreeBSD's
//! puts `rtm_flags` first and has neither; the metrics behind them differ
//! in size; so do `AF_INET6`, `RTF_MULTICAST` and `sockaddr_dl`'s data
//! area. This file owns those numbers and nothing else.

use std::mem::{offset_of, size_of};

/// One kernel's routing-message layout and constants.
#[derive(Debug)]
pub struct Layout {
    /// The kernel, for messages.
    pub kernel: &'static str,
    /// `sizeof(struct rt_msghdr)`.
    pub header: usize,
    /// Offset of `rtm_msglen` (u16).
    pub msglen: usize,
    /// Offset of `rtm_version` (u8).
    pub version: usize,
    /// Offset of `rtm_type` (u8).
    pub kind: usize,
    /// Offset of `rtm_index` (u16).
    pub index: usize,
    /// Offset of `rtm_flags` (int).
    pub flags: usize,
    /// Offset of `rtm_addrs` (int).
    pub addrs: usize,
    /// Offset of `rtm_pid` (pid_t).
    pub pid: usize,
    /// Offset of `rtm_seq` (int).
    pub seq: usize,
    /// Offset of `rtm_errno` (int).
    pub errno: usize,
    /// Offset of `rtm_hdrlen` (u16), where the kernel has one (OpenBSD).
    pub hdrlen: Option<usize>,
    /// Offset of `rtm_tableid` (u16), where the kernel has one (OpenBSD).
    pub tableid: Option<usize>,
    /// `sizeof(struct sockaddr_in)`.
    pub sockaddr_in: usize,
    /// `sizeof(struct sockaddr_in6)`.
    pub sockaddr_in6: usize,
    /// `sizeof(struct sockaddr_dl)`.
    pub sockaddr_dl: usize,
    /// Offset of `sdl_index` (u16) in `sockaddr_dl`.
    pub sdl_index: usize,
    /// Offset of `sdl_type` (u8).
    pub sdl_type: usize,
    /// Offset of `sdl_nlen` (u8).
    pub sdl_nlen: usize,
    /// Offset of `sdl_data`, where the name starts.
    pub sdl_data: usize,
    /// `sizeof(long)`: every address in a message is padded to it
    /// (`ROUNDUP()` in OpenBSD's net/rtsock.c, `SA_SIZE()` in FreeBSD's
    /// net/route.h).
    pub align: usize,
    /// `AF_INET`.
    pub af_inet: u8,
    /// `AF_INET6`.
    pub af_inet6: u8,
    /// `AF_LINK`.
    pub af_link: u8,
    /// `RTM_VERSION`.
    pub rtm_version: u8,
    /// `RTM_GET`.
    pub rtm_get: u8,
    /// `RTA_DST`.
    pub rta_dst: u32,
    /// `RTA_IFP`.
    pub rta_ifp: u32,
    /// `RTF_UP`.
    pub rtf_up: u32,
    /// `RTF_REJECT`.
    pub rtf_reject: u32,
    /// `RTF_BLACKHOLE`.
    pub rtf_blackhole: u32,
    /// `RTF_LOCAL`.
    pub rtf_local: u32,
    /// `RTF_BROADCAST`.
    pub rtf_broadcast: u32,
    /// `RTF_MULTICAST`.
    pub rtf_multicast: u32,
}

/// `IFT_LOOP` in both kernels' `<net/if_types.h>`: the loopback
/// interface's type in its `sockaddr_dl`. A route that leaves by it
/// (FreeBSD's route to each of the host's own addresses) delivers to the
/// firewall itself.
pub const IFT_LOOP: u8 = 0x18;

/// The low byte of a header constant (they are small by definition).
const fn byte(value: u32) -> u8 {
    value as u8
}

/// OpenBSD's layout.
#[cfg(any(target_os = "openbsd", all(test, not(target_os = "freebsd"))))]
pub const OPENBSD: Layout = {
    use pf_sys::openbsd as k;
    Layout {
        kernel: "OpenBSD",
        header: size_of::<k::rt_msghdr>(),
        msglen: offset_of!(k::rt_msghdr, rtm_msglen),
        version: offset_of!(k::rt_msghdr, rtm_version),
        kind: offset_of!(k::rt_msghdr, rtm_type),
        index: offset_of!(k::rt_msghdr, rtm_index),
        flags: offset_of!(k::rt_msghdr, rtm_flags),
        addrs: offset_of!(k::rt_msghdr, rtm_addrs),
        pid: offset_of!(k::rt_msghdr, rtm_pid),
        seq: offset_of!(k::rt_msghdr, rtm_seq),
        errno: offset_of!(k::rt_msghdr, rtm_errno),
        hdrlen: Some(offset_of!(k::rt_msghdr, rtm_hdrlen)),
        tableid: Some(offset_of!(k::rt_msghdr, rtm_tableid)),
        sockaddr_in: size_of::<k::sockaddr_in>(),
        sockaddr_in6: size_of::<k::sockaddr_in6>(),
        sockaddr_dl: size_of::<k::sockaddr_dl>(),
        sdl_index: offset_of!(k::sockaddr_dl, sdl_index),
        sdl_type: offset_of!(k::sockaddr_dl, sdl_type),
        sdl_nlen: offset_of!(k::sockaddr_dl, sdl_nlen),
        sdl_data: offset_of!(k::sockaddr_dl, sdl_data),
        align: size_of::<std::os::raw::c_long>(),
        af_inet: byte(k::AF_INET),
        af_inet6: byte(k::AF_INET6),
        af_link: byte(k::AF_LINK),
        rtm_version: byte(k::RTM_VERSION),
        rtm_get: byte(k::RTM_GET),
        rta_dst: k::RTA_DST,
        rta_ifp: k::RTA_IFP,
        rtf_up: k::RTF_UP,
        rtf_reject: k::RTF_REJECT,
        rtf_blackhole: k::RTF_BLACKHOLE,
        rtf_local: k::RTF_LOCAL,
        rtf_broadcast: k::RTF_BROADCAST,
        rtf_multicast: k::RTF_MULTICAST,
    }
};

/// FreeBSD's layout.
#[cfg(any(target_os = "freebsd", all(test, not(target_os = "openbsd"))))]
pub const FREEBSD: Layout = {
    use pf_sys::freebsd as k;
    Layout {
        kernel: "FreeBSD",
        header: size_of::<k::rt_msghdr>(),
        msglen: offset_of!(k::rt_msghdr, rtm_msglen),
        version: offset_of!(k::rt_msghdr, rtm_version),
        kind: offset_of!(k::rt_msghdr, rtm_type),
        index: offset_of!(k::rt_msghdr, rtm_index),
        flags: offset_of!(k::rt_msghdr, rtm_flags),
        addrs: offset_of!(k::rt_msghdr, rtm_addrs),
        pid: offset_of!(k::rt_msghdr, rtm_pid),
        seq: offset_of!(k::rt_msghdr, rtm_seq),
        errno: offset_of!(k::rt_msghdr, rtm_errno),
        hdrlen: None,
        tableid: None,
        sockaddr_in: size_of::<k::sockaddr_in>(),
        sockaddr_in6: size_of::<k::sockaddr_in6>(),
        sockaddr_dl: size_of::<k::sockaddr_dl>(),
        sdl_index: offset_of!(k::sockaddr_dl, sdl_index),
        sdl_type: offset_of!(k::sockaddr_dl, sdl_type),
        sdl_nlen: offset_of!(k::sockaddr_dl, sdl_nlen),
        sdl_data: offset_of!(k::sockaddr_dl, sdl_data),
        align: size_of::<std::os::raw::c_long>(),
        af_inet: byte(k::AF_INET),
        af_inet6: byte(k::AF_INET6),
        af_link: byte(k::AF_LINK),
        rtm_version: byte(k::RTM_VERSION),
        rtm_get: byte(k::RTM_GET),
        rta_dst: k::RTA_DST,
        rta_ifp: k::RTA_IFP,
        rtf_up: k::RTF_UP,
        rtf_reject: k::RTF_REJECT,
        rtf_blackhole: k::RTF_BLACKHOLE,
        rtf_local: k::RTF_LOCAL,
        rtf_broadcast: k::RTF_BROADCAST,
        rtf_multicast: k::RTF_MULTICAST,
    }
};

/// The layout of the kernel this build runs on.
#[cfg(target_os = "openbsd")]
pub const NATIVE: &Layout = &OPENBSD;
/// The layout of the kernel this build runs on.
#[cfg(target_os = "freebsd")]
pub const NATIVE: &Layout = &FREEBSD;

#[cfg(all(test, not(any(target_os = "openbsd", target_os = "freebsd"))))]
mod tests {
    use super::*;

    /// The x86_64 numbers, read off the headers by hand: a change in the
    /// bindings that moves a field fails here.
    #[test]
    fn headers_as_read_by_hand() {
        let o = &OPENBSD;
        assert_eq!((o.header, o.msglen, o.version, o.kind), (96, 0, 2, 3));
        assert_eq!((o.hdrlen, o.index, o.tableid), (Some(4), 6, Some(8)));
        assert_eq!(
            (o.addrs, o.flags, o.pid, o.seq, o.errno),
            (12, 16, 24, 28, 32)
        );
        assert_eq!(
            (o.af_inet6, o.sockaddr_dl, o.rtf_multicast),
            (24, 32, 0x200)
        );
        let f = &FREEBSD;
        assert_eq!((f.header, f.msglen, f.version, f.kind), (152, 0, 2, 3));
        assert_eq!((f.hdrlen, f.index, f.tableid), (None, 4, None));
        assert_eq!(
            (f.flags, f.addrs, f.pid, f.seq, f.errno),
            (8, 12, 16, 20, 24)
        );
        assert_eq!(
            (f.af_inet6, f.sockaddr_dl, f.rtf_multicast),
            (28, 54, 0x80_0000)
        );
        for l in [o, f] {
            assert_eq!((l.sockaddr_in, l.sockaddr_in6), (16, 28), "{}", l.kernel);
            assert_eq!(
                (l.sdl_index, l.sdl_type, l.sdl_nlen, l.sdl_data),
                (2, 4, 5, 8),
                "{}",
                l.kernel
            );
            assert_eq!(
                (l.rtm_version, l.rtm_get, l.rta_dst, l.rta_ifp),
                (5, 4, 1, 0x10)
            );
            assert_eq!((l.af_inet, l.rtf_local), (2, 0x20_0000), "{}", l.kernel);
        }
    }
}
