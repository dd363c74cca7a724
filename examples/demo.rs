//! The lab demo: a phone fetches its boot files through a NAT firewall
//! running tftp-proxy under inetd, and the helper's log lines are shown.
//! Run it with `scripts/demo` (as root).

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::{Lab, LabOptions, BOOT_FILES, SERVER};
use std::time::Duration;

fn main() {
    println!("Building the lab: phone 192.0.2.20 -> firewall (nftables, inetd, tftp-proxy) -> server {SERVER}");
    let lab = Lab::start(LabOptions {
        helper_args: vec!["-v".into()],
        ..LabOptions::default()
    });
    for (i, name) in BOOT_FILES.iter().enumerate() {
        Lab::make_file(&lab.server_root().join(name), 300 + 900 * i, i as u64 + 1);
    }
    let mut ok = true;
    for name in BOOT_FILES {
        let dst = lab.dir.join(name);
        let out = lab.client(&[
            "tftp",
            SERVER,
            "-m",
            "binary",
            "-c",
            "get",
            name,
            &dst.to_string_lossy(),
        ]);
        let same = std::fs::read(&dst).ok() == std::fs::read(lab.server_root().join(name)).ok();
        ok &= same;
        println!(
            "phone: tftp get {name:<26} {}{}",
            if same { "ok, byte-identical" } else { "FAILED" },
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let lines = lab.wait_for_log(BOOT_FILES.len(), Duration::from_secs(2), |m| {
        m.contains("RRQ")
    });
    println!("\nThe helper's syslog lines (daemon facility):");
    for line in lab.helper_log() {
        println!("  {line}");
    }
    println!(
        "\nReturn paths in the firewall's map now: {:?}",
        lab.map_elements("return_v4")
    );
    std::thread::sleep(Duration::from_millis(2500));
    println!(
        "Return paths after the 2 s transfer wait: {:?}",
        lab.map_elements("return_v4")
    );
    drop(lab);
    println!("\nLab torn down.");
    if !ok || lines.len() < BOOT_FILES.len() {
        eprintln!("demo FAILED");
        std::process::exit(1);
    }
}
