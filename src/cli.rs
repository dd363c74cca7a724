//! Command-line flags, in OpenBSD style with long forms.

use clap::{ArgGroup, Parser};
use std::path::PathBuf;
use tftp_proxy::log::LogFormat;
use tftp_proxy::policy::Cidr;

/// `--idle` when none is given: spaced requests cost at most one start per
/// 10 s (6 a minute, against inetd's 256), and an idle helper lingers
/// only 10 s.
pub const DEFAULT_IDLE: u64 = 10;

/// The default `--mark`: the value the shipped etc/tftp-proxy.nft matches
/// ("tftp" in ASCII).
const DEFAULT_MARK: u32 = 0x7466_7470;

/// A mark in decimal or, with `0x`, hexadecimal (as nft prints it).
fn parse_mark(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("{text:?} is not a 32-bit mark ({e})"))
}

/// TFTP proxy helper for NAT firewalls, started by inetd with a client's
/// request on standard input.
#[derive(Debug, Parser)]
#[command(name = "tftp-proxy", version, about, long_about = None,
          long_version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TFTP_PROXY_BUILD"), ")"))]
#[command(group(ArgGroup::new("access").args(["read_only", "write_only"])))]
pub struct Cli {
    /// Log to standard error instead of syslog.
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,

    /// Dry run: log the rules that would be installed; install and forward nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,

    /// On SIGTERM, SIGINT or SIGHUP remove the live return paths at once
    /// (by default they are left to expire on their own, so transfers in
    /// flight finish).
    #[arg(long = "remove-on-exit")]
    pub remove_on_exit: bool,

    /// Log request options and the installed rules.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Seconds a return path waits for the server's first answer before it is removed.
    #[arg(short = 'w', long = "transwait", value_name = "transwait", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=30))]
    pub transwait: u64,

    /// Unprivileged user to run as once the firewall is open.
    #[arg(short = 'u', long = "user", value_name = "user", default_value = tftp_proxy::privilege::DEFAULT_USER)]
    pub user: String,

    /// Accept requests only from clients in CIDR (repeatable; default any).
    #[arg(long = "allow-client", value_name = "CIDR")]
    pub allow_client: Vec<Cidr>,

    /// Forward requests only to servers in CIDR (repeatable; default any).
    #[arg(long = "allow-server", value_name = "CIDR")]
    pub allow_server: Vec<Cidr>,

    /// Refuse write requests (WRQ).
    #[arg(long = "read-only")]
    pub read_only: bool,

    /// Refuse read requests (RRQ).
    #[arg(long = "write-only")]
    pub write_only: bool,

    /// Refuse filenames with anything but letters, digits, '.', '-' and '_'.
    #[arg(long = "strict-filenames")]
    pub strict_filenames: bool,

    /// Refuse requests that depart from RFC 1350/2347 in any way (the
    /// servers take them; by default they are forwarded as sent).
    #[arg(long = "strict-requests")]
    pub strict_requests: bool,

    /// Lower a larger blksize a request asks for to this (8-65464).
    #[arg(long = "max-blksize", value_name = "bytes",
          value_parser = clap::value_parser!(u16).range(8..=65464))]
    pub max_blksize: Option<u16>,

    /// nftables table (family inet) holding the return-path maps (Linux).
    #[arg(long = "table", value_name = "name", default_value = "tftp_proxy")]
    pub table: String,

    /// Seconds the socket may stay empty before the helper exits (1-3600).
    #[arg(long = "idle", value_name = "seconds", default_value_t = DEFAULT_IDLE,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle: u64,

    /// Live return paths one client address may hold at once.
    #[arg(long = "max-per-client", value_name = "N", default_value_t = 2048,
          value_parser = clap::value_parser!(u64).range(1..=65535))]
    pub max_per_client: u64,

    /// Check the firewall's setup for the helper, print one line per check, and exit (non-zero on a fault).
    #[arg(long = "check")]
    pub check: bool,

    /// Mark on the sockets toward the servers, matched by the shipped
    /// nftables ruleset's notrack rule (Linux; 0: no mark).
    #[arg(long = "mark", value_name = "mark", default_value_t = DEFAULT_MARK,
          value_parser = parse_mark)]
    pub mark: u32,
    /// Send requests to servers from this address (at most one per address family).
    #[arg(short = 'a', long = "address", value_name = "address")]
    pub address: Vec<std::net::IpAddr>,

    /// Syslog socket to log to (default: the system's).
    #[arg(long = "syslog-socket", value_name = "path")]
    pub syslog_socket: Option<PathBuf>,

    /// Shape of log lines: "text" (readable sentences) or "kv" (logfmt key=value pairs).
    #[arg(long = "log-format", value_name = "format", default_value = "text",
          value_parser = parse_log_format)]
    pub log_format: LogFormat,
}

/// `--log-format`'s value.
pub fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Readable),
        "kv" => Ok(LogFormat::Kv),
        other => Err(format!("{other:?} is not a log format (text or kv)")),
    }
}
