//! `tftp-proxy --check`: the operator's check of the firewall's setup.
//!
//! This module owns the findings (one line each: `ok`, a warning, or a
//! fault with its fix) and the pure functions that judge what the system
//! reports: the nftables ruleset as `nft -j list ruleset` prints it, inetd
//! lines, pf's and the system's answers on OpenBSD and FreeBSD. Each platform's file
//! only gathers that data (it may run `nft` or `pfctl`: the check is run by
//! an operator, never while serving) and hands it to the pure functions.
//! Nothing here changes the system.

pub mod burst;
pub mod destinations;
#[cfg(any(target_os = "freebsd", test))]
pub mod freebsd;
pub mod inetd;
#[cfg(target_os = "linux")]
pub mod isolation;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub mod nftables;
#[cfg(any(target_os = "openbsd", test))]
pub mod openbsd;
#[cfg(any(target_os = "openbsd", target_os = "freebsd", test))]
pub mod pf;
pub mod systemd;
#[cfg(any(target_os = "freebsd", test))]
pub mod xinetd;

use std::fmt;
use std::path::PathBuf;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The setup is right in this respect.
    Ok,
    /// Probably works, but worth a look.
    Warning,
    /// Transfers will fail until this is fixed.
    Fault,
}

/// One check's line: what was found and, for a fault, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How the check ended.
    pub status: Status,
    /// What was found (and the fix, for warnings and faults).
    pub text: String,
}

impl Finding {
    /// A passed check.
    pub fn ok(text: impl Into<String>) -> Self {
        Finding {
            status: Status::Ok,
            text: text.into(),
        }
    }

    /// A warning.
    pub fn warning(text: impl Into<String>) -> Self {
        Finding {
            status: Status::Warning,
            text: text.into(),
        }
    }

    /// A fault.
    pub fn fault(text: impl Into<String>) -> Self {
        Finding {
            status: Status::Fault,
            text: text.into(),
        }
    }
}

impl fmt::Display for Finding {
    /// `ok: ...`, `warning: ...` or `FAULT: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Fault => "FAULT",
        };
        write!(f, "{tag}: {}", self.text)
    }
}

/// What the check needs from the command line.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The nftables table holding the maps (`--table`).
    pub table: String,
    /// The syslog socket the helper would log to (`--syslog-socket`).
    pub syslog_socket: Option<PathBuf>,
    /// The unprivileged user the helper becomes (`-u`).
    pub user: String,
    /// Whether the helper accepts a command line (`argv[0]` first), or
    /// the first line of the reason it refuses it.
    pub arguments: fn(&[String]) -> Result<(), String>,
    /// The mark on the helper's sockets toward the servers (`--mark`).
    pub mark: u32,
    /// Live return paths one client address may hold (`--max-per-client`).
    pub max_per_client: u64,
}

/// The port the shipped rules redirect to when no rule says otherwise.
pub const DEFAULT_HELPER_PORT: u16 = 6969;

/// Runs every check of this platform; the findings in order.
pub fn run(options: &CheckOptions) -> Vec<Finding> {
    #[cfg(target_os = "linux")]
    {
        linux::run(options)
    }
    #[cfg(target_os = "openbsd")]
    {
        openbsd::run(options)
    }
    #[cfg(target_os = "freebsd")]
    {
        freebsd::run(options)
    }
    #[cfg(not(any(target_os = "linux", target_os = "openbsd", target_os = "freebsd")))]
    {
        let _ = options;
        vec![Finding::fault("--check knows no checks for this system")]
    }
}

/// Whether the findings hold no fault (warnings pass).
pub fn passed(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.status != Status::Fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_verdict() {
        let findings = vec![
            Finding::ok("a"),
            Finding::warning("b: do c"),
            Finding::fault("d: do e"),
        ];
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["ok: a", "warning: b: do c", "FAULT: d: do e"]);
        assert!(!passed(&findings));
        assert!(passed(&findings[..2]));
    }
}
