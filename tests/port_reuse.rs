//! No conntrack state outlives the proxy port it belongs to: with the
//! firewall's ephemeral port range cut to a handful, a LAN host plants
//! requests to a server that answers from port 69 itself, then a phone
//! fetches its own file again and again: every fetch gets the phone's own
//! bytes and the planting host none of them. And a WRQ sent from the port
//! of a finished read reaches the helper, which refuses it under
//! --read-only. A phone that asked for a long retransmission timeout
//! (RFC 2349) keeps its transfer through a wait that long. Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::process::Stdio;

/// The single-port server's address.
const SERVER: &str = "198.51.100.9";

/// A TFTP server answering from port 69 itself (one socket): one-block
/// files, DATA re-sent every second up to five times until ACKed. A
/// request with a `timeout` option (RFC 2349) is answered with an OACK,
/// and everything of that transfer is re-sent only after that many
/// seconds. Runs for SECONDS, then prints the number of WRQs it saw.
const SINGLE_PORT_SERVER: &str = r#"
import socket, sys, time
addr, seconds = sys.argv[1], float(sys.argv[2])
files = {b"victim.cfg": b"victim secret " * 20, b"planted.cfg": b"planted " * 20}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 69))
s.settimeout(0.1)
# peer -> [packet, sent at, re-sends, interval, DATA to send once ACKed]
pending = {}
wrqs = 0
end = time.time() + seconds
while time.time() < end:
    try:
        pkt, peer = s.recvfrom(2000)
    except socket.timeout:
        pkt = None
    now = time.time()
    if pkt:
        op = pkt[:2]
        if op == b"\x00\x01":
            fields = pkt[2:].split(b"\x00")
            name = fields[0]
            options = {k.lower(): v for k, v in zip(fields[2::2], fields[3::2])}
            data = files.get(name)
            if data is None:
                s.sendto(b"\x00\x05\x00\x01no such file\x00", peer)
            else:
                block = b"\x00\x03\x00\x01" + data
                timeout = options.get(b"timeout")
                if timeout:
                    oack = b"\x00\x06timeout\x00" + timeout + b"\x00"
                    pending[peer] = [oack, now, 0, float(timeout), block]
                    s.sendto(oack, peer)
                else:
                    pending[peer] = [block, now, 0, 1.0, None]
                    s.sendto(block, peer)
        elif op == b"\x00\x02":
            wrqs += 1
            s.sendto(b"\x00\x04\x00\x00", peer)
        elif op == b"\x00\x04":
            p = pending.pop(peer, None)
            if p and p[4] and pkt[2:4] == b"\x00\x00":
                pending[peer] = [p[4], now, 0, p[3], None]
                s.sendto(p[4], peer)
    for peer, p in list(pending.items()):
        if now - p[1] >= p[3]:
            if p[2] >= 5:
                del pending[peer]
                continue
            p[1], p[2] = now, p[2] + 1
            s.sendto(p[0], peer)
print(wrqs)
"#;

/// The planter sends PLANTS requests from as many ports and keeps
/// listening; the phone then reads victim.cfg FETCHES times, one every
/// 1.5 s (three tries of 2 s each), and after the last read sends a WRQ
/// from that read's port. Prints "fetch ok|bad|<error>" per fetch,
/// "planter got N victim datagrams", and "wrq <answer hex>".
const PLANT_AND_FETCH: &str = r#"
import socket, sys, time, threading
server, plants, fetches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
victim = b"victim secret " * 20
stolen = [0]
planters = []
for i in range(plants):
    p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    p.bind(("192.0.2.21", 0))
    p.settimeout(0.1)
    p.sendto(b"\x00\x01planted.cfg\x00octet\x00", (server, 69))
    planters.append(p)
stop = time.time() + 1.5 * fetches + 6
def listen():
    while time.time() < stop:
        for p in planters:
            try:
                pkt = p.recv(2000)
            except socket.timeout:
                continue
            if b"victim" in pkt:
                stolen[0] += 1
t = threading.Thread(target=listen)
t.start()
time.sleep(1.0)
last = None
for i in range(fetches):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("192.0.2.20", 0))
    s.settimeout(2.0)
    result = "timeout"
    for attempt in range(3):
        s.sendto(b"\x00\x01victim.cfg\x00octet\x00", (server, 69))
        try:
            pkt, peer = s.recvfrom(2000)
        except socket.timeout:
            continue
        if pkt[:4] == b"\x00\x03\x00\x01":
            s.sendto(b"\x00\x04\x00\x01", peer)
            result = "ok" if pkt[4:] == victim else "bad"
        else:
            result = "error " + pkt.hex()
        break
    print("fetch", result, flush=True)
    last = s
    time.sleep(1.5)
last.settimeout(2.0)
last.sendto(b"\x00\x02upload.cfg\x00octet\x00", (server, 69))
try:
    print("wrq", last.recv(2000).hex())
except socket.timeout:
    print("wrq none")
t.join()
print("planter got %d victim datagrams" % stolen[0])
"#;

#[test]
fn a_reused_proxy_port_never_hands_one_phones_file_to_another_and_wrq_passes_the_helper() {
    let lab = Lab::start(LabOptions {
        helper_args: vec!["--read-only".into()],
        ..LabOptions::default()
    });
    lab::run(&mut lab.command(
        "s",
        &["ip", "addr", "add", &format!("{SERVER}/24"), "dev", "eth0"],
    ));
    lab::run(&mut lab.command(
        "f",
        &["sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40015"],
    ));
    let fetches = 8;
    let server = lab
        .command("s", &["python3", "-c", SINGLE_PORT_SERVER, SERVER, "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the single-port server");
    lab.wait_for_udp("s", SERVER, 69);
    let Run {
        report,
        server_stdout,
        context,
    } = run_client(
        &lab,
        server,
        &[PLANT_AND_FETCH, SERVER, "8", &fetches.to_string()],
    );
    let results: Vec<&str> = report
        .lines()
        .filter_map(|l| l.strip_prefix("fetch "))
        .collect();
    assert_eq!(
        results,
        vec!["ok"; fetches],
        "every fetch must get the phone's own bytes:\n{context}"
    );
    assert!(
        report.contains("planter got 0 victim datagrams"),
        "the planting host must get none of the phone's bytes:\n{context}"
    );
    // ERROR 2 "read-only" from the helper, and the server saw no WRQ.
    let wrq = report
        .lines()
        .find_map(|l| l.strip_prefix("wrq "))
        .unwrap_or("missing");
    assert!(
        wrq.starts_with("00050002"),
        "the WRQ must reach the helper and be refused: {wrq}\n{context}"
    );
    assert_eq!(
        server_stdout.trim(),
        "0",
        "no WRQ may reach the server:\n{context}"
    );
    let refused = lab.wait_for_log(1, std::time::Duration::from_secs(2), |m| {
        m.contains("WRQ \"upload.cfg\": refused: WRQ refused: read-only")
    });
    assert_eq!(refused.len(), 1, "{context}");
}

/// A phone that asked for a TIMEOUT s retransmission timeout and lost
/// its first ACK of DATA: it waits (up to TIMEOUT + 10 s) for the
/// server's re-sent DATA, ACKs it, and prints "resent after <s> s" and
/// "fetch ok|bad|<error>".
const SLOW_RETRY_FETCH: &str = r#"
import socket, sys, time
server, timeout = sys.argv[1], sys.argv[2]
victim = b"victim secret " * 20
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.20", 0))
s.settimeout(5.0)
s.sendto(b"\x00\x01victim.cfg\x00octet\x00timeout\x00" + timeout.encode() + b"\x00", (server, 69))
oack, peer = s.recvfrom(2000)
if oack[:2] != b"\x00\x06":
    print("fetch error " + oack.hex())
    sys.exit()
s.sendto(b"\x00\x04\x00\x00", peer)
first, peer = s.recvfrom(2000)
lost_at = time.time()
# The ACK of this DATA is lost: nothing is sent.
s.settimeout(float(timeout) + 10)
try:
    again, peer = s.recvfrom(2000)
except socket.timeout:
    print("fetch timeout: DATA never re-sent")
    sys.exit()
print("resent after %.1f s" % (time.time() - lost_at))
s.sendto(b"\x00\x04\x00\x01", peer)
print("fetch", "ok" if again[:4] == b"\x00\x03\x00\x01" and again[4:] == victim else "bad " + again.hex())
"#;

/// The retransmission timeout the phone asks for: well past the 6 s the
/// idle limit is without the option, and past the transfer wait plus
/// the 6 s, so a helper that gave up after 6 s idle would cut it.
const LONG_TIMEOUT: u64 = 15;

#[test]
fn a_phone_asking_for_a_long_retransmission_timeout_keeps_its_single_port_transfer() {
    let lab = Lab::start(LabOptions::default());
    lab::run(&mut lab.command(
        "s",
        &["ip", "addr", "add", &format!("{SERVER}/24"), "dev", "eth0"],
    ));
    let server = lab
        .command(
            "s",
            &[
                "python3",
                "-c",
                SINGLE_PORT_SERVER,
                SERVER,
                &(LONG_TIMEOUT + 12).to_string(),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the single-port server");
    lab.wait_for_udp("s", SERVER, 69);
    let Run {
        report, context, ..
    } = run_client(
        &lab,
        server,
        &[SLOW_RETRY_FETCH, SERVER, &LONG_TIMEOUT.to_string()],
    );
    let waited: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("resent after "))
        .and_then(|l| l.trim_end_matches(" s").parse().ok())
        .unwrap_or_else(|| panic!("the re-sent DATA must reach the phone:\n{context}"));
    assert!(
        waited >= (LONG_TIMEOUT - 1) as f64,
        "the server must have waited its timeout ({waited} s), or the test proves nothing:\n{context}"
    );
    assert!(
        report.lines().any(|l| l == "fetch ok"),
        "the transfer must complete:\n{context}"
    );
}

/// What a client script and the server it talked to printed.
struct Run {
    /// The client's stdout and stderr.
    report: String,
    /// The server's stdout.
    server_stdout: String,
    /// For failure messages: the report, the server's output and the
    /// lab's process logs.
    context: String,
}

/// Runs `python3 -c SCRIPT ARGS...` on the phones' side (`script_and_args`
/// starts with the script), then waits for the server to end. Fails the
/// test if the client script failed.
fn run_client(lab: &Lab, server: std::process::Child, script_and_args: &[&str]) -> Run {
    let mut args = vec!["python3", "-c"];
    args.extend_from_slice(script_and_args);
    let out = lab.client(&args);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let server_out = server.wait_with_output().expect("server output");
    let context = format!(
        "{report}\nserver: {}{}\n{}",
        String::from_utf8_lossy(&server_out.stdout),
        String::from_utf8_lossy(&server_out.stderr),
        lab.process_logs()
    );
    assert!(out.status.success(), "python3:\n{context}");
    Run {
        report,
        server_stdout: String::from_utf8_lossy(&server_out.stdout).into_owned(),
        context,
    }
}
