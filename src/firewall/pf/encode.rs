//! Helpers every pf kernel encoding shares: the encoding error, the
//! canonical form of an address pf keys flows on, and the fixed-size C
//! strings (anchor paths) of pf's ioctl structures.
//!
//! Pure code with no pf structure in it; it must not touch the kernel.
#![cfg_attr(not(target_os = "openbsd"), allow(dead_code))]

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

/// The text of a NUL-terminated C string field.
pub fn from_c_string(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
