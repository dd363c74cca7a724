//! The pf backend, one concept over two kernels: [`Pf`], the
//! [`Firewall`](crate::firewall::Firewall) implementation driven through
//! ioctls on `/dev/pf`, written once, and the kernel encodings it calls.
//!
//! Shared by every kernel:
//! - `backend.rs`: [`Pf`] itself, the request flow and the sweep of stale
//!   anchors;
//! - `anchor.rs`: anchor names, `tftp-proxy/<pid>.<n>.<port>.<until>`;
//! - `ledger.rs`: pure bookkeeping of the paths this process installed
//!   and of the ports earlier helpers' paths still hold;
//! - `reaper.rs`: the detached process that empties each anchor after the
//!   transfer wait;
//! - `fork.rs`: the fork that starts it;
//! - `liveness.rs`: whether it still runs (waitpid);
//! - `device.rs`: `/dev/pf` and the generic ioctl, its request codes
//!   tied to their argument types;
//! - `expiry.rs`: the line announcing each anchor to the reaper;
//! - `report.rs`: the reaper's report of each anchor's use back to the
//!   helper, and the helper's book of which path awaits which report;
//! - `interface.rs`: the interface a return path's answer-catching rule
//!   is bound to (the one holding the helper's upstream address);
//! - `encode.rs`: pure helpers of every encoding (C strings, errors);
//! - `idle.rs`: the UDP state timeouts a return path's rules carry, so
//!   pf removes the state of a server's answers once its transfer is
//!   quiet;
//! - `outcome.rs`: whether an anchor caught the server's answer, decoded
//!   from the rules it still holds (the outcome line's pf side);
//! - `limits.rs`: pf's anchor limit, the storm arithmetic behind the
//!   shipped `set limit anchors`, and pool exhaustion reported as busy.
//!
//! Per kernel, under `kernel/`: the structures, their ioctls and the
//! pf.conf text (`kernel/openbsd/`: rdr-to and `once` in one ruleset;
//! `kernel/freebsd/`: an rdr ruleset with pools beside the filter one).
//!
//! It must not touch client or server sockets, TFTP, or policy.
//!
//! Outside the BSDs only the pure parts are compiled, for the tests.

mod anchor;
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
mod backend;
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
#[allow(unsafe_code)] // the generic ioctl(2); the block says why it is sound
mod device;
mod encode;
mod expiry;
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
#[allow(unsafe_code)] // fork(2); the block says why it is sound
mod fork;
mod idle;
mod interface;
mod kernel;
mod ledger;
pub mod limits;
mod liveness;
pub mod outcome;
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
mod reaper;
mod report;

use std::time::Duration;

/// The shortest transfer wait allowed (`-w`).
pub const MIN_TRANSFER_WAIT: Duration = Duration::from_secs(1);
/// The longest transfer wait allowed (`-w`).
pub const MAX_TRANSFER_WAIT: Duration = Duration::from_secs(30);
/// The transfer wait when none is given.
pub const DEFAULT_TRANSFER_WAIT: Duration = Duration::from_secs(2);

/// How the pf backend is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PfOptions {
    /// How long a return path waits for the server's first answer before
    /// the reaper removes it; held to [`MIN_TRANSFER_WAIT`] ..=
    /// [`MAX_TRANSFER_WAIT`].
    pub transfer_wait: Duration,
    /// Set `log` on the installed rules (they show up on pflog0).
    pub verbose: bool,
    /// Install nothing: open `/dev/pf` read-only (for the redirect
    /// lookup), start no reaper, sweep nothing.
    pub dry_run: bool,
    /// The unprivileged user the reaper runs as (the helper's `-u`).
    pub user: String,
}

impl Default for PfOptions {
    fn default() -> Self {
        PfOptions {
            transfer_wait: DEFAULT_TRANSFER_WAIT,
            verbose: false,
            dry_run: false,
            user: crate::privilege::DEFAULT_USER.to_owned(),
        }
    }
}

impl PfOptions {
    /// The transfer wait, held to the allowed range (the command line
    /// checks it first; this is the last guard).
    pub fn wait(&self) -> Duration {
        self.transfer_wait
            .clamp(MIN_TRANSFER_WAIT, MAX_TRANSFER_WAIT)
    }
}

#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
pub use backend::Pf;

/// Which kernel interface pf's status and state kills go through on this
/// FreeBSD kernel (nvlist ioctls or netlink), found by opening `/dev/pf`
/// read-only as the backend does: for `--check`.
#[cfg(target_os = "freebsd")]
pub fn kernel_interface() -> Result<&'static str, crate::firewall::FirewallError> {
    kernel::Device::open(false)
        .map(|device| device.interface())
        .map_err(kernel::open_error)
}
/// The pf.conf text of a return path's rules (`-n`, `-v`).
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
pub use kernel::describe;
/// pledge(2), for the privilege drop: all of OpenBSD's system calls that
/// nix lacks live in the ioctl layer.
#[cfg(target_os = "openbsd")]
pub use kernel::pledge;
/// The routing table this process lives in (getrtable(2)): for
/// DIOCNATLOOK and for the route lookups of the client check.
#[cfg(target_os = "openbsd")]
pub use kernel::routing_table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_match_openbsd_tftp_proxy() {
        let options = PfOptions::default();
        assert_eq!(options.transfer_wait, Duration::from_secs(2));
        assert!(!options.verbose && !options.dry_run);
    }

    #[test]
    fn transfer_wait_is_held_to_range() {
        let with = |secs| PfOptions {
            transfer_wait: Duration::from_secs(secs),
            ..PfOptions::default()
        };
        assert_eq!(with(0).wait(), MIN_TRANSFER_WAIT);
        assert_eq!(with(7).wait(), Duration::from_secs(7));
        assert_eq!(with(3600).wait(), MAX_TRANSFER_WAIT);
    }
}
