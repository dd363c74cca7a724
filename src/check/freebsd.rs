//! The FreeBSD (and pfSense) checks: pure judgements over what pf and the
//! system report (`pfctl -s info`, `pfctl -s nat`, `pfctl -s rules`,
//! `pfctl -s memory`, `sysctl kern.securelevel`, opening /dev/pf,
//! /etc/passwd, /etc/inetd.conf with /etc/services, xinetd's files, and
//! which kernel interface the pf backend found), and on FreeBSD the
//! gathering of that data. The judgements compile and are tested on every
//! system; those OpenBSD shares are in `pf.rs`.
//!
//! FreeBSD's pf keeps translation rules apart: `pfctl -s nat` lists the
//! `rdr` redirect and the `rdr-anchor` line, `pfctl -s rules` the filter
//! `anchor` line.

use super::pf::{self, is_tftp_port, tokens};
use super::xinetd::XinetdService;
use super::{destinations, inetd, Finding, DEFAULT_HELPER_PORT};
use std::net::IpAddr;

/// The anchor the return paths live below.
const PARENT: &str = "tftp-proxy";

/// `pfctl -s info`: enabled or not.
pub fn check_enabled(info: &str) -> Finding {
    pf::check_enabled(info, "pfctl -e (and pf_enable=\"YES\" in /etc/rc.conf)")
}

/// `sysctl -n kern.securelevel`: FreeBSD's pf refuses rule changes above
/// 2 (pfioctl in sys/netpfil/pf/pf_ioctl.c: `securelevel_gt(cred, 2)`).
pub fn check_securelevel(value: &str) -> Finding {
    pf::check_securelevel(
        value,
        2,
        "lower kern_securelevel in /etc/rc.conf and reboot (see security(7))",
    )
}

/// The two anchor lines: `rdr-anchor` in `pfctl -s nat`, `anchor` in
/// `pfctl -s rules`, each named when missing.
pub fn check_anchors(nat: &str, rules: &str) -> Vec<Finding> {
    [
        ("rdr-anchor", nat, "the translation rules (rdr)", "above the rdr rule"),
        ("anchor", rules, "the filter rules", "above your block rules"),
    ]
    .into_iter()
    .map(|(keyword, listing, part, place)| {
        let line = format!("{keyword} \"{PARENT}/*\"");
        if pf::has_anchor_line(listing, keyword, PARENT) {
            Finding::ok(format!("the main ruleset has {line}"))
        } else {
            Finding::fault(format!(
                "the main ruleset has no `{line}` line in {part}, so the return paths are never evaluated and the helper refuses to start: add it to pf.conf {place} (see etc/pf.conf.freebsd) and reload it (pfctl -f /etc/pf.conf)"
            ))
        }
    })
    .collect()
}

/// One `rdr` rule sending UDP port 69 to the helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The line as pfctl printed it.
    pub line: String,
    /// The target address as written (an address, or `(if)`).
    pub target: String,
    /// The helper's port.
    pub port: u16,
}

impl Redirect {
    /// The target, if it is a literal address.
    pub fn address(&self) -> Option<IpAddr> {
        self.target.parse().ok()
    }
}

/// The `rdr` rules of `pfctl -s nat` that send UDP port 69 elsewhere.
pub fn find_redirects(nat: &str) -> Vec<Redirect> {
    nat.lines()
        .filter_map(|l| {
            let t = tokens(l);
            if t.first() != Some(&"rdr") {
                return None;
            }
            let udp = t.windows(2).any(|w| w == ["proto", "udp"]);
            let arrow = t.iter().position(|w| *w == "->")?;
            let tftp = (0..arrow).any(|i| is_tftp_port(&t, i));
            let target = t.get(arrow + 1)?;
            let port_at = t[arrow..].iter().position(|w| *w == "port")? + arrow;
            let port = t.get(port_at + 1)?.parse().ok()?;
            (udp && tftp).then(|| Redirect {
                line: l.trim().to_owned(),
                target: (*target).to_owned(),
                port,
            })
        })
        .collect()
}

/// The redirect rules: present, and none sending IPv6 to a loopback
/// address. FreeBSD drops an IPv6 packet whose destination pf rewrote to
/// `::1` when it arrived on another interface (ip6_input() in
/// sys/netinet6/ip6_input.c calls in6_setscope(), which refuses a
/// loopback destination there: `ip6s_badscope`); IPv4 to 127.0.0.1 is
/// fine, its check runs before pf.
pub fn check_redirects(redirects: &[Redirect]) -> Finding {
    if redirects.is_empty() {
        return Finding::fault(
            "no rdr rule sends UDP port 69 to the helper: add `rdr pass on $int_if inet proto udp to port tftp -> 127.0.0.1 port 6969` to pf.conf (see etc/pf.conf.freebsd)",
        );
    }
    if let Some(bad) = redirects
        .iter()
        .find(|r| matches!(r.address(), Some(IpAddr::V6(a)) if a.is_loopback()))
    {
        return Finding::fault(format!(
            "`{}` redirects IPv6 requests to a loopback address, which FreeBSD drops when they arrive on another interface (ip6s_badscope in netstat -s -p ip6): redirect them to an IPv6 address of the phones' interface and let the helper listen there (see etc/pf.conf.freebsd)",
            bad.line
        ));
    }
    let targets: Vec<String> = redirects
        .iter()
        .map(|r| format!("{} port {}", r.target, r.port))
        .collect();
    Finding::ok(format!(
        "rdr rules send UDP port 69 to {}",
        targets.join(", ")
    ))
}

/// Whether xinetd's helper services listen where the redirects send the
/// requests: a service binding the target, or every address of its
/// family, on the redirect's port.
pub fn check_listeners(redirects: &[Redirect], services: &[XinetdService]) -> Option<Finding> {
    let helpers: Vec<&XinetdService> = services.iter().filter(|s| s.line.is_helper()).collect();
    if helpers.is_empty() {
        return None;
    }
    for redirect in redirects {
        let Some(target) = redirect.address() else {
            continue;
        };
        let listens = helpers.iter().any(|s| {
            let family_v6 = s.line.protocol == "udp6";
            let bound = s.bind.as_deref().and_then(|b| b.parse::<IpAddr>().ok());
            s.line.port() == Some(redirect.port)
                && family_v6 == target.is_ipv6()
                && bound.is_none_or(|b| b == target || b.is_unspecified())
        });
        if !listens {
            return Some(Finding::fault(format!(
                "`{}` sends requests to {target} port {}, where no xinetd tftp-proxy service listens: make the service's bind and port match the rdr target (see etc/xinetd.d/tftp-proxy) and restart xinetd",
                redirect.line, redirect.port
            )));
        }
    }
    Some(Finding::ok(
        "xinetd's tftp-proxy services listen where the rdr rules send the requests",
    ))
}

/// A NAT rule that would also rewrite the helper's own requests.
pub fn check_nat(nat: &str) -> Finding {
    pf::check_nat(nat, |t| t.first() == Some(&"nat"))
}

/// /etc/passwd: the helper's unprivileged user exists.
pub fn check_user(passwd: &str, user: &str) -> Finding {
    pf::check_user(
        passwd,
        user,
        "FreeBSD's base system has the user proxy (uid 62)",
    )
}

/// The inetd or xinetd lines starting the helper on `port`: inetd's
/// service names resolved through /etc/services first.
pub fn check_starter(
    inetd_conf: &str,
    services: &str,
    xinetd: &[XinetdService],
    port: u16,
    programs: &inetd::Programs<'_>,
) -> Finding {
    let mut inetd_lines = inetd::parse(inetd_conf);
    inetd::resolve_services(&mut inetd_lines, services);
    let xinetd_lines: Vec<inetd::InetdLine> = xinetd.iter().map(|s| s.line.clone()).collect();
    inetd::judge("inetd (/etc/inetd.conf)", &inetd_lines, port, programs)
        .or_else(|| inetd::judge("xinetd (/usr/local/etc/xinetd.d)", &xinetd_lines, port, programs))
        .unwrap_or_else(|| {
            Finding::fault(
                "neither inetd (/etc/inetd.conf) nor xinetd (/usr/local/etc/xinetd.d) starts tftp-proxy: add the line of etc/inetd.conf.freebsd or the services of etc/xinetd.d/tftp-proxy and restart it",
            )
        })
}

/// The command lines (`argv[0]` first) inetd and xinetd start the helper
/// with.
pub fn command_lines(inetd_conf: &str, xinetd: &[XinetdService]) -> Vec<Vec<String>> {
    inetd::parse(inetd_conf)
        .into_iter()
        .chain(xinetd.iter().map(|s| s.line.clone()))
        .filter(inetd::InetdLine::is_helper)
        .map(|l| l.arguments)
        .collect()
}

/// pf's anchor limit from `pfctl -s memory`, judged as on OpenBSD;
/// FreeBSD before 15 has no anchor limit, and pfctl prints none.
pub fn check_anchor_limit(memory: &str, max_per_client: u64) -> Finding {
    pf::check_anchor_limit(memory, max_per_client)
        .unwrap_or_else(|| Finding::ok("pf sets no limit on anchors (FreeBSD before 15)"))
}

/// The kernel interface the pf backend found for status and state kills,
/// or why `/dev/pf` did not open.
pub fn check_interface(found: Result<&str, String>) -> Finding {
    match found {
        Ok(interface) if interface.starts_with("neither") => {
            Finding::warning(format!("kernel interface: {interface}"))
        }
        Ok(interface) => Finding::ok(format!("kernel interface: {interface}")),
        Err(e) => Finding::fault(format!(
            "cannot ask pf which kernel interface it offers ({e})"
        )),
    }
}

/// What the FreeBSD checks read, gathered.
#[derive(Debug)]
pub struct Observed<'a> {
    /// `pfctl -s info`.
    pub info: &'a str,
    /// Opening /dev/pf for writing.
    pub device: Result<(), std::io::Error>,
    /// The pf backend's kernel interface, or why it could not be asked.
    pub interface: Result<&'a str, String>,
    /// `sysctl -n kern.securelevel`.
    pub securelevel: &'a str,
    /// `pfctl -s nat`.
    pub nat: &'a str,
    /// `pfctl -s rules`.
    pub rules: &'a str,
    /// `pfctl -s memory`.
    pub memory: &'a str,
    /// `sysctl -n net.inet.udp.recvspace`.
    pub receive_space: &'a str,
    /// The helper's `--max-per-client`.
    pub max_per_client: u64,
    /// /etc/passwd.
    pub passwd: &'a str,
    /// The helper's user (`-u`).
    pub user: &'a str,
    /// /etc/inetd.conf.
    pub inetd_conf: &'a str,
    /// /etc/services.
    pub services: &'a str,
    /// xinetd's services (xinetd.conf and xinetd.d).
    pub xinetd: Vec<XinetdService>,
}

/// Every FreeBSD check over gathered data, in order.
pub fn check_all(observed: Observed<'_>, programs: &inetd::Programs<'_>) -> Vec<Finding> {
    let redirects = find_redirects(observed.nat);
    let port = redirects.first().map_or(DEFAULT_HELPER_PORT, |r| r.port);
    let mut findings = vec![
        check_enabled(observed.info),
        pf::check_device(observed.device),
        check_interface(observed.interface),
        check_securelevel(observed.securelevel),
    ];
    findings.extend(check_anchors(observed.nat, observed.rules));
    findings.push(check_redirects(&redirects));
    findings.push(check_nat(observed.nat));
    findings.push(pf::check_reverse_path(observed.rules));
    findings.push(check_user(observed.passwd, observed.user));
    findings.push(check_starter(
        observed.inetd_conf,
        observed.services,
        &observed.xinetd,
        port,
        programs,
    ));
    findings.extend(check_listeners(&redirects, &observed.xinetd));
    findings.push(destinations::judge(&command_lines(
        observed.inetd_conf,
        &observed.xinetd,
    )));
    findings.push(check_anchor_limit(observed.memory, observed.max_per_client));
    findings.push(pf::check_receive_space(observed.receive_space));
    findings
}

/// Gathers the data on FreeBSD and runs every check.
#[cfg(target_os = "freebsd")]
pub fn run(options: &super::CheckOptions) -> Vec<Finding> {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let output = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let device = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/pf")
        .map(drop);
    let interface = crate::firewall::pf::kernel_interface().map_err(|e| e.to_string());
    let executable = |p: &str| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let (info, nat, rules, memory, securelevel, receive_space) = (
        output("pfctl", &["-s", "info"]),
        output("pfctl", &["-s", "nat"]),
        output("pfctl", &["-s", "rules"]),
        output("pfctl", &["-s", "memory"]),
        output("sysctl", &["-n", "kern.securelevel"]),
        output("sysctl", &["-n", "net.inet.udp.recvspace"]),
    );
    let mut xinetd = super::xinetd::parse(&read("/usr/local/etc/xinetd.conf"));
    if let Ok(entries) = std::fs::read_dir("/usr/local/etc/xinetd.d") {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            xinetd.extend(super::xinetd::parse(&text));
        }
    }
    let (passwd, inetd_conf, services) = (
        read("/etc/passwd"),
        read("/etc/inetd.conf"),
        read("/etc/services"),
    );
    // The helper command lines judged, for the destinations' check.
    let judged = std::cell::RefCell::new(Vec::new());
    let arguments = |argv: &[String]| {
        judged.borrow_mut().push(argv.to_vec());
        (options.arguments)(argv)
    };
    let mut findings = check_all(
        Observed {
            info: &info,
            device,
            interface: interface.as_deref().map_err(Clone::clone),
            securelevel: &securelevel,
            nat: &nat,
            rules: &rules,
            memory: &memory,
            receive_space: &receive_space,
            max_per_client: options.max_per_client,
            passwd: &passwd,
            user: &options.user,
            inetd_conf: &inetd_conf,
            services: &services,
            xinetd,
        },
        &inetd::Programs {
            executable: &executable,
            arguments: &arguments,
        },
    );
    findings.push(super::destinations::judge(&judged.take()));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    const ANY: &inetd::Programs<'static> = &inetd::Programs {
        executable: &|_| true,
        arguments: &|_| Ok(()),
    };

    const INFO: &str = "Status: Enabled for 0 days 01:02:03           Debug: Urgent\n\nState Table                          Total             Rate\n";
    // pfctl -s nat and -s rules of a firewall loaded from etc/pf.conf.freebsd.
    const NAT: &str = "nat on em0 inet from 192.0.2.0/24 to any -> (em0) round-robin\nrdr-anchor \"tftp-proxy/*\" all\nrdr pass on em1 inet proto udp from any to any port = tftp -> 127.0.0.1 port 6969\nrdr pass on em1 inet6 proto udp from any to any port = tftp -> 2001:db8:1::1 port 6969\n";
    const RULES: &str = "anchor \"tftp-proxy/*\" all\nblock drop in log on em0 all\npass out all flags S/SA keep state\npass in on em1 all flags S/SA keep state\n";
    // FreeBSD 15 with `set limit anchors 8192`.
    const MEMORY: &str = "states        hard limit   100000\nsrc-nodes     hard limit   100000\nfrags         hard limit     5000\ntable-entries hard limit   400000\nanchors       hard limit     8192\n";
    const PASSWD: &str = "root:*:0:0:Charlie &:/root:/bin/sh\nproxy:*:62:62:Packet Filter pseudo-user:/nonexistent:/usr/sbin/nologin\n";
    const INETD: &str = "tftp-proxy\tdgram\tudp\twait\troot\t/usr/local/libexec/tftp-proxy\ttftp-proxy --allow-server 198.51.100.0/24\ntftp-proxy\tdgram\tudp6\twait\troot\t/usr/local/libexec/tftp-proxy\ttftp-proxy --allow-server 2001:db8:5::/48\n";
    const SERVICES: &str = "tftp\t\t 69/udp\ntftp-proxy\t6969/udp\n";

    fn observed() -> Observed<'static> {
        Observed {
            info: INFO,
            device: Ok(()),
            interface: Ok("pf's nvlist ioctls (DIOCGETSTATUSNV, DIOCKILLSTATESNV)"),
            securelevel: "-1\n",
            nat: NAT,
            rules: RULES,
            memory: MEMORY,
            receive_space: "1048576\n",
            max_per_client: 64,
            passwd: PASSWD,
            user: "proxy",
            inetd_conf: INETD,
            services: SERVICES,
            xinetd: Vec::new(),
        }
    }

    #[test]
    fn a_working_firewall_passes() {
        let findings = check_all(observed(), ANY);
        for f in &findings {
            assert_eq!(f.status, Status::Ok, "{f}");
        }
        assert_eq!(findings.len(), 14);
        assert!(
            findings[2].text.contains("nvlist ioctls"),
            "{}",
            findings[2]
        );
    }

    #[test]
    fn a_missing_anchor_line_is_named() {
        let without_rdr = NAT.replace("rdr-anchor \"tftp-proxy/*\" all\n", "");
        let findings = check_anchors(&without_rdr, RULES);
        assert_eq!(findings[0].status, Status::Fault);
        assert!(findings[0].text.starts_with(
            "the main ruleset has no `rdr-anchor \"tftp-proxy/*\"` line in the translation rules"
        ));
        assert_eq!(findings[1].status, Status::Ok);
        let findings = check_anchors(NAT, "block drop in all\n");
        assert_eq!(findings[0].status, Status::Ok);
        assert!(findings[1]
            .text
            .contains("no `anchor \"tftp-proxy/*\"` line in the filter rules"));
    }

    #[test]
    fn an_ipv6_redirect_to_loopback_is_a_fault() {
        let redirects = find_redirects(NAT);
        assert_eq!(redirects.len(), 2);
        assert_eq!(redirects[1].target, "2001:db8:1::1");
        assert_eq!(redirects[1].port, 6969);
        let to_loopback = find_redirects(&NAT.replace("2001:db8:1::1", "::1"));
        let f = check_redirects(&to_loopback);
        assert_eq!(f.status, Status::Fault);
        assert!(f.text.contains("ip6s_badscope"), "{f}");
        // IPv4 to 127.0.0.1 is how pfSense does it.
        assert_eq!(check_redirects(&redirects[..1]).status, Status::Ok);
        assert_eq!(check_redirects(&[]).status, Status::Fault);
        // Another port than tftp is not the helper's redirect.
        assert!(find_redirects(
            "rdr pass on em1 inet proto udp from any to any port = 53 -> 127.0.0.1 port 5353\n"
        )
        .is_empty());
    }

    #[test]
    fn xinetd_must_listen_where_pf_redirects() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/xinetd.d/tftp-proxy"),
        )
        .unwrap();
        let shipped = crate::check::xinetd::parse(&text);
        let redirects = find_redirects(NAT);
        assert_eq!(
            check_listeners(&redirects, &shipped).map(|f| f.status),
            Some(Status::Ok)
        );
        let elsewhere = find_redirects(&NAT.replace("port 6969\n", "port 7000\n"));
        let f = check_listeners(&elsewhere, &shipped).unwrap();
        assert_eq!(f.status, Status::Fault, "{f}");
        assert!(f.text.contains("port 7000"), "{f}");
        assert_eq!(check_listeners(&redirects, &[]), None);
        // The shipped xinetd services start the helper on the redirect port.
        let observed = Observed {
            inetd_conf: "",
            xinetd: shipped,
            ..observed()
        };
        let findings = check_all(observed, ANY);
        // All ok but the shipped lines' --allow-server, left to the operator.
        let (ok, other): (Vec<_>, Vec<_>) = findings.iter().partition(|f| f.status == Status::Ok);
        assert_eq!(other.len(), 1, "{other:?}");
        assert!(other[0].text.contains("--allow-server"), "{}", other[0]);
        assert_eq!(ok.len(), findings.len() - 1);
    }

    #[test]
    fn inetd_names_resolve_and_must_exist() {
        let f = check_starter(INETD, SERVICES, &[], 6969, ANY);
        assert_eq!(f.status, Status::Ok, "{f}");
        // Without the /etc/services line, the name is no port.
        let f = check_starter(INETD, "", &[], 6969, ANY);
        assert_eq!(f.status, Status::Fault, "{f}");
        let f = check_starter("", "", &[], 6969, ANY);
        assert!(f.text.starts_with("neither inetd"), "{f}");
    }

    #[test]
    fn securelevel_user_nat_limit_interface() {
        assert_eq!(check_securelevel("2").status, Status::Ok);
        assert_eq!(check_securelevel("3").status, Status::Fault);
        assert!(check_user("root:*:0:0::/root:/bin/sh\n", "proxy")
            .text
            .contains("uid 62"));
        assert_eq!(check_nat(NAT).status, Status::Ok);
        assert_eq!(
            check_nat("nat on em0 inet from any to any -> (em0) round-robin\n").status,
            Status::Fault
        );
        // FreeBSD 14 prints no anchor limit: there is none.
        assert_eq!(check_anchor_limit("", 64).status, Status::Ok);
        assert_eq!(check_anchor_limit(MEMORY, 64).status, Status::Ok);
        assert_eq!(
            check_anchor_limit("anchors       hard limit      512\n", 64).status,
            Status::Warning
        );
        assert_eq!(
            check_interface(Ok("neither pf's nvlist ioctls nor its netlink family")).status,
            Status::Warning
        );
        assert_eq!(check_interface(Err("denied".into())).status, Status::Fault);
        assert_eq!(
            check_enabled("Status: Disabled\n").to_string(),
            "FAULT: pf is Disabled: enable it with pfctl -e (and pf_enable=\"YES\" in /etc/rc.conf)"
        );
    }
}
