//! The firewall's own addresses in the lab: a TFTP server on the gateway
//! stays reachable with the shipped include loaded, a request to the
//! gateway that reaches the helper anyway is refused as exactly that, and a
//! subnet-directed broadcast is refused as a broadcast. Needs root.

mod lab;

use lab::Lab;
use std::process::Output;
use std::time::Duration;

/// The firewall's address on the phones' side.
const FIREWALL_INT: &str = "192.0.2.1";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn tftp_get(lab: &Lab, server: &str, remote: &str) -> (Output, std::path::PathBuf) {
    let local = lab.dir.join(format!("got-{remote}"));
    let out = lab.client(&[
        "tftp",
        server,
        "-m",
        "binary",
        "-c",
        "get",
        remote,
        &local.to_string_lossy(),
    ]);
    (out, local)
}

#[test]
fn tftp_server_on_the_firewall_itself_keeps_working() {
    let mut lab = Lab::start(lab::LabOptions::default());
    let root = lab.dir.join("srv-firewall");
    std::fs::create_dir_all(&root).unwrap();
    let src = root.join("gateway.cfg");
    Lab::make_file(&src, 3000, 41);
    let tftpd = lab::tool("in.tftpd", "tftpd-hpa");
    let address = format!("{FIREWALL_INT}:69");
    lab.spawn(
        "tftpd-firewall",
        "f",
        &[
            &tftpd.to_string_lossy(),
            "-L",
            "-s",
            "-u",
            "nobody",
            "-a",
            &address,
            &root.to_string_lossy(),
        ],
    );
    lab.wait_for_udp("f", FIREWALL_INT, 69);
    let (out, local) = tftp_get(&lab, FIREWALL_INT, "gateway.cfg");
    let got = std::fs::read(&local).unwrap_or_default();
    assert!(
        out.status.success() && got == std::fs::read(&src).unwrap(),
        "the gateway's own TFTP server must answer: {}\n{}",
        text(&out),
        lab.process_logs()
    );
    assert!(
        lab.helper_log().is_empty(),
        "the request must not have been redirected to the helper:\n{}",
        lab.process_logs()
    );
}

#[test]
fn request_to_the_firewall_that_reaches_the_helper_is_refused_as_its_own_address() {
    let lab = Lab::start(lab::LabOptions::default());
    // An operator's own redirect that does not spare the firewall's
    // addresses, ahead of the shipped one.
    for rule in [
        "add table inet operator",
        "add chain inet operator prerouting { type nat hook prerouting priority dstnat - 10; }",
        "add rule inet operator prerouting iifname lan0 udp dport 69 redirect to :6969",
    ] {
        lab::run(&mut lab.command("f", &["nft", rule]));
    }
    for address in [FIREWALL_INT, lab::FIREWALL_EXT] {
        let (out, _) = tftp_get(&lab, address, "loop.cfg");
        assert!(
            text(&out).contains("Error code 2: destination not allowed"),
            "{address}: tftp-hpa must show the TFTP error: {}\n{}",
            text(&out),
            lab.process_logs()
        );
        let wanted =
            format!("refused: destination {address} is one of the firewall's own addresses");
        let refused = lab.wait_for_log(1, Duration::from_secs(2), |m| m.contains(&wanted));
        assert_eq!(refused.len(), 1, "{wanted}\n{}", lab.process_logs());
    }
    assert_eq!(lab.map_elements("return_v4"), Vec::<String>::new());
}

#[test]
fn subnet_broadcast_is_refused_as_a_broadcast() {
    let lab = Lab::start(lab::LabOptions::default());
    // A phone broadcasting its request on its own network.
    let script = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.settimeout(3)
s.sendto(b"\x00\x01b.cfg\x00octet\x00", ("192.0.2.255", 69))
try:
    print(s.recv(1000).hex())
except socket.timeout:
    print("none")
"#;
    let out = lab.client(&["python3", "-c", script]);
    assert!(out.status.success(), "python3: {}", text(&out));
    let wanted = "refused: destination 192.0.2.255 is a broadcast address";
    let refused = lab.wait_for_log(1, Duration::from_secs(3), |m| m.contains(wanted));
    assert_eq!(refused.len(), 1, "{wanted}\n{}", lab.process_logs());
    // ERROR code 2 "destination not allowed".
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        answer.starts_with("00050002"),
        "the phone must get ERROR 2, got {answer}\n{}",
        lab.process_logs()
    );
    assert_eq!(lab.map_elements("return_v4"), Vec::<String>::new());
}
