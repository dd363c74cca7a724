//! Request options (RFC 2347): [`TftpOption`], a name and value as sent,
//! and [`KnownOption`], the typed value of an option this proxy knows:
//! blksize (RFC 2348), timeout and tsize (RFC 2349) and windowsize
//! (RFC 7440). A known name needs a plain decimal value in range; unknown
//! names pass unchecked.

use std::fmt;

use super::irregularity::Irregularity;

/// A known option with its checked value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KnownOption {
    /// "blksize" (RFC 2348): data block size, 8 to 65464 bytes.
    Blksize(u16),
    /// "tsize" (RFC 2349): transfer size in bytes (0 in an RRQ).
    Tsize(u64),
    /// "timeout" (RFC 2349): retransmission timeout, 1 to 255 seconds.
    Timeout(u8),
    /// "windowsize" (RFC 7440): blocks per window, 1 to 65535.
    Windowsize(u16),
}

impl KnownOption {
    /// The option's canonical lowercase name.
    pub fn name(self) -> &'static str {
        self.key().name()
    }

    /// The option's value, widened.
    pub fn value(self) -> u64 {
        match self {
            KnownOption::Blksize(v) | KnownOption::Windowsize(v) => u64::from(v),
            KnownOption::Tsize(v) => v,
            KnownOption::Timeout(v) => u64::from(v),
        }
    }

    fn key(self) -> Key {
        match self {
            KnownOption::Blksize(_) => Key::Blksize,
            KnownOption::Tsize(_) => Key::Tsize,
            KnownOption::Timeout(_) => Key::Timeout,
            KnownOption::Windowsize(_) => Key::Windowsize,
        }
    }
}

impl fmt::Display for KnownOption {
    /// `name=value`, e.g. "blksize=1428".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name(), self.value())
    }
}

/// The names of the known options, with their value ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    Blksize,
    Tsize,
    Timeout,
    Windowsize,
}

impl Key {
    const ALL: [Key; 4] = [Key::Blksize, Key::Tsize, Key::Timeout, Key::Windowsize];

    fn name(self) -> &'static str {
        match self {
            Key::Blksize => "blksize",
            Key::Tsize => "tsize",
            Key::Timeout => "timeout",
            Key::Windowsize => "windowsize",
        }
    }

    pub(super) fn lookup(name: &[u8]) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|k| name.eq_ignore_ascii_case(k.name().as_bytes()))
    }

    fn range(self) -> (u64, u64) {
        match self {
            Key::Blksize => (8, 65464),
            Key::Tsize => (0, u64::MAX),
            Key::Timeout => (1, 255),
            Key::Windowsize => (1, 65535),
        }
    }

    /// The typed option for an in-range value.
    fn make(self, v: u64) -> Option<KnownOption> {
        let (min, max) = self.range();
        if v < min || v > max {
            return None;
        }
        match self {
            Key::Blksize => u16::try_from(v).ok().map(KnownOption::Blksize),
            Key::Tsize => Some(KnownOption::Tsize(v)),
            Key::Timeout => u8::try_from(v).ok().map(KnownOption::Timeout),
            Key::Windowsize => u16::try_from(v).ok().map(KnownOption::Windowsize),
        }
    }
}

/// Why a value is not a usable number.
pub(super) enum BadNumber {
    /// Empty, or not only ASCII digits.
    NotDecimal,
    /// Digits only, but more than a u64 holds.
    TooLarge,
}

impl BadNumber {
    /// Digits only, but more than a u64 holds.
    pub(super) fn is_too_large(&self) -> bool {
        matches!(self, BadNumber::TooLarge)
    }
}

/// Parses a plain decimal number: one or more ASCII digits, nothing else
/// (no sign, no spaces). Leading zeros are allowed.
pub(super) fn parse_decimal(text: &[u8]) -> Result<u64, BadNumber> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(BadNumber::NotDecimal);
    }
    text.iter().try_fold(0u64, |acc, &d| {
        let digit = char::from(d).to_digit(10).ok_or(BadNumber::NotDecimal)?;
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(digit)))
            .ok_or(BadNumber::TooLarge)
    })
}

/// Checks an option: a known name needs a valid value; unknown names pass.
pub(super) fn check_option(name: &[u8], value: &[u8]) -> Result<Option<KnownOption>, Irregularity> {
    let Some(key) = Key::lookup(name) else {
        return Ok(None);
    };
    let (min, max) = key.range();
    let out_of_range = || Irregularity::OptionValueOutOfRange {
        name: name.to_vec(),
        value: value.to_vec(),
        min,
        max,
    };
    match parse_decimal(value) {
        Ok(v) => key.make(v).map(Some).ok_or_else(out_of_range),
        Err(BadNumber::TooLarge) => Err(out_of_range()),
        Err(BadNumber::NotDecimal) => Err(Irregularity::OptionValueNotDecimal {
            name: name.to_vec(),
            value: value.to_vec(),
        }),
    }
}

/// One option of a request: name and value as sent (without NULs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TftpOption<'a> {
    /// The option name, in the client's case.
    pub name: &'a [u8],
    /// The option value.
    pub value: &'a [u8],
}

impl TftpOption<'_> {
    /// The typed view, when the name is a known option (in any case) and
    /// the value is valid for it; `None` for unknown options. Options of a
    /// parsed [`Request`](super::Request) with a known name always have a
    /// valid value.
    pub fn known(&self) -> Option<KnownOption> {
        check_option(self.name, self.value).ok().flatten()
    }

    /// Whether the option has this name, compared ASCII case-insensitively.
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tftp::request::tests::{parsed, strict_refused};

    #[test]
    fn option_range_edges_accepted() {
        let r = parsed(
            b"\x00\x01f\x00octet\x00blksize\x0065464\x00timeout\x00255\x00\
              windowsize\x0065535\x00tsize\x0018446744073709551615\x00",
        );
        let known: Vec<_> = r.known_options().collect();
        assert_eq!(
            known,
            vec![
                KnownOption::Blksize(65464),
                KnownOption::Timeout(255),
                KnownOption::Windowsize(65535),
                KnownOption::Tsize(u64::MAX),
            ]
        );
        let r =
            parsed(b"\x00\x01f\x00octet\x00blksize\x008\x00timeout\x001\x00windowsize\x001\x00");
        assert_eq!(
            r.known_options()
                .map(KnownOption::value)
                .collect::<Vec<_>>(),
            [8, 1, 1]
        );
        assert_eq!(KnownOption::Blksize(512).to_string(), "blksize=512");
    }

    #[test]
    fn option_value_not_decimal() {
        for value in [
            &b""[..],
            b"abc",
            b"+512",
            b"-1",
            b" 512",
            b"512 ",
            b"0x10",
            b"5.0",
        ] {
            let mut bytes = b"\x00\x01f\x00octet\x00blksize\x00".to_vec();
            bytes.extend_from_slice(value);
            bytes.push(0);
            assert_eq!(
                strict_refused(&bytes),
                Irregularity::OptionValueNotDecimal {
                    name: b"blksize".to_vec(),
                    value: value.to_vec()
                }
            );
        }
        let e = strict_refused(b"\x00\x01f\x00octet\x00TSIZE\x00big\x00");
        assert_eq!(
            e.to_string(),
            "option TSIZE: value big not a decimal number"
        );
    }

    #[test]
    fn option_value_out_of_range() {
        let cases: [(&[u8], &[u8], u64, u64); 7] = [
            (b"blksize", b"7", 8, 65464),
            (b"blksize", b"65465", 8, 65464),
            (b"timeout", b"0", 1, 255),
            (b"Timeout", b"256", 1, 255),
            (b"windowsize", b"0", 1, 65535),
            (b"windowsize", b"65536", 1, 65535),
            (b"tsize", b"18446744073709551616", 0, u64::MAX),
        ];
        for (name, value, min, max) in cases {
            let mut bytes = b"\x00\x02f\x00octet\x00".to_vec();
            for part in [name, value] {
                bytes.extend_from_slice(part);
                bytes.push(0);
            }
            assert_eq!(
                strict_refused(&bytes),
                Irregularity::OptionValueOutOfRange {
                    name: name.to_vec(),
                    value: value.to_vec(),
                    min,
                    max
                }
            );
        }
        assert_eq!(
            strict_refused(b"\x00\x01f\x00octet\x00blksize\x004\x00").to_string(),
            "option blksize: value 4 out of range"
        );
    }
}
