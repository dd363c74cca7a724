//! inetd.conf lines, as both openbsd-inetd (Debian) and OpenBSD's inetd
//! read them: `[address:]service socket-type protocol wait[.max] user
//! program [arguments]`. Pure parsing and judging; the caller reads files.

use super::Finding;
use std::path::Path;

/// One service line of an inetd.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InetdLine {
    /// The service field without any `address:` part.
    pub service: String,
    /// `udp`, `udp6`, `tcp`, ...
    pub protocol: String,
    /// The program's path.
    pub program: String,
    /// The arguments, `argv[0]` first.
    pub arguments: Vec<String>,
}

impl InetdLine {
    /// The port the line listens on, if its service field is a number.
    pub fn port(&self) -> Option<u16> {
        self.service.parse().ok()
    }

    /// Whether the line starts tftp-proxy (by program or `argv[0]` name).
    pub fn is_helper(&self) -> bool {
        let name = |s: &str| Path::new(s).file_name().is_some_and(|n| n == "tftp-proxy");
        name(&self.program) || self.arguments.first().is_some_and(|a| name(a))
    }
}

/// The service lines of an inetd.conf text (comments and blank lines
/// skipped; lines with too few fields ignored).
pub fn parse(text: &str) -> Vec<InetdLine> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 6 {
                return None;
            }
            // "127.0.0.1:6969", "[::1]:6969", "6969".
            let service = match fields[0].rsplit_once(':') {
                Some((_, port)) => port,
                None => fields[0],
            };
            Some(InetdLine {
                service: service.to_owned(),
                protocol: fields[2].to_owned(),
                program: fields[5].to_owned(),
                arguments: fields[6..].iter().map(|s| s.to_string()).collect(),
            })
        })
        .collect()
}

/// Replaces service names (FreeBSD's inetd takes only names) by the UDP
/// port `services` (an /etc/services text) gives them; names it lacks
/// stay as they are.
pub fn resolve_services(lines: &mut [InetdLine], services: &str) {
    for line in lines.iter_mut().filter(|l| l.port().is_none()) {
        let port = services.lines().find_map(|entry| {
            let entry = entry.split('#').next().unwrap_or_default();
            let mut fields = entry.split_whitespace();
            let name = fields.next()?;
            let (port, protocol) = fields.next()?.split_once('/')?;
            let aliases: Vec<&str> = fields.collect();
            let named = name == line.service || aliases.contains(&line.service.as_str());
            (named && protocol == "udp").then(|| port.to_owned())
        });
        if let Some(port) = port {
            line.service = port;
        }
    }
}

/// What [`judge`] asks of the system about a line's program.
pub struct Programs<'a> {
    /// Whether a program path exists and may be run.
    pub executable: &'a dyn Fn(&str) -> bool,
    /// Whether the helper accepts these arguments (`argv[0]` first), or
    /// the reason it refuses them.
    pub arguments: &'a dyn Fn(&[String]) -> Result<(), String>,
}

/// Judges the helper's lines in one inetd configuration (`source` names
/// it in the findings) against the port the firewall redirects to: the
/// port, the program, and the program's arguments (a bad flag makes every
/// start fail). Returns `None` when the configuration has no tftp-proxy
/// line at all.
pub fn judge(
    source: &str,
    lines: &[InetdLine],
    port: u16,
    programs: &Programs<'_>,
) -> Option<Finding> {
    let helpers: Vec<&InetdLine> = lines
        .iter()
        .filter(|l| l.is_helper() && l.protocol.starts_with("udp"))
        .collect();
    if helpers.is_empty() {
        return None;
    }
    let on_port: Vec<&&InetdLine> = helpers.iter().filter(|l| l.port() == Some(port)).collect();
    if on_port.is_empty() {
        let mut services: Vec<&str> = helpers.iter().map(|l| l.service.as_str()).collect();
        services.dedup();
        return Some(Finding::fault(format!(
            "{source} starts tftp-proxy on port {}, but the firewall redirects requests to port {port}: make the inetd line and the redirect rule name the same port, then restart inetd",
            services.join(", ")
        )));
    }
    if let Some(missing) = on_port.iter().find(|l| !(programs.executable)(&l.program)) {
        return Some(Finding::fault(format!(
            "{source} starts {} on port {port}, which does not exist or is not executable: install the helper there or correct the line, then restart inetd",
            missing.program
        )));
    }
    for line in &on_port {
        if let Err(e) = (programs.arguments)(&line.arguments) {
            return Some(Finding::fault(format!(
                "{source} starts tftp-proxy on port {port} with arguments it refuses ({e}): correct them, then restart inetd"
            )));
        }
    }
    Some(Finding::ok(format!(
        "{source} starts {} on port {port}",
        on_port[0].program
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = "# comment\n6969\tdgram\tudp\twait.1000\troot\t/usr/local/libexec/tftp-proxy\ttftp-proxy\n[::1]:6969 dgram udp6 wait root /usr/local/libexec/tftp-proxy tftp-proxy -v\ntftp dgram udp wait root /usr/sbin/in.tftpd in.tftpd -s /srv\n";

    #[test]
    fn parses_service_lines() {
        let lines = parse(SHIPPED);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].port(), Some(6969));
        assert_eq!(lines[1].service, "6969");
        assert_eq!(lines[1].protocol, "udp6");
        assert_eq!(lines[1].arguments, ["tftp-proxy", "-v"]);
        assert!(lines[0].is_helper() && lines[1].is_helper());
        assert!(!lines[2].is_helper());
        assert_eq!(lines[2].port(), None);
    }

    #[test]
    fn judges_port_and_program() {
        let lines = parse(SHIPPED);
        let accept = |_: &[String]| Ok(());
        let all = &Programs {
            executable: &|_| true,
            arguments: &accept,
        };
        assert_eq!(
            judge("inetd (/etc/inetd.conf)", &lines, 6969, all)
                .unwrap()
                .to_string(),
            "ok: inetd (/etc/inetd.conf) starts /usr/local/libexec/tftp-proxy on port 6969"
        );
        assert_eq!(
            judge("inetd (/etc/inetd.conf)", &lines, 6970, all).unwrap().to_string(),
            "FAULT: inetd (/etc/inetd.conf) starts tftp-proxy on port 6969, but the firewall redirects requests to port 6970: make the inetd line and the redirect rule name the same port, then restart inetd"
        );
        let none = &Programs {
            executable: &|_| false,
            arguments: &accept,
        };
        let finding = judge("inetd (/etc/inetd.conf)", &lines, 6969, none).unwrap();
        assert_eq!(finding.status, super::super::Status::Fault);
        assert!(finding
            .text
            .contains("/usr/local/libexec/tftp-proxy on port 6969, which does not exist"));
        assert_eq!(
            judge("x", &parse("tftp dgram udp wait root /a b\n"), 6969, all),
            None
        );
    }

    #[test]
    fn service_names_resolve_through_etc_services() {
        let mut lines = parse(
            "tftp-proxy\tdgram\tudp\twait\troot\t/usr/local/libexec/tftp-proxy\ttftp-proxy\nunknown dgram udp wait root /x x\n",
        );
        resolve_services(
            &mut lines,
            "# comment\ntftp\t69/udp\ntftp-proxy\t6969/tcp\ntftp-proxy\t6969/udp\t# the helper\n",
        );
        assert_eq!(lines[0].port(), Some(6969));
        assert_eq!(lines[1].service, "unknown");
        let mut aliased = parse("tp dgram udp wait root /x x\n");
        resolve_services(&mut aliased, "tftp-proxy 7000/udp tp\n");
        assert_eq!(aliased[0].port(), Some(7000));
    }

    #[test]
    fn judges_arguments() {
        let refuse_v = |a: &[String]| {
            if a.iter().any(|x| x == "-v") {
                Err("unexpected argument '-v'".to_owned())
            } else {
                Ok(())
            }
        };
        let programs = &Programs {
            executable: &|_| true,
            arguments: &refuse_v,
        };
        assert_eq!(
            judge("inetd (/etc/inetd.conf)", &parse(SHIPPED), 6969, programs).unwrap().to_string(),
            "FAULT: inetd (/etc/inetd.conf) starts tftp-proxy on port 6969 with arguments it refuses (unexpected argument '-v'): correct them, then restart inetd"
        );
    }
}
