//! A site's boot storm through the shipped configuration with its
//! documented receive buffer (`etc/sysctl.d/60-tftp-proxy.conf`): 500
//! phones power up at once and each fetches its seven boot files, the
//! first burst landing while inetd is still starting the helper. Nothing
//! may be dropped at the firewall and every phone gets every file. And a
//! storm into a map with room for only a few: the helper installs a
//! wake-up's return paths in one nftables transaction, which the kernel
//! aborts whole when one element does not fit; the phones that fit must
//! still be served, and only the others told busy. And phones fetching,
//! one file after another, more files than the map has room for within
//! one transfer wait: each return path is removed once its answer has
//! passed, so all are served.

mod lab;

use lab::sysctl::ShippedReceiveBuffer;
use lab::{storm, Lab, LabOptions, BOOT_FILES, DNSMASQ_SERVER};
use std::net::SocketAddr;
use std::time::Duration;

const PHONES: usize = 500;

#[test]
fn boot_storm_of_500_phones_drops_nothing_at_the_firewall() {
    // Before the lab: inetd's socket is created with this default.
    let rmem = ShippedReceiveBuffer::set();
    let lab = Lab::start(LabOptions {
        dnsmasq: true,
        phones: lab::MAX_PHONES,
        ..LabOptions::default()
    });
    for (i, name) in BOOT_FILES.iter().enumerate() {
        Lab::make_file(&lab.dnsmasq_root().join(name), 1_000 + 900 * i, i as u64);
    }
    let drops_before = lab.udp_receive_buffer_drops();
    // dnsmasq (one event loop) keeps up with a storm; tftpd-hpa forks
    // per request and drops at its own socket, which would hide the
    // firewall's behaviour behind the server's.
    let server = SocketAddr::new(DNSMASQ_SERVER.parse().expect("lab address"), 69);
    // 500 phones on the lab's 200 phone addresses: two or three phones an
    // address, each on its own ports, at most 21 live return paths an
    // address, far below --max-per-client.
    let run = storm::run(&lab.ns("c"), server, PHONES, &BOOT_FILES);
    let drops = lab.udp_receive_buffer_drops() - drops_before;
    let forwarded = lab.wait_for_log(PHONES * BOOT_FILES.len(), Duration::from_secs(5), |m| {
        m.contains(" RRQ \"") && !m.contains("retransmission")
    });
    let starts = lab.helper_starts();
    println!(
        "boot storm: {PHONES} phones x {} files in {:.2} s with net.core.rmem_default = {}: failed phones {}, retransmits {}, receive-buffer drops at the firewall {drops}, requests logged {}, helper starts {starts}",
        BOOT_FILES.len(),
        run.wall.as_secs_f64(),
        rmem.bytes,
        run.failed_phones,
        run.retransmits(),
        forwarded.len(),
    );
    let refused: Vec<String> = lab
        .helper_messages()
        .into_iter()
        .filter(|m| m.contains("refused") || m.contains("cannot"))
        .collect();
    assert_eq!(refused, Vec::<String>::new(), "{}", lab.process_logs());
    assert_eq!(
        (run.failed_phones, run.failures()),
        (0, Vec::new()),
        "{}",
        lab.process_logs()
    );
    assert_eq!(
        drops, 0,
        "UDP receive-buffer drops in the firewall's namespace"
    );
    drop(lab);
    drop(rmem);
}

/// Return paths the map has room for when the crowd arrives.
const ROOM: usize = 5;

/// Phones in the crowd.
const CROWD: usize = 24;

/// The shipped `return_v4` map's `size` (`etc/tftp-proxy.nft`).
const MAP_SIZE: usize = 8192;

#[test]
fn a_storm_into_a_nearly_full_map_serves_those_that_fit_and_tells_the_others_busy() {
    let lab = Lab::start(LabOptions {
        dnsmasq: true,
        phones: CROWD,
        ..LabOptions::default()
    });
    Lab::make_file(&lab.dnsmasq_root().join("phone.cfg"), 400, 7);
    // Another process's elements fill the map but ROOM places: the
    // helper's own count knows none of them, so every refusal is the
    // kernel's, answered inside a batch of element additions.
    let filler: Vec<String> = (1..=MAP_SIZE - ROOM)
        .map(|port| format!("203.0.113.9 . 198.51.100.1 . {port} timeout 120s : 192.0.2.9 . 9"))
        .collect();
    let file = std::env::temp_dir().join(format!("tftp-proxy-fill-{}.nft", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "add element inet tftp_proxy return_v4 {{ {} }}\n",
            filler.join(", ")
        ),
    )
    .expect("writing the filler elements");
    lab::run(&mut lab.command("f", &["nft", "-f", &file.to_string_lossy()]));
    let _ = std::fs::remove_file(&file);
    assert_eq!(lab.map_elements("return_v4").len(), MAP_SIZE - ROOM);
    let server = SocketAddr::new(DNSMASQ_SERVER.parse().expect("lab address"), 69);
    let run = storm::run(&lab.ns("c"), server, CROWD, &["phone.cfg"]);
    let served = run.reads.iter().filter(|r| r.failure.is_none()).count();
    let busy = run
        .reads
        .iter()
        .filter(|r| {
            r.failure
                .as_deref()
                .is_some_and(|f| f.contains("proxy busy"))
        })
        .count();
    let full = lab.wait_for_log(CROWD - ROOM, Duration::from_secs(5), |m| {
        m.contains("refused") && m.contains("is full")
    });
    println!(
        "{CROWD} phones into a map with room for {ROOM}: served {served}, told busy {busy}, failures {:?}",
        run.failures()
    );
    assert_eq!(
        (served, busy, full.len()),
        (ROOM, CROWD - ROOM, CROWD - ROOM),
        "{}",
        lab.process_logs()
    );
}

/// The size the map is declared with for the settling test: far below
/// the reads that follow one another within one transfer wait.
const SMALL_MAP: usize = 512;

/// Phones, each reading [`READS_EACH`] files one after another.
const READERS: usize = 2;

/// Reads of each phone.
const READS_EACH: usize = 600;

/// The transfer wait the helper is given: long enough that no return path
/// of the run would expire by itself before the run ends.
const LONG_WAIT_S: u64 = 15;

#[test]
fn phones_reading_more_files_than_the_map_holds_within_the_wait_are_all_served() {
    let lab = Lab::start(LabOptions {
        dnsmasq: true,
        phones: READERS,
        helper_args: vec!["-w".into(), LONG_WAIT_S.to_string()],
        ..LabOptions::default()
    });
    Lab::make_file(&lab.dnsmasq_root().join("line.cfg"), 700, 11);
    // The shipped include again, its maps and sets declared small, before
    // the helper's first start reads their size.
    let shipped = std::fs::read_to_string(lab::repo().join("etc/tftp-proxy.nft"))
        .expect("reading etc/tftp-proxy.nft");
    assert!(shipped.contains("size 8192"), "the shipped size changed");
    let small = shipped.replace("size 8192", &format!("size {SMALL_MAP}"));
    let file = lab.dir.join("small-map.nft");
    std::fs::write(
        &file,
        format!(
            "delete table inet tftp_proxy\ndefine int_if = \"lan0\"\ndefine ext_if = \"wan0\"\n{small}"
        ),
    )
    .expect("writing small-map.nft");
    lab::run(&mut lab.command("f", &["nft", "-f", &file.to_string_lossy()]));
    let server = SocketAddr::new(DNSMASQ_SERVER.parse().expect("lab address"), 69);
    let files = vec!["line.cfg"; READS_EACH];
    let run = storm::run(&lab.ns("c"), server, READERS, &files);
    let served = run.reads.iter().filter(|r| r.failure.is_none()).count();
    let answered = lab.wait_for_log(READERS * READS_EACH, Duration::from_secs(5), |m| {
        m.contains("RRQ \"line.cfg\": answered")
    });
    let left = lab.map_elements("return_v4").len();
    println!(
        "{READERS} phones x {READS_EACH} reads in {:.2} s through a map of size {SMALL_MAP} (transfer wait {LONG_WAIT_S} s): served {served}, outcome lines {}, elements left {left}, failures {:?}",
        run.wall.as_secs_f64(),
        answered.len(),
        run.failures()
    );
    assert!(
        run.wall < Duration::from_secs(LONG_WAIT_S),
        "the reads took longer than the transfer wait: machine too slow for this test"
    );
    assert_eq!(
        (served, run.failures()),
        (READERS * READS_EACH, Vec::new()),
        "{}",
        lab.process_logs()
    );
    // Each outcome was logged as its path was removed, long before the
    // wait was over, and the map is empty again.
    assert_eq!(
        answered.len(),
        READERS * READS_EACH,
        "{}",
        lab.process_logs()
    );
    assert_eq!(left, 0, "elements left in the map");
}
