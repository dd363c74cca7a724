//! Judgements over pfctl's text and the system's answers that OpenBSD and
//! FreeBSD share: pf enabled, /dev/pf writable, the securelevel, an
//! anchor line of the main ruleset, a NAT rule that would rewrite the
//! helper's own requests, pf's anchor limit, the UDP receive space, the
//! helper's user. Each platform's file passes
//! what differs (its fix, its securelevel limit, which rules are NAT).
//! Pure functions, tested on every system.

use super::{burst, Finding};
use crate::firewall::pf::limits;

/// The tokens of one pfctl output line.
pub fn tokens(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `port = 69` or `port = tftp` at token `i`, as pfctl prints it.
pub fn is_tftp_port(t: &[&str], i: usize) -> bool {
    t.get(i) == Some(&"port")
        && t.get(i + 1) == Some(&"=")
        && matches!(t.get(i + 2), Some(&"69") | Some(&"tftp"))
}

/// `pfctl -s info`: enabled or not; `enable` says how to enable it.
pub fn check_enabled(info: &str, enable: &str) -> Finding {
    let status = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Status:"))
        .and_then(|s| s.split_whitespace().next());
    match status {
        Some("Enabled") => Finding::ok("pf is enabled"),
        Some(other) => Finding::fault(format!("pf is {other}: enable it with {enable}")),
        None => Finding::fault("pfctl -s info printed no status: is pf available?"),
    }
}

/// Opening /dev/pf for writing: `Ok` or the error.
pub fn check_device(open: Result<(), std::io::Error>) -> Finding {
    match open {
        Ok(()) => Finding::ok("/dev/pf opens for writing"),
        Err(e) => Finding::fault(format!(
            "/dev/pf does not open for writing ({e}): run --check and the helper as root"
        )),
    }
}

/// `sysctl -n kern.securelevel`: pf refuses rule changes above `highest`
/// (OpenBSD 1, FreeBSD 2); `fix` says how to lower it.
pub fn check_securelevel(value: &str, highest: i32, fix: &str) -> Finding {
    match value.trim().parse::<i32>() {
        Ok(level) if level <= highest => {
            Finding::ok(format!("securelevel {level} allows pf rule changes"))
        }
        Ok(level) => Finding::fault(format!(
            "securelevel {level} forbids pf rule changes, so no return path can be installed: {fix}"
        )),
        Err(_) => Finding::fault(format!("cannot read kern.securelevel ({value:?})")),
    }
}

/// Whether pfctl's listing of a ruleset holds the rule `keyword
/// "<parent>/*"` (`anchor`, `rdr-anchor`): a real rule, not a child
/// anchor left in `pfctl -s Anchors`.
pub fn has_anchor_line(rules: &str, keyword: &str, parent: &str) -> bool {
    let quoted = format!("\"{parent}/*\"");
    rules.lines().any(|l| {
        let t = tokens(l);
        t.first() == Some(&keyword) && t.get(1) == Some(&quoted.as_str())
    })
}

/// A NAT rule (as `is_nat` tells) that also rewrites the helper's own
/// requests (from the firewall's address to port 69): one whose source is
/// `any`, `self` or an interface's own address rather than the inside
/// network.
pub fn check_nat(rules: &str, is_nat: impl Fn(&[&str]) -> bool) -> Finding {
    for line in rules.lines() {
        let t = tokens(line);
        if !is_nat(&t) || t.contains(&"static-port") {
            continue;
        }
        let from = t
            .iter()
            .position(|w| *w == "from")
            .and_then(|i| t.get(i + 1));
        // "all" is how pfctl prints "from any to any".
        let source = match from {
            None if t.contains(&"all") => "any",
            None => continue,
            Some(s) => s,
        };
        let catches_firewall = source == "any"
            || source == "self"
            || (source.starts_with('(') && !source.contains(":network"));
        if catches_firewall {
            return Finding::fault(format!(
                "`{}` also rewrites the helper's own requests to the servers (their source port is what the return path waits on): restrict its source to the inside network, e.g. `from ($int_if:network)`",
                line.trim()
            ));
        }
    }
    Finding::ok("no NAT rule rewrites the helper's own requests")
}

/// `pfctl -s rules`: whether pf checks sources itself, a second layer
/// under the helper's own client check. pfctl prints `urpf-failed` as the
/// source of a `block ... from urpf-failed` rule (every interface: the
/// source must be routed back out of the interface it came in on), and
/// expands `antispoof for <if>` into `block ... in on ! <if> ... from
/// <if's network>` (only that interface's networks are protected, on the
/// other interfaces). Not having either is no fault: the helper refuses
/// forged clients itself; but the datagrams queued on inetd's socket
/// before the helper starts carry no arrival interface, and only pf
/// judges theirs.
pub fn check_reverse_path(rules: &str) -> Finding {
    let blocks = rules
        .lines()
        .map(tokens)
        .filter(|t| t.first() == Some(&"block"));
    let mut guarded: Vec<String> = Vec::new();
    for t in blocks {
        if t.windows(2).any(|w| w == ["from", "urpf-failed"]) {
            return Finding::ok(
                "pf blocks sources that fail its reverse-path check (urpf-failed): a second layer under the helper's own client check",
            );
        }
        if let Some(i) = t.windows(3).position(|w| w[0] == "on" && w[1] == "!") {
            let interface = t[i + 2].to_owned();
            if t.contains(&"in") && !guarded.contains(&interface) {
                guarded.push(interface);
            }
        }
    }
    let fix = "for a full second layer add `block in quick from urpf-failed` to pf.conf";
    if guarded.is_empty() {
        Finding::ok(format!(
            "pf checks no source addresses (no urpf-failed or antispoof rule): the helper refuses forged clients itself, but the requests queued before it starts are checked by route only, not by interface; {fix}"
        ))
    } else {
        Finding::ok(format!(
            "pf's antispoof guards the networks of {} only (a phone can still forge another network's address); the helper refuses forged clients itself; {fix}",
            guarded.join(", ")
        ))
    }
}

/// The anchor limit in `pfctl -s memory` output (`anchors       hard
/// limit      512`, pfctl_show_limits() in sbin/pfctl/pfctl.c);
/// `Some(u32::MAX)` for `unlimited`.
pub fn anchor_limit(memory: &str) -> Option<u32> {
    memory.lines().find_map(|line| {
        let t = tokens(line);
        match t.as_slice() {
            ["anchors", "unlimited"] => Some(u32::MAX),
            ["anchors", "hard", "limit", n] => n.parse().ok(),
            _ => None,
        }
    })
}

/// `pfctl -s memory`: pf's anchor limit against what the helper may hold.
/// Each live return path holds one anchor for the transfer wait: a limit
/// below the storm the shipped pf.conf is sized for
/// ([`limits::anchors_for_storm`]) turns phones away as busy in a boot
/// storm, and one at or below twice `--max-per-client` lets a single
/// client address take half of every anchor on the firewall (ftp-proxy's
/// and relayd's included).
/// `None` when pfctl printed no anchor limit (the caller says what that
/// means on its system).
pub fn check_anchor_limit(memory: &str, max_per_client: u64) -> Option<Finding> {
    let limit = anchor_limit(memory)?;
    let storm = limits::anchors_for_storm(limits::STORM_PHONES, limits::STORM_FILES);
    let fix = format!(
        "add `{}` to /etc/pf.conf and reload it (pfctl -f /etc/pf.conf)",
        limits::RAISE_LINE
    );
    Some(if u64::from(limit) <= 2 * max_per_client {
        Finding::warning(format!(
            "pf's anchor limit is {limit}, while one client address may hold {max_per_client} return paths (--max-per-client), one anchor each: a single host can take most of pf's anchors; {fix}, or lower --max-per-client"
        ))
    } else if limit < storm {
        Finding::warning(format!(
            "pf's anchor limit is {limit}: a boot storm of {} phones fetching {} files each needs up to {storm} anchors within one transfer wait, and past the limit phones are told the proxy is busy; {fix}",
            limits::STORM_PHONES,
            limits::STORM_FILES
        ))
    } else {
        Finding::ok(format!(
            "pf's anchor limit {limit} holds a {}-phone storm ({storm}) and is above twice --max-per-client ({max_per_client})",
            limits::STORM_PHONES
        ))
    })
}

/// `sysctl -n net.inet.udp.recvspace`: room on the listening socket for
/// the first requests of a boot storm, which arrive before the helper
/// runs and enlarges the socket's buffer ([`burst`]).
pub fn check_receive_space(value: &str) -> Finding {
    let Ok(bytes) = value.trim().parse::<usize>() else {
        return Finding::warning(format!(
            "cannot read net.inet.udp.recvspace ({:?})",
            value.trim()
        ));
    };
    let fits = burst::bsd_phones_that_fit(bytes);
    let need = burst::bsd_receive_space(burst::PHONES_TO_FIT);
    if bytes < need {
        Finding::warning(format!(
            "net.inet.udp.recvspace is {bytes} bytes: the first requests of {fits} phones fit before the helper runs, not of {} (needs {need}); a phone whose request is dropped waits for its retransmission: add net.inet.udp.recvspace={} to /etc/sysctl.conf and run sysctl net.inet.udp.recvspace={}",
            burst::PHONES_TO_FIT,
            burst::SHIPPED_BSD_RECEIVE_SPACE,
            burst::SHIPPED_BSD_RECEIVE_SPACE
        ))
    } else {
        Finding::ok(format!(
            "net.inet.udp.recvspace {bytes} bytes holds the first requests of {fits} phones before the helper runs"
        ))
    }
}

/// /etc/passwd: the helper's unprivileged user exists; `origin` says
/// where the default one comes from.
pub fn check_user(passwd: &str, user: &str, origin: &str) -> Finding {
    if passwd.lines().any(|l| l.split(':').next() == Some(user)) {
        Finding::ok(format!("user {user} exists"))
    } else {
        Finding::fault(format!(
            "user {user} does not exist: {origin}; name another with -u"
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reverse_path_layer_is_read_from_the_rules() {
        use crate::check::Status;
        let urpf = "block drop in quick from urpf-failed to any label \"uRPF\"\npass all\n";
        let f = check_reverse_path(urpf);
        assert_eq!(f.status, Status::Ok);
        assert!(
            f.text.contains("urpf-failed): a second layer"),
            "{}",
            f.text
        );
        let antispoof = "block drop in quick on ! em1 inet from 192.0.2.0/24 to any\nblock drop in quick inet from 192.0.2.1 to any\nblock drop in quick on ! em1 inet6 from 2001:db8:1::/64 to any\n";
        let f = check_reverse_path(antispoof);
        assert!(f.text.contains("networks of em1 only"), "{}", f.text);
        assert!(f.text.contains("block in quick from urpf-failed"));
        let none = "block drop all\npass in on em1 from urpf-failed to any\npass out all\n";
        let f = check_reverse_path(none);
        assert!(
            f.text.starts_with("pf checks no source addresses"),
            "{}",
            f.text
        );
    }

    use super::*;
    use crate::check::Status;

    #[test]
    fn enabled_device_securelevel() {
        assert_eq!(
            check_enabled("Status: Disabled for 0 days\n", "pfctl -e").to_string(),
            "FAULT: pf is Disabled: enable it with pfctl -e"
        );
        assert_eq!(check_enabled("", "x").status, Status::Fault);
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(check_device(Err(denied)).status, Status::Fault);
        assert_eq!(check_securelevel("2", 2, "x").status, Status::Ok);
        assert_eq!(check_securelevel("3", 2, "x").status, Status::Fault);
        assert_eq!(check_securelevel("2", 1, "x").status, Status::Fault);
        assert_eq!(check_securelevel("nope", 1, "x").status, Status::Fault);
    }

    #[test]
    fn anchor_lines_by_keyword() {
        let rules = "rdr-anchor \"tftp-proxy/*\" all\nanchor \"relayd/*\" all\n";
        assert!(has_anchor_line(rules, "rdr-anchor", "tftp-proxy"));
        assert!(!has_anchor_line(rules, "anchor", "tftp-proxy"));
        assert!(has_anchor_line(rules, "anchor", "relayd"));
    }

    #[test]
    fn nat_sources() {
        let nat_to = |t: &[&str]| t.contains(&"nat-to");
        assert_eq!(
            check_nat("match out on egress inet all nat-to (em0:0)\n", nat_to).status,
            Status::Fault
        );
        assert_eq!(
            check_nat("match out from (em1:network) to any nat-to (em0)\n", nat_to).status,
            Status::Ok
        );
    }
}
