//! The kernel encodings of pf: what differs between the kernels that run
//! it, behind one small surface the shared backend calls
//! ([`Device`](openbsd::Device): open, status, anchor listing, redirect
//! lookup, return path install, anchor emptying; and the `-n` text).
//!
//! - `openbsd/`: one ruleset per anchor, a `pass in ... rdr-to ... once`
//!   rule and its `pass out`, OpenBSD's `<net/pfvar.h>` structures.
//!
//! Each kernel owns its structures, their ioctls and its pf.conf text; it
//! must not decide when paths are installed or removed (that is the
//! shared backend and reaper). On the host, every kernel's pure encoding
//! is compiled for the tests.

#[cfg(any(target_os = "openbsd", test))]
pub mod openbsd;

#[cfg(target_os = "openbsd")]
pub use openbsd::{describe, limit_to_pf, open_error, pledge, Device};
