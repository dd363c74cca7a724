//! Bindings of FreeBSD's `<net/pfvar.h>` and `<netpfil/pf/pf.h>`: the
//! structures passed to the ioctls on `/dev/pf`, the constants that fill
//! them, and the ioctl request codes.
//!
//! Generated from FreeBSD 15's headers (those in the `ziglang` package,
//! or `/usr/include` on FreeBSD). The structures bound here have kept
//! their layout and request codes from 13.x to 15.x: `pfioc_natlook` (76
//! bytes), `pfioc_trans_e` (1032), `pfioc_pooladdr` (1136) and the legacy
//! `pfioc_rule` (3040, its timeout array held at `PFTM_OLD_MAX`).
//! `DIOCGETSTATUS` is not bound: FreeBSD 15 removed it.
//!
//! The request codes are computed from the Rust types' sizes, like the
//! header's `_IOWR()` does from C's, and compared at compile time with
//! the values clang evaluated from the header itself (`PF_SYS_*`). This
//! module owns the FreeBSD types and nothing else.

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
    include!(concat!(env!("OUT_DIR"), "/freebsd.rs"));
}

pub use generated::*;

/// The address structures, shared with the other kernels (same layout).
pub use crate::addr::{pf_addr, pf_addr_mask, pf_addr_wrap};
/// The ioctl request encoding of `<sys/ioccom.h>`, shared with OpenBSD.
pub use crate::ioccom::{ioctl_group, ioctl_number, ioctl_param_len, iowr, IOCPARM_MASK};

/// The FreeBSD release the headers are from (`__FreeBSD_version`, e.g.
/// 1500000 for 15.0; only the major release when the compiler did not
/// define it).
pub const HEADERS_VERSION: u32 = PF_SYS_FREEBSD_VERSION;

/// One element of a transaction (`struct pfioc_trans_e`, which C declares
/// inside `struct pfioc_trans`).
#[allow(non_camel_case_types)]
pub type pfioc_trans_e = pfioc_trans_pfioc_trans_e;

// What the shared address code takes for granted about this kernel.
const _: () = {
    assert!(PF_ADDR_ADDRMASK == crate::addr::PF_ADDR_ADDRMASK);
    assert!(AF_INET == crate::addr::AF_INET);
};

/// Adds a rule to an open transaction (`pfioc_rule`, the legacy
/// structure; `DIOCADDRULENV` shares the number with another size).
pub const DIOCADDRULE: c_ulong = iowr(b'D', 4, std::mem::size_of::<pfioc_rule>());
/// Looks up the state of a translated connection (`pfioc_natlook`).
pub const DIOCNATLOOK: c_ulong = iowr(b'D', 23, std::mem::size_of::<pfioc_natlook>());
/// Empties the pool buffer and hands out its ticket (`pfioc_pooladdr`).
pub const DIOCBEGINADDRS: c_ulong = iowr(b'D', 51, std::mem::size_of::<pfioc_pooladdr>());
/// Adds an address to the pool buffer (`pfioc_pooladdr`).
pub const DIOCADDADDR: c_ulong = iowr(b'D', 52, std::mem::size_of::<pfioc_pooladdr>());
/// Counts the anchors directly under a path (`pfioc_ruleset`).
pub const DIOCGETRULESETS: c_ulong = iowr(b'D', 58, std::mem::size_of::<pfioc_ruleset>());
/// Names the `nr`th anchor directly under a path (`pfioc_ruleset`).
pub const DIOCGETRULESET: c_ulong = iowr(b'D', 59, std::mem::size_of::<pfioc_ruleset>());
/// Opens a transaction (`pfioc_trans`).
pub const DIOCXBEGIN: c_ulong = iowr(b'D', 81, std::mem::size_of::<pfioc_trans>());
/// Commits a transaction (`pfioc_trans`).
pub const DIOCXCOMMIT: c_ulong = iowr(b'D', 82, std::mem::size_of::<pfioc_trans>());
/// Counts the rules of one ruleset of an anchor and hands out the ticket
/// to read them with (`pfioc_rule`: `anchor`, `rule.action` in; `nr`,
/// `ticket` out).
pub const DIOCGETRULES: c_ulong = iowr(b'D', 6, std::mem::size_of::<pfioc_rule>());
/// Reads one rule as an nvlist (`pfioc_nv`; keys `anchor`, `ruleset`,
/// `ticket`, `nr` in; `nr`, `rule`, `anchor_call` out).
pub const DIOCGETRULENV: c_ulong = iowr(b'D', 7, std::mem::size_of::<pfioc_nv>());
/// pf's status as an nvlist (`pfioc_nv`; `running` among the keys).
pub const DIOCGETSTATUSNV: c_ulong = iowr(b'D', 21, std::mem::size_of::<pfioc_nv>());
/// Kills the states an nvlist describes (`pfioc_nv`; answers `killed`).
pub const DIOCKILLSTATESNV: c_ulong = iowr(b'D', 41, std::mem::size_of::<pfioc_nv>());

// The codes computed from the Rust layouts equal those clang computed from
// the C header: same sizes, same numbers.
const _: () = {
    assert!(DIOCADDRULE == PF_SYS_DIOCADDRULE as c_ulong);
    assert!(DIOCNATLOOK == PF_SYS_DIOCNATLOOK as c_ulong);
    assert!(DIOCBEGINADDRS == PF_SYS_DIOCBEGINADDRS as c_ulong);
    assert!(DIOCADDADDR == PF_SYS_DIOCADDADDR as c_ulong);
    assert!(DIOCGETRULESETS == PF_SYS_DIOCGETRULESETS as c_ulong);
    assert!(DIOCGETRULESET == PF_SYS_DIOCGETRULESET as c_ulong);
    assert!(DIOCXBEGIN == PF_SYS_DIOCXBEGIN as c_ulong);
    assert!(DIOCXCOMMIT == PF_SYS_DIOCXCOMMIT as c_ulong);
    assert!(DIOCGETRULES == PF_SYS_DIOCGETRULES as c_ulong);
    assert!(DIOCGETRULENV == PF_SYS_DIOCGETRULENV as c_ulong);
    assert!(DIOCGETSTATUSNV == PF_SYS_DIOCGETSTATUSNV as c_ulong);
    assert!(DIOCKILLSTATESNV == PF_SYS_DIOCKILLSTATESNV as c_ulong);
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn headers_are_freebsd_15() {
        assert_eq!(HEADERS_VERSION / 100_000, 15, "{HEADERS_VERSION}");
    }

    #[test]
    fn sizes_are_freebsd_amd64() {
        assert_eq!(size_of::<pfioc_natlook>(), 76);
        assert_eq!(size_of::<pfioc_rule>(), 3040);
        assert_eq!(size_of::<pfioc_pooladdr>(), 1136);
        assert_eq!(size_of::<pfioc_nv>(), 24);
        assert_eq!(size_of::<pfioc_trans>(), 16);
        assert_eq!(size_of::<pfioc_trans_e>(), 1032);
        assert_eq!(size_of::<pfioc_ruleset>(), 1092);
        assert_eq!(DIOCADDRULE, 0xcbe0_4404);
        assert_eq!(AF_INET6, 28, "FreeBSD's value, whatever the host's");
    }

    #[test]
    fn request_lengths_match_argument_sizes() {
        for (request, len) in [
            (DIOCADDRULE, size_of::<pfioc_rule>()),
            (DIOCNATLOOK, size_of::<pfioc_natlook>()),
            (DIOCBEGINADDRS, size_of::<pfioc_pooladdr>()),
            (DIOCADDADDR, size_of::<pfioc_pooladdr>()),
            (DIOCGETRULESETS, size_of::<pfioc_ruleset>()),
            (DIOCGETRULESET, size_of::<pfioc_ruleset>()),
            (DIOCXBEGIN, size_of::<pfioc_trans>()),
            (DIOCXCOMMIT, size_of::<pfioc_trans>()),
        ] {
            assert_eq!(ioctl_param_len(request), len, "{request:#x}");
            assert_eq!(ioctl_group(request), b'D');
        }
    }
}
