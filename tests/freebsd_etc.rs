//! The shipped FreeBSD and pfSense files agree with each other: pf
//! redirects the requests to the addresses and port xinetd binds, inetd's
//! service name resolves to that port through the documented
//! /etc/services line, and the anchors are the ones the helper fills.
//! (No FreeBSD machine runs them in CI; this keeps them consistent.)

use std::collections::BTreeSet;
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

/// The (address, port) pairs the `rdr ... -> address port p` lines name.
fn rdr_targets(pf_conf: &str) -> BTreeSet<(String, String)> {
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
            (target[0].to_owned(), target[2].to_owned())
        })
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
fn pf_redirects_where_xinetd_listens() {
    let targets = rdr_targets(&shipped("pf.conf.freebsd"));
    let expected: BTreeSet<(String, String)> = [("127.0.0.1", "6969"), ("::1", "6969")]
        .into_iter()
        .map(|(a, p)| (a.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(targets, expected);
    let services = xinetd_services(&shipped("xinetd.d/tftp-proxy"));
    let bound: BTreeSet<(String, String)> = services
        .iter()
        .map(|s| (get(s, "bind").to_owned(), get(s, "port").to_owned()))
        .collect();
    assert_eq!(bound, targets);
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
    let line = rules(&inetd);
    assert_eq!(line.len(), 1, "one inetd.conf line");
    let fields: Vec<&str> = line[0].split_whitespace().collect();
    assert_eq!(
        fields,
        [
            name,
            "dgram",
            "udp",
            "wait",
            "root",
            "/usr/local/libexec/tftp-proxy",
            "tftp-proxy"
        ]
    );
    assert!(
        inetd.contains("-a 127.0.0.1"),
        "inetd bound to the redirect's address"
    );
}
