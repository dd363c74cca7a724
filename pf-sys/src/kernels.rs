//! Generated bindings of pf's `/dev/pf` ioctl structures, one module per
//! kernel whose `<net/pfvar.h>` they come from.
//!
//! This crate owns the generated types and nothing else: no system calls,
//! no policy. The types are parsed with the kernel's own target triple, so
//! code that fills them can be tested on any host; only the ioctls
//! themselves need the BSD.

pub mod openbsd;
