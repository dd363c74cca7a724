//! The BSD ports in pkg/, checked from Linux (no BSD machine runs them
//! here): each port's crate list names exactly the registry packages of
//! Cargo.lock; each packing list names exactly the files the port's
//! `do-install` installs; every source `do-install` installs from is in
//! the tarball the install guides' `git archive` line makes; the versions
//! agree with Cargo.toml; the shipped inetd lines start the helper where
//! the ports install it; and the post-install notes name installed paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where both ports install (their default PREFIX).
const PREFIX: &str = "/usr/local";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `name-version` of every package Cargo.lock takes from crates.io,
/// sorted, duplicates kept.
fn lock_registry_packages() -> Vec<String> {
    let lock = read("Cargo.lock");
    let mut packages = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.trim().strip_prefix("= "))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        let source = field("source").unwrap_or_default();
        if source == "registry+https://github.com/rust-lang/crates.io-index" {
            let name = field("name").expect("a package without a name");
            let version = field("version").expect("a package without a version");
            packages.push(format!("{name}-{version}"));
        }
    }
    assert!(packages.len() > 10, "Cargo.lock: {packages:?}");
    packages.sort();
    packages
}

fn cargo_version() -> String {
    read("Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .expect("Cargo.toml has a version")
        .trim_matches('"')
        .to_owned()
}

/// The value of a make variable assigned as `NAME =` or `NAME=`.
fn make_variable(makefile: &str, name: &str) -> String {
    makefile
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim_end_matches([' ', '\t', '+', '?']) == name).then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in the Makefile"))
}

/// One `do-install` step: an installed file (`from` → `to`), or a
/// directory created (`from` empty).
struct Step {
    command: String,
    from: String,
    to: String,
}

/// The recipe lines of the Makefile's `do-install` target.
fn do_install(makefile: &str) -> Vec<Step> {
    let steps: Vec<Step> = makefile
        .lines()
        .skip_while(|l| !l.starts_with("do-install:"))
        .skip(1)
        .take_while(|l| l.starts_with('\t'))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [command, to] => Step {
                    command: command.to_string(),
                    from: String::new(),
                    to: to.to_string(),
                },
                [command, from, to] => Step {
                    command: command.to_string(),
                    from: from.to_string(),
                    to: to.to_string(),
                },
                _ => panic!("do-install: a step of an unexpected shape: {l:?}"),
            }
        })
        .collect();
    assert!(steps.len() >= 3, "no do-install steps found");
    steps
}

/// The sources `do-install` copies from the source tree (`${WRKSRC}/...`),
/// relative to its top.
fn tree_sources(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| s.from.strip_prefix("${WRKSRC}/").map(str::to_owned))
        .collect()
}

/// Runs the `git archive` line of a guide's marked block (with the
/// distfiles directory replaced by a scratch one) and lists the tarball.
fn guide_tarball(guide: &str, marker: &str) -> BTreeSet<String> {
    let text = read(guide);
    let start = text
        .find(&format!("<!-- {marker} -->"))
        .unwrap_or_else(|| panic!("{guide} has no <!-- {marker} -->"));
    let end = text
        .find(&format!("<!-- /{marker} -->"))
        .unwrap_or_else(|| panic!("{guide} has no <!-- /{marker} -->"));
    let line = text[start..end]
        .lines()
        .find(|l| l.starts_with("git archive "))
        .unwrap_or_else(|| panic!("{guide}: no git archive line in {marker}"));
    let scratch =
        std::env::temp_dir().join(format!("tftp-proxy-ports-{marker}-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let line = line.replace("/usr/ports/distfiles/", &format!("{}/", scratch.display()));
    let out = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(repo())
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "{guide}: {line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tarball = std::fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap_or_else(|| panic!("{line} made no file"));
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&tarball)
        .output()
        .expect("running tar");
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(listing.status.success(), "tar -tzf {}", tarball.display());
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The checks both ports share: sources in the guide's tarball under the
/// distribution name, and the shipped start lines naming the installed
/// helper.
fn check_sources_and_start_lines(
    port: &str,
    steps: &[Step],
    distname: &str,
    guide: &str,
    marker: &str,
    installed: &BTreeSet<String>,
    start_files: &[&str],
) {
    let tarball = guide_tarball(guide, marker);
    assert!(
        tarball.contains(&format!("{distname}/Cargo.lock")),
        "{port}: the tarball of {guide} is not laid out as {distname}/: {tarball:?}"
    );
    for source in tree_sources(steps) {
        assert!(
            tarball.contains(&format!("{distname}/{source}")),
            "{port}: do-install installs {source}, which the tarball lacks"
        );
    }
    assert!(
        installed.contains("libexec/tftp-proxy"),
        "{port}: {installed:?}"
    );
    for file in start_files {
        let text = read(file);
        assert!(
            text.contains(&format!("{PREFIX}/libexec/tftp-proxy")),
            "{file} does not start the helper where the {port} port installs it"
        );
    }
}

#[test]
fn openbsd_crates_are_cargo_locks_registry_packages() {
    let makefile = read("pkg/openbsd/Makefile");
    assert!(
        make_variable(&makefile, "MODULES").contains("devel/cargo"),
        "the port uses the cargo module"
    );
    assert!(
        makefile.contains(".include \"crates.inc\""),
        "crates.inc is included"
    );
    let mut crates: Vec<String> = read("pkg/openbsd/crates.inc")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let rest = l
                .strip_prefix("MODCARGO_CRATES +=")
                .unwrap_or_else(|| panic!("crates.inc: {l:?}"));
            let words: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(words.len(), 2, "crates.inc: {l:?}");
            format!("{}-{}", words[0], words[1])
        })
        .collect();
    crates.sort();
    assert_eq!(
        crates,
        lock_registry_packages(),
        "pkg/openbsd/crates.inc against Cargo.lock: run scripts/port-crates"
    );
}

#[test]
fn freebsd_crates_are_cargo_locks_registry_packages() {
    let makefile = read("pkg/freebsd/Makefile");
    assert!(
        make_variable(&makefile, "USES")
            .split_whitespace()
            .any(|u| u == "cargo"),
        "the port uses USES=cargo"
    );
    let list = read("pkg/freebsd/Makefile.crates");
    let body = list
        .split_once("CARGO_CRATES=")
        .expect("Makefile.crates assigns CARGO_CRATES")
        .1;
    let mut crates: Vec<String> = body
        .split_whitespace()
        .filter(|w| *w != "\\")
        .map(str::to_owned)
        .collect();
    crates.sort();
    assert_eq!(
        crates,
        lock_registry_packages(),
        "pkg/freebsd/Makefile.crates against Cargo.lock: run scripts/port-crates"
    );
}

#[test]
fn port_crates_script_agrees() {
    let out = Command::new(repo().join("scripts/port-crates"))
        .arg("--check")
        .output()
        .expect("running scripts/port-crates");
    assert!(
        out.status.success(),
        "scripts/port-crates --check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn openbsd_plist_names_every_installed_file() {
    let makefile = read("pkg/openbsd/Makefile");
    assert_eq!(
        make_variable(&makefile, "V"),
        cargo_version(),
        "V against Cargo.toml"
    );
    let distname = make_variable(&makefile, "DISTNAME").replace("${V}", &cargo_version());
    let steps = do_install(&makefile);
    let mut installed = BTreeSet::new();
    for step in &steps {
        let to = step
            .to
            .strip_prefix("${PREFIX}/")
            .unwrap_or_else(|| panic!("do-install writes outside ${{PREFIX}}: {}", step.to));
        if step.command.ends_with("_DIR}") {
            installed.insert(format!("{to}/"));
        } else {
            installed.insert(to.to_owned());
        }
    }
    // The ports infrastructure installs pkg/README as the package's readme.
    assert!(repo().join("pkg/openbsd/pkg/README").is_file());
    installed.insert("share/doc/pkg-readmes/${PKGSTEM}".to_owned());

    let plist: BTreeSet<String> = read("pkg/openbsd/pkg/PLIST")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            for keyword in ["@bin ", "@man "] {
                if let Some(path) = l.strip_prefix(keyword) {
                    return Some(path.to_owned());
                }
            }
            (!l.starts_with('@')).then(|| l.to_owned())
        })
        .collect();
    assert_eq!(plist, installed, "pkg/openbsd/pkg/PLIST against do-install");
    let plist_text = read("pkg/openbsd/pkg/PLIST");
    assert!(
        plist_text.contains("@bin libexec/tftp-proxy"),
        "the helper is marked @bin"
    );
    assert!(
        plist_text.contains("@man man/man8/tftp-proxy.8"),
        "the manual is marked @man"
    );

    // The readme names only what is installed.
    let readme = read("pkg/openbsd/pkg/README");
    let named: Vec<&str> = readme
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .filter_map(|w| w.strip_prefix("${PREFIX}/"))
        .map(|w| w.trim_end_matches(['.', ')', ';']))
        .collect();
    assert!(named.len() >= 3, "pkg/README names no installed path");
    for path in named {
        assert!(
            installed.contains(path) || installed.contains(&format!("{path}/")),
            "pkg/README names ${{PREFIX}}/{path}, which the port does not install"
        );
    }

    // Its pf.conf lines are the shipped example's, its sysctl the guide's.
    let pf_conf = read("etc/pf.conf");
    let guide = read("doc/install-openbsd.md");
    let mut pf_lines = 0;
    for line in readme.lines().filter(|l| l.starts_with('\t')) {
        let line = line.trim();
        if let Some(command) = line.strip_prefix("# ") {
            if command.contains("recvspace=") {
                assert!(
                    guide.contains(command),
                    "pkg/README: {command:?} is not in doc/install-openbsd.md"
                );
            }
        } else {
            pf_lines += 1;
            assert!(
                pf_conf.lines().any(|l| l.trim() == line),
                "pkg/README shows {line:?}, which etc/pf.conf does not have"
            );
        }
    }
    assert!(pf_lines >= 3, "pkg/README shows no pf.conf line");

    check_sources_and_start_lines(
        "OpenBSD",
        &steps,
        &distname,
        "doc/install-openbsd.md",
        "port-openbsd",
        &installed,
        &["etc/inetd.conf.openbsd"],
    );
}

#[test]
fn freebsd_plist_names_every_installed_file() {
    let makefile = read("pkg/freebsd/Makefile");
    let version = make_variable(&makefile, "DISTVERSION");
    assert_eq!(version, cargo_version(), "DISTVERSION against Cargo.toml");
    let distname = format!("{}-{version}", make_variable(&makefile, "PORTNAME"));
    let examples = format!("share/examples/{}", make_variable(&makefile, "PORTNAME"));
    let steps = do_install(&makefile);
    let mut installed = BTreeSet::new();
    let mut directories = Vec::new();
    for step in &steps {
        let to = step
            .to
            .strip_prefix("${STAGEDIR}")
            .unwrap_or_else(|| panic!("do-install writes outside ${{STAGEDIR}}: {}", step.to))
            .replace("${EXAMPLESDIR}", &examples);
        let to = to.strip_prefix("${PREFIX}/").unwrap_or(&to).to_owned();
        assert!(
            !to.starts_with('$') && !to.starts_with('/'),
            "do-install: {}",
            step.to
        );
        match step.command.as_str() {
            "${MKDIR}" => directories.push(to),
            // The framework compresses the manuals.
            "${INSTALL_MAN}" => {
                installed.insert(format!("{to}.gz"));
            }
            _ => {
                installed.insert(to);
            }
        }
    }
    for dir in &directories {
        assert!(
            installed.iter().any(|f| f.starts_with(&format!("{dir}/"))),
            "do-install makes {dir}, which holds no installed file"
        );
    }
    let plist: BTreeSet<String> = read("pkg/freebsd/pkg-plist")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace("%%EXAMPLESDIR%%", &examples))
        .collect();
    assert_eq!(plist, installed, "pkg/freebsd/pkg-plist against do-install");

    // The install message names only what is installed.
    let message = read("pkg/freebsd/pkg-message");
    let named: Vec<String> = message
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .filter_map(|w| {
            w.strip_prefix("%%EXAMPLESDIR%%/")
                .map(|p| format!("{examples}/{p}"))
                .or_else(|| {
                    w.strip_prefix("%%PREFIX%%/libexec/")
                        .map(|p| format!("libexec/{p}"))
                })
        })
        .map(|w| w.trim_end_matches(['.', ')', ';']).to_owned())
        .collect();
    assert!(named.len() >= 3, "pkg-message names no installed path");
    for path in named {
        assert!(
            installed.contains(&path),
            "pkg-message names {path}, which the port does not install"
        );
    }

    // Its commands are the shipped inetd lines' own.
    let inetd = read("etc/inetd.conf.freebsd");
    let commands: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("recvspace=") || l.contains("inetd_flags="))
        .collect();
    assert!(commands.len() >= 3, "pkg-message: {commands:?}");
    for command in commands {
        assert!(
            inetd.contains(command),
            "pkg-message says {command:?}, etc/inetd.conf.freebsd does not"
        );
    }

    check_sources_and_start_lines(
        "FreeBSD",
        &steps,
        &distname,
        "doc/install-freebsd.md",
        "port-freebsd",
        &installed,
        &["etc/inetd.conf.freebsd", "etc/xinetd.d/tftp-proxy"],
    );
}

#[test]
fn both_ports_install_the_manual_and_the_helper_from_the_tree() {
    for makefile in ["pkg/openbsd/Makefile", "pkg/freebsd/Makefile"] {
        let steps = do_install(&read(makefile));
        let sources = tree_sources(&steps);
        assert!(
            sources.contains(&"man/tftp-proxy.8".to_owned()),
            "{makefile}: {sources:?}"
        );
        for source in &sources {
            assert!(
                Path::new(&repo().join(source)).is_file(),
                "{makefile} installs {source}, which is not in the tree"
            );
        }
        assert!(
            steps
                .iter()
                .any(|s| s.from.ends_with("/release/tftp-proxy")
                    && s.command == "${INSTALL_PROGRAM}"),
            "{makefile} installs the release build with INSTALL_PROGRAM"
        );
    }
}
