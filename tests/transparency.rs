//! The helper is never the reason a transfer fails: what the servers
//! serve directly is served through it, single-port servers (answering
//! from port 69 itself) work, and `--max-blksize` lowers a request's
//! blksize. Real servers (tftpd-hpa, atftpd, dnsmasq) and clients in the
//! lab's network namespaces; they need root and fail saying so without.

mod lab;

use lab::{Lab, LabOptions, SINGLE_PORT_SERVER, SINGLE_PORT_SERVER6};
use std::path::Path;
use std::process::Output;

const KIB: usize = 1024;

fn lab_with(args: &[&str]) -> Lab {
    Lab::start(LabOptions {
        helper_args: args.iter().map(|s| s.to_string()).collect(),
        atftpd: true,
        dnsmasq: true,
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

/// curl in the client fetching `url` into `local`, asking for `blksize`.
fn curl_get(lab: &Lab, url: &str, local: &Path, blksize: Option<u32>) -> Output {
    let local = local.to_string_lossy();
    let blksize = blksize.map(|b| b.to_string());
    let mut args = vec!["curl", "-v", "-sS", "--max-time", "30"];
    if let Some(b) = &blksize {
        args.extend(["--tftp-blksize", b]);
    }
    args.extend(["-o", &local, url]);
    lab.client(&args)
}

/// Asserts `got` holds exactly the bytes of `want`.
fn assert_same_file(lab: &Lab, want: &Path, got: &Path, context: &str) {
    let a = std::fs::read(want).unwrap_or_else(|e| panic!("{context}: {}: {e}", want.display()));
    let b = std::fs::read(got)
        .unwrap_or_else(|e| panic!("{context}: {}: {e}\n{}", got.display(), lab.process_logs()));
    assert!(
        a == b,
        "{context}: {} bytes sent, {} bytes received, contents differ\n{}",
        a.len(),
        b.len(),
        lab.process_logs()
    );
}

#[test]
fn single_port_server_get_over_ipv4_and_ipv6() {
    let lab = lab_with(&[]);
    for (server, url_host, seed) in [
        (SINGLE_PORT_SERVER, SINGLE_PORT_SERVER.to_owned(), 21),
        (SINGLE_PORT_SERVER6, format!("[{SINGLE_PORT_SERVER6}]"), 22),
    ] {
        let name = format!("single-{seed}.bin");
        let src = lab.dnsmasq_root().join(&name);
        // Several blocks, so the whole exchange runs through port 69.
        Lab::make_file(&src, 300 * KIB + 7, seed);
        let dst = lab.dir.join(&name);
        let out = curl_get(&lab, &format!("tftp://{url_host}/{name}"), &dst, None);
        assert!(
            out.status.success(),
            "GET from single-port {server}: {}\n{}",
            text(&out),
            lab.process_logs()
        );
        assert_same_file(&lab, &src, &dst, &format!("single-port {server}"));
    }
}
