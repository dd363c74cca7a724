//! Capacity: the highest rate of one-block reads a path sustains for a
//! whole step with no failed read and no UDP receive-buffer drop at the
//! firewall, found by doubling the rate and then halving the gap between
//! the last rate that held and the first that did not; and the helper's
//! CPU time per request at each rate on the way. The reads go to dnsmasq
//! (one event loop, answering from a new port) so the server is not what
//! gives out first; the kernel helper's path, measured the same way in the
//! same run, shows where the machine and the clients give out.

use crate::lab::client::Read;
use crate::load;
use crate::paths::Subject;
use crate::setup;
use std::time::Duration;

/// The size of the return-path maps in the helper's capacity lab: room
/// for 16,000 new paths a second (each lives the 2 s wait plus 1 s for
/// its outcome), where the shipped 8192 hold about 2,700 a second.
pub const MAP_SIZE: u32 = 65_536;

/// One rate held for one step.
pub struct Step {
    /// Reads started a second.
    pub rate: u32,
    /// Reads started.
    pub reads: usize,
    /// Reads that failed.
    pub failed: usize,
    /// RRQs and ACKs sent again.
    pub retransmits: u32,
    /// Receive-buffer drops in the firewall's namespace during the step.
    pub firewall_drops: u64,
    /// Receive-buffer drops in the server's namespace during the step.
    pub server_drops: u64,
    /// The latest a read started after its time: the clients' own limit.
    pub late: Duration,
    /// The helper's CPU time during the step (zero without the helper).
    pub helper_cpu: Duration,
    /// The server's (dnsmasq's) CPU time during the step.
    pub server_cpu: Duration,
    /// The load's own CPU time (the clients' threads).
    pub client_cpu: Duration,
    /// Connections tracked in the firewall's namespace at the step's end.
    pub conntrack: u64,
    /// The kernel helper's expectations waiting at the step's end.
    pub expectations: usize,
    /// What conntrack refused during the step (from `conntrack -S`).
    pub conntrack_drops: String,
    /// The whole machine's busy share of all its CPUs during the step
    /// (other work included), 0 to 1.
    pub machine_busy: f64,
}

impl Step {
    /// Every read done and nothing dropped at the firewall.
    pub fn held(&self) -> bool {
        self.failed == 0 && self.firewall_drops == 0
    }

    /// The clients could not keep the schedule (more than a second late):
    /// the rate was not really offered.
    pub fn client_bound(&self) -> bool {
        self.late > Duration::from_secs(1)
    }

    /// The share of one core the helper used while the step ran (its
    /// reads started over `hold`).
    pub fn core_share(&self, hold: Duration) -> f64 {
        self.helper_cpu.as_secs_f64() / hold.as_secs_f64().max(1e-9)
    }

    /// The helper's CPU time per read, in microseconds.
    pub fn cpu_us_per_read(&self) -> f64 {
        per_read(self.helper_cpu, self.reads)
    }
}

/// CPU time per read, in microseconds.
pub fn per_read(cpu: Duration, reads: usize) -> f64 {
    if reads == 0 {
        return 0.0;
    }
    cpu.as_secs_f64() * 1e6 / reads as f64
}

/// `rate` reads a second for `duration` from dnsmasq.
pub fn step(subject: &Subject, rate: u32, duration: Duration) -> Step {
    let drops = (
        subject.udp_rcvbuf_errors("f"),
        subject.udp_rcvbuf_errors("s"),
    );
    let stats = subject.conntrack_stats();
    let cpu = (subject.helper_cpu(), subject.server_cpu());
    let machine = machine_ticks();
    let run = load::run(
        &subject.client_ns(),
        subject.dnsmasq(),
        setup::FILE,
        rate,
        duration,
    );
    // Reaped helpers' time is counted once inetd has waited for them; a
    // running helper's is read as it stands.
    let helper_cpu = subject.helper_cpu().saturating_sub(cpu.0);
    let server_cpu = subject.server_cpu().saturating_sub(cpu.1);
    let conntrack = subject.conntrack_count();
    let expectations = subject.expectations();
    let after = subject.conntrack_stats();
    let conntrack_drops: Vec<String> = after
        .iter()
        .filter(|(k, _)| {
            ["drop", "early_drop", "insert_failed", "invalid", "error"].contains(&k.as_str())
        })
        .map(|(k, v)| {
            format!(
                "{k} {}",
                v.saturating_sub(stats.get(k).copied().unwrap_or(0))
            )
        })
        .collect();
    let machine = machine_ticks().since(machine);
    let failed = run.reads.iter().filter(|r: &&Read| !r.ok()).count();
    crate::explain_failures(
        &format!("capacity {} at {rate}/s", subject.label),
        &run.reads,
    );
    Step {
        rate,
        reads: run.reads.len(),
        failed,
        retransmits: run.reads.iter().map(|r| r.retransmits).sum(),
        firewall_drops: subject.udp_rcvbuf_errors("f").saturating_sub(drops.0),
        server_drops: subject.udp_rcvbuf_errors("s").saturating_sub(drops.1),
        late: run.late,
        helper_cpu,
        server_cpu,
        client_cpu: run.cpu,
        conntrack,
        expectations,
        conntrack_drops: conntrack_drops.join(", "),
        machine_busy: machine,
    }
}

/// The search on one path: `low` first (the CPU baseline), then doubling
/// from `first` up to `max`, then `refine` bisections. After a rate that
/// did not hold, the path's lab is started again (`prepare` then sets it
/// up as before): a helper or a server still working through a failed
/// step's backlog would fail the next, lower rate too. Returns every step
/// and the highest rate that held (None: not even `low`).
pub fn search(
    subject: &mut Subject,
    prepare: &dyn Fn(&Subject),
    low: u32,
    first: u32,
    max: u32,
    refine: usize,
    duration: Duration,
) -> (Vec<Step>, Option<u32>) {
    let mut steps = Vec::new();
    let mut best: Option<u32> = None;
    let mut failed_at: Option<u32> = None;
    if try_rate(subject, prepare, low, duration, &mut steps) {
        best = Some(low);
        let mut rate = if first > low { first } else { low * 2 };
        while rate <= max {
            if try_rate(subject, prepare, rate, duration, &mut steps) {
                best = Some(rate);
                rate = rate.saturating_mul(2);
            } else {
                failed_at = Some(rate);
                break;
            }
        }
    } else {
        failed_at = Some(low);
    }
    if let (Some(mut good), Some(mut bad)) = (best, failed_at) {
        for _ in 0..refine {
            let mid = good + (bad - good) / 2;
            if mid <= good || mid >= bad {
                break;
            }
            if try_rate(subject, prepare, mid, duration, &mut steps) {
                good = mid;
            } else {
                bad = mid;
            }
        }
        best = Some(good);
    }
    steps.sort_by_key(|s| s.rate);
    (steps, best)
}

/// One step of the search, printed as it ends; whether it held.
fn try_rate(
    subject: &mut Subject,
    prepare: &dyn Fn(&Subject),
    rate: u32,
    duration: Duration,
    steps: &mut Vec<Step>,
) -> bool {
    let s = step(subject, rate, duration);
    let held = s.held() && !s.client_bound();
    eprintln!(
        "bench: capacity {}: {rate}/s: {} reads, {} failed, {} retransmits, firewall drops {}, server drops {}, late {} ms, CPU us/read helper {:.1} server {:.1} clients {:.1}, conntrack {} ({}), expectations {}, machine busy {:.0}%",
        subject.label,
        s.reads,
        s.failed,
        s.retransmits,
        s.firewall_drops,
        s.server_drops,
        s.late.as_millis(),
        s.cpu_us_per_read(),
        per_read(s.server_cpu, s.reads),
        per_read(s.client_cpu, s.reads),
        s.conntrack,
        s.conntrack_drops,
        s.expectations,
        s.machine_busy * 100.0,
    );
    steps.push(s);
    if held {
        // Let the queues drain and the helper's return paths expire (3 s;
        // a quick run's short steps leave less), and start the next step
        // with the firewall's connection tracking empty (what one step's
        // flows hold weighs on the next).
        std::thread::sleep(duration.min(Duration::from_secs(3)));
        subject.flush_conntrack();
    } else {
        subject.restart();
        prepare(subject);
    }
    held
}

/// The machine's CPU ticks from /proc/stat: busy and total.
#[derive(Clone, Copy)]
struct Ticks {
    busy: u64,
    total: u64,
}

impl Ticks {
    /// The busy share since `earlier`.
    fn since(self, earlier: Ticks) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        self.busy.saturating_sub(earlier.busy) as f64 / total as f64
    }
}

/// The "cpu" line of /proc/stat (user nice system idle iowait irq
/// softirq steal ...; proc(5)): idle and iowait are not busy.
fn machine_ticks() -> Ticks {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ticks {
        busy: total - idle,
        total,
    }
}
