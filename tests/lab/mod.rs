//! A throwaway NAT lab in network namespaces, built by each test itself.
//!
//! Three namespaces joined by veth pairs:
//!
//! ```text
//!  client (phone)          firewall                       server
//!  192.0.2.20/24  ---- lan0 192.0.2.1/24                  
//!  2001:db8:1::20/64       2001:db8:1::1/64
//!                          wan0 198.51.100.1/24 ---- 198.51.100.2/24 (tftpd-hpa)
//!                          2001:db8:2::1/64          198.51.100.3/24 (atftpd)
//!                                                    2001:db8:2::2/64 (tftpd-hpa)
//! ```
//!
//! The firewall loads `etc/tftp-proxy.nft` exactly as shipped (with the
//! lab's interface names defined first) and runs Debian's openbsd-inetd
//! with the line from `etc/inetd.conf`, pointed at the built binary. The
//! helper logs to a syslog socket the lab reads. Everything is torn down
//! when the `Lab` is dropped, on failure too.

#![allow(dead_code)]

pub mod client;
pub mod netns;
pub mod storm;
pub mod sysctl;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The server tftpd-hpa answers on (IPv4).
pub const SERVER: &str = "198.51.100.2";
/// The server atftpd answers on (windowsize).
pub const ATFTPD_SERVER: &str = "198.51.100.3";
/// The server tftpd-hpa answers on (IPv6).
pub const SERVER6: &str = "2001:db8:2::2";
/// The firewall's outside address.
pub const FIREWALL_EXT: &str = "198.51.100.1";
/// The client's address.
pub const CLIENT: &str = "192.0.2.20";
/// Two more hosts on the client's network (the same namespace).
pub const OTHER_CLIENTS: [&str; 2] = ["192.0.2.21", "192.0.2.22"];

/// The server dnsmasq answers on from a new port (IPv4).
pub const DNSMASQ_SERVER: &str = "198.51.100.4";
/// The server dnsmasq answers on from a new port (IPv6).
pub const DNSMASQ_SERVER6: &str = "2001:db8:2::4";
/// The server dnsmasq `--tftp-single-port` answers on, from port 69 (IPv4).
pub const SINGLE_PORT_SERVER: &str = "198.51.100.5";
/// The server dnsmasq `--tftp-single-port` answers on, from port 69 (IPv6).
pub const SINGLE_PORT_SERVER6: &str = "2001:db8:2::5";

/// Where the unpacked atftpd lives (see scripts/install-deps).
pub const ATFTPD_DEFAULT: &str = "/usr/local/lib/tftp-proxy-lab/atftpd/usr/sbin/atftpd";

/// What a SIP phone fetches when it boots, in order.
pub const BOOT_FILES: [&str; 7] = [
    "CTLSEP0014F2000001.tlv",
    "SEP0014F2000001.cnf.xml",
    "SIP0014F2000001.cnf",
    "P0S3-07-4-00.loads",
    "SIPDefault.cnf",
    "RINGLIST.DAT",
    "dialplan.xml",
];

/// The management host on the firewall's third interface (`mgmt0`), with
/// [`LabOptions::management`]: a network the phones must not reach.
pub const MANAGEMENT_HOST: &str = "203.0.113.5";
/// The management host's IPv6 address.
pub const MANAGEMENT_HOST6: &str = "2001:db8:3::5";

/// How many extra phone addresses a lab can have.
pub const MAX_PHONES: usize = 200;

/// The address of extra phone `i` (0-based): 192.0.2.50 and up.
pub fn phone_address(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(192, 0, 2, 50 + (i % MAX_PHONES) as u8)
}

static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// How to start the lab.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// Extra flags for the helper (after the program name).
    pub helper_args: Vec<String>,
    /// Also start atftpd on 198.51.100.3.
    pub atftpd: bool,
    /// Also start dnsmasq twice, serving [`Lab::dnsmasq_root`]: answering
    /// from new ports on [`DNSMASQ_SERVER`] and [`DNSMASQ_SERVER6`], and
    /// from port 69 itself (`--tftp-single-port`) on [`SINGLE_PORT_SERVER`]
    /// and [`SINGLE_PORT_SERVER6`].
    pub dnsmasq: bool,
    /// Instead of tftp-proxy, let the kernel's conntrack TFTP helper carry
    /// transfers (the benchmark's reference): no inetd, no shipped include.
    pub kernel_helper: bool,
    /// Start the helper as the shipped systemd units would (one socket for
    /// both families, on standard input, started by the first datagram),
    /// with systemd-socket-activate instead of inetd.
    pub socket_activation: bool,
    /// Replace the shipped inetd lines' `wait.1000` with this (e.g. a
    /// plain `wait`, inetd's default limit of 256 starts a minute).
    pub inetd_wait: Option<String>,
    /// A plain router (the benchmark's floor): no NAT, no helper, no
    /// firewall rules, and the server routes back to the phones' network.
    pub routed: bool,
    /// A program the inetd lines start the helper through (path, its
    /// argv[0], its arguments; the helper's path and arguments follow),
    /// e.g. a wrapper that measures each run.
    pub helper_wrapper: Vec<String>,
    /// Further inetd.conf lines, after the shipped ones.
    pub extra_inetd_lines: Vec<String>,
    /// Another build of the helper for inetd to start (default: the one
    /// `TFTP_PROXY_BIN` or cargo names).
    pub helper_binary: Option<String>,
    /// More phone addresses on the client (see [`phone_address`]), up to
    /// [`MAX_PHONES`]: a site's phones each have their own address.
    pub phones: usize,
    /// A third network on the firewall (`mgmt0`, 203.0.113.0/24 and
    /// 2001:db8:3::/64) with a management host ("m", [`MANAGEMENT_HOST`])
    /// that routes back through the firewall.
    pub management: bool,
}

/// A running lab. Dropping it tears everything down.
pub struct Lab {
    /// Prefix of the namespaces' names.
    pub name: String,
    /// Scratch directory (configs, server roots, client files).
    pub dir: PathBuf,
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
    syslog_lines: Arc<Mutex<Vec<String>>>,
    syslog_stop: Arc<AtomicBool>,
    syslog_paused_until: Arc<Mutex<Option<Instant>>>,
    syslog_thread: Option<JoinHandle<()>>,
}

fn fail(message: impl AsRef<str>) -> ! {
    panic!("lab: {}", message.as_ref())
}

/// Runs a command, failing the test with its output if it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| fail(format!("cannot run {cmd:?}: {e}")));
    if !out.status.success() {
        fail(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    out
}

/// The helper binary: `TFTP_PROXY_BIN`, or the one cargo built for tests.
fn helper_binary() -> String {
    std::env::var("TFTP_PROXY_BIN")
        .ok()
        .or_else(|| option_env!("CARGO_BIN_EXE_tftp-proxy").map(str::to_owned))
        .unwrap_or_else(|| fail("set TFTP_PROXY_BIN to the built tftp-proxy"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require_root() {
    if !nix_is_root() {
        fail("the lab needs root (network namespaces, nftables): run the tests as root");
    }
}

fn nix_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The path of a program the lab needs, or a failure naming its package.
pub fn tool(program: &str, package: &str) -> PathBuf {
    which(program).unwrap_or_else(|| {
        fail(format!(
            "{program} not found: install {package} (scripts/install-deps does)"
        ))
    })
}

impl Lab {
    /// Builds the lab and starts the servers and inetd.
    pub fn start(options: LabOptions) -> Lab {
        require_root();
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_dead_labs);
        let serial = SERIAL.fetch_add(1, Ordering::SeqCst);
        let name = format!("tpx{}x{serial}", std::process::id());
        let dir = std::env::temp_dir().join(format!("tftp-proxy-lab-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| fail(format!("creating {}: {e}", dir.display())));
        let mut lab = Lab {
            namespaces: Vec::new(),
            children: Vec::new(),
            syslog_lines: Arc::new(Mutex::new(Vec::new())),
            syslog_stop: Arc::new(AtomicBool::new(false)),
            syslog_paused_until: Arc::new(Mutex::new(None)),
            syslog_thread: None,
            name,
            dir,
        };
        lab.build_network();
        if options.management {
            lab.add_management();
        }
        lab.add_phones(options.phones);
        lab.start_syslog();
        lab.start_servers(options.atftpd);
        if options.dnsmasq {
            lab.start_dnsmasq();
        }
        if options.routed {
            lab.route_back();
        } else {
            lab.load_firewall(options.kernel_helper);
        }
        if options.socket_activation {
            lab.start_socket_activated(&options.helper_args);
        } else if !options.kernel_helper && !options.routed {
            lab.start_inetd(&options);
        }
        lab
    }

    /// The namespace of a host: "c" client, "f" firewall, "s" server.
    pub fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.name)
    }

    fn ip(&self, args: &[&str]) {
        run(Command::new(tool("ip", "iproute2")).args(args));
    }

    fn in_ns(&self, host: &str, args: &[&str]) -> Output {
        run(&mut self.command(host, args))
    }

    /// A command to run inside a host's namespace.
    pub fn command(&self, host: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(tool("ip", "iproute2"));
        cmd.args(["netns", "exec", &self.ns(host)]).args(args);
        cmd
    }

    fn build_network(&mut self) {
        for host in ["c", "f", "s"] {
            let ns = self.ns(host);
            let out = Command::new(tool("ip", "iproute2"))
                .args(["netns", "add", &ns])
                .output();
            match out {
                Ok(o) if o.status.success() => self.namespaces.push(ns),
                Ok(o) => fail(format!(
                    "cannot create network namespace {ns} (are namespaces allowed here?): {}",
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => fail(format!("cannot run ip: {e}")),
            }
        }
        let (c, f, s) = (self.ns("c"), self.ns("f"), self.ns("s"));
        self.ip(&[
            "-n", &c, "link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", &f,
        ]);
        self.ip(&[
            "-n", &s, "link", "add", "eth0", "type", "veth", "peer", "name", "wan0", "netns", &f,
        ]);
        let setup: &[(&str, &[&str])] = &[
            ("c", &["ip", "addr", "add", "192.0.2.20/24", "dev", "eth0"]),
            ("c", &["ip", "addr", "add", "192.0.2.21/24", "dev", "eth0"]),
            ("c", &["ip", "addr", "add", "192.0.2.22/24", "dev", "eth0"]),
            (
                "c",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:1::20/64",
                    "dev",
                    "eth0",
                    "nodad",
                ],
            ),
            ("c", &["ip", "link", "set", "eth0", "up"]),
            ("c", &["ip", "link", "set", "lo", "up"]),
            ("c", &["ip", "route", "add", "default", "via", "192.0.2.1"]),
            (
                "c",
                &[
                    "ip",
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    "2001:db8:1::1",
                ],
            ),
            (
                "f",
                // No "brd": as a plain `ip addr add` leaves it (the kernel
                // still treats the subnet's .255 as broadcast).
                &["ip", "addr", "add", "192.0.2.1/24", "dev", "lan0"],
            ),
            (
                "f",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:1::1/64",
                    "dev",
                    "lan0",
                    "nodad",
                ],
            ),
            (
                "f",
                // No "brd": as a plain `ip addr add` leaves it (the kernel
                // still treats the subnet's .255 as broadcast).
                &["ip", "addr", "add", "198.51.100.1/24", "dev", "wan0"],
            ),
            (
                "f",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:2::1/64",
                    "dev",
                    "wan0",
                    "nodad",
                ],
            ),
            ("f", &["ip", "link", "set", "lan0", "up"]),
            ("f", &["ip", "link", "set", "wan0", "up"]),
            ("f", &["ip", "link", "set", "lo", "up"]),
            ("f", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
            ("f", &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]),
            (
                "s",
                &["ip", "addr", "add", "198.51.100.2/24", "dev", "eth0"],
            ),
            (
                "s",
                &["ip", "addr", "add", "198.51.100.3/24", "dev", "eth0"],
            ),
            (
                "s",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:2::2/64",
                    "dev",
                    "eth0",
                    "nodad",
                ],
            ),
            // dnsmasq, from new ports and from port 69 (--tftp-single-port).
            (
                "s",
                &["ip", "addr", "add", "198.51.100.4/24", "dev", "eth0"],
            ),
            (
                "s",
                &["ip", "addr", "add", "198.51.100.5/24", "dev", "eth0"],
            ),
            (
                "s",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:2::4/64",
                    "dev",
                    "eth0",
                    "nodad",
                ],
            ),
            (
                "s",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:2::5/64",
                    "dev",
                    "eth0",
                    "nodad",
                ],
            ),
            ("s", &["ip", "link", "set", "eth0", "up"]),
            ("s", &["ip", "link", "set", "lo", "up"]),
            // No route back to the phones' network: answers must go through
            // the helper's return path, as with a server on the Internet.
        ];
        for (host, args) in setup {
            self.in_ns(host, args);
        }
    }

    fn add_management(&mut self) {
        let ns = self.ns("m");
        self.ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        self.ip(&[
            "-n",
            &ns,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "mgmt0",
            "netns",
            &self.ns("f"),
        ]);
        let setup: &[(&str, &[&str])] = &[
            ("m", &["ip", "addr", "add", "203.0.113.5/24", "dev", "eth0"]),
            (
                "m",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:3::5/64",
                    "dev",
                    "eth0",
                    "nodad",
                ],
            ),
            ("m", &["ip", "link", "set", "eth0", "up"]),
            ("m", &["ip", "link", "set", "lo", "up"]),
            (
                "m",
                &["ip", "route", "add", "default", "via", "203.0.113.1"],
            ),
            (
                "m",
                &[
                    "ip",
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    "2001:db8:3::1",
                ],
            ),
            (
                "f",
                &["ip", "addr", "add", "203.0.113.1/24", "dev", "mgmt0"],
            ),
            (
                "f",
                &[
                    "ip",
                    "addr",
                    "add",
                    "2001:db8:3::1/64",
                    "dev",
                    "mgmt0",
                    "nodad",
                ],
            ),
            ("f", &["ip", "link", "set", "mgmt0", "up"]),
        ];
        for (host, args) in setup {
            self.in_ns(host, args);
        }
    }

    fn add_phones(&self, phones: usize) {
        if phones > MAX_PHONES {
            fail(format!("at most {MAX_PHONES} phone addresses"));
        }
        if phones == 0 {
            return;
        }
        let batch: String = (0..phones)
            .map(|i| format!("addr add {}/24 dev eth0\n", phone_address(i)))
            .collect();
        let path = self.dir.join("phones.batch");
        std::fs::write(&path, batch).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        self.ip(&["-n", &self.ns("c"), "-batch", &path.to_string_lossy()]);
    }

    fn start_syslog(&mut self) {
        let path = self.dir.join("log.sock");
        let socket = UnixDatagram::bind(&path)
            .unwrap_or_else(|e| fail(format!("binding {}: {e}", path.display())));
        // The helper connects as root and then runs as nobody; root connects.
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap_or_else(|e| fail(format!("syslog socket timeout: {e}")));
        let lines = Arc::clone(&self.syslog_lines);
        let stop = Arc::clone(&self.syslog_stop);
        let paused_until = Arc::clone(&self.syslog_paused_until);
        self.syslog_thread = Some(std::thread::spawn(move || {
            let mut buf = vec![0u8; 8192];
            while !stop.load(Ordering::Relaxed) {
                let paused = *paused_until.lock().unwrap_or_else(|e| e.into_inner());
                if paused.is_some_and(|until| Instant::now() < until) {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                if let Ok(n) = socket.recv(&mut buf) {
                    let line = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            }
        }));
    }

    /// Starts a process in a host's namespace, logging to `<label>.log`;
    /// the lab stops it when dropped.
    pub fn spawn(&mut self, label: &str, host: &str, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join(format!("{label}.log")))
            .unwrap_or_else(|e| fail(format!("creating {label}.log: {e}")));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| fail(format!("{label}.log: {e}")));
        let child = self
            .command(host, args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| fail(format!("starting {label}: {e}")));
        self.children.push((label.to_owned(), child));
    }

    /// Stops the process `spawn` started as `label` (by its pid, SIGTERM)
    /// and waits for it, at most 3 s before SIGKILL.
    pub fn stop(&mut self, label: &str) {
        let at = self
            .children
            .iter()
            .position(|(l, _)| l == label)
            .unwrap_or_else(|| fail(format!("no process {label} was started")));
        let (_, mut child) = self.children.remove(at);
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The directory tftpd-hpa serves (readable and writable).
    pub fn server_root(&self) -> PathBuf {
        self.dir.join("srv")
    }

    /// The directory atftpd serves.
    pub fn atftpd_root(&self) -> PathBuf {
        self.dir.join("srv-atftpd")
    }

    fn start_servers(&mut self, atftpd: bool) {
        for root in [self.server_root(), self.atftpd_root()] {
            std::fs::create_dir_all(&root)
                .unwrap_or_else(|e| fail(format!("{}: {e}", root.display())));
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777))
                .unwrap_or_else(|e| fail(format!("{}: {e}", root.display())));
        }
        // The lab directory must be traversable by the servers' users.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| fail(format!("{}: {e}", self.dir.display())));
        let tftpd = tool("in.tftpd", "tftpd-hpa");
        let root = self.server_root();
        let (tftpd, root) = (
            tftpd.to_string_lossy().into_owned(),
            root.to_string_lossy().into_owned(),
        );
        for (label, addr) in [
            ("tftpd", "198.51.100.2:69"),
            ("tftpd6", "[2001:db8:2::2]:69"),
        ] {
            self.spawn(
                label,
                "s",
                &[&tftpd, "-L", "-s", "-c", "-u", "nobody", "-a", addr, &root],
            );
        }
        if atftpd {
            let bin =
                std::env::var("TFTP_PROXY_ATFTPD").unwrap_or_else(|_| ATFTPD_DEFAULT.to_owned());
            if !Path::new(&bin).is_file() {
                fail(format!("atftpd not found at {bin}: run scripts/install-deps (it unpacks Debian's atftpd there)"));
            }
            let root = self.atftpd_root().to_string_lossy().into_owned();
            self.spawn(
                "atftpd",
                "s",
                &[
                    &bin,
                    "--daemon",
                    "--no-fork",
                    "--bind-address",
                    ATFTPD_SERVER,
                    "--port",
                    "69",
                    "--user",
                    "nobody.nogroup",
                    "--logfile",
                    "-",
                    "--no-multicast",
                    &root,
                ],
            );
        }
        let mut ports = vec![(SERVER, 69)];
        ports.push((SERVER6, 69));
        if atftpd {
            ports.push((ATFTPD_SERVER, 69));
        }
        for (addr, port) in ports {
            self.wait_for_udp("s", addr, port);
        }
    }

    /// The directory both dnsmasq instances serve (read-only).
    pub fn dnsmasq_root(&self) -> PathBuf {
        self.dir.join("srv-dnsmasq")
    }

    /// Two dnsmasq TFTP servers (no DNS, no DHCP): one answering from new
    /// ports, one from port 69 itself.
    fn start_dnsmasq(&mut self) {
        let root = self.dnsmasq_root();
        std::fs::create_dir_all(&root).unwrap_or_else(|e| fail(format!("{}: {e}", root.display())));
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| fail(format!("{}: {e}", root.display())));
        let bin = tool("dnsmasq", "dnsmasq-base")
            .to_string_lossy()
            .into_owned();
        let root = format!("--tftp-root={}", root.display());
        for (label, v4, v6, single) in [
            ("dnsmasq", DNSMASQ_SERVER, DNSMASQ_SERVER6, false),
            (
                "dnsmasq-single",
                SINGLE_PORT_SERVER,
                SINGLE_PORT_SERVER6,
                true,
            ),
        ] {
            let listen = format!("--listen-address={v4},{v6}");
            let mut args = vec![
                bin.as_str(),
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                // Not --bind-interfaces: with it, single-port answers fail
                // with "Network is unreachable" (dnsmasq 2.90).
                "--bind-dynamic",
                "--except-interface=lo",
                &listen,
                "--enable-tftp",
                // Room for a storm's concurrent transfers (default 50).
                "--tftp-max=2000",
                &root,
                "--user=nobody",
                "--group=nogroup",
                "--pid-file=",
                "--log-facility=-",
            ];
            if single {
                args.push("--tftp-single-port");
            }
            self.spawn(label, "s", &args);
            self.wait_for_udp("s", v4, 69);
            self.wait_for_udp("s", v6, 69);
        }
    }

    /// Waits until something listens on a UDP address in a namespace.
    pub fn wait_for_udp(&self, host: &str, addr: &str, port: u16) {
        let wanted = if addr == "*" {
            format!("*:{port}")
        } else if addr.contains(':') {
            format!("[{addr}]:{port}")
        } else {
            format!("{addr}:{port}")
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.in_ns(host, &["ss", "-Hlun"]);
            let text = String::from_utf8_lossy(&out.stdout);
            if text.split_whitespace().any(|w| w == wanted) {
                return;
            }
            if Instant::now() > deadline {
                fail(format!(
                    "nothing listens on {wanted} in {host} after 10 s:\n{text}\n{}",
                    self.process_logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn load_firewall(&mut self, kernel_helper: bool) {
        let shipped = if kernel_helper {
            repo().join("tests/lab/kernel-helper.nft")
        } else {
            repo().join("etc/tftp-proxy.nft")
        };
        let lab_rules = repo().join("tests/lab/firewall.nft");
        let ruleset = format!(
            "flush ruleset\ndefine int_if = \"lan0\"\ndefine ext_if = \"wan0\"\ninclude \"{}\"\ninclude \"{}\"\n",
            shipped.display(),
            lab_rules.display()
        );
        let path = self.dir.join("ruleset.nft");
        std::fs::write(&path, ruleset).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        self.in_ns(
            "f",
            &[
                &tool("nft", "nftables").to_string_lossy(),
                "-f",
                &path.to_string_lossy(),
            ],
        );
    }

    /// The server's route to the phones' network, for a lab without NAT.
    fn route_back(&self) {
        self.in_ns(
            "s",
            &["ip", "route", "add", "192.0.2.0/24", "via", FIREWALL_EXT],
        );
    }

    fn start_inetd(&mut self, options: &LabOptions) {
        let wait = options.inetd_wait.as_deref();
        let helper_args = &options.helper_args;
        let helper = options.helper_binary.clone().unwrap_or_else(helper_binary);
        let helper = helper.as_str();
        let shipped = std::fs::read_to_string(repo().join("etc/inetd.conf"))
            .unwrap_or_else(|e| fail(format!("reading etc/inetd.conf: {e}")));
        let mut extra = format!(" --syslog-socket {}", self.dir.join("log.sock").display());
        for arg in helper_args {
            extra.push(' ');
            extra.push_str(arg);
        }
        // The shipped lines, with the installed path replaced by the built
        // binary and the lab's flags appended.
        let conf: String = shipped
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let l = match wait {
                    Some(w) if l.contains("\twait.1000\t") => {
                        l.replace("\twait.1000\t", &format!("\t{w}\t"))
                    }
                    Some(_) => fail(format!("etc/inetd.conf line without wait.1000: {l}")),
                    None => l.to_owned(),
                };
                let line = l.replace("/usr/local/libexec/tftp-proxy", helper);
                format!(
                    "{}{extra}\n",
                    wrap_inetd_line(&line, &options.helper_wrapper)
                )
            })
            .collect();
        if conf.is_empty() {
            fail("etc/inetd.conf has no service line");
        }
        let conf = options
            .extra_inetd_lines
            .iter()
            .fold(conf, |conf, line| format!("{conf}{line}\n"));
        let path = self.dir.join("inetd.conf");
        std::fs::write(&path, conf).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        let inetd = tool("inetd", "openbsd-inetd")
            .to_string_lossy()
            .into_owned();
        self.spawn("inetd", "f", &[&inetd, "-d", &path.to_string_lossy()]);
        self.wait_for_udp("f", "0.0.0.0", 6969);
    }

    /// The helper behind systemd-socket-activate, configured from the
    /// shipped units: the socket's `ListenDatagram=` and the service's
    /// `ExecStart=` (with the built binary and the lab's flags).
    fn start_socket_activated(&mut self, helper_args: &[String]) {
        let unit = |name: &str, key: &str| -> String {
            let text = std::fs::read_to_string(repo().join("etc").join(name))
                .unwrap_or_else(|e| fail(format!("reading etc/{name}: {e}")));
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| fail(format!("etc/{name} has no {key}")))
        };
        let listen = unit("tftp-proxy.socket", "ListenDatagram=");
        let exec = unit("tftp-proxy.service", "ExecStart=")
            .replace("/usr/local/libexec/tftp-proxy", &helper_binary());
        let activate = tool("systemd-socket-activate", "systemd")
            .to_string_lossy()
            .into_owned();
        let log = self.dir.join("log.sock").to_string_lossy().into_owned();
        let mut args = vec![activate.as_str(), "--datagram", "--inetd", "-l", &listen];
        args.extend(exec.split_whitespace());
        args.extend(["--syslog-socket", &log]);
        args.extend(helper_args.iter().map(String::as_str));
        self.spawn("socket-activate", "f", &args);
        self.wait_for_udp("f", "*", 6969);
    }

    /// Every log line of the helper so far (the syslog message part).
    pub fn helper_log(&self) -> Vec<String> {
        self.syslog_lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many helper processes have logged so far (distinct pids in the
    /// syslog tags; with `-v` every start logs "serving as").
    pub fn helper_starts(&self) -> usize {
        let pids: std::collections::BTreeSet<String> = self
            .helper_log()
            .iter()
            .filter_map(|l| {
                l.split_once("tftp-proxy[")
                    .and_then(|(_, r)| r.split_once(']'))
                    .map(|(p, _)| p.to_owned())
            })
            .collect();
        pids.len()
    }

    /// Stops reading the helper's syslog socket for `pause` (a stalled
    /// syslogd); lines queue in the socket, then the reader resumes.
    pub fn pause_syslog(&self, pause: Duration) {
        *self
            .syslog_paused_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + pause);
    }

    /// UDP datagrams the firewall's kernel dropped for a full socket
    /// receive buffer so far (IPv4 and IPv6).
    pub fn udp_receive_buffer_drops(&self) -> u64 {
        let v4 = self.in_ns("f", &["cat", "/proc/net/snmp"]);
        let v4 = String::from_utf8_lossy(&v4.stdout).into_owned();
        let udp: Vec<&str> = v4.lines().filter(|l| l.starts_with("Udp: ")).collect();
        if udp.len() != 2 {
            fail(format!("no Udp lines in /proc/net/snmp:\n{v4}"));
        }
        let names: Vec<&str> = udp[0].split_whitespace().collect();
        let values: Vec<&str> = udp[1].split_whitespace().collect();
        let at = names
            .iter()
            .position(|n| *n == "RcvbufErrors")
            .unwrap_or_else(|| fail("no RcvbufErrors in /proc/net/snmp"));
        let v6 = self.in_ns("f", &["cat", "/proc/net/snmp6"]);
        let v6 = String::from_utf8_lossy(&v6.stdout).into_owned();
        let udp6 = v6
            .lines()
            .find_map(|l| l.strip_prefix("Udp6RcvbufErrors"))
            .unwrap_or_else(|| fail(format!("no Udp6RcvbufErrors in /proc/net/snmp6:\n{v6}")));
        let number = |s: &str| -> u64 {
            s.trim()
                .parse()
                .unwrap_or_else(|_| fail(format!("not a counter: {s}")))
        };
        number(values[at]) + number(udp6)
    }

    /// The lab's TFTP traffic tool (`tests/lab/tftp_load.py`) in the
    /// client namespace, with `args` (mode first).
    pub fn traffic(&self, args: &[&str]) -> Command {
        let script = repo().join("tests/lab/tftp_load.py");
        let mut cmd = self.command("c", &["python3", &script.to_string_lossy()]);
        cmd.args(args);
        cmd
    }

    /// Runs the traffic tool to its end and returns its JSON line; fails
    /// the test if the tool fails.
    pub fn traffic_json(&self, args: &[&str]) -> String {
        let out = self
            .traffic(args)
            .output()
            .unwrap_or_else(|e| fail(format!("running the traffic tool: {e}")));
        if !out.status.success() {
            fail(format!(
                "traffic tool {args:?} failed: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.process_logs()
            ));
        }
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Everything a lab process (e.g. "inetd") wrote so far.
    pub fn process_output(&self, label: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{label}.log"))).unwrap_or_default()
    }

    /// The message parts of the helper's syslog lines.
    pub fn helper_messages(&self) -> Vec<String> {
        self.helper_log()
            .iter()
            .filter_map(|l| l.split_once("]: ").map(|(_, m)| m.to_owned()))
            .collect()
    }

    /// Puts a `len`-byte file `name` (made from `seed`) on tftpd-hpa, has
    /// the phone GET it with tftp-hpa, and fails the test unless the copy
    /// is byte-identical (`context` says which step it proves).
    pub fn assert_get(&self, name: &str, len: usize, seed: u64, context: &str) {
        let src = self.server_root().join(name);
        Lab::make_file(&src, len, seed);
        let (said, dst) = self.tftp_get(name);
        assert_eq!(
            std::fs::read(&dst).ok(),
            std::fs::read(&src).ok(),
            "{context}: {said}\n{}",
            self.process_logs()
        );
    }

    /// Has the phone GET `name` from tftpd-hpa with tftp-hpa: what the
    /// client printed (an ERROR it got, say) and where the copy went.
    pub fn tftp_get(&self, name: &str) -> (String, PathBuf) {
        let dst = self.dir.join(format!("got-{name}"));
        let out = self.client(&[
            "tftp",
            SERVER,
            "-m",
            "binary",
            "-c",
            "get",
            name,
            &dst.to_string_lossy(),
        ]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (said, dst)
    }

    /// Waits up to `timeout` until `count` log messages satisfy `pred`.
    pub fn wait_for_log(
        &self,
        count: usize,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<String> = self
                .helper_messages()
                .into_iter()
                .filter(|m| pred(m))
                .collect();
            if found.len() >= count || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a command in the client namespace and returns its output,
    /// whatever its status.
    pub fn client(&self, args: &[&str]) -> Output {
        self.command("c", args)
            .output()
            .unwrap_or_else(|e| fail(format!("running {args:?}: {e}")))
    }

    /// The elements of one of the return-path maps, as `nft` lists them.
    pub fn map_elements(&self, map: &str) -> Vec<String> {
        let out = self.in_ns("f", &["nft", "list", "map", "inet", "tftp_proxy", map]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        match text.split_once("elements = {") {
            None => Vec::new(),
            Some((_, rest)) => rest
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .map(|e| e.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|e| !e.is_empty())
                .collect(),
        }
    }

    /// Writes a file of `len` pseudo-random bytes (deterministic per seed).
    pub fn make_file(path: &Path, len: usize, seed: u64) {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            | 1;
        let mut data = Vec::with_capacity(len);
        while data.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(len);
        let mut f = std::fs::File::create(path)
            .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        f.write_all(&data)
            .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
        // Servers run as nobody: they must be able to read it.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    }

    /// The logs of the lab's own processes, for failure messages.
    pub fn process_logs(&self) -> String {
        let mut out = String::new();
        for (label, _) in &self.children {
            let text =
                std::fs::read_to_string(self.dir.join(format!("{label}.log"))).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            out.push_str(&format!("--- {label} (last lines)\n"));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out.push_str("--- helper syslog\n");
        for l in self.helper_log() {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }
}

/// A number in the one-line JSON object the traffic tool prints.
pub fn json_number(json: &str, key: &str) -> u64 {
    let pattern = format!("\"{key}\": ");
    let rest = json
        .split_once(&pattern)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        .1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}

/// An inetd.conf line that starts its program through `wrapper` (path,
/// argv[0], arguments): the wrapper gets the program's path and its
/// arguments after its own (argv[0] of the program is its path).
fn wrap_inetd_line(line: &str, wrapper: &[String]) -> String {
    let Some((path, args)) = wrapper.split_first() else {
        return line.to_owned();
    };
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 7 {
        fail(format!("inetd line without a program and argv[0]: {line}"));
    }
    let mut wrapped = fields[..5].join("\t");
    wrapped.push_str(&format!("\t{path}\t{} {}", args.join(" "), fields[5]));
    for arg in &fields[7..] {
        wrapped.push(' ');
        wrapped.push_str(arg);
    }
    wrapped
}

/// Removes labs left by test runs that were killed before their teardown:
/// namespaces named `tpx<pid>x<n>` whose pid is gone, with the processes
/// that run inside them (started by that run).
fn sweep_dead_labs() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = ns.strip_prefix("tpx").and_then(|r| r.split('x').next()) else {
            continue;
        };
        if pid.parse::<u32>().is_err() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        if let Ok(pids) = Command::new("ip").args(["netns", "pids", ns]).output() {
            for p in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = Command::new("kill").arg(p).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
        eprintln!("lab: removed {ns}, left by a killed test run");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            // Only the processes this lab started, by their pid.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        for (_, child) in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.syslog_stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.syslog_thread.take() {
            let _ = t.join();
        }
        for ns in self.namespaces.drain(..) {
            // Helpers spawned by inetd may still be exiting; they live in the
            // firewall namespace and hold no reference that blocks deletion.
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        if std::env::var_os("TFTP_PROXY_KEEP_LAB").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
