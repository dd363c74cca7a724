//! End-to-end tests: the built helper under Debian's openbsd-inetd, with
//! nftables and conntrack in network namespaces, real TFTP servers
//! (tftpd-hpa, atftpd) and real clients (tftp-hpa, curl, atftp).
//! They need root; without it they fail and say so.

mod lab;

use lab::{Lab, LabOptions, ATFTPD_SERVER, BOOT_FILES, CLIENT, FIREWALL_EXT, SERVER, SERVER6};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

fn lab() -> Lab {
    Lab::start(LabOptions::default())
}

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

/// Asserts two files are byte-identical, with the lab's logs on failure.
fn assert_same(lab: &Lab, a: &Path, b: &Path, context: &str) {
    let x = std::fs::read(a).unwrap_or_else(|e| {
        panic!(
            "{context}: reading {}: {e}\n{}",
            a.display(),
            lab.process_logs()
        )
    });
    let y = std::fs::read(b).unwrap_or_else(|e| {
        panic!(
            "{context}: reading {}: {e}\n{}",
            b.display(),
            lab.process_logs()
        )
    });
    assert!(
        x.len() == y.len() && x == y,
        "{context}: {} ({} bytes) and {} ({} bytes) differ\n{}",
        a.display(),
        x.len(),
        b.display(),
        y.len(),
        lab.process_logs()
    );
}

/// Asserts a client command succeeded, with its output and the lab's logs.
fn assert_ok(lab: &Lab, out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        text(out),
        lab.process_logs()
    );
}

fn out_path(lab: &Lab, name: &str) -> PathBuf {
    lab.dir.join(name)
}

/// Runs curl in the client: `-o local` fetches `url`, `-T local` sends.
fn curl(lab: &Lab, direction: &str, url: &str, local: &Path, blksize: Option<u32>) -> Output {
    let local = local.to_string_lossy();
    let blksize = blksize.map(|b| b.to_string());
    let mut args = vec!["curl", "-v", "-sS", "--max-time", "60"];
    if let Some(b) = &blksize {
        args.extend(["--tftp-blksize", b]);
    }
    args.extend([direction, &local, url]);
    lab.client(&args)
}

fn curl_get(lab: &Lab, url: &str, local: &Path, blksize: Option<u32>) -> Output {
    curl(lab, "-o", url, local, blksize)
}

fn curl_put(lab: &Lab, url: &str, local: &Path, blksize: Option<u32>) -> Output {
    curl(lab, "-T", url, local, blksize)
}

fn tftp_hpa(lab: &Lab, server: &str, command: &str, remote: &str, local: &Path) -> Output {
    let local = local.to_string_lossy();
    let mut args = vec!["tftp"];
    if server.contains(':') {
        args.push("-6");
    }
    args.extend([server, "-m", "binary", "-c", command, remote, &local]);
    lab.client(&args)
}

/// Parses a request line `client -> proxy -> server KIND "file"...`.
fn parse_request_line(line: &str) -> Option<(SocketAddr, SocketAddr, SocketAddr, String)> {
    let mut parts = line.splitn(3, " -> ");
    let client = parts.next()?.parse().ok()?;
    let proxy = parts.next()?.parse().ok()?;
    let (server, rest) = parts.next()?.split_once(' ')?;
    // An outcome line (`RRQ "file": answered`) has the same start.
    if rest.contains("\": ") {
        return None;
    }
    Some((client, proxy, server.parse().ok()?, rest.to_owned()))
}

/// The request lines logged so far, waiting up to 2 s for the first (the
/// helper logs a request after forwarding it, so a fast transfer can end
/// before its line is written).
fn request_lines(lab: &Lab) -> Vec<(SocketAddr, SocketAddr, SocketAddr, String)> {
    lab.wait_for_log(1, Duration::from_secs(2), |m| {
        parse_request_line(m).is_some()
    })
    .iter()
    .filter_map(|m| parse_request_line(m))
    .collect()
}

#[test]
fn get_small_file_with_tftp_hpa() {
    let lab = lab();
    let src = lab.server_root().join("SEP0014F2000001.cnf.xml");
    Lab::make_file(&src, 3 * KIB + 17, 1);
    let dst = out_path(&lab, "got.xml");
    let out = tftp_hpa(&lab, SERVER, "get", "SEP0014F2000001.cnf.xml", &dst);
    assert_same(&lab, &src, &dst, &format!("tftp-hpa get ({})", text(&out)));
}

#[test]
fn put_small_file_with_curl() {
    let lab = lab();
    let src = out_path(&lab, "upload.cfg");
    Lab::make_file(&src, 5 * KIB + 3, 2);
    let out = curl_put(&lab, &format!("tftp://{SERVER}/upload.cfg"), &src, None);
    assert_ok(&lab, &out, "curl put failed");
    assert_same(
        &lab,
        &src,
        &lab.server_root().join("upload.cfg"),
        "curl put",
    );
}

#[test]
fn get_and_put_8_mib_with_curl_blksize_1428() {
    let lab = lab();
    let src = lab.server_root().join("firmware.bin");
    Lab::make_file(&src, 8 * MIB + 1000, 3);
    let dst = out_path(&lab, "firmware.bin");
    let out = curl_get(
        &lab,
        &format!("tftp://{SERVER}/firmware.bin"),
        &dst,
        Some(1428),
    );
    assert_ok(&lab, &out, "curl get failed");
    assert_same(&lab, &src, &dst, "curl get 8 MiB");
    assert!(
        text(&out).contains("blksize parsed from OACK (1428)"),
        "blksize 1428 negotiated: {}",
        text(&out)
    );

    let up = out_path(&lab, "backup.bin");
    Lab::make_file(&up, 8 * MIB + 77, 4);
    let out = curl_put(
        &lab,
        &format!("tftp://{SERVER}/backup.bin"),
        &up,
        Some(1428),
    );
    assert_ok(&lab, &out, "curl put failed");
    assert!(
        text(&out).contains("blksize parsed from OACK (1428)"),
        "blksize 1428 negotiated: {}",
        text(&out)
    );
    assert_same(
        &lab,
        &up,
        &lab.server_root().join("backup.bin"),
        "curl put 8 MiB",
    );
}

#[test]
fn get_and_put_8_mib_with_atftp_windowsize_8() {
    let lab = Lab::start(LabOptions {
        helper_args: vec!["-v".into()],
        atftpd: true,
        ..LabOptions::default()
    });
    let src = lab.atftpd_root().join("image.bin");
    Lab::make_file(&src, 8 * MIB + 5, 5);
    let dst = out_path(&lab, "image.bin");
    let dst_s = dst.to_string_lossy();
    let opts = ["--option", "blksize 1428", "--option", "windowsize 8"];
    let mut args = vec!["atftp", "--trace"];
    args.extend(opts);
    args.extend(["-g", "-r", "image.bin", "-l", &dst_s, ATFTPD_SERVER]);
    let out = lab.client(&args);
    assert_same(
        &lab,
        &src,
        &dst,
        &format!("atftp get ({})", head(&text(&out))),
    );
    assert_oack_windowsize(&text(&out), "get");

    let up = out_path(&lab, "upload.bin");
    Lab::make_file(&up, 8 * MIB + 9, 6);
    let up_s = up.to_string_lossy();
    let mut args = vec!["atftp", "--trace"];
    args.extend(opts);
    args.extend(["-p", "-r", "upload.bin", "-l", &up_s, ATFTPD_SERVER]);
    let out = lab.client(&args);
    assert_oack_windowsize(&text(&out), "put");
    assert_same(
        &lab,
        &up,
        &lab.atftpd_root().join("upload.bin"),
        &format!("atftp put ({})", head(&text(&out))),
    );

    // The options went through unchanged (the helper logs them with -v).
    let lines = lab.wait_for_log(2, Duration::from_secs(2), |m| m.contains("windowsize=8"));
    assert_eq!(
        lines.len(),
        2,
        "expected two requests with windowsize=8:\n{}",
        lab.process_logs()
    );
    assert!(
        lines.iter().all(|l| l.contains("blksize=1428")),
        "{lines:?}"
    );
}

/// The first lines of a long client trace, for failure messages.
fn head(trace: &str) -> String {
    trace.lines().take(12).collect::<Vec<_>>().join("\n")
}

/// atftp's trace shows the server's option acknowledgement: windowsize 8
/// must have been negotiated end to end, not just asked for.
fn assert_oack_windowsize(trace: &str, what: &str) {
    let oack = trace.lines().find(|l| l.starts_with("received OACK"));
    assert!(
        oack.is_some_and(|l| l.contains("windowsize: 8") && l.contains("blksize: 1428")),
        "atftp {what}: no OACK with windowsize 8 and blksize 1428: {:?}",
        oack
    );
}

#[test]
fn phone_boot_sequence_in_order() {
    let lab = lab();
    for (i, name) in BOOT_FILES.iter().enumerate() {
        Lab::make_file(&lab.server_root().join(name), 200 + i * 1500, 10 + i as u64);
    }
    for name in BOOT_FILES {
        let dst = out_path(&lab, name);
        let out = tftp_hpa(&lab, SERVER, "get", name, &dst);
        assert_same(
            &lab,
            &lab.server_root().join(name),
            &dst,
            &format!("boot file {name} ({})", text(&out)),
        );
    }
    let lines = lab.wait_for_log(BOOT_FILES.len(), Duration::from_secs(2), |m| {
        m.contains(" RRQ \"")
    });
    let logged: Vec<String> = lines
        .iter()
        .filter_map(|l| parse_request_line(l))
        .map(|(_, _, _, rest)| rest)
        .collect();
    let expected: Vec<String> = BOOT_FILES.iter().map(|f| format!("RRQ \"{f}\"")).collect();
    assert_eq!(
        logged,
        expected,
        "request lines in boot order:\n{}",
        lab.process_logs()
    );
}

#[test]
fn twenty_clients_at_once() {
    let lab = lab();
    for i in 0..20 {
        Lab::make_file(
            &lab.server_root().join(format!("cfg{i:02}.xml")),
            40 * KIB + i,
            100 + i as u64,
        );
    }
    let children: Vec<_> = (0..20)
        .map(|i| {
            let dst = out_path(&lab, &format!("cfg{i:02}.xml"));
            lab.command(
                "c",
                &[
                    "curl",
                    "-sS",
                    "--max-time",
                    "60",
                    "-o",
                    &dst.to_string_lossy(),
                    &format!("tftp://{SERVER}/cfg{i:02}.xml"),
                ],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting curl")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("waiting for curl");
        assert!(
            out.status.success(),
            "client {i} failed: {}\n{}",
            text(&out),
            lab.process_logs()
        );
        let name = format!("cfg{i:02}.xml");
        assert_same(
            &lab,
            &lab.server_root().join(&name),
            &out_path(&lab, &name),
            &format!("client {i}"),
        );
    }
    let lines = lab.wait_for_log(20, Duration::from_secs(2), |m| {
        parse_request_line(m).is_some()
    });
    assert_eq!(
        lines.len(),
        20,
        "one request line per client:\n{}",
        lab.process_logs()
    );
}

#[test]
fn return_path_expires_after_transwait() {
    let lab = lab_with(&["-w", "2"]);
    Lab::make_file(&lab.server_root().join("a.cfg"), 1000, 7);
    let dst = out_path(&lab, "a.cfg");
    let out = curl_get(&lab, &format!("tftp://{SERVER}/a.cfg"), &dst, None);
    assert_ok(&lab, &out, "curl failed");
    let installed = lab.map_elements("return_v4");
    assert_eq!(
        installed.len(),
        1,
        "one return path right after the request: {installed:?}\n{}",
        lab.process_logs()
    );
    assert!(
        installed[0].starts_with(&format!("{SERVER} . {FIREWALL_EXT} . ")),
        "{installed:?}"
    );
    assert!(
        installed[0].contains(&format!(": {CLIENT} . ")),
        "{installed:?}"
    );
    // -w 2, and 1 s more for the helper to read the element's counter.
    std::thread::sleep(Duration::from_millis(3600));
    assert_eq!(
        lab.map_elements("return_v4"),
        Vec::<String>::new(),
        "the map must be empty once -w and the outcome read have passed"
    );
}

#[test]
fn read_only_refuses_put_with_tftp_error() {
    let lab = lab_with(&["--read-only"]);
    let src = out_path(&lab, "evil.cfg");
    Lab::make_file(&src, 100, 8);
    let out = curl_put(&lab, &format!("tftp://{SERVER}/evil.cfg"), &src, None);
    assert!(!out.status.success(), "the put must fail");
    let out = tftp_hpa(
        &lab,
        SERVER,
        "put",
        &src.to_string_lossy(),
        Path::new("evil.cfg"),
    );
    assert!(
        text(&out).contains("Error code 2: read-only"),
        "tftp-hpa must show the TFTP error: {}",
        text(&out)
    );
    assert!(
        !lab.server_root().join("evil.cfg").exists(),
        "nothing may reach the server"
    );
    let refused = lab.wait_for_log(2, Duration::from_secs(2), |m| {
        m.contains("WRQ \"evil.cfg\": refused")
    });
    assert_eq!(refused.len(), 2, "{}", lab.process_logs());
    assert_eq!(
        lab.map_elements("return_v4"),
        Vec::<String>::new(),
        "a refused request installs nothing"
    );
}

#[test]
fn allow_server_refuses_other_servers() {
    // Two servers allowed: tftpd-hpa's is served, a third is refused.
    let lab = lab_with(&[
        "--allow-server",
        &format!("{SERVER}/32"),
        "--allow-server",
        "198.51.100.3/32",
    ]);
    lab.assert_get("allowed.cfg", 100, 8, "GET from an allowed server");
    let out = tftp_hpa(
        &lab,
        "198.51.100.4",
        "get",
        "x.cfg",
        &out_path(&lab, "x.cfg"),
    );
    assert!(
        text(&out).contains("Error code 2: server not in the proxy's --allow-server"),
        "tftp-hpa must show the TFTP error: {}",
        text(&out)
    );
    let refused = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("server 198.51.100.4 is not in --allow-server (the helper's command line)")
    });
    assert_eq!(refused.len(), 1, "{}", lab.process_logs());
}

#[test]
fn get_over_ipv6() {
    let lab = lab();
    let src = lab.server_root().join("v6.cfg");
    Lab::make_file(&src, 20 * KIB + 1, 11);
    let dst = out_path(&lab, "v6.cfg");
    let out = curl_get(
        &lab,
        &format!("tftp://[{SERVER6}]/v6.cfg"),
        &dst,
        Some(1428),
    );
    assert_ok(&lab, &out, "curl -6 failed");
    assert_same(&lab, &src, &dst, "IPv6 get");
    let lines = request_lines(&lab);
    assert_eq!(lines.len(), 1, "{}", lab.process_logs());
    let (client, proxy, server, _) = &lines[0];
    assert_eq!(client.ip().to_string(), "2001:db8:1::20");
    assert_eq!(proxy.ip().to_string(), "2001:db8:2::1");
    assert_eq!(server.to_string(), format!("[{SERVER6}]:69"));
}

#[test]
fn log_line_shape() {
    let lab = lab();
    Lab::make_file(&lab.server_root().join("SEP0014F2000001.cnf.xml"), 500, 12);
    let out = tftp_hpa(
        &lab,
        SERVER,
        "get",
        "SEP0014F2000001.cnf.xml",
        &out_path(&lab, "x"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let found = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        parse_request_line(m).is_some()
    });
    assert_eq!(found.len(), 1, "{}", lab.process_logs());
    let (client, proxy, server, rest) =
        parse_request_line(&found[0]).unwrap_or_else(|| panic!("unparsable: {}", found[0]));
    assert_eq!(client.ip().to_string(), CLIENT);
    assert_eq!(proxy.ip().to_string(), FIREWALL_EXT);
    assert_ne!(proxy.port(), 0);
    assert_eq!(server.to_string(), format!("{SERVER}:69"));
    assert_eq!(rest, "RRQ \"SEP0014F2000001.cnf.xml\"");
    // syslog: facility daemon, severity info (<30>), with the pid.
    let raw = lab.helper_log();
    let line = raw.iter().find(|l| l.contains("RRQ")).expect("raw line");
    assert!(line.starts_with("<30>"), "daemon.info expected: {line}");
    let tag = line
        .split_whitespace()
        .find(|w| w.starts_with("tftp-proxy["))
        .unwrap_or_else(|| panic!("no tag: {line}"));
    let pid = tag.trim_start_matches("tftp-proxy[").trim_end_matches("]:");
    assert!(pid.parse::<u32>().is_ok(), "pid in the tag: {line}");
}

#[test]
fn verbose_logs_options_and_installed_element() {
    let lab = lab_with(&["-v", "--idle", "1"]);
    Lab::make_file(&lab.server_root().join("b.cfg"), 3000, 13);
    let out = curl_get(
        &lab,
        &format!("tftp://{SERVER}/b.cfg"),
        &out_path(&lab, "b.cfg"),
        Some(1428),
    );
    assert!(out.status.success(), "{}", text(&out));
    let lines = lab.wait_for_log(1, Duration::from_secs(2), |m| m.contains("RRQ \"b.cfg\""));
    assert_eq!(lines.len(), 1, "{}", lab.process_logs());
    assert!(lines[0].contains("blksize=1428"), "{}", lines[0]);
    let installed = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.starts_with("installed: add element inet tftp_proxy return_v4 {")
    });
    assert_eq!(installed.len(), 1, "{}", lab.process_logs());
    // Least privilege: nobody, with CAP_NET_ADMIN and nothing else.
    let identity = lab.wait_for_log(1, Duration::from_secs(2), |m| m.starts_with("serving as "));
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("user nobody")
        .uid;
    let expected = format!("serving as uid {nobody} euid {nobody}, capabilities cap_net_admin");
    assert_eq!(identity, vec![expected], "{}", lab.process_logs());
    // The helper stays until the socket has been idle for --idle and the
    // return path's wait (-w 2) is over, then says what it did.
    let tally = lab.wait_for_log(1, Duration::from_secs(5), |m| m.starts_with("summary: "));
    assert_eq!(tally.len(), 1, "{}", lab.process_logs());
    let (counts, end) = tally[0].split_once(" in ").unwrap();
    assert_eq!(counts, "summary: 1 requests from 1 clients");
    assert!(
        end.ends_with(
            " s: 1 forwarded, 1 answered, 0 unanswered, 0 refused, 0 failed, 0 retransmissions; exiting after 1 s idle"
        ),
        "{}",
        tally[0]
    );
}

#[test]
fn dry_run_installs_and_forwards_nothing() {
    let lab = lab_with(&["-n"]);
    Lab::make_file(&lab.server_root().join("c.cfg"), 300, 14);
    let out = curl_get(
        &lab,
        &format!("tftp://{SERVER}/c.cfg"),
        &out_path(&lab, "c.cfg"),
        None,
    );
    assert!(
        !out.status.success(),
        "a dry run forwards nothing: {}",
        text(&out)
    );
    let would = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.starts_with("would install: add element inet tftp_proxy return_v4 {")
    });
    assert_eq!(would.len(), 1, "{}", lab.process_logs());
    assert!(
        would[0].contains(&format!("{SERVER} . {FIREWALL_EXT} . ")),
        "{}",
        would[0]
    );
    assert_eq!(lab.map_elements("return_v4"), Vec::<String>::new());
    // A request asking for a 20 s retransmission timeout: its state's
    // idle limit is said, 21 s instead of 6.
    send_raw(&lab, &[b"\x00\x01c.cfg\x00octet\x00timeout\x0020\x00"]);
    let limit = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.ends_with(
            ": the transfer's state counts as over after 21 s without a packet \
             (the request's timeout option, plus 1 s)",
        )
    });
    assert_eq!(limit.len(), 1, "{}", lab.process_logs());
    assert_eq!(lab.map_elements("return_v4"), Vec::<String>::new());
}

/// Sends raw datagrams from the client to the server's TFTP port and
/// returns what came back, as hex, one line per datagram sent.
fn send_raw(lab: &Lab, datagrams: &[&[u8]]) -> Vec<String> {
    send_raw_to(lab, SERVER, 69, datagrams)
}

/// Like [`send_raw`], to any address and port.
fn send_raw_to(lab: &Lab, addr: &str, port: u16, datagrams: &[&[u8]]) -> Vec<String> {
    let hex: Vec<String> = datagrams
        .iter()
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = r#"
import socket, sys
out = []
for h in sys.argv[3:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(bytes.fromhex(h), (sys.argv[1], int(sys.argv[2])))
    try:
        out.append(s.recv(70000).hex())
    except socket.timeout:
        out.append("none")
    s.close()
print("\n".join(out))
"#;
    let port = port.to_string();
    let mut args = vec!["python3", "-c", script, addr, &port];
    args.extend(hex.iter().map(String::as_str));
    let out = lab.client(&args);
    assert!(out.status.success(), "python3 failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn malformed_datagrams_get_errors_and_log_lines() {
    let lab = lab();
    let answers = send_raw(
        &lab,
        &[
            b"\x00\x03\x00\x01data",     // DATA to the proxy port
            b"\x00\x01file.cfg",         // filename not terminated
            b"\x00",                     // not even an opcode
            b"\x00\x09f\x00octet\x00",   // opcode 9
            b"\x00\x05\x00\x01oops\x00", // ERROR: never answered
        ],
    );
    assert_eq!(answers.len(), 5, "{answers:?}");
    let reasons = [
        "not a read or write request (DATA)",
        "filename not terminated: \"file.cfg\"",
        "datagram of 1 byte(s) is too short to hold an opcode",
        "not a read or write request (opcode 9)",
    ];
    for (i, (a, reason)) in answers.iter().zip(reasons).enumerate() {
        let want: String = b"\x00\x05\x00\x04"
            .iter()
            .chain(reason.as_bytes())
            .chain(b"\x00")
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            a,
            &want,
            "datagram {i}: expected ERROR code 4 {reason:?}\n{}",
            lab.process_logs()
        );
    }
    assert_eq!(answers[4], "none", "an ERROR must not be answered");
    let refused = lab.wait_for_log(5, Duration::from_secs(2), |m| m.contains("refused"));
    assert_eq!(
        refused.len(),
        5,
        "one line per bad datagram:\n{}",
        lab.process_logs()
    );
    for reason in reasons {
        assert!(
            refused
                .iter()
                .any(|m| m.ends_with(&format!("refused: {reason}"))),
            "{reason:?} not logged: {refused:?}"
        );
    }
    assert!(
        refused
            .iter()
            .any(|m| m.ends_with("refused: not a read or write request (ERROR)")),
        "{refused:?}"
    );
    assert_eq!(lab.map_elements("return_v4"), Vec::<String>::new());
}

#[test]
fn unknown_user_is_a_clear_error_and_no_respawn_loop() {
    let lab = lab_with(&["-u", "no-such-user-here", "--idle", "1"]);
    let out = tftp_hpa(&lab, SERVER, "get", "x.cfg", &out_path(&lab, "x.cfg"));
    assert!(
        text(&out).contains("Error code 0: tftp-proxy is not working, see its log"),
        "the queued request is answered: {}\n{}",
        text(&out),
        lab.process_logs()
    );
    let lines = lab.wait_for_log(1, Duration::from_secs(3), |m| {
        m.contains("giving up root: no such user \"no-such-user-here\"")
    });
    assert!(!lines.is_empty(), "{}", lab.process_logs());
    // The failed helper answers what arrives until the socket has been
    // idle (--idle 1), so inetd does not start it again and again.
    let answered = lab.wait_for_log(1, Duration::from_secs(4), |m| {
        m.contains("queued datagram(s) with a TFTP ERROR")
    });
    assert_eq!(answered.len(), 1, "{}", lab.process_logs());
    std::thread::sleep(Duration::from_millis(500));
    let starts = lab
        .helper_messages()
        .iter()
        .filter(|m| m.contains("no such user"))
        .count();
    assert_eq!(starts, 1, "one start:\n{}", lab.process_logs());
}

#[test]
fn missing_map_is_named_and_the_client_told() {
    let lab = lab_with(&["--table", "no_such_table"]);
    Lab::make_file(&lab.server_root().join("m.cfg"), 100, 15);
    let out = tftp_hpa(&lab, SERVER, "get", "m.cfg", &out_path(&lab, "m.cfg"));
    assert!(
        text(&out).contains("Error code 0: proxy cannot forward the request"),
        "tftp-hpa must show the TFTP error: {}\n{}",
        text(&out),
        lab.process_logs()
    );
    let errors = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("map inet no_such_table return_v4 not found: is the shipped ruleset loaded?")
    });
    assert_eq!(errors.len(), 1, "{}", lab.process_logs());
}

#[test]
fn get_through_the_systemd_style_dual_stack_socket() {
    let lab = Lab::start(LabOptions {
        socket_activation: true,
        ..LabOptions::default()
    });
    let src = lab.server_root().join("SEP0014F2000001.cnf.xml");
    Lab::make_file(&src, 2 * KIB + 5, 16);
    let dst = out_path(&lab, "via-systemd.xml");
    let out = tftp_hpa(&lab, SERVER, "get", "SEP0014F2000001.cnf.xml", &dst);
    assert_same(&lab, &src, &dst, &format!("tftp-hpa get ({})", text(&out)));
    // IPv4 arrives on the IPv6 socket as ::ffff:a.b.c.d; it is logged,
    // looked up and installed as plain IPv4.
    let lines = request_lines(&lab);
    assert_eq!(lines.len(), 1, "{}", lab.process_logs());
    let (client, proxy, server, _) = &lines[0];
    assert_eq!(client.ip().to_string(), CLIENT);
    assert_eq!(proxy.ip().to_string(), FIREWALL_EXT);
    assert_eq!(server.to_string(), format!("{SERVER}:69"));
}

#[test]
fn refusal_through_the_dual_stack_socket_reaches_the_client() {
    let lab = Lab::start(LabOptions {
        socket_activation: true,
        helper_args: vec!["--write-only".into()],
        ..LabOptions::default()
    });
    Lab::make_file(&lab.server_root().join("r.cfg"), 100, 17);
    let out = tftp_hpa(&lab, SERVER, "get", "r.cfg", &out_path(&lab, "r.cfg"));
    assert!(
        text(&out).contains("Error code 2: write-only"),
        "the ERROR must leave the IPv6 socket toward the IPv4 client: {}\n{}",
        text(&out),
        lab.process_logs()
    );
}

#[test]
fn requests_sent_straight_to_the_helper_port_are_dropped() {
    let lab = lab();
    // Only redirected requests may reach the helper: the shipped ruleset
    // drops the rest before inetd sees them.
    let answers = send_raw_to(&lab, "192.0.2.1", 6969, &[b"\x00\x01a.cfg\x00octet\x00"]);
    assert_eq!(answers, vec!["none".to_owned()], "{}", lab.process_logs());
    assert!(
        lab.helper_log().is_empty(),
        "the helper must not have run:\n{}",
        lab.process_logs()
    );
}
