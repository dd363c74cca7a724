//! Records which firewall backend and which source revision a binary was
//! built from, for `tftp-proxy --version`.

use std::process::Command;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let backend = match os.as_str() {
        "openbsd" | "freebsd" => "pf",
        "linux" => "nftables",
        other => panic!(
            "tftp-proxy supports OpenBSD and FreeBSD (pf) and Linux (nftables), not {other:?}"
        ),
    };
    let revision = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TFTP_PROXY_BUILD={backend} backend, revision {revision}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
}
