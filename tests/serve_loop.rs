//! The serve loop against a hostile LAN and an operator's restarts, in
//! the lab: spoofed floods whose ERRORs cannot be delivered, requests
//! made to produce huge log lines, forwards that fail, and a SIGTERM
//! while transfers are in flight. The helper must never be the reason a
//! transfer fails or waits. They need root; without it they fail and say
//! so.

mod lab;

use lab::{json_number, Lab, LabOptions, SERVER};
use std::time::{Duration, Instant};
use tftp_proxy::log::bounded::MAX_LINE;

fn lab_with(args: &[&str]) -> Lab {
    Lab::start(LabOptions {
        helper_args: args.iter().map(|s| s.to_string()).collect(),
        ..LabOptions::default()
    })
}

/// 600 junk datagrams from 150 spoofed LAN addresses nobody answers ARP
/// for: every ERROR to them sits in the neighbour queue, charged to the
/// helper's socket. Then 30 reads from a real phone: all served, none
/// waiting more than 0.5 s for its first DATA.
#[test]
fn spoofed_junk_never_stalls_the_serve_loop() {
    let lab = lab_with(&[]);
    Lab::make_file(&lab.server_root().join("after.cfg"), 1200, 151);
    // Warm the helper up so the flood meets a running process.
    lab.assert_get("warm.cfg", 100, 152, "a read before the flood");
    let flood = lab.traffic_json(&["spoof", SERVER, "600", "192.0.2.100", "150"]);
    assert_eq!(json_number(&flood, "sent"), 600, "{flood}");
    let reads = lab.traffic_json(&["first-data", SERVER, "after.cfg", "30"]);
    println!("spoofed flood: {flood}; reads after it: {reads}");
    assert_eq!(
        (json_number(&reads, "ok"), json_number(&reads, "failed")),
        (30, 0),
        "{reads}\n{}",
        lab.process_logs()
    );
    let slowest = json_number(&reads, "max_first_ms");
    assert!(
        slowest <= 500,
        "a read waited {slowest} ms for its first DATA: {reads}\n{}",
        lab.process_logs()
    );
    // The refusals were bounded in total, not one line per spoofed source.
    let refusals = lab
        .helper_messages()
        .iter()
        .filter(|m| m.contains("refused"))
        .count();
    assert!(
        refusals <= 100,
        "{refusals} refusal lines for 600 spoofed datagrams\n{}",
        lab.process_logs()
    );
}

/// A 64 KB request with 5,000 options under -v: every line stays under
/// the limit, and the cut ones say how much was left out.
#[test]
fn a_request_with_thousands_of_options_makes_bounded_lines() {
    let lab = lab_with(&["-v"]);
    Lab::make_file(&lab.server_root().join("big.cfg"), 100, 153);
    let sent = lab.traffic_json(&["options", SERVER, "5000"]);
    assert!(json_number(&sent, "options") >= 5000, "{sent}");
    let lines = lab.wait_for_log(1, Duration::from_secs(5), |m| {
        m.contains("RRQ \"big.cfg\"") && m.contains(" more)")
    });
    let longest = lab.helper_messages().iter().map(String::len).max();
    println!("longest helper line: {longest:?} bytes; request line: {lines:?}");
    assert_eq!(lines.len(), 1, "{}", lab.process_logs());
    assert!(
        longest.is_some_and(|l| l <= MAX_LINE),
        "a line of {longest:?} bytes (limit {MAX_LINE})\n{}",
        lab.process_logs()
    );
}

/// `-a` naming an address the firewall does not have: the forward fails,
/// and the phone's client receives the ERROR (from the address it wrote
/// to, or it would ignore it).
#[test]
fn a_failed_forward_reaches_the_phone_as_an_error() {
    let lab = lab_with(&["-a", "198.51.100.99"]);
    Lab::make_file(&lab.server_root().join("never.cfg"), 100, 154);
    let got = lab.traffic_json(&["get", SERVER, "never.cfg"]);
    println!("read with a missing -a address: {got}");
    assert!(
        got.contains("\"error\": \"ERROR 0: proxy cannot forward the request\"")
            && got.contains("\"error_from\": \"198.51.100.2:69\""),
        "the phone must get the ERROR from the server's address and port: {got}\n{}",
        lab.process_logs()
    );
    let logged = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("never.cfg") && m.contains("-a 198.51.100.99")
    });
    assert_eq!(logged.len(), 1, "{}", lab.process_logs());
}

/// A forward whose send fails (an output rule drops the helper's request,
/// so `send` fails with EPERM) after the firewall's state of the request
/// was forgotten: the phone's client still receives the ERROR from the
/// address and port it wrote to (answering its next copy, which
/// recreated that state), never one from the firewall's own address.
#[test]
fn a_forward_that_fails_to_send_reaches_the_phone_as_an_error() {
    let lab = lab_with(&[]);
    let nft = |args: &str| {
        let mut full = vec!["nft"];
        full.extend(args.split_whitespace());
        let status = lab.command("f", &full).status().expect("nft");
        assert!(status.success(), "nft {args}");
    };
    nft("add table inet lab_drop");
    nft("add chain inet lab_drop out { type filter hook output priority filter ; }");
    nft("add rule inet lab_drop out ip daddr 198.51.100.2 udp dport 69 drop");
    let got = lab.traffic_json(&["get", SERVER, "dropped.cfg"]);
    println!("read whose forward cannot be sent: {got}");
    assert!(
        got.contains("\"error\": \"ERROR 0: proxy cannot forward the request\"")
            && got.contains("\"error_from\": \"198.51.100.2:69\""),
        "the phone must get the ERROR from the server's address and port: {got}\n{}",
        lab.process_logs()
    );
    let logged = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("dropped.cfg") && m.contains("sending the request to the server")
    });
    assert_eq!(logged.len(), 1, "{}", lab.process_logs());
}

/// 100 reads to a server that answers after 1 s; SIGTERM to the helper
/// 0.5 s in. The return paths stay until they expire, so at least 95 of
/// 100 phones are answered at the first try, and the exit line says
/// what was left.
#[test]
fn a_sigterm_costs_no_transfer_in_flight() {
    const LATE: &str = "198.51.100.6";
    let mut lab = lab_with(&["-v"]);
    lab.command(
        "s",
        &["ip", "addr", "add", "198.51.100.6/24", "dev", "eth0"],
    )
    .status()
    .expect("adding the late server's address");
    let script = lab::repo().join("tests/lab/tftp_load.py");
    lab.spawn(
        "late-server",
        "s",
        &[
            "python3",
            &script.to_string_lossy(),
            "respond-late",
            LATE,
            "1",
        ],
    );
    lab.wait_for_udp("s", LATE, 69);
    let reads = lab
        .traffic(&["first-try", LATE, "late.cfg", "100", "2.5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting the reads");
    let started = Instant::now();
    let pid = wait_for_helper_pid(&lab, started);
    std::thread::sleep(Duration::from_millis(500).saturating_sub(started.elapsed()));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success(), "SIGTERM to helper {pid}");
    let out = reads.wait_with_output().expect("the reads");
    let reads = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stop = lab.wait_for_log(1, Duration::from_secs(3), |m| {
        m.starts_with("stopped by signal")
    });
    println!("reads: {reads}; exit line: {stop:?}");
    let answered = json_number(&reads, "answered");
    assert!(
        answered >= 95,
        "{answered} of 100 answered at the first try\n{}",
        lab.process_logs()
    );
    assert!(
        stop.len() == 1 && stop[0].contains("left to expire on their own, the last in"),
        "{stop:?}\n{}",
        lab.process_logs()
    );
    assert!(
        !lab.helper_messages().iter().any(|m| m.contains(" s idle")),
        "after a signal no line may claim an idle exit\n{}",
        lab.process_logs()
    );
}

/// The pid of the helper that serves the reads (from its syslog tag).
fn wait_for_helper_pid(lab: &Lab, since: Instant) -> String {
    while since.elapsed() < Duration::from_secs(2) {
        if let Some(pid) = lab.helper_log().iter().find_map(|l| {
            l.split_once("tftp-proxy[")
                .and_then(|(_, r)| r.split_once(']'))
                .map(|(p, _)| p.to_owned())
        }) {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no helper logged within 2 s\n{}", lab.process_logs());
}

/// The code block between `<!-- name -->` and `<!-- /name -->` in
/// doc/operation.md, its indentation removed.
fn operation_block(name: &str) -> String {
    let guide = std::fs::read_to_string(lab::repo().join("doc/operation.md")).expect("guide");
    let (_, rest) = guide
        .split_once(&format!("<!-- {name} -->"))
        .unwrap_or_else(|| panic!("doc/operation.md has no <!-- {name} -->"));
    let (section, _) = rest
        .split_once(&format!("<!-- /{name} -->"))
        .unwrap_or_else(|| panic!("doc/operation.md has no <!-- /{name} -->"));
    let body: Vec<&str> = section
        .lines()
        .map(str::trim_start)
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert!(!body.is_empty(), "<!-- {name} --> has no code block");
    body.join("\n") + "\n"
}

/// The reloads doc/operation.md shows keep a live return path (a map
/// element) and leave tftp-proxy's rules as they were; the `flush
/// ruleset` reload it warns about loses it.
#[test]
fn the_documented_reloads_keep_return_paths() {
    let lab = lab_with(&[]);
    let nft = |args: &[&str]| {
        let out = lab.command("f", args).output().expect("nft");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let element = "198.51.100.2 . 198.51.100.1 . 40000 timeout 60s : 192.0.2.20 . 50000";
    nft(&[
        "nft",
        "add",
        "element",
        "inet",
        "tftp_proxy",
        "return_v4",
        &format!("{{ {element} }}"),
    ]);
    // Every chain's rules, the sets and maps declared, without their
    // elements (terse).
    let rules = || -> String { nft(&["nft", "-t", "list", "table", "inet", "tftp_proxy"]) };
    let before = rules();
    let load = |name: &str, text: &str| {
        let path = lab.dir.join(name);
        std::fs::write(&path, text).expect("writing the reload file");
        nft(&["nft", "-f", &path.to_string_lossy()]);
    };
    let shipped = lab::repo().join("etc/tftp-proxy.nft");
    let own = operation_block("reload-tftp-proxy")
        .replace("\"eth1\"", "\"lan0\"")
        .replace("\"eth0\"", "\"wan0\"")
        .replace(
            "/usr/local/share/tftp-proxy/tftp-proxy.nft",
            &shipped.to_string_lossy(),
        );
    load("reload-tftp-proxy.nft", &own);
    load("reload-own-table.nft", &operation_block("reload-own-table"));
    let kept = lab.map_elements("return_v4");
    assert!(
        kept.iter().any(|e| e.contains("192.0.2.20 . 50000")),
        "the element must survive the documented reloads: {kept:?}"
    );
    assert_eq!(rules(), before, "rules neither lost nor doubled");
    // What the guide warns about: flush ruleset empties the maps.
    load(
        "flush.nft",
        &format!(
            "flush ruleset\ndefine int_if = \"lan0\"\ndefine ext_if = \"wan0\"\ninclude \"{}\"\n",
            shipped.display()
        ),
    );
    assert_eq!(lab.map_elements("return_v4"), Vec::<String>::new());
}

/// While the helper is alive, the LAN side is renumbered (192.0.2.1
/// removed, 192.0.2.254 added, the phone's gateway moved): the phone's
/// next read succeeds, and a request to the new address itself is refused
/// as the firewall's own.
#[test]
fn addresses_follow_a_renumbering() {
    let lab = lab_with(&["--idle", "30"]);
    lab.assert_get("before.cfg", 700, 155, "a read before the renumbering");
    let run = |host: &str, args: &[&str]| {
        let status = lab.command(host, args).status().expect("ip");
        assert!(status.success(), "{host}: {args:?}");
    };
    run("f", &["ip", "addr", "del", "192.0.2.1/24", "dev", "lan0"]);
    run("f", &["ip", "addr", "add", "192.0.2.254/24", "dev", "lan0"]);
    run(
        "c",
        &["ip", "route", "replace", "default", "via", "192.0.2.254"],
    );
    lab.assert_get("after.cfg", 900, 156, "a read after the renumbering");
    // An operator's redirect of requests to the firewall itself: the
    // helper must see the new address as its own.
    run(
        "f",
        &[
            "nft",
            "add",
            "rule",
            "inet",
            "tftp_proxy",
            "prerouting",
            "iifname",
            "lan0",
            "ip",
            "daddr",
            "192.0.2.254",
            "udp",
            "dport",
            "69",
            "redirect",
            "to",
            ":6969",
        ],
    );
    let own = lab.traffic_json(&["get", "192.0.2.254", "after.cfg"]);
    println!("request to the new address: {own}");
    assert!(
        own.contains("ERROR 2: destination not allowed"),
        "{own}\n{}",
        lab.process_logs()
    );
    let refused = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("destination 192.0.2.254 is one of the firewall's own addresses")
    });
    assert_eq!(refused.len(), 1, "{}", lab.process_logs());
    assert_eq!(
        lab.helper_starts(),
        1,
        "one helper all along\n{}",
        lab.process_logs()
    );
}
