//! IP networks for the allow lists: [`Cidr`], parsed from `--allow-client`
//! and `--allow-server`, and [`unmap`], which turns an IPv4-mapped IPv6
//! address into the IPv4 address it carries so that both compare alike.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use thiserror::Error;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{cidr, ip};

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

    #[test]
    fn unmap_only_touches_mapped() {
        assert_eq!(unmap(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(unmap(ip("::192.0.2.1")), ip("::192.0.2.1"));
        assert_eq!(unmap(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_eq!(unmap(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
