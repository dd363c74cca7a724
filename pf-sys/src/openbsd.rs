//! Bindings of OpenBSD's `<net/pfvar.h>`: the structures passed to the
//! ioctls on `/dev/pf`, the constants that fill them, and the ioctl
//! request codes.
//!
//! This crate owns the generated types and nothing else: no system calls,
//! no policy. It builds on every host (the types are OpenBSD's, parsed
//! with an OpenBSD target triple), so code that fills them can be tested
//! anywhere; only the ioctls themselves need OpenBSD.
//!
//! Two unions are replaced by plain structs of the same layout, so that an
//! address can be read back without `unsafe`:
//! - [`pf_addr`] (a 16-byte union of `in_addr`, `in6_addr` and integer
//!   arrays) is `addr8`, its byte view, 4-aligned like the C union;
//! - [`pf_addr_wrap`] keeps only the `v.a` member of its first union (an
//!   address and a mask, the union's full size) and carries the second,
//!   kernel-side union as a pointer-sized integer.
//!
//! The layout tests bindgen emits for every structure that embeds them
//! (offsets inside `pf_rule_addr`, `pf_pool`, `pf_rule`, `pfioc_natlook`)
//! hold only if these two match C exactly.
//!
//! The request codes are computed from the Rust types' sizes, like the
//! header's `_IOWR()` does from C's, and compared at compile time with
//! the values clang evaluated from the header itself (`PF_SYS_*`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::raw::c_ulong;

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::all
)]
mod generated {
    use super::{pf_addr, pf_addr_wrap};
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use generated::*;

/// The `<net/pfvar.h>` revision (its `$OpenBSD$` line) the bindings were
/// generated from, e.g. `"1.548"`.
pub const PFVAR_REVISION: &str = env!("PF_SYS_PFVAR_REVISION");

/// One element of a transaction (`struct pfioc_trans_e`, which C declares
/// inside `struct pfioc_trans`).
#[allow(non_camel_case_types)]
pub type pfioc_trans_e = pfioc_trans_pfioc_trans_e;

/// A 128-bit address as pf stores it (`struct pf_addr`): network byte
/// order, an IPv4 address in the first four bytes and zeros after it.
#[allow(non_camel_case_types)]
#[repr(C, align(4))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct pf_addr {
    /// The address bytes (C: `pfa.addr8`).
    pub addr8: [u8; 16],
}

impl pf_addr {
    /// An IPv4 address.
    pub fn from_ipv4(addr: Ipv4Addr) -> Self {
        let mut addr8 = [0; 16];
        addr8[..4].copy_from_slice(&addr.octets());
        pf_addr { addr8 }
    }

    /// An IPv6 address.
    pub fn from_ipv6(addr: Ipv6Addr) -> Self {
        pf_addr {
            addr8: addr.octets(),
        }
    }

    /// The first four bytes as an IPv4 address.
    pub fn to_ipv4(&self) -> Ipv4Addr {
        let [a, b, c, d, ..] = self.addr8;
        Ipv4Addr::new(a, b, c, d)
    }

    /// The sixteen bytes as an IPv6 address.
    pub fn to_ipv6(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr8)
    }

    /// The all-ones mask for one address family (32 bits for `AF_INET`,
    /// 128 otherwise), as pfctl(8) writes a host address's mask.
    pub fn full_mask(af: u8) -> Self {
        let mut addr8 = [0; 16];
        let len = if u32::from(af) == AF_INET { 4 } else { 16 };
        addr8[..len].fill(0xff);
        pf_addr { addr8 }
    }
}

/// An address and its mask (C: `pf_addr_wrap.v.a`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct pf_addr_mask {
    /// The address.
    pub addr: pf_addr,
    /// The mask applied to both the address and the packet's.
    pub mask: pf_addr,
}

/// How a rule names an address (`struct pf_addr_wrap`), restricted to the
/// address-and-mask form (`type_ == PF_ADDR_ADDRMASK`) and "none"
/// (`PF_ADDR_NONE`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct pf_addr_wrap {
    /// C: the `v` union, seen as its `a` member.
    pub v: pf_addr_mask,
    /// C: the `p` union (kernel pointers or counts); the kernel ignores it
    /// on the way in, so it stays zero.
    pub p: usize,
    /// One of the `PF_ADDR_*` constants.
    pub type_: u8,
    /// `PFI_AFLAG_*` flags for interface addresses; zero here.
    pub iflags: u8,
}

impl pf_addr_wrap {
    /// `addr`/`mask` (`PF_ADDR_ADDRMASK`).
    pub fn addr_mask(addr: pf_addr, mask: pf_addr) -> Self {
        pf_addr_wrap {
            v: pf_addr_mask { addr, mask },
            type_: PF_ADDR_ADDRMASK as u8,
            ..Default::default()
        }
    }

    /// No address at all (`PF_ADDR_NONE`): how an unused pool is marked.
    /// An all-zero wrap would mean "0.0.0.0/0" instead.
    pub fn none() -> Self {
        pf_addr_wrap {
            type_: PF_ADDR_NONE as u8,
            ..Default::default()
        }
    }
}

// The replaced unions, checked against the C layout (pfvar.h): pf_addr is
// 16 bytes aligned like a u_int32_t; pf_addr_wrap is the 32-byte `v`
// union, the pointer-sized `p` union, then two bytes, padded.
const _: () = {
    assert!(std::mem::size_of::<pf_addr>() == 16);
    assert!(std::mem::align_of::<pf_addr>() == 4);
    assert!(std::mem::size_of::<pf_addr_mask>() == 32);
    assert!(std::mem::offset_of!(pf_addr_wrap, p) == 32);
    assert!(std::mem::offset_of!(pf_addr_wrap, type_) == 32 + std::mem::size_of::<usize>());
    assert!(std::mem::align_of::<pf_addr_wrap>() == std::mem::align_of::<usize>());
};

/// Bits of an ioctl request code that hold the argument's length
/// (`IOCPARM_MASK` in `<sys/ioccom.h>`: 13 bits, starting at bit 16).
pub const IOCPARM_MASK: c_ulong = 0x1fff;

/// `IOC_IN | IOC_OUT`: the kernel copies the argument in and back out.
const IOC_INOUT: c_ulong = 0x8000_0000 | 0x4000_0000;

/// The request code of a read-write ioctl (`_IOWR(group, num, type)`)
/// whose argument is `len` bytes long.
pub const fn iowr(group: u8, num: u8, len: usize) -> c_ulong {
    assert!(len as c_ulong <= IOCPARM_MASK, "ioctl argument too large");
    IOC_INOUT | ((len as c_ulong & IOCPARM_MASK) << 16) | ((group as c_ulong) << 8) | num as c_ulong
}

/// The argument length encoded in a request code (`IOCPARM_LEN`).
pub const fn ioctl_param_len(request: c_ulong) -> usize {
    ((request >> 16) & IOCPARM_MASK) as usize
}

/// The group letter encoded in a request code (`IOCGROUP`).
pub const fn ioctl_group(request: c_ulong) -> u8 {
    ((request >> 8) & 0xff) as u8
}

/// The command number encoded in a request code.
pub const fn ioctl_number(request: c_ulong) -> u8 {
    (request & 0xff) as u8
}

/// Adds a rule to an open transaction (`pfioc_rule`).
pub const DIOCADDRULE: c_ulong = iowr(b'D', 4, std::mem::size_of::<pfioc_rule>());
/// Reads the packet filter's status (`pf_status`).
pub const DIOCGETSTATUS: c_ulong = iowr(b'D', 21, std::mem::size_of::<pf_status>());
/// Looks up the state of a translated connection (`pfioc_natlook`).
pub const DIOCNATLOOK: c_ulong = iowr(b'D', 23, std::mem::size_of::<pfioc_natlook>());
/// Counts the anchors directly under a path (`pfioc_ruleset`).
pub const DIOCGETRULESETS: c_ulong = iowr(b'D', 58, std::mem::size_of::<pfioc_ruleset>());
/// Names the `nr`th anchor directly under a path (`pfioc_ruleset`).
pub const DIOCGETRULESET: c_ulong = iowr(b'D', 59, std::mem::size_of::<pfioc_ruleset>());
/// Opens a transaction (`pfioc_trans`).
pub const DIOCXBEGIN: c_ulong = iowr(b'D', 81, std::mem::size_of::<pfioc_trans>());
/// Commits a transaction (`pfioc_trans`).
pub const DIOCXCOMMIT: c_ulong = iowr(b'D', 82, std::mem::size_of::<pfioc_trans>());
// DIOCXROLLBACK is left out on purpose: pledge(2) "pf" does not allow it,
// and a pledged process that issues it is killed.

// The codes computed from the Rust layouts equal those clang computed from
// the C header: same sizes, same numbers.
const _: () = {
    assert!(DIOCADDRULE == PF_SYS_DIOCADDRULE as c_ulong);
    assert!(DIOCGETSTATUS == PF_SYS_DIOCGETSTATUS as c_ulong);
    assert!(DIOCNATLOOK == PF_SYS_DIOCNATLOOK as c_ulong);
    assert!(DIOCGETRULESETS == PF_SYS_DIOCGETRULESETS as c_ulong);
    assert!(DIOCGETRULESET == PF_SYS_DIOCGETRULESET as c_ulong);
    assert!(DIOCXBEGIN == PF_SYS_DIOCXBEGIN as c_ulong);
    assert!(DIOCXCOMMIT == PF_SYS_DIOCXCOMMIT as c_ulong);
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn revision_is_recorded() {
        assert!(
            PFVAR_REVISION.starts_with("1."),
            "unexpected pfvar.h revision {PFVAR_REVISION:?}"
        );
    }

    #[test]
    fn request_lengths_match_argument_sizes() {
        for (request, len) in [
            (DIOCADDRULE, size_of::<pfioc_rule>()),
            (DIOCGETSTATUS, size_of::<pf_status>()),
            (DIOCNATLOOK, size_of::<pfioc_natlook>()),
            (DIOCGETRULESETS, size_of::<pfioc_ruleset>()),
            (DIOCGETRULESET, size_of::<pfioc_ruleset>()),
            (DIOCXBEGIN, size_of::<pfioc_trans>()),
            (DIOCXCOMMIT, size_of::<pfioc_trans>()),
        ] {
            assert_eq!(ioctl_param_len(request), len, "{request:#x}");
            assert_eq!(ioctl_group(request), b'D');
        }
    }

    #[test]
    fn natlook_is_eighty_bytes() {
        assert_eq!(size_of::<pfioc_natlook>(), 80);
    }

    #[test]
    fn addresses_round_trip() {
        let v4 = Ipv4Addr::new(192, 0, 2, 20);
        let a = pf_addr::from_ipv4(v4);
        assert_eq!(a.addr8[..4], [192, 0, 2, 20]);
        assert!(a.addr8[4..].iter().all(|&b| b == 0));
        assert_eq!(a.to_ipv4(), v4);
        let v6: Ipv6Addr = "2001:db8::20".parse().unwrap();
        assert_eq!(pf_addr::from_ipv6(v6).to_ipv6(), v6);
        assert_eq!(
            pf_addr::full_mask(AF_INET as u8).addr8[..5],
            [255, 255, 255, 255, 0]
        );
        assert_eq!(pf_addr::full_mask(AF_INET6 as u8).addr8, [255; 16]);
    }

    #[test]
    fn unused_wrap_is_none_not_zero() {
        assert_eq!(pf_addr_wrap::none().type_, PF_ADDR_NONE as u8);
        assert_ne!(PF_ADDR_NONE, 0);
    }
}
