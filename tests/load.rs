//! The helper under load, in the lab: steady traffic, retransmissions,
//! floods, caps, a stalled syslog, a boot storm, a broken inetd line. The
//! helper must never be the reason TFTP goes down: every test counts
//! failures, helper starts and inetd's complaints, and prints them.
//! They need root; without it they fail and say so.

mod lab;

use lab::{json_number as number, Lab, LabOptions, CLIENT, OTHER_CLIENTS, SERVER, SERVER6};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

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

/// A boolean in the traffic tool's JSON.
fn flag(json: &str, key: &str) -> bool {
    json.contains(&format!("\"{key}\": true"))
}

/// Starts the traffic tool; its JSON comes from [`finish`].
fn start_traffic(lab: &Lab, args: &[&str]) -> Child {
    lab.traffic(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the traffic tool")
}

/// Waits for the traffic tool and returns its JSON line.
fn finish(lab: &Lab, child: Child) -> String {
    let out = child
        .wait_with_output()
        .expect("waiting for the traffic tool");
    assert!(
        out.status.success(),
        "traffic tool failed: {}\n{}",
        text(&out),
        lab.process_logs()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Steady reads over IPv4 and IPv6 at once for `seconds`: every read must
/// succeed, inetd must never complain, and the helper starts are printed.
fn steady_load(lab: &Lab, variant: &str, seconds: u32) {
    Lab::make_file(&lab.server_root().join("steady.cfg"), 700, 31);
    let seconds = seconds.to_string();
    let v4 = start_traffic(lab, &["load", SERVER, "steady.cfg", "700", "40", &seconds]);
    let v6 = start_traffic(lab, &["load", SERVER6, "steady.cfg", "700", "10", &seconds]);
    let (v4, v6) = (finish(lab, v4), finish(lab, v6));
    let starts = lab.helper_starts();
    println!("steady load ({variant}), {seconds} s: IPv4 {v4}; IPv6 {v6}; helper starts: {starts}");
    for (family, json, rate) in [("IPv4", &v4, 40), ("IPv6", &v6, 10)] {
        let expected = rate * seconds.parse::<u64>().unwrap_or(0);
        assert_eq!(number(json, "started"), expected, "{family}: {json}");
        assert_eq!(
            (number(json, "ok"), number(json, "failed")),
            (expected, 0),
            "{family} reads ({variant}): {json}\n{}",
            lab.process_logs()
        );
    }
    let complaints = inetd_complaints(lab);
    assert!(complaints.is_empty(), "inetd ({variant}): {complaints:?}");
    assert!(starts >= 1, "{}", lab.process_logs());
}

#[test]
fn steady_load_with_the_shipped_inetd_lines() {
    let lab = Lab::start(LabOptions::default());
    steady_load(&lab, "wait.1000", 60);
}

#[test]
fn steady_load_with_a_plain_wait_line() {
    let lab = Lab::start(LabOptions {
        inetd_wait: Some("wait".into()),
        ..LabOptions::default()
    });
    steady_load(&lab, "plain wait", 60);
}

#[test]
fn rrq_then_wrq_twice_from_one_port_is_one_upload() {
    let lab = Lab::start(LabOptions::default());
    for round in 0..20 {
        let name = format!("upload{round:02}.bin");
        let local = lab.dir.join(&name);
        Lab::make_file(&local, 3000 + 97 * round, 40 + round as u64);
        let out = lab
            .traffic(&[
                "rrq-wrq",
                SERVER,
                "missing.cfg",
                &name,
                &local.to_string_lossy(),
            ])
            .output()
            .expect("running the traffic tool");
        let json = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success() && flag(&json, "ok"),
            "round {round}: {}\n{}",
            text(&out),
            lab.process_logs()
        );
        // One transfer at the server: one transfer ID acknowledged the WRQ.
        assert_eq!(
            number(&json, "acked0"),
            1,
            "round {round}: {json}\n{}",
            lab.process_logs()
        );
        let stored = std::fs::read(lab.server_root().join(&name)).unwrap_or_default();
        let sent = std::fs::read(&local).expect("the local file");
        assert!(
            stored == sent,
            "round {round}: the server holds {} bytes of {}\n{}",
            stored.len(),
            sent.len(),
            lab.process_logs()
        );
    }
    let forwarded = lab.wait_for_log(20, Duration::from_secs(3), |m| {
        m.contains(" WRQ \"upload") && !m.contains("\": ") && m.contains(" -> ")
    });
    let again = lab.wait_for_log(20, Duration::from_secs(3), |m| {
        m.contains(" WRQ \"upload") && m.contains(": retransmission")
    });
    let reads = lab.wait_for_log(20, Duration::from_secs(3), |m| {
        m.contains(" RRQ \"missing.cfg\"") && !m.contains("\": ")
    });
    println!(
        "RRQ then WRQ twice, 20 rounds: {} WRQs forwarded, {} retransmissions, {} RRQs",
        forwarded.len(),
        again.len(),
        reads.len()
    );
    assert_eq!(
        (forwarded.len(), again.len(), reads.len()),
        (20, 20, 20),
        "{}",
        lab.process_logs()
    );
}

#[test]
fn junk_flood_from_three_hosts_leaves_reads_working() {
    let lab = Lab::start(LabOptions::default());
    Lab::make_file(&lab.server_root().join("legit.cfg"), 900, 50);
    let hosts = format!("{CLIENT},{},{}", OTHER_CLIENTS[0], OTHER_CLIENTS[1]);
    let flood = start_traffic(&lab, &["junk", SERVER, "10000", "4", &hosts]);
    std::thread::sleep(Duration::from_millis(500));
    let reads = start_traffic(&lab, &["load", SERVER, "legit.cfg", "900", "10", "2"]);
    let (flood, reads) = (finish(&lab, flood), finish(&lab, reads));
    // The helper is still there, and summarizes what it suppressed.
    let summaries = lab.wait_for_log(3, Duration::from_secs(15), |m| {
        m.starts_with("suppressed ") && m.contains(" similar refusals from ")
    });
    let lines = lab.helper_log().len();
    let outcomes = lab
        .helper_messages()
        .iter()
        .filter(|m| m.contains("\": answered") || m.contains("\": no answer"))
        .count();
    println!(
        "junk flood: {flood}; legitimate reads during it: {reads}; helper log lines: {lines} ({outcomes} outcome lines); summaries: {summaries:?}"
    );
    assert_eq!(number(&flood, "sent"), 10_000, "{flood}");
    assert_eq!(
        (number(&reads, "ok"), number(&reads, "failed")),
        (20, 0),
        "reads during the flood: {reads}\n{}",
        lab.process_logs()
    );
    // Bounded whatever the flood: under 200, besides the outcome line of
    // each forwarded request (the 20 legitimate reads, and junk that
    // happens to be a well-formed request).
    assert!(
        lines - outcomes < 200,
        "log lines must stay bounded: {lines}\n{}",
        lab.process_logs()
    );
    assert_eq!(summaries.len(), 3, "{}", lab.process_logs());
    let after = lab
        .traffic(&["get", SERVER, "legit.cfg"])
        .output()
        .expect("traffic tool");
    assert!(
        String::from_utf8_lossy(&after.stdout).contains("\"ok\": true"),
        "a read after the flood: {}\n{}",
        text(&after),
        lab.process_logs()
    );
}

#[test]
fn a_host_at_its_cap_is_told_busy_and_others_are_served() {
    let lab = lab_with(&["--max-per-client", "5", "-w", "10"]);
    Lab::make_file(&lab.server_root().join("cap.cfg"), 600, 60);
    // Five live return paths for this host: requests to an address
    // nobody answers, so the paths stay for -w (a path the server's
    // answer took, an ERROR too, is removed at once and stops counting).
    let silent = "198.51.100.77";
    let sends = format!(
        "import socket\nfor i in range(5):\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    s.bind(('{CLIENT}', 0))\n    s.sendto(b'\\x00\\x01missing%d.cfg\\x00octet\\x00' % i, ('{silent}', 69))\n"
    );
    lab::run(&mut lab.command("c", &["python3", "-c", &sends]));
    let forwarded = lab.wait_for_log(5, Duration::from_secs(3), |m| {
        m.contains(&format!("{silent}:69 RRQ \"missing"))
    });
    assert_eq!(forwarded.len(), 5, "{}", lab.process_logs());
    let out = lab
        .traffic(&["get", SERVER, "cap.cfg"])
        .output()
        .expect("traffic tool");
    let busy = String::from_utf8_lossy(&out.stdout).into_owned();
    let other = lab
        .traffic(&["get", SERVER, "cap.cfg", OTHER_CLIENTS[0]])
        .output()
        .expect("traffic tool");
    let other = String::from_utf8_lossy(&other.stdout).into_owned();
    println!("at the cap: {busy}; another host: {other}");
    assert!(
        busy.contains("ERROR 0: proxy busy, try again later"),
        "{busy}\n{}",
        lab.process_logs()
    );
    assert!(
        other.contains("\"ok\": true"),
        "{other}\n{}",
        lab.process_logs()
    );
    let logged = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains(&format!(
            "refused: proxy busy: {CLIENT} holds 5 live transfers (--max-per-client 5)"
        ))
    });
    assert_eq!(logged.len(), 1, "{}", lab.process_logs());
}

#[test]
fn a_full_map_is_named_and_recovers_once_elements_expire() {
    let lab = Lab::start(LabOptions::default());
    Lab::make_file(&lab.server_root().join("full.cfg"), 600, 70);
    // Fill the shipped map to its size with elements that expire in 4 s.
    let size = 8192;
    let elements: Vec<String> = (0..size)
        .map(|i| {
            format!(
                "203.0.113.{} . 198.51.100.1 . {} timeout 4s : 192.0.2.99 . 1000",
                i / 60000 + 1,
                1024 + i % 60000
            )
        })
        .collect();
    let batch = format!(
        "add element inet tftp_proxy return_v4 {{ {} }}\n",
        elements.join(", ")
    );
    let file = lab.dir.join("fill.nft");
    std::fs::write(&file, batch).expect("writing fill.nft");
    let filled_at = Instant::now();
    let out = lab
        .command("f", &["nft", "-f", &file.to_string_lossy()])
        .output()
        .expect("running nft");
    assert!(out.status.success(), "filling the map: {}", text(&out));
    let out = lab
        .traffic(&["get", SERVER, "full.cfg"])
        .output()
        .expect("traffic tool");
    let full = String::from_utf8_lossy(&out.stdout).into_owned();
    let named = lab.wait_for_log(1, Duration::from_secs(2), |m| {
        m.contains("map inet tftp_proxy return_v4 is full (size 8192): too many live return paths")
    });
    assert!(
        filled_at.elapsed() < Duration::from_secs(4),
        "the map was full for less time than the check took: machine too slow"
    );
    assert!(
        full.contains("ERROR 0: proxy busy, try again later"),
        "{full}\n{}",
        lab.process_logs()
    );
    assert_eq!(named.len(), 1, "{}", lab.process_logs());
    // Once the elements expire, requests go through again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let recovered = loop {
        std::thread::sleep(Duration::from_millis(500));
        if filled_at.elapsed() < Duration::from_secs(4) {
            continue;
        }
        let out = lab
            .traffic(&["get", SERVER, "full.cfg"])
            .output()
            .expect("traffic tool");
        let json = String::from_utf8_lossy(&out.stdout).into_owned();
        if json.contains("\"ok\": true") || Instant::now() > deadline {
            break json;
        }
    };
    println!(
        "full map: {full}; recovered {:.1} s after filling: {recovered}",
        filled_at.elapsed().as_secs_f64()
    );
    assert!(
        recovered.contains("\"ok\": true"),
        "{recovered}\n{}",
        lab.process_logs()
    );
}

#[test]
fn a_stalled_syslog_does_not_stop_reads() {
    let lab = lab_with(&["-v"]);
    Lab::make_file(&lab.server_root().join("stall.cfg"), 800, 80);
    lab.pause_syslog(Duration::from_secs(10));
    // 80 reads a second with -v: two lines each, more than the helper
    // keeps queued (1024) while syslog takes none.
    let reads = start_traffic(&lab, &["load", SERVER, "stall.cfg", "800", "80", "10"]);
    let reads = finish(&lab, reads);
    let dropped = lab.wait_for_log(1, Duration::from_secs(10), |m| {
        m.ends_with(" log line(s) dropped: syslog was not taking lines")
    });
    println!("syslog stalled 10 s: reads {reads}; dropped-line report: {dropped:?}");
    assert_eq!(
        (number(&reads, "ok"), number(&reads, "failed")),
        (800, 0),
        "{reads}\n{}",
        lab.process_logs()
    );
    assert_eq!(dropped.len(), 1, "{}", lab.process_logs());
}

#[test]
fn boot_storm_of_200_phones_overflows_nothing() {
    let lab = Lab::start(LabOptions::default());
    for (i, name) in lab::BOOT_FILES.iter().enumerate() {
        Lab::make_file(&lab.server_root().join(name), 1_000 + 900 * i, i as u64);
    }
    let drops_before = lab.udp_receive_buffer_drops();
    let script = lab::BOOT_FILES
        .iter()
        .map(|f| format!("tftp {SERVER} -m binary -c get {f} \"$0/{f}\" || exit 1"))
        .collect::<Vec<_>>()
        .join("; ");
    let start = Instant::now();
    let phones: Vec<Child> = (0..200)
        .map(|i| {
            let dir = lab.dir.join(format!("phone{i}"));
            std::fs::create_dir_all(&dir).expect("phone directory");
            lab.command("c", &["sh", "-c", &script, &dir.to_string_lossy()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting a phone")
        })
        .collect();
    let failed = phones
        .into_iter()
        .map(|c| {
            c.wait_with_output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .filter(|ok| !ok)
        .count();
    let wall = start.elapsed();
    let drops = lab.udp_receive_buffer_drops() - drops_before;
    let requests = lab.wait_for_log(1400, Duration::from_secs(5), |m| {
        m.contains(" RRQ \"") && !m.contains("\": ")
    });
    let starts = lab.helper_starts();
    let dropped: Vec<String> = lab
        .helper_messages()
        .into_iter()
        .filter(|m| m.contains("log line(s) dropped"))
        .collect();
    println!(
        "boot storm: 200 phones x 7 files in {:.2} s, failed phones: {failed}, receive-buffer drops: {drops}, requests logged: {}, helper starts: {starts}, log lines dropped: {dropped:?}",
        wall.as_secs_f64(),
        requests.len()
    );
    let refused: Vec<String> = lab
        .helper_messages()
        .into_iter()
        .filter(|m| m.contains("refused"))
        .collect();
    assert_eq!(refused, Vec::<String>::new(), "{}", lab.process_logs());
    assert_eq!(failed, 0, "{}", lab.process_logs());
    assert_eq!(drops, 0, "receive-buffer drops on the firewall");
    // Every forwarded request ends in an outcome line, all answered; the
    // exit summary counts the same (the helper exits 10 s after the storm).
    let outcomes = lab.wait_for_log(requests.len(), Duration::from_secs(6), |m| {
        m.contains(" RRQ \"") && (m.contains("\": answered") || m.contains("\": no answer"))
    });
    let answered = outcomes
        .iter()
        .filter(|m| m.contains("\": answered"))
        .count();
    let others: Vec<String> = lab
        .helper_messages()
        .into_iter()
        .filter(|m| !m.contains(" RRQ \"") || m.contains("\": ") && !m.contains("\": answered"))
        .take(8)
        .collect();
    println!(
        "boot storm: {} outcome lines, {answered} answered; other lines: {others:?}",
        outcomes.len()
    );
    assert_eq!(
        (outcomes.len(), answered),
        (requests.len(), requests.len()),
        "{}",
        lab.process_logs()
    );
    let summaries = lab.wait_for_log(1, Duration::from_secs(15), |m| m.starts_with("summary: "));
    let forwarded: usize = summaries
        .iter()
        .filter_map(|m| {
            m.split(": ")
                .nth(2)?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    let summed_answered: usize = summaries
        .iter()
        .filter_map(|m| {
            let at = m.find(" answered")?;
            m[..at].rsplit(' ').next()?.parse::<usize>().ok()
        })
        .sum();
    assert_eq!(
        (forwarded, summed_answered),
        (requests.len(), answered),
        "summaries: {summaries:?}"
    );
}
