//! A site's boot storm through the shipped configuration with its
//! documented receive buffer (`etc/sysctl.d/60-tftp-proxy.conf`): 500
//! phones power up at once and each fetches its seven boot files, the
//! first burst landing while inetd is still starting the helper. Nothing
//! may be dropped at the firewall and every phone gets every file.

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
