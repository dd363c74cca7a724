//! The helper's entry point: flags, logging, the firewall backend, giving
//! up root, then the request flow on the socket inetd passed as standard
//! input. Every failure ends here as one log line and an exit code.

mod cli;

use clap::Parser;
use cli::{Cli, DEFAULT_IDLE};
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tftp_proxy::firewall::{Firewall, FirewallError};
use tftp_proxy::log::Log;
use tftp_proxy::policy::{Access, Policy};
use tftp_proxy::privilege::PrivilegeError;
use tftp_proxy::proxy::{self, arrival, Outcome, Proxy, Settings, SourceAddresses, SourceError};

/// Exit status when the helper could not start serving.
const EXIT_SETUP: u8 = 1;
/// Exit status of a usage error (clap's).
const EXIT_USAGE: u8 = 2;
/// Descriptors kept free of upstream sockets: standard ones, the firewall's,
/// syslog's, and a margin.
const RESERVED_FDS: u64 = 32;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    if cli.check {
        return check(&cli);
    }
    let mut log = Log::open(cli.debug, cli.syslog_socket.as_deref(), cli.verbose);
    log.set_format(cli.log_format);
    match run(&cli, &mut log) {
        // A stop by signal has said what it left in place.
        Ok(Outcome::Idle | Outcome::Stopped) => ExitCode::SUCCESS,
        // The backend ended after serving: what is queued is left for the
        // whole helper inetd starts next. Had it served nothing, the next
        // start could end the same way at once: refuse until idle instead,
        // so that inetd never restarts the helper in a loop.
        Ok(Outcome::FirewallEnded { handled }) if handled > 0 => ExitCode::from(EXIT_SETUP),
        Ok(Outcome::FirewallEnded { .. }) => {
            refuse_until_idle(&cli.user, Duration::from_secs(cli.idle), &mut log);
            ExitCode::from(EXIT_SETUP)
        }
        Err(error) => {
            log.error(&error);
            refuse_until_idle(&cli.user, Duration::from_secs(cli.idle), &mut log);
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// inetd starts the helper again at once if the socket still holds a
/// request: answer what is queued, and what arrives until the socket has
/// been idle, then exit. Root is given up first (to `user`, or the
/// system's `nobody` if there is no such user, with no capability and,
/// on OpenBSD, pledged to "stdio inet"): answering needs only the socket.
fn refuse_until_idle(user: &str, idle: Duration, log: &mut Log) {
    let stdin = std::io::stdin();
    if arrival::bound_address(stdin.as_fd()).is_err() {
        // Not a socket: nothing to answer.
        return;
    }
    match tftp_proxy::privilege::drop_for_refusal(user) {
        Ok(identity) => log.notice(format_args!(
            "answering queued requests with a TFTP ERROR as {identity} until the socket has been idle for {} s",
            idle.as_secs()
        )),
        Err(e) => log.warning(format_args!(
            "answering queued requests with a TFTP ERROR without giving up privileges: {e}"
        )),
    }
    let refused = proxy::refuse_until_idle(stdin.as_fd(), idle, log);
    if refused > 0 {
        log.notice(format_args!(
            "answered {refused} queued datagram(s) with a TFTP ERROR"
        ));
    }
}

/// A bad command line. Outside inetd clap prints it (and usage) to
/// standard error. Under inetd standard error is the client's socket: the
/// error goes to syslog as one line and the queued requests are answered,
/// or inetd would start the helper again and again.
fn usage_error(error: clap::Error) -> ExitCode {
    let stdin = std::io::stdin();
    if arrival::bound_address(stdin.as_fd()).is_err() {
        error.exit();
    }
    let socket = argument("--syslog-socket").map(std::path::PathBuf::from);
    let mut log = Log::syslog(socket.as_deref(), false);
    if let Some(format) =
        argument("--log-format").and_then(|f| cli::parse_log_format(f.to_str()?).ok())
    {
        log.set_format(format);
    }
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    log.error(format_args!(
        "bad command line (check the inetd line): {}",
        first.strip_prefix("error: ").unwrap_or(first)
    ));
    refuse_until_idle(
        tftp_proxy::privilege::DEFAULT_USER,
        Duration::from_secs(DEFAULT_IDLE),
        &mut log,
    );
    ExitCode::from(EXIT_USAGE)
}

/// The value of the long flag `name` (`--syslog-socket`,
/// `--log-format`), read from a command line clap refused.
fn argument(name: &str) -> Option<std::ffi::OsString> {
    let mut args = std::env::args_os();
    while let Some(arg) = args.next() {
        if arg == name {
            return args.next();
        }
        if let Some(value) = arg
            .to_str()
            .and_then(|a| a.strip_prefix(name))
            .and_then(|a| a.strip_prefix('='))
        {
            return Some(value.into());
        }
    }
    None
}

/// `--check`: one line per check on standard output; a fault fails.
fn check(cli: &Cli) -> ExitCode {
    let findings = tftp_proxy::check::run(&tftp_proxy::check::CheckOptions {
        table: cli.table.clone(),
        syslog_socket: cli.syslog_socket.clone(),
        user: cli.user.clone(),
        arguments: |argv| {
            Cli::try_parse_from(argv).map(drop).map_err(|e| {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                first.strip_prefix("error: ").unwrap_or(first).to_owned()
            })
        },
        mark: cli.mark,
        max_per_client: cli.max_per_client,
    });
    for finding in &findings {
        println!("{finding}");
    }
    if tftp_proxy::check::passed(&findings) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SETUP)
    }
}

/// Why the helper could not serve; each is one log line.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("standard input is not a UDP socket ({0}): run tftp-proxy from inetd or a systemd socket unit")]
    NotASocket(std::io::Error),
    #[error("enabling destination addresses on the socket: {0}")]
    SocketOptions(std::io::Error),
    #[error("reading the firewall's own addresses: {0}")]
    OwnAddresses(std::io::Error),
    #[error("opening the firewall: {0}")]
    Firewall(#[from] FirewallError),
    #[error("giving up root: {0}")]
    Privileges(#[from] PrivilegeError),
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("reading the socket: {0}")]
    Socket(std::io::Error),
    #[error("{0}")]
    Source(#[from] SourceError),
}

/// Sets everything up and serves the socket.
fn run(cli: &Cli, log: &mut Log) -> Result<Outcome, StartError> {
    let stdin = std::io::stdin();
    let socket: BorrowedFd<'_> = stdin.as_fd();
    let bound = arrival::bound_address(socket).map_err(StartError::NotASocket)?;
    arrival::prepare(socket, bound).map_err(StartError::SocketOptions)?;
    let host = proxy::local_host().map_err(StartError::OwnAddresses)?;
    let settings = Settings {
        policy: Policy {
            allow_clients: cli.allow_client.clone(),
            allow_servers: cli.allow_server.clone(),
            access: match (cli.read_only, cli.write_only) {
                (true, _) => Access::ReadOnly,
                (_, true) => Access::WriteOnly,
                _ => Access::ReadWrite,
            },
            strict_filenames: cli.strict_filenames,
        },
        host,
        dry_run: cli.dry_run,
        idle: Duration::from_secs(cli.idle),
        transfer_wait: Duration::from_secs(cli.transwait),
        max_per_client: usize::try_from(cli.max_per_client).unwrap_or(usize::MAX),
        max_transfers: raise_open_file_limit(),
        strict_requests: cli.strict_requests,
        max_blksize: cli.max_blksize,
        source: SourceAddresses::new(&cli.address)?,
        remove_on_exit: cli.remove_on_exit,
    };
    let transfer_wait = settings.transfer_wait;
    // While still root: room for a storm queued on the socket.
    let receive_buffer = arrival::enlarge_receive_buffer(socket, arrival::RECEIVE_BUFFER)
        .map_err(StartError::SocketOptions)?;
    let mut firewall = open_firewall(cli, transfer_wait)?;
    // The client check's routing socket, while socket(2) may still open
    // one (OpenBSD's pledge forbids it later: src/route/bsd.rs).
    #[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
    let routes = tftp_proxy::route::Routes::open();
    tftp_proxy::privilege::drop_privileges(&cli.user)?;
    if log.verbose {
        log.info(format_args!(
            "serving as {}",
            tftp_proxy::privilege::identity()
        ));
        log.info(format_args!(
            "socket receive buffer: {receive_buffer} bytes"
        ));
        if let Some(interface) = firewall.kernel_interface() {
            log.info(format_args!("kernel interface: {interface}"));
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(StartError::Signals)?;
    }
    #[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
    if let Err(e) = &routes {
        log.error(format_args!(
            "opening the routing socket: {e}: no client can be checked, every request is refused"
        ));
    }
    let mut proxy = Proxy::new(&mut firewall, log, &settings, socket, bound);
    #[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
    proxy.use_routes(routes);
    proxy.serve(&stop).map_err(StartError::Socket)
}

/// Raises the soft limit of open files to the hard one (each live transfer
/// holds a socket) and returns how many transfers fit under it.
fn raise_open_file_limit() -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let limit = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            let wanted = hard.min(65_536);
            if wanted > soft && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
                wanted
            } else {
                soft
            }
        }
        Err(_) => 1024,
    };
    // rlim_t is unsigned on Linux, signed on FreeBSD: count in i128.
    let free = (i128::from(limit) - i128::from(RESERVED_FDS)).max(1);
    usize::try_from(free).unwrap_or(usize::MAX)
}

#[cfg(target_os = "linux")]
fn open_firewall(cli: &Cli, transfer_wait: Duration) -> Result<impl Firewall, FirewallError> {
    use tftp_proxy::firewall::netfilter::{Netfilter, NetfilterOptions};
    Netfilter::open(NetfilterOptions {
        table: cli.table.clone(),
        // The element outlives the wait just long enough for its counter
        // to be read when the wait is over (the outcome line).
        transfer_wait: transfer_wait + proxy::OUTCOME_GRACE,
        upstream_mark: cli.mark,
    })
}

/// Opens pf; on OpenBSD, also the socket that answers diverted requests
/// (SO_BINDANY), while still root, but only when pf diverts requests to
/// the helper: with `rdr-to` the helper keeps no such privilege.
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
fn open_firewall(cli: &Cli, transfer_wait: Duration) -> Result<impl Firewall, FirewallError> {
    use tftp_proxy::firewall::pf::{Pf, PfOptions};
    let pf = Pf::open(PfOptions {
        transfer_wait,
        verbose: cli.verbose,
        dry_run: cli.dry_run,
        user: cli.user.clone(),
    })?;
    #[cfg(target_os = "openbsd")]
    if pf.diverts() {
        arrival::open_divert_reply();
    }
    Ok(pf)
}
