//! Generated bindings of pf's `/dev/pf` ioctl structures, one module per
//! kernel whose `<net/pfvar.h>` they come from: the target's own on a BSD,
//! both on any other host (for the tests of the encodings). Beside them,
//! the routing socket's message header and link-level address
//! (`rt_msghdr`, `sockaddr_dl`, `<net/route.h>` and `<net/if_dl.h>`),
//! whose layouts also differ between the kernels.
//!
//! This crate owns the generated types and nothing else: no system calls,
//! no policy. The types are parsed with the kernel's own target triple, so
//! code that fills them can be tested on any host; only the ioctls
//! themselves need the BSD. `addr.rs` and `ioccom.rs` hold what both
//! kernels declare alike.

mod addr;
mod ioccom;

#[cfg(not(target_os = "openbsd"))]
pub mod freebsd;
#[cfg(not(target_os = "freebsd"))]
pub mod openbsd;

/// The address structures both kernels declare alike (also re-exported by
/// each kernel's module).
pub use addr::{pf_addr, pf_addr_mask, pf_addr_wrap};
