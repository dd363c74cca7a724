//! A request whose server never answers: the outcome line, read from the
//! return path's kernel counter once the wait is over, says so and names
//! the server; the ICMP error its host sent (no TFTP server listens
//! there) is told as detail. A served transfer says answered. Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::time::Duration;

/// An address of the server's host where no TFTP server listens (atftpd
/// is not started).
const NO_TFTP_SERVER: &str = lab::ATFTPD_SERVER;

#[test]
fn unanswered_request_is_logged_with_the_servers_icmp_error() {
    let lab = Lab::start(LabOptions {
        helper_args: vec!["-w".into(), "1".into()],
        ..LabOptions::default()
    });
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"\x00\x01SEP0014F2000001.cnf.xml\x00octet\x00", (sys.argv[1], 69))
try:
    print(s.recv(1000).hex())
except socket.timeout:
    print("none")
"#;
    let out = lab.client(&["python3", "-c", script, NO_TFTP_SERVER]);
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "none",
        "nothing answers there"
    );
    let wanted = format!(
        "-> {NO_TFTP_SERVER}:69 RRQ \"SEP0014F2000001.cnf.xml\": no answer within 1 s from {NO_TFTP_SERVER}:69; refused by the network: port unreachable (Connection refused)"
    );
    let lines = lab.wait_for_log(1, Duration::from_secs(5), |m| m.contains(&wanted));
    assert_eq!(lines.len(), 1, "{wanted}\n{}", lab.process_logs());
    assert!(
        lines[0].starts_with(&format!("{}:", lab::CLIENT)),
        "{}",
        lines[0]
    );

    // A transfer the server serves says answered.
    lab.assert_get("served.cfg", 1500, 81, "GET from a server that answers");
    let answered = lab.wait_for_log(1, Duration::from_secs(5), |m| {
        m.ends_with("RRQ \"served.cfg\": answered")
    });
    assert_eq!(answered.len(), 1, "{}", lab.process_logs());
    let unanswered: Vec<String> = lab
        .helper_messages()
        .into_iter()
        .filter(|m| m.contains("no answer"))
        .collect();
    assert_eq!(unanswered.len(), 1, "{unanswered:?}");
}
