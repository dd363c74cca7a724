//! Where the helper's words go: syslog (facility daemon, with the pid) or,
//! with `-d` outside inetd, standard error.
//!
//! This module owns the sink, the severity of each line, and keeping
//! logging from ever hurting serving: writes never block (a line syslog
//! cannot take now waits in a short queue; past that it is dropped and
//! counted, and the count is logged once syslog takes lines again), and
//! refusals and ERROR replies are rate-limited per client and in total
//! ([`Log::refusal`], [`Log::reply_allowed`]),
//! and no line is longer than [`bounded::MAX_LINE`]. Callers own the
//! wording.
//!
//! It never writes to standard output or input, nor to standard error when
//! that is a socket: under inetd those are the client's socket. When syslog
//! cannot be reached at start it says so once on the kernel log or console
//! (`console.rs`) and keeps going.
//!
//! Every line goes through [`Log::line`] or [`Log::event`], which write it
//! in the chosen [`LogFormat`] (a sentence, or logfmt with `--log-format
//! kv`).
//!
//! Files: `datagram.rs` the non-blocking syslog socket; `format.rs` the
//! line's shape (sentence or logfmt); `throttle.rs` the
//! refusals' rate limit; `bounded.rs` the longest line and bounded lists; `console.rs` the one-line fallback notice;
//! `openbsd.rs` OpenBSD's syslog(3).

pub mod bounded;
mod console;
mod datagram;
pub mod format;
#[cfg(target_os = "openbsd")]
#[allow(unsafe_code)] // two libc calls; each block says why it is sound
mod openbsd;
pub mod throttle;

use datagram::Datagram;
pub use format::{Event, LogFormat};
use std::collections::VecDeque;
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
    /// The level's name in a logfmt line.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
        }
    }

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

/// Summary lines logged at once; more clients are folded into one line.
const MAX_SUMMARIES: usize = 10;

/// Lines kept while syslog's socket is full, before lines are dropped.
const MAX_PENDING: usize = 1024;

/// How long an exiting helper waits for syslog to take its last lines.
/// Serving is over; inetd listens again once the process is gone.
const EXIT_FLUSH: std::time::Duration = std::time::Duration::from_millis(500);

/// The log every part of the helper writes to.
pub struct Log {
    sink: Sink,
    /// Whether `-v` asked for details (options, installed rules).
    pub verbose: bool,
    /// The shape of every line.
    format: LogFormat,
    /// Lines waiting for syslog's socket to have room.
    pending: VecDeque<(Level, String)>,
    /// Lines that could not be written, not yet reported.
    dropped: u64,
    refusals: Throttle<IpAddr>,
    replies: Throttle<IpAddr>,
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
            format: LogFormat::Readable,
            pending: VecDeque::new(),
            dropped: 0,
            refusals: Throttle::default(),
            replies: Throttle::new(throttle::REPLY_BURST, throttle::GLOBAL_REPLY_BURST),
        }
    }

    /// Writes one line, never waiting. A line syslog cannot take now waits
    /// in a short queue (a reader that lags for a moment loses nothing);
    /// past that, or while syslog is unreachable, lines are counted, and
    /// the count is logged first once lines go through again.
    pub fn line(&mut self, level: Level, message: impl Display) {
        // Bounded before it is shaped, so a logfmt value is never cut.
        let message = bounded::cap(message.to_string());
        let text = match self.format {
            LogFormat::Readable => message,
            LogFormat::Kv => format::kv_message(level.name(), &message),
        };
        self.queue(level, text);
    }

    /// Writes a line with named fields: its sentence, or its fields with
    /// `--log-format kv`.
    pub fn event(&mut self, level: Level, event: &Event) {
        let text = match self.format {
            LogFormat::Readable => bounded::cap(event.text.clone()),
            LogFormat::Kv => format::kv_event(level.name(), event),
        };
        self.queue(level, text);
    }

    /// Sets the shape of every line from now on.
    pub fn set_format(&mut self, format: LogFormat) {
        self.format = format;
    }

    fn queue(&mut self, level: Level, text: String) {
        if self.pending.len() >= MAX_PENDING {
            self.dropped += 1;
        } else {
            self.pending.push_back((level, text));
        }
        self.flush();
    }

    /// Sends what is queued, as far as syslog takes it now.
    pub fn flush(&mut self) {
        loop {
            if self.dropped > 0 {
                let sentence = format!(
                    "{} log line(s) dropped: syslog was not taking lines",
                    self.dropped
                );
                let report = match self.format {
                    LogFormat::Readable => sentence,
                    LogFormat::Kv => format::kv_message(Level::Warning.name(), &sentence),
                };
                match self.emit(Level::Warning, &report) {
                    Sent::Yes => self.dropped = 0,
                    Sent::Later | Sent::Lost => return,
                }
            }
            let Some((level, message)) = self.pending.pop_front() else {
                return;
            };
            match self.emit(level, &message) {
                Sent::Yes => {}
                Sent::Later => {
                    self.pending.push_front((level, message));
                    return;
                }
                Sent::Lost => self.dropped += 1,
            }
        }
    }

    /// Whether lines wait for syslog to take them (the serve loop then
    /// comes back sooner, see [`Log::tick`]).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || self.dropped > 0
    }

    fn emit(&mut self, level: Level, message: &str) -> Sent {
        match &mut self.sink {
            Sink::Datagram(sink) => match sink.send(level.severity(), message) {
                Ok(()) => Sent::Yes,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Sent::Later,
                Err(_) => Sent::Lost,
            },
            #[cfg(target_os = "openbsd")]
            Sink::System => {
                openbsd::send(level.priority(), message);
                Sent::Yes
            }
            // A failed write is ignored (eprintln! would panic).
            Sink::Stderr => {
                let _ = writeln!(
                    std::io::stderr(),
                    "tftp-proxy[{}]: {message}",
                    std::process::id()
                );
                Sent::Yes
            }
        }
    }

    /// Writes a line about a refused datagram from `client`, rate-limited
    /// per client and in total: past a few lines in a window the rest are
    /// counted and summarized ("suppressed N similar refusals from C")
    /// when the window is over (see [`Log::tick`]).
    pub fn refusal(&mut self, client: IpAddr, level: Level, message: impl Display) {
        if self.refusals.admit(&client, Instant::now()) == Admit::Log {
            self.line(level, message);
        }
    }

    /// Whether a TFTP ERROR reply to `client` may be sent now: replies are
    /// rate-limited like refusal lines (per client and in total, with
    /// larger bursts), and the ones withheld are summarized ("withheld N
    /// ERROR replies to C").
    pub fn reply_allowed(&mut self, client: IpAddr) -> bool {
        self.replies.admit(&client, Instant::now()) == Admit::Log
    }

    /// Housekeeping for a serve loop to call when it has time: summaries of
    /// windows that are over, queued lines, the count of dropped ones.
    pub fn tick(&mut self) {
        self.summarize(false);
        self.flush();
    }

    /// Logs the summaries that are due, of refusal lines and of ERROR
    /// replies, each at most [`MAX_SUMMARIES`] lines: the rest are folded
    /// into one line.
    fn summarize(&mut self, flush: bool) {
        let now = Instant::now();
        let lines = self.refusals.due(now, flush);
        self.summary_lines(&lines, "suppressed", "similar refusals from");
        let replies = self.replies.due(now, flush);
        self.summary_lines(&replies, "withheld", "TFTP ERROR replies to");
    }

    fn summary_lines(&mut self, due: &[throttle::Summary<IpAddr>], verb: &str, what: &str) {
        let folded = due.len().saturating_sub(MAX_SUMMARIES - 1);
        let shown = if folded > 1 {
            MAX_SUMMARIES - 1
        } else {
            due.len()
        };
        for summary in &due[..shown] {
            let from = summary
                .client
                .map_or_else(|| "other clients".to_owned(), |c| c.to_string());
            self.line(
                Level::Notice,
                format_args!("{verb} {} {what} {from}", summary.suppressed),
            );
        }
        if shown < due.len() {
            let rest = &due[shown..];
            let count: u64 = rest.iter().map(|s| s.suppressed).sum();
            self.line(
                Level::Notice,
                format_args!("{verb} {count} {what} {} more clients", rest.len()),
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
    /// The last summaries, queued lines and the dropped count, as the
    /// process exits: syslog gets a moment ([`EXIT_FLUSH`]) to take them.
    fn drop(&mut self) {
        self.summarize(true);
        let deadline = Instant::now() + EXIT_FLUSH;
        self.flush();
        while self.has_pending() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            self.flush();
        }
    }
}

/// Whether syslog took a line.
enum Sent {
    Yes,
    /// Not now (its socket is full): keep the line.
    Later,
    /// Not at all (unreachable): the line is lost.
    Lost,
}

/// Whether standard error is a socket (inetd's, the client's).
fn stderr_is_socket() -> bool {
    use nix::sys::stat::{fstat, SFlag};
    fstat(std::io::stderr()).is_ok_and(|st| {
        SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFSOCK
    })
}
