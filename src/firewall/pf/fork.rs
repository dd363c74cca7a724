//! The one `fork(2)` of the pf backend, which starts the reaper.
//!
//! With the kernels' ioctl layers, the only file of the backend with
//! `unsafe`: fork has no safe wrapper. It must not decide anything.

use crate::firewall::FirewallError;
use nix::unistd::{ForkResult, Pid};

/// Which side of [`fork`] the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The original process; the child has this pid.
    Parent(Pid),
    /// The new process.
    Child,
}

/// Forks the process.
///
/// The caller must have a single thread (as [`Pf::open`](super::Pf::open)
/// requires) and the child must end with `std::process::exit` without
/// returning into the caller's frames.
pub fn fork() -> Result<Forked, FirewallError> {
    // SAFETY: fork(2) is unsafe in Rust because the child of a
    // multi-threaded process may find locks held by threads that do not
    // exist there. Its only caller, `Reaper::spawn`, runs inside
    // `Pf::open`, which is documented to be called while the process has
    // one thread (before signal handlers and anything else start one), so
    // the child gets a consistent copy; it then runs only the reaper loop
    // and exits without unwinding into the parent's frames.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { child }) => Ok(Forked::Parent(child)),
        Ok(ForkResult::Child) => Ok(Forked::Child),
        Err(e) => Err(FirewallError::errno("forking the reaper", e as i32)),
    }
}
