//! tftp-proxy: lets TFTP cross a NAT firewall, one inetd-spawned helper
//! process per busy period (it exits once its socket has been idle).
//!
//! The directory listing is the architecture:
//! - [`tftp`]: sans-IO request dissection and ERROR packets.
//! - [`policy`]: what may pass, as pure functions.
//! - [`firewall`]: the seam to the packet filter and its backends.
//! - [`proxy`]: the one request flow, written once for every backend.
//! - [`privilege`]: giving up root once the kernel handles are open.
//! - [`log`]: syslog or stderr, one line per event.
//! - [`check`]: `--check`, the operator's check of the firewall's setup.

#![warn(missing_docs)]
// unsafe lives only in the pf ioctl layer, which allows it for itself.
#![deny(unsafe_code)]

pub mod check;
pub mod firewall;
pub mod log;
pub mod policy;
pub mod privilege;
pub mod proxy;
pub mod route;
pub mod tftp;
