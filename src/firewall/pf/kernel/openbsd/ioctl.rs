//! The thin system layer of OpenBSD's pf: `/dev/pf` and its ioctls, and
//! `pledge(2)`.
//!
//! With `fork.rs` and the shared `device.rs`, the only files of the
//! backend with `unsafe`: the transaction ioctls, getrtable(2) and
//! pledge(2) have no safe wrapper. Every other ioctl goes through
//! `device.rs`, its argument type tied to its request code there. Every
//! errno is turned into a [`FirewallError`] here, named by its likely
//! cause.
//!
//! It must not decide anything (what to install, when to remove it): that
//! is `backend.rs` and `reaper.rs`. It never issues `DIOCXROLLBACK`, which
//! kills a pledged process: an abandoned transaction is cleared by a fresh
//! one on the same anchor (see [`Device::install`]).

use super::rule::{self, DIOCGETRULE, DIOCGETRULES, DIOCXEND};
use crate::firewall::pf::device::{Argument, PfDevice, Request};
use crate::firewall::pf::encode::{from_c_string, EncodeError};
use crate::firewall::pf::limits;
use crate::firewall::pf::outcome;
use crate::firewall::{FirewallError, PathUse};
use nix::errno::Errno;
use pf_sys::openbsd::{
    ioctl_param_len, pf_status, pfioc_natlook, pfioc_rule, pfioc_ruleset, pfioc_trans,
    pfioc_trans_e, DIOCADDRULE, DIOCGETRULESET, DIOCGETRULESETS, DIOCGETSTATUS, DIOCNATLOOK,
    DIOCXBEGIN, DIOCXCOMMIT, PFVAR_REVISION,
};
use std::ffi::CStr;
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::raw::{c_int, c_ulong};

// The `Argument`s (see `device.rs`): each is copied whole, in and back
// out, and the kernel follows no pointer inside it (the pointers in
// `pf_rule` are kernel-side and ignored on the way in).
impl Argument for pf_status {}
impl Argument for pfioc_natlook {}
impl Argument for pfioc_rule {}
impl Argument for pfioc_ruleset {}
/// A read transaction's ticket (`DIOCXEND`).
impl Argument for u32 {}

const GET_STATUS: Request<pf_status> = Request::new(DIOCGETSTATUS);
const NATLOOK: Request<pfioc_natlook> = Request::new(DIOCNATLOOK);
const ADD_RULE: Request<pfioc_rule> = Request::new(DIOCADDRULE);
const GET_RULESETS: Request<pfioc_ruleset> = Request::new(DIOCGETRULESETS);
const GET_RULESET: Request<pfioc_ruleset> = Request::new(DIOCGETRULESET);
const GET_RULES: Request<pfioc_rule> = Request::new(DIOCGETRULES);
const GET_RULE: Request<pfioc_rule> = Request::new(DIOCGETRULE);
const END_READ: Request<u32> = Request::new(DIOCXEND);

extern "C" {
    /// getrtable(2): the calling process's routing table. libc has no
    /// binding for it on OpenBSD.
    fn getrtable() -> c_int;
}

/// The routing table this process (and the socket inetd created before
/// starting it: a socket takes its creator's table, in_pcballoc() in
/// netinet/in_pcb.c, and the process's table, `ps_rtableid`, is inherited
/// across fork and exec) lives in, for DIOCNATLOOK. getrtable(2)
/// (sys_getrtable() in kern/uipc_syscalls.c) is allowed under pledge
/// "stdio" (`pledge_syscalls` in kern/kern_pledge.c).
///
/// pf keys states on the routing domain, and an rdomain's own table has
/// its number; a process run in an alternate table of a domain (route -T
/// with a table that is not a domain) would ask in the wrong one, as
/// OpenBSD's own ftp-proxy(8) does.
pub fn routing_table() -> u16 {
    // SAFETY: getrtable(2) takes no argument, touches no memory of the
    // process and cannot fail.
    let table = unsafe { getrtable() };
    u16::try_from(table).unwrap_or(0)
}

/// The two transaction steps the helper uses (never the rollback).
#[derive(Debug, Clone, Copy)]
enum Step {
    Begin,
    Commit,
}

impl Step {
    fn code(self) -> c_ulong {
        match self {
            Step::Begin => DIOCXBEGIN,
            Step::Commit => DIOCXCOMMIT,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Step::Begin => "opening a pf transaction (DIOCXBEGIN)",
            Step::Commit => "committing pf rules (DIOCXCOMMIT)",
        }
    }
}

const _: () = {
    assert!(ioctl_param_len(DIOCXBEGIN) == size_of::<pfioc_trans>());
    assert!(ioctl_param_len(DIOCXCOMMIT) == size_of::<pfioc_trans>());
};

/// `/dev/pf`, open for reading (lookups) or reading and writing (rules).
#[derive(Debug)]
pub struct Device {
    pf: PfDevice,
}

/// The error for a failed open of `/dev/pf`.
pub fn open_error(errno: Errno) -> FirewallError {
    match errno {
        Errno::EACCES | Errno::EPERM => FirewallError::PermissionDenied {
            what: "opening /dev/pf for writing",
            hint: " (the helper must be started as root)",
        },
        Errno::ENOENT | Errno::ENXIO | Errno::ENODEV => {
            FirewallError::errno("opening /dev/pf (is pf in this kernel?)", errno as i32)
        }
        _ => FirewallError::errno("opening /dev/pf", errno as i32),
    }
}

/// The error for a failed rule change (`what` names the step).
fn change_error(what: &'static str, errno: Errno) -> FirewallError {
    match errno {
        Errno::EPERM => FirewallError::PermissionDenied {
            what,
            hint: " (pf refuses rule changes at securelevel 2, see securelevel(7))",
        },
        Errno::EACCES => FirewallError::PermissionDenied {
            what,
            hint: " (/dev/pf is open read-only)",
        },
        Errno::ENODEV => incompatible(what),
        _ => FirewallError::errno(what, errno as i32),
    }
}

/// The error for a failed `DIOCXBEGIN`: EINVAL there means pf could not
/// create the anchor, which at run time is its anchor limit: reported as
/// busy (`limits.rs`).
fn begin_error(errno: Errno) -> FirewallError {
    limits::exhausted(limits::Step::Begin, errno)
        .unwrap_or_else(|| change_error(Step::Begin.what(), errno))
}

/// The error for a failed `DIOCADDRULE`: ENOMEM is pf's rule pool,
/// reported as busy (`limits.rs`).
fn add_rule_error(errno: Errno) -> FirewallError {
    limits::exhausted(limits::Step::AddRule, errno)
        .unwrap_or_else(|| change_error("adding a pf rule (DIOCADDRULE)", errno))
}

/// The error for a failed transaction step.
fn step_error(step: Step, errno: Errno) -> FirewallError {
    match step {
        Step::Begin => begin_error(errno),
        Step::Commit => change_error(Step::Commit.what(), errno),
    }
}

/// ENODEV from pf: the kernel does not know this request code, or (for a
/// transaction) its `pfioc_trans_e` has another size. Either way the
/// kernel's pfvar.h is not the one the helper was built with.
fn incompatible(what: &'static str) -> FirewallError {
    FirewallError::Incompatible {
        what,
        detail: format!("built against pfvar.h {PFVAR_REVISION}"),
    }
}

impl Device {
    /// Opens `/dev/pf`, for writing too when `writable`.
    pub fn open(writable: bool) -> Result<Device, Errno> {
        let pf = PfDevice::open(writable)?;
        Ok(Device { pf })
    }

    /// Runs one transaction step over `elements` (the kernel fills in the
    /// tickets on `Begin`).
    fn transact(&self, step: Step, elements: &mut [pfioc_trans_e]) -> Result<(), Errno> {
        let mut trans: pfioc_trans = rule::transaction(elements);
        // SAFETY: the descriptor is open for as long as `self.pf` lives
        // (see `PfDevice`); the request code encodes
        // `size_of::<pfioc_trans>()` (checked above). `trans.array` points
        // at `elements`, exclusively borrowed for the whole call, with
        // `trans.size == elements.len()` entries of `trans.esize ==
        // size_of::<pfioc_trans_e>()` bytes: all the kernel copies in and out.
        let rc = unsafe {
            libc::ioctl(
                self.pf.as_raw_fd(),
                step.code(),
                std::ptr::from_mut(&mut trans),
            )
        };
        Errno::result(rc).map(drop)
    }

    /// Whether pf is enabled (`pfctl -e`).
    pub fn running(&self) -> Result<bool, FirewallError> {
        let mut status = pf_status::default();
        self.pf.call(GET_STATUS, &mut status).map_err(|e| match e {
            Errno::ENODEV => incompatible("reading pf's status (DIOCGETSTATUS)"),
            _ => FirewallError::errno("reading pf's status (DIOCGETSTATUS)", e as i32),
        })?;
        Ok(status.running != 0)
    }

    /// Looks up the redirected flow a datagram from `client` to `local`
    /// belongs to; returns the kernel's answer.
    pub fn natlook(
        &self,
        mut query: pfioc_natlook,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Result<pfioc_natlook, FirewallError> {
        match self.pf.call(NATLOOK, &mut query) {
            Ok(()) => Ok(query),
            Err(Errno::ENOENT) => Err(FirewallError::NoRedirect { client, local }),
            Err(Errno::E2BIG) => Err(FirewallError::Ambiguous { client, local }),
            Err(Errno::ENODEV) => Err(incompatible("looking up the redirect (DIOCNATLOOK)")),
            Err(e) => Err(FirewallError::errno(
                "looking up the redirect (DIOCNATLOOK)",
                e as i32,
            )),
        }
    }

    /// Whether pf holds a state for the DIOCNATLOOK `query` (several at
    /// once, E2BIG, count as one).
    pub fn state_exists(&self, mut query: pfioc_natlook) -> Result<bool, FirewallError> {
        const WHAT: &str = "looking up the state of the server's answers (DIOCNATLOOK)";
        match self.pf.call(NATLOOK, &mut query) {
            Ok(()) | Err(Errno::E2BIG) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(Errno::ENODEV) => Err(incompatible(WHAT)),
            Err(e) => Err(FirewallError::errno(WHAT, e as i32)),
        }
    }

    /// Replaces the ruleset of `anchor` with `rules` in one transaction.
    ///
    /// If adding a rule or the commit fails, the transaction is abandoned
    /// rather than rolled back (pledge(2) kills a process that issues
    /// `DIOCXROLLBACK`): a fresh transaction on the same anchor discards
    /// whatever the abandoned one staged, and committing it empty leaves
    /// no anchor behind. Nothing half-built is ever committed.
    pub fn install(&self, anchor: &str, rules: &mut [pfioc_rule]) -> Result<(), FirewallError> {
        let mut elements = [rule::transaction_element(anchor).map_err(encode_error)?];
        self.transact(Step::Begin, &mut elements)
            .map_err(|e| step_error(Step::Begin, e))?;
        let ticket = elements[0].ticket;
        let staged = rules.iter_mut().try_for_each(|ioc| {
            ioc.ticket = ticket;
            self.pf.call(ADD_RULE, ioc).map_err(add_rule_error)
        });
        let committed = staged.and_then(|()| {
            self.transact(Step::Commit, &mut elements)
                .map_err(|e| step_error(Step::Commit, e))
        });
        if committed.is_err() {
            let _ = self.empty(anchor);
        }
        committed
    }

    /// Checks, before the process is pledged, that pf will take this
    /// helper's rules, using the scratch anchor `anchor`:
    /// - DIOCXBEGIN is refused (EPERM) at securelevel 2;
    /// - DIOCADDRULE's request code encodes `sizeof(struct pfioc_rule)`, so
    ///   a kernel whose `struct pf_rule` differs from the pfvar.h this was
    ///   built with does not know the code. pf answers ENODEV to it, but
    ///   pledge(2) "pf" allows only the kernel's own codes: a pledged
    ///   process would be killed at its first install instead of told.
    ///
    /// The probe rule carries a stale ticket, so a kernel that knows the
    /// request reads it and refuses it (EBUSY); nothing is staged. A fresh
    /// empty transaction then removes the scratch anchor again.
    pub fn check_rule_changes(&self, anchor: &str) -> Result<(), FirewallError> {
        let mut elements = [rule::transaction_element(anchor).map_err(encode_error)?];
        self.transact(Step::Begin, &mut elements)
            .map_err(|e| step_error(Step::Begin, e))?;
        let mut probe = rule::probe_rule(anchor).map_err(encode_error)?;
        probe.ticket = elements[0].ticket.wrapping_add(1);
        let known = match self.pf.call(ADD_RULE, &mut probe) {
            Err(Errno::ENODEV) => Err(incompatible("adding a pf rule (DIOCADDRULE)")),
            // Any other answer means pf knows the request.
            _ => Ok(()),
        };
        let emptied = self.empty(anchor);
        known.and(emptied)
    }

    /// Commits an empty ruleset into `anchor`, which removes the anchor.
    /// A concurrent emptying of the same anchor (the reaper and a signal
    /// at once) makes one commit fail with EBUSY: that one tries again.
    pub fn empty(&self, anchor: &str) -> Result<(), FirewallError> {
        let mut elements = [rule::transaction_element(anchor).map_err(encode_error)?];
        let mut attempt = || {
            self.transact(Step::Begin, &mut elements)
                .map_err(|e| (Step::Begin, e))?;
            self.transact(Step::Commit, &mut elements)
                .map_err(|e| (Step::Commit, e))
        };
        match attempt() {
            Err((Step::Commit, Errno::EBUSY)) => attempt(),
            other => other,
        }
        .map_err(|(step, e)| step_error(step, e))
    }

    /// Whether the main ruleset holds `anchor "<parent>/*"`, the rule
    /// that evaluates every return path: without it the anchors below
    /// `parent` can exist (left by earlier rulesets or helpers) while
    /// nothing ever looks at them.
    ///
    /// DIOCGETRULES opens a read transaction over the active rules of the
    /// main ruleset, DIOCGETRULE reads them one at a time and DIOCXEND
    /// closes it (net/pf_ioctl.c). None of the three is allowed under
    /// pledge "pf" (kern/kern_pledge.c): call this before pledging.
    pub fn main_ruleset_calls(&self, parent: &str) -> Result<bool, FirewallError> {
        self.main_ruleset_has(|rule| rule::calls_children_of(rule, parent))
    }

    /// Whether a rule of the main ruleset diverts packets to a local
    /// socket (`divert-to`): only then does the helper open the socket
    /// that answers diverted requests (SO_BINDANY). Read like
    /// [`Device::main_ruleset_calls`], before pledging.
    pub fn main_ruleset_diverts(&self) -> Result<bool, FirewallError> {
        self.main_ruleset_has(rule::diverts)
    }

    /// Whether a rule of the main ruleset satisfies `wanted`.
    fn main_ruleset_has(
        &self,
        mut wanted: impl FnMut(&pfioc_rule) -> bool,
    ) -> Result<bool, FirewallError> {
        self.rules_until("", &mut wanted)
    }

    /// How a return path's anchor was used, read just before it is
    /// emptied: its rules (DIOCGETRULES, DIOCGETRULE, DIOCXEND as in
    /// [`Device::main_ruleset_calls`]) decoded by `outcome.rs`. Not
    /// allowed under pledge "pf" (kern/kern_pledge.c): the reaper, which
    /// calls it, is confined without pledge. An anchor already gone
    /// (DIOCGETRULES: EINVAL, pf_find_ruleset() found none) or any
    /// failure is [`PathUse::Unknown`].
    pub fn anchor_use(&self, anchor: &str) -> PathUse {
        let mut rules = Vec::new();
        let read = self.rules_until(anchor, &mut |one: &pfioc_rule| {
            rules.push(one.rule);
            false
        });
        match read {
            Ok(_) => outcome::judge(outcome::openbsd::read(&rules)),
            Err(_) => PathUse::Unknown,
        }
    }

    /// Reads the active rules of `anchor` (`""`: the main ruleset) in
    /// order until `stop` says so; whether it did.
    fn rules_until(
        &self,
        anchor: &str,
        stop: &mut dyn FnMut(&pfioc_rule) -> bool,
    ) -> Result<bool, FirewallError> {
        let what = "reading pf's main ruleset (DIOCGETRULES)";
        let mut query = rule::rules_query(anchor).map_err(encode_error)?;
        self.pf.call(GET_RULES, &mut query).map_err(|e| match e {
            Errno::ENODEV => incompatible(what),
            _ => FirewallError::errno(what, e as i32),
        })?;
        let mut ticket = query.ticket;
        let mut found = Ok(false);
        for _ in 0..query.nr {
            let mut one = match rule::next_rule_query(anchor, ticket) {
                Ok(one) => one,
                Err(e) => {
                    found = Err(encode_error(e));
                    break;
                }
            };
            match self.pf.call(GET_RULE, &mut one) {
                Ok(()) if stop(&one) => {
                    found = Ok(true);
                    break;
                }
                Ok(()) => {}
                // The end of the rules (net/pf_ioctl.c: ENOENT once the
                // transaction's next rule is none): a rule purged since
                // DIOCGETRULES counted them (an expired `once` rule).
                Err(Errno::ENOENT) if !anchor.is_empty() => break,
                Err(e) => {
                    // EBUSY: the ruleset was replaced meanwhile. Say so;
                    // a new helper will look again.
                    found = Err(FirewallError::errno(
                        "reading a rule of pf's main ruleset (DIOCGETRULE)",
                        e as i32,
                    ));
                    break;
                }
            }
        }
        // The read transaction would otherwise stay open as long as
        // /dev/pf, counted against pf's limit of open transactions.
        let _ = self.pf.call(END_READ, &mut ticket);
        found
    }

    /// The names of the anchors directly below `parent`.
    pub fn children(&self, parent: &str) -> Result<Vec<String>, FirewallError> {
        let what = "listing pf anchors (DIOCGETRULESETS)";
        let mut query = rule::ruleset_query(parent, 0).map_err(encode_error)?;
        self.pf
            .call(GET_RULESETS, &mut query)
            .map_err(|e| match e {
                Errno::EINVAL => FirewallError::RulesetMissing {
                    what: format!("pf anchor \"{parent}/*\""),
                },
                Errno::ENODEV => incompatible(what),
                _ => FirewallError::errno(what, e as i32),
            })?;
        let mut names = Vec::new();
        for nr in 0..query.nr {
            let mut one = rule::ruleset_query(parent, nr).map_err(encode_error)?;
            match self.pf.call(GET_RULESET, &mut one) {
                Ok(()) => names.push(from_c_string(&one.name)),
                // The anchors changed under us: what was read will do.
                Err(Errno::EBUSY) => break,
                Err(e) => {
                    return Err(FirewallError::errno(
                        "reading a pf anchor name (DIOCGETRULESET)",
                        e as i32,
                    ))
                }
            }
        }
        Ok(names)
    }
}

fn encode_error(e: EncodeError) -> FirewallError {
    FirewallError::System {
        what: "encoding a pf request",
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    }
}

/// Restricts the calling process with pledge(2) to `promises`.
pub fn pledge(promises: &CStr) -> Result<(), Errno> {
    // SAFETY: `promises` is a NUL-terminated string valid for the whole
    // call; a null `execpromises` leaves the exec promises unchanged. The
    // call reads its arguments and changes only the kernel's view of this
    // process.
    let rc = unsafe { libc::pledge(promises.as_ptr(), std::ptr::null()) };
    Errno::result(rc).map(drop)
}
