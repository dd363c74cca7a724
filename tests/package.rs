//! The Debian package `scripts/deb` builds, installed as an operator
//! installs it: `dpkg-deb --info` reads it, `lintian` finds no error or
//! warning, and none of its paths is one of the paths of Debian's own,
//! unrelated `tftp-proxy` package. Then `dpkg -i` installs it into a
//! throwaway root (an overlay over `/` in a private mount namespace,
//! entered with chroot), the installed nftables include, binary and
//! inetd lines carry a GET on the lab's firewall, and `dpkg -r` and
//! `dpkg -P` take it away again, leaving nothing in the overlay but
//! dpkg's own records. Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_tftp-proxy");

/// The package's name: Debian's archive already has a `tftp-proxy`.
const PACKAGE: &str = "tftp-nat-proxy";

/// The files of Debian's `tftp-proxy` package (1.0.0-1, a TFTP server
/// that falls back to HTTP), which ours must never ship.
const OTHER_PACKAGES_FILES: &[&str] = &[
    "/etc/default/tftp-proxy",
    "/usr/bin/tftp-proxy",
    "/usr/lib/systemd/system/tftp-proxy.service",
    "/usr/share/doc/tftp-proxy/changelog.Debian.gz",
    "/usr/share/doc/tftp-proxy/copyright",
    "/usr/share/man/man8/tftp-proxy.8.gz",
];

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
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

/// The package's files (not directories), as absolute paths.
fn package_files(deb: &Path) -> Vec<String> {
    let listing = lab::run(Command::new("dpkg-deb").arg("-c").arg(deb));
    let files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_owned())
        .collect();
    assert!(files.len() >= 6, "dpkg-deb -c: {files:?}");
    files
}

/// The throwaway root: an overlay over `/` whose upper layer is a tmpfs,
/// mounted by a holder process in a private mount namespace inside the
/// firewall's network namespace.
struct Root {
    /// The holder's pid: commands enter its mount namespace.
    holder: String,
    /// The overlay's mount point (the root dpkg installs into).
    root: PathBuf,
    /// The overlay's upper layer: everything written to the root.
    upper: PathBuf,
}

impl Root {
    fn start(lab: &mut Lab) -> Root {
        let scratch = lab.dir.join("overlay");
        let (root, upper) = (scratch.join("root"), scratch.join("upper"));
        let holder_pid = lab.dir.join("holder.pid");
        std::fs::create_dir_all(&scratch).unwrap();
        let script = format!(
            "set -ex
mount -t tmpfs tmpfs {scratch}
mkdir {scratch}/upper {scratch}/work {root}
mount -t overlay overlay -o lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work {root}
mount -t proc proc {root}/proc
mount -t sysfs sysfs {root}/sys
mount -t tmpfs tmpfs {root}/run
mount -t tmpfs tmpfs {root}/tmp
mount -t tmpfs tmpfs {root}/dev
for d in null zero full random urandom; do
  touch {root}/dev/$d && mount --bind /dev/$d {root}/dev/$d
done
touch {root}/dev/log && mount --bind {log} {root}/dev/log
mkdir -p {root}{dir} && mount --bind {dir} {root}{dir}
echo $$ > {holder_pid}
exec sleep 600
",
            scratch = scratch.display(),
            root = root.display(),
            log = lab.dir.join("log.sock").display(),
            dir = lab.dir.display(),
            holder_pid = holder_pid.display(),
        );
        let script_path = lab.dir.join("root.sh");
        std::fs::write(&script_path, script).unwrap();
        let unshare = lab::tool("unshare", "util-linux");
        lab.spawn(
            "root",
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
        let deadline = Instant::now() + Duration::from_secs(10);
        let holder = loop {
            if let Ok(p) = std::fs::read_to_string(&holder_pid) {
                if !p.trim().is_empty() {
                    break p.trim().to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the throwaway root did not come up:\n{}",
                lab.process_logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Root {
            holder,
            root,
            upper,
        }
    }

    /// A command in the holder's mount and network namespaces (outside
    /// the chroot).
    fn outside(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(lab::tool("nsenter", "util-linux"));
        cmd.args(["-t", &self.holder, "-m", "-n"])
            .args(args)
            .env("PATH", PATH);
        cmd
    }

    /// A command as the throwaway root's own: chrooted into it.
    fn inside(&self, args: &[&str]) -> Command {
        let root = self.root.to_string_lossy().into_owned();
        let mut cmd = self.outside(&["chroot", &root]);
        cmd.args(args);
        cmd
    }

    /// Runs `args` in the root; fails the test if it fails.
    fn run(&self, args: &[&str]) -> String {
        text(&lab::run(&mut self.inside(args)))
    }

    /// Whether `path` exists in the root.
    fn exists(&self, path: &str) -> bool {
        self.inside(&["test", "-e", path])
            .status()
            .expect("running test -e")
            .success()
    }

    /// What the root holds that `/` does not: the upper layer's entries,
    /// `type path` (find's %y: f file, l link, c whiteout, d directory).
    fn written(&self) -> Vec<(char, String)> {
        let upper = self.upper.to_string_lossy().into_owned();
        let out =
            lab::run(&mut self.outside(&["find", &upper, "-mindepth", "1", "-printf", "%y %P\\n"]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(t, p)| (t.chars().next().unwrap_or('?'), p.to_owned()))
            .collect()
    }
}

/// What dpkg and its triggers keep of a package purged: its records and
/// log, and man-db's index (the manual's trigger). Nothing else may stay.
fn dpkg_record(path: &str) -> bool {
    ["var/lib/dpkg/", "var/log/", "var/cache/man/"]
        .iter()
        .any(|p| path.starts_with(p))
}

#[test]
fn debian_package_installs_serves_and_purges_cleanly() {
    let mut lab = Lab::start(LabOptions {
        kernel_helper: true,
        ..LabOptions::default()
    });
    let deb = build_package(&lab.dir.join("deb"));

    let info = text(&lab::run(Command::new("dpkg-deb").arg("--info").arg(&deb)));
    assert!(info.contains(&format!("Package: {PACKAGE}\n")), "{info}");
    for field in ["Conflicts:", "Replaces:", "Breaks:", "Provides:"] {
        assert!(
            !info.contains(field),
            "{field} where no file is shared: {info}"
        );
    }
    let lintian = Command::new(lab::tool("lintian", "lintian"))
        .arg(&deb)
        .output()
        .expect("running lintian");
    let complaints: Vec<String> = text(&lintian)
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .map(str::to_owned)
        .collect();
    assert!(complaints.is_empty(), "lintian: {}", text(&lintian));

    // No path of Debian's other tftp-proxy, also through the /lib ->
    // /usr/lib alias of a merged /usr.
    let files = package_files(&deb);
    for file in &files {
        let merged = file.replacen("/lib/", "/usr/lib/", 1);
        for path in [file, &merged] {
            assert!(
                !OTHER_PACKAGES_FILES.contains(&path.as_str())
                    && !path.starts_with("/usr/share/doc/tftp-proxy/"),
                "{file} is a path of Debian's tftp-proxy package"
            );
        }
    }
    let helper = format!("/usr/libexec/{PACKAGE}/tftp-proxy");
    let include = format!("/usr/share/{PACKAGE}/tftp-proxy.nft");
    let inetd_lines = format!("/usr/share/doc/{PACKAGE}/examples/inetd.conf");
    let service = format!("/usr/lib/systemd/system/{PACKAGE}.service");
    for path in [&helper, &include, &inetd_lines, &service] {
        assert!(files.contains(path), "the package lacks {path}: {files:?}");
    }

    // Install it as the operator does.
    let root = Root::start(&mut lab);
    let deb_path = deb.to_string_lossy().into_owned();
    root.run(&["dpkg", "-i", &deb_path]);
    let status = root.run(&["dpkg-query", "-W", "-f", "${Status}", PACKAGE]);
    assert_eq!(status, "install ok installed", "dpkg-query");
    for file in &files {
        assert!(root.exists(file), "dpkg -i did not install {file}");
    }
    let unit = root.run(&["cat", &service]);
    assert!(unit.contains(&format!("ExecStart={helper}")), "{unit}");
    assert!(
        unit.contains(&format!("Requires={PACKAGE}.socket")),
        "{unit}"
    );

    // The installed include under the lab's own rules, loaded in the root.
    std::fs::copy(
        repo().join("tests/lab/firewall.nft"),
        lab.dir.join("firewall.nft"),
    )
    .unwrap();
    let ruleset = lab.dir.join("packaged.nft");
    std::fs::write(
        &ruleset,
        format!(
            "flush ruleset\ndefine int_if = \"lan0\"\ndefine ext_if = \"wan0\"\ninclude \"{include}\"\ninclude \"{}\"\n",
            lab.dir.join("firewall.nft").display()
        ),
    )
    .unwrap();
    root.run(&["nft", "-f", &ruleset.to_string_lossy()]);

    // inetd started on the installed example lines, unchanged: the
    // helper at its installed path, logging to the root's /dev/log.
    let inetd = lab::tool("inetd", "openbsd-inetd");
    let nsenter = lab::tool("nsenter", "util-linux");
    let root_dir = root.root.to_string_lossy().into_owned();
    lab.spawn(
        "inetd",
        "f",
        &[
            &nsenter.to_string_lossy(),
            "-t",
            &root.holder,
            "-m",
            "chroot",
            &root_dir,
            &inetd.to_string_lossy(),
            "-d",
            &inetd_lines,
        ],
    );
    lab.wait_for_udp("f", "0.0.0.0", 6969);
    lab.assert_get(
        "SEP0014F2000001.cnf.xml",
        5000,
        71,
        "GET through the installed package",
    );
    let logged = lab.wait_for_log(1, Duration::from_secs(3), |m| {
        m.contains("SEP0014F2000001.cnf.xml") && m.contains(" -> ")
    });
    assert_eq!(logged.len(), 1, "{}", lab.process_logs());
    lab.stop("inetd");

    // Remove, then purge: every file goes, and nothing else stays.
    root.run(&["dpkg", "-r", PACKAGE]);
    for file in &files {
        assert!(!root.exists(file), "dpkg -r left {file}");
    }
    root.run(&["dpkg", "-P", PACKAGE]);
    let gone = root
        .inside(&["dpkg-query", "-W", "-f", "${Status}", PACKAGE])
        .output()
        .expect("dpkg-query");
    assert!(
        !gone.status.success() || text(&gone).contains("not-installed"),
        "dpkg still knows {PACKAGE} after purge: {}",
        text(&gone)
    );
    let written = root.written();

    let left: Vec<String> = written
        .iter()
        .filter(|(kind, path)| match kind {
            // A directory of the root's own, copied up when written in.
            'd' => !Path::new("/").join(path).is_dir(),
            _ => !dpkg_record(path),
        })
        .map(|(kind, path)| format!("{kind} /{path}"))
        .collect();
    assert!(
        left.is_empty(),
        "left behind after dpkg -P:\n{}",
        left.join("\n")
    );
    assert!(
        written.iter().any(|(_, p)| p.starts_with("var/lib/dpkg/")),
        "the overlay recorded no dpkg write: is it the root dpkg used? {written:?}"
    );
}
