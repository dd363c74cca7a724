//! The helper is never the reason a transfer fails: what the servers
//! serve directly is served through it, single-port servers (answering
//! from port 69 itself) work, and `--max-blksize` lowers a request's
//! blksize. Real servers (tftpd-hpa, atftpd, dnsmasq) and clients in the
//! lab's network namespaces; they need root and fail saying so without.

mod lab;

use lab::{Lab, LabOptions, SINGLE_PORT_SERVER, SINGLE_PORT_SERVER6};
use std::path::Path;
use std::process::Output;

const KIB: usize = 1024;

fn lab_with(args: &[&str]) -> Lab {
    Lab::start(LabOptions {
        helper_args: args.iter().map(|s| s.to_string()).collect(),
        atftpd: true,
        dnsmasq: true,
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

/// curl in the client fetching `url` into `local`, asking for `blksize`.
fn curl_get(lab: &Lab, url: &str, local: &Path, blksize: Option<u32>) -> Output {
    let local = local.to_string_lossy();
    let blksize = blksize.map(|b| b.to_string());
    let mut args = vec!["curl", "-v", "-sS", "--max-time", "30"];
    if let Some(b) = &blksize {
        args.extend(["--tftp-blksize", b]);
    }
    args.extend(["-o", &local, url]);
    lab.client(&args)
}

/// Asserts `got` holds exactly the bytes of `want`.
fn assert_same_file(lab: &Lab, want: &Path, got: &Path, context: &str) {
    let a = std::fs::read(want).unwrap_or_else(|e| panic!("{context}: {}: {e}", want.display()));
    let b = std::fs::read(got)
        .unwrap_or_else(|e| panic!("{context}: {}: {e}\n{}", got.display(), lab.process_logs()));
    assert!(
        a == b,
        "{context}: {} bytes sent, {} bytes received, contents differ\n{}",
        a.len(),
        b.len(),
        lab.process_logs()
    );
}

#[test]
fn single_port_server_get_over_ipv4_and_ipv6() {
    let lab = lab_with(&[]);
    for (server, url_host, seed) in [
        (SINGLE_PORT_SERVER, SINGLE_PORT_SERVER.to_owned(), 21),
        (SINGLE_PORT_SERVER6, format!("[{SINGLE_PORT_SERVER6}]"), 22),
    ] {
        let name = format!("single-{seed}.bin");
        let src = lab.dnsmasq_root().join(&name);
        // Several blocks, so the whole exchange runs through port 69.
        Lab::make_file(&src, 300 * KIB + 7, seed);
        let dst = lab.dir.join(&name);
        let out = curl_get(&lab, &format!("tftp://{url_host}/{name}"), &dst, None);
        assert!(
            out.status.success(),
            "GET from single-port {server}: {}\n{}",
            text(&out),
            lab.process_logs()
        );
        assert_same_file(&lab, &src, &dst, &format!("single-port {server}"));
    }
}

/// Sends each datagram from its own socket in namespace `host` to
/// `addr:69`, all at once, and returns the first answer to each (the
/// bytes, or `None` after `wait_s` seconds without one).
fn first_answers(lab: &Lab, host: &str, addr: &str, datagrams: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    let script = r#"
import select, socket, sys, time
addr, wait = sys.argv[1], float(sys.argv[2])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
socks = []
for h in sys.argv[3:]:
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.sendto(bytes.fromhex(h), (addr, 69))
    socks.append(s)
answers = [None] * len(socks)
deadline = time.time() + wait
while None in answers and time.time() < deadline:
    waiting = [s for s, a in zip(socks, answers) if a is None]
    ready, _, _ = select.select(waiting, [], [], max(0.0, deadline - time.time()))
    for s in ready:
        answers[socks.index(s)] = s.recv(70000).hex()
print("\n".join(a if a is not None else "none" for a in answers))
"#;
    let hex: Vec<String> = datagrams
        .iter()
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let mut args = vec!["python3", "-c", script, addr, "4"];
    args.extend(hex.iter().map(String::as_str));
    let out = lab
        .command(host, &args)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(out.status.success(), "python3 failed: {}", text(&out));
    let lines: Vec<Option<Vec<u8>>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            (l != "none").then(|| {
                (0..l.len() / 2)
                    .map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).expect("hex"))
                    .collect()
            })
        })
        .collect();
    assert_eq!(lines.len(), datagrams.len(), "{}", text(&out));
    lines
}

/// How a server (or the helper) answered a request's first datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// DATA, OACK or ACK: the transfer started.
    Served(u16),
    /// A TFTP ERROR: code and message.
    Error(u16, String),
    /// Anything else.
    Other(Vec<u8>),
    /// Nothing within the wait.
    Silence,
}

fn classify(answer: Option<Vec<u8>>) -> Answer {
    let Some(bytes) = answer else {
        return Answer::Silence;
    };
    match bytes.as_slice() {
        [0, op @ (3 | 4 | 6), ..] => Answer::Served(u16::from(*op)),
        [0, 5, hi, lo, message @ ..] => Answer::Error(
            u16::from_be_bytes([*hi, *lo]),
            String::from_utf8_lossy(message.split(|&b| b == 0).next().unwrap_or_default())
                .into_owned(),
        ),
        _ => Answer::Other(bytes),
    }
}

/// A request shape real clients send, for a file every server holds.
fn shape(opcode: u8, filename: &str, tail: &[u8]) -> Vec<u8> {
    let mut v = vec![0, opcode];
    v.extend_from_slice(filename.as_bytes());
    v.push(0);
    v.extend_from_slice(tail);
    v
}

/// The corpus: (what, datagram). Every one carries a NUL-terminated
/// filename after opcode 1 or 2, so the helper must forward it.
/// `upload` names the WRQ's file, fresh for each run of the corpus.
fn corpus(upload: &str) -> Vec<(&'static str, Vec<u8>)> {
    const F: &str = "probe.bin";
    let mut padded_512 = shape(1, F, b"octet\0");
    padded_512.resize(512, 0);
    vec![
        ("plain RRQ octet", shape(1, F, b"octet\0")),
        ("mode netascii", shape(1, F, b"netascii\0")),
        ("mode in capitals", shape(1, F, b"OCTET\0")),
        ("trailing NUL padding", shape(1, F, b"octet\0\0\0\0\0")),
        ("padded with NULs to 512 bytes", padded_512),
        ("mode without its NUL", shape(1, F, b"octet")),
        ("blksize without value", shape(1, F, b"octet\0blksize\0")),
        ("tsize without value", shape(1, F, b"octet\0tsize\0")),
        (
            "repeated blksize",
            shape(1, F, b"octet\0blksize\x001024\0blksize\x00512\0"),
        ),
        (
            "option name in capitals",
            shape(1, F, b"octet\0BLKSIZE\x001024\0"),
        ),
        (
            "option name in mixed case",
            shape(1, F, b"octet\0BlkSize\x001024\0TSize\x000\0"),
        ),
        (
            "blksize above 65464",
            shape(1, F, b"octet\0blksize\x00100000\0"),
        ),
        ("blksize 65464", shape(1, F, b"octet\0blksize\x0065464\0")),
        ("blksize below 8", shape(1, F, b"octet\0blksize\x004\0")),
        (
            "blksize not a number",
            shape(1, F, b"octet\0blksize\0abc\0"),
        ),
        ("unknown option", shape(1, F, b"octet\0x-vendor\0foo\0")),
        (
            "unknown option, empty value",
            shape(1, F, b"octet\0x-pxe\0\0"),
        ),
        ("windowsize", shape(1, F, b"octet\0windowsize\x008\0")),
        ("tsize 0", shape(1, F, b"octet\0tsize\x000\0")),
        ("timeout", shape(1, F, b"octet\0timeout\x005\0")),
        ("timeout 0", shape(1, F, b"octet\0timeout\x000\0")),
        (
            "U-Boot style: blksize tsize timeout windowsize",
            shape(
                1,
                F,
                b"octet\0blksize\x001468\0tsize\x000\0timeout\x003\0windowsize\x004\0",
            ),
        ),
        (
            "options then NUL padding",
            shape(1, F, b"octet\0blksize\x001428\0\0\0\0"),
        ),
        ("empty option name", shape(1, F, b"octet\0\x00512\0")),
        (
            "unterminated bytes after the mode",
            shape(1, F, b"octet\0blk"),
        ),
        ("mode missing", shape(1, F, b"")),
        ("unknown mode", shape(1, F, b"binary\0")),
        ("empty filename", shape(1, "", b"octet\0")),
        (
            "file that does not exist",
            shape(1, "no-such-file.bin", b"octet\0"),
        ),
        ("WRQ octet", shape(2, upload, b"octet\0")),
    ]
}

/// What the helper itself refuses (not a request), with the reason its
/// ERROR must give.
fn not_requests() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        (
            "DATA",
            b"\x00\x03\x00\x01hello".to_vec(),
            "not a read or write request (DATA)",
        ),
        (
            "ACK",
            b"\x00\x04\x00\x01".to_vec(),
            "not a read or write request (ACK)",
        ),
        (
            "filename without NUL",
            b"\x00\x01probe.bin".to_vec(),
            "filename not terminated: \"probe.bin\"",
        ),
        (
            "opcode only",
            b"\x00\x01".to_vec(),
            "no filename after the opcode",
        ),
    ]
}

#[test]
fn every_shape_a_server_serves_directly_is_served_through_the_helper() {
    // One client address starts some 100 transfers within the transfer
    // wait: above the default per-client cap, which is not under test here.
    let lab = lab_with(&["--max-per-client", "1000"]);
    for root in [lab.server_root(), lab.atftpd_root(), lab.dnsmasq_root()] {
        Lab::make_file(&root.join("probe.bin"), 3000, 5);
    }
    let servers = [
        ("tftpd-hpa", lab::SERVER),
        ("atftpd", lab::ATFTPD_SERVER),
        ("dnsmasq", lab::DNSMASQ_SERVER),
    ];
    let shapes = corpus("upload-direct.bin");
    assert!(shapes.len() >= 20);
    let datagrams =
        |upload: &str| -> Vec<Vec<u8>> { corpus(upload).into_iter().map(|(_, d)| d).collect() };
    let mut failures = Vec::new();
    let mut table = String::new();
    let mut served_directly = 0;
    for (server_name, addr) in servers {
        let direct = first_answers(&lab, "f", addr, &datagrams("upload-direct.bin"));
        let through = first_answers(&lab, "c", addr, &datagrams("upload-through.bin"));
        for (((what, _), direct), through) in shapes.iter().zip(direct).zip(through) {
            let (direct, through) = (classify(direct), classify(through));
            table.push_str(&format!(
                "{server_name:10} {what:48} direct {direct:?}, through {through:?}\n"
            ));
            let ok = match (&direct, &through) {
                (Answer::Served(_), through) => {
                    served_directly += 1;
                    matches!(through, Answer::Served(_))
                }
                // A server's own refusal reaches the client unchanged.
                (Answer::Error(..), through) => *through == direct,
                (Answer::Silence | Answer::Other(_), _) => true,
            };
            if !ok {
                failures.push(format!(
                    "{server_name}: {what}: direct {direct:?}, through {through:?}"
                ));
            }
        }
    }
    // The helper's own refusals name their cause.
    let refused: Vec<Vec<u8>> = not_requests().into_iter().map(|(_, d, _)| d).collect();
    let answers = first_answers(&lab, "c", lab::SERVER, &refused);
    for ((what, _, reason), answer) in not_requests().into_iter().zip(answers) {
        let answer = classify(answer);
        table.push_str(&format!("helper     {what:48} {answer:?}\n"));
        if answer != Answer::Error(4, reason.to_owned()) {
            failures.push(format!(
                "{what}: expected ERROR 4 {reason:?}, got {answer:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the (shape, server) pairs differ:\n{}\n\nall answers:\n{table}\n{}",
        failures.len(),
        failures.join("\n"),
        lab.process_logs()
    );
    // The corpus is worth something only if the servers serve most of it.
    assert!(
        served_directly >= 45,
        "only {served_directly} pairs served directly:\n{table}"
    );
    eprintln!("{table}");
}

/// The options of an OACK, as (name, value) strings.
fn oack_options(answer: &[u8]) -> Vec<(String, String)> {
    let Some(body) = answer.strip_prefix(&[0u8, 6][..]) else {
        panic!("not an OACK: {answer:?}");
    };
    let fields: Vec<String> = body
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    fields
        .chunks(2)
        .filter_map(|pair| match pair {
            [name, value] => Some((name.to_lowercase(), value.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn max_blksize_lowers_what_the_server_offers() {
    let lab = lab_with(&["--max-blksize", "1200", "-v"]);
    let servers = [lab::SERVER, lab::ATFTPD_SERVER, lab::DNSMASQ_SERVER];
    for root in [lab.server_root(), lab.atftpd_root(), lab.dnsmasq_root()] {
        Lab::make_file(&root.join("u-boot.img"), 200 * KIB + 3, 31);
    }
    // The first answer to a request asking 1468, in any case, repeated.
    let asks = vec![
        shape(1, "u-boot.img", b"octet\0blksize\x001468\0tsize\x000\0"),
        shape(
            1,
            "u-boot.img",
            b"octet\0BLKSIZE\x0065464\0blksize\x001468\0",
        ),
    ];
    for server in servers {
        for (ask, answer) in asks.iter().zip(first_answers(&lab, "c", server, &asks)) {
            let answer = answer.unwrap_or_else(|| {
                panic!("{server}: no answer to {ask:?}\n{}", lab.process_logs())
            });
            let offered: Vec<u32> = oack_options(&answer)
                .into_iter()
                .filter(|(name, _)| name == "blksize")
                .map(|(_, value)| value.parse().expect("blksize number"))
                .collect();
            assert!(
                !offered.is_empty() && offered.iter().all(|&b| b <= 1200),
                "{server}: OACK offers blksize {offered:?} to a request lowered to 1200\n{}",
                lab.process_logs()
            );
        }
        // A whole transfer, the client asking 1468.
        let url_host = server;
        let dst = lab.dir.join(format!("u-boot-{server}.img"));
        let out = curl_get(
            &lab,
            &format!("tftp://{url_host}/u-boot.img"),
            &dst,
            Some(1468),
        );
        assert!(
            out.status.success(),
            "{server}: {}\n{}",
            text(&out),
            lab.process_logs()
        );
        let root = match server {
            lab::SERVER => lab.server_root(),
            lab::ATFTPD_SERVER => lab.atftpd_root(),
            _ => lab.dnsmasq_root(),
        };
        assert_same_file(&lab, &root.join("u-boot.img"), &dst, server);
    }
    let lowered = lab.wait_for_log(3, std::time::Duration::from_secs(2), |m| {
        m.ends_with("blksize \"1468\" lowered to 1200 (--max-blksize)")
    });
    assert!(lowered.len() >= 3, "{}", lab.process_logs());
    // -v also says what a forwarded request departs from.
    let irregular = lab.wait_for_log(3, std::time::Duration::from_secs(2), |m| {
        m.ends_with(
            "not RFC-strict, forwarded as the servers take it: \
             option blksize: repeated (names are case-insensitive)",
        )
    });
    assert!(irregular.len() >= 3, "{}", lab.process_logs());
}

#[test]
fn strict_requests_refuse_what_the_rfcs_do_not_allow() {
    let lab = lab_with(&["--strict-requests"]);
    Lab::make_file(&lab.server_root().join("probe.bin"), 3000, 5);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            shape(1, "probe.bin", b"octet\0blksize\x00100000\0"),
            "option blksize: value 100000 out of range (strict mode)",
        ),
        (
            shape(1, "probe.bin", b"octet\0\0\0\0"),
            "3 NUL byte(s) of padding after the request (strict mode)",
        ),
        (
            shape(1, "probe.bin", b"octet"),
            "transfer mode octet not terminated (strict mode)",
        ),
        (
            shape(1, "probe.bin", b"octet\0blksize\x00512\0BlkSize\x00512\0"),
            "option BlkSize: repeated (names are case-insensitive) (strict mode)",
        ),
        (
            shape(1, "probe.bin", b"octet\0tsize\0"),
            "option tsize: no value (strict mode)",
        ),
        (
            b"\x00\x03\x00\x01x".to_vec(),
            "not a read or write request (DATA)",
        ),
    ];
    let mut datagrams: Vec<Vec<u8>> = cases.iter().map(|(d, _)| d.clone()).collect();
    datagrams.push(shape(1, "probe.bin", b"octet\0blksize\x001428\0"));
    let answers = first_answers(&lab, "c", lab::SERVER, &datagrams);
    for ((datagram, reason), answer) in cases.iter().zip(&answers) {
        assert_eq!(
            classify(answer.clone()),
            Answer::Error(4, (*reason).to_owned()),
            "{datagram:?}\n{}",
            lab.process_logs()
        );
    }
    assert_eq!(
        classify(answers.last().cloned().flatten()),
        Answer::Served(6),
        "an RFC-conforming request is still served\n{}",
        lab.process_logs()
    );
    let logged = lab.wait_for_log(5, std::time::Duration::from_secs(2), |m| {
        m.ends_with("(strict mode)")
    });
    assert_eq!(logged.len(), 5, "{}", lab.process_logs());
}

/// Sends `datagram` `times` times back to back from one socket in the
/// client, to `addr:69`, and returns every answer within `wait_s` seconds.
fn answers_to_repeats(lab: &Lab, addr: &str, datagram: &[u8], times: usize) -> Vec<Vec<u8>> {
    let script = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
    s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 69))
s.settimeout(0.5)
out = []
deadline = time.time() + 3
while time.time() < deadline:
    try:
        out.append(s.recv(70000).hex())
    except socket.timeout:
        pass
print("\n".join(out))
"#;
    let hex: String = datagram.iter().map(|b| format!("{b:02x}")).collect();
    let times = times.to_string();
    let out = lab.client(&["python3", "-c", script, addr, &hex, &times]);
    assert!(out.status.success(), "python3 failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            (0..l.len() / 2)
                .map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

#[test]
fn a_request_repeated_at_once_is_one_transfer() {
    // The copies queue on the socket before the helper starts; once the
    // first is forwarded, its redirected state is gone (single-port
    // servers), and the copies must still be known as retransmissions.
    let lab = lab_with(&[]);
    Lab::make_file(&lab.server_root().join("twice.bin"), 100, 7);
    let answers = answers_to_repeats(&lab, lab::SERVER, &shape(1, "twice.bin", b"octet\0"), 3);
    let kinds: Vec<Answer> = answers.iter().map(|a| classify(Some(a.clone()))).collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|k| matches!(k, Answer::Served(3))),
        "answers {kinds:?}\n{}",
        lab.process_logs()
    );
    let failed = lab.helper_messages();
    assert!(
        failed.iter().all(|m| !m.contains("no redirected flow")),
        "{}",
        lab.process_logs()
    );
    let forwarded = lab.wait_for_log(1, std::time::Duration::from_secs(2), |m| {
        m.ends_with("RRQ \"twice.bin\"")
    });
    assert_eq!(forwarded.len(), 1, "{}", lab.process_logs());
}
