//! The routing table, asked where an address lives: the way back to a
//! client must leave by the interface its request came in on (see
//! [`crate::policy::check_route`]).
//!
//! This module owns the kernel query and nothing else:
//! - `linux.rs`: one `RTM_GETROUTE` over rtnetlink per check;
//! - `bsd.rs`: one `RTM_GET` on a `PF_ROUTE` socket per check (OpenBSD
//!   and FreeBSD), the socket opened at start, before the privilege drop;
//! - `message.rs`: that message and its answer, sans-IO, over either
//!   kernel's header layout (`layout.rs`, read from the kernels' headers
//!   through `pf-sys`), tested on any host;
//! - `interfaces.rs`: interface names and the interface holding an
//!   address;
//! - `cache.rs` (Linux): those kept between requests.
//!
//! pf's `urpf-failed` and `antispoof` rules, where the ruleset has them,
//! are a second layer under this check on the BSDs (`--check` says
//! whether they are there), as strict `rp_filter` is on Linux.

#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
mod bsd;
#[cfg(target_os = "linux")]
mod cache;
mod interfaces;
#[cfg(any(target_os = "openbsd", target_os = "freebsd", test))]
mod layout;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(any(target_os = "openbsd", target_os = "freebsd", test))]
mod message;

#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
pub use bsd::Routes;
#[cfg(target_os = "linux")]
pub use cache::InterfaceCache;
pub use interfaces::{interface_name, interface_of, on_link};
#[cfg(target_os = "linux")]
pub use linux::Routes;
