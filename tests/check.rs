//! `tftp-proxy --check` on the lab's firewall: a gateway with an ordinary
//! ruleset of its own (policy drop on input and forward, its own
//! masquerade) passes, and each way of breaking it is named by its exact
//! line. Needs root.

mod lab;

use lab::{Lab, LabOptions};
use std::process::Output;
use std::time::Duration;

const HELPER: &str = env!("CARGO_BIN_EXE_tftp-proxy");

/// One way the gateway is set up; `Default` is the working one.
#[derive(Clone)]
struct Gateway {
    include: bool,
    input_accept: bool,
    forward_dnat_accept: bool,
    /// `masquerade random` with no exemption for the firewall's own packets.
    masquerade_random: bool,
    redirect_port: u16,
    inetd_program: String,
    /// Flags appended to the inetd lines.
    inetd_flags: String,
    forwarding: bool,
    /// The include as shipped; false: as it was before the `delivered`
    /// sets and their postrouting chain (an un-upgraded include).
    delivered_sets: bool,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            include: true,
            input_accept: true,
            forward_dnat_accept: true,
            masquerade_random: false,
            redirect_port: 6969,
            inetd_program: HELPER.to_owned(),
            inetd_flags: String::new(),
            forwarding: true,
            delivered_sets: true,
        }
    }
}

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Gateway {
    /// The lab's network and servers, this gateway's ruleset, inetd with
    /// the shipped lines.
    fn start(&self) -> Lab {
        // The lab without tftp-proxy's include or inetd: this test sets up
        // the firewall itself.
        let mut lab = Lab::start(LabOptions {
            kernel_helper: true,
            ..LabOptions::default()
        });
        let shipped = std::fs::read_to_string(repo().join("etc/tftp-proxy.nft")).unwrap();
        let include = shipped.replace(
            "redirect to :6969",
            &format!("redirect to :{}", self.redirect_port),
        );
        let include = if self.delivered_sets {
            include
        } else {
            without_delivered_sets(&include)
        };
        std::fs::write(lab.dir.join("tftp-proxy.nft"), include).unwrap();
        let mut ruleset =
            String::from("flush ruleset\ndefine int_if = \"lan0\"\ndefine ext_if = \"wan0\"\n");
        if self.include {
            ruleset.push_str(&format!(
                "include \"{}\"\n",
                lab.dir.join("tftp-proxy.nft").display()
            ));
        }
        ruleset.push_str(&format!(
            "table inet filter {{
  chain input {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname \"lo\" accept
    {}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    {}
    iifname $int_if oifname $ext_if accept
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    {}
  }}
}}
",
            if self.input_accept {
                "udp dport 6969 ct status dnat accept"
            } else {
                ""
            },
            if self.forward_dnat_accept {
                "ct status dnat meta l4proto udp accept"
            } else {
                ""
            },
            if self.masquerade_random {
                "oifname $ext_if masquerade random"
            } else {
                "oifname $ext_if fib saddr type local return\n    oifname $ext_if masquerade"
            },
        ));
        let path = lab.dir.join("gateway.nft");
        std::fs::write(&path, ruleset).unwrap();
        lab::run(&mut lab.command("f", &["nft", "-f", &path.to_string_lossy()]));
        if !self.forwarding {
            lab::run(&mut lab.command("f", &["sysctl", "-qw", "net.ipv4.ip_forward=0"]));
        }
        let shipped = std::fs::read_to_string(repo().join("etc/inetd.conf")).unwrap();
        let log = lab.dir.join("log.sock");
        let conf: String = shipped
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                format!(
                    "{} --syslog-socket {}{}\n",
                    l.replace("/usr/local/libexec/tftp-proxy", &self.inetd_program),
                    log.display(),
                    self.inetd_flags
                )
            })
            .collect();
        let conf_path = lab.dir.join("inetd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let inetd = lab::tool("inetd", "openbsd-inetd");
        lab.spawn(
            "inetd",
            "f",
            &[&inetd.to_string_lossy(), "-d", &conf_path.to_string_lossy()],
        );
        lab.wait_for_udp("f", "0.0.0.0", 6969);
        lab
    }
}

/// The include without its `delivered` sets and the postrouting chain
/// counting them.
fn without_delivered_sets(include: &str) -> String {
    let cut = |text: &str, from: &str, to: &str| -> String {
        let start = text
            .find(from)
            .unwrap_or_else(|| panic!("{from} in the include"));
        let end = start
            + text[start..]
                .find(to)
                .unwrap_or_else(|| panic!("{to} in the include"));
        format!("{}{}", &text[..start], &text[end..])
    };
    let text = cut(
        include,
        "\t# The same keys, counting",
        "\tchain prerouting {",
    );
    let text = cut(&text, "\tchain postrouting {", "\tchain output {");
    assert!(
        !text.contains("set delivered") && !text.contains("@delivered"),
        "{text}"
    );
    text
}

/// Runs `--check` on the firewall: its lines and exit code.
fn check(lab: &Lab) -> (Vec<String>, Option<i32>) {
    let log = lab.dir.join("log.sock");
    let out: Output = lab
        .command(
            "f",
            &[HELPER, "--check", "--syslog-socket", &log.to_string_lossy()],
        )
        .output()
        .expect("running tftp-proxy --check");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (lines, out.status.code())
}

fn faults(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.starts_with("FAULT: "))
        .map(String::as_str)
        .collect()
}

/// Breaks the gateway one way and asserts `--check` names exactly that.
fn assert_only_fault(gateway: Gateway, expected: &[&str]) {
    let lab = gateway.start();
    let (lines, code) = check(&lab);
    assert_eq!(
        faults(&lines),
        expected,
        "all lines:\n{}\n{}",
        lines.join("\n"),
        lab.process_logs()
    );
    assert_eq!(
        code,
        Some(1),
        "a fault must fail --check:\n{}",
        lines.join("\n")
    );
}

#[test]
fn a_working_gateway_passes_and_serves() {
    let lab = Gateway::default().start();
    let (lines, code) = check(&lab);
    let inetd_line = format!(
        "ok: inetd ({}) starts {HELPER} on port 6969",
        lab.dir.join("inetd.conf").display()
    );
    for expected in [
        "ok: table inet tftp_proxy is loaded with maps return_v4 and return_v6",
        "ok: chain inet tftp_proxy prerouting redirects UDP port 69 to port 6969",
        "ok: the input path accepts redirected requests to port 6969",
        "ok: the forward path accepts the servers' answers (ct status dnat) and the transfers",
        "ok: no masquerade or snat rewrites the helper's own requests",
        "ok: no conntrack TFTP helper is defined beside tftp-proxy",
        "ok: outcome lines come from the return-path maps' counters and the delivered sets' (counted in postrouting, after the forward chain), not from ICMP errors (a default-drop input chain with ct state invalid drop only hides their ICMP detail)",
        "ok: the helper's requests (mark 0x74667470) leave untracked: servers answering from port 69 work",
        "ok: IPv4 forwarding is on",
        "ok: CAP_NET_ADMIN is available",
        "ok: conntrack answers lookups",
        &inetd_line,
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "missing {expected:?} in:\n{}",
            lines.join("\n")
        );
    }
    // inetd's socket starts with the host's default receive buffer: ok or
    // a warning with the sysctl.d fix, never silent.
    let buffer = lines
        .iter()
        .find(|l| l.contains("net.core.rmem_default gives the socket"))
        .unwrap_or_else(|| panic!("no receive-buffer line in:\n{}", lines.join("\n")));
    assert!(
        buffer.starts_with("ok: ") || buffer.contains("etc/sysctl.d/60-tftp-proxy.conf"),
        "{buffer}"
    );
    assert_eq!(faults(&lines), Vec::<&str>::new(), "{}", lines.join("\n"));
    assert_eq!(code, Some(0), "{}", lines.join("\n"));
    // The lab's inetd line sets no --allow-server: a warning, not a fault.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warning: the helper runs without --allow-server: it forwards to any server a phone names")),
        "no warning about the missing --allow-server in:\n{}",
        lines.join("\n")
    );
    // And the setup --check passed really carries a transfer.
    lab.assert_get("checked.cfg", 2000, 51, "GET through the checked gateway");
    let logged = lab.wait_for_log(1, Duration::from_secs(2), |m| m.contains("checked.cfg"));
    assert_eq!(logged.len(), 1, "{}", lab.process_logs());
}

#[test]
fn an_include_without_the_delivered_sets_is_a_warning_and_still_serves() {
    let lab = Gateway {
        delivered_sets: false,
        ..Gateway::default()
    }
    .start();
    let (lines, code) = check(&lab);
    assert!(
        lines.iter().any(|l| l == "warning: set delivered_v4 and delivered_v6 of table inet tftp_proxy missing, without counter, or looked up in no postrouting chain: an answer the firewall drops is logged \"answered\" instead of \"answer dropped on the firewall\"; load tftp-proxy.nft as shipped"),
        "no warning about the delivered sets in:\n{}",
        lines.join("\n")
    );
    assert_eq!(faults(&lines), Vec::<&str>::new(), "{}", lines.join("\n"));
    assert_eq!(code, Some(0), "{}", lines.join("\n"));
    // The helper falls back to the maps alone: the read works and its
    // outcome still comes from the map's counter.
    lab.assert_get("older.cfg", 1000, 52, "GET through an older include");
    let outcome = lab.wait_for_log(1, Duration::from_secs(6), |m| {
        m.contains("RRQ \"older.cfg\": ")
    });
    assert_eq!(outcome.len(), 1, "{}", lab.process_logs());
    assert!(outcome[0].ends_with(": answered"), "{}", outcome[0]);
}

#[test]
fn missing_include() {
    assert_only_fault(
        Gateway {
            include: false,
            ..Gateway::default()
        },
        &[
            "FAULT: table inet tftp_proxy is not loaded: include tftp-proxy.nft in your nftables ruleset (include \"/usr/local/share/tftp-proxy/tftp-proxy.nft\") and load it, or name the right table with --table",
            "FAULT: no rule redirects UDP port 69 to the helper: include tftp-proxy.nft in your nftables ruleset and define int_if as the phones' interface",
        ],
    );
}

#[test]
fn input_chain_dropping_the_redirected_requests() {
    assert_only_fault(
        Gateway {
            input_accept: false,
            ..Gateway::default()
        },
        &["FAULT: the input path drops redirected requests to port 6969 (IPv4): chain inet filter input drops them (policy drop); add `udp dport 6969 ct status dnat accept` to it"],
    );
}

#[test]
fn forwarding_off() {
    assert_only_fault(
        Gateway {
            forwarding: false,
            ..Gateway::default()
        },
        &["FAULT: IPv4 forwarding is off, so the firewall forwards no answers to the phones: sysctl -w net.ipv4.ip_forward=1 (and set it in /etc/sysctl.d/)"],
    );
}

#[test]
fn forward_chain_dropping_the_answers() {
    assert_only_fault(
        Gateway {
            forward_dnat_accept: false,
            ..Gateway::default()
        },
        &["FAULT: the forward path drops the servers' first answers to the phones: chain inet filter forward drops them (policy drop); add `ct status dnat meta l4proto udp accept` and `ct state established,related accept` to it"],
    );
}

#[test]
fn masquerade_random() {
    assert_only_fault(
        Gateway {
            masquerade_random: true,
            ..Gateway::default()
        },
        &["FAULT: masquerade random in chain inet filter postrouting rewrites the source port of the helper's own requests, so the servers' answers miss their return path: put `oifname \"wan0\" fib saddr type local return` before it"],
    );
}

#[test]
fn redirect_to_another_port_than_inetd_listens_on() {
    let gateway = Gateway {
        redirect_port: 6970,
        ..Gateway::default()
    };
    let lab = gateway.start();
    let (lines, code) = check(&lab);
    let expected = [
        "FAULT: the input path drops redirected requests to port 6970 (IPv4): chain inet filter input drops them (policy drop); add `udp dport 6970 ct status dnat accept` to it".to_owned(),
        format!(
            "FAULT: inetd ({}) starts tftp-proxy on port 6969, but the firewall redirects requests to port 6970: make the inetd line and the redirect rule name the same port, then restart inetd",
            lab.dir.join("inetd.conf").display()
        ),
    ];
    assert_eq!(faults(&lines), expected, "{}", lines.join("\n"));
    assert_eq!(code, Some(1));
}

#[test]
fn inetd_line_naming_a_missing_binary() {
    let gateway = Gateway {
        inetd_program: "/usr/local/libexec/tftp-proxyy".to_owned(),
        ..Gateway::default()
    };
    let lab = gateway.start();
    let (lines, code) = check(&lab);
    let expected = [format!(
        "FAULT: inetd ({}) starts /usr/local/libexec/tftp-proxyy on port 6969, which does not exist or is not executable: install the helper there or correct the line, then restart inetd",
        lab.dir.join("inetd.conf").display()
    )];
    assert_eq!(faults(&lines), expected, "{}", lines.join("\n"));
    assert_eq!(code, Some(1));
}

#[test]
fn inetd_line_with_a_mistyped_flag() {
    let gateway = Gateway {
        inetd_flags: " --tabel tftp_proxy".to_owned(),
        ..Gateway::default()
    };
    let lab = gateway.start();
    let (lines, code) = check(&lab);
    let expected = [format!(
        "FAULT: inetd ({}) starts tftp-proxy on port 6969 with arguments it refuses (unexpected argument '--tabel' found): correct them, then restart inetd",
        lab.dir.join("inetd.conf").display()
    )];
    assert_eq!(faults(&lines), expected, "{}", lines.join("\n"));
    assert_eq!(code, Some(1));
}

#[test]
fn unreachable_syslog_and_no_privilege() {
    let lab = Gateway::default().start();
    let missing = lab.dir.join("no-such.sock");
    let out = lab
        .command(
            "f",
            &[
                HELPER,
                "--check",
                "--syslog-socket",
                &missing.to_string_lossy(),
            ],
        )
        .output()
        .expect("running tftp-proxy --check");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        faults(&lines),
        [format!(
            "FAULT: the syslog socket {} is not reachable (No such file or directory (os error 2)): start a syslog daemon (rsyslog, or systemd-journald's /dev/log), or name a reachable socket with --syslog-socket",
            missing.display()
        )],
        "{}",
        lines.join("\n")
    );
    assert_eq!(out.status.code(), Some(1));

    // As an unprivileged user: no capability, no ruleset, no conntrack.
    // (A copy in the lab's directory: the build tree may not be
    // reachable for nobody.)
    let copy = lab.dir.join("tftp-proxy");
    std::fs::copy(HELPER, &copy).expect("copying the helper");
    let copy = copy.to_string_lossy().into_owned();
    let setpriv = lab::tool("setpriv", "util-linux");
    let log = lab.dir.join("log.sock");
    let out = lab
        .command(
            "f",
            &[
                &setpriv.to_string_lossy(),
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                &copy,
                "--check",
                "--syslog-socket",
                &log.to_string_lossy(),
            ],
        )
        .output()
        .expect("running tftp-proxy --check as nobody");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l
                == "FAULT: CAP_NET_ADMIN is not available: run --check (and the helper) as root"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAULT: cannot read the nftables ruleset (")),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1));
}
