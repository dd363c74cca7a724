//! Where the helper's words go: syslog (facility daemon, with the pid) or,
//! with `-d` outside inetd, standard error.
//!
//! This module owns the sink, the severity of each line, and keeping
//! logging from ever hurting serving: writes never block (a line that
//! cannot be written at once is dropped and counted, and the count is
//! logged once syslog takes lines again), and refusals are rate-limited per
//! client ([`Log::refusal`]). Callers own the wording.
//!
//! It never writes to standard output or input, nor to standard error when
//! that is a socket: under inetd those are the client's socket. When syslog
//! cannot be reached at start it says so once on the kernel log or console
//! (`console.rs`) and keeps going.
//!
//! Files: `datagram.rs` the non-blocking syslog socket; `throttle.rs` the
//! per-client rate limit; `console.rs` the one-line fallback notice;
//! `openbsd.rs` OpenBSD's syslog(3).

mod console;
mod datagram;
#[cfg(target_os = "openbsd")]
#[allow(unsafe_code)] // two libc calls; each block says why it is sound
mod openbsd;
pub mod throttle;

use datagram::Datagram;
use std::fmt::Display;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;
use syslog::Severity;
use throttle::{Admit, Throttle};

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The helper cannot do its job.
    Error,
    /// A request was malformed or could not be served.
    Warning,
    /// A request was refused by policy.
    Notice,
    /// A request was forwarded.
    Info,
}

impl Level {
    fn severity(self) -> Severity {
        match self {
            Level::Error => Severity::LOG_ERR,
            Level::Warning => Severity::LOG_WARNING,
            Level::Notice => Severity::LOG_NOTICE,
            Level::Info => Severity::LOG_INFO,
        }
    }

    #[cfg(target_os = "openbsd")]
    fn priority(self) -> libc::c_int {
        match self {
            Level::Error => libc::LOG_ERR,
            Level::Warning => libc::LOG_WARNING,
            Level::Notice => libc::LOG_NOTICE,
            Level::Info => libc::LOG_INFO,
        }
    }
}

enum Sink {
    /// A syslog datagram socket, written without blocking.
    Datagram(Box<Datagram>),
    /// OpenBSD's own syslog(3) (sendsyslog(2)).
    #[cfg(target_os = "openbsd")]
    System,
    /// `-d`, outside inetd.
    Stderr,
}

/// The log every part of the helper writes to.
pub struct Log {
    sink: Sink,
    /// Whether `-v` asked for details (options, installed rules).
    pub verbose: bool,
    /// Lines that could not be written, not yet reported.
    dropped: u64,
    refusals: Throttle<IpAddr>,
}

impl Log {
    /// Logs to standard error (`-d`).
    pub fn stderr(verbose: bool) -> Log {
        Log::with(Sink::Stderr, verbose)
    }

    /// The log the command line asks for: standard error with `-d`
    /// (`debug`) unless standard error is a socket (inetd's), else syslog
    /// at `socket` or the system's.
    pub fn open(debug: bool, socket: Option<&Path>, verbose: bool) -> Log {
        if debug && !stderr_is_socket() {
            Log::stderr(verbose)
        } else {
            Log::syslog(socket, verbose)
        }
    }

    /// Logs to the syslog socket at `socket`, or to the system's syslog.
    /// Never fails: if syslog cannot be reached now, that is said once on
    /// the kernel log or console, lines are dropped and counted, and the
    /// socket is tried again at most once a second.
    pub fn syslog(socket: Option<&Path>, verbose: bool) -> Log {
        #[cfg(target_os = "openbsd")]
        if socket.is_none() {
            openbsd::open();
            return Log::with(Sink::System, verbose);
        }
        let (sink, connected) = Datagram::connect(socket);
        if let Err(e) = connected {
            console::tell(&format!(
                "syslog unreachable ({e}); serving on, log lines are counted until it answers"
            ));
        }
        Log::with(Sink::Datagram(Box::new(sink)), verbose)
    }

    fn with(sink: Sink, verbose: bool) -> Log {
        Log {
            sink,
            verbose,
            dropped: 0,
            refusals: Throttle::default(),
        }
    }

    /// Writes one line, never waiting: a line that cannot be written now
    /// is counted, and the count is logged first once lines go through.
    pub fn line(&mut self, level: Level, message: impl Display) {
        let message = message.to_string();
        if !self.report_dropped() {
            self.dropped += 1;
            return;
        }
        if !self.emit(level, &message) {
            self.dropped += 1;
        }
    }

    /// Logs the count of dropped lines if there is one; returns whether
    /// the log takes lines again (true when nothing was dropped).
    fn report_dropped(&mut self) -> bool {
        if self.dropped == 0 {
            return true;
        }
        let report = format!(
            "{} log line(s) dropped: syslog was not taking lines",
            self.dropped
        );
        if self.emit(Level::Warning, &report) {
            self.dropped = 0;
            true
        } else {
            false
        }
    }

    fn emit(&mut self, level: Level, message: &str) -> bool {
        match &mut self.sink {
            Sink::Datagram(sink) => sink.send(level.severity(), message).is_ok(),
            #[cfg(target_os = "openbsd")]
            Sink::System => {
                openbsd::send(level.priority(), message);
                true
            }
            // A failed write is ignored (eprintln! would panic).
            Sink::Stderr => {
                let _ = writeln!(
                    std::io::stderr(),
                    "tftp-proxy[{}]: {message}",
                    std::process::id()
                );
                true
            }
        }
    }

    /// Writes a line about a refused datagram from `client`, rate-limited
    /// per client: past a few lines in a window the rest are counted and
    /// summarized ("suppressed N similar refusals from C") when the window
    /// is over (see [`Log::tick`]).
    pub fn refusal(&mut self, client: IpAddr, level: Level, message: impl Display) {
        if self.refusals.admit(&client, Instant::now()) == Admit::Log {
            self.line(level, message);
        }
    }

    /// Housekeeping for a serve loop to call when it has time: summaries of
    /// windows that are over, and the count of dropped lines.
    pub fn tick(&mut self) {
        self.summarize(false);
        self.report_dropped();
    }

    fn summarize(&mut self, flush: bool) {
        for summary in self.refusals.due(Instant::now(), flush) {
            let from = summary
                .client
                .map_or_else(|| "other clients".to_owned(), |c| c.to_string());
            self.line(
                Level::Notice,
                format_args!(
                    "suppressed {} similar refusals from {from}",
                    summary.suppressed
                ),
            );
        }
    }

    /// Writes an error line.
    pub fn error(&mut self, message: impl Display) {
        self.line(Level::Error, message);
    }

    /// Writes a warning line.
    pub fn warning(&mut self, message: impl Display) {
        self.line(Level::Warning, message);
    }

    /// Writes a notice line.
    pub fn notice(&mut self, message: impl Display) {
        self.line(Level::Notice, message);
    }

    /// Writes an informational line.
    pub fn info(&mut self, message: impl Display) {
        self.line(Level::Info, message);
    }
}

impl Drop for Log {
    /// The last summaries and the dropped count, as the process exits.
    fn drop(&mut self) {
        self.summarize(true);
        self.report_dropped();
    }
}

/// Whether standard error is a socket (inetd's, the client's).
fn stderr_is_socket() -> bool {
    use nix::sys::stat::{fstat, SFlag};
    fstat(std::io::stderr()).is_ok_and(|st| {
        SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFSOCK
    })
}
