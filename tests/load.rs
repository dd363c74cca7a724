//! The helper under load, in the lab: steady traffic, retransmissions,
//! floods, caps, a stalled syslog, a boot storm, a broken inetd line. The
//! helper must never be the reason TFTP goes down: every test counts
//! failures, helper starts and inetd's complaints, and prints them.
//! They need root; without it they fail and say so.

mod lab;

use lab::{Lab, LabOptions, SERVER};
use std::process::Output;
use std::time::Duration;

fn lab_with(args: &[&str]) -> Lab {
    Lab::start(LabOptions {
        helper_args: args.iter().map(|s| s.to_string()).collect(),
        ..LabOptions::default()
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A tftp-hpa GET through the firewall.
fn tftp_get(lab: &Lab, server: &str, remote: &str) -> Output {
    let local = lab.dir.join(format!("got-{remote}"));
    let local = local.to_string_lossy();
    let mut args = vec!["tftp"];
    if server.contains(':') {
        args.push("-6");
    }
    args.extend([server, "-m", "binary", "-c", "get", remote, &local]);
    lab.client(&args)
}

/// inetd's complaints about the service (openbsd-inetd's words for a
/// service started too often).
fn inetd_complaints(lab: &Lab) -> Vec<String> {
    lab.process_output("inetd")
        .lines()
        .filter(|l| l.contains("looping") || l.contains("terminated"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn bad_flag_in_the_inetd_line_answers_and_does_not_loop() {
    let lab = lab_with(&["--no-such-flag"]);
    for i in 0..5 {
        let out = tftp_get(&lab, SERVER, &format!("x{i}.cfg"));
        assert!(
            text(&out).contains("Error code 0: tftp-proxy is not working, see its log"),
            "request {i} is answered: {}\n{}",
            text(&out),
            lab.process_logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let lines = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("bad command line (check the inetd line): unexpected argument '--no-such-flag'")
    });
    assert!(!lines.is_empty(), "{}", lab.process_logs());
    let starts = lab.helper_starts();
    println!("bad flag: 5 requests answered, helper starts: {starts}");
    assert!(
        starts < 5,
        "starts: {starts} (the failed helper must stay until idle)\n{}",
        lab.process_logs()
    );
    assert_eq!(inetd_complaints(&lab), Vec::<String>::new());
}
