//! Where the helper's words go: syslog (facility daemon, with the pid) or,
//! with `-d`, standard error.
//!
//! This module owns the sink and the severity of each line; callers own
//! the wording. It never writes to standard output or input: under inetd
//! those are the client's socket.

use std::fmt::Display;
use std::io::Write;
use std::path::Path;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

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

enum Sink {
    Syslog(Box<Logger<LoggerBackend, Formatter3164>>),
    Stderr,
}

/// The log every part of the helper writes to.
pub struct Log {
    sink: Sink,
    /// Whether `-v` asked for details (options, installed rules).
    pub verbose: bool,
}

impl Log {
    /// Logs to standard error (`-d`).
    pub fn stderr(verbose: bool) -> Log {
        Log {
            sink: Sink::Stderr,
            verbose,
        }
    }

    /// Logs to the syslog socket at `socket` (or the system's default).
    pub fn syslog(socket: Option<&Path>, verbose: bool) -> Result<Log, syslog::Error> {
        let formatter = Formatter3164 {
            facility: Facility::LOG_DAEMON,
            hostname: None,
            process: "tftp-proxy".into(),
            pid: std::process::id(),
        };
        let logger = match socket {
            Some(path) => syslog::unix_custom(formatter, path)?,
            None => syslog::unix(formatter)?,
        };
        Ok(Log {
            sink: Sink::Syslog(Box::new(logger)),
            verbose,
        })
    }

    /// Writes one line.
    pub fn line(&mut self, level: Level, message: impl Display) {
        let message = message.to_string();
        match &mut self.sink {
            Sink::Syslog(logger) => {
                // A lost log line must not stop a phone from booting.
                let _ = match level {
                    Level::Error => logger.err(&message),
                    Level::Warning => logger.warning(&message),
                    Level::Notice => logger.notice(&message),
                    Level::Info => logger.info(&message),
                };
            }
            // Under inetd, standard error may be the client's socket: a failed
            // write is ignored (eprintln! would panic).
            Sink::Stderr => {
                let _ = writeln!(
                    std::io::stderr(),
                    "tftp-proxy[{}]: {message}",
                    std::process::id()
                );
            }
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
