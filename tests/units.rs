//! The shipped systemd units, checked by systemd's own verifier with the
//! service pointed at the built binary.

use std::process::Command;

#[test]
fn systemd_units_verify() {
    let dir = std::env::temp_dir().join(format!("tftp-proxy-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let etc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc");
    let socket =
        std::fs::read_to_string(etc.join("tftp-proxy.socket")).expect("etc/tftp-proxy.socket");
    let service =
        std::fs::read_to_string(etc.join("tftp-proxy.service")).expect("etc/tftp-proxy.service");
    assert!(
        service.contains("StandardInput=socket"),
        "the service takes the socket on standard input"
    );
    let service = service.replace(
        "/usr/local/libexec/tftp-proxy",
        env!("CARGO_BIN_EXE_tftp-proxy"),
    );
    std::fs::write(dir.join("tftp-proxy.socket"), socket).expect("writing the socket unit");
    std::fs::write(dir.join("tftp-proxy.service"), service).expect("writing the service unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("tftp-proxy.socket"))
        .arg(dir.join("tftp-proxy.service"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "systemd-analyze not runnable ({e}): install systemd (scripts/install-deps does)"
            )
        });
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let own: Vec<&str> = text.lines().filter(|l| l.contains("tftp-proxy")).collect();
    assert!(
        out.status.success() && own.is_empty(),
        "systemd-analyze verify complains:\n{text}"
    );
}
