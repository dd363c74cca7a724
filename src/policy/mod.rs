//! What may pass the proxy, as pure functions: client and server allow
//! lists (CIDR), the permitted transfer direction, optional strict
//! filenames, and the destinations that must never be proxied to
//! (unspecified, broadcast, multicast, the firewall itself).
//!
//! This module only decides; it must not do IO, log, read configuration
//! or touch the firewall, and it never parses wire bytes itself (that is
//! [`crate::tftp`]). Every decision is a value: `Ok(())` or a [`Refusal`]
//! whose `Display` is the log reason and whose [`Refusal::tftp_message`]
//! is what the client is told.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are treated as the IPv4
//! address they carry everywhere here, so a dual-stack socket cannot be
//! used to slip past an IPv4 rule.

mod cidr;
mod client;
mod destination;

pub use cidr::{unmap, Cidr, CidrError};
pub use client::{
    check_client, check_route, check_route_back, is_scoped, subnet_router_anycast, ClientRefusal,
    RouteToClient,
};
pub use destination::{check_destination, Host};

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use thiserror::Error;

use crate::tftp::{ErrorCode, Kind, Request};

/// Which transfer directions are allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Access {
    /// RRQ and WRQ.
    #[default]
    ReadWrite,
    /// RRQ only.
    ReadOnly,
    /// WRQ only.
    WriteOnly,
}

/// An unrecognised [`Access`] name.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{0:?} is not an access mode: expected read-write, read-only or write-only")]
pub struct AccessError(pub String);

impl Access {
    /// Whether a transfer of this kind is allowed.
    pub fn permits(self, kind: Kind) -> bool {
        match (self, kind) {
            (Access::ReadWrite, _)
            | (Access::ReadOnly, Kind::Read)
            | (Access::WriteOnly, Kind::Write) => true,
            (Access::ReadOnly, Kind::Write) | (Access::WriteOnly, Kind::Read) => false,
        }
    }

    /// The name used in configuration: "read-write", "read-only", "write-only".
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadWrite => "read-write",
            Access::ReadOnly => "read-only",
            Access::WriteOnly => "write-only",
        }
    }
}

impl fmt::Display for Access {
    /// The configuration name, see [`Access::as_str`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Access {
    type Err = AccessError;

    /// Parses "read-write", "read-only" or "write-only" (exact).
    fn from_str(s: &str) -> Result<Access, AccessError> {
        [Access::ReadWrite, Access::ReadOnly, Access::WriteOnly]
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| AccessError(s.to_owned()))
    }
}

/// Renders one byte for a log line, single-quoted: printable ASCII as is,
/// `'` and `\` backslash-escaped, anything else as `\xNN`.
struct QuotedByte(u8);

impl fmt::Display for QuotedByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\'' => f.write_str("'\\''"),
            b'\\' => f.write_str("'\\\\'"),
            b @ 0x20..=0x7e => write!(f, "'{}'", char::from(b)),
            b => write!(f, "'\\x{b:02x}'"),
        }
    }
}

/// Why a request or destination may not pass. `Display` is the reason for
/// the log; [`Refusal::tftp_message`] is the short text for the client.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The client address matches no `--allow-client` network.
    #[error("client {0} is not in --allow-client")]
    ClientNotAllowed(IpAddr),
    /// The server address matches no `--allow-server` network.
    #[error("server {0} is not in --allow-server (the helper's command line)")]
    ServerNotAllowed(IpAddr),
    /// A WRQ while access is read-only.
    #[error("WRQ refused: read-only")]
    ReadOnly,
    /// An RRQ while access is write-only.
    #[error("RRQ refused: write-only")]
    WriteOnly,
    /// A filename byte outside `[A-Za-z0-9._-]` under strict filenames.
    #[error("filename has byte {} which --strict-filenames refuses", QuotedByte(*.0))]
    FilenameByte(u8),
    /// The destination is 0.0.0.0 or `::`.
    #[error("destination {0} is unspecified")]
    Unspecified(IpAddr),
    /// The destination is 255.255.255.255.
    #[error("destination 255.255.255.255 is the limited broadcast address")]
    LimitedBroadcast,
    /// The destination is the broadcast address of one of the firewall's
    /// interfaces.
    #[error("destination {0} is a broadcast address")]
    Broadcast(IpAddr),
    /// The destination is an IPv4 or IPv6 multicast address.
    #[error("destination {0} is a multicast address")]
    Multicast(IpAddr),
    /// The destination is a loopback address (127.0.0.0/8 or `::1`).
    #[error("destination {0} is a loopback address")]
    Loopback(IpAddr),
    /// The destination is one of the firewall's own addresses.
    #[error("destination {0} is one of the firewall's own addresses")]
    OwnAddress(IpAddr),
    /// The destination is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`):
    /// the request would leave over IPv4 while its return path lives in
    /// the IPv6 map, so it is refused rather than half served.
    #[error("destination {0} is an IPv4-mapped IPv6 address (ask for the IPv4 address itself)")]
    Mapped(IpAddr),
    /// The destination is link-local (or otherwise scoped): its meaning
    /// depends on an interface the request and the map cannot name.
    #[error("destination {0} is a link-local address, which cannot be proxied")]
    Scoped(IpAddr),
}

impl Refusal {
    /// The short reason sent to the client in a TFTP ERROR packet.
    pub fn tftp_message(&self) -> &'static str {
        match self {
            Refusal::ClientNotAllowed(_) => "client not allowed",
            Refusal::ServerNotAllowed(_) => "server not in the proxy's --allow-server",
            Refusal::ReadOnly => "read-only",
            Refusal::WriteOnly => "write-only",
            Refusal::FilenameByte(_) => "filename not allowed",
            Refusal::Unspecified(_)
            | Refusal::LimitedBroadcast
            | Refusal::Broadcast(_)
            | Refusal::Multicast(_)
            | Refusal::Loopback(_)
            | Refusal::OwnAddress(_)
            | Refusal::Mapped(_)
            | Refusal::Scoped(_) => "destination not allowed",
        }
    }

    /// The TFTP error code sent with [`Refusal::tftp_message`]: always
    /// access violation.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::AccessViolation
    }
}

/// Whether `byte` may appear in a filename under strict filenames:
/// ASCII letters, digits, `.`, `-` and `_`.
pub fn is_strict_filename_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_')
}

/// Whether `ip` is in one of `list`; an empty list allows everything.
fn allowed(list: &[Cidr], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|c| c.contains(ip))
}

/// The rules a request must satisfy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Networks clients may come from; empty allows any client.
    pub allow_clients: Vec<Cidr>,
    /// Networks servers may be in; empty allows any server.
    pub allow_servers: Vec<Cidr>,
    /// The transfer directions allowed.
    pub access: Access,
    /// Refuse filenames with bytes other than `[A-Za-z0-9._-]`.
    pub strict_filenames: bool,
}

impl Policy {
    /// Decides whether `request` from `client` to `server` may pass.
    ///
    /// Checks, in order: the client allow list, the server allow list,
    /// the access direction, then strict filenames (reporting the first
    /// refused byte). Addresses are unmapped first and reported unmapped.
    /// Destination sanity is a separate check, [`check_destination`].
    pub fn check(
        &self,
        request: &Request<'_>,
        client: IpAddr,
        server: IpAddr,
    ) -> Result<(), Refusal> {
        let client = unmap(client);
        let server = unmap(server);
        if !allowed(&self.allow_clients, client) {
            return Err(Refusal::ClientNotAllowed(client));
        }
        if !allowed(&self.allow_servers, server) {
            return Err(Refusal::ServerNotAllowed(server));
        }
        if !self.access.permits(request.kind()) {
            return Err(match request.kind() {
                Kind::Write => Refusal::ReadOnly,
                Kind::Read => Refusal::WriteOnly,
            });
        }
        if self.strict_filenames {
            if let Some(&byte) = request
                .filename()
                .iter()
                .find(|&&b| !is_strict_filename_byte(b))
            {
                return Err(Refusal::FilenameByte(byte));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    pub(super) fn cidr(s: &str) -> Cidr {
        match s.parse() {
            Ok(c) => c,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    const RRQ: &[u8] = b"\x00\x01pxelinux.0\x00octet\x00";
    const WRQ: &[u8] = b"\x00\x02config-backup_1.txt\x00octet\x00";

    fn request(bytes: &[u8]) -> Request<'_> {
        Request::parse(bytes).expect("test request")
    }

    fn check(policy: &Policy, bytes: &[u8], client: &str, server: &str) -> Result<(), Refusal> {
        policy.check(&request(bytes), ip(client), ip(server))
    }

    // ---- Access ----

    #[test]
    fn access_names() {
        for a in [Access::ReadWrite, Access::ReadOnly, Access::WriteOnly] {
            assert_eq!(a.to_string().parse::<Access>(), Ok(a));
        }
        assert!("ro".parse::<Access>().is_err());
        assert_eq!(Access::default(), Access::ReadWrite);
    }

    // ---- Policy::check ----

    #[test]
    fn default_policy_allows_everything() {
        let p = Policy::default();
        assert_eq!(check(&p, RRQ, "192.0.2.9", "198.51.100.7"), Ok(()));
        assert_eq!(check(&p, WRQ, "2001:db8::9", "2001:db8:1::7"), Ok(()));
        assert_eq!(
            check(
                &p,
                b"\x00\x01../etc/passwd\x00octet\x00",
                "192.0.2.9",
                "198.51.100.7"
            ),
            Ok(())
        );
    }

    #[test]
    fn client_allow_list() {
        let p = Policy {
            allow_clients: vec![cidr("192.0.2.0/24"), cidr("2001:db8::/32")],
            ..Policy::default()
        };
        assert_eq!(check(&p, RRQ, "192.0.2.9", "198.51.100.7"), Ok(()));
        assert_eq!(check(&p, RRQ, "::ffff:192.0.2.9", "198.51.100.7"), Ok(()));
        assert_eq!(check(&p, RRQ, "2001:db8::9", "198.51.100.7"), Ok(()));
        let e = check(&p, RRQ, "203.0.113.9", "198.51.100.7").unwrap_err();
        assert_eq!(e, Refusal::ClientNotAllowed(ip("203.0.113.9")));
        assert_eq!(e.to_string(), "client 203.0.113.9 is not in --allow-client");
        assert_eq!(e.tftp_message(), "client not allowed");
        assert_eq!(
            check(&p, RRQ, "::ffff:203.0.113.9", "198.51.100.7"),
            Err(Refusal::ClientNotAllowed(ip("203.0.113.9"))),
            "reported unmapped"
        );
    }

    #[test]
    fn server_allow_list() {
        let p = Policy {
            allow_servers: vec![cidr("198.51.100.0/24")],
            ..Policy::default()
        };
        assert_eq!(check(&p, RRQ, "192.0.2.9", "198.51.100.7"), Ok(()));
        let e = check(&p, RRQ, "192.0.2.9", "203.0.113.7").unwrap_err();
        assert_eq!(e, Refusal::ServerNotAllowed(ip("203.0.113.7")));
        assert_eq!(
            e.to_string(),
            "server 203.0.113.7 is not in --allow-server (the helper's command line)"
        );
        assert_eq!(e.tftp_message(), "server not in the proxy's --allow-server");
        assert_eq!(
            check(&p, RRQ, "192.0.2.9", "2001:db8::7"),
            Err(Refusal::ServerNotAllowed(ip("2001:db8::7")))
        );
    }

    #[test]
    fn client_checked_before_server() {
        let p = Policy {
            allow_clients: vec![cidr("192.0.2.0/24")],
            allow_servers: vec![cidr("198.51.100.0/24")],
            ..Policy::default()
        };
        assert_eq!(
            check(&p, RRQ, "203.0.113.1", "203.0.113.2"),
            Err(Refusal::ClientNotAllowed(ip("203.0.113.1")))
        );
    }

    #[test]
    fn read_only_refuses_wrq() {
        let p = Policy {
            access: Access::ReadOnly,
            ..Policy::default()
        };
        assert_eq!(check(&p, RRQ, "192.0.2.9", "198.51.100.7"), Ok(()));
        let e = check(&p, WRQ, "192.0.2.9", "198.51.100.7").unwrap_err();
        assert_eq!(e, Refusal::ReadOnly);
        assert_eq!(e.to_string(), "WRQ refused: read-only");
        assert_eq!(e.tftp_message(), "read-only");
    }

    #[test]
    fn policy_applies_to_requests_the_liberal_parse_forwards() {
        // Mode without its NUL, NUL padding, a repeated option: the servers
        // take these, and so the policy must judge them like any other.
        let wrq = b"\x00\x02upload.bin\x00octet";
        let rrq = b"\x00\x01a b.cfg\x00octet\x00blksize\x00512\x00BLKSIZE\x001\x00\x00\x00";
        let read_only = Policy {
            access: Access::ReadOnly,
            ..Policy::default()
        };
        assert_eq!(
            check(&read_only, wrq, "192.0.2.9", "198.51.100.7"),
            Err(Refusal::ReadOnly)
        );
        let strict = Policy {
            strict_filenames: true,
            allow_servers: vec![cidr("198.51.100.0/24")],
            ..Policy::default()
        };
        assert_eq!(
            check(&strict, rrq, "192.0.2.9", "198.51.100.7"),
            Err(Refusal::FilenameByte(b' '))
        );
        assert_eq!(
            check(&strict, wrq, "192.0.2.9", "203.0.113.7"),
            Err(Refusal::ServerNotAllowed(ip("203.0.113.7")))
        );
        assert_eq!(check(&strict, wrq, "192.0.2.9", "198.51.100.7"), Ok(()));
    }

    #[test]
    fn write_only_refuses_rrq() {
        let p = Policy {
            access: Access::WriteOnly,
            ..Policy::default()
        };
        assert_eq!(check(&p, WRQ, "192.0.2.9", "198.51.100.7"), Ok(()));
        let e = check(&p, RRQ, "192.0.2.9", "198.51.100.7").unwrap_err();
        assert_eq!(e, Refusal::WriteOnly);
        assert_eq!(e.to_string(), "RRQ refused: write-only");
        assert_eq!(e.tftp_message(), "write-only");
    }

    #[test]
    fn strict_filenames_accept_safe_names() {
        let p = Policy {
            strict_filenames: true,
            ..Policy::default()
        };
        assert_eq!(check(&p, RRQ, "192.0.2.9", "198.51.100.7"), Ok(()));
        assert_eq!(check(&p, WRQ, "192.0.2.9", "198.51.100.7"), Ok(()));
        assert_eq!(
            check(
                &p,
                b"\x00\x01AZaz09.-_\x00octet\x00",
                "192.0.2.9",
                "198.51.100.7"
            ),
            Ok(())
        );
    }

    #[test]
    fn strict_filenames_refuse_slash() {
        let p = Policy {
            strict_filenames: true,
            ..Policy::default()
        };
        let e = check(
            &p,
            b"\x00\x01boot/../x\x00octet\x00",
            "192.0.2.9",
            "198.51.100.7",
        )
        .unwrap_err();
        assert_eq!(e, Refusal::FilenameByte(b'/'));
        assert_eq!(
            e.to_string(),
            "filename has byte '/' which --strict-filenames refuses"
        );
        assert_eq!(e.tftp_message(), "filename not allowed");
    }

    #[test]
    fn strict_filenames_escape_reported_byte() {
        let p = Policy {
            strict_filenames: true,
            ..Policy::default()
        };
        let cases: [(&[u8], &str); 5] = [
            (b"\x00\x01a\x01\x00octet\x00", "'\\x01'"),
            (b"\x00\x01a\xff\x00octet\x00", "'\\xff'"),
            (b"\x00\x01a b\x00octet\x00", "' '"),
            (b"\x00\x01it's\x00octet\x00", "'\\''"),
            (b"\x00\x01a\\b\x00octet\x00", "'\\\\'"),
        ];
        for (bytes, shown) in cases {
            let e = check(&p, bytes, "192.0.2.9", "198.51.100.7").unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("filename has byte {shown} which --strict-filenames refuses")
            );
        }
    }

    #[test]
    fn access_checked_before_filename() {
        let p = Policy {
            access: Access::ReadOnly,
            strict_filenames: true,
            ..Policy::default()
        };
        assert_eq!(
            check(&p, b"\x00\x02a/b\x00octet\x00", "192.0.2.9", "198.51.100.7"),
            Err(Refusal::ReadOnly)
        );
    }

    #[test]
    fn refusals_use_access_violation() {
        assert_eq!(Refusal::ReadOnly.error_code(), ErrorCode::AccessViolation);
        assert_eq!(
            Refusal::LimitedBroadcast.error_code(),
            ErrorCode::AccessViolation
        );
    }
}
