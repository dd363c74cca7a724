//! The thin system layer of FreeBSD's pf: `/dev/pf` and its ioctls, and
//! the netlink socket some kernels answer pf's status on.
//!
//! pf's status and the killing of a state go through the nvlist ioctls
//! (`DIOCGETSTATUSNV`, `DIOCKILLSTATESNV`: FreeBSD 13 to 15, and the only
//! way on 14.0, whose netlink family lacks both commands); where those
//! are gone, through generic netlink. Which one answered is chosen once,
//! when `/dev/pf` is opened, and named by [`Device::interface`].
//!
//! With `fork.rs` and the shared `device.rs`, the only files of the
//! FreeBSD backend with `unsafe`: the transaction and nvlist ioctls carry
//! pointers, and socket(2) for netlink has no safe wrapper. Every other
//! ioctl goes through `device.rs`, its argument type tied to its request
//! code there. Every errno is turned into a [`FirewallError`] here, named
//! by its likely cause.
//!
//! It must not decide anything (what to install, when to remove it): that
//! is `backend.rs` and `reaper.rs`. Kernel behaviour relied on is from
//! sys/netpfil/pf/pf_ioctl.c (pfioctl and pf_ioctl_addrule).

use super::netlink as status;
use super::nvlist::NvList;
use super::nvrequest::{self, MainRuleset};
use super::rule::{self, Staged};
use crate::firewall::pf::device::{Argument, PfDevice, Request};
use crate::firewall::pf::encode::{from_c_string, EncodeError};
use crate::firewall::pf::outcome;
use crate::firewall::{FirewallError, PathUse};
use nix::errno::Errno;
use nix::sys::socket::{recv, send, setsockopt, sockopt, MsgFlags};
use nix::sys::time::TimeVal;
use pf_sys::freebsd::{
    ioctl_param_len, pfioc_natlook, pfioc_nv, pfioc_pooladdr, pfioc_rule, pfioc_ruleset,
    pfioc_trans, pfioc_trans_e, AF_NETLINK, DIOCADDADDR, DIOCADDRULE, DIOCBEGINADDRS,
    DIOCGETRULENV, DIOCGETRULES, DIOCGETRULESET, DIOCGETRULESETS, DIOCGETSTATUSNV,
    DIOCKILLSTATESNV, DIOCNATLOOK, DIOCXBEGIN, DIOCXCOMMIT, HEADERS_VERSION, NETLINK_GENERIC,
};
use std::cell::Cell;
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::raw::c_ulong;

/// How many times a transaction is tried when a concurrent one (`pfctl
/// -f`, another helper) took the global pool ticket or the rulesets
/// (EBUSY).
const ATTEMPTS: usize = 3;

// The `Argument`s (see `device.rs`): each is copied whole, in and back
// out, and the kernel follows no pointer inside it (the pointers in
// `pf_rule` and `pf_pooladdr` are kernel-side and ignored on the way in).
impl Argument for pfioc_natlook {}
impl Argument for pfioc_rule {}
impl Argument for pfioc_pooladdr {}
impl Argument for pfioc_ruleset {}

const NATLOOK: Request<pfioc_natlook> = Request::new(DIOCNATLOOK);
const ADD_RULE: Request<pfioc_rule> = Request::new(DIOCADDRULE);
const BEGIN_ADDRS: Request<pfioc_pooladdr> = Request::new(DIOCBEGINADDRS);
const ADD_ADDR: Request<pfioc_pooladdr> = Request::new(DIOCADDADDR);
const GET_RULESETS: Request<pfioc_ruleset> = Request::new(DIOCGETRULESETS);
const GET_RULESET: Request<pfioc_ruleset> = Request::new(DIOCGETRULESET);
const GET_RULES: Request<pfioc_rule> = Request::new(DIOCGETRULES);

/// The two transaction steps the helper uses.
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
    assert!(ioctl_param_len(DIOCGETSTATUSNV) == size_of::<pfioc_nv>());
    assert!(ioctl_param_len(DIOCKILLSTATESNV) == size_of::<pfioc_nv>());
    assert!(ioctl_param_len(DIOCGETRULENV) == size_of::<pfioc_nv>());
};

/// The first answer buffer of an nvlist ioctl; doubled while the kernel
/// answers ENOSPC, up to [`NV_ANSWER_MAX`].
const NV_ANSWER_MIN: usize = 4096;
/// The largest nvlist answer read (a rule with its labels is a few
/// kilobytes; the status with its counters' names about ten).
const NV_ANSWER_MAX: usize = 1 << 20;

/// Why an nvlist ioctl failed.
enum NvFailed {
    /// The ioctl failed.
    System(Errno),
    /// The answer is not a packed nvlist.
    Answer(super::nvlist::NvError),
}

/// Which of the kernel's interfaces answers pf's status and kills states.
#[derive(Debug)]
enum StateInterface {
    /// `DIOCGETSTATUSNV` and `DIOCKILLSTATESNV` (FreeBSD 13 to 15).
    Nvlist,
    /// pf's generic netlink family "pfctl", for a kernel without them.
    Netlink(Netlink),
    /// Neither answered.
    Neither,
}

/// A failed call and the step it was.
type Failed = (&'static str, Errno);

/// `/dev/pf`, open for reading (lookups) or reading and writing (rules).
#[derive(Debug)]
pub struct Device {
    pf: PfDevice,
    /// What answers the status and kills states on this kernel.
    states: StateInterface,
    /// Whether pf was running when `open` asked which interface answers,
    /// taken by the first [`Device::running`] (which then needs no second
    /// question: the helper's start-up cost is mostly such calls).
    probed_running: Cell<Option<bool>>,
}

/// A socket on pf's generic netlink family, opened with `/dev/pf` while
/// the helper is root: netlink checks a command's privilege against the
/// credentials the socket was created with (nlp_has_priv in
/// sys/netlink/netlink_module.c), so killing states (`PRIV_NETINET_PF`)
/// still works after the privilege drop, as ioctls on `/dev/pf` do.
#[derive(Debug)]
struct Netlink {
    socket: OwnedFd,
    family: u16,
    seq: Cell<u32>,
}

/// Why a netlink exchange failed.
enum Exchange {
    /// A system call failed.
    System(Errno),
    /// The kernel's answer said no, or did not say.
    Answer(status::StatusError),
}

impl Netlink {
    /// Opens the socket and asks the controller for pf's family; `None`
    /// where this kernel has no netlink or no family "pfctl".
    fn open() -> Option<Netlink> {
        let socket = netlink_socket().ok()?;
        let timeout = TimeVal::new(NETLINK_TIMEOUT_SECONDS, 0);
        setsockopt(&socket, sockopt::ReceiveTimeout, &timeout).ok()?;
        let netlink = Netlink {
            socket,
            family: 0,
            seq: Cell::new(0),
        };
        let family = netlink
            .exchange(
                &status::family_request(netlink.next_seq()),
                status::family_id,
            )
            .ok()?;
        Some(Netlink { family, ..netlink })
    }

    fn next_seq(&self) -> u32 {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        seq
    }

    /// pf's `PF_GS_RUNNING`, or `None` if the kernel does not say.
    fn running(&self) -> Option<bool> {
        let family = self.family;
        self.exchange(&status::status_request(family, self.next_seq()), |answer| {
            status::running(answer, family)
        })
        .ok()
    }

    /// Sends `request` and parses the datagram that answers it: the
    /// first whose sequence number is the request's (an answer to an
    /// earlier request that timed out is skipped).
    fn exchange<T>(
        &self,
        request: &[u8],
        parse: impl Fn(&[u8]) -> Result<T, status::StatusError>,
    ) -> Result<T, Exchange> {
        let fd = self.socket.as_raw_fd();
        send(fd, request, MsgFlags::empty()).map_err(Exchange::System)?;
        let seq = status::sequence(request);
        let mut answer = vec![0u8; NETLINK_ANSWER_SIZE];
        loop {
            let len = recv(fd, &mut answer, MsgFlags::empty()).map_err(Exchange::System)?;
            let datagram = &answer[..len.min(answer.len())];
            if status::sequence(datagram) == seq {
                return parse(datagram).map_err(Exchange::Answer);
            }
        }
    }
}

/// Kills the request's state over netlink (`PFNL_CMD_KILLSTATES`).
fn netlink_kill(
    netlink: &Netlink,
    client: SocketAddr,
    server: SocketAddr,
) -> Result<(), FirewallError> {
    const WHAT: &str = "forgetting the redirected request's state (PFNL_CMD_KILLSTATES)";
    let family = netlink.family;
    let Some(request) = status::kill_request(family, netlink.next_seq(), client, server) else {
        return Ok(());
    };
    let errno = match netlink.exchange(&request, |answer| status::done(answer, family)) {
        Ok(()) => return Ok(()),
        Err(Exchange::System(e)) => e,
        // netlink answers errors as negative errno values.
        Err(Exchange::Answer(status::StatusError::Kernel(code))) => {
            Errno::from_raw(code.saturating_abs())
        }
        Err(Exchange::Answer(e)) => {
            return Err(FirewallError::System {
                what: WHAT,
                source: std::io::Error::other(e),
            })
        }
    };
    Err(match errno {
        Errno::EPERM | Errno::EACCES => FirewallError::PermissionDenied {
            what: WHAT,
            hint: " (pf's netlink socket lacks PRIV_NETINET_PF)",
        },
        e => FirewallError::errno(WHAT, e as i32),
    })
}

/// The error for a failed open of `/dev/pf`.
pub fn open_error(errno: Errno) -> FirewallError {
    match errno {
        Errno::EACCES | Errno::EPERM => FirewallError::PermissionDenied {
            what: "opening /dev/pf for writing",
            hint: " (the helper must be started as root)",
        },
        Errno::ENOENT | Errno::ENXIO | Errno::ENODEV => FirewallError::errno(
            "opening /dev/pf (is pf loaded? kldload pf, or pf_enable=\"YES\" in rc.conf)",
            errno as i32,
        ),
        _ => FirewallError::errno("opening /dev/pf", errno as i32),
    }
}

/// The error for a failed rule change (`what` names the step).
fn change_error(what: &'static str, errno: Errno) -> FirewallError {
    match errno {
        // pfioctl refuses every rule change once securelevel_gt(cred, 2).
        Errno::EPERM => FirewallError::PermissionDenied {
            what,
            hint: " (pf refuses rule changes at securelevel 3, see security(7))",
        },
        Errno::EACCES => FirewallError::PermissionDenied {
            what,
            hint: " (/dev/pf is open read-only)",
        },
        // pfioctl's default case: a request code this kernel does not know.
        Errno::ENODEV => incompatible(what),
        Errno::EBUSY => FirewallError::errno(
            "changing pf rules (another pfctl -f or transaction kept taking the tickets)",
            errno as i32,
        ),
        _ => FirewallError::errno(what, errno as i32),
    }
}

/// The error for a failed `DIOCXBEGIN`: EINVAL there means pf could not
/// create the anchor, which at run time is its anchor limit: reported as
/// busy (`limits.rs`).
fn begin_error(errno: Errno) -> FirewallError {
    crate::firewall::pf::limits::exhausted(crate::firewall::pf::limits::Step::Begin, errno)
        .unwrap_or_else(|| change_error(Step::Begin.what(), errno))
}

fn failed_error((what, errno): Failed) -> FirewallError {
    if what == Step::Begin.what() {
        begin_error(errno)
    } else {
        change_error(what, errno)
    }
}

/// ENODEV from pf: the kernel does not know this request code, or (for a
/// transaction) its `pfioc_trans_e` has another size: the kernel's
/// pfvar.h is not the one the helper was built with.
fn incompatible(what: &'static str) -> FirewallError {
    FirewallError::Incompatible {
        what,
        detail: format!(
            "built against FreeBSD {}.x headers (__FreeBSD_version {HEADERS_VERSION})",
            HEADERS_VERSION / 100_000
        ),
    }
}

fn encode_error(e: EncodeError) -> FirewallError {
    FirewallError::System {
        what: "encoding a pf request",
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
    }
}

impl Device {
    /// Opens `/dev/pf`, for writing too when `writable`.
    pub fn open(writable: bool) -> Result<Device, Errno> {
        let pf = PfDevice::open(writable)?;
        let mut device = Device {
            pf,
            states: StateInterface::Nvlist,
            probed_running: Cell::new(None),
        };
        match device.nv_status() {
            Ok(answer) => device.probed_running.set(nvrequest::running(&answer)),
            Err(_) => {
                device.states =
                    Netlink::open().map_or(StateInterface::Neither, StateInterface::Netlink)
            }
        }
        Ok(device)
    }

    /// Which kernel interface answers pf's status and kills states, for
    /// the log.
    pub fn interface(&self) -> &'static str {
        match self.states {
            StateInterface::Nvlist => "pf's nvlist ioctls (DIOCGETSTATUSNV, DIOCKILLSTATESNV)",
            StateInterface::Netlink(_) => "pf's netlink family \"pfctl\" (PFNL_CMD_GET_STATUS, PFNL_CMD_KILLSTATES)",
            StateInterface::Neither => "neither pf's nvlist ioctls nor its netlink family: pf's status is not checked and single-port servers are not served",
        }
    }

    /// Issues the nvlist ioctl `code` with `request` and reads the
    /// kernel's answer into `buffer`, grown while the kernel says it is
    /// too small (pf_ioctl.c: ENOSPC when `size` is below the answer's
    /// length).
    fn nv_call(
        &self,
        code: c_ulong,
        request: &NvList,
        buffer: &mut Vec<u8>,
    ) -> Result<NvList, NvFailed> {
        let packed = request.pack();
        let mut capacity = packed.len().max(NV_ANSWER_MIN).max(buffer.len());
        loop {
            buffer.clear();
            buffer.resize(capacity, 0);
            buffer[..packed.len()].copy_from_slice(&packed);
            let mut nv = pfioc_nv {
                data: buffer.as_mut_ptr().cast(),
                len: packed.len(),
                size: buffer.len(),
            };
            // SAFETY: the descriptor is open for as long as `self.pf`
            // lives; `code` encodes `size_of::<pfioc_nv>()` (checked above)
            // and `nv` is exclusively borrowed for the call. The kernel
            // copies in `nv.len` bytes from `nv.data` and copies out at
            // most `nv.size` bytes to it (pf_ioctl.c: copyin of `len`,
            // ENOSPC rather than a copyout beyond `size`); `nv.data` points
            // at `buffer`, `nv.size == buffer.len()` bytes, exclusively
            // borrowed and not moved for the whole call, and
            // `nv.len <= nv.size`.
            let rc = unsafe { libc::ioctl(self.pf.as_raw_fd(), code, std::ptr::from_mut(&mut nv)) };
            match Errno::result(rc) {
                Ok(_) => {
                    let len = nv.len.min(buffer.len());
                    return NvList::unpack(&buffer[..len]).map_err(NvFailed::Answer);
                }
                Err(Errno::ENOSPC) if capacity < NV_ANSWER_MAX => capacity *= 2,
                Err(e) => return Err(NvFailed::System(e)),
            }
        }
    }

    /// pf's status over `DIOCGETSTATUSNV`.
    fn nv_status(&self) -> Result<NvList, NvFailed> {
        self.nv_call(
            DIOCGETSTATUSNV,
            &nvrequest::status_request(),
            &mut Vec::new(),
        )
    }

    /// Runs one transaction step over `elements` (the kernel fills in the
    /// tickets on `Begin`).
    fn transact(&self, step: Step, elements: &mut [pfioc_trans_e]) -> Result<(), Failed> {
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
        Errno::result(rc).map(drop).map_err(|e| (step.what(), e))
    }

    /// Whether pf is enabled. FreeBSD 15 removed `DIOCGETSTATUS`; the
    /// status is read with `DIOCGETSTATUSNV`, or over generic netlink
    /// (`PFNL_CMD_GET_STATUS`, see `netlink.rs`) where that is gone.
    /// Where the kernel cannot answer (neither interface, an answer
    /// without the flag) the check is skipped and pf is taken as enabled:
    /// with pf disabled nothing is redirected, and every lookup reports
    /// that no redirect was found.
    pub fn running(&self) -> Result<bool, FirewallError> {
        if let Some(running) = self.probed_running.take() {
            return Ok(running);
        }
        let running = match &self.states {
            StateInterface::Nvlist => self
                .nv_status()
                .ok()
                .and_then(|answer| nvrequest::running(&answer)),
            StateInterface::Netlink(netlink) => netlink.running(),
            StateInterface::Neither => None,
        };
        Ok(running.unwrap_or(true))
    }

    /// Kills pf's state of the UDP flow from `client` to `server`: the
    /// client's redirected request (`DIOCKILLSTATESNV`, or
    /// `PFNL_CMD_KILLSTATES`; FreeBSD 15 has no plain `DIOCKILLSTATES`).
    /// No state to kill is no error.
    pub fn kill_request_state(
        &self,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Result<(), FirewallError> {
        match &self.states {
            StateInterface::Nvlist => self.nv_kill(client, server),
            StateInterface::Netlink(netlink) => netlink_kill(netlink, client, server),
            StateInterface::Neither => Err(FirewallError::System {
                what: "forgetting the redirected request's state",
                source: std::io::Error::other(
                    "this kernel's pf has neither DIOCKILLSTATESNV nor a netlink family \"pfctl\"",
                ),
            }),
        }
    }

    fn nv_kill(&self, client: SocketAddr, server: SocketAddr) -> Result<(), FirewallError> {
        const WHAT: &str = "forgetting the redirected request's state (DIOCKILLSTATESNV)";
        let Some(request) = nvrequest::kill_request(client, server) else {
            return Ok(());
        };
        match self.nv_call(DIOCKILLSTATESNV, &request, &mut Vec::new()) {
            Ok(_) => Ok(()),
            Err(NvFailed::Answer(e)) => Err(FirewallError::BadAnswer {
                what: WHAT,
                detail: e.to_string(),
            }),
            Err(NvFailed::System(errno)) => Err(match errno {
                // pfioctl: a descriptor opened read-only may not kill.
                Errno::EACCES => FirewallError::PermissionDenied {
                    what: WHAT,
                    hint: " (/dev/pf is open read-only)",
                },
                Errno::EPERM => FirewallError::PermissionDenied {
                    what: WHAT,
                    hint: " (pf refuses state changes at securelevel 3, see security(7))",
                },
                Errno::ENODEV => incompatible(WHAT),
                e => FirewallError::errno(WHAT, e as i32),
            }),
        }
    }

    /// Whether the main ruleset calls `<parent>/*` from both rulesets the
    /// return paths live in: `rdr-anchor "<parent>/*"` (translation) and
    /// `anchor "<parent>/*"` (filter). A missing one is
    /// [`FirewallError::RulesetMissing`] naming the line. Each rule is
    /// read with `DIOCGETRULES` (count and ticket) and `DIOCGETRULENV`
    /// (the rule as an nvlist with its `anchor_call`). A kernel without
    /// `DIOCGETRULENV` cannot be asked: then the rulesets are not checked.
    pub fn main_ruleset_calls(&self, parent: &str) -> Result<bool, FirewallError> {
        for ruleset in MainRuleset::ALL {
            match self.main_calls(ruleset, parent)? {
                Some(false) => {
                    return Err(FirewallError::RulesetMissing {
                        what: format!("the line `{}` in pf's main ruleset", ruleset.line(parent)),
                    })
                }
                Some(true) => {}
                None => return Ok(true),
            }
        }
        Ok(true)
    }

    /// Whether the main ruleset's `ruleset` holds a rule calling
    /// `<parent>/*` (stopping at the first), or `None` if this kernel
    /// cannot say. A ruleset replaced while it is read (EBUSY) is read
    /// again.
    fn main_calls(
        &self,
        ruleset: MainRuleset,
        parent: &str,
    ) -> Result<Option<bool>, FirewallError> {
        const WHAT: &str = "reading pf's main ruleset (DIOCGETRULES)";
        const WHAT_NV: &str = "reading a rule of pf's main ruleset (DIOCGETRULENV)";
        let mut buffer = Vec::new();
        let mut last = Errno::EBUSY;
        'attempt: for _ in 0..ATTEMPTS {
            let mut query = rule::main_rules_query(ruleset.action());
            self.pf.call(GET_RULES, &mut query).map_err(|e| match e {
                Errno::ENODEV => incompatible(WHAT),
                _ => FirewallError::errno(WHAT, e as i32),
            })?;
            for nr in 0..query.nr {
                let request = nvrequest::rule_request(ruleset, query.ticket, nr);
                match self.nv_call(DIOCGETRULENV, &request, &mut buffer) {
                    Ok(answer) => {
                        let call = nvrequest::anchor_call(&answer).unwrap_or_default();
                        if nvrequest::calls_children(&[call.to_owned()], parent) {
                            return Ok(Some(true));
                        }
                    }
                    Err(NvFailed::System(Errno::ENODEV | Errno::ENOTTY)) => return Ok(None),
                    // The ruleset was replaced meanwhile (a new ticket).
                    Err(NvFailed::System(Errno::EBUSY)) => continue 'attempt,
                    Err(NvFailed::System(e)) => {
                        last = e;
                        break 'attempt;
                    }
                    Err(NvFailed::Answer(e)) => {
                        return Err(FirewallError::BadAnswer {
                            what: WHAT_NV,
                            detail: e.to_string(),
                        })
                    }
                }
            }
            return Ok(Some(false));
        }
        Err(FirewallError::errno(WHAT_NV, last as i32))
    }

    /// Looks up the redirected flow a datagram from `client` to `local`
    /// belongs to; returns the kernel's answer. pf_ioctl.c (DIOCNATLOOK):
    /// ENOENT for no state, E2BIG for more than one.
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

    /// Replaces both rulesets of `anchor` with `rules` in one transaction.
    ///
    /// The pool buffer and its ticket are global in pf: a `pfctl -f` or
    /// another helper between `DIOCBEGINADDRS` and `DIOCADDRULE` makes
    /// `DIOCADDADDR` or `DIOCADDRULE` fail with EBUSY (pf_ioctl.c,
    /// pf_ioctl_addrule: `pool_ticket != V_ticket_pabuf`), as does a
    /// transaction that replaced the anchor's rulesets meanwhile. The
    /// whole transaction is then tried again, up to [`ATTEMPTS`] times.
    /// If it still fails, a fresh empty transaction discards what was
    /// staged and leaves no anchor behind: nothing half-built is ever
    /// committed.
    pub fn install(&self, anchor: &str, rules: &mut [Staged]) -> Result<(), FirewallError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.try_install(anchor, rules) {
                Ok(()) => return Ok(()),
                Err(EncodeOr::Encode(e)) => {
                    let _ = self.empty(anchor);
                    return Err(encode_error(e));
                }
                Err(EncodeOr::Kernel((what, Errno::EBUSY))) => last = Some((what, Errno::EBUSY)),
                Err(EncodeOr::Kernel(failed)) => {
                    let _ = self.empty(anchor);
                    return Err(failed_error(failed));
                }
            }
        }
        let _ = self.empty(anchor);
        Err(failed_error(
            last.unwrap_or(("changing pf rules", Errno::EBUSY)),
        ))
    }

    /// One attempt of [`Device::install`].
    fn try_install(&self, anchor: &str, rules: &mut [Staged]) -> Result<(), EncodeOr> {
        let mut elements = rule::transaction_elements(anchor).map_err(EncodeOr::Encode)?;
        self.transact(Step::Begin, &mut elements)
            .map_err(EncodeOr::Kernel)?;
        for staged in rules.iter_mut() {
            // Every DIOCADDRULE carries the current pool ticket, whether
            // or not its rule has pool addresses.
            let mut pool = staged.pool.unwrap_or_default();
            self.pf.call(BEGIN_ADDRS, &mut pool).map_err(|e| {
                EncodeOr::Kernel(("starting a pf address pool (DIOCBEGINADDRS)", e))
            })?;
            if staged.pool.is_some() {
                self.pf.call(ADD_ADDR, &mut pool).map_err(|e| {
                    EncodeOr::Kernel(("adding the redirect target (DIOCADDADDR)", e))
                })?;
            }
            staged.rule.ticket = elements[staged.ruleset.element()].ticket;
            staged.rule.pool_ticket = pool.ticket;
            self.pf
                .call(ADD_RULE, &mut staged.rule)
                .map_err(|e| EncodeOr::Kernel(("adding a pf rule (DIOCADDRULE)", e)))?;
        }
        self.transact(Step::Commit, &mut elements)
            .map_err(EncodeOr::Kernel)
    }

    /// Checks at start that pf will take this helper's rules, using the
    /// scratch anchor `anchor`: DIOCXBEGIN is refused (EPERM) above
    /// securelevel 2, and a kernel whose `struct pf_rule` differs from
    /// these headers does not know this DIOCADDRULE (ENODEV). The probe
    /// rule carries a stale ticket, so a kernel that knows the request
    /// refuses it (EBUSY) and nothing is staged. A fresh empty transaction
    /// then removes the scratch anchor again.
    pub fn check_rule_changes(&self, anchor: &str) -> Result<(), FirewallError> {
        let mut elements = rule::transaction_elements(anchor).map_err(encode_error)?;
        self.transact(Step::Begin, &mut elements)
            .map_err(failed_error)?;
        let mut probe = rule::probe_rule(anchor).map_err(encode_error)?;
        probe.ticket = elements[rule::Ruleset::Filter.element()]
            .ticket
            .wrapping_add(1);
        let known = match self.pf.call(ADD_RULE, &mut probe) {
            Err(Errno::ENODEV) => Err(incompatible("adding a pf rule (DIOCADDRULE)")),
            // Any other answer means pf knows the request.
            _ => Ok(()),
        };
        let emptied = self.empty(anchor);
        known.and(emptied)
    }

    /// Commits empty rulesets (RDR and FILTER) into `anchor`, which
    /// removes the anchor. A concurrent transaction on the same anchor
    /// makes one commit fail with EBUSY: that one tries again.
    pub fn empty(&self, anchor: &str) -> Result<(), FirewallError> {
        let mut elements = rule::transaction_elements(anchor).map_err(encode_error)?;
        let mut attempt = || {
            self.transact(Step::Begin, &mut elements)?;
            self.transact(Step::Commit, &mut elements)
        };
        let mut result = attempt();
        for _ in 1..ATTEMPTS {
            match result {
                Err((what, Errno::EBUSY)) if what == Step::Commit.what() => result = attempt(),
                _ => break,
            }
        }
        result.map_err(failed_error)
    }

    /// How a return path's anchor was used, read just before the reaper
    /// empties it: its FILTER rules (DIOCGETRULES, then DIOCGETRULENV
    /// for each, sys/netpfil/pf/pf_ioctl.c) decoded by `outcome.rs`. An
    /// anchor already gone (DIOCGETRULES: EINVAL, pf_find_ruleset()
    /// found none) or any failure is [`PathUse::Unknown`].
    pub fn anchor_use(&self, anchor: &str) -> PathUse {
        let Ok(mut query) = rule::anchor_filter_rules_query(anchor) else {
            return PathUse::Unknown;
        };
        if self.pf.call(GET_RULES, &mut query).is_err() {
            return PathUse::Unknown;
        }
        let mut buffer = Vec::new();
        let mut rules = Vec::new();
        for nr in 0..query.nr {
            let request =
                nvrequest::anchor_rule_request(anchor, MainRuleset::Filter, query.ticket, nr);
            let Ok(answer) = self.nv_call(DIOCGETRULENV, &request, &mut buffer) else {
                return PathUse::Unknown;
            };
            match nvrequest::rule_counters(&answer) {
                Some(counted) => rules.push(counted),
                None => return PathUse::Unknown,
            }
        }
        outcome::judge(outcome::freebsd::read_counted(&rules))
    }

    /// The names of the anchors directly below `parent`.
    pub fn children(&self, parent: &str) -> Result<Vec<String>, FirewallError> {
        let what = "listing pf anchors (DIOCGETRULESETS)";
        let mut query = rule::ruleset_query(parent, 0).map_err(encode_error)?;
        self.pf
            .call(GET_RULESETS, &mut query)
            .map_err(|e| match e {
                // pf_ioctl.c (DIOCGETRULESETS): EINVAL for a path with no ruleset.
                Errno::EINVAL | Errno::ENOENT => FirewallError::RulesetMissing {
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

/// How long the kernel may take to answer a netlink request.
const NETLINK_TIMEOUT_SECONDS: i64 = 1;

/// The largest answer read: pf's status message with its counters and
/// their names is a few kilobytes.
const NETLINK_ANSWER_SIZE: usize = 64 * 1024;

/// A generic netlink socket (`AF_NETLINK`, `NETLINK_GENERIC`,
/// sys/netlink/netlink.h), which nix cannot create on FreeBSD.
fn netlink_socket() -> Result<OwnedFd, Errno> {
    // SAFETY: socket(2) takes three integers and returns a new descriptor
    // or -1; nothing is borrowed. A non-negative result is a descriptor
    // this process owns and nothing else holds, so `OwnedFd` may take it
    // (and close it on drop).
    unsafe {
        let fd = libc::socket(
            AF_NETLINK as i32,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_GENERIC as i32,
        );
        Errno::result(fd).map(|fd| OwnedFd::from_raw_fd(fd))
    }
}

/// Why one install attempt stopped.
enum EncodeOr {
    Encode(EncodeError),
    Kernel(Failed),
}
