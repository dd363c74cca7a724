//! The kernel encodings of pf: what differs between the kernels that run
//! it, behind one small surface the shared backend calls
//! ([`Device`](openbsd::Device): open, status, anchor listing, redirect
//! lookup, return path install, anchor emptying; and the `-n` text).
//!
//! - `openbsd/`: one ruleset per anchor, a `pass in ... rdr-to ... once`
//!   rule and its `pass out`, OpenBSD's `<net/pfvar.h>` structures.
//! - `freebsd/`: an `rdr` rule in the anchor's RDR ruleset with its target
//!   in a pool, `pass in`/`pass out` with `max-states 1` in its FILTER
//!   ruleset, no `once`; FreeBSD's `<net/pfvar.h>` structures.
//!
//! Each kernel owns its structures, their ioctls and its pf.conf text; it
//! must not decide when paths are installed or removed (that is the
//! shared backend and reaper). On a non-BSD host, every kernel's pure
//! encoding is compiled for the tests.

// A BSD build has only its own kernel's bindings (pf-sys generates those
// alone); tests on any other host see both.
#[cfg(any(target_os = "freebsd", all(test, not(target_os = "openbsd"))))]
pub mod freebsd;
#[cfg(any(target_os = "openbsd", all(test, not(target_os = "freebsd"))))]
pub mod openbsd;

#[cfg(target_os = "freebsd")]
pub use freebsd::{describe, limit_to_pf, open_error, Device};
#[cfg(target_os = "openbsd")]
pub use openbsd::{describe, limit_to_pf, open_error, pledge, routing_table, Device};
