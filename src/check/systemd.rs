//! The shipped systemd units as `--check` judges them: the socket unit
//! listens on the port the firewall redirects to, and the service starts
//! an existing helper with arguments it accepts. Pure; the caller reads
//! the files.

use super::inetd::Programs;
use super::Finding;

/// The port of a `ListenDatagram=` value: `6969`, `0.0.0.0:6969`,
/// `[::]:6969`.
fn listen_port(value: &str) -> Option<u16> {
    value.trim().rsplit(':').next()?.parse().ok()
}

/// The units that start the helper: the source's, and the Debian
/// package's (named after the package, beside Debian's unrelated
/// tftp-proxy.service).
pub const UNIT_NAMES: [&str; 2] = ["tftp-proxy", "tftp-nat-proxy"];

/// The socket unit's `ReceiveBuffer=` in bytes (suffixes K, M, G to the
/// base 1024, as systemd.socket(5) reads them), if it sets one.
pub fn receive_buffer(socket: &str) -> Option<usize> {
    let value = socket
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("ReceiveBuffer="))?
        .trim();
    let (digits, unit) = match value.char_indices().last()? {
        (at, 'K') => (&value[..at], 1 << 10),
        (at, 'M') => (&value[..at], 1 << 20),
        (at, 'G') => (&value[..at], 1 << 30),
        _ => (value, 1),
    };
    digits.trim().parse::<usize>().ok()?.checked_mul(unit)
}

/// Judges a socket unit (`socket`, at path `socket_name`, e.g.
/// `.../tftp-proxy.socket`) and the service of the same name (`service`)
/// against `port`.
pub fn judge(
    socket_name: &str,
    socket: &str,
    service: &str,
    port: u16,
    programs: &Programs<'_>,
) -> Finding {
    let unit = std::path::Path::new(socket_name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("tftp-proxy");
    let ports: Vec<u16> = socket
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ListenDatagram="))
        .filter_map(listen_port)
        .collect();
    if !ports.contains(&port) {
        return Finding::fault(format!(
            "{socket_name} does not listen on port {port}, where the firewall redirects requests: set ListenDatagram={port}, then systemctl restart {unit}.socket"
        ));
    }
    let argv: Vec<String> = service
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    // ExecStart= may carry prefixes such as "-" or "+" before the path.
    let program = argv
        .first()
        .map(|p| p.trim_start_matches(['-', '@', ':', '+', '!']).to_owned())
        .unwrap_or_default();
    if !(programs.executable)(&program) {
        return Finding::fault(format!(
            "{unit}.service starts {program:?}, which does not exist or is not executable: install the helper there or correct ExecStart="
        ));
    }
    if let Err(e) = (programs.arguments)(&argv) {
        return Finding::fault(format!(
            "{unit}.service starts tftp-proxy with arguments it refuses ({e}): correct ExecStart="
        ));
    }
    Finding::ok(format!(
        "systemd socket {socket_name} starts {program} on port {port}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    const SOCKET: &str = include_str!("../../etc/tftp-proxy.socket");

    #[test]
    fn receive_buffer_read_with_suffixes() {
        use crate::check::burst;
        assert_eq!(
            receive_buffer(SOCKET).map(|b| burst::linux_phones_that_fit(2 * b)),
            Some(crate::check::burst::STORM_PHONES),
            "the shipped unit holds a storm"
        );
        assert_eq!(receive_buffer("ReceiveBuffer=4M\n"), Some(4 << 20));
        assert_eq!(receive_buffer("ReceiveBuffer=8K"), Some(8192));
        assert_eq!(receive_buffer(" ReceiveBuffer= 1000 "), Some(1000));
        assert_eq!(receive_buffer("ReceiveBuffer=lots"), None);
        assert_eq!(receive_buffer("ListenDatagram=6969"), None);
    }
    const SERVICE: &str = include_str!("../../etc/tftp-proxy.service");

    /// Judges with a program that exists (`p.0`) and refuses its
    /// arguments with `p.1`, if given.
    fn run(socket: &str, service: &str, port: u16, p: (bool, Option<&'static str>)) -> Finding {
        let executable = move |_: &str| p.0;
        let arguments = move |_: &[String]| p.1.map_or(Ok(()), |e| Err(e.to_owned()));
        judge(
            "/etc/systemd/system/tftp-proxy.socket",
            socket,
            service,
            port,
            &Programs {
                executable: &executable,
                arguments: &arguments,
            },
        )
    }

    #[test]
    fn the_shipped_units_pass() {
        assert_eq!(
            run(SOCKET, SERVICE, 6969, (true, None)).to_string(),
            "ok: systemd socket /etc/systemd/system/tftp-proxy.socket starts /usr/local/libexec/tftp-proxy on port 6969"
        );
    }

    #[test]
    fn wrong_port_missing_program_bad_arguments() {
        let f = run(SOCKET, SERVICE, 6970, (true, None));
        assert_eq!(f.status, Status::Fault);
        assert!(f.text.contains("does not listen on port 6970"), "{f}");
        let f = run(SOCKET, SERVICE, 6969, (false, None));
        assert!(
            f.text.starts_with(
                "tftp-proxy.service starts \"/usr/local/libexec/tftp-proxy\", which does not exist"
            ),
            "{f}"
        );
        let f = run(
            SOCKET,
            SERVICE,
            6969,
            (true, Some("unexpected argument '-x' found")),
        );
        assert!(
            f.text
                .contains("arguments it refuses (unexpected argument '-x' found)"),
            "{f}"
        );
    }

    #[test]
    fn the_debian_packages_units_are_named_in_the_findings() {
        let executable = |_: &str| false;
        let arguments = |_: &[String]| Ok(());
        let programs = Programs {
            executable: &executable,
            arguments: &arguments,
        };
        let socket = "/usr/lib/systemd/system/tftp-nat-proxy.socket";
        let f = judge(socket, SOCKET, SERVICE, 6970, &programs);
        assert!(
            f.text.ends_with("systemctl restart tftp-nat-proxy.socket"),
            "{f}"
        );
        let f = judge(socket, SOCKET, SERVICE, 6969, &programs);
        assert!(f.text.starts_with("tftp-nat-proxy.service starts"), "{f}");
    }

    #[test]
    fn listen_forms() {
        assert_eq!(listen_port("6969"), Some(6969));
        assert_eq!(listen_port("0.0.0.0:6969"), Some(6969));
        assert_eq!(listen_port("[::]:6969"), Some(6969));
        assert_eq!(listen_port("/run/x.sock"), None);
        let f = run(
            "[Socket]\nListenDatagram=[::]:6969\n",
            "ExecStart=-/usr/libexec/tftp-proxy -v\n",
            6969,
            (true, None),
        );
        assert_eq!(f.status, Status::Ok, "{f}");
        assert!(f.text.contains("starts /usr/libexec/tftp-proxy on"), "{f}");
    }
}
