//! The command line as an operator meets it: --help, --version, bad
//! flags, and a start outside inetd. No root needed.

use std::process::{Command, Stdio};

fn helper(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tftp-proxy"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running tftp-proxy")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn help_lists_every_flag() {
    let out = helper(&["--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let help = text(&out);
    for flag in [
        "-d",
        "-n",
        "-v",
        "-w",
        "-u",
        "--allow-client",
        "--allow-server",
        "--read-only",
        "--write-only",
        "--strict-filenames",
        "--table",
        "--syslog-socket",
        "--check",
        "--version",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn version_names_backend_and_revision() {
    let out = helper(&["--version"]);
    assert!(out.status.success(), "{}", text(&out));
    let version = text(&out);
    assert!(
        version.starts_with(&format!("tftp-proxy {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(version.contains("nftables backend, revision "), "{version}");
}

#[test]
fn out_of_range_transwait_is_refused() {
    for bad in ["0", "31", "two"] {
        let out = helper(&["-w", bad]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "-w {bad} must be a usage error: {}",
            text(&out)
        );
        assert!(text(&out).contains("transwait"), "{}", text(&out));
    }
}

#[test]
fn bad_cidr_is_refused_with_the_reason() {
    let out = helper(&["--allow-client", "192.0.2.1/24"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("host bits"), "{}", text(&out));
    let out = helper(&["--allow-server", "198.51.100.0/33"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn read_only_and_write_only_exclude_each_other() {
    let out = helper(&["--read-only", "--write-only"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn started_outside_inetd_says_so() {
    let out = helper(&["-d"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("standard input is not a UDP socket"), "{err}");
    assert_eq!(err.lines().count(), 1, "one log line: {err}");
}

#[test]
fn manual_and_operation_guide_document_every_long_flag() {
    let help = text(&helper(&["--help"]));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manual = std::fs::read_to_string(root.join("man/tftp-proxy.8")).expect("man/tftp-proxy.8");
    let guide = std::fs::read_to_string(root.join("doc/operation.md")).expect("doc/operation.md");
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|f| !["--help", "--version"].contains(f))
        .collect();
    assert!(flags.len() >= 10, "flags found in --help: {flags:?}");
    for flag in flags {
        // mdoc writes --flag as "Fl -flag".
        let mdoc = format!("Fl {}", &flag[1..]);
        assert!(
            manual.contains(&mdoc),
            "man/tftp-proxy.8 does not document {flag}"
        );
        assert!(
            guide.contains(flag),
            "doc/operation.md does not document {flag}"
        );
    }
}

/// The flags a text names: `-x` and `--long` words (trailing punctuation
/// and `=value` trimmed).
fn flag_words<'a>(words: impl Iterator<Item = &'a str>) -> std::collections::BTreeSet<String> {
    words
        .map(|w| w.trim_end_matches([',', '.', ';']))
        .filter(|w| {
            let long = w.len() > 2 && w.starts_with("--");
            let short = w.len() == 2 && w.starts_with('-') && w.as_bytes()[1].is_ascii_alphabetic();
            long || short
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn manual_options_and_help_list_the_same_flags() {
    let help = text(&helper(&["--help"]));
    let options = help
        .split_once("Options:")
        .map(|(_, o)| o)
        .unwrap_or_else(|| panic!("--help has no Options: {help}"));
    let from_help = flag_words(
        options
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            // The flags column ends where the description starts.
            .filter_map(|l| l.split("  ").find(|p| !p.trim().is_empty()))
            .flat_map(str::split_whitespace),
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manual = std::fs::read_to_string(root.join("man/tftp-proxy.8")).expect("man/tftp-proxy.8");
    // Each option is an `.It Fl x , Fl -long Ar value` line; mdoc's
    // "Fl -long" prints as --long.
    let from_manual = flag_words(
        manual
            .lines()
            .filter_map(|l| l.strip_prefix(".It Fl "))
            .flat_map(|l| {
                std::iter::once(format!("-{}", l.split_whitespace().next().unwrap_or("")))
                    .chain(
                        l.split(" Fl ")
                            .skip(1)
                            .map(|p| format!("-{}", p.split_whitespace().next().unwrap_or(""))),
                    )
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    );
    assert!(
        from_help.contains("--check") && from_help.contains("-V"),
        "{from_help:?}"
    );
    assert_eq!(
        from_manual, from_help,
        "manual options (left) and --help (right)"
    );
}
