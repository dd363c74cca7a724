//! The helper's entry point: flags, logging, the firewall backend, giving
//! up root, then the request flow on the socket inetd passed as standard
//! input. Every failure ends here as one log line and an exit code.

mod cli;

use clap::Parser;
use cli::Cli;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tftp_proxy::log::Log;
use tftp_proxy::policy::{Access, Policy};
use tftp_proxy::proxy::{self, arrival, Outcome, Proxy, Settings};

/// Exit status when the helper could not start serving.
const EXIT_SETUP: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut log = if cli.debug {
        Log::stderr(cli.verbose)
    } else {
        match Log::syslog(cli.syslog_socket.as_deref(), cli.verbose) {
            Ok(log) => log,
            // Without syslog, say why where someone may see it, and go on.
            Err(e) => {
                let mut log = Log::stderr(cli.verbose);
                log.warning(format_args!(
                    "syslog unavailable ({e}), logging to standard error"
                ));
                log
            }
        }
    };
    match run(&cli, &mut log) {
        Ok(Outcome::Drained) => ExitCode::SUCCESS,
        Ok(Outcome::Stopped) => {
            log.notice("stopped by signal; installed return paths removed");
            ExitCode::SUCCESS
        }
        Err(message) => {
            log.error(message);
            // inetd starts the helper again at once if the socket still
            // holds the request: answer what is queued, then exit.
            let stdin = std::io::stdin();
            proxy::refuse_queued(stdin.as_fd(), &mut log);
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// Sets everything up and serves the socket; an error is the one line to log.
fn run(cli: &Cli, log: &mut Log) -> Result<Outcome, String> {
    let stdin = std::io::stdin();
    let socket: BorrowedFd<'_> = stdin.as_fd();
    let bound = arrival::bound_address(socket).map_err(|e| {
        format!("standard input is not a UDP socket ({e}): run tftp-proxy from inetd or a systemd socket unit")
    })?;
    arrival::prepare(socket, bound)
        .map_err(|e| format!("enabling destination addresses on the socket: {e}"))?;
    let host =
        proxy::local_host().map_err(|e| format!("reading the firewall's own addresses: {e}"))?;
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
    };
    let transfer_wait = Duration::from_secs(cli.transwait);
    let mut firewall =
        open_firewall(cli, transfer_wait).map_err(|e| format!("opening the firewall: {e}"))?;
    tftp_proxy::privilege::drop_privileges(&cli.user)
        .map_err(|e| format!("giving up root: {e}"))?;
    if log.verbose {
        log.info(format_args!(
            "serving as {}",
            tftp_proxy::privilege::identity()
        ));
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| format!("installing signal handlers: {e}"))?;
    }
    let mut proxy = Proxy::new(&mut firewall, log, &settings, socket, bound);
    proxy
        .serve(&stop)
        .map_err(|e| format!("reading the socket: {e}"))
}

#[cfg(target_os = "linux")]
fn open_firewall(
    cli: &Cli,
    transfer_wait: Duration,
) -> Result<impl tftp_proxy::firewall::Firewall, tftp_proxy::firewall::FirewallError> {
    use tftp_proxy::firewall::netfilter::{Netfilter, NetfilterOptions};
    Netfilter::open(NetfilterOptions {
        table: cli.table.clone(),
        transfer_wait,
    })
}

#[cfg(target_os = "openbsd")]
fn open_firewall(
    cli: &Cli,
    transfer_wait: Duration,
) -> Result<impl tftp_proxy::firewall::Firewall, tftp_proxy::firewall::FirewallError> {
    use tftp_proxy::firewall::pf::{Pf, PfOptions};
    Pf::open(PfOptions {
        transfer_wait,
        verbose: cli.verbose,
        dry_run: cli.dry_run,
        user: cli.user.clone(),
    })
}
