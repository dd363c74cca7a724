//! A full conntrack table is named: the running helper logs it once with
//! the sysctl to raise, and `--check` warns; `--check` also reports
//! reverse-path filtering on the phones' interface. The lab fills the
//! firewall namespace's table to `nf_conntrack_max` (which a namespace
//! cannot lower, so the whole limit) with one datagram per new flow.
//! Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::time::Duration;

/// Sends one datagram to every port of `dst` from each source address,
/// until `total` have been sent.
const FILL: &str = r#"
import socket, sys
dst, total, sources = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
sent = 0
for src in sources:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 7))
    for port in range(1, 65536):
        if sent >= total:
            break
        try:
            s.sendto(b"x", (dst, port))
        except OSError:
            pass
        sent += 1
print(sent)
"#;

fn sysctl(lab: &Lab, key: &str) -> u64 {
    let out = lab::run(&mut lab.command("f", &["cat", &format!("/proc/sys/net/netfilter/{key}")]));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect(key)
}

#[test]
fn a_full_conntrack_table_is_logged_once_and_check_warns() {
    let lab = Lab::start(LabOptions {
        helper_args: vec!["--idle".into(), "40".into()],
        phones: 4,
        ..LabOptions::default()
    });
    // The helper runs (and keeps running for --idle) before the table fills.
    lab.assert_get("before.cfg", 1000, 5, "a GET before the table fills");
    let check = |lab: &Lab| -> String {
        let out = lab
            .command("f", &[env!("CARGO_BIN_EXE_tftp-proxy"), "--check"])
            .output()
            .expect("running tftp-proxy --check");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = check(&lab);
    assert!(
        before.contains("the conntrack table holds "),
        "--check must report the table's fill:\n{before}"
    );
    assert!(
        before.contains("reverse-path filtering on lan0"),
        "--check must report rp_filter on the phones' interface:\n{before}"
    );
    let max = sysctl(&lab, "nf_conntrack_max");
    let sources: Vec<String> = [lab::CLIENT, lab::OTHER_CLIENTS[0], lab::OTHER_CLIENTS[1]]
        .iter()
        .map(|s| s.to_string())
        .chain((0..4).map(|i| lab::phone_address(i).to_string()))
        .collect();
    assert!(
        max < 65535 * sources.len() as u64,
        "nf_conntrack_max {max} is more than this test can fill"
    );
    let out = lab.client(&[
        "python3",
        "-c",
        FILL,
        "192.0.2.1",
        &(max + 1000).to_string(),
        &sources.join(","),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = sysctl(&lab, "nf_conntrack_count");
    assert!(count * 10 >= max * 9, "the table holds {count} of {max}");
    let wanted = "the conntrack table is";
    let logged = lab.wait_for_log(1, Duration::from_secs(3), |m| {
        m.contains(wanted) && m.contains("raise net.netfilter.nf_conntrack_max")
    });
    assert_eq!(logged.len(), 1, "{wanted}\n{}", lab.process_logs());
    let after = check(&lab);
    assert!(
        after
            .lines()
            .any(|l| l.contains("the conntrack table is") && l.contains("nf_conntrack_max")),
        "--check must warn:\n{after}"
    );
    // Once: still a single line a while later.
    std::thread::sleep(Duration::from_secs(2));
    let logged = lab.wait_for_log(2, Duration::from_millis(100), |m| m.contains(wanted));
    assert_eq!(logged.len(), 1, "{}", lab.process_logs());
    // Let the kernel's own entries go before the next lab: flush them.
    lab::run(&mut lab.command("f", &["conntrack", "-F"]));
}
