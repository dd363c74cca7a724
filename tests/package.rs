//! The Debian package `scripts/deb` builds: `dpkg-deb --info` reads it,
//! `lintian` finds no error, and, unpacked with `dpkg -x` into a
//! temporary root, its binary, nftables include and inetd line carry a
//! GET on the lab's firewall. Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const HELPER: &str = env!("CARGO_BIN_EXE_tftp-proxy");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Builds the package around the binary under test; its path.
fn build_package(out: &Path) -> PathBuf {
    let built = Command::new(repo().join("scripts/deb"))
        .env("TFTP_PROXY_BIN", HELPER)
        .env("DEB_OUT", out)
        .output()
        .expect("running scripts/deb");
    assert!(built.status.success(), "scripts/deb: {}", text(&built));
    let deb = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    assert!(
        deb.is_file(),
        "scripts/deb printed {deb:?}: {}",
        text(&built)
    );
    deb
}

#[test]
fn debian_package_installs_a_working_helper() {
    let mut lab = Lab::start(LabOptions {
        kernel_helper: true,
        ..LabOptions::default()
    });
    let deb = build_package(&lab.dir.join("deb"));

    let info = lab::run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    let info = text(&info);
    assert!(info.contains("Package: tftp-proxy"), "{info}");
    let lintian = Command::new(lab::tool("lintian", "lintian"))
        .arg(&deb)
        .output()
        .expect("running lintian");
    let errors: Vec<String> = text(&lintian)
        .lines()
        .filter(|l| l.starts_with("E: "))
        .map(str::to_owned)
        .collect();
    assert!(errors.is_empty(), "lintian: {}", text(&lintian));

    let root = lab.dir.join("root");
    lab::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root));
    for file in [
        "usr/libexec/tftp-proxy",
        "usr/share/man/man8/tftp-proxy.8.gz",
        "usr/share/tftp-proxy/tftp-proxy.nft",
        "lib/systemd/system/tftp-proxy.socket",
        "lib/systemd/system/tftp-proxy.service",
        "usr/share/doc/tftp-proxy/examples/inetd.conf",
    ] {
        assert!(root.join(file).is_file(), "the package lacks /{file}");
    }
    let service =
        std::fs::read_to_string(root.join("lib/systemd/system/tftp-proxy.service")).unwrap();
    assert!(
        service.contains("ExecStart=/usr/libexec/tftp-proxy"),
        "{service}"
    );

    // The packaged include under the lab's own rules.
    let ruleset = format!(
        "flush ruleset\ndefine int_if = \"lan0\"\ndefine ext_if = \"wan0\"\ninclude \"{}\"\ninclude \"{}\"\n",
        root.join("usr/share/tftp-proxy/tftp-proxy.nft").display(),
        repo().join("tests/lab/firewall.nft").display()
    );
    let ruleset_path = lab.dir.join("packaged.nft");
    std::fs::write(&ruleset_path, ruleset).unwrap();
    lab::run(&mut lab.command("f", &["nft", "-f", &ruleset_path.to_string_lossy()]));

    // The packaged inetd lines, with the binary where dpkg -x put it and
    // the lab's syslog socket.
    let example =
        std::fs::read_to_string(root.join("usr/share/doc/tftp-proxy/examples/inetd.conf")).unwrap();
    let packaged = root.join("usr/libexec/tftp-proxy");
    let log = lab.dir.join("log.sock");
    let conf: String = example
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            assert!(l.contains("/usr/libexec/tftp-proxy"), "{l}");
            format!(
                "{} --syslog-socket {}\n",
                l.replace("/usr/libexec/tftp-proxy", &packaged.to_string_lossy()),
                log.display()
            )
        })
        .collect();
    let conf_path = lab.dir.join("inetd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let inetd = lab::tool("inetd", "openbsd-inetd");
    lab.spawn(
        "inetd",
        "f",
        &[&inetd.to_string_lossy(), "-d", &conf_path.to_string_lossy()],
    );
    lab.wait_for_udp("f", "0.0.0.0", 6969);

    lab.assert_get(
        "SEP0014F2000001.cnf.xml",
        5000,
        71,
        "GET with the packaged helper",
    );
    let logged = lab.wait_for_log(1, Duration::from_secs(3), |m| {
        m.contains("SEP0014F2000001.cnf.xml") && m.contains(" -> ")
    });
    assert_eq!(logged.len(), 1, "{}", lab.process_logs());
}
