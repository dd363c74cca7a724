//! The two address structures every pf kernel shares, written by hand as
//! plain structs of the C unions' layout, so that an address can be read
//! back without `unsafe`:
//! - [`pf_addr`] (a 16-byte union of `in_addr`, `in6_addr` and integer
//!   arrays) is `addr8`, its byte view, 4-aligned like the C union;
//! - [`pf_addr_wrap`] keeps only the `v.a` member of its first union (an
//!   address and a mask, the union's full size) and carries the second,
//!   kernel-side union as a pointer-sized integer.
//!
//! OpenBSD's and FreeBSD's pfvar.h declare both alike (FreeBSD's `v`
//! union lacks OpenBSD's route label, which is no longer than the address
//! and mask). The layout tests bindgen emits for every structure that
//! embeds them, in each kernel's module, hold only if these match C
//! exactly. This file owns these types and nothing else.

use std::net::{Ipv4Addr, Ipv6Addr};

/// `AF_INET` of both kernels (the one address family number they share).
pub(crate) const AF_INET: u32 = 2;
/// `PF_ADDR_ADDRMASK` of both kernels (the first of their `PF_ADDR_*`).
pub(crate) const PF_ADDR_ADDRMASK: u32 = 0;

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
/// address-and-mask form (`type_ == PF_ADDR_ADDRMASK`) and, on OpenBSD,
/// "none" (`PF_ADDR_NONE`, see `openbsd::pf_addr_wrap::none`).
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
