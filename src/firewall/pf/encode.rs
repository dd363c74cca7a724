//! Helpers every pf kernel encoding shares: the encoding error, the
//! canonical form of an address pf keys flows on, the fixed-size C
//! strings (anchor paths) of pf's ioctl structures, and the address
//! structures both kernels declare alike (`pf_sys::pf_addr`,
//! `pf_sys::pf_addr_wrap`) with their pf.conf text.
//!
//! Pure code; it must not touch the kernel.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use std::net::{IpAddr, SocketAddr};
use std::os::raw::c_char;

/// Why something could not be put into pf's structures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// pf rules and lookups are for one address family at a time.
    #[error("{0} and {1} are of different address families")]
    MixedFamilies(IpAddr, IpAddr),
    /// An anchor path longer than pf's fixed-size field.
    #[error("anchor path {0:?} is longer than pf allows")]
    PathTooLong(String),
    /// A NUL byte would cut a C string short.
    #[error("anchor path {0:?} contains a NUL byte")]
    PathHasNul(String),
    /// An interface name pf cannot hold (IFNAMSIZ, NUL, or empty).
    #[error("interface name {0:?} does not fit pf's rule")]
    InterfaceName(String),
}

/// Strips the IPv4-mapped form (`::ffff:a.b.c.d`): pf keys IPv4 flows on
/// IPv4 addresses.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Copies `text` into a fixed-size C string field, NUL-terminated.
pub fn c_string(field: &mut [c_char], text: &str) -> Result<(), EncodeError> {
    if text.contains('\0') {
        return Err(EncodeError::PathHasNul(text.to_owned()));
    }
    if text.len() >= field.len() {
        return Err(EncodeError::PathTooLong(text.to_owned()));
    }
    field.fill(0);
    for (slot, byte) in field.iter_mut().zip(text.bytes()) {
        *slot = byte as c_char;
    }
    Ok(())
}

/// Copies an interface name into a rule's `ifname` field (IFNAMSIZ,
/// NUL-terminated); an empty name would leave the rule unbound.
pub fn interface_name(field: &mut [c_char], name: &str) -> Result<(), EncodeError> {
    if name.is_empty() {
        return Err(EncodeError::InterfaceName(name.to_owned()));
    }
    c_string(field, name).map_err(|_| EncodeError::InterfaceName(name.to_owned()))
}

/// The text of a NUL-terminated C string field.
pub fn from_c_string(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Appends ` on [!] <interface>` for a rule's `ifname` (nothing for an
/// unbound rule), as pf.conf writes it on every kernel.
pub fn push_interface(line: &mut String, ifname: &[c_char], ifnot: u8) {
    let name = from_c_string(ifname);
    if name.is_empty() {
        return;
    }
    line.push_str(if ifnot != 0 { " on ! " } else { " on " });
    line.push_str(&name);
}

/// An address in pf's form (the same `struct pf_addr` on every kernel).
#[cfg_attr(target_os = "openbsd", allow(dead_code))] // OpenBSD's rule.rs keeps its own copy for now
pub fn address(ip: IpAddr) -> pf_sys::pf_addr {
    match ip {
        IpAddr::V4(v4) => pf_sys::pf_addr::from_ipv4(v4),
        IpAddr::V6(v6) => pf_sys::pf_addr::from_ipv6(v6),
    }
}

/// The address in pf's form back as an `IpAddr`: IPv4 when `is_v4`.
#[cfg_attr(target_os = "openbsd", allow(dead_code))] // OpenBSD's rule.rs keeps its own copy for now
pub fn ip(addr: &pf_sys::pf_addr, is_v4: bool) -> IpAddr {
    if is_v4 {
        IpAddr::V4(addr.to_ipv4())
    } else {
        IpAddr::V6(addr.to_ipv6())
    }
}

/// A single host: the address with an all-ones mask (`af` is the kernel's
/// family number; `AF_INET` is 2 on every kernel).
#[cfg_attr(target_os = "openbsd", allow(dead_code))] // OpenBSD's rule.rs keeps its own copy for now
pub fn host(ip: IpAddr, af: u8) -> pf_sys::pf_addr_wrap {
    pf_sys::pf_addr_wrap::addr_mask(address(ip), pf_sys::pf_addr::full_mask(af))
}

/// Renders a host (`a.b.c.d`, `2001:db8::1`), a network (`a.b.c.d/len`)
/// or `any` from an address-and-mask wrap, as pf.conf writes them on
/// every kernel.
pub fn render_address(wrap: &pf_sys::pf_addr_wrap, is_v4: bool) -> String {
    // PF_ADDR_ADDRMASK is 0 on every kernel (pf-sys checks it).
    if wrap.type_ != 0 {
        return format!("(address type {})", wrap.type_);
    }
    let prefix: u32 = wrap.v.mask.addr8.iter().map(|b| b.count_ones()).sum();
    let full = if is_v4 { 32 } else { 128 };
    let ip = ip(&wrap.v.addr, is_v4);
    if prefix == 0 && ip.is_unspecified() {
        "any".to_owned()
    } else if prefix == full {
        ip.to_string()
    } else {
        format!("{ip}/{prefix}")
    }
}
