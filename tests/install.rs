//! doc/install-linux.md's install steps, run as printed: the commands between the
//! `install-linux` and `install-linux-forwarding` markers, in a mount
//! namespace whose /usr/local and /etc/sysctl.d are empty tmpfs (as on a
//! fresh Debian) and whose /etc/inetd.conf is a scratch copy, on the lab's
//! firewall with forwarding off and a ruleset of its own (policy drop on
//! input and forward, its own masquerade) composed from the guide's
//! snippets. Then `--check` passes and a GET goes through. Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_tftp-proxy");

/// The guide whose commands this test runs.
const GUIDE: &str = "doc/install-linux.md";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The body of the first code block after `<!-- name -->` in the Linux
/// install guide.
fn guide_block(name: &str) -> String {
    let guide = std::fs::read_to_string(repo().join(GUIDE)).expect(GUIDE);
    let marker = format!("<!-- {name} -->");
    let end = format!("<!-- /{name} -->");
    let start = guide
        .find(&marker)
        .unwrap_or_else(|| panic!("{GUIDE} has no {marker}"));
    let section = &guide[start + marker.len()..];
    let section = &section[..section
        .find(&end)
        .unwrap_or_else(|| panic!("{GUIDE} has no {end}"))];
    let body: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert!(!body.is_empty(), "{GUIDE}: {marker} has no code block");
    body.join("\n")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn linux_install_guide_steps_work_as_written() {
    // The lab's network and servers only: no include, no inetd.
    let mut lab = Lab::start(LabOptions {
        kernel_helper: true,
        ..LabOptions::default()
    });
    // A clone whose release build is the binary under test.
    let clone = lab.dir.join("clone");
    copy_dir(&repo().join("etc"), &clone.join("etc"));
    copy_dir(&repo().join("man"), &clone.join("man"));
    std::fs::create_dir_all(clone.join("target/release")).unwrap();
    std::fs::copy(HELPER, clone.join("target/release/tftp-proxy")).unwrap();

    // The gateway's own ruleset, with the guide's snippets in their chains.
    let include = guide_block("ruleset-include")
        .replace("\"eth1\"", "\"lan0\"")
        .replace("\"eth0\"", "\"wan0\"");
    let ruleset = format!(
        "flush ruleset
{include}
table inet filter {{
  chain input {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname \"lo\" accept
{}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
{}
    iifname $int_if oifname $ext_if accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
{}
  }}
}}
",
        guide_block("ruleset-input"),
        guide_block("ruleset-forward"),
        guide_block("ruleset-postrouting"),
    );
    let nftables_conf = lab.dir.join("nftables.conf");
    std::fs::write(&nftables_conf, ruleset).unwrap();
    // /etc/inetd.conf as Debian ships it: comments only.
    let inetd_conf = lab.dir.join("inetd.conf");
    std::fs::write(
        &inetd_conf,
        "# /etc/inetd.conf: see inetd(8) for further informations.\n",
    )
    .unwrap();
    assert!(
        Path::new("/etc/inetd.conf").is_file(),
        "/etc/inetd.conf must exist to be covered in the test's mount namespace: install openbsd-inetd"
    );

    // As on a fresh machine: the guide's steps must turn forwarding on.
    for sysctl in ["net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"] {
        lab::run(&mut lab.command("f", &["sysctl", "-qw", sysctl]));
    }
    let pid_file = lab.dir.join("installed.pid");
    let script = format!(
        "set -ex
mount -t tmpfs tmpfs /usr/local
mount -t tmpfs tmpfs /etc/sysctl.d
mount --bind {inetd_conf} /etc/inetd.conf
cd {clone}
{install}
nft -f {nftables_conf}
{forwarding}
grep -q net.ipv4.ip_forward=1 /etc/sysctl.d/tftp-proxy.conf
echo $$ > {pid_file}
exec {inetd} -d /etc/inetd.conf
",
        inetd_conf = inetd_conf.display(),
        clone = clone.display(),
        install = guide_block("install-linux"),
        forwarding = guide_block("install-linux-forwarding"),
        nftables_conf = nftables_conf.display(),
        pid_file = pid_file.display(),
        inetd = lab::tool("inetd", "openbsd-inetd").display(),
    );
    let script_path = lab.dir.join("install.sh");
    std::fs::write(&script_path, script).unwrap();
    let unshare = lab::tool("unshare", "util-linux");
    lab.spawn(
        "install",
        "f",
        &[
            &unshare.to_string_lossy(),
            "-m",
            "--propagation",
            "private",
            "sh",
            &script_path.to_string_lossy(),
        ],
    );
    lab.wait_for_udp("f", "0.0.0.0", 6969);
    let deadline = Instant::now() + Duration::from_secs(5);
    let pid = loop {
        if let Ok(p) = std::fs::read_to_string(&pid_file) {
            break p.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "{}", lab.process_logs());
        std::thread::sleep(Duration::from_millis(50));
    };

    // --check, as installed, in the installed system's view.
    let nsenter = lab::tool("nsenter", "util-linux");
    let log = lab.dir.join("log.sock");
    let out = std::process::Command::new(&nsenter)
        .args([
            "-t",
            &pid,
            "-m",
            "-n",
            "/usr/local/libexec/tftp-proxy",
            "--check",
        ])
        .args(["--syslog-socket", &log.to_string_lossy()])
        .output()
        .expect("running nsenter");
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "--check after the guide's steps:\n{lines}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.process_logs()
    );
    assert!(
        lines.contains(
            "ok: inetd (/etc/inetd.conf) starts /usr/local/libexec/tftp-proxy on port 6969"
        ),
        "{lines}"
    );

    // And a phone's GET goes through.
    lab.assert_get(
        "SEP0014F2000001.cnf.xml",
        4000,
        61,
        "GET after the guide's steps",
    );
}
