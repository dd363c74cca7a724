//! The reaper: a detached child that empties each return path's anchor
//! once the transfer wait is over, so that the helper itself never waits
//! (inetd gets its socket back as soon as the queue is served) and no
//! rule outlives its wait even if the helper is killed.
//!
//! [`Pf::open`](super::Pf::open) forks it before privileges are dropped,
//! so the helper can pledge without "proc" on OpenBSD. The helper writes each new
//! anchor's path to it, one per line with its deadline (`expiry.rs`),
//! before installing the anchor; the reaper empties it at that deadline,
//! `transfer_wait` after the helper wrote the line. When the helper's
//! end of the pipe closes, the reaper empties the anchors still pending
//! at their time and exits. Anchors are named after the reaper's pid: an
//! anchor whose reaper is gone is stale, and the next helper sweeps it.
//!
//! Just before it empties an anchor, the reaper reads how its
//! answer-catching rule was used (`Device::anchor_use`, decoded by
//! `outcome.rs`) and reports it on a second pipe (`report.rs`), which the
//! helper reads without blocking ([`Reaper::reports`]). The reaper never
//! waits for the helper: its end of that pipe does not block, and a
//! report that does not fit, or comes after the helper exited, is
//! dropped (the outcome is then unknown).
//!
//! This module owns the child's whole life and its protocol. The child
//! keeps only `/dev/pf` and the pipe: it detaches from the helper's
//! session and standard descriptors (inetd's socket), drops to the
//! helper's unprivileged user (`-u`, passed in [`super::PfOptions`]) in
//! `/var/empty`. It is not pledged: pledge "pf" forbids the ioctls that
//! read an anchor's rules (see `kernel::limit_to_pf`). It must not touch
//! the client socket, log, or do anything but read and empty anchors.

use super::expiry;
use super::fork::{self, Forked};
use super::kernel::{self, Device};
use super::report::{self, Lines};
use crate::firewall::FirewallError;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The helper's handle on its reaper.
#[derive(Debug)]
pub struct Reaper {
    pid: Pid,
    pipe: File,
    /// The read end of the reports' pipe, non-blocking.
    reports: File,
    /// A report read only in part so far.
    partial: Lines,
    /// Taken before the fork: the reaper's copy is the same instant.
    epoch: Instant,
    wait: Duration,
}

impl Reaper {
    /// Forks the reaper for anchors of `device`, each emptied `wait` after
    /// the helper announces it ([`Reaper::expire`]). See [`fork::fork`]
    /// for the caller's duty.
    pub fn spawn(device: &Device, wait: Duration, user: &str) -> Result<Reaper, FirewallError> {
        let (read, write) = nix::unistd::pipe()
            .map_err(|e| FirewallError::errno("creating the reaper's pipe", e as i32))?;
        let (report_read, report_write) = nix::unistd::pipe()
            .map_err(|e| FirewallError::errno("creating the reaper's report pipe", e as i32))?;
        // Neither side ever waits on the reports: the helper reads what
        // is there, the reaper drops what does not fit.
        for end in [&report_read, &report_write] {
            non_blocking(end)?;
        }
        let epoch = Instant::now();
        match fork::fork()? {
            Forked::Child => {
                drop(write);
                drop(report_read);
                run(
                    device,
                    File::from(read),
                    File::from(report_write),
                    epoch,
                    wait,
                    user,
                )
            }
            Forked::Parent(pid) => {
                drop(read);
                drop(report_write);
                Ok(Reaper {
                    pid,
                    pipe: File::from(write),
                    reports: File::from(report_read),
                    partial: Lines::default(),
                    epoch,
                    wait,
                })
            }
        }
    }

    /// The report lines the reaper has written since the last call, read
    /// without waiting (`report.rs` parses them).
    pub fn reports(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.reports.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => lines.extend(self.partial.feed(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: all read; anything else: nothing to read.
                Err(_) => break,
            }
        }
        lines
    }

    /// Why the reaper is gone, or `None` while it runs (`liveness.rs`).
    pub fn ended(&self) -> Option<String> {
        super::liveness::ended(self.pid, self.pipe.as_fd())
    }

    /// The reaper's pid: the owner part of the anchor names.
    pub fn pid(&self) -> u32 {
        u32::try_from(self.pid.as_raw()).unwrap_or_default()
    }

    /// Tells the reaper to empty `anchor` once the wait, counted from now,
    /// is over (see `expiry.rs`); told again for the same anchor, the
    /// reaper moves it to the new deadline.
    pub fn expire(&self, anchor: &str) -> Result<(), FirewallError> {
        let line = expiry::line(self.epoch, Instant::now() + self.wait, anchor);
        (&self.pipe)
            .write_all(line.as_bytes())
            .map_err(|source| FirewallError::System {
                what: "handing a new anchor to the reaper (has it died?)",
                source,
            })
    }
}

/// Whether no process `pid` exists any more (its anchors are stale).
pub fn is_gone(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    matches!(kill(Pid::from_raw(raw), None), Err(Errno::ESRCH))
}

/// Sets O_NONBLOCK on one end of a pipe.
fn non_blocking(end: &OwnedFd) -> Result<(), FirewallError> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(end, FcntlArg::F_GETFL)
        .map_err(|e| FirewallError::errno("reading the report pipe's flags", e as i32))?;
    fcntl(
        end,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map(drop)
    .map_err(|e| FirewallError::errno("making the report pipe non-blocking", e as i32))
}

/// The reaper's life; it never returns.
fn run(
    device: &Device,
    pipe: File,
    mut reports: File,
    epoch: Instant,
    wait: Duration,
    user: &str,
) -> ! {
    detach();
    let Some(anchors) = listen(pipe) else {
        // Without the reader the helper's next write fails (EPIPE) and it
        // reports that its return paths could not be scheduled.
        std::process::exit(1);
    };
    confine(user);

    let mut pending: VecDeque<(Instant, String)> = VecDeque::new();
    loop {
        let received = match pending.front() {
            Some((at, _)) => anchors.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => anchors.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(line) => match expiry::parse(epoch, &line) {
                // A new anchor, or a renewed one moved to its new deadline.
                Some((at, anchor)) => expiry::schedule(&mut pending, at, anchor),
                // Not the helper's format: the wait from now, to be safe.
                None => expiry::schedule(&mut pending, Instant::now() + wait, &line),
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        while let Some((at, _)) = pending.front() {
            if *at > now {
                break;
            }
            if let Some((_, anchor)) = pending.pop_front() {
                // Read just before emptying: a report written while the
                // helper still reads them.
                let line = report::line(&anchor, device.anchor_use(&anchor));
                // A full pipe (the helper is not reading) or a closed
                // one: the outcome stays unknown; the anchor must go.
                let _ = reports.write(line.as_bytes());
                empty(device, &anchor);
            }
        }
    }
    // The helper has exited (no one reads reports any more): finish what
    // is pending, each at its time.
    for (at, anchor) in pending {
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        empty(device, &anchor);
    }
    std::process::exit(0)
}

/// Empties one anchor. A failure is left to the next helper's sweep,
/// which empties anchors whose reaper is gone; there is no one to tell.
fn empty(device: &Device, anchor: &str) {
    let _ = device.empty(anchor);
}

/// Leaves the helper's session (a hangup there is not ours; the reaper
/// also ignores SIGHUP, SIGTERM and SIGINT) and its standard descriptors,
/// which inetd made the client socket: they become /dev/null.
fn detach() {
    let _ = nix::unistd::setsid();
    // Handlers that only set a flag nobody reads: SIGHUP, SIGTERM and
    // SIGINT are ignored, so that a signal stopping the helper (or a
    // pkill by name) never cuts the anchors' deadlines short; the reaper
    // exits by itself once the last one is emptied.
    for signal in [
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ] {
        let _ = signal_hook::flag::register(signal, Arc::new(AtomicBool::new(false)));
    }
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

/// Reads anchor paths off the pipe on a thread of their own, so the main
/// loop can wait for the next line and the next deadline at once. The
/// channel disconnects at end of file.
fn listen(pipe: File) -> Option<Receiver<String>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("reaper-pipe".to_owned())
        .spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(anchor) = line else { break };
                if sender.send(anchor).is_err() {
                    break;
                }
            }
        })
        .ok()?;
    Some(receiver)
}

/// Gives up everything but `/dev/pf`: the helper's unprivileged user in
/// `/var/empty` (or, if that user does not exist, root chrooted there),
/// then whatever the kernel adds (nothing on either: see
/// `kernel::limit_to_pf`). Failures
/// are not fatal: the reaper's job matters more than its confinement.
fn confine(user: &str) {
    if crate::privilege::drop_privileges(user).is_err() {
        let _ = nix::unistd::chroot("/var/empty");
        let _ = nix::unistd::chdir("/");
    }
    kernel::limit_to_pf();
}
