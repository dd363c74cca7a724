//! A full return-path map is known without asking the kernel to fail, and
//! empties as soon as a flood ends: four LAN addresses flood a server that
//! never answers for 3 s while a phone fetches its file every second; the
//! phone is refused as busy (the log names the limit) and served again
//! within the transfer wait plus a second after the flood ends. Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::time::Duration;

/// The transfer wait the helper runs with here: long enough that the
/// flood's live return paths reach the interface's share of the map.
const TRANSFER_WAIT: u64 = 4;

/// Floods `silent`:69 from the BIND addresses (64 ports each) at RATE
/// requests a second for FLOOD seconds, while the phone reads `file` from
/// `server` once a second with one try of one second, until AFTER seconds
/// past the flood's end. Prints one line per phone attempt: seconds since
/// the flood ended (negative: during it) and "ok", "error: <text>" or
/// "timeout"; then "sent N".
const FLOOD_AND_FETCH: &str = r#"
import socket, sys, threading, time
silent, server, name, binds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
rate, flood, after = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
socks = []
for b in binds:
    for _ in range(64):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((b, 0))
        s.setblocking(False)
        socks.append(s)
start = time.time()
flood_end = start + flood
sent = [0]
def flooder():
    i = 0
    while True:
        now = time.time()
        if now >= flood_end:
            return
        due = int((now - start) * rate)
        while i < due:
            try:
                socks[i % len(socks)].sendto(b"\x00\x01flood%d\x00octet\x00" % i, (silent, 69))
                sent[0] += 1
            except BlockingIOError:
                pass
            i += 1
        time.sleep(0.001)
t = threading.Thread(target=flooder)
t.start()
def fetch():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("192.0.2.20", 0))
    s.settimeout(1.0)
    s.sendto(b"\x00\x01" + name.encode() + b"\x00octet\x00", (server, 69))
    try:
        pkt, peer = s.recvfrom(2000)
    except socket.timeout:
        return "timeout"
    if pkt[:2] == b"\x00\x05":
        return "error: " + pkt[4:-1].decode(errors="replace")
    if pkt[:4] == b"\x00\x03\x00\x01":
        s.sendto(b"\x00\x04\x00\x01", peer)
        return "ok"
    return "other " + pkt[:4].hex()
next_try = start + 0.5
while time.time() < flood_end + after:
    now = time.time()
    if now < next_try:
        time.sleep(next_try - now)
    at = time.time() - flood_end
    print("%.2f %s" % (at, fetch()), flush=True)
    next_try += 1.0
t.join()
print("sent %d" % sent[0])
"#;

#[test]
fn a_flood_is_refused_as_busy_at_once_and_phones_are_served_soon_after_it_ends() {
    let lab = Lab::start(LabOptions {
        helper_args: vec!["-w".into(), TRANSFER_WAIT.to_string()],
        phones: 2,
        ..LabOptions::default()
    });
    let silent = "198.51.100.9";
    lab::run(&mut lab.command(
        "s",
        &["ip", "addr", "add", &format!("{silent}/24"), "dev", "eth0"],
    ));
    // Nothing answers there: not even an ICMP port unreachable.
    lab::run(&mut lab.command(
        "s",
        &[
            "nft",
            "add table inet silent; add chain inet silent in { type filter hook input priority 0; }; add rule inet silent in ip daddr 198.51.100.9 drop",
        ],
    ));
    lab::Lab::make_file(&lab.server_root().join("phone.cfg"), 400, 3);
    let flooders = [
        lab::OTHER_CLIENTS[0].to_owned(),
        lab::OTHER_CLIENTS[1].to_owned(),
        lab::phone_address(0).to_string(),
        lab::phone_address(1).to_string(),
    ]
    .join(",");
    let after = TRANSFER_WAIT as f64 + 4.0;
    let out = lab.client(&[
        "python3",
        "-c",
        FLOOD_AND_FETCH,
        silent,
        lab::SERVER,
        "phone.cfg",
        &flooders,
        "3000",
        "3",
        &after.to_string(),
    ]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python3: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    let attempts: Vec<(f64, String)> = report
        .lines()
        .filter_map(|l| {
            let (at, result) = l.split_once(' ')?;
            Some((at.parse().ok()?, result.to_owned()))
        })
        .collect();
    let context = format!(
        "{report}\n{}",
        lab.process_logs()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Busy during the flood, named with the limit.
    let busy = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("refused: proxy busy") && m.contains("(size 8192)")
    });
    assert!(
        !busy.is_empty(),
        "the log must say busy with the limit:\n{context}"
    );
    // The phone is not served while the flood holds its network's share
    // (it hears busy, or on a loaded machine its request waits behind the
    // flood's in the socket past its one-second try).
    let refused = attempts
        .iter()
        .any(|(at, r)| *at < TRANSFER_WAIT as f64 && r != "ok");
    assert!(
        refused,
        "the phone must be refused while the map is taken:\n{context}"
    );
    // Served again within the transfer wait plus a second after the end,
    // and every fetch from then on.
    let deadline = TRANSFER_WAIT as f64 + 1.0;
    let late: Vec<&(f64, String)> = attempts
        .iter()
        .filter(|(at, r)| *at >= deadline && r != "ok")
        .collect();
    assert!(
        late.is_empty(),
        "fetches after {deadline} s past the flood must be served: {late:?}\n{context}"
    );
    assert!(
        attempts.iter().filter(|(at, _)| *at >= deadline).count() >= 2,
        "too few fetches after the flood:\n{context}"
    );
}
