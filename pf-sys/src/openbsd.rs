//! Bindings of OpenBSD's `<net/pfvar.h>`: the structures passed to the
//! ioctls on `/dev/pf`, the constants that fill them, and the ioctl
//! request codes.
//!
//! This crate owns the generated types and nothing else: no system calls,
//! no policy. It builds on every host (the types are OpenBSD's, parsed
//! with an OpenBSD target triple), so code that fills them can be tested
//! anywhere; only the ioctls themselves need OpenBSD.
//!
//! The address structures and the request encoding are shared with
//! FreeBSD (`addr.rs`, `ioccom.rs`).
//!
//! The request codes are computed from the Rust types' sizes, like the
//! header's `_IOWR()` does from C's, and compared at compile time with
//! the values clang evaluated from the header itself (`PF_SYS_*`).

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
    include!(concat!(env!("OUT_DIR"), "/openbsd.rs"));
}

pub use generated::*;

/// The `<net/pfvar.h>` revision (its `$OpenBSD$` line) the bindings were
/// generated from, e.g. `"1.548"`.
pub const PFVAR_REVISION: &str = env!("PF_SYS_PFVAR_REVISION");

/// One element of a transaction (`struct pfioc_trans_e`, which C declares
/// inside `struct pfioc_trans`).
#[allow(non_camel_case_types)]
pub type pfioc_trans_e = pfioc_trans_pfioc_trans_e;

/// The address structures, shared with the other kernels (same layout).
pub use crate::addr::{pf_addr, pf_addr_mask, pf_addr_wrap};
/// The ioctl request encoding of `<sys/ioccom.h>`, shared with FreeBSD.
pub use crate::ioccom::{ioctl_group, ioctl_number, ioctl_param_len, iowr, IOCPARM_MASK};

impl pf_addr_wrap {
    /// No address at all (`PF_ADDR_NONE`): how an unused pool is marked.
    /// An all-zero wrap would mean "0.0.0.0/0" instead.
    pub fn none() -> Self {
        pf_addr_wrap {
            type_: PF_ADDR_NONE as u8,
            ..Default::default()
        }
    }
}

// What the shared address code takes for granted about this kernel.
const _: () = {
    assert!(PF_ADDR_ADDRMASK == crate::addr::PF_ADDR_ADDRMASK);
    assert!(AF_INET == crate::addr::AF_INET);
};

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
    use std::net::{Ipv4Addr, Ipv6Addr};

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
