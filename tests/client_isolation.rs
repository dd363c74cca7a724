//! A LAN host cannot use the helper to reach another network or the
//! firewall itself, and odd addresses get an answer the phone hears:
//! forged sources (another network's host, the firewall's own address)
//! are refused with nothing delivered; a phone sending from its
//! link-local address, and requests to the subnet-router anycast, an
//! IPv4-mapped IPv6 and a link-local destination each get a TFTP ERROR.
//! Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Counts the datagrams arriving at `addr`:`port` for `seconds` and then
/// prints the count.
const COUNT_DATAGRAMS: &str = r#"
import socket, sys, time
addr, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
s.settimeout(0.2)
n = 0
end = time.time() + seconds
while time.time() < end:
    try:
        s.recv(2000)
        n += 1
    except socket.timeout:
        pass
print(n)
"#;

/// A "server" that answers every datagram with four datagrams from a new
/// port, for `seconds`; prints how many requests it got.
const ANSWER_FROM_NEW_PORT: &str = r#"
import socket, sys, time
addr, seconds = sys.argv[1], float(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((addr, 69))
s.settimeout(0.2)
n = 0
end = time.time() + seconds
while time.time() < end:
    try:
        _, peer = s.recvfrom(2000)
    except socket.timeout:
        continue
    n += 1
    t = socket.socket(fam, socket.SOCK_DGRAM)
    t.bind((addr, 0))
    for i in range(4):
        t.sendto(b"\x00\x03\x00\x01secret", peer[:2])
print(n)
"#;

/// Sends an RRQ from `bind` (address, port, optional interface name) to
/// `server`:69 and prints the hex of the first answer, or "none".
const SEND_RRQ: &str = r#"
import socket, sys
bind, port, server = sys.argv[1], int(sys.argv[2]), sys.argv[3]
iface = sys.argv[4] if len(sys.argv) > 4 else None
fam = socket.AF_INET6 if ":" in server else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
scope = socket.if_nametoindex(iface) if iface else 0
if fam == socket.AF_INET6:
    s.bind((bind, port, 0, scope))
    to = (server, 69, 0, scope)
else:
    s.bind((bind, port))
    to = (server, 69)
s.settimeout(3)
s.sendto(b"\x00\x01phone.cfg\x00octet\x00", to)
try:
    print(s.recv(1000).hex())
except socket.timeout:
    print("none")
"#;

fn start_python(lab: &Lab, host: &str, script: &str, args: &[&str]) -> Child {
    let mut argv = vec!["python3", "-c", script];
    argv.extend_from_slice(args);
    lab.command(host, &argv)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting python3 in {host}: {e}"))
}

fn count_of(child: Child, what: &str) -> u64 {
    let out = child.wait_with_output().expect("python3 output");
    assert!(out.status.success(), "{what}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what}: not a count: {}", text(&out)))
}

/// Whether the firewall's own address is refused: the forward chain has no
/// strict reverse-path filter in the lab, so the helper's check is the
/// only layer being tested.
fn loose_reverse_path(lab: &Lab) {
    for key in ["all", "default", "lan0"] {
        lab::run(&mut lab.command(
            "f",
            &["sysctl", "-qw", &format!("net.ipv4.conf.{key}.rp_filter=0")],
        ));
    }
}

#[test]
fn forged_source_naming_the_management_host_opens_nothing() {
    let lab = Lab::start(LabOptions {
        management: true,
        ..LabOptions::default()
    });
    loose_reverse_path(&lab);
    let fake_server = "198.51.100.9";
    lab::run(&mut lab.command(
        "s",
        &[
            "ip",
            "addr",
            "add",
            &format!("{fake_server}/24"),
            "dev",
            "eth0",
        ],
    ));
    // The LAN host writes the management host's address as its source.
    lab::run(&mut lab.command(
        "c",
        &[
            "ip",
            "addr",
            "add",
            &format!("{}/32", lab::MANAGEMENT_HOST),
            "dev",
            "eth0",
        ],
    ));
    let listener = start_python(
        &lab,
        "m",
        COUNT_DATAGRAMS,
        &[lab::MANAGEMENT_HOST, "161", "5"],
    );
    let server = start_python(&lab, "s", ANSWER_FROM_NEW_PORT, &[fake_server, "5"]);
    lab.wait_for_udp("s", fake_server, 69);
    lab.wait_for_udp("m", lab::MANAGEMENT_HOST, 161);
    let out = lab.client(&[
        "python3",
        "-c",
        SEND_RRQ,
        lab::MANAGEMENT_HOST,
        "161",
        fake_server,
    ]);
    assert!(out.status.success(), "python3: {}", text(&out));
    let wanted = format!(
        "refused: forged client: {} is not reachable through lan0",
        lab::MANAGEMENT_HOST
    );
    let refused = lab.wait_for_log(1, Duration::from_secs(3), |m| m.contains(&wanted));
    assert_eq!(refused.len(), 1, "{wanted}\n{}", lab.process_logs());
    assert_eq!(
        count_of(server, "server"),
        0,
        "nothing may be forwarded\n{}",
        lab.process_logs()
    );
    assert_eq!(
        count_of(listener, "management host"),
        0,
        "the management host must receive nothing\n{}",
        lab.process_logs()
    );
    assert_eq!(lab.map_elements("return_v4"), Vec::<String>::new());
}

#[test]
fn forged_source_equal_to_the_firewalls_own_address_delivers_nothing_locally() {
    let lab = Lab::start(LabOptions::default());
    let own = "2001:db8:2::1";
    lab::run(&mut lab.command(
        "c",
        &[
            "ip",
            "addr",
            "add",
            &format!("{own}/128"),
            "dev",
            "eth0",
            "nodad",
        ],
    ));
    // A socket on the firewall where the forged return path would lead.
    let local = start_python(&lab, "f", COUNT_DATAGRAMS, &["::", "5000", "5"]);
    lab.wait_for_udp("f", "*", 5000);
    let out = lab.client(&["python3", "-c", SEND_RRQ, own, "5000", lab::SERVER6]);
    assert!(out.status.success(), "python3: {}", text(&out));
    let wanted = format!("refused: client {own} is one of the firewall's own addresses");
    let refused = lab.wait_for_log(1, Duration::from_secs(3), |m| m.contains(&wanted));
    assert_eq!(refused.len(), 1, "{wanted}\n{}", lab.process_logs());
    assert_eq!(
        count_of(local, "firewall socket"),
        0,
        "nothing may be delivered to the firewall\n{}",
        lab.process_logs()
    );
    assert_eq!(lab.map_elements("return_v6"), Vec::<String>::new());
}

#[test]
fn a_phone_sending_from_its_link_local_address_hears_an_error_and_nothing_is_forwarded() {
    let lab = Lab::start(LabOptions::default());
    lab::run(&mut lab.command(
        "c",
        &["ip", "addr", "add", "fe80::20/64", "dev", "eth0", "nodad"],
    ));
    let out = lab.client(&[
        "python3",
        "-c",
        SEND_RRQ,
        "fe80::20",
        "0",
        lab::SERVER6,
        "eth0",
    ]);
    assert!(out.status.success(), "python3: {}", text(&out));
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        answer.starts_with("00050002"),
        "the phone must get ERROR 2, got {answer}\n{}",
        lab.process_logs()
    );
    let wanted = "refused: client fe80::20 is a link-local address";
    let refused = lab.wait_for_log(1, Duration::from_secs(2), |m| m.contains(wanted));
    assert_eq!(refused.len(), 1, "{wanted}\n{}", lab.process_logs());
    assert_eq!(lab.map_elements("return_v6"), Vec::<String>::new());
}

/// Sends one IPv6 RRQ in a raw Ethernet frame (the kernel's UDP socket will
/// not send to an IPv4-mapped address), then prints the hex of the first
/// TFTP ERROR that comes back to the phone's port, or "none".
const RAW_V6_RRQ: &str = r#"
import socket, struct, sys, time
src, dst, fw_mac = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", ""))
own_mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
payload = b"\x00\x01phone.cfg\x00octet\x00"
sport, dport = 40123, 69
s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
length = 8 + len(payload)
def csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return (~total) & 0xffff or 0xffff
pseudo = s6 + d6 + struct.pack("!IxxxB", length, 17)
udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
udp = udp[:6] + struct.pack("!H", csum(pseudo + udp)) + udp[8:]
ip6 = struct.pack("!IHBB", 6 << 28, length, 17, 64) + s6 + d6
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
s.bind(("eth0", 0x86dd))
s.settimeout(0.2)
s.send(fw_mac + own_mac + b"\x86\xdd" + ip6 + udp)
end = time.time() + 3
while time.time() < end:
    try:
        frame = s.recv(4000)
    except socket.timeout:
        continue
    ip = frame[14:]
    if len(ip) < 48 or ip[6] != 17 or ip[24:40] != s6:
        continue
    if struct.unpack("!H", ip[42:44])[0] != sport:
        continue
    print(ip[48:].hex())
    sys.exit(0)
print("none")
"#;

#[test]
fn odd_destinations_each_get_an_error_the_phone_receives() {
    let lab = Lab::start(LabOptions::default());
    let link = lab::run(&mut lab.command("f", &["cat", "/sys/class/net/lan0/address"]));
    let fw_mac = String::from_utf8_lossy(&link.stdout).trim().to_owned();
    // The firewall's own link-local address must have finished DAD before
    // a redirect to it can be answered from it.
    for _ in 0..50 {
        let out = lab::run(&mut lab.command(
            "f",
            &["ip", "-6", "addr", "show", "dev", "lan0", "tentative"],
        ));
        if out.stdout.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The phone reaches fe80::99 through the firewall's MAC: a host on the
    // link claiming that address would do the same.
    lab::run(&mut lab.command(
        "c",
        &[
            "ip", "-6", "neigh", "add", "fe80::99", "lladdr", &fw_mac, "dev", "eth0",
        ],
    ));
    let cases: [(&str, Output, &str); 3] = [
        (
            "subnet-router anycast",
            lab.client(&["python3", "-c", SEND_RRQ, "::", "0", "2001:db8:1::"]),
            "refused: destination 2001:db8:1:: is one of the firewall's own addresses",
        ),
        (
            "link-local destination",
            lab.client(&[
                "python3",
                "-c",
                SEND_RRQ,
                "2001:db8:1::20",
                "0",
                "fe80::99",
                "eth0",
            ]),
            "refused: destination fe80::99 is a link-local address",
        ),
        (
            "IPv4-mapped destination",
            lab.client(&[
                "python3",
                "-c",
                RAW_V6_RRQ,
                "2001:db8:1::20",
                "::ffff:203.0.113.69",
                &fw_mac,
            ]),
            "refused: destination ::ffff:203.0.113.69 is an IPv4-mapped IPv6 address",
        ),
    ];
    for (what, out, wanted) in cases {
        assert!(out.status.success(), "{what}: python3: {}", text(&out));
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            answer.starts_with("00050002"),
            "{what}: the phone must get ERROR 2, got {answer}\n{}",
            lab.process_logs()
        );
        let refused = lab.wait_for_log(1, Duration::from_secs(2), |m| m.contains(wanted));
        assert_eq!(refused.len(), 1, "{what}: {wanted}\n{}", lab.process_logs());
    }
    assert_eq!(lab.map_elements("return_v6"), Vec::<String>::new());
}
