//! xinetd's service blocks (`service NAME { key = value ... }`), as
//! pfSense starts tftp-proxy: each UDP service turned into the
//! [`InetdLine`] the inetd judge reads, with the address it binds. Pure
//! parsing; the caller reads the files.

use super::inetd::InetdLine;
use std::path::Path;

/// One xinetd service, as far as the helper's checks care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XinetdService {
    /// The service as an inetd line: port, `udp`/`udp6`, server, `argv`.
    pub line: InetdLine,
    /// The `bind` address, if any (else every address).
    pub bind: Option<String>,
}

/// The services of an xinetd configuration text (`xinetd.conf` or a file
/// of `xinetd.d`); blocks without a `port` or `server` are left out, as
/// are `defaults` and disabled services.
pub fn parse(text: &str) -> Vec<XinetdService> {
    let mut services = Vec::new();
    let mut block: Option<Vec<(String, String)>> = None;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        match line {
            "" => {}
            "{" => block = Some(Vec::new()),
            "}" => {
                if let Some(service) = block.take().and_then(|b| service(&b)) {
                    services.push(service);
                }
            }
            _ => {
                if let (Some(b), Some((key, value))) = (block.as_mut(), line.split_once('=')) {
                    b.push((key.trim().to_owned(), value.trim().to_owned()));
                }
            }
        }
    }
    services
}

fn service(pairs: &[(String, String)]) -> Option<XinetdService> {
    let get = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if get("disable") == Some("yes") || get("socket_type") != Some("dgram") {
        return None;
    }
    let port = get("port")?;
    let server = get("server")?;
    let ipv6 = get("flags").is_some_and(|f| f.split_whitespace().any(|f| f == "IPv6"));
    // xinetd starts the server with its file name as argv[0].
    let name = Path::new(server)
        .file_name()
        .map_or_else(|| server.to_owned(), |n| n.to_string_lossy().into_owned());
    let mut arguments = vec![name];
    arguments.extend(
        get("server_args")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned),
    );
    Some(XinetdService {
        line: InetdLine {
            service: port.to_owned(),
            protocol: if ipv6 { "udp6" } else { "udp" }.to_owned(),
            program: server.to_owned(),
            arguments,
        },
        bind: get("bind").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_two_udp_services() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/xinetd.d/tftp-proxy"),
        )
        .unwrap();
        let services = parse(&text);
        assert_eq!(services.len(), 2, "{services:?}");
        for s in &services {
            assert_eq!(s.line.port(), Some(6969));
            assert_eq!(s.line.program, "/usr/local/libexec/tftp-proxy");
            assert_eq!(s.line.arguments, ["tftp-proxy", "-v"]);
            assert!(s.line.is_helper());
        }
        assert_eq!(services[0].line.protocol, "udp");
        assert_eq!(services[1].line.protocol, "udp6");
    }

    #[test]
    fn defaults_disabled_and_stream_services_are_left_out() {
        let text = "defaults\n{\n  instances = 60\n}\nservice a\n{\n socket_type = stream\n port = 1\n server = /a\n}\nservice b\n{\n socket_type = dgram\n disable = yes\n port = 2\n server = /b\n}\nservice c\n{\n socket_type = dgram # c\n port = 3\n server = /usr/local/libexec/tftp-proxy\n bind = 192.0.2.1\n}\n";
        let services = parse(text);
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].line.port(), Some(3));
        assert_eq!(services[0].bind.as_deref(), Some("192.0.2.1"));
        assert_eq!(services[0].line.arguments, ["tftp-proxy"]);
    }
}
