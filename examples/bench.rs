//! Boot-storm benchmark: many phones fetching their seven boot files at
//! once, through tftp-proxy under inetd and, side by side in the same run,
//! through the kernel's own conntrack TFTP helper (the reference: no
//! process at all). Prints wall times, their ratio, and how many helper
//! processes inetd had to start per request. Run it with `scripts/bench`
//! (as root); `PHONES=N` sets the storm's size (default 40).

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::{Lab, LabOptions, BOOT_FILES, SERVER};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

struct Storm {
    wall: Duration,
    failed: usize,
}

/// Starts `phones` phones at once; each fetches the boot files in order.
fn storm(lab: &Lab, phones: usize) -> Storm {
    for (i, name) in BOOT_FILES.iter().enumerate() {
        Lab::make_file(&lab.server_root().join(name), 1_000 + 900 * i, i as u64);
    }
    let script = BOOT_FILES
        .iter()
        .map(|f| format!("tftp {SERVER} -m binary -c get {f} \"$0/{f}\" || exit 1"))
        .collect::<Vec<_>>()
        .join("; ");
    let start = Instant::now();
    let children: Vec<_> = (0..phones)
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
    let failed = children
        .into_iter()
        .map(|c| {
            c.wait_with_output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
        .filter(|ok| !ok)
        .count();
    Storm {
        wall: start.elapsed(),
        failed,
    }
}

fn main() {
    let phones: usize = std::env::var("PHONES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let requests = phones * BOOT_FILES.len();
    println!(
        "Boot storm: {phones} phones x {} files = {requests} requests, all phones at once",
        BOOT_FILES.len()
    );

    let kernel = {
        let lab = Lab::start(LabOptions {
            kernel_helper: true,
            ..LabOptions::default()
        });
        storm(&lab, phones)
    };
    let (proxy, starts, logged) = {
        let lab = Lab::start(LabOptions::default());
        let s = storm(&lab, phones);
        let lines = lab.wait_for_log(requests, Duration::from_secs(3), |m| m.contains(" RRQ \""));
        let pids: BTreeSet<String> = lab
            .helper_log()
            .iter()
            .filter_map(|l| {
                l.split_once("tftp-proxy[")
                    .and_then(|(_, r)| r.split_once(']'))
                    .map(|(p, _)| p.to_owned())
            })
            .collect();
        (s, pids.len(), lines.len())
    };

    let row = |name: &str, s: &Storm| {
        println!(
            "{name:<28} {:>8.3} s  {:>8.1} files/s  {:>6.2} ms/file/phone  failed phones: {}",
            s.wall.as_secs_f64(),
            requests as f64 / s.wall.as_secs_f64(),
            s.wall.as_secs_f64() * 1000.0 / BOOT_FILES.len() as f64,
            s.failed
        );
    };
    row("kernel conntrack helper", &kernel);
    row("tftp-proxy under inetd", &proxy);
    println!(
        "ratio tftp-proxy / kernel:   {:.2}x wall time",
        proxy.wall.as_secs_f64() / kernel.wall.as_secs_f64()
    );
    println!(
        "helper processes started:    {starts} for {logged} logged requests ({:.3} starts per request; inetd's limit is per minute)",
        starts as f64 / logged.max(1) as f64
    );
    if kernel.failed + proxy.failed > 0 || logged < requests {
        eprintln!("benchmark FAILED: some phones did not finish their boot sequence");
        std::process::exit(1);
    }
}
