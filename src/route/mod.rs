//! The routing table, asked where an address lives: the way back to a
//! client must leave by the interface its request came in on (see
//! [`crate::policy::check_route`]).
//!
//! This module owns the kernel query and nothing else. Linux asks over
//! rtnetlink; on the BSDs no lookup is made (pf's own `urpf-failed` and
//! `antispoof` rules are the reverse-path check there).

#[cfg(target_os = "linux")]
mod linux;

#[cfg(target_os = "linux")]
pub use linux::{interface_name, interface_of, Routes};
