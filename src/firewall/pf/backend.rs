//! [`Pf`], the pf backend's request flow, written once for every kernel:
//! open `/dev/pf` and check it, sweep anchors left by dead helpers, start
//! the reaper, then look up redirects and install and remove return paths
//! through the kernel's [`Device`].
//!
//! It owns the order of those steps and nothing of their encoding: it
//! must not name a pf structure or an ioctl (that is `kernel/`).

use super::kernel::{self, Device};
use super::ledger::{Clock, InUse, Ledger};
use super::reaper::Reaper;
use super::report::Book;
use super::{anchor, interface, PfOptions};
use crate::firewall::{Firewall, FirewallError, PathUse, Redirection, ReturnPath};
use nix::errno::Errno;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

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
    /// Which installed path awaits which anchor's report from the
    /// reaper, and the reports read so far.
    book: Book,
    /// Whether pf diverts requests to the helper (OpenBSD `divert-to`).
    diverts: bool,
}

impl Pf {
    /// Opens `/dev/pf` and checks what the helper needs: pf enabled,
    /// the `tftp-proxy` anchor loaded and called from the main ruleset
    /// (`anchor "tftp-proxy/*"`), rule changes allowed (not at
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
        let device = Device::open(true).map_err(kernel::open_error)?;
        if !device.running()? {
            return Err(FirewallError::Disabled);
        }
        // Anchors below tftp-proxy can exist without the rule that
        // evaluates them (left by earlier helpers or rulesets): rules
        // installed there would never be looked at.
        if !device.main_ruleset_calls(anchor::PARENT)? {
            return Err(FirewallError::RulesetMissing {
                what: format!("rule anchor \"{}/*\" in pf's main ruleset", anchor::PARENT),
            });
        }
        let children = device.children(anchor::PARENT)?;
        let diverts = main_ruleset_diverts(&device);
        // Rule changes are refused at a high securelevel (OpenBSD 2,
        // FreeBSD 3), and a kernel with another struct pf_rule does not
        // know this DIOCADDRULE (which would get a pledged OpenBSD helper
        // killed): find out now, with a transaction that leaves nothing
        // behind.
        device.check_rule_changes(&anchor::scratch(std::process::id()))?;
        sweep(&device, &children);
        let reaper = Reaper::spawn(&device, options.wait(), &options.user)?;
        // Before anything is installed: the ports earlier helpers' return
        // paths still wait on (a helper killed before its reaper emptied
        // them), read from the anchors' names.
        let now = Instant::now();
        let mut ledger = Ledger::new(reaper.pid(), clock(now)?);
        ledger.learn(&children, now);
        Ok(Pf {
            options,
            device: Some(device),
            open_error: None,
            reaper: Some(reaper),
            ledger,
            book: Book::default(),
            diverts,
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
            ledger: Ledger::new(std::process::id(), clock(Instant::now())?),
            book: Book::default(),
            // A dry run answers every request: with the socket for
            // diverted ones too, as it cannot always read the ruleset.
            diverts: true,
        })
    }

    /// Whether pf diverts requests to the helper (`divert-to` in the
    /// main ruleset), so that the socket answering diverted requests is
    /// needed; read at open.
    pub fn diverts(&self) -> bool {
        self.diverts
    }

    /// Moves the reports the reaper wrote since the last look into the
    /// book, without waiting.
    fn read_reports(&mut self) {
        if let Some(reaper) = self.reaper.as_mut() {
            for line in reaper.reports() {
                self.book.report(&line);
            }
        }
    }

    fn device(&self) -> Result<&Device, FirewallError> {
        match (&self.device, self.open_error) {
            (Some(device), _) => Ok(device),
            (None, errno) => Err(kernel::open_error(errno.unwrap_or(Errno::EBADF))),
        }
    }
}

/// Whether the main ruleset diverts requests (OpenBSD; FreeBSD's helper
/// takes none). A ruleset that cannot be read counts as diverting: the
/// socket then costs a privilege, its absence an answer.
fn main_ruleset_diverts(device: &Device) -> bool {
    #[cfg(target_os = "openbsd")]
    {
        device.main_ruleset_diverts().unwrap_or(true)
    }
    #[cfg(not(target_os = "openbsd"))]
    {
        let _ = device;
        false
    }
}

/// `now` read on the system's monotonic clock too, for the deadlines in
/// anchor names (`ledger::Clock`).
fn clock(now: Instant) -> Result<Clock, FirewallError> {
    use nix::time::{clock_gettime, ClockId};
    let spec = clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map_err(|e| FirewallError::errno("reading the monotonic clock", e as i32))?;
    let ms = Duration::from(spec).as_millis();
    Ok(Clock {
        instant: now,
        monotonic_ms: u64::try_from(ms).unwrap_or(u64::MAX),
    })
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
        self.device()?.original_destination(client, local)
    }

    /// The request's own `no state` rule comes with the return path, in
    /// the same transaction (kernel/*/rule.rs): `upstream` needs nothing.
    fn open_return_path(
        &mut self,
        path: &ReturnPath,
        _upstream: BorrowedFd<'_>,
    ) -> Result<(), FirewallError> {
        let now = Instant::now();
        let anchor = self
            .ledger
            .reserve(path, now, self.options.wait())
            .map_err(|InUse| FirewallError::PathInUse {
                proxy: path.proxy,
                server: path.server,
            })?;
        let device = self.device()?;
        // A state of an earlier transfer's answers from this server still
        // pointing at the port (left by a helper that is gone: this one
        // holds its own ports while theirs live, `state_left`) would
        // catch this transfer's answers before any rule: the flow takes
        // another port. A failed lookup decides nothing; the install
        // below reports a broken /dev/pf.
        if device.answer_state_exists(path).unwrap_or(false) {
            return Err(FirewallError::PathInUse {
                proxy: path.proxy,
                server: path.server,
            });
        }
        // Where the server's answer arrives: the rule catching it is bound
        // there, so a datagram forged on another interface (the phones'
        // side) cannot take it (interface.rs).
        let interface = interface::holding(path.proxy.ip())?;
        let Some(reaper) = self.reaper.as_ref() else {
            return Err(FirewallError::System {
                what: "installing a return path",
                source: std::io::Error::other("the pf backend was opened for a dry run"),
            });
        };
        // The reaper hears of the anchor before it exists, so nothing
        // is ever installed that it would not remove.
        reaper.expire(&anchor)?;
        device.install_return_path(&anchor, path, &interface, self.options.verbose)?;
        self.book.installed(path, &anchor);
        self.ledger.record(*path, anchor, now, self.options.wait());
        Ok(())
    }

    fn close_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
        self.book.removed(path);
        // A path not on record was never installed or has expired.
        match self.ledger.take(path) {
            Some(entry) => self.device()?.empty(&entry.anchor),
            None => Ok(()),
        }
    }

    /// Fails once the reaper has ended: nothing installed from then on
    /// would be removed, so the helper stops serving and inetd starts a
    /// whole one (which sweeps what this one left).
    ///
    /// Also reads the reaper's reports, so its pipe never fills.
    fn check_alive(&mut self) -> Result<(), FirewallError> {
        self.read_reports();
        let Some(reaper) = &self.reaper else {
            return Ok(());
        };
        match reaper.ended() {
            None => Ok(()),
            Some(why) => Err(FirewallError::Broken {
                what: format!(
                    "the reaper (pid {}) that removes return paths",
                    reaper.pid()
                ),
                why,
            }),
        }
    }

    /// As the reaper reported it: it reads each anchor's answer-catching
    /// rule just before it empties the anchor at its deadline
    /// (`reaper.rs`, `outcome.rs`). [`PathUse::Pending`] until that
    /// report has come; never a kernel call here.
    fn paths_use(&mut self, paths: &[ReturnPath]) -> Result<Vec<PathUse>, FirewallError> {
        self.read_reports();
        Ok(paths.iter().map(|p| self.book.take(p)).collect())
    }

    /// The reaper is told the anchor again with the wait counted from
    /// now, and the ledger holds the port as long: a server answering the
    /// copy finds the path as one answering the first would.
    fn renew_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
        if self.options.dry_run {
            return Ok(());
        }
        let wait = self.options.wait();
        let Some(anchor) = self.ledger.renew(path, Instant::now(), wait) else {
            // Expired or removed already: nothing left to renew.
            return Ok(());
        };
        match self.reaper.as_ref() {
            Some(reaper) => reaper.expire(anchor),
            None => Ok(()),
        }
    }

    /// Whether the state a single-port server's answer created (server
    /// port -> proxy port, rdr'd to the client) is still there
    /// (DIOCNATLOOK, allowed under pledge "pf"). pf tells neither how
    /// long it has left nor lets a pledged helper delete it, but the
    /// return path's rules gave it its [`ReturnPath::idle_limit`] as its UDP
    /// timeouts (`idle.rs`): it expires that long after its last packet,
    /// which is the answer, and pf removes it itself at its next purge
    /// ([`Firewall::state_expires_when_idle`]); the lookup finds it until
    /// then, as a datagram would. A dry run installed nothing.
    fn state_left(&mut self, path: &ReturnPath) -> Result<Option<Duration>, FirewallError> {
        if self.options.dry_run {
            return Ok(None);
        }
        let exists = self.device()?.answer_state_exists(path)?;
        Ok(exists.then_some(path.idle_limit))
    }

    /// pf expires the answer's states by the rules' own timeouts
    /// (`idle.rs`); nothing is ever killed, so a live transfer, whose
    /// packets keep restarting the timeout, is never cut.
    fn state_expires_when_idle(&self) -> bool {
        true
    }

    fn kernel_interface(&self) -> Option<String> {
        #[cfg(target_os = "freebsd")]
        {
            self.device.as_ref().map(|d| d.interface().to_owned())
        }
        #[cfg(not(target_os = "freebsd"))]
        {
            None
        }
    }

    fn describe_return_path(&self, path: &ReturnPath) -> String {
        match interface::holding(path.proxy.ip()) {
            Ok(interface) => kernel::describe(path, &interface, self.options.verbose),
            Err(e) => format!("# no return path can be installed: {e}"),
        }
    }

    /// Forgets the client's redirected request where the kernel can
    /// (FreeBSD: DIOCKILLSTATESNV or netlink; OpenBSD: not under pledge, see its
    /// kernel). A dry run changes nothing.
    fn request_forwarded(&mut self, redirection: &Redirection) -> Result<(), FirewallError> {
        if self.options.dry_run {
            return Ok(());
        }
        self.device()?.forget_request(redirection)
    }
}
