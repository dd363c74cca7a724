//! The helper's own cost per process: exec to exit (wall and CPU time)
//! and peak RSS, measured by a small wrapper inetd starts instead of the
//! program (fork, exec, wait4), and system calls per run counted by
//! `strace -f -c` in the same place. The floor is a trivial dynamically linked C program (floor.c)
//! started by the same inetd, one datagram per run, the same way.

use crate::client;
use crate::lab::{tool, LabOptions};
use crate::netns;
use crate::paths::Subject;
use crate::setup;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The port inetd starts the floor program on, in the firewall.
const FLOOR_PORT: u16 = 6970;
/// The phones' side of the firewall, where the floor is reached.
const FIREWALL_LAN: &str = "192.0.2.1";

/// The C programs the measure needs, built by gcc.
pub struct Programs {
    /// The trivial program (floor.c).
    pub floor: PathBuf,
    /// The wrapper (measure.c).
    pub measure: PathBuf,
}

/// Compiles floor.c and measure.c into `out`.
pub fn build(out: &Path) -> Programs {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench");
    let gcc = tool("gcc", "gcc");
    let compile = |name: &str| {
        let bin = out.join(name);
        let status = Command::new(&gcc)
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(src.join(format!("{name}.c")))
            .status()
            .unwrap_or_else(|e| panic!("bench: running gcc: {e}"));
        assert!(status.success(), "bench: gcc {name}.c failed");
        bin
    };
    Programs {
        floor: compile("floor"),
        measure: compile("measure"),
    }
}

/// One process run, as the wrapper saw it.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Fork to reap.
    pub wall: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// CPU time, user and system.
    pub cpu: Duration,
}

/// The cost of the helper and of the floor.
pub struct Cost {
    /// Each helper process (one request each).
    pub helper: Vec<Run>,
    /// Each process of the static build, when one was given.
    pub helper_static: Vec<Run>,
    /// Each floor process.
    pub floor: Vec<Run>,
    /// System calls of each helper process (strace -f -c).
    pub helper_syscalls: Vec<u64>,
    /// System calls of each floor process.
    pub floor_syscalls: Vec<u64>,
    /// The last helper run's strace table.
    pub helper_strace: String,
}

fn parse_runs(path: &Path) -> Vec<Run> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|x| x.parse::<u64>().ok());
            Some(Run {
                wall: Duration::from_nanos(f.next()??),
                max_rss_kib: f.next()??,
                cpu: Duration::from_micros(f.next()??),
            })
        })
        .collect()
}

/// The total of calls in a `strace -c` table.
fn strace_calls(table: &str) -> Option<u64> {
    let total = table
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with("total"))?;
    total.split_whitespace().nth(3)?.parse().ok()
}

/// Starts a lab whose inetd runs the helper through `helper_wrapper`
/// and, on its own port, the floor program through `floor_wrapper`
/// (each: path, argv[0], arguments).
fn wrapped_lab(
    helper_args: &[String],
    helper_wrapper: &[String],
    floor_wrapper: &[String],
    floor: &Path,
    helper_binary: Option<&str>,
) -> Subject {
    let line = format!(
        "{FLOOR_PORT}\tdgram\tudp\twait.1000\troot\t{}\t{} {}",
        floor_wrapper[0],
        floor_wrapper[1..].join(" "),
        floor.display()
    );
    let subject = Subject::start(
        "(c) tftp-proxy, wrapped",
        LabOptions {
            helper_args: helper_args.to_vec(),
            helper_wrapper: helper_wrapper.to_vec(),
            extra_inetd_lines: vec![line],
            helper_binary: helper_binary.map(str::to_owned),
            ..LabOptions::default()
        },
    );
    subject.serve_file(setup::FILE, 300, 7);
    subject
}

/// One request through the helper and one datagram to the floor, each
/// followed by a pause long enough for the process to have exited.
fn trigger(subject: &Subject, runs: usize, after_each: impl Fn(usize, bool) + Sync) {
    let ns = subject.client_ns();
    let server = subject.server();
    let floor: SocketAddr = SocketAddr::new(FIREWALL_LAN.parse().expect("address"), FLOOR_PORT);
    let after_each = &after_each;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                netns::enter(&ns);
                for i in 0..runs {
                    let read = client::read(server, setup::FILE, None);
                    assert!(read.ok(), "bench: cost run: {:?}", read.failure);
                    after_each(i, true);
                    client::echo(floor, b"floor", Duration::from_secs(2))
                        .expect("bench: the floor program did not answer");
                    after_each(i, false);
                }
            })
            .join()
            .expect("cost thread")
    });
}

/// Waits until `path` holds `lines` lines (the wrapper writes at exit).
fn wait_lines(path: &Path, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let n = std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= lines {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the strace table at `path` is complete, and takes it.
fn take_table(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(t) = std::fs::read_to_string(path) {
            if strace_calls(&t).is_some() {
                let _ = std::fs::remove_file(path);
                return t;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    String::new()
}

/// Runs `runs` helper processes (of `helper_binary`, default the
/// benchmarked one) and `runs` floor processes through the wrapper.
fn measure_runs(
    programs: &Programs,
    out: &Path,
    helper_args: &[String],
    runs: usize,
    helper_binary: Option<&str>,
) -> (Vec<Run>, Vec<Run>) {
    let runs_file = out.join("cost-runs.txt");
    let floor_file = out.join("cost-floor.txt");
    for f in [&runs_file, &floor_file] {
        let _ = std::fs::remove_file(f);
    }
    let measure = programs.measure.to_string_lossy().into_owned();
    let wrapper = |file: &Path| {
        vec![
            measure.clone(),
            "measure".into(),
            file.display().to_string(),
        ]
    };
    let subject = wrapped_lab(
        helper_args,
        &wrapper(&runs_file),
        &wrapper(&floor_file),
        &programs.floor,
        helper_binary,
    );
    trigger(&subject, runs, |i, helper| {
        if helper {
            wait_lines(&runs_file, i + 1);
        } else {
            wait_lines(&floor_file, i + 1);
        }
        std::thread::sleep(Duration::from_millis(10));
    });
    (parse_runs(&runs_file), parse_runs(&floor_file))
}

/// Measures `runs` helper processes and `runs` floor processes, the same
/// for `static_binary` when given, then `strace_runs` of each under strace.
pub fn measure(
    programs: &Programs,
    out: &Path,
    helper_args: &[String],
    runs: usize,
    strace_runs: usize,
    static_binary: Option<&str>,
) -> Cost {
    let (helper, floor) = measure_runs(programs, out, helper_args, runs, None);
    let helper_static = match static_binary {
        Some(bin) => measure_runs(programs, out, helper_args, runs, Some(bin)).0,
        None => Vec::new(),
    };

    let strace = tool("strace", "strace").to_string_lossy().into_owned();
    let helper_table = out.join("strace-helper.txt");
    let floor_table = out.join("strace-floor.txt");
    let mut helper_syscalls = Vec::new();
    let mut floor_syscalls = Vec::new();
    let mut helper_strace = String::new();
    if strace_runs > 0 {
        let wrapper = |file: &Path| {
            vec![
                strace.clone(),
                "strace".into(),
                "-f".into(),
                "-c".into(),
                "-o".into(),
                file.display().to_string(),
            ]
        };
        let subject = wrapped_lab(
            helper_args,
            &wrapper(&helper_table),
            &wrapper(&floor_table),
            &programs.floor,
            None,
        );
        let collected = std::sync::Mutex::new((Vec::new(), Vec::new(), String::new()));
        trigger(&subject, strace_runs, |_, helper| {
            let mut c = collected.lock().expect("lock");
            if helper {
                let t = take_table(&helper_table);
                if let Some(n) = strace_calls(&t) {
                    c.0.push(n);
                }
                c.2 = t;
            } else if let Some(n) = strace_calls(&take_table(&floor_table)) {
                c.1.push(n);
            }
        });
        let (h, f, t) = collected.into_inner().expect("lock");
        helper_syscalls = h;
        floor_syscalls = f;
        helper_strace = t;
    }
    Cost {
        helper,
        helper_static,
        floor,
        helper_syscalls,
        floor_syscalls,
        helper_strace,
    }
}
