//! The shipped FreeBSD and pfSense files agree with each other: pf
//! redirects the requests to addresses and a port xinetd and inetd listen
//! on, never IPv6 to a loopback address (FreeBSD drops it), inetd's
//! service name resolves to that port through the documented
//! /etc/services line, and the anchors are the ones the helper fills.
//! (No FreeBSD machine runs them in CI; this keeps them consistent.)

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines that are not comments or blank.
fn rules(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The `name = "value"` macros of a pf.conf.
fn macros(pf_conf: &str) -> BTreeMap<String, String> {
    rules(pf_conf)
        .into_iter()
        .filter_map(|l| {
            let (name, value) = l.split_once('=')?;
            let value = value.split('#').next()?.trim().strip_prefix('"')?;
            Some((name.trim().to_owned(), value.strip_suffix('"')?.to_owned()))
        })
        .collect()
}

/// The (address, port) pairs the `rdr ... -> address port p` lines name,
/// macros expanded.
fn rdr_targets(pf_conf: &str) -> BTreeSet<(IpAddr, String)> {
    let macros = macros(pf_conf);
    rules(pf_conf)
        .into_iter()
        .filter(|l| l.starts_with("rdr ") && l.contains("port tftp"))
        .map(|l| {
            let target: Vec<&str> = l
                .split("->")
                .nth(1)
                .expect("rdr target")
                .split_whitespace()
                .collect();
            assert_eq!(target.get(1), Some(&"port"), "{l}");
            let address = match target[0].strip_prefix('$') {
                Some(name) => macros
                    .get(name)
                    .unwrap_or_else(|| panic!("no macro {name}")),
                None => target[0],
            };
            let address = address
                .parse()
                .unwrap_or_else(|e| panic!("{l}: target {address}: {e}"));
            (address, target[2].to_owned())
        })
        .collect()
}

/// The IPv6 redirect targets FreeBSD would drop: loopback addresses
/// (ip6_input() refuses them on another interface after pf's rewrite).
fn loopback_ipv6_targets(targets: &BTreeSet<(IpAddr, String)>) -> Vec<IpAddr> {
    targets
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| a.is_ipv6() && a.is_loopback())
        .collect()
}

/// The value of `key = value` lines in each xinetd service block.
fn xinetd_services(text: &str) -> Vec<Vec<(String, String)>> {
    let mut services = Vec::new();
    let mut current = None;
    for line in rules(text) {
        match line {
            "{" => current = Some(Vec::new()),
            "}" => services.push(current.take().expect("a block")),
            _ => {
                if let (Some(block), Some((key, value))) = (current.as_mut(), line.split_once('='))
                {
                    block.push((key.trim().to_owned(), value.trim().to_owned()));
                }
            }
        }
    }
    services
}

fn get<'a>(service: &'a [(String, String)], key: &str) -> &'a str {
    service
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("xinetd service without {key}"))
}

#[test]
fn ipv6_is_redirected_to_an_address_freebsd_accepts() {
    let pf_conf = shipped("pf.conf.freebsd");
    let targets = rdr_targets(&pf_conf);
    assert!(
        targets.iter().any(|(a, _)| a.is_ipv6()),
        "no IPv6 redirect: {targets:?}"
    );
    assert_eq!(loopback_ipv6_targets(&targets), Vec::<IpAddr>::new());
    // The check above catches the old redirect to ::1.
    let old = pf_conf.replace("-> $int_ip6 port", "-> ::1 port");
    assert_eq!(
        loopback_ipv6_targets(&rdr_targets(&old)),
        ["::1".parse::<IpAddr>().unwrap()]
    );
    // IPv4 to 127.0.0.1 is what pfSense does, and works.
    assert!(targets.contains(&("127.0.0.1".parse().unwrap(), "6969".to_owned())));
}

#[test]
fn pf_redirects_where_xinetd_listens() {
    let targets = rdr_targets(&shipped("pf.conf.freebsd"));
    let services = xinetd_services(&shipped("xinetd.d/tftp-proxy"));
    assert_eq!(services.len(), 2, "one service per address family");
    for (address, port) in &targets {
        let listening = services.iter().any(|s| {
            let ipv6 = s.iter().any(|(k, v)| k == "flags" && v.contains("IPv6"));
            let bind: IpAddr = get(s, "bind").parse().expect("bind address");
            get(s, "port") == port
                && ipv6 == address.is_ipv6()
                && (bind == *address || bind.is_unspecified())
        });
        assert!(
            listening,
            "no xinetd service listens on {address} port {port}"
        );
    }
    for service in &services {
        // pfSense's generated service, as FreeBSD's tftp-proxy needs it.
        assert_eq!(get(service, "socket_type"), "dgram");
        assert_eq!(get(service, "protocol"), "udp");
        assert_eq!(get(service, "wait"), "yes");
        assert_eq!(get(service, "user"), "root");
        assert_eq!(get(service, "server"), "/usr/local/libexec/tftp-proxy");
        assert_eq!(get(service, "server_args"), "-v");
    }
}

#[test]
fn pf_conf_has_both_anchors_the_helper_fills() {
    let pf_conf = shipped("pf.conf.freebsd");
    let lines = rules(&pf_conf);
    let position = |rule: &str| lines.iter().position(|l| *l == rule);
    let rdr_anchor = position("rdr-anchor \"tftp-proxy/*\"").expect("rdr-anchor");
    let anchor = position("anchor \"tftp-proxy/*\"").expect("filter anchor");
    // FreeBSD's pf.conf order: translation rules before filter rules.
    let first_filter = lines
        .iter()
        .position(|l| l.starts_with("pass") || l.starts_with("block"))
        .expect("filter rules");
    let last_translation = lines
        .iter()
        .rposition(|l| l.starts_with("rdr") || l.starts_with("nat"))
        .expect("translation rules");
    assert!(rdr_anchor < last_translation && last_translation < anchor);
    assert!(anchor < first_filter, "the anchor comes before any block");
}

#[test]
fn inetd_service_name_resolves_to_the_redirect_port() {
    let inetd = shipped("inetd.conf.freebsd");
    let services_line = inetd
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(str::trim)
        .find(|l| l.ends_with("/udp"))
        .expect("the documented /etc/services line");
    let (name, port) = services_line
        .split_once(char::is_whitespace)
        .expect("name and port");
    assert_eq!(port.trim(), "6969/udp");
    let lines = rules(&inetd);
    assert_eq!(lines.len(), 2, "one inetd.conf line per address family");
    for (line, protocol) in lines.iter().zip(["udp", "udp6"]) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            fields,
            [
                name,
                "dgram",
                protocol,
                "wait",
                "root",
                "/usr/local/libexec/tftp-proxy",
                "tftp-proxy"
            ]
        );
    }
    // Every redirect goes to port 6969, where inetd binds every address
    // of each family: no -a (which would bind one address only, and no
    // IPv6 line with an IPv4 one).
    let targets = rdr_targets(&shipped("pf.conf.freebsd"));
    assert!(
        targets.iter().all(|(_, port)| port == "6969"),
        "{targets:?}"
    );
    let flags = inetd
        .lines()
        .find(|l| l.contains("inetd_flags="))
        .expect("the documented inetd_flags");
    assert!(!flags.contains("-a"), "{flags}");
}
