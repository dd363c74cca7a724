//! Every forwarded request ends in an outcome line read from the kernel's
//! count of its return path: answered, answer dropped on the firewall (a
//! forward chain's drop rule), no answer within N s (a silent server),
//! retransmitted K times; a client
//! that asks again from the same port at once is a new transfer; with
//! `--log-format kv` every line is key=value pairs. Needs root.

mod lab;

use lab::{Lab, LabOptions, SERVER};
use std::process::Command;
use std::time::Duration;
use tftp_proxy::log::format::parse_kv;

fn lab_with(args: &[&str]) -> Lab {
    Lab::start(LabOptions {
        helper_args: args.iter().map(|a| (*a).to_owned()).collect(),
        ..LabOptions::default()
    })
}

fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One RRQ for `name` from one socket, sent `copies` times `gap` seconds
/// apart; prints "data" if a DATA came back within `wait` s, else "none".
const ASK: &str = r#"
import socket, sys, time
server, name, copies, gap, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rrq = b"\x00\x01" + name.encode() + b"\x00octet\x00"
for i in range(copies):
    s.sendto(rrq, (server, 69))
    if i + 1 < copies:
        time.sleep(gap)
s.settimeout(wait)
try:
    pkt, _ = s.recvfrom(2000)
    print("data" if pkt[:2] == b"\x00\x03" else "error")
except socket.timeout:
    print("none")
"#;

fn ask(lab: &Lab, name: &str, copies: u32, gap: f64, wait: f64) -> String {
    let (copies, gap, wait) = (copies.to_string(), gap.to_string(), wait.to_string());
    run(
        lab.command(
            "c",
            &["python3", "-c", ASK, SERVER, name, &copies, &gap, &wait],
        ),
        "python3 client",
    )
}

fn outcome_of(lab: &Lab, name: &str) -> String {
    let tail = format!("RRQ \"{name}\": ");
    let lines = lab.wait_for_log(1, Duration::from_secs(6), |m| {
        m.contains(&tail) && !m.contains(": retransmission")
    });
    assert_eq!(lines.len(), 1, "{tail}\n{}", lab.process_logs());
    lines[0].clone()
}

#[test]
fn a_read_that_works_is_answered_and_a_missing_file_too() {
    let lab = lab_with(&[]);
    lab.assert_get("works.cfg", 1500, 3, "a read that works");
    let line = outcome_of(&lab, "works.cfg");
    let (path, outcome) = line.split_once(" RRQ ").unwrap();
    let parts: Vec<&str> = path.split(" -> ").collect();
    assert_eq!(parts.len(), 3, "{line}");
    assert!(parts[0].starts_with(&format!("{}:", lab::CLIENT)), "{line}");
    assert!(
        parts[1].starts_with(&format!("{}:", lab::FIREWALL_EXT)),
        "{line}"
    );
    assert_eq!(parts[2], format!("{SERVER}:69"), "{line}");
    assert_eq!(outcome, "\"works.cfg\": answered");
    // The server spoke (ERROR file not found): answered.
    assert_eq!(ask(&lab, "missing.cfg", 1, 0.0, 3.0), "error");
    assert!(outcome_of(&lab, "missing.cfg").ends_with("\"missing.cfg\": answered"));
}

#[test]
fn a_silent_server_is_no_answer_and_retransmissions_are_counted() {
    let lab = lab_with(&["-w", "2"]);
    // The server's host drops TFTP requests: nothing comes back at all.
    run(
        lab.command(
            "s",
            &[
                "nft",
                "add table inet silent; add chain inet silent in { type filter hook input priority 0; policy accept; }; add rule inet silent in udp dport 69 drop",
            ],
        ),
        "nft in the server",
    );
    assert_eq!(
        ask(&lab, "silent.cfg", 1, 0.0, 2.5),
        "none",
        "the client timed out"
    );
    let line = outcome_of(&lab, "silent.cfg");
    assert!(
        line.ends_with(&format!(
            "\"silent.cfg\": no answer within 2 s from {SERVER}:69"
        )),
        "{line}"
    );
    // A phone that retransmits after 1.2 s: counted on the line.
    assert_eq!(ask(&lab, "again.cfg", 2, 1.2, 2.5), "none");
    let line = outcome_of(&lab, "again.cfg");
    assert!(
        line.ends_with(&format!(
            "\"again.cfg\": no answer within 2 s from {SERVER}:69, retransmitted 1 time"
        )),
        "{line}"
    );
    run(
        lab.command("s", &["nft", "delete table inet silent"]),
        "nft in the server",
    );
}

#[test]
fn an_answer_the_forward_chain_drops_is_dropped_on_the_firewall() {
    let lab = lab_with(&["-w", "2"]);
    // The operator's forward chain drops what the server sends: its
    // answer is redirected to the phone, then dropped before it leaves.
    run(
        lab.command(
            "f",
            &[
                "nft",
                &format!(
                    "add table inet fwdrop; add chain inet fwdrop forward {{ type filter hook forward priority filter; policy accept; }}; add rule inet fwdrop forward ip saddr {SERVER} meta l4proto udp drop"
                ),
            ],
        ),
        "nft in the firewall",
    );
    assert_eq!(
        ask(&lab, "dropped.cfg", 1, 0.0, 2.5),
        "none",
        "the client timed out"
    );
    let line = outcome_of(&lab, "dropped.cfg");
    let (path, outcome) = line.split_once(" RRQ ").unwrap();
    let client = path.split(" -> ").next().unwrap();
    assert_eq!(
        outcome,
        format!(
            "\"dropped.cfg\": answer dropped on the firewall ({SERVER}:69 answered, nothing left toward {client}: look at the forward chain)"
        ),
        "{line}"
    );
    // Without the drop rule the same read is answered again.
    run(
        lab.command("f", &["nft", "delete table inet fwdrop"]),
        "nft in the firewall",
    );
    assert_eq!(ask(&lab, "after.cfg", 1, 0.0, 3.0), "error");
    assert!(outcome_of(&lab, "after.cfg").ends_with("\"after.cfg\": answered"));
}

#[test]
fn kv_lines_all_parse_and_the_summary_counts_the_outcomes() {
    // --idle 3: one helper serves both requests even when a loaded machine
    // takes seconds to start the second client.
    let lab = lab_with(&["--log-format", "kv", "--idle", "3", "-v"]);
    lab.assert_get("kv.cfg", 900, 6, "a read with --log-format kv");
    assert_eq!(ask(&lab, "kv-missing.cfg", 1, 0.0, 3.0), "error");
    let summary = lab.wait_for_log(1, Duration::from_secs(8), |m| m.contains("event=summary"));
    assert_eq!(summary.len(), 1, "{}", lab.process_logs());
    let lines = lab.helper_messages();
    let mut outcomes = Vec::new();
    for line in &lines {
        let pairs = parse_kv(line).unwrap_or_else(|| panic!("not key=value pairs: {line}"));
        assert_eq!(pairs[0].0, "level", "{line}");
        if pairs.iter().any(|(k, v)| k == "event" && v == "outcome") {
            outcomes.push(pairs);
        }
    }
    let value = |pairs: &[(String, String)], key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(outcomes.len(), 2, "{lines:?}");
    assert!(outcomes.iter().all(|p| value(p, "outcome") == "answered"));
    let files: Vec<String> = outcomes.iter().map(|p| value(p, "file")).collect();
    assert!(files.contains(&"kv.cfg".to_owned()), "{files:?}");
    let summary = parse_kv(&summary[0]).unwrap();
    assert_eq!(value(&summary, "forwarded"), "2");
    assert_eq!(value(&summary, "answered"), "2");
    assert_eq!(value(&summary, "unanswered"), "0");
}

/// From one socket: read NAME to the end, then at once ask for it again
/// and time the first DATA; ROUNDS times. Prints the slowest wait in ms.
const AGAIN: &str = r#"
import socket, sys, time
server, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
rrq = b"\x00\x01" + name.encode() + b"\x00octet\x00"
worst = 0.0
for r in range(rounds + 1):
    t0 = time.monotonic()
    s.sendto(rrq, (server, 69))
    first = True
    while True:
        try:
            pkt, addr = s.recvfrom(2000)
        except socket.timeout:
            print("timeout in round %d" % r)
            sys.exit(0)
        if first:
            worst = max(worst, time.monotonic() - t0) if r > 0 else worst
            first = False
        block = pkt[2:4]
        s.sendto(b"\x00\x04" + block, addr)
        if len(pkt) < 516:
            break
print(int(worst * 1000))
"#;

#[test]
fn the_same_read_again_from_the_same_port_is_a_new_transfer_at_once() {
    let lab = lab_with(&[]);
    Lab::make_file(&lab.server_root().join("again.bin"), 1500, 9);
    let worst = run(
        lab.command("c", &["python3", "-c", AGAIN, SERVER, "again.bin", "20"]),
        "python3 client",
    );
    let worst: u64 = worst
        .parse()
        .unwrap_or_else(|_| panic!("{worst}\n{}", lab.process_logs()));
    assert!(
        worst < 500,
        "slowest first DATA of 20 repeated reads: {worst} ms\n{}",
        lab.process_logs()
    );
}

/// A TFTP server on ADDR:69 that ignores the first copy of each request
/// and answers the second, DELAY s after it, with one short DATA block
/// from a new port.
const SECOND_COPY_SERVER: &str = r#"
import socket, sys, threading, time
addr, delay = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 69))
seen = {}
def answer(peer):
    time.sleep(delay)
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t.bind((addr, 0))
    t.sendto(b"\x00\x03\x00\x01second copy served\n", peer)
print("ready", flush=True)
while True:
    pkt, peer = s.recvfrom(2000)
    key = (peer, pkt)
    seen[key] = seen.get(key, 0) + 1
    if seen[key] == 2:
        threading.Thread(target=answer, args=(peer,)).start()
"#;

/// One RRQ to SERVER, sent again every RETRY s (up to 3 times) until a
/// DATA comes; prints the try that got it, or "none".
const RETRYING_PHONE: &str = r#"
import socket, sys
server, name, retry = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(retry)
rrq = b"\x00\x01" + name.encode() + b"\x00octet\x00"
for attempt in range(1, 4):
    s.sendto(rrq, (server, 69))
    try:
        pkt, _ = s.recvfrom(2000)
        if pkt[:2] == b"\x00\x03":
            print(attempt)
            sys.exit(0)
    except socket.timeout:
        pass
print("none")
"#;

/// ICMP port unreachable, as if from SERVER, about UDP datagrams from
/// FIREWALL:P to SERVER:69 quoting PAYLOAD, for every P in [FIRST, LAST].
const FORGED_ICMP: &str = r#"
import socket, struct, sys
server, firewall, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
payload = b"\x00\x01forged\x00octet\x00"
def checksum(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
src, dst = socket.inet_aton(firewall), socket.inet_aton(server)
for port in range(first, last + 1):
    udp = struct.pack("!HHHH", port, 69, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    body = struct.pack("!BBHI", 3, 3, 0, 0) + ip + udp
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    r.sendto(body, (firewall, 0))
print(last - first + 1)
"#;

fn start_second_copy_server(lab: &mut Lab) {
    lab.spawn(
        "second-copy",
        "s",
        &[
            "python3",
            "-u",
            "-c",
            SECOND_COPY_SERVER,
            lab::ATFTPD_SERVER,
            "0.6",
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !lab.process_output("second-copy").contains("ready") {
        assert!(std::time::Instant::now() < deadline, "server not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_answering_the_second_copy_late_is_reached_through_the_renewed_path() {
    let mut lab = lab_with(&[]);
    start_second_copy_server(&mut lab);
    let phone = std::thread::scope(|scope| {
        let phone = scope.spawn(|| {
            run(
                lab.command(
                    "c",
                    &[
                        "python3",
                        "-c",
                        RETRYING_PHONE,
                        lab::ATFTPD_SERVER,
                        "late.cfg",
                        "1.6",
                    ],
                ),
                "retrying phone",
            )
        });
        // Just after the re-send (1.6 s), the element's timeout counts
        // from it: more than 2 s left (from the first send: 1.4 s).
        let resent = lab.wait_for_log(1, Duration::from_secs(3), |m| {
            m.ends_with("RRQ \"late.cfg\": retransmission, sent again")
        });
        assert_eq!(resent.len(), 1, "{}", lab.process_logs());
        let elements = lab.map_elements("return_v4");
        let expires: Vec<f64> = elements
            .iter()
            .filter(|e| e.starts_with(lab::ATFTPD_SERVER))
            .filter_map(|e| {
                let after = e.split("expires ").nth(1)?;
                let (secs, rest) = after.split_once('s')?;
                let ms = rest
                    .trim_start()
                    .split("ms")
                    .next()?
                    .parse::<f64>()
                    .unwrap_or(0.0);
                Some(secs.parse::<f64>().ok()? + ms / 1000.0)
            })
            .collect();
        assert_eq!(expires.len(), 1, "{elements:?}");
        assert!(expires[0] > 2.0, "not renewed: {elements:?}");
        phone.join().expect("phone thread")
    });
    assert_eq!(
        phone,
        "2",
        "served at the second try\n{}",
        lab.process_logs()
    );
    let line = outcome_of(&lab, "late.cfg");
    assert!(
        line.ends_with("\"late.cfg\": answered, retransmitted 1 time"),
        "{line}"
    );
}

#[test]
fn forged_icmp_neither_fails_good_reads_nor_stops_a_resend() {
    let mut lab = lab_with(&[]);
    start_second_copy_server(&mut lab);
    for i in 0..100 {
        Lab::make_file(&lab.server_root().join(format!("good{i}.cfg")), 600, i);
    }
    // 100 reads while the ephemeral range is sprayed from the WAN side.
    let reads = (0..100)
        .map(|i| {
            lab.command(
                "c",
                &[
                    "python3",
                    "-c",
                    ASK,
                    SERVER,
                    &format!("good{i}.cfg"),
                    "1",
                    "0",
                    "3",
                ],
            )
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("phone")
        })
        .collect::<Vec<_>>();
    let sprayed = run(
        lab.command(
            "s",
            &[
                "python3",
                "-c",
                FORGED_ICMP,
                SERVER,
                lab::FIREWALL_EXT,
                "32768",
                "60999",
            ],
        ),
        "forged ICMP",
    );
    assert_eq!(sprayed, "28232");
    let served = reads
        .into_iter()
        .map(|c| c.wait_with_output().expect("phone"))
        .filter(|o| String::from_utf8_lossy(&o.stdout).trim() == "data")
        .count();
    assert_eq!(served, 100, "{}", lab.process_logs());
    let outcomes = lab.wait_for_log(100, Duration::from_secs(6), |m| {
        m.contains(" RRQ \"good") && m.contains("\": ") && !m.contains(": retransmission")
    });
    let failed: Vec<&String> = outcomes
        .iter()
        .filter(|m| !m.ends_with(": answered"))
        .collect();
    assert_eq!((outcomes.len(), failed.len()), (100, 0), "{failed:?}");

    // A copy whose socket holds a forged error is still sent again.
    let phone = std::thread::scope(|scope| {
        let phone = scope.spawn(|| {
            run(
                lab.command(
                    "c",
                    &[
                        "python3",
                        "-c",
                        RETRYING_PHONE,
                        lab::ATFTPD_SERVER,
                        "held.cfg",
                        "1.2",
                    ],
                ),
                "retrying phone",
            )
        });
        let request = lab.wait_for_log(1, Duration::from_secs(2), |m| {
            m.ends_with("RRQ \"held.cfg\"")
        });
        assert_eq!(request.len(), 1, "{}", lab.process_logs());
        let port = request[0]
            .split(" -> ")
            .nth(1)
            .and_then(|p| p.rsplit(':').next())
            .expect("proxy port")
            .to_owned();
        run(
            lab.command(
                "s",
                &[
                    "python3",
                    "-c",
                    FORGED_ICMP,
                    lab::ATFTPD_SERVER,
                    lab::FIREWALL_EXT,
                    &port,
                    &port,
                ],
            ),
            "forged ICMP",
        );
        phone.join().expect("phone thread")
    });
    assert_eq!(phone, "2", "{}", lab.process_logs());
    let resent = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.ends_with("RRQ \"held.cfg\": retransmission, sent again")
    });
    assert_eq!(resent.len(), 1, "{}", lab.process_logs());
}

#[test]
fn a_dead_server_behind_a_default_drop_input_chain_still_has_its_outcome() {
    let lab = lab_with(&["-w", "1"]);
    run(
        lab.command(
            "f",
            &[
                "nft",
                "add table inet strict; add chain inet strict input { type filter hook input priority 0; policy drop; }; add rule inet strict input ct state invalid drop; add rule inet strict input ct state established,related accept; add rule inet strict input iif lo accept; add rule inet strict input udp dport 6969 ct status dnat accept",
            ],
        ),
        "nft in the firewall",
    );
    // Nothing listens on 198.51.100.3:69: its port unreachable is
    // conntrack-invalid here (the request left untracked) and dropped.
    assert_eq!(ask_at(&lab, lab::ATFTPD_SERVER, "dead.cfg"), "none");
    let line = outcome_of(&lab, "dead.cfg");
    assert!(
        line.ends_with(&format!(
            "\"dead.cfg\": no answer within 1 s from {}:69",
            lab::ATFTPD_SERVER
        )),
        "{line}"
    );
}

fn ask_at(lab: &Lab, server: &str, name: &str) -> String {
    run(
        lab.command("c", &["python3", "-c", ASK, server, name, "1", "0", "2"]),
        "python3 client",
    )
}

/// Every phone of [`fifty_phones_behind_one_address_never_wait_a_timeout`]
/// reads from the same address, as behind another NAT.
fn one_address(_phone: usize) -> std::net::Ipv4Addr {
    lab::phone_address(0)
}

#[test]
fn fifty_phones_behind_one_address_never_wait_a_timeout() {
    let lab = Lab::start(LabOptions {
        phones: 1,
        ..LabOptions::default()
    });
    let files = &lab::BOOT_FILES[..6];
    for (i, name) in files.iter().enumerate() {
        Lab::make_file(&lab.server_root().join(name), 700 + 300 * i, i as u64);
    }
    let server = std::net::SocketAddr::new(SERVER.parse().unwrap(), 69);
    let mut slowest = Vec::new();
    for storm in 0..5 {
        let run = lab::storm::run_from(&lab.ns("c"), server, 50, files, one_address);
        assert_eq!(run.failed_phones, 0, "storm {storm}: {:?}", run.failures());
        let worst = run.phone_times.iter().max().copied().unwrap_or_default();
        slowest.push(worst);
    }
    println!("50 phones on one address, 6 files, 5 storms: slowest phone {slowest:?}");
    assert!(
        slowest.iter().all(|t| *t < Duration::from_secs(1)),
        "a phone waited a timeout: {slowest:?}\n{}",
        lab.process_logs()
    );
}
