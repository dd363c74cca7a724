//! Least privilege where the same code runs on every platform: a helper
//! that could not start gives up root before it answers the datagrams
//! queued on its socket, and the phones still get their ERROR. Checked
//! from outside, in /proc, while it drains, under real inetd in the lab.
//! Needs root; without it the test fails and says so.

mod lab;

use lab::{Lab, LabOptions};
use std::time::Duration;

/// The fields of `/proc/<pid>/status` line `name:`, split on whitespace.
fn status_field(pid: u32, name: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status while it drains: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status:\n{status}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_helper_that_failed_to_start_drains_the_queue_without_root() {
    // No such user: the start fails at the privilege drop itself, the
    // hardest case (the refusal must find another account: nobody).
    let lab = Lab::start(LabOptions {
        helper_args: ["-u", "no-such-user-here", "--idle", "4"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..LabOptions::default()
    });
    let (first, _) = lab.tftp_get("a.cfg");
    assert!(
        first.contains("Error code 0: tftp-proxy is not working, see its log"),
        "the queued request is answered: {first}\n{}",
        lab.process_logs()
    );
    let draining = lab.wait_for_log(1, Duration::from_secs(3), |m| {
        m.starts_with("answering queued requests with a TFTP ERROR as uid ")
    });
    assert_eq!(draining.len(), 1, "{}", lab.process_logs());
    let line = lab
        .helper_log()
        .into_iter()
        .find(|l| l.contains("answering queued requests with a TFTP ERROR as uid "))
        .expect("the line just found");
    let pid: u32 = line
        .split_once("tftp-proxy[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(pid, _)| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in the syslog tag: {line}"));

    // While it drains (--idle 4 after the last datagram): no root, no
    // capability, no way to regain either.
    let uids = status_field(pid, "Uid");
    let gids = status_field(pid, "Gid");
    assert_eq!(uids.len(), 4, "{uids:?}");
    assert!(
        uids.iter().all(|u| u != "0"),
        "real, effective, saved and filesystem uid must not be root: {uids:?}"
    );
    assert!(gids.iter().all(|g| g != "0"), "{gids:?}");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(
            status_field(pid, set),
            ["0000000000000000"],
            "{set} while draining"
        );
    }
    assert_eq!(status_field(pid, "NoNewPrivs"), ["1"]);
    assert!(
        draining[0].contains(&format!("as uid {} ", uids[0])),
        "the log says who answers: {}",
        draining[0]
    );

    // A phone asking meanwhile still gets its ERROR, from the same
    // (unprivileged) process.
    let (second, _) = lab.tftp_get("b.cfg");
    assert!(
        second.contains("Error code 0: tftp-proxy is not working, see its log"),
        "{second}\n{}",
        lab.process_logs()
    );
    assert_eq!(status_field(pid, "Uid"), uids, "still the same process");
    // Both requests (and whatever else the client sent) were read by
    // that one process, which then exited on its own.
    let answered = lab.wait_for_log(1, Duration::from_secs(8), |m| {
        m.starts_with("answered ") && m.ends_with(" queued datagram(s) with a TFTP ERROR")
    });
    assert_eq!(answered.len(), 1, "{}", lab.process_logs());
    let count: usize = answered[0]
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    assert!(count >= 2, "{}", answered[0]);
    assert_eq!(lab.helper_starts(), 1, "{}", lab.process_logs());
}
