//! Syslog over a Unix datagram socket that never blocks: RFC 3164 lines
//! (facility daemon, with the pid) sent with `MSG_DONTWAIT`-style
//! non-blocking writes.
//!
//! A full socket (the reader is slow or stopped) or an unreachable one
//! (syslogd restarting) makes a send fail at once; the caller counts the
//! line as dropped. A lost connection is re-made at most once a second.
//! This module owns the socket only; it never counts, throttles or writes
//! anywhere else.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use syslog::{Facility, Formatter3164, LogFormat, Severity};

/// Where syslog listens when no socket is named (the `syslog` crate's
/// list: Linux, macOS, the BSDs).
const SYSTEM_SOCKETS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];

/// How often a lost connection is tried again.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// One syslog datagram socket.
pub struct Datagram {
    custom: Option<PathBuf>,
    socket: Option<UnixDatagram>,
    last_attempt: Instant,
    formatter: Formatter3164,
}

impl Datagram {
    /// Connects to `custom`, or to the system's socket. Fails if none can
    /// be reached now; the caller decides whether to keep the sink.
    pub fn connect(custom: Option<&Path>) -> (Datagram, io::Result<()>) {
        let mut sink = Datagram {
            custom: custom.map(Path::to_path_buf),
            socket: None,
            last_attempt: Instant::now(),
            formatter: Formatter3164 {
                facility: Facility::LOG_DAEMON,
                hostname: None,
                process: "tftp-proxy".into(),
                pid: std::process::id(),
            },
        };
        let result = sink.reconnect().map(|socket| sink.socket = Some(socket));
        (sink, result)
    }

    fn reconnect(&mut self) -> io::Result<UnixDatagram> {
        self.last_attempt = Instant::now();
        let candidates: Vec<&Path> = match &self.custom {
            Some(path) => vec![path.as_path()],
            None => SYSTEM_SOCKETS.iter().map(Path::new).collect(),
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no syslog socket");
        for path in candidates {
            let socket = UnixDatagram::unbound()?;
            match socket.connect(path) {
                Ok(()) => {
                    socket.set_nonblocking(true)?;
                    return Ok(socket);
                }
                Err(e) => {
                    last = io::Error::new(e.kind(), format!("{}: {e}", path.display()));
                }
            }
        }
        Err(last)
    }

    /// Sends one line now or fails at once.
    pub fn send(&mut self, severity: Severity, message: &str) -> io::Result<()> {
        if self.socket.is_none() {
            if self.last_attempt.elapsed() < RECONNECT_EVERY {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "syslog unreachable",
                ));
            }
            self.socket = Some(self.reconnect()?);
        }
        let mut line = Vec::with_capacity(64 + message.len());
        self.formatter
            .format(&mut line, severity, message)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let Some(socket) = &self.socket else {
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        match socket.send(&line) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
            Err(e) => {
                // The reader went away (syslogd restarting): connect again later.
                self.socket = None;
                Err(e)
            }
        }
    }
}
