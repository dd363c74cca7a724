//! The benchmark: the three paths a phone's read can take, side by side in
//! one run, alternating between them:
//! (a) routed, no NAT; (b) NAT with the kernel's conntrack TFTP helper (no
//! process at all: the practical limit); (c) NAT with tftp-proxy under
//! openbsd-inetd with the shipped lines.
//!
//! It measures setup latency (cold and warm helper), steady rates, boot
//! storms, one large GET and the helper's own cost per process, prints
//! each with the ratios (c)/(b) and (c)/(a), checks the targets, and
//! writes `results.md` and `latency.csv` (for `scripts/bench-chart`) to
//! `target/bench/`. Run it with `scripts/bench` (as root), `--quick` for
//! the short version `scripts/test` runs.

#[path = "../../tests/lab/mod.rs"]
mod lab;

mod capacity;
mod cost;
mod load;
mod paths;
mod report;
mod setup;
mod stats;
mod steady;
mod throughput;

use lab::client::{self, Read};
use lab::{netns, storm};
use lab::{LabOptions, BOOT_FILES};
use paths::Subject;
use report::{Table, Target};
use stats::{ms, percentile, ratio, Spread};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How much of everything to measure.
struct Plan {
    name: &'static str,
    /// Sequential reads per path for setup latency, in rounds of `round`.
    reads: usize,
    round: usize,
    /// Pause after each sequential read.
    gap: Duration,
    /// Sequential reads with the helper not running, spread over the rounds.
    cold_reads: usize,
    rates: Vec<u32>,
    steady: Duration,
    storms: Vec<usize>,
    storm_repetitions: usize,
    /// Phones of the storms from dnsmasq with a cold helper and the
    /// shipped receive buffer: one first request each, then the boot.
    burst_phones: usize,
    /// Whether those storms also run the seven-file boot.
    burst_boot: bool,
    /// Whether the kernel helper's lab is started again under the shipped
    /// receive buffer first, so its server's sockets have it too (the
    /// quick run's 200 first requests, 832 bytes each over veth, fit the
    /// default; a thousand do not).
    burst_fresh_servers: bool,
    /// Capacity search: the low rate, the first rate doubled from, the
    /// highest tried, bisections, and how long each rate is held.
    capacity: (u32, u32, u32, usize, Duration),
    get_mib: usize,
    get_repetitions: usize,
    cost_runs: usize,
    strace_runs: usize,
}

impl Plan {
    fn quick() -> Plan {
        Plan {
            name: "quick",
            reads: 100,
            round: 50,
            gap: Duration::from_millis(20),
            cold_reads: 10,
            rates: vec![100],
            steady: Duration::from_secs(10),
            storms: vec![50],
            storm_repetitions: 1,
            burst_phones: 200,
            burst_boot: false,
            burst_fresh_servers: false,
            capacity: (10, 200, 200, 0, Duration::from_secs(1)),
            get_mib: 8,
            get_repetitions: 1,
            cost_runs: 10,
            strace_runs: 1,
        }
    }

    fn full() -> Plan {
        let steady_secs = std::env::var("BENCH_STEADY_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        Plan {
            name: "full",
            reads: 500,
            round: 50,
            gap: Duration::from_millis(20),
            cold_reads: 100,
            rates: vec![10, 40, 100],
            steady: Duration::from_secs(steady_secs),
            storms: vec![50, 200, 500],
            storm_repetitions: 3,
            burst_phones: 1000,
            burst_boot: true,
            burst_fresh_servers: true,
            capacity: (10, 1_000, 16_000, 2, Duration::from_secs(30)),
            get_mib: 32,
            get_repetitions: 3,
            cost_runs: 60,
            strace_runs: 3,
        }
    }
}

/// Whether the helper has `--idle` (serving until idle); without it, it
/// exits as soon as its socket is empty and every spaced read is cold.
fn helper_has_idle(binary: &str) -> bool {
    std::process::Command::new(binary)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--idle"))
        .unwrap_or(false)
}

fn first_data_ms(reads: &[Read]) -> Vec<f64> {
    reads.iter().filter_map(|r| r.first_data).map(ms).collect()
}

fn failed(reads: &[Read]) -> usize {
    reads.iter().filter(|r| !r.ok()).count()
}

/// Prints why reads failed, by reason, to standard error.
fn explain_failures(what: &str, reads: &[Read]) {
    let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in reads {
        if let Some(f) = &r.failure {
            *reasons.entry(f.as_str()).or_default() += 1;
        }
    }
    for (reason, n) in reasons {
        eprintln!("bench: {what}: {n} read(s) failed: {reason}");
    }
}

fn retransmits(reads: &[Read]) -> u32 {
    reads.iter().map(|r| r.retransmits).sum()
}

fn show_starts(starts: Option<usize>) -> String {
    starts.map_or("-".to_owned(), |s| s.to_string())
}

/// Prints a table and keeps its Markdown.
fn emit(table: &Table, markdown: &mut String) {
    print!("{}", table.text());
    markdown.push_str(&table.markdown());
}

fn main() {
    let started = Instant::now();
    let mut plan = if std::env::args().any(|a| a == "--quick") {
        Plan::quick()
    } else {
        Plan::full()
    };
    // BENCH_CAPACITY=low,first,max,bisections,seconds: another search.
    if let Some(c) = std::env::var("BENCH_CAPACITY").ok().and_then(|v| {
        let n: Vec<u32> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        match n[..] {
            [low, first, max, refine, secs] => Some((
                low,
                first,
                max,
                refine as usize,
                Duration::from_secs(secs.into()),
            )),
            _ => None,
        }
    }) {
        plan.capacity = c;
    }
    if let Some(runs) = std::env::var("BENCH_COST_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        plan.cost_runs = runs;
    }
    // BENCH_NICE=N: the benchmark, its labs and the helpers they start
    // run at this nice value (inherited by every thread and process
    // started from here), so other work on a shared machine weighs less
    // on the numbers.
    if let Some(nice) = std::env::var("BENCH_NICE")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    {
        // Only the main thread runs yet: it is the one renice sets.
        let set = std::process::Command::new("renice")
            .args(["--priority", &nice.to_string(), "-p"])
            .arg(std::process::id().to_string())
            .stdout(std::process::Stdio::null())
            .status();
        if !set.is_ok_and(|s| s.success()) {
            eprintln!("bench: BENCH_NICE={nice}: renice failed");
        }
    }
    let out = std::env::var_os("BENCH_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&out).expect("bench: creating the output directory");
    let helper_bin = std::env::var("TFTP_PROXY_BIN").expect("bench: set TFTP_PROXY_BIN");
    let idle = helper_has_idle(&helper_bin);
    // Cold: the shortest --idle and transfer wait (the helper lives until
    // both have passed), and reads spaced past them, so the helper has
    // exited before each one.
    let (cold_args, cold_gap): (Vec<String>, Duration) = if idle {
        (
            vec!["--idle".into(), "1".into(), "-w".into(), "1".into()],
            Duration::from_millis(1300),
        )
    } else {
        (Vec::new(), plan.gap)
    };

    let machine = report::machine();
    let mut md = String::new();
    println!("tftp-proxy benchmark ({} mode)", plan.name);
    println!(
        "machine: {machine}; load average at start: {}",
        report::load()
    );
    println!("helper: {helper_bin}");
    if !idle {
        println!("note: this helper has no --idle: it exits as soon as its socket is empty, so its warm and cold rows are the same thing (one process per spaced read)");
    }
    let _ = writeln!(
        md,
        "Machine: {machine}. Load average at start: {}.",
        report::load()
    );

    let programs = cost::build(&out);
    let routed = Subject::start(
        "(a) routed, no NAT",
        LabOptions {
            routed: true,
            ..LabOptions::default()
        },
    );
    let mut kernel = Subject::start(
        "(b) NAT, kernel helper",
        LabOptions {
            kernel_helper: true,
            ..LabOptions::default()
        },
    );
    let mut proxy = Subject::start("(c) NAT, tftp-proxy", LabOptions::default());
    let cold = Subject::start(
        "(c) tftp-proxy, cold",
        LabOptions {
            helper_args: cold_args.clone(),
            ..LabOptions::default()
        },
    );
    // BENCH_ONLY=latency,steady,storm,burst,capacity,get,cost runs only those measures.
    let only = std::env::var("BENCH_ONLY").ok();
    let wanted = |measure: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|m| m == measure))
    };
    // Failures the helper alone had: a storm where (c) lost phones and
    // neither (a) nor (b) did, or a GET that failed through (c) only.
    let mut helper_failures = 0;
    let mut targets: Vec<Target> = Vec::new();

    // Setup latency, alternating in rounds.
    if wanted("latency") {
        let subjects = [&routed, &kernel, &proxy, &cold];
        let mut reads: Vec<Vec<Read>> = vec![Vec::new(); subjects.len()];
        let mut round_p50: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
        let marks: Vec<usize> = subjects.iter().map(|s| s.log_mark()).collect();
        let rounds = plan.reads.div_ceil(plan.round);
        for _ in 0..rounds {
            for (i, s) in subjects.iter().enumerate() {
                let warm = i == 2;
                let r = if i == 3 {
                    setup::sequential(s, plan.cold_reads.div_ceil(rounds), cold_gap, false)
                } else {
                    setup::sequential(s, plan.round, plan.gap, warm)
                };
                round_p50[i].push(percentile(&first_data_ms(&r), 50.0));
                reads[i].extend(r);
            }
        }
        let mut csv = String::from("path,start,first_data_ms\n");
        let kinds = ["routed", "kernel", "warm", "cold"];
        let labels = [
            "(a) routed, no NAT",
            "(b) NAT, kernel helper",
            "(c) tftp-proxy, warm",
            "(c) tftp-proxy, cold",
        ];
        let mut t = Table::new(
            format!(
                "Setup latency, RRQ to first DATA (ms): {} sequential reads per path, {} ms apart, in alternating rounds of {}; cold: {} reads {} ms apart (helper --idle 1 -w 1, exited before each read)",
                plan.reads,
                plan.gap.as_millis(),
                plan.round,
                plan.cold_reads.div_ceil(rounds) * rounds,
                cold_gap.as_millis()
            ),
            &[
                "path",
                "p50",
                "p50 of rounds [min-max]",
                "p99",
                "failed",
                "retransmits",
                "helper starts",
            ],
        );
        let mut p50 = [0.0; 4];
        let mut p99 = [0.0; 4];
        for i in 0..subjects.len() {
            let samples = first_data_ms(&reads[i]);
            for v in &samples {
                let _ = writeln!(csv, "{},{},{v:.4}", kinds[i], kinds[i]);
            }
            p50[i] = percentile(&samples, 50.0);
            p99[i] = percentile(&samples, 99.0);
            // The warm row counts its priming reads too.
            let primes = if i == 2 { round_p50[i].len() } else { 0 };
            let starts = subjects[i].starts_since(marks[i], reads[i].len() + primes);
            t.row(vec![
                labels[i].to_owned(),
                format!("{:.3}", p50[i]),
                Spread::of_repetitions(&round_p50[i]).show(3),
                format!("{:.3}", p99[i]),
                failed(&reads[i]).to_string(),
                retransmits(&reads[i]).to_string(),
                show_starts(starts),
            ]);
        }
        for (i, name) in [(2, "warm"), (3, "cold")] {
            for (j, base) in [(1, "(b)"), (0, "(a)")] {
                t.row(vec![
                    format!("{name} (c)/{base}"),
                    ratio(p50[i], p50[j]),
                    String::new(),
                    ratio(p99[i], p99[j]),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
        }
        emit(&t, &mut md);
        std::fs::write(out.join("latency.csv"), csv).expect("bench: writing latency.csv");
        targets.push(Target {
            what: "warm setup p50 <= 1.5x kernel helper".into(),
            measured: ratio(p50[2], p50[1]),
            met: Some(p50[2] <= 1.5 * p50[1]),
        });
    }

    // Steady rates.
    if wanted("steady") {
        let labels = [routed.label, kernel.label, proxy.label];
        let mut t = Table::new(
            format!(
                "Steady rate: reads started on a fixed schedule for {} s each (boot files in turn); first DATA in ms",
                plan.steady.as_secs()
            ),
            &[
                "path",
                "reads/s",
                "reads",
                "failed",
                "retransmits",
                "p50",
                "p99",
                "helper starts",
                "max start lag ms",
            ],
        );
        for &rate in &plan.rates {
            let mut p50 = [0.0; 3];
            let mut p99 = [0.0; 3];
            for i in 0..3 {
                // (c) gets a fresh inetd: a run may use up its starts a minute.
                let s = match i {
                    0 => &routed,
                    1 => &kernel,
                    _ => {
                        proxy.restart();
                        &proxy
                    }
                };
                let mark = s.log_mark();
                let run = steady::run(s, rate, plan.steady);
                let samples = first_data_ms(&run.reads);
                p50[i] = percentile(&samples, 50.0);
                p99[i] = percentile(&samples, 99.0);
                let starts = s.starts_since(mark, run.reads.len() - failed(&run.reads));
                let fails = failed(&run.reads);
                explain_failures(&format!("{} at {rate}/s", labels[i]), &run.reads);
                t.row(vec![
                    labels[i].to_owned(),
                    rate.to_string(),
                    run.reads.len().to_string(),
                    fails.to_string(),
                    retransmits(&run.reads).to_string(),
                    format!("{:.3}", p50[i]),
                    format!("{:.3}", p99[i]),
                    show_starts(starts),
                    format!("{:.1}", ms(run.late)),
                ]);
                if i == 2 && rate == 100 {
                    targets.push(Target {
                        what: format!(
                            "steady 100 reads/s for {} s: zero failures",
                            plan.steady.as_secs()
                        ),
                        measured: format!("{fails} of {} failed", run.reads.len()),
                        met: Some(fails == 0),
                    });
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            for (j, base) in [(1, "(b)"), (0, "(a)")] {
                t.row(vec![
                    format!("(c)/{base}"),
                    rate.to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    ratio(p50[2], p50[j]),
                    ratio(p99[2], p99[j]),
                    String::new(),
                    String::new(),
                ]);
            }
        }
        emit(&t, &mut md);
    }

    // Storms run with the shipped receive buffer (etc/sysctl.d): each
    // fresh inetd below creates its socket with it.
    let shipped_rmem =
        (wanted("storm") || wanted("burst")).then(lab::sysctl::ShippedReceiveBuffer::set);

    // Boot storms.
    if wanted("storm") {
        let labels = [routed.label, kernel.label, proxy.label];
        let mut t = Table::new(
            format!(
                "Boot storms: N phones at once, each fetching {} files in order; wall time (the last phone's end) in s, median [min-max] of {} alternating run(s); a phone's boot time, median over all phones; UDP receive-buffer drops in the server's and the firewall's namespaces",
                BOOT_FILES.len(),
                plan.storm_repetitions
            ),
            &[
                "path",
                "phones",
                "wall s",
                "files/s",
                "phone boot p50 ms",
                "failed phones",
                "retransmits",
                "rcvbuf drops server/firewall",
                "helper starts",
            ],
        );
        for &phones in &plan.storms {
            let mut phone_ms: Vec<Vec<f64>> = vec![Vec::new(); 3];
            let mut drops = [(0u64, 0u64); 3];
            let mut walls: Vec<Vec<f64>> = vec![Vec::new(); 3];
            let mut fails = [0usize; 3];
            let mut rexmt = [0u32; 3];
            let mut starts: Vec<Vec<f64>> = vec![Vec::new(); 3];
            for _ in 0..plan.storm_repetitions {
                for i in 0..3 {
                    let s = match i {
                        0 => &routed,
                        1 => &kernel,
                        _ => {
                            proxy.restart();
                            &proxy
                        }
                    };
                    let mark = s.log_mark();
                    let before = (s.udp_rcvbuf_errors("s"), s.udp_rcvbuf_errors("f"));
                    let run = storm::run(&s.client_ns(), s.server(), phones, &BOOT_FILES);
                    drops[i].0 += s.udp_rcvbuf_errors("s").saturating_sub(before.0);
                    drops[i].1 += s.udp_rcvbuf_errors("f").saturating_sub(before.1);
                    phone_ms[i].extend(run.phone_times.iter().map(|&d| ms(d)));
                    explain_failures(&format!("{} storm of {phones}", labels[i]), &run.reads);
                    walls[i].push(run.wall.as_secs_f64());
                    fails[i] += run.failed_phones;
                    rexmt[i] += retransmits(&run.reads);
                    if let Some(n) = s.starts_since(mark, run.reads.len() - failed(&run.reads)) {
                        starts[i].push(n as f64);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            let wall: Vec<Spread> = walls.iter().map(|w| Spread::of_repetitions(w)).collect();
            for (i, label) in labels.iter().enumerate() {
                t.row(vec![
                    (*label).to_owned(),
                    phones.to_string(),
                    wall[i].show(3),
                    format!("{:.0}", (phones * BOOT_FILES.len()) as f64 / wall[i].median),
                    format!("{:.1}", percentile(&phone_ms[i], 50.0)),
                    fails[i].to_string(),
                    rexmt[i].to_string(),
                    format!("{}/{}", drops[i].0, drops[i].1),
                    if starts[i].is_empty() {
                        "-".to_owned()
                    } else {
                        Spread::of_repetitions(&starts[i]).show(0)
                    },
                ]);
            }
            for (j, base) in [(1, "(b)"), (0, "(a)")] {
                t.row(vec![
                    format!("(c)/{base}"),
                    phones.to_string(),
                    ratio(wall[2].median, wall[j].median),
                    String::new(),
                    ratio(
                        percentile(&phone_ms[2], 50.0),
                        percentile(&phone_ms[j], 50.0),
                    ),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            if fails[2] > 0 && fails[0] == 0 && fails[1] == 0 {
                helper_failures += fails[2];
            } else if fails.iter().sum::<usize>() > 0 {
                eprintln!("bench: {phones} phones: failed phones on every path alike ({fails:?}): the machine, not the helper");
            }
            let largest = *plan.storms.iter().max().unwrap_or(&0);
            if phones == 200 || (phones == largest && !plan.storms.contains(&200)) {
                targets.push(Target {
                    what: format!("storm of {phones} phones: wall <= 1.1x kernel, zero failures"),
                    measured: format!(
                        "{} wall, {} failed phones",
                        ratio(wall[2].median, wall[1].median),
                        fails[2]
                    ),
                    met: Some(wall[2].median <= 1.1 * wall[1].median && fails[2] == 0),
                });
            }
        }
        emit(&t, &mut md);
    }

    // The first burst from dnsmasq, cold helper.
    if wanted("burst") {
        let rmem = shipped_rmem.as_ref().map_or(0, |r| r.bytes);
        let mut kinds: Vec<(&str, &[&str])> = vec![("first request", &BOOT_FILES[..1])];
        if plan.burst_boot {
            kinds.push(("7-file boot", &BOOT_FILES[..]));
        }
        let phones = plan.burst_phones;
        // The servers' sockets too get the shipped default: a fresh lab,
        // so the kernel helper's row does not measure dnsmasq's socket.
        if plan.burst_fresh_servers {
            kernel.restart();
        }
        let mut t = Table::new(
            format!(
                "Cold storms from dnsmasq (one event loop, new port per transfer): {phones} phones at once, every first request sent in one burst into a freshly started inetd's socket (net.core.rmem_default = {rmem}, as etc/sysctl.d/60-tftp-proxy.conf sets it, for every socket of the labs, the servers' too; the helper not running); median [min-max] of {} run(s); drops summed",
                plan.storm_repetitions
            ),
            &[
                "path",
                "storm",
                "wall s",
                "phone p50 ms",
                "failed phones",
                "retransmits",
                "rcvbuf drops firewall/server",
                "helper starts",
            ],
        );
        for (kind, files) in kinds {
            let mut walls: Vec<Vec<f64>> = vec![Vec::new(); 2];
            let mut phone_ms: Vec<Vec<f64>> = vec![Vec::new(); 2];
            let mut fails = [0usize; 2];
            let mut rexmt = [0u32; 2];
            let mut drops = [(0u64, 0u64); 2];
            let mut starts: Vec<Vec<f64>> = vec![Vec::new(); 2];
            for _ in 0..plan.storm_repetitions {
                for i in 0..2 {
                    let s = if i == 0 {
                        &kernel
                    } else {
                        proxy.restart();
                        &proxy
                    };
                    let mark = s.log_mark();
                    let before = (s.udp_rcvbuf_errors("f"), s.udp_rcvbuf_errors("s"));
                    let run = storm::run(&s.client_ns(), s.dnsmasq(), phones, files);
                    drops[i].0 += s.udp_rcvbuf_errors("f").saturating_sub(before.0);
                    drops[i].1 += s.udp_rcvbuf_errors("s").saturating_sub(before.1);
                    explain_failures(&format!("{} cold {kind} storm", s.label), &run.reads);
                    walls[i].push(run.wall.as_secs_f64());
                    phone_ms[i].extend(run.phone_times.iter().map(|&d| ms(d)));
                    fails[i] += run.failed_phones;
                    rexmt[i] += run.retransmits();
                    if let Some(n) = s.starts_since(mark, run.reads.len() - failed(&run.reads)) {
                        starts[i].push(n as f64);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            let wall: Vec<Spread> = walls.iter().map(|w| Spread::of_repetitions(w)).collect();
            for (i, label) in [kernel.label, proxy.label].iter().enumerate() {
                t.row(vec![
                    (*label).to_owned(),
                    kind.to_owned(),
                    wall[i].show(3),
                    format!("{:.1}", percentile(&phone_ms[i], 50.0)),
                    fails[i].to_string(),
                    rexmt[i].to_string(),
                    format!("{}/{}", drops[i].0, drops[i].1),
                    if starts[i].is_empty() {
                        "-".to_owned()
                    } else {
                        Spread::of_repetitions(&starts[i]).show(0)
                    },
                ]);
            }
            t.row(vec![
                "(c)/(b)".into(),
                kind.to_owned(),
                ratio(wall[1].median, wall[0].median),
                ratio(
                    percentile(&phone_ms[1], 50.0),
                    percentile(&phone_ms[0], 50.0),
                ),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            if fails[1] > fails[0] {
                helper_failures += fails[1] - fails[0];
            }
            targets.push(Target {
                what: format!(
                    "cold {kind} storm of {phones} phones: zero drops at the firewall, no phone lost that the kernel helper serves, wall <= 1.1x kernel"
                ),
                measured: format!(
                    "{} drops, {} vs {} failed phones, {} wall",
                    drops[1].0,
                    fails[1],
                    fails[0],
                    ratio(wall[1].median, wall[0].median)
                ),
                met: Some(
                    drops[1].0 == 0
                        && fails[1] <= fails[0]
                        && wall[1].median <= 1.1 * wall[0].median,
                ),
            });
        }
        emit(&t, &mut md);
    }
    drop(shipped_rmem);

    // Capacity: the highest rate held with no failure and no drop.
    if wanted("capacity") {
        let (low, first, max, refine, hold) = plan.capacity;
        // The helper's own lab: maps sized for the rates tried, and with
        // BENCH_PIN_HELPER=CPU the helper held to that CPU (taskset in
        // the inetd line).
        let pin = std::env::var("BENCH_PIN_HELPER").ok();
        let mut options = LabOptions::default();
        if let Some(cpu) = &pin {
            options.helper_wrapper = vec![
                lab::tool("taskset", "util-linux")
                    .to_string_lossy()
                    .into_owned(),
                "taskset".into(),
                "-c".into(),
                cpu.clone(),
            ];
        }
        load::raise_open_files();
        // The shipped maps hold a quick run's rates: it keeps its lab.
        let own_lab = pin.is_some() || u64::from(max) * 3 > 8192;
        let mut capacity_proxy = own_lab.then(|| Subject::start(proxy.label, options));
        let maps = if own_lab { capacity::MAP_SIZE } else { 8192 };
        // BENCH_UDP_TIMEOUT=N: both firewalls keep a UDP flow N s instead
        // of 30 (the kernel helper's path masquerades every request
        // toward the server's port 69 from the firewall's one address:
        // about 64,500 source ports for the flows of the last 30 s).
        let udp_timeout: Option<u32> = std::env::var("BENCH_UDP_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok());
        let prepare_kernel = |s: &Subject| {
            if let Some(secs) = udp_timeout {
                s.set_udp_timeout(secs);
            }
        };
        let prepare_proxy = |s: &Subject| {
            if own_lab {
                s.resize_maps(capacity::MAP_SIZE);
            }
            prepare_kernel(s);
        };
        prepare_kernel(&kernel);
        // The kernel helper's path has no helper CPU to show at the low
        // rate: its search starts at the first doubled rate.
        let (kernel_steps, kernel_best) = capacity::search(
            &mut kernel,
            &prepare_kernel,
            first,
            first,
            max,
            refine,
            hold,
        );
        if udp_timeout.is_some() {
            kernel.set_udp_timeout(30);
        }
        let proxy_subject = capacity_proxy.as_mut().unwrap_or(&mut proxy);
        prepare_proxy(proxy_subject);
        let (proxy_steps, proxy_best) =
            capacity::search(proxy_subject, &prepare_proxy, low, first, max, refine, hold);
        drop(capacity_proxy);
        let show = |best: Option<u32>| best.map_or("none".to_owned(), |r| r.to_string());
        let mut t = Table::new(
            format!(
                "Capacity: one-block reads from dnsmasq started on a fixed schedule by {} client threads (non-blocking, one socket per read), each rate held {} s; a rate holds with zero failed reads, zero receive-buffer drops at the firewall and the clients on schedule; {low}/s, then doubling from {first}/s, then {refine} bisection(s); the firewall's connection tracking emptied between steps, UDP flows kept {} s; (c) with maps of {} elements{}. Highest rate held: kernel helper {}/s, tftp-proxy {}/s ({}). CPU (user+sys) per read: the helper's (its processes and those inetd reaped), dnsmasq's and the clients'; machine busy: all CPUs, other work included",
                load::THREADS,
                hold.as_secs(),
                udp_timeout.unwrap_or(30),
                maps,
                pin.as_deref().map_or(String::new(), |cpu| format!(", the helper pinned to CPU {cpu}")),
                show(kernel_best),
                show(proxy_best),
                match (proxy_best, kernel_best) {
                    (Some(p), Some(k)) => format!("(c)/(b) {}", ratio(p as f64, k as f64)),
                    _ => "-".to_owned(),
                }
            ),
            &[
                "path",
                "reads/s",
                "reads",
                "failed",
                "retransmits",
                "rcvbuf drops firewall/server",
                "max start lag ms",
                "held",
                "helper CPU us/read",
                "helper % of a core",
                "dnsmasq us/read",
                "clients us/read",
                "machine busy %",
            ],
        );
        let mut csv = String::from(
            "path,rate,reads,failed,held,helper_cpu_us_per_read,server_cpu_us_per_read,client_cpu_us_per_read,machine_busy\n",
        );
        for (kind, label, steps) in [
            ("kernel", kernel.label, &kernel_steps),
            ("helper", proxy.label, &proxy_steps),
        ] {
            for s in steps.iter() {
                let helper = kind == "helper";
                let held = !s.client_bound() && s.held();
                t.row(vec![
                    label.to_owned(),
                    s.rate.to_string(),
                    s.reads.to_string(),
                    s.failed.to_string(),
                    s.retransmits.to_string(),
                    format!("{}/{}", s.firewall_drops, s.server_drops),
                    format!("{:.1}", ms(s.late)),
                    if !s.held() {
                        "no".to_owned()
                    } else if s.client_bound() {
                        "clients late".to_owned()
                    } else {
                        "yes".to_owned()
                    },
                    if helper {
                        format!("{:.1}", s.cpu_us_per_read())
                    } else {
                        "-".to_owned()
                    },
                    if helper {
                        format!("{:.0}", s.core_share(hold) * 100.0)
                    } else {
                        "-".to_owned()
                    },
                    format!("{:.1}", capacity::per_read(s.server_cpu, s.reads)),
                    format!("{:.1}", capacity::per_read(s.client_cpu, s.reads)),
                    format!("{:.0}", s.machine_busy * 100.0),
                ]);
                let _ = writeln!(
                    csv,
                    "{kind},{},{},{},{held},{:.2},{:.2},{:.2},{:.3}",
                    s.rate,
                    s.reads,
                    s.failed,
                    if helper { s.cpu_us_per_read() } else { 0.0 },
                    capacity::per_read(s.server_cpu, s.reads),
                    capacity::per_read(s.client_cpu, s.reads),
                    s.machine_busy
                );
            }
        }
        emit(&t, &mut md);
        // The helper's CPU at the highest rate it held: how much of its
        // one core (it is one thread) that rate took.
        if let Some(s) = proxy_steps.iter().find(|s| Some(s.rate) == proxy_best) {
            let line = format!(
                "At {}/s, the highest rate it held, the helper used {:.1} us of CPU per read, {:.0}% of one core.",
                s.rate,
                s.cpu_us_per_read(),
                s.core_share(hold) * 100.0
            );
            println!("{line}\n");
            let _ = writeln!(md, "{line}\n");
        }
        std::fs::write(out.join("capacity.csv"), csv).expect("bench: writing capacity.csv");
        targets.push(Target {
            what: format!(
                "capacity: the highest rate held {} s (aim 10000/s), beside the kernel helper's",
                hold.as_secs()
            ),
            measured: format!("{}/s vs {}/s", show(proxy_best), show(kernel_best)),
            met: Some(proxy_best.unwrap_or(0) >= 10_000),
        });
    }

    // One large GET.
    if wanted("get") {
        proxy.restart();
        let subjects = [&routed, &kernel, &proxy];
        for s in subjects {
            throughput::prepare(s, plan.get_mib << 20);
        }
        let mut walls: Vec<Vec<f64>> = vec![Vec::new(); 3];
        for _ in 0..plan.get_repetitions {
            for (i, s) in subjects.iter().enumerate() {
                match throughput::get(s) {
                    Ok(w) => walls[i].push(w.as_secs_f64()),
                    Err(e) => {
                        eprintln!("bench: {}: {e}", s.label);
                        if s.helper {
                            helper_failures += 1;
                        }
                    }
                }
            }
        }
        let mut t = Table::new(
            format!(
                "One {} MiB GET from atftpd (atftp, blksize 1428, windowsize 16): median [min-max] of {} run(s)",
                plan.get_mib, plan.get_repetitions
            ),
            &["path", "wall s", "MiB/s"],
        );
        let wall: Vec<Spread> = walls.iter().map(|w| Spread::of_repetitions(w)).collect();
        for (i, s) in subjects.iter().enumerate() {
            t.row(vec![
                s.label.to_owned(),
                wall[i].show(3),
                format!("{:.1}", plan.get_mib as f64 / wall[i].median),
            ]);
        }
        for (j, base) in [(1, "(b)"), (0, "(a)")] {
            t.row(vec![
                format!("(c)/{base}"),
                ratio(wall[2].median, wall[j].median),
                String::new(),
            ]);
        }
        emit(&t, &mut md);
    }
    drop((routed, kernel, proxy, cold));

    // The helper's own cost.
    if wanted("cost") {
        let c = cost::measure(
            &programs,
            &out,
            &cold_args,
            plan.cost_runs,
            plan.strace_runs,
            std::env::var("BENCH_STATIC_BIN").ok().as_deref(),
        );
        let wall = |runs: &[cost::Run]| -> Vec<f64> { runs.iter().map(|r| ms(r.wall)).collect() };
        let rss = |runs: &[cost::Run]| runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
        let calls = |v: &[u64]| -> Vec<f64> { v.iter().map(|&n| n as f64).collect() };
        let cpu = |runs: &[cost::Run]| -> Vec<f64> { runs.iter().map(|r| ms(r.cpu)).collect() };
        let (hw, fw) = (wall(&c.helper), wall(&c.floor));
        let (hc, fc) = (cpu(&c.helper), cpu(&c.floor));
        let idle_note = if idle {
            "; the helper's wall time includes its 1 s wait (--idle 1 -w 1), so its CPU time is the cost"
        } else {
            ""
        };
        let mut t = Table::new(
            format!(
                "Cost per process, started by the same inetd through a wrapper (fork, exec, wait4): {} runs each, one datagram per run{idle_note}",
                plan.cost_runs
            ),
            &[
                "program",
                "runs",
                "exec to exit, CPU ms (user+sys) p50 [p10-p90]",
                "exec to exit, wall ms p50 [p10-p90]",
                "peak RSS KiB (max)",
                "syscalls per run (strace -f -c)",
            ],
        );
        t.row(vec![
            "tftp-proxy (one request)".into(),
            c.helper.len().to_string(),
            Spread::of_samples(&hc).show(3),
            Spread::of_samples(&hw).show(3),
            rss(&c.helper).to_string(),
            Spread::of_repetitions(&calls(&c.helper_syscalls)).show(0),
        ]);
        if !c.helper_static.is_empty() {
            t.row(vec![
                "tftp-proxy, static-pie build".into(),
                c.helper_static.len().to_string(),
                Spread::of_samples(&cpu(&c.helper_static)).show(3),
                Spread::of_samples(&wall(&c.helper_static)).show(3),
                rss(&c.helper_static).to_string(),
                "-".into(),
            ]);
        }
        t.row(vec![
            "trivial C program (floor.c)".into(),
            c.floor.len().to_string(),
            Spread::of_samples(&fc).show(3),
            Spread::of_samples(&fw).show(3),
            rss(&c.floor).to_string(),
            Spread::of_repetitions(&calls(&c.floor_syscalls)).show(0),
        ]);
        let (hp50, fp50) = (percentile(&hc, 50.0), percentile(&fc, 50.0));
        t.row(vec![
            "tftp-proxy / floor".into(),
            String::new(),
            ratio(hp50, fp50),
            if idle {
                "-".to_owned()
            } else {
                ratio(percentile(&hw, 50.0), percentile(&fw, 50.0))
            },
            ratio(rss(&c.helper) as f64, rss(&c.floor) as f64),
            ratio(
                stats::median(&calls(&c.helper_syscalls)),
                stats::median(&calls(&c.floor_syscalls)),
            ),
        ]);
        if !c.helper_static.is_empty() {
            t.row(vec![
                "static-pie / floor".into(),
                String::new(),
                ratio(percentile(&cpu(&c.helper_static), 50.0), fp50),
                "-".into(),
                ratio(rss(&c.helper_static) as f64, rss(&c.floor) as f64),
                "-".into(),
            ]);
        }
        emit(&t, &mut md);
        if !c.helper_strace.is_empty() {
            std::fs::write(out.join("strace-helper.txt"), &c.helper_strace)
                .expect("bench: writing strace-helper.txt");
        }
        {
            targets.push(Target {
                what: "cold exec-to-exit (CPU) <= 1.5x trivial C program".into(),
                measured: format!("{:.3} ms vs {:.3} ms: {}", hp50, fp50, ratio(hp50, fp50)),
                met: Some(hp50 <= 1.5 * fp50),
            });
            targets.push(Target {
                what: "peak RSS < 4 MiB".into(),
                measured: format!("{} KiB", rss(&c.helper)),
                met: Some(!c.helper.is_empty() && rss(&c.helper) < 4096),
            });
        }
    }

    emit(&report::targets(&targets), &mut md);
    println!(
        "\nload average at end: {}; {} mode took {:.0} s; tables in {}",
        report::load(),
        plan.name,
        started.elapsed().as_secs_f64(),
        out.join("results.md").display()
    );
    let _ = writeln!(md, "\nLoad average at end: {}.", report::load());
    std::fs::write(out.join("results.md"), md).expect("bench: writing results.md");
    if helper_failures > 0 {
        eprintln!(
            "benchmark FAILED: {helper_failures} phone(s) or GET(s) failed through tftp-proxy only"
        );
        std::process::exit(1);
    }
}
