//! The three paths a phone's read can take, each a lab of its own, all up
//! at once so the measures can alternate between them:
//! (a) routed, no NAT; (b) NAT with the kernel's conntrack TFTP helper;
//! (c) NAT with tftp-proxy under openbsd-inetd with the shipped lines.

use crate::lab::{Lab, LabOptions, BOOT_FILES, DNSMASQ_SERVER, MAX_PHONES, SERVER};
use crate::setup;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

/// One path with its running lab.
pub struct Subject {
    /// The row label, e.g. "(b) kernel helper".
    pub label: &'static str,
    /// Whether tftp-proxy carries this path (so helper starts count).
    pub helper: bool,
    /// The lab.
    pub lab: Lab,
    options: LabOptions,
}

impl Subject {
    /// Starts a lab for this path, serving the latency file and a
    /// phone's boot files.
    pub fn start(label: &'static str, options: LabOptions) -> Subject {
        let options = LabOptions {
            atftpd: true,
            dnsmasq: true,
            phones: MAX_PHONES,
            ..options
        };
        let subject = Subject {
            label,
            helper: !options.routed && !options.kernel_helper,
            lab: Lab::start(options.clone()),
            options,
        };
        subject.serve_file(setup::FILE, 300, 7);
        for (i, name) in BOOT_FILES.iter().enumerate() {
            subject.serve_file(name, 1_000 + 900 * i, i as u64);
        }
        subject
    }

    /// Loads the firewall's ruleset again with the shipped include's maps
    /// and sets `size` elements large (the shipped 8192 hold about 2,700
    /// new paths a second: each lives the wait, 2 s, plus 1 s for its
    /// outcome). Call it before the helper starts: it reads the size once.
    pub fn resize_maps(&self, size: u32) {
        let repo = crate::lab::repo();
        let shipped = std::fs::read_to_string(repo.join("etc/tftp-proxy.nft"))
            .expect("bench: reading etc/tftp-proxy.nft");
        let resized = shipped.replace("size 8192", &format!("size {size}"));
        assert_ne!(
            resized, shipped,
            "bench: etc/tftp-proxy.nft has no 'size 8192'"
        );
        let include = self.lab.dir.join("tftp-proxy-resized.nft");
        std::fs::write(&include, resized).expect("bench: writing the resized include");
        let ruleset = format!(
            "flush ruleset\ndefine int_if = \"lan0\"\ndefine ext_if = \"wan0\"\ninclude \"{}\"\ninclude \"{}\"\n",
            include.display(),
            repo.join("tests/lab/firewall.nft").display()
        );
        let path = self.lab.dir.join("ruleset-resized.nft");
        std::fs::write(&path, ruleset).expect("bench: writing the resized ruleset");
        crate::lab::run(
            &mut self
                .lab
                .command("f", &["nft", "-f", &path.to_string_lossy()]),
        );
    }

    /// Tears the lab down and starts it again: a fresh inetd, whose limit
    /// of starts a minute a previous measure may have used up.
    pub fn restart(&mut self) {
        let fresh = Subject::start(self.label, self.options.clone());
        *self = fresh;
    }

    /// The phone's namespace, where the clients run.
    pub fn client_ns(&self) -> String {
        self.lab.ns("c")
    }

    /// Where tftpd-hpa answers.
    pub fn server(&self) -> SocketAddr {
        SocketAddr::new(SERVER.parse().expect("lab address"), 69)
    }

    /// A mark in the helper's log, to count what comes after it.
    pub fn log_mark(&self) -> usize {
        self.lab.helper_log().len()
    }

    /// How many helper processes logged since `mark`, after waiting (up to
    /// 3 s) until `requests` request lines have arrived. None for a path
    /// without the helper.
    pub fn starts_since(&self, mark: usize, requests: usize) -> Option<usize> {
        if !self.helper {
            return None;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let lines = self.lab.helper_log();
            let new = lines.get(mark..).unwrap_or_default();
            let logged = new.iter().filter(|l| l.contains(" RRQ \"")).count();
            if logged >= requests || std::time::Instant::now() > deadline {
                let pids: BTreeSet<&str> = new
                    .iter()
                    .filter_map(|l| {
                        l.split_once("tftp-proxy[")
                            .and_then(|(_, r)| r.split_once(']'))
                            .map(|(p, _)| p)
                    })
                    .collect();
                return Some(pids.len());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// UDP datagrams dropped for a full receive buffer so far in a host's
    /// namespace ("s" server, "f" firewall): `RcvbufErrors` of
    /// /proc/net/snmp.
    pub fn udp_rcvbuf_errors(&self, host: &str) -> u64 {
        let out = self
            .lab
            .command(host, &["cat", "/proc/net/snmp"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let udp: Vec<&str> = out.lines().filter(|l| l.starts_with("Udp:")).collect();
        let [names, values, ..] = udp.as_slice() else {
            return 0;
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "RcvbufErrors")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    }

    /// Where dnsmasq answers (from a new port, one event loop: a server
    /// that keeps up with storms and high rates).
    pub fn dnsmasq(&self) -> SocketAddr {
        SocketAddr::new(DNSMASQ_SERVER.parse().expect("lab address"), 69)
    }

    /// Writes a file for tftpd-hpa and dnsmasq to serve.
    pub fn serve_file(&self, name: &str, len: usize, seed: u64) {
        Lab::make_file(&self.lab.server_root().join(name), len, seed);
        Lab::make_file(&self.lab.dnsmasq_root().join(name), len, seed);
    }

    /// CPU time the helper processes of this path have used so far: those
    /// inetd has reaped (its children's time) and those still running.
    /// Zero for a path without the helper.
    pub fn helper_cpu(&self) -> Duration {
        if !self.helper {
            return Duration::ZERO;
        }
        self.cpu_of("f", |comm, own, reaped| match comm {
            "tftp-proxy" => own,
            "inetd" => reaped,
            _ => 0.0,
        })
    }

    /// CPU time the servers' dnsmasq processes have used so far.
    pub fn server_cpu(&self) -> Duration {
        self.cpu_of(
            "s",
            |comm, own, _| if comm == "dnsmasq" { own } else { 0.0 },
        )
    }

    /// Connections tracked in the firewall's namespace now.
    pub fn conntrack_count(&self) -> u64 {
        self.lab
            .command("f", &["cat", "/proc/sys/net/netfilter/nf_conntrack_count"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(0)
    }

    /// The firewall's conntrack statistics summed over its CPUs
    /// (`conntrack -S`: drop, early_drop, insert_failed, invalid, ...).
    pub fn conntrack_stats(&self) -> std::collections::BTreeMap<String, u64> {
        let out = self
            .lab
            .command("f", &["conntrack", "-S"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut sums = std::collections::BTreeMap::new();
        for field in out.split_whitespace() {
            if let Some((name, value)) = field.split_once('=') {
                if let (false, Ok(v)) = (name == "cpu", value.parse::<u64>()) {
                    *sums.entry(name.to_owned()).or_insert(0) += v;
                }
            }
        }
        sums
    }

    /// Expectations the kernel's TFTP helper has waiting in the firewall's
    /// namespace (one per request whose answer has not come yet).
    pub fn expectations(&self) -> usize {
        self.lab
            .command("f", &["cat", "/proc/net/nf_conntrack_expect"])
            .output()
            .map(|o| o.stdout.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0)
    }

    /// Sets how long the firewall's conntrack keeps a UDP flow that saw
    /// no answer, or only a short one (`nf_conntrack_udp_timeout`, per
    /// network namespace; 30 s by default), in seconds.
    pub fn set_udp_timeout(&self, secs: u32) {
        crate::lab::run(&mut self.lab.command(
            "f",
            &[
                "sysctl",
                "-qw",
                &format!("net.netfilter.nf_conntrack_udp_timeout={secs}"),
            ],
        ));
    }

    /// Empties the firewall's connection tracking (entries and
    /// expectations), so what one step left does not weigh on the next.
    pub fn flush_conntrack(&self) {
        for args in [&["conntrack", "-F"][..], &["conntrack", "-F", "expect"][..]] {
            let _ = self
                .lab
                .command("f", args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }

    /// CPU time of the processes in a host's namespace, in clock ticks
    /// chosen by `pick(comm, own ticks, reaped children's ticks)`.
    fn cpu_of(&self, host: &str, pick: impl Fn(&str, f64, f64) -> f64) -> Duration {
        let pids = std::process::Command::new("ip")
            .args(["netns", "pids", &self.lab.ns(host)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as f64;
        let mut total = 0.0;
        for pid in pids.split_whitespace() {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After "(comm)": state is field 3; utime 14, stime 15,
            // cutime 16, cstime 17 (proc(5)).
            let Some((head, rest)) = stat.rsplit_once(") ") else {
                continue;
            };
            let comm = head.split_once(" (").map_or("", |(_, c)| c);
            let fields: Vec<u64> = rest
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            let at = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
            // A running process's own time from its scheduler statistics
            // (nanoseconds on the CPU, proc(5)): ticks are too coarse for
            // a few hundred reads.
            let own = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                .map_or((at(14) + at(15)) as f64, |ns| ns * ticks / 1e9);
            total += pick(comm, own, (at(16) + at(17)) as f64);
        }
        Duration::from_secs_f64(total / ticks)
    }
}
