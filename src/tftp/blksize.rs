//! `--max-blksize`: a copy of a request whose larger blksize values are
//! lowered to a maximum, every other byte kept. For paths through VPNs and
//! tunnels, where large blocks fragment and fragments are lost.
//!
//! Owns only building the rewritten bytes; it must not decide whether to
//! rewrite, log or send.

use super::option::parse_decimal;
use super::request::Request;

/// The smallest blksize RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// The largest blksize RFC 2348 allows.
pub const MAX_BLKSIZE: u16 = 65464;

/// A request with its blksize lowered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoweredBlksize {
    /// The datagram to forward instead of the client's.
    pub bytes: Vec<u8>,
    /// The values the client asked for, as sent, in wire order (one per
    /// lowered blksize option: a repeated option is lowered each time).
    pub requested: Vec<Vec<u8>>,
    /// The value every one of them was lowered to.
    pub max: u16,
}

impl Request<'_> {
    /// The request with every blksize option (any case) whose value is a
    /// decimal number above `max` set to `max`; `None` when no value is
    /// above it. Values that are not decimal numbers are left alone (the
    /// server judges them); numbers too large for 64 bits are above any
    /// `max`.
    pub fn lowered_blksize(&self, max: u16) -> Option<LoweredBlksize> {
        let above = |value: &[u8]| match parse_decimal(value) {
            Ok(v) => v > u64::from(max),
            Err(e) => e.is_too_large(),
        };
        let spans: Vec<_> = self
            .options()
            .iter()
            .zip(self.value_spans())
            .filter(|(o, _)| o.is_named("blksize") && above(o.value))
            .collect();
        if spans.is_empty() {
            return None;
        }
        let original = self.as_bytes();
        let replacement = max.to_string();
        let mut bytes = Vec::with_capacity(original.len());
        let mut requested = Vec::with_capacity(spans.len());
        let mut copied = 0;
        for (option, span) in spans {
            bytes.extend_from_slice(original.get(copied..span.start).unwrap_or_default());
            bytes.extend_from_slice(replacement.as_bytes());
            requested.push(option.value.to_vec());
            copied = span.end;
        }
        bytes.extend_from_slice(original.get(copied..).unwrap_or_default());
        Some(LoweredBlksize {
            bytes,
            requested,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::tftp::request::tests::parsed;
    use crate::tftp::{KnownOption, Request};

    fn lowered(bytes: &[u8], max: u16) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        parsed(bytes)
            .lowered_blksize(max)
            .map(|l| (l.bytes, l.requested))
    }

    #[test]
    fn lowers_a_larger_blksize_only() {
        let (bytes, requested) = lowered(
            b"\x00\x01u-boot.img\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00",
            1200,
        )
        .expect("lowered");
        assert_eq!(
            bytes,
            b"\x00\x01u-boot.img\x00octet\x00tsize\x000\x00blksize\x001200\x00windowsize\x004\x00"
        );
        assert_eq!(requested, vec![b"1468".to_vec()]);
        let again = Request::parse(&bytes).expect("still a request");
        assert!(again.irregularities().is_empty());
        assert_eq!(
            again.known_options().collect::<Vec<_>>(),
            vec![
                KnownOption::Tsize(0),
                KnownOption::Blksize(1200),
                KnownOption::Windowsize(4)
            ]
        );
    }

    #[test]
    fn leaves_smaller_equal_and_absent_alone() {
        assert_eq!(
            lowered(b"\x00\x01f\x00octet\x00blksize\x001200\x00", 1200),
            None
        );
        assert_eq!(
            lowered(b"\x00\x01f\x00octet\x00blksize\x00512\x00", 1200),
            None
        );
        assert_eq!(
            lowered(b"\x00\x01f\x00octet\x00tsize\x009999\x00", 1200),
            None
        );
        assert_eq!(lowered(b"\x00\x01f\x00octet\x00", 1200), None);
        // Not a number: the server judges it.
        assert_eq!(
            lowered(b"\x00\x01f\x00octet\x00blksize\x00big\x00", 1200),
            None
        );
        assert_eq!(lowered(b"\x00\x01f\x00octet\x00blksize\x00", 1200), None);
    }

    #[test]
    fn any_case_repeated_out_of_range_and_huge() {
        let (bytes, requested) = lowered(
            b"\x00\x02f\x00octet\x00BlkSize\x00100000\x00blksize\x0099999999999999999999999\x00\x00\x00",
            1200,
        )
        .expect("lowered");
        assert_eq!(
            bytes,
            b"\x00\x02f\x00octet\x00BlkSize\x001200\x00blksize\x001200\x00\x00\x00"
        );
        assert_eq!(
            requested,
            vec![b"100000".to_vec(), b"99999999999999999999999".to_vec()]
        );
    }

    #[test]
    fn leading_zeros_and_unterminated_value() {
        let (bytes, _) =
            lowered(b"\x00\x01f\x00octet\x00blksize\x0001468\x00", 1428).expect("lowered");
        assert_eq!(bytes, b"\x00\x01f\x00octet\x00blksize\x001428\x00");
        let (bytes, _) = lowered(b"\x00\x01f\x00octet\x00blksize\x001468", 8).expect("lowered");
        assert_eq!(bytes, b"\x00\x01f\x00octet\x00blksize\x008");
    }
}
