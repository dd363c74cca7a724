//! Gathers what `--check` judges on Linux: the ruleset (`nft -j list
//! ruleset`), the forwarding sysctls, the capabilities, a conntrack query,
//! the running inetd's configuration or the systemd socket units, and the
//! syslog socket. The judging is in the pure modules next to this one.

use super::{
    burst, destinations, inetd, isolation, nftables, systemd, CheckOptions, Finding,
    DEFAULT_HELPER_PORT,
};
use crate::firewall::netfilter::{table_load, Netfilter, NetfilterOptions};
use crate::firewall::{Firewall, FirewallError};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Every Linux check, in order.
pub fn run(options: &CheckOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut lan = None;
    let port = match ruleset() {
        Ok(ruleset) => {
            let (mut ruleset_findings, port) = nftables::check_ruleset(&ruleset, &options.table);
            findings.append(&mut ruleset_findings);
            findings.push(nftables::check_single_port(&ruleset, options.mark));
            lan = nftables::find_redirect(&ruleset).and_then(|r| r.interface);
            port.unwrap_or(DEFAULT_HELPER_PORT)
        }
        Err(e) => {
            findings.push(Finding::fault(format!(
                "cannot read the nftables ruleset ({e}): install nftables and run --check as root"
            )));
            DEFAULT_HELPER_PORT
        }
    };
    findings.push(forwarding(
        "IPv4",
        "/proc/sys/net/ipv4/ip_forward",
        "net.ipv4.ip_forward",
    ));
    findings.push(forwarding(
        "IPv6",
        "/proc/sys/net/ipv6/conf/all/forwarding",
        "net.ipv6.conf.all.forwarding",
    ));
    findings.push(capability());
    findings.push(conntrack(&options.table));
    findings.push(isolation::judge_conntrack_load(table_load::read()));
    if let Some(lan) = lan {
        findings.push(reverse_path(&lan));
    }
    let (starter, command_lines) = starter(port, options.arguments);
    findings.push(starter);
    findings.push(destinations::judge(&command_lines));
    findings.push(receive_buffer());
    findings.push(syslog(options.syslog_socket.as_deref()));
    findings
}

fn ruleset() -> Result<nftables::Ruleset, String> {
    let out = Command::new("nft")
        .args(["-j", "list", "ruleset"])
        .output()
        .map_err(|e| format!("running nft: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nft -j list ruleset: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    nftables::Ruleset::parse(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("nft -j list ruleset printed what this check cannot read: {e}"))
}

/// IPv4 forwarding off is a fault; IPv6 off a warning (a site without
/// IPv6 phones needs none).
fn forwarding(family: &str, path: &str, sysctl: &str) -> Finding {
    match std::fs::read_to_string(path) {
        Ok(v) if v.trim() == "1" => Finding::ok(format!("{family} forwarding is on")),
        Ok(_) => {
            let text = format!(
                "{family} forwarding is off, so the firewall forwards no answers to the phones: sysctl -w {sysctl}=1 (and set it in /etc/sysctl.d/)"
            );
            if family == "IPv4" {
                Finding::fault(text)
            } else {
                Finding::warning(text)
            }
        }
        Err(e) => Finding::fault(format!("cannot read {path} ({e})")),
    }
}

/// rp_filter of the phones' interface (the one the redirect rule names).
fn reverse_path(interface: &str) -> Finding {
    let read = |key: &str| -> Option<u8> {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{key}/rp_filter"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let dev = read(interface);
    let all = dev.and(read("all"));
    isolation::judge_rp_filter(interface, all, dev)
}

fn capability() -> Finding {
    use caps::{CapSet, Capability};
    match caps::has_cap(None, CapSet::Effective, Capability::CAP_NET_ADMIN) {
        Ok(true) => Finding::ok("CAP_NET_ADMIN is available"),
        Ok(false) => {
            Finding::fault("CAP_NET_ADMIN is not available: run --check (and the helper) as root")
        }
        Err(e) => Finding::fault(format!("cannot read the capabilities ({e})")),
    }
}

fn conntrack(table: &str) -> Finding {
    let netfilter = Netfilter::open(NetfilterOptions {
        table: table.to_owned(),
        transfer_wait: Duration::from_secs(1),
        upstream_mark: 0,
    });
    // A lookup of a flow that cannot exist: "not found" is conntrack's answer.
    let nowhere: SocketAddr = ([127, 0, 0, 1], 9).into();
    match netfilter.and_then(|mut n| n.original_destination(nowhere, nowhere)) {
        Err(FirewallError::NoRedirect { .. }) => Finding::ok("conntrack answers lookups"),
        Ok(_) => Finding::ok("conntrack answers lookups"),
        Err(e) => Finding::fault(format!(
            "conntrack does not answer ({e}): run as root, with nf_conntrack loaded"
        )),
    }
}

/// The configuration files of the inetd processes running in this network
/// namespace.
fn running_inetd_configs() -> Vec<PathBuf> {
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    let mut configs = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return configs;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != "inetd" || std::fs::read_link(dir.join("ns/net")).ok() != own {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .skip(1)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        // openbsd-inetd: [-d] [-l] [-q n] [-R rate] [configuration file]
        let config = args
            .iter()
            .rev()
            .find(|a| a.starts_with('/'))
            .map_or_else(|| PathBuf::from("/etc/inetd.conf"), PathBuf::from);
        if !configs.contains(&config) {
            configs.push(config);
        }
    }
    configs
}

fn executable(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The installed systemd socket unit for the helper: its path and text
/// (the service beside it has the same name).
fn systemd_socket_unit() -> Option<(PathBuf, String)> {
    [
        "/etc/systemd/system",
        "/usr/local/lib/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    ]
    .iter()
    .flat_map(|dir| {
        systemd::UNIT_NAMES
            .iter()
            .map(move |unit| Path::new(dir).join(format!("{unit}.socket")))
    })
    .find_map(|path| std::fs::read_to_string(&path).ok().map(|text| (path, text)))
}

/// The systemd socket unit for the helper, judged against `port`, if one
/// is installed.
fn systemd_socket(port: u16, programs: &inetd::Programs<'_>) -> Option<Finding> {
    let (socket, text) = systemd_socket_unit()?;
    let service = std::fs::read_to_string(socket.with_extension("service")).unwrap_or_default();
    Some(systemd::judge(
        &socket.display().to_string(),
        &text,
        &service,
        port,
        programs,
    ))
}

/// The receive buffer a socket of the starter gets when it is created,
/// before the helper runs and enlarges it: what a boot storm's first
/// requests must fit in. inetd's sockets get `net.core.rmem_default`
/// (`sock_init_data`, net/core/sock.c); a systemd socket unit sets its
/// own with `ReceiveBuffer=`, which the kernel doubles.
fn receive_buffer() -> Finding {
    const RMEM_DEFAULT: &str = "/proc/sys/net/core/rmem_default";
    let storm = burst::linux_receive_space(burst::STORM_PHONES);
    if running_inetd_configs().is_empty() {
        if let Some((path, asked)) = systemd_socket_unit()
            .and_then(|(path, text)| systemd::receive_buffer(&text).map(|b| (path, b)))
        {
            let bytes = asked.saturating_mul(2);
            return burst::judge(
                &format!("ReceiveBuffer={asked} in {}", path.display()),
                bytes,
                burst::linux_phones_that_fit(bytes),
                &format!(
                    "set ReceiveBuffer={} (as etc/tftp-proxy.socket does), then systemctl restart {}",
                    burst::linux_socket_option_for(storm),
                    path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                ),
            );
        }
    }
    match std::fs::read_to_string(RMEM_DEFAULT)
        .map_err(|e| e.to_string())
        .and_then(|t| t.trim().parse::<usize>().map_err(|e| e.to_string()))
    {
        Ok(bytes) => burst::judge(
            "net.core.rmem_default",
            bytes,
            burst::linux_phones_that_fit(bytes),
            &format!(
                "install etc/sysctl.d/60-tftp-proxy.conf (net.core.rmem_default = {storm}) in /etc/sysctl.d/, run sysctl --system, then restart inetd (or, under systemd, set ReceiveBuffer={} in the socket unit)",
                burst::linux_socket_option_for(storm)
            ),
        ),
        Err(e) => Finding::warning(format!("cannot read {RMEM_DEFAULT} ({e})")),
    }
}

/// An inetd line or a systemd socket that starts the helper on `port`,
/// and the helper command lines that were judged.
fn starter(
    port: u16,
    arguments: fn(&[String]) -> Result<(), String>,
) -> (Finding, Vec<Vec<String>>) {
    let judged = std::cell::RefCell::new(Vec::new());
    let recording = |argv: &[String]| {
        judged.borrow_mut().push(argv.to_vec());
        arguments(argv)
    };
    let programs = inetd::Programs {
        executable: &executable,
        arguments: &recording,
    };
    let finding = find_starter(port, &programs);
    (finding, judged.into_inner())
}

fn find_starter(port: u16, programs: &inetd::Programs<'_>) -> Finding {
    let mut first = None;
    for config in running_inetd_configs() {
        let source = format!("inetd ({})", config.display());
        let text = match std::fs::read_to_string(&config) {
            Ok(t) => t,
            Err(e) => {
                first.get_or_insert(Finding::fault(format!("cannot read {source}: {e}")));
                continue;
            }
        };
        match inetd::judge(&source, &inetd::parse(&text), port, programs) {
            Some(f) if f.status == super::Status::Ok => return f,
            Some(f) => {
                first.get_or_insert(f);
            }
            None => {}
        }
    }
    if let Some(f) = systemd_socket(port, programs) {
        if f.status == super::Status::Ok || first.is_none() {
            return f;
        }
    }
    first.unwrap_or_else(|| Finding::fault(format!(
        "no running inetd and no systemd socket unit starts tftp-proxy on port {port}: add the lines of etc/inetd.conf to /etc/inetd.conf and restart inetd (service openbsd-inetd restart), or install the systemd units"
    )))
}

fn syslog(path: Option<&Path>) -> Finding {
    let path = path.unwrap_or(Path::new("/dev/log"));
    let result = std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.connect(path));
    match result {
        Ok(()) => Finding::ok(format!("the syslog socket {} is reachable", path.display())),
        Err(e) => Finding::fault(format!(
            "the syslog socket {} is not reachable ({e}): start a syslog daemon (rsyslog, or systemd-journald's /dev/log), or name a reachable socket with --syslog-socket",
            path.display()
        )),
    }
}
