//! The OpenBSD checks: pure judgements over what pf and the system report
//! (`pfctl -s info`, `pfctl -s rules`, `sysctl kern.securelevel`, opening
//! /dev/pf, /etc/passwd, /etc/inetd.conf), and on OpenBSD the gathering of
//! that data. The judgements compile and are tested on every system.
//!
//! The pf backend (`crate::firewall::pf`) is not touched: this file only
//! reads pfctl's text output.

use super::pf::{self, is_tftp_port, tokens};
use super::{inetd, Finding, DEFAULT_HELPER_PORT};

/// `pfctl -s info`: enabled or not.
pub fn check_enabled(info: &str) -> Finding {
    pf::check_enabled(info, "pfctl -e (and pf=YES in rc.conf.local)")
}

pub use super::pf::{anchor_limit, check_device, check_receive_space};

/// `sysctl -n kern.securelevel`: pf refuses rule changes above 1.
pub fn check_securelevel(value: &str) -> Finding {
    pf::check_securelevel(
        value,
        1,
        "set securelevel=1 in /etc/rc.securelevel and reboot",
    )
}

/// `pfctl -s rules` of the main ruleset: a real `anchor "tftp-proxy/*"`
/// rule (child anchors left behind in `pfctl -s Anchors` do not count).
pub fn check_anchor(rules: &str) -> Finding {
    if pf::has_anchor_line(rules, "anchor", "tftp-proxy") {
        Finding::ok("the main ruleset has anchor \"tftp-proxy/*\"")
    } else {
        Finding::fault(
            "the main ruleset has no anchor \"tftp-proxy/*\" rule, so the return paths are never evaluated: add `anchor \"tftp-proxy/*\"` to pf.conf above your block rules and reload it (pfctl -f /etc/pf.conf)",
        )
    }
}

/// The helper's port a rule redirects or diverts UDP port 69 to.
pub fn find_redirect(rules: &str) -> Option<u16> {
    rules.lines().find_map(|l| {
        let t = tokens(l);
        let udp = t.windows(2).any(|w| w == ["proto", "udp"]);
        let tftp = (0..t.len()).any(|i| is_tftp_port(&t, i));
        let target = t.iter().position(|w| *w == "rdr-to" || *w == "divert-to")?;
        let port_at = t[target..].iter().position(|w| *w == "port")? + target;
        let port = t.get(port_at + 1)?.parse().ok()?;
        (udp && tftp).then_some(port)
    })
}

/// The redirect rule: found, or the fault.
pub fn check_redirect(rules: &str) -> Finding {
    match find_redirect(rules) {
        Some(port) => Finding::ok(format!("a rule sends UDP port 69 to the helper's port {port}")),
        None => Finding::fault(
            "no rule redirects or diverts UDP port 69 to the helper: add `pass in quick on $int_if proto udp to port tftp rdr-to 127.0.0.1 port 6969` to pf.conf",
        ),
    }
}

/// A `nat-to` rule that also rewrites the helper's own requests.
pub fn check_nat(rules: &str) -> Finding {
    pf::check_nat(rules, |t| t.contains(&"nat-to"))
}

/// `pfctl -s memory`: pf's anchor limit against what the helper may hold
/// (OpenBSD always prints one).
pub fn check_anchor_limit(memory: &str, max_per_client: u64) -> Finding {
    pf::check_anchor_limit(memory, max_per_client).unwrap_or_else(|| {
        Finding::warning(
            "pfctl -s memory printed no anchors limit: cannot compare it with the helper's caps",
        )
    })
}

/// /etc/passwd: the helper's unprivileged user exists.
pub fn check_user(passwd: &str, user: &str) -> Finding {
    pf::check_user(
        passwd,
        user,
        "it ships with OpenBSD's base system (uid 108)",
    )
}

/// /etc/inetd.conf: a line starts the helper on `port`.
pub fn check_inetd(conf: &str, port: u16, programs: &inetd::Programs<'_>) -> Finding {
    let source = "inetd (/etc/inetd.conf)";
    inetd::judge(source, &inetd::parse(conf), port, programs).unwrap_or_else(|| {
        Finding::fault(format!(
            "{source} has no tftp-proxy line: add the lines of etc/inetd.conf.openbsd and rcctl restart inetd"
        ))
    })
}

/// What the OpenBSD checks read, gathered.
#[derive(Debug)]
pub struct Observed<'a> {
    /// `pfctl -s info`.
    pub info: &'a str,
    /// Opening /dev/pf for writing.
    pub device: Result<(), std::io::Error>,
    /// `sysctl -n kern.securelevel`.
    pub securelevel: &'a str,
    /// `pfctl -s rules`.
    pub rules: &'a str,
    /// /etc/passwd.
    pub passwd: &'a str,
    /// The helper's user (`-u`).
    pub user: &'a str,
    /// /etc/inetd.conf.
    pub inetd_conf: &'a str,
    /// `pfctl -s memory`.
    pub memory: &'a str,
    /// `sysctl -n net.inet.udp.recvspace`.
    pub receive_space: &'a str,
    /// The helper's `--max-per-client`.
    pub max_per_client: u64,
}

/// Every OpenBSD check over gathered data, in order.
pub fn check_all(observed: Observed<'_>, programs: &inetd::Programs<'_>) -> Vec<Finding> {
    let port = find_redirect(observed.rules).unwrap_or(DEFAULT_HELPER_PORT);
    vec![
        check_enabled(observed.info),
        check_device(observed.device),
        check_securelevel(observed.securelevel),
        check_anchor(observed.rules),
        check_redirect(observed.rules),
        check_nat(observed.rules),
        pf::check_reverse_path(observed.rules),
        check_user(observed.passwd, observed.user),
        check_inetd(observed.inetd_conf, port, programs),
        check_anchor_limit(observed.memory, observed.max_per_client),
        check_receive_space(observed.receive_space),
    ]
}

/// Gathers the data on OpenBSD and runs every check.
#[cfg(target_os = "openbsd")]
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
    let device = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/pf")
        .map(drop);
    let executable = |p: &str| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let (info, securelevel, rules, memory, receive_space) = (
        output("pfctl", &["-s", "info"]),
        output("sysctl", &["-n", "kern.securelevel"]),
        output("pfctl", &["-s", "rules"]),
        output("pfctl", &["-s", "memory"]),
        output("sysctl", &["-n", "net.inet.udp.recvspace"]),
    );
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let inetd_conf = std::fs::read_to_string("/etc/inetd.conf").unwrap_or_default();
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
            securelevel: &securelevel,
            rules: &rules,
            passwd: &passwd,
            user: &options.user,
            inetd_conf: &inetd_conf,
            memory: &memory,
            receive_space: &receive_space,
            max_per_client: options.max_per_client,
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

    const INFO: &str = "Status: Enabled for 0 days 01:02:03           Debug: err\n\nState Table                          Total             Rate\n";
    const RULES: &str = "match in all scrub (no-df)\nblock drop log all\nanchor \"tftp-proxy/*\" all\nmatch out on egress inet from 192.0.2.0/24 to any nat-to (em0:0) round-robin\npass in quick on em1 inet proto udp from any to any port = 69 rdr-to 127.0.0.1 port 6969\npass out all flags S/SA\n";

    /// `pfctl -s memory` on OpenBSD 7.8 with the shipped pf.conf's
    /// `set limit anchors 8192` (the columns as pfctl_show_limits()
    /// prints them: the name left-aligned in 13, the limit right-aligned
    /// in 8).
    const MEMORY_SHIPPED: &str = "states        hard limit   100000\nsrc-nodes     hard limit    10000\nfrags         hard limit    65536\ntables        hard limit     1000\ntable-entries hard limit   200000\npktdelay-pkts hard limit    10000\nanchors       hard limit     8192\n";
    /// The same with pf's defaults.
    const MEMORY_DEFAULT: &str = "states        hard limit   100000\nsrc-nodes     hard limit    10000\nfrags         hard limit    65536\ntables        hard limit     1000\ntable-entries hard limit   200000\npktdelay-pkts hard limit    10000\nanchors       hard limit      512\n";

    #[test]
    fn anchor_limit_is_read_from_pfctl_memory() {
        assert_eq!(anchor_limit(MEMORY_SHIPPED), Some(8192));
        assert_eq!(anchor_limit(MEMORY_DEFAULT), Some(512));
        assert_eq!(anchor_limit("anchors       unlimited\n"), Some(u32::MAX));
        assert_eq!(anchor_limit("states        hard limit   100000\n"), None);
        assert_eq!(anchor_limit(""), None);
    }

    #[test]
    fn anchor_limit_below_the_caps_warns_with_the_fix() {
        let f = check_anchor_limit(MEMORY_DEFAULT, 2048);
        assert_eq!(f.status, Status::Warning, "{f}");
        assert!(f.text.contains("limit is 512"), "{f}");
        assert!(f.text.contains("--max-per-client"), "{f}");
        assert!(f.text.contains("set limit anchors 8192"), "{f}");
        // Caps that fit, a limit under the storm.
        let f = check_anchor_limit(MEMORY_DEFAULT, 64);
        assert_eq!(f.status, Status::Warning, "{f}");
        assert!(f.text.contains("3501"), "{f}");
        assert!(f.text.contains("set limit anchors 8192"), "{f}");
        // The shipped limit with a cap above a half of it.
        let f = check_anchor_limit(MEMORY_SHIPPED, 4096);
        assert_eq!(f.status, Status::Warning, "{f}");
        assert_eq!(check_anchor_limit(MEMORY_SHIPPED, 2048).status, Status::Ok);
        assert_eq!(check_anchor_limit("", 2048).status, Status::Warning);
    }

    #[test]
    fn receive_space_is_judged_by_the_burst_arithmetic() {
        // OpenBSD's default: 70 phones' first requests.
        let f = check_receive_space("41600\n");
        assert_eq!(f.status, Status::Warning, "{f}");
        assert!(f.text.contains("of 70 phones"), "{f}");
        assert!(f.text.contains("net.inet.udp.recvspace=524288"), "{f}");
        let f = check_receive_space("524288\n");
        assert_eq!(f.status, Status::Ok, "{f}");
        assert!(f.text.contains("885 phones"), "{f}");
        assert_eq!(check_receive_space("118400").status, Status::Ok);
        assert_eq!(check_receive_space("118399").status, Status::Warning);
        assert_eq!(check_receive_space("").status, Status::Warning);
    }

    #[test]
    fn a_working_firewall_passes() {
        let findings = check_all(
            Observed {
                info: INFO,
                device: Ok(()),
                securelevel: "1\n",
                rules: RULES,
                passwd: "root:*:0:0::0:0:Charlie &:/root:/bin/ksh\n_tftp_proxy:*:108:108::0:0:tftp-proxy:/nonexistent:/sbin/nologin\n",
                user: "_tftp_proxy",
                inetd_conf: "127.0.0.1:6969\tdgram\tudp\twait.1000\troot\t/usr/local/libexec/tftp-proxy\ttftp-proxy\n",
                memory: MEMORY_SHIPPED,
                receive_space: "524288\n",
                max_per_client: 2048,
            },
            ANY,
        );
        for f in &findings {
            assert_eq!(f.status, Status::Ok, "{f}");
        }
        assert_eq!(findings.len(), 11);
    }

    #[test]
    fn disabled_pf() {
        let f = check_enabled("Status: Disabled for 0 days 00:00:10\n");
        assert_eq!(
            f.to_string(),
            "FAULT: pf is Disabled: enable it with pfctl -e (and pf=YES in rc.conf.local)"
        );
        assert_eq!(check_enabled("").status, Status::Fault);
    }

    #[test]
    fn device_and_securelevel() {
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(check_device(Err(denied)).status, Status::Fault);
        assert_eq!(check_securelevel("2").status, Status::Fault);
        assert_eq!(check_securelevel("-1").status, Status::Ok);
        assert_eq!(check_securelevel("").status, Status::Fault);
    }

    #[test]
    fn anchor_must_be_a_rule_of_the_main_ruleset() {
        assert_eq!(check_anchor(RULES).status, Status::Ok);
        let without = RULES.replace("anchor \"tftp-proxy/*\" all\n", "");
        assert!(check_anchor(&without)
            .text
            .starts_with("the main ruleset has no anchor"));
        // Another anchor's name is not ours.
        assert_eq!(
            check_anchor("anchor \"relayd/*\" all\n").status,
            Status::Fault
        );
    }

    #[test]
    fn redirect_and_divert_name_the_port() {
        assert_eq!(find_redirect(RULES), Some(6969));
        assert_eq!(
            find_redirect("pass in quick on em1 inet proto udp from any to any port = tftp divert-to 127.0.0.1 port 7000\n"),
            Some(7000)
        );
        assert_eq!(
            find_redirect("pass in quick proto tcp to port = 69 rdr-to 127.0.0.1 port 6969\n"),
            None
        );
        assert_eq!(check_redirect("pass all\n").status, Status::Fault);
    }

    #[test]
    fn nat_of_the_firewalls_own_requests() {
        assert_eq!(check_nat(RULES).status, Status::Ok);
        let f = check_nat("match out on egress inet all nat-to (em0:0)\n");
        assert_eq!(f.status, Status::Fault, "{f}");
        assert!(f
            .text
            .starts_with("`match out on egress inet all nat-to (em0:0)` also rewrites"));
        assert_eq!(
            check_nat("match out on egress from (em1:network) to any nat-to (em0)\n").status,
            Status::Ok
        );
        assert_eq!(
            check_nat("match out on egress from any to any nat-to (em0) static-port\n").status,
            Status::Ok
        );
    }

    #[test]
    fn user_and_inetd() {
        assert_eq!(
            check_user(
                "_tftp_proxy:*:108:108::0:0::/:/sbin/nologin\n",
                "_tftp_proxy"
            )
            .status,
            Status::Ok
        );
        assert!(
            check_user("root:*:0:0::0:0::/root:/bin/ksh\n", "_tftp_proxy")
                .text
                .contains("uid 108")
        );
        assert!(check_inetd("", 6969, ANY)
            .text
            .contains("has no tftp-proxy line"));
        assert_eq!(
            check_inetd(
                "127.0.0.1:6969 dgram udp wait root /usr/local/libexec/tftp-proxy tftp-proxy\n",
                6970,
                ANY
            )
            .status,
            Status::Fault
        );
    }
}
