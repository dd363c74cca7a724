//! The OpenBSD backend: pf, driven through ioctls on `/dev/pf`.
//!
//! This module owns [`Pf`], the [`Firewall`](crate::firewall::Firewall)
//! implementation, and the files that each do one part of it:
//! - `anchor.rs`: anchor names, `tftp-proxy/<pid>.<n>`;
//! - `rule.rs`: pure encoding of rules, transactions and lookups;
//! - `syntax.rs`: pure rendering of encoded rules as pf.conf text;
//! - `ledger.rs`: pure bookkeeping of the paths this process installed;
//! - `ioctl.rs` (OpenBSD only): every ioctl, errno turned into
//!   [`FirewallError`] by cause, and the reaper's fork and pledge; the one
//!   file of the backend with `unsafe`;
//! - `reaper.rs` (OpenBSD only): the detached process that empties each
//!   anchor after the transfer wait.
//!
//! It must not touch client or server sockets, TFTP, or policy; and once
//! the process is pledged it must not issue an ioctl pledge(2) forbids
//! (`DIOCXROLLBACK`, the anchor listing): those happen in [`Pf::open`].
//!
//! Outside OpenBSD only the pure parts are compiled, for the tests.

mod anchor;
#[cfg(target_os = "openbsd")]
#[allow(unsafe_code)] // the thin layer of kernel calls; each block says why it is sound
mod ioctl;
mod ledger;
#[cfg(target_os = "openbsd")]
mod reaper;
mod rule;
mod syntax;

use crate::firewall::ReturnPath;
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

/// The pf.conf text of `path`'s two rules, one per line: what
/// [`Firewall::describe_return_path`](crate::firewall::Firewall::describe_return_path)
/// returns.
pub fn describe(path: &ReturnPath, verbose: bool) -> String {
    // The anchor does not show in the text; any valid one will do.
    match rule::return_path_rules(path, anchor::PARENT, verbose) {
        Ok(rules) => syntax::render_all(&rules),
        Err(e) => format!("# no pf rule can express this return path: {e}"),
    }
}

/// pledge(2), for the privilege drop: all of OpenBSD's system calls that
/// nix lacks live in the ioctl layer.
#[cfg(target_os = "openbsd")]
pub use ioctl::pledge;
#[cfg(target_os = "openbsd")]
pub use openbsd::Pf;

#[cfg(target_os = "openbsd")]
mod openbsd {
    use super::ioctl::Device;
    use super::ledger::{InUse, Ledger};
    use super::reaper::Reaper;
    use super::{anchor, describe, rule, PfOptions};
    use crate::firewall::{Firewall, FirewallError, Redirection, ReturnPath};
    use nix::errno::Errno;
    use std::net::SocketAddr;
    use std::time::Instant;

    /// The pf backend: `/dev/pf`, the reaper that expires return paths, and
    /// the record of what this process installed.
    #[derive(Debug)]
    pub struct Pf {
        options: PfOptions,
        /// `/dev/pf`; `None` in a dry run that could not open it.
        device: Option<Device>,
        /// Why a dry run could not open `/dev/pf`, told at the first lookup.
        open_error: Option<Errno>,
        /// `None` in a dry run.
        reaper: Option<Reaper>,
        ledger: Ledger,
    }

    impl Pf {
        /// Opens `/dev/pf` and checks what the helper needs: pf enabled,
        /// the `tftp-proxy` anchor loaded, rule changes allowed (not at
        /// securelevel 2) and this build's DIOCADDRULE known to the kernel.
        /// Then it removes return paths left by helpers
        /// whose reaper died, and starts this process's reaper.
        ///
        /// Call it as root, before privileges are dropped and while the
        /// process has a single thread: it forks.
        ///
        /// With `dry_run`, `/dev/pf` is opened read-only, for lookups only;
        /// if even that fails the error waits for the first lookup (a
        /// diverted request needs none).
        pub fn open(options: PfOptions) -> Result<Pf, FirewallError> {
            if options.dry_run {
                return Self::open_dry(options);
            }
            let device = Device::open(true).map_err(super::ioctl::open_error)?;
            if !device.running()? {
                return Err(FirewallError::Disabled);
            }
            let children = device.children(anchor::PARENT)?;
            // Rule changes are refused at securelevel 2, and a kernel with
            // another struct pf_rule does not know this DIOCADDRULE (which
            // would get the pledged helper killed): find out now, with a
            // transaction that leaves nothing behind.
            device.check_rule_changes(&anchor::path(std::process::id(), 0))?;
            sweep(&device, &children);
            let reaper = Reaper::spawn(&device, options.wait(), &options.user)?;
            let ledger = Ledger::new(reaper.pid());
            Ok(Pf {
                options,
                device: Some(device),
                open_error: None,
                reaper: Some(reaper),
                ledger,
            })
        }

        /// A dry run: `/dev/pf` read-only, for lookups; nothing else.
        fn open_dry(options: PfOptions) -> Result<Pf, FirewallError> {
            let (device, open_error) = match Device::open(false) {
                Ok(device) => (Some(device), None),
                Err(errno) => (None, Some(errno)),
            };
            if let Some(device) = &device {
                if !device.running()? {
                    return Err(FirewallError::Disabled);
                }
            }
            Ok(Pf {
                options,
                device,
                open_error,
                reaper: None,
                ledger: Ledger::new(std::process::id()),
            })
        }

        fn device(&self) -> Result<&Device, FirewallError> {
            match (&self.device, self.open_error) {
                (Some(device), _) => Ok(device),
                (None, errno) => Err(super::ioctl::open_error(errno.unwrap_or(Errno::EBADF))),
            }
        }
    }

    /// Empties the anchors below `tftp-proxy` whose reaper is gone (their
    /// helper was killed before it could clean up). Anchors this helper
    /// did not name are left alone; failures are left for the next sweep.
    fn sweep(device: &Device, children: &[String]) {
        for name in children {
            let Some(owner) = anchor::owner(name) else {
                continue;
            };
            if super::reaper::is_gone(owner) {
                let _ = device.empty(&anchor::child_path(name));
            }
        }
    }

    impl Firewall for Pf {
        fn original_destination(
            &mut self,
            client: SocketAddr,
            local: SocketAddr,
        ) -> Result<Redirection, FirewallError> {
            let query = rule::natlook_query(client, local)
                .map_err(|_| FirewallError::NoRedirect { client, local })?;
            let answer = self.device()?.natlook(query, client, local)?;
            rule::natlook_answer(&answer, local).ok_or(FirewallError::NoRedirect { client, local })
        }

        fn open_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
            let now = Instant::now();
            let anchor =
                self.ledger
                    .reserve(path, now)
                    .map_err(|InUse| FirewallError::PathInUse {
                        proxy: path.proxy,
                        server: path.server,
                    })?;
            let mut rules = rule::return_path_rules(path, &anchor, self.options.verbose)
                .map_err(encode_error)?;
            let device = self.device()?;
            let Some(reaper) = self.reaper.as_ref() else {
                return Err(FirewallError::System {
                    what: "installing a return path",
                    source: std::io::Error::other("the pf backend was opened for a dry run"),
                });
            };
            // The reaper hears of the anchor before it exists, so nothing
            // is ever installed that it would not remove.
            reaper.expire(&anchor)?;
            device.install(&anchor, &mut rules)?;
            self.ledger.record(*path, anchor, now, self.options.wait());
            Ok(())
        }

        fn close_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
            // A path not on record was never installed or has expired.
            match self.ledger.take(path) {
                Some(entry) => self.device()?.empty(&entry.anchor),
                None => Ok(()),
            }
        }

        fn describe_return_path(&self, path: &ReturnPath) -> String {
            describe(path, self.options.verbose)
        }
    }

    fn encode_error(e: rule::EncodeError) -> FirewallError {
        FirewallError::System {
            what: "encoding pf rules",
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        }
    }
}

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

    #[test]
    fn describe_is_the_dry_run_text() {
        let path = ReturnPath {
            client: "192.0.2.20:50232".parse().unwrap(),
            proxy: "198.51.100.1:49441".parse().unwrap(),
            server: "198.51.100.2:69".parse().unwrap(),
        };
        assert_eq!(
            describe(&path, false),
            "pass in quick inet proto udp from 198.51.100.2 to 198.51.100.1 port 49441 \
             rdr-to 192.0.2.20 port 50232 once\n\
             pass out quick inet proto udp from 198.51.100.2 to 192.0.2.20 port 50232"
        );
        let mixed = ReturnPath {
            server: "[2001:db8::2]:69".parse().unwrap(),
            ..path
        };
        assert!(describe(&mixed, false).starts_with("# "));
    }
}
