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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use thiserror::Error;

use crate::tftp::{ErrorCode, Kind, Request};

/// The address itself, or the IPv4 address an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) carries.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// An IP network: an address and a prefix length, host bits all zero.
///
/// Parsed from `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a host
/// route, /32 or /128). A prefix with host bits set (`192.0.2.1/24`) is
/// refused rather than silently widened, since in an allow list it is
/// more likely a typo than a network. An IPv4-mapped network with a prefix
/// of at least 96 (`::ffff:192.0.2.0/120`) becomes the IPv4 network it
/// describes (`192.0.2.0/24`), matching how addresses are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a string or address/prefix pair is not a [`Cidr`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CidrError {
    /// The part before any `/` is not an IPv4 or IPv6 address.
    #[error("{input:?} is not an IPv4 or IPv6 address")]
    InvalidAddress {
        /// The address text as given.
        input: String,
    },
    /// The part after `/` is not a plain decimal number.
    #[error("prefix length {input:?} is not a decimal number")]
    InvalidPrefix {
        /// The prefix text as given.
        input: String,
    },
    /// The prefix length exceeds the address width.
    #[error("prefix length /{prefix} is longer than the {max} bits of an {family} address")]
    PrefixTooLong {
        /// The prefix length as given.
        prefix: String,
        /// 32 or 128.
        max: u8,
        /// "IPv4" or "IPv6".
        family: &'static str,
    },
    /// The address has bits set beyond the prefix.
    #[error("{given} has host bits set; did you mean {network}?")]
    HostBitsSet {
        /// The address and prefix as given.
        given: String,
        /// The network with the host bits cleared.
        network: Cidr,
    },
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

fn family(ip: IpAddr) -> (&'static str, u8) {
    match ip {
        IpAddr::V4(_) => ("IPv4", 32),
        IpAddr::V6(_) => ("IPv6", 128),
    }
}

impl Cidr {
    /// The network `addr/prefix`; refused when the prefix is longer than
    /// the address or host bits are set. IPv4-mapped networks of prefix
    /// 96 or more become IPv4 networks.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        Cidr::build(addr, prefix, &prefix.to_string())
    }

    /// A host route: the single address `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Cidr {
        let prefix = family(addr).1;
        // Cannot fail: a full-length prefix has no host bits.
        Cidr::build(addr, prefix, "").unwrap_or(Cidr {
            network: addr,
            prefix,
        })
    }

    fn build(addr: IpAddr, prefix: u8, prefix_text: &str) -> Result<Cidr, CidrError> {
        let given = format!("{addr}/{prefix_text}");
        let (name, max) = family(addr);
        if prefix > max {
            return Err(CidrError::PrefixTooLong {
                prefix: prefix_text.to_owned(),
                max,
                family: name,
            });
        }
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix.saturating_sub(96)),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let network = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_v4(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_v6(prefix))),
        };
        let cidr = Cidr { network, prefix };
        if network != addr {
            return Err(CidrError::HostBitsSet {
                given,
                network: cidr,
            });
        }
        Ok(cidr)
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in this network. An IPv4-mapped IPv6 address is
    /// matched as its IPv4 address; otherwise IPv4 never matches an IPv6
    /// network or the reverse (`::/0` is all of IPv6, not IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_v4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_v6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `address/prefix` or a bare address (a host route).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| CidrError::InvalidAddress {
            input: addr_text.to_owned(),
        })?;
        let Some(prefix_text) = prefix_text else {
            return Ok(Cidr::host(addr));
        };
        if prefix_text.is_empty() || !prefix_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::InvalidPrefix {
                input: prefix_text.to_owned(),
            });
        }
        let (name, max) = family(addr);
        let too_long = || CidrError::PrefixTooLong {
            prefix: prefix_text.to_owned(),
            max,
            family: name,
        };
        let prefix: u8 = prefix_text.parse().map_err(|_| too_long())?;
        Cidr::build(addr, prefix, prefix_text)
    }
}

impl fmt::Display for Cidr {
    /// Always `network/prefix`, e.g. `192.0.2.0/24` or `192.0.2.7/32`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

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
    #[error("server {0} is not in --allow-server")]
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
}

impl Refusal {
    /// The short reason sent to the client in a TFTP ERROR packet.
    pub fn tftp_message(&self) -> &'static str {
        match self {
            Refusal::ClientNotAllowed(_) => "client not allowed",
            Refusal::ServerNotAllowed(_) => "server not allowed",
            Refusal::ReadOnly => "read-only",
            Refusal::WriteOnly => "write-only",
            Refusal::FilenameByte(_) => "filename not allowed",
            Refusal::Unspecified(_)
            | Refusal::LimitedBroadcast
            | Refusal::Broadcast(_)
            | Refusal::Multicast(_)
            | Refusal::Loopback(_)
            | Refusal::OwnAddress(_) => "destination not allowed",
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

/// The firewall's own view of itself, for [`check_destination`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// Every address of the firewall's interfaces.
    pub addresses: Vec<IpAddr>,
    /// The broadcast addresses of the firewall's interfaces.
    pub broadcasts: Vec<IpAddr>,
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// Refuses destinations a proxied request must never go to: unspecified
/// (0.0.0.0, `::`), the limited broadcast 255.255.255.255, multicast,
/// loopback, any of `host.broadcasts`, and any of `host.addresses` (no
/// loops through the firewall). Checked in that order; IPv4-mapped
/// addresses are unmapped first, on both sides.
pub fn check_destination(server: IpAddr, host: &Host) -> Result<(), Refusal> {
    let server = unmap(server);
    let listed = |list: &[IpAddr]| list.iter().any(|&a| unmap(a) == server);
    if server.is_unspecified() {
        Err(Refusal::Unspecified(server))
    } else if server == IpAddr::V4(Ipv4Addr::BROADCAST) {
        Err(Refusal::LimitedBroadcast)
    } else if server.is_multicast() {
        Err(Refusal::Multicast(server))
    } else if is_loopback(server) {
        Err(Refusal::Loopback(server))
    } else if listed(&host.broadcasts) {
        Err(Refusal::Broadcast(server))
    } else if listed(&host.addresses) {
        Err(Refusal::OwnAddress(server))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn cidr(s: &str) -> Cidr {
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

    // ---- Cidr ----

    #[test]
    fn cidr_v4() {
        let c = cidr("192.0.2.0/24");
        assert_eq!(c.network(), ip("192.0.2.0"));
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert!(c.contains(ip("192.0.2.0")));
        assert!(c.contains(ip("192.0.2.255")));
        assert!(!c.contains(ip("192.0.3.0")));
        assert!(!c.contains(ip("192.0.1.255")));
        assert!(!c.contains(ip("2001:db8::1")));
    }

    #[test]
    fn cidr_v6() {
        let c = cidr("2001:db8::/32");
        assert_eq!(c.to_string(), "2001:db8::/32");
        assert!(c.contains(ip("2001:db8::1")));
        assert!(c.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!c.contains(ip("2001:db9::")));
        assert!(!c.contains(ip("192.0.2.1")));
    }

    #[test]
    fn cidr_bare_address_is_host_route() {
        let c = cidr("192.0.2.7");
        assert_eq!(c, cidr("192.0.2.7/32"));
        assert_eq!(c.to_string(), "192.0.2.7/32");
        assert!(c.contains(ip("192.0.2.7")));
        assert!(!c.contains(ip("192.0.2.6")));
        let c = cidr("2001:db8::7");
        assert_eq!(c.prefix_len(), 128);
        assert!(c.contains(ip("2001:db8::7")));
        assert!(!c.contains(ip("2001:db8::8")));
        assert_eq!(Cidr::host(ip("2001:db8::7")), c);
    }

    #[test]
    fn cidr_v4_slash_0_and_32() {
        let all = cidr("0.0.0.0/0");
        assert!(all.contains(ip("0.0.0.0")));
        assert!(all.contains(ip("255.255.255.255")));
        assert!(all.contains(ip("::ffff:198.51.100.1")));
        assert!(!all.contains(ip("::1")));
        let one = cidr("198.51.100.1/32");
        assert!(one.contains(ip("198.51.100.1")));
        assert!(!one.contains(ip("198.51.100.0")));
    }

    #[test]
    fn cidr_v6_slash_0_and_128() {
        let all = cidr("::/0");
        assert!(all.contains(ip("::")));
        assert!(all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(!all.contains(ip("192.0.2.1")));
        assert!(!all.contains(ip("::ffff:192.0.2.1")), "mapped is IPv4");
        let one = cidr("2001:db8::1/128");
        assert!(one.contains(ip("2001:db8::1")));
        assert!(!one.contains(ip("2001:db8::")));
    }

    #[test]
    fn cidr_odd_prefix_lengths() {
        let c = cidr("10.128.0.0/9");
        assert!(c.contains(ip("10.255.255.255")));
        assert!(!c.contains(ip("10.127.255.255")));
        let c = cidr("2001:db8:8000::/33");
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db8:7fff::1")));
    }

    #[test]
    fn mapped_address_matches_v4_network() {
        let c = cidr("192.0.2.0/24");
        assert!(c.contains(ip("::ffff:192.0.2.9")));
        assert!(!c.contains(ip("::ffff:192.0.3.9")));
        // IPv4-compatible (deprecated) addresses are not mapped ones.
        assert!(!c.contains(ip("::192.0.2.9")));
    }

    #[test]
    fn mapped_network_becomes_v4() {
        let c = cidr("::ffff:192.0.2.0/120");
        assert_eq!(c, cidr("192.0.2.0/24"));
        assert_eq!(c.to_string(), "192.0.2.0/24");
        assert!(c.contains(ip("192.0.2.1")));
        assert_eq!(cidr("::ffff:192.0.2.1"), cidr("192.0.2.1/32"));
        assert_eq!(cidr("::ffff:0:0/96"), cidr("0.0.0.0/0"));
        assert_eq!(
            "::ffff:192.0.2.1/120"
                .parse::<Cidr>()
                .unwrap_err()
                .to_string(),
            "::ffff:192.0.2.1/120 has host bits set; did you mean 192.0.2.0/24?"
        );
    }

    #[test]
    fn cidr_invalid_address() {
        for s in [
            "",
            "/24",
            "192.0.2/24",
            "300.0.0.0/8",
            "example.org",
            " 192.0.2.0/24",
        ] {
            assert!(
                matches!(s.parse::<Cidr>(), Err(CidrError::InvalidAddress { .. })),
                "{s}"
            );
        }
        let e = "nope/8".parse::<Cidr>().unwrap_err();
        assert_eq!(e.to_string(), "\"nope\" is not an IPv4 or IPv6 address");
    }

    #[test]
    fn cidr_invalid_prefix() {
        for s in [
            "192.0.2.0/",
            "192.0.2.0/+24",
            "192.0.2.0/24 ",
            "192.0.2.0/x",
            "::/-1",
            "::/1/2",
        ] {
            assert!(
                matches!(s.parse::<Cidr>(), Err(CidrError::InvalidPrefix { .. })),
                "{s}"
            );
        }
        assert_eq!(
            "192.0.2.0/x".parse::<Cidr>().unwrap_err().to_string(),
            "prefix length \"x\" is not a decimal number"
        );
    }

    #[test]
    fn cidr_prefix_too_long() {
        let e = "192.0.2.0/33".parse::<Cidr>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "prefix length /33 is longer than the 32 bits of an IPv4 address"
        );
        assert!(matches!(
            "2001:db8::/129".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { max: 128, .. })
        ));
        assert!(matches!(
            "::/99999999999999999999".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { max: 128, .. })
        ));
        assert!(matches!(
            Cidr::new(ip("192.0.2.0"), 40),
            Err(CidrError::PrefixTooLong { max: 32, .. })
        ));
    }

    #[test]
    fn cidr_host_bits_refused() {
        let e = "192.0.2.1/24".parse::<Cidr>().unwrap_err();
        assert_eq!(
            e,
            CidrError::HostBitsSet {
                given: "192.0.2.1/24".to_owned(),
                network: cidr("192.0.2.0/24")
            }
        );
        assert_eq!(
            e.to_string(),
            "192.0.2.1/24 has host bits set; did you mean 192.0.2.0/24?"
        );
        assert!(matches!(
            "2001:db8::1/32".parse::<Cidr>(),
            Err(CidrError::HostBitsSet { .. })
        ));
        assert!(matches!(
            Cidr::new(ip("10.0.0.1"), 0),
            Err(CidrError::HostBitsSet { .. })
        ));
    }

    #[test]
    fn cidr_display_round_trips() {
        for s in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "192.0.2.7/32",
            "::/0",
            "2001:db8::/32",
            "::1/128",
        ] {
            assert_eq!(cidr(s).to_string(), s);
            assert_eq!(cidr(&cidr(s).to_string()), cidr(s));
        }
        assert_eq!(Cidr::new(ip("10.0.0.0"), 8), Ok(cidr("10.0.0.0/8")));
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
        assert_eq!(e.to_string(), "server 203.0.113.7 is not in --allow-server");
        assert_eq!(e.tftp_message(), "server not allowed");
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

    // ---- check_destination ----

    fn host() -> Host {
        Host {
            addresses: vec![
                ip("192.0.2.1"),
                ip("198.51.100.1"),
                ip("2001:db8::1"),
                ip("127.0.0.1"),
            ],
            broadcasts: vec![ip("192.0.2.255"), ip("198.51.100.255")],
        }
    }

    #[test]
    fn ordinary_destinations_pass() {
        let h = host();
        for s in [
            "198.51.100.7",
            "203.0.113.5",
            "2001:db8:1::7",
            "fe80::1",
            "::ffff:198.51.100.7",
        ] {
            assert_eq!(check_destination(ip(s), &h), Ok(()), "{s}");
        }
        assert_eq!(check_destination(ip("10.0.0.1"), &Host::default()), Ok(()));
    }

    #[test]
    fn unspecified_refused() {
        let h = host();
        let e = check_destination(ip("0.0.0.0"), &h).unwrap_err();
        assert_eq!(e, Refusal::Unspecified(ip("0.0.0.0")));
        assert_eq!(e.to_string(), "destination 0.0.0.0 is unspecified");
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("::"), &h),
            Err(Refusal::Unspecified(ip("::")))
        );
        assert_eq!(
            check_destination(ip("::ffff:0.0.0.0"), &h),
            Err(Refusal::Unspecified(ip("0.0.0.0")))
        );
    }

    #[test]
    fn limited_broadcast_refused() {
        let e = check_destination(ip("255.255.255.255"), &Host::default()).unwrap_err();
        assert_eq!(e, Refusal::LimitedBroadcast);
        assert_eq!(
            e.to_string(),
            "destination 255.255.255.255 is the limited broadcast address"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("::ffff:255.255.255.255"), &Host::default()),
            Err(Refusal::LimitedBroadcast)
        );
    }

    #[test]
    fn interface_broadcast_refused() {
        let e = check_destination(ip("198.51.100.255"), &host()).unwrap_err();
        assert_eq!(e, Refusal::Broadcast(ip("198.51.100.255")));
        assert_eq!(
            e.to_string(),
            "destination 198.51.100.255 is a broadcast address"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("::ffff:192.0.2.255"), &host()),
            Err(Refusal::Broadcast(ip("192.0.2.255")))
        );
        // Not a broadcast on a host without that interface.
        assert_eq!(
            check_destination(ip("198.51.100.255"), &Host::default()),
            Ok(())
        );
    }

    #[test]
    fn multicast_refused() {
        let e = check_destination(ip("224.0.0.1"), &host()).unwrap_err();
        assert_eq!(e, Refusal::Multicast(ip("224.0.0.1")));
        assert_eq!(
            e.to_string(),
            "destination 224.0.0.1 is a multicast address"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("239.255.255.250"), &host()),
            Err(Refusal::Multicast(ip("239.255.255.250")))
        );
        assert_eq!(
            check_destination(ip("ff02::1"), &host()),
            Err(Refusal::Multicast(ip("ff02::1")))
        );
    }

    #[test]
    fn loopback_refused() {
        for s in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            let e = check_destination(ip(s), &Host::default()).unwrap_err();
            assert_eq!(e, Refusal::Loopback(unmap(ip(s))), "{s}");
            assert_eq!(e.tftp_message(), "destination not allowed");
        }
        assert_eq!(
            check_destination(ip("::1"), &Host::default())
                .unwrap_err()
                .to_string(),
            "destination ::1 is a loopback address"
        );
    }

    #[test]
    fn own_address_refused() {
        let e = check_destination(ip("192.0.2.1"), &host()).unwrap_err();
        assert_eq!(e, Refusal::OwnAddress(ip("192.0.2.1")));
        assert_eq!(
            e.to_string(),
            "destination 192.0.2.1 is one of the firewall's own addresses"
        );
        assert_eq!(e.tftp_message(), "destination not allowed");
        assert_eq!(
            check_destination(ip("2001:db8::1"), &host()),
            Err(Refusal::OwnAddress(ip("2001:db8::1")))
        );
        assert_eq!(
            check_destination(ip("::ffff:198.51.100.1"), &host()),
            Err(Refusal::OwnAddress(ip("198.51.100.1")))
        );
        let mapped_host = Host {
            addresses: vec![ip("::ffff:203.0.113.1")],
            broadcasts: Vec::new(),
        };
        assert_eq!(
            check_destination(ip("203.0.113.1"), &mapped_host),
            Err(Refusal::OwnAddress(ip("203.0.113.1")))
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

    #[test]
    fn unmap_only_touches_mapped() {
        assert_eq!(unmap(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(unmap(ip("::192.0.2.1")), ip("::192.0.2.1"));
        assert_eq!(unmap(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(unmap(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
