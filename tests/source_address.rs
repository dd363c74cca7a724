//! `-a`: the helper's requests to servers leave from a second address of
//! the firewall's outside interface (as a CARP/VRRP shared address or a
//! second uplink would be), the server sees them from there, and the
//! return path, keyed on that address, brings the answer to the phone.
//! Needs root.

mod lab;

use lab::{Lab, LabOptions, CLIENT, FIREWALL_EXT, SERVER};
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

/// The second address of the firewall's outside interface.
const SHARED: &str = "198.51.100.9";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Packets the server's own kernel counted from `source` to port 69.
fn requests_seen_from(lab: &Lab, source: &str) -> u64 {
    let out = lab::run(&mut lab.command("s", &["nft", "list", "chain", "ip", "seen", "input"]));
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = listing
        .lines()
        .find(|l| l.contains(&format!("ip saddr {source} ")))
        .unwrap_or_else(|| panic!("no counter for {source} in:\n{listing}"));
    let mut words = line.split_whitespace();
    words
        .by_ref()
        .find(|w| *w == "packets")
        .and_then(|_| words.next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in: {line}"))
}

#[test]
fn requests_leave_from_the_a_address_and_the_get_works() {
    let lab = Lab::start(LabOptions {
        helper_args: vec!["-a".into(), SHARED.into()],
        ..LabOptions::default()
    });
    lab::run(&mut lab.command(
        "f",
        &["ip", "addr", "add", &format!("{SHARED}/24"), "dev", "wan0"],
    ));
    // The server counts the requests it receives by source address.
    for rule in [
        "add table ip seen",
        "add chain ip seen input { type filter hook input priority 0; }",
        &format!("add rule ip seen input ip saddr {SHARED} udp dport 69 counter"),
        &format!("add rule ip seen input ip saddr {FIREWALL_EXT} udp dport 69 counter"),
    ] {
        let mut args = vec!["nft"];
        args.extend(rule.split_whitespace());
        lab::run(&mut lab.command("s", &args));
    }

    let src = lab.server_root().join("SEP0014F2000009.cnf.xml");
    Lab::make_file(&src, 5000, 9);
    let dst = lab.dir.join("got.xml");
    let out = lab.client(&[
        "tftp",
        SERVER,
        "-m",
        "binary",
        "-c",
        "get",
        "SEP0014F2000009.cnf.xml",
        &dst.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "tftp get: {}\n{}",
        text(&out),
        lab.process_logs()
    );
    let got = std::fs::read(&dst).unwrap_or_else(|e| panic!("{e}\n{}", lab.process_logs()));
    assert_eq!(got, std::fs::read(&src).unwrap(), "{}", lab.process_logs());

    assert_eq!(
        requests_seen_from(&lab, SHARED),
        1,
        "{}",
        lab.process_logs()
    );
    assert_eq!(
        requests_seen_from(&lab, FIREWALL_EXT),
        0,
        "no request may leave from the interface's first address"
    );

    // The log line names the -a address as the helper's side.
    let lines = lab.wait_for_log(1, Duration::from_secs(2), |m| m.contains(" RRQ "));
    let line = lines
        .first()
        .unwrap_or_else(|| panic!("no request line\n{}", lab.process_logs()));
    let parts: Vec<&str> = line.splitn(3, " -> ").collect();
    assert_eq!(parts.len(), 3, "{line}");
    let client: SocketAddr = parts[0].parse().expect(line);
    let proxy: SocketAddr = parts[1].parse().expect(line);
    assert_eq!(client.ip().to_string(), CLIENT, "{line}");
    assert_eq!(proxy.ip().to_string(), SHARED, "{line}");
}

#[test]
fn an_a_address_the_firewall_does_not_have_is_named_and_the_client_told() {
    // 198.51.100.9 is not added: binding to it fails, per request.
    let lab = Lab::start(LabOptions {
        helper_args: vec!["-a".into(), SHARED.into()],
        ..LabOptions::default()
    });
    Lab::make_file(&lab.server_root().join("a.cfg"), 100, 3);
    let dst = lab.dir.join("a.cfg");
    let out = lab.client(&[
        "tftp",
        SERVER,
        "-m",
        "binary",
        "-c",
        "get",
        "a.cfg",
        &dst.to_string_lossy(),
    ]);
    let said = text(&out);
    assert!(
        said.contains("proxy cannot forward the request"),
        "the client gets the helper's ERROR: {said}\n{}",
        lab.process_logs()
    );
    let lines = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains(&format!("binding to -a {SHARED}"))
    });
    assert_eq!(lines.len(), 1, "{}", lab.process_logs());
}
