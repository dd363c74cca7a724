//! Dissection of the datagram that starts a TFTP transfer: an RRQ or WRQ
//! (RFC 1350) with optional name/value options (RFC 2347), into a
//! [`Request`], or a [`ParseError`] naming the reason it is refused.
//!
//! The parse is as liberal as the servers behind the proxy: a datagram
//! that starts with opcode 1 or 2 and carries a NUL-terminated filename is
//! a request. Everything after the filename is read best-effort (mode,
//! options) for the log and for `--max-blksize`, and each departure from
//! the RFCs is kept as an [`Irregularity`]; [`Request::check_strict`]
//! turns the first one into a refusal (`--strict-requests`).
//!
//! [`Request::parse`] checks every length once and hands out borrowed,
//! typed views of the client's bytes; unknown opcodes, modes and options
//! are kept and reported rather than guessed at. This module must not do
//! IO, log, apply policy, or alter the bytes (lowering blksize is
//! [`super::blksize`]'s job).

use std::cmp::Ordering;
use std::ops::Range;
use std::time::Duration;

use thiserror::Error;

use super::escape::quoted;
use super::irregularity::Irregularity;
use super::option::check_option;
use super::MAX_DATAGRAM;

// The parts of a request, also reachable through this module.
pub use super::mode::Mode;
pub use super::opcode::{Kind, Opcode};
pub use super::option::{KnownOption, TftpOption};

/// A read or write request, borrowing the datagram it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    bytes: &'a [u8],
    kind: Kind,
    filename: &'a [u8],
    mode: Option<&'a [u8]>,
    options: Vec<TftpOption<'a>>,
    /// Where each option's value lies in `bytes`, in the order of `options`.
    value_spans: Vec<Range<usize>>,
    irregularities: Vec<Irregularity>,
}

/// Splits at the first NUL: the string before it and the bytes after it.
fn split_nul(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == 0)?;
    let (head, tail) = bytes.split_at(at);
    Some((head, tail.get(1..).unwrap_or_default()))
}

fn cmp_ignore_ascii_case(a: &[u8], b: &[u8]) -> Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// The name of the earliest option that repeats an earlier option's name
/// (ASCII case-insensitively), in O(n log n).
fn first_repeat<'a>(options: &[TftpOption<'a>]) -> Option<&'a [u8]> {
    let mut names: Vec<(&[u8], usize)> = options
        .iter()
        .enumerate()
        .map(|(at, o)| (o.name, at))
        .collect();
    names.sort_unstable_by(|a, b| cmp_ignore_ascii_case(a.0, b.0).then(a.1.cmp(&b.1)));
    names
        .windows(2)
        .filter_map(|pair| match pair {
            [(first, _), (again, at)] if first.eq_ignore_ascii_case(again) => Some((*at, *again)),
            _ => None,
        })
        .min_by_key(|&(at, _)| at)
        .map(|(_, name)| name)
}

impl<'a> Request<'a> {
    /// Parses the first datagram of a transfer: opcode RRQ or WRQ and a
    /// NUL-terminated filename, in at most [`MAX_DATAGRAM`] bytes. The rest
    /// is read best-effort; see [`Request::irregularities`].
    ///
    /// Never panics; every refusal is a [`ParseError`] naming the reason.
    pub fn parse(datagram: &'a [u8]) -> Result<Request<'a>, ParseError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(ParseError::TooLong {
                len: datagram.len(),
            });
        }
        let [hi, lo, rest @ ..] = datagram else {
            return Err(ParseError::TruncatedOpcode {
                len: datagram.len(),
            });
        };
        let kind = match Opcode::from(u16::from_be_bytes([*hi, *lo])) {
            Opcode::Rrq => Kind::Read,
            Opcode::Wrq => Kind::Write,
            other => return Err(ParseError::NotARequest(other)),
        };
        if rest.is_empty() {
            return Err(ParseError::MissingFilename);
        }
        let (filename, rest) = split_nul(rest).ok_or_else(|| ParseError::FilenameUnterminated {
            filename: rest.to_vec(),
        })?;

        let mut request = Request {
            bytes: datagram,
            kind,
            filename,
            mode: None,
            options: Vec::new(),
            value_spans: Vec::new(),
            irregularities: Vec::new(),
        };
        if filename.is_empty() {
            request.irregular(Irregularity::EmptyFilename);
        }
        request.read_mode_and_options(rest);
        Ok(request)
    }

    /// Best-effort reading of what follows the filename (`rest`).
    fn read_mode_and_options(&mut self, rest: &'a [u8]) {
        if rest.is_empty() {
            self.irregular(Irregularity::MissingMode);
            return;
        }
        let (mode, mut rest) = match split_nul(rest) {
            Some(split) => split,
            None => {
                self.irregular(Irregularity::ModeUnterminated {
                    mode: rest.to_vec(),
                });
                (rest, &[][..])
            }
        };
        self.mode = Some(mode);
        if Mode::from_wire(mode).is_none() {
            self.irregular(Irregularity::UnknownMode {
                mode: mode.to_vec(),
            });
        }

        while !rest.is_empty() {
            if rest.iter().all(|&b| b == 0) {
                self.irregular(Irregularity::TrailingNuls { count: rest.len() });
                break;
            }
            let Some((name, after_name)) = split_nul(rest) else {
                self.irregular(Irregularity::TrailingUnterminated {
                    bytes: rest.to_vec(),
                });
                break;
            };
            if name.is_empty() {
                self.irregular(Irregularity::EmptyOptionName {
                    position: self.options.len().saturating_add(1),
                });
            }
            let value_at = self.bytes.len() - after_name.len();
            let (value, after_value) = match split_nul(after_name) {
                Some(split) => split,
                None if after_name.is_empty() => {
                    self.irregular(Irregularity::OptionWithoutValue {
                        name: name.to_vec(),
                    });
                    (after_name, after_name)
                }
                None => {
                    self.irregular(Irregularity::OptionValueUnterminated {
                        name: name.to_vec(),
                        value: after_name.to_vec(),
                    });
                    (after_name, &[][..])
                }
            };
            if !after_name.is_empty() {
                if let Err(irregularity) = check_option(name, value) {
                    self.irregular(irregularity);
                }
            }
            self.options.push(TftpOption { name, value });
            self.value_spans.push(value_at..value_at + value.len());
            rest = after_value;
        }
        if let Some(name) = first_repeat(&self.options) {
            self.irregular(Irregularity::DuplicateOption {
                name: name.to_vec(),
            });
        }
    }

    fn irregular(&mut self, irregularity: Irregularity) {
        self.irregularities.push(irregularity);
    }

    /// `--strict-requests`: refuses a request with any irregularity,
    /// naming the first (in wire order; a repeated option last).
    pub fn check_strict(&self) -> Result<(), ParseError> {
        match self.irregularities.first() {
            Some(first) => Err(ParseError::Strict(first.clone())),
            None => Ok(()),
        }
    }

    /// Every departure from the RFCs the request carries, in wire order
    /// (a repeated option last); empty for an RFC-conforming request.
    pub fn irregularities(&self) -> &[Irregularity] {
        &self.irregularities
    }

    /// RRQ or WRQ.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The filename as sent: no NUL, otherwise unchecked (may be empty).
    pub fn filename(&self) -> &'a [u8] {
        self.filename
    }

    /// The transfer mode, when one is present and known (in any case).
    pub fn mode(&self) -> Option<Mode> {
        self.mode.and_then(Mode::from_wire)
    }

    /// The mode field as sent, known or not; `None` when it is missing.
    pub fn mode_text(&self) -> Option<&'a [u8]> {
        self.mode
    }

    /// The options in wire order, unknown and repeated ones included; an
    /// option without a value has an empty value here.
    pub fn options(&self) -> &[TftpOption<'a>] {
        &self.options
    }

    /// Where each option's value lies in [`Request::as_bytes`], in the
    /// order of [`Request::options`].
    pub(super) fn value_spans(&self) -> &[Range<usize>] {
        &self.value_spans
    }

    /// The first option with this name (ASCII case-insensitive), if any.
    pub fn option(&self, name: &str) -> Option<&TftpOption<'a>> {
        self.options.iter().find(|o| o.is_named(name))
    }

    /// The known options with valid values, typed, in wire order.
    pub fn known_options(&self) -> impl Iterator<Item = KnownOption> + '_ {
        self.options.iter().filter_map(TftpOption::known)
    }

    /// The retransmission timeout the request asks for (RFC 2349
    /// `timeout`, seconds): the largest valid one if it repeats the
    /// option, as a server may honour any of them. `None`: none asked for.
    pub fn retransmission_timeout(&self) -> Option<Duration> {
        self.known_options()
            .filter_map(|o| match o {
                KnownOption::Timeout(seconds) => Some(Duration::from_secs(u64::from(seconds))),
                _ => None,
            })
            .max()
    }

    /// The whole datagram, exactly as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Why a datagram is not a read or write request, or not one the proxy
/// forwards. The `Display` text is the reason both the log and the
/// client's ERROR give; wire bytes in it are escaped and bounded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The datagram exceeds [`MAX_DATAGRAM`] bytes.
    #[error("datagram of {len} bytes is longer than the {max}-byte maximum", max = MAX_DATAGRAM)]
    TooLong {
        /// The datagram's length.
        len: usize,
    },
    /// Fewer than 2 bytes: not even an opcode.
    #[error("datagram of {len} byte(s) is too short to hold an opcode")]
    TruncatedOpcode {
        /// The datagram's length.
        len: usize,
    },
    /// Any opcode but RRQ and WRQ, defined or not.
    #[error("not a read or write request ({0})")]
    NotARequest(Opcode),
    /// The datagram ends right after the opcode.
    #[error("no filename after the opcode")]
    MissingFilename,
    /// The filename runs to the end of the datagram without a NUL.
    #[error("filename not terminated: {}", quoted(.filename))]
    FilenameUnterminated {
        /// The bytes after the opcode.
        filename: Vec<u8>,
    },
    /// `--strict-requests` refuses a request with an irregularity.
    #[error("{0} (strict mode)")]
    Strict(Irregularity),
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::tftp::describe_options;
    use crate::tftp::option::Key;
    use proptest::prelude::*;

    pub(crate) fn refused(bytes: &[u8]) -> ParseError {
        let err = Request::parse(bytes).expect_err("must be refused");
        let text = err.to_string();
        assert!(!text.is_empty());
        assert!(
            text.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "unprintable reason: {text:?}"
        );
        err
    }

    /// A request the liberal parse forwards but `--strict-requests`
    /// refuses; returns the irregularity named.
    pub(crate) fn strict_refused(bytes: &[u8]) -> Irregularity {
        let r = parsed(bytes);
        let err = r.check_strict().expect_err("strict mode must refuse");
        let text = err.to_string();
        assert!(text.ends_with(" (strict mode)"), "{text}");
        assert!(
            text.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "unprintable reason: {text:?}"
        );
        match err {
            ParseError::Strict(i) => {
                assert_eq!(r.irregularities().first(), Some(&i));
                i
            }
            other => panic!("not a strict refusal: {other:?}"),
        }
    }

    pub(crate) fn parsed(bytes: &[u8]) -> Request<'_> {
        match Request::parse(bytes) {
            Ok(r) => r,
            Err(e) => panic!("refused {}: {e}", quoted(bytes)),
        }
    }

    fn names_values<'a>(r: &Request<'a>) -> Vec<(&'a [u8], &'a [u8])> {
        r.options().iter().map(|o| (o.name, o.value)).collect()
    }

    // ---- accepted shapes ----

    #[test]
    fn plain_rrq() {
        let bytes = b"\x00\x01pxelinux.0\x00octet\x00";
        let r = parsed(bytes);
        assert_eq!(r.kind(), Kind::Read);
        assert_eq!(r.filename(), b"pxelinux.0");
        assert_eq!(r.mode(), Some(Mode::Octet));
        assert!(r.options().is_empty());
        assert!(r.irregularities().is_empty());
        assert_eq!(r.check_strict(), Ok(()));
        assert_eq!(r.as_bytes(), bytes);
        assert_eq!(r.kind().to_string(), "RRQ");
    }

    #[test]
    fn plain_wrq() {
        let r = parsed(b"\x00\x02upload.bin\x00octet\x00");
        assert_eq!(r.kind(), Kind::Write);
        assert_eq!(r.kind().to_string(), "WRQ");
    }

    #[test]
    fn filename_any_bytes() {
        let r = parsed(b"\x00\x01../\xff\x01 x\x00octet\x00");
        assert_eq!(r.filename(), b"../\xff\x01 x");
    }

    #[test]
    fn retransmission_timeout_is_the_largest_valid_one() {
        let timeout = |bytes: &[u8]| parsed(bytes).retransmission_timeout();
        assert_eq!(timeout(b"\x00\x01f\x00octet\x00"), None);
        assert_eq!(timeout(b"\x00\x01f\x00octet\x00blksize\x001428\x00"), None);
        assert_eq!(
            timeout(b"\x00\x01f\x00octet\x00TIMEOUT\x0010\x00"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            timeout(b"\x00\x02f\x00octet\x00timeout\x00255\x00"),
            Some(Duration::from_secs(255))
        );
        // Repeated: whichever the server honours, the largest is covered.
        assert_eq!(
            timeout(b"\x00\x01f\x00octet\x00timeout\x003\x00Timeout\x0020\x00"),
            Some(Duration::from_secs(20))
        );
        // Out of range or not a number: no server honours it.
        assert_eq!(timeout(b"\x00\x01f\x00octet\x00timeout\x000\x00"), None);
        assert_eq!(timeout(b"\x00\x01f\x00octet\x00timeout\x00256\x00"), None);
    }

    #[test]
    fn options_in_order_with_unknown() {
        let r = parsed(
            b"\x00\x01f\x00octet\x00BLKSIZE\x001428\x00x-vendor\x00\x00tsize\x000\x00\
              WindowSize\x008\x00Timeout\x0005\x00",
        );
        assert_eq!(
            names_values(&r),
            vec![
                (&b"BLKSIZE"[..], &b"1428"[..]),
                (b"x-vendor", b""),
                (b"tsize", b"0"),
                (b"WindowSize", b"8"),
                (b"Timeout", b"05"),
            ]
        );
        let known: Vec<_> = r.known_options().collect();
        assert_eq!(
            known,
            vec![
                KnownOption::Blksize(1428),
                KnownOption::Tsize(0),
                KnownOption::Windowsize(8),
                KnownOption::Timeout(5),
            ]
        );
        assert_eq!(r.options().get(1).and_then(TftpOption::known), None);
        assert_eq!(r.option("blksize").map(|o| o.value), Some(&b"1428"[..]));
        assert_eq!(r.option("nope"), None);
        assert_eq!(
            describe_options(r.options()),
            "BLKSIZE=1428 x-vendor= tsize=0 WindowSize=8 Timeout=05"
        );
    }

    #[test]
    fn largest_datagram_accepted() {
        let mut bytes = b"\x00\x01".to_vec();
        bytes.resize(MAX_DATAGRAM - b"\0octet\0".len(), b'a');
        bytes.extend_from_slice(b"\0octet\0");
        assert_eq!(bytes.len(), 65535);
        assert_eq!(parsed(&bytes).filename().len(), 65535 - 2 - 7);
    }

    #[test]
    fn many_unique_options_accepted() {
        let mut bytes = b"\x00\x01f\x00octet\x00".to_vec();
        let mut count = 0;
        // Two-byte names, unique even case-insensitively: no letter first,
        // no upper-case letter second.
        'fill: for a in (1u8..=255).filter(|a| !a.is_ascii_alphabetic()) {
            for b in (1u8..=255).filter(|b| !b.is_ascii_uppercase()) {
                if bytes.len() + 4 > MAX_DATAGRAM {
                    break 'fill;
                }
                bytes.extend_from_slice(&[a, b, 0, 0]);
                count += 1;
            }
        }
        let r = parsed(&bytes);
        assert_eq!(r.options().len(), count);
        assert!(count > 16000);
    }

    // ---- refusals ----

    #[test]
    fn too_long_refused() {
        let mut bytes = b"\x00\x01".to_vec();
        bytes.resize(MAX_DATAGRAM + 1 - b"\0octet\0".len(), b'a');
        bytes.extend_from_slice(b"\0octet\0");
        assert_eq!(bytes.len(), 65536);
        assert_eq!(refused(&bytes), ParseError::TooLong { len: 65536 });
    }

    #[test]
    fn empty_datagram() {
        assert_eq!(refused(b""), ParseError::TruncatedOpcode { len: 0 });
    }

    #[test]
    fn one_byte_datagram() {
        let e = refused(b"\x00");
        assert_eq!(e, ParseError::TruncatedOpcode { len: 1 });
        assert!(e.to_string().contains("too short"));
    }

    #[test]
    fn data_refused() {
        let e = refused(b"\x00\x03\x00\x01hello");
        assert_eq!(e, ParseError::NotARequest(Opcode::Data));
        assert_eq!(e.to_string(), "not a read or write request (DATA)");
    }

    #[test]
    fn ack_refused() {
        let e = refused(b"\x00\x04\x00\x01");
        assert_eq!(e, ParseError::NotARequest(Opcode::Ack));
        assert_eq!(e.to_string(), "not a read or write request (ACK)");
    }

    #[test]
    fn error_refused() {
        let e = refused(b"\x00\x05\x00\x01nope\x00");
        assert_eq!(e, ParseError::NotARequest(Opcode::Error));
        assert_eq!(e.to_string(), "not a read or write request (ERROR)");
    }

    #[test]
    fn oack_refused() {
        let e = refused(b"\x00\x06blksize\x00512\x00");
        assert_eq!(e, ParseError::NotARequest(Opcode::Oack));
        assert_eq!(e.to_string(), "not a read or write request (OACK)");
    }

    #[test]
    fn unknown_opcode_refused() {
        assert_eq!(
            refused(b"\x00\x00f\x00octet\x00"),
            ParseError::NotARequest(Opcode::Unknown(0))
        );
        let e = refused(b"\x01\x01f\x00octet\x00");
        assert_eq!(e, ParseError::NotARequest(Opcode::Unknown(257)));
        assert_eq!(e.to_string(), "not a read or write request (opcode 257)");
        assert_eq!(Opcode::from(257), Opcode::Unknown(257));
        assert_eq!(u16::from(Opcode::Unknown(257)), 257);
        assert_eq!(Opcode::Unknown(9).to_string(), "opcode 9");
        for n in 1..=6 {
            assert_eq!(Opcode::from(n).number(), n);
        }
    }

    #[test]
    fn missing_filename() {
        assert_eq!(refused(b"\x00\x01"), ParseError::MissingFilename);
    }

    #[test]
    fn filename_without_nul() {
        let e = refused(b"\x00\x01pxelinux.0");
        assert_eq!(
            e,
            ParseError::FilenameUnterminated {
                filename: b"pxelinux.0".to_vec()
            }
        );
        assert_eq!(e.to_string(), "filename not terminated: \"pxelinux.0\"");
    }

    #[test]
    fn empty_filename() {
        assert_eq!(parsed(b"\x00\x01\x00octet\x00").filename(), b"");
        assert_eq!(
            strict_refused(b"\x00\x01\x00octet\x00"),
            Irregularity::EmptyFilename
        );
    }

    #[test]
    fn missing_mode() {
        let r = parsed(b"\x00\x01f\x00");
        assert_eq!((r.mode(), r.mode_text()), (None, None));
        assert_eq!(strict_refused(b"\x00\x01f\x00"), Irregularity::MissingMode);
    }

    #[test]
    fn mode_without_nul() {
        assert_eq!(parsed(b"\x00\x01f\x00octet").mode(), Some(Mode::Octet));
        let e = strict_refused(b"\x00\x01f\x00octet");
        assert_eq!(
            e,
            Irregularity::ModeUnterminated {
                mode: b"octet".to_vec()
            }
        );
        assert_eq!(e.to_string(), "transfer mode octet not terminated");
    }

    #[test]
    fn unknown_mode() {
        let r = parsed(b"\x00\x01f\x00bin\"\x01\x00");
        assert_eq!(r.mode(), None);
        assert_eq!(r.mode_text(), Some(&b"bin\"\x01"[..]));
        let e = strict_refused(b"\x00\x01f\x00bin\"\x01\x00");
        assert_eq!(
            e,
            Irregularity::UnknownMode {
                mode: b"bin\"\x01".to_vec()
            }
        );
        assert_eq!(e.to_string(), r#"unknown transfer mode "bin\"\x01""#);
    }

    #[test]
    fn empty_mode() {
        assert_eq!(
            strict_refused(b"\x00\x01f\x00\x00"),
            Irregularity::UnknownMode { mode: Vec::new() }
        );
    }

    #[test]
    fn trailing_nul_padding() {
        let bytes = b"\x00\x01pxelinux.0\x00octet\x00\x00\x00\x00\x00";
        let r = parsed(bytes);
        assert_eq!(r.filename(), b"pxelinux.0");
        assert_eq!(r.mode(), Some(Mode::Octet));
        assert!(r.options().is_empty());
        assert_eq!(r.as_bytes(), bytes);
        assert_eq!(
            strict_refused(bytes),
            Irregularity::TrailingNuls { count: 4 }
        );
        let r = parsed(b"\x00\x01f\x00octet\x00blksize\x001428\x00\x00");
        assert_eq!(
            r.known_options().collect::<Vec<_>>(),
            [KnownOption::Blksize(1428)]
        );
        assert_eq!(
            r.irregularities(),
            [Irregularity::TrailingNuls { count: 1 }]
        );
    }

    #[test]
    fn option_name_without_nul() {
        assert_eq!(
            strict_refused(b"\x00\x01f\x00octet\x00blksize"),
            Irregularity::TrailingUnterminated {
                bytes: b"blksize".to_vec()
            }
        );
    }

    #[test]
    fn option_without_value() {
        let r = parsed(b"\x00\x01f\x00octet\x00tsize\x000\x00blksize\x00");
        assert_eq!(
            names_values(&r),
            vec![(&b"tsize"[..], &b"0"[..]), (b"blksize", b"")]
        );
        let e = strict_refused(b"\x00\x01f\x00octet\x00tsize\x000\x00blksize\x00");
        assert_eq!(
            e,
            Irregularity::OptionWithoutValue {
                name: b"blksize".to_vec()
            }
        );
        assert_eq!(
            parsed(b"\x00\x01f\x00octet\x00blksize\x00")
                .irregularities()
                .len(),
            1
        );
        assert_eq!(e.to_string(), "option blksize: no value");
    }

    #[test]
    fn option_value_without_nul() {
        let r = parsed(b"\x00\x01f\x00octet\x00blksize\x00512");
        assert_eq!(r.option("blksize").map(|o| o.value), Some(&b"512"[..]));
        assert_eq!(
            strict_refused(b"\x00\x01f\x00octet\x00blksize\x00512"),
            Irregularity::OptionValueUnterminated {
                name: b"blksize".to_vec(),
                value: b"512".to_vec()
            }
        );
    }

    #[test]
    fn empty_option_name() {
        assert_eq!(
            strict_refused(b"\x00\x01f\x00octet\x00\x00512\x00"),
            Irregularity::EmptyOptionName { position: 1 }
        );
        assert_eq!(
            strict_refused(b"\x00\x01f\x00octet\x00a\x00b\x00\x00c\x00"),
            Irregularity::EmptyOptionName { position: 2 }
        );
    }

    #[test]
    fn duplicate_option_case_insensitive() {
        let bytes = b"\x00\x01f\x00octet\x00blksize\x00512\x00x\x00\x00BlkSize\x001024\x00";
        let r = parsed(bytes);
        assert_eq!(r.options().len(), 3);
        assert_eq!(r.option("blksize").map(|o| o.value), Some(&b"512"[..]));
        let e = strict_refused(bytes);
        assert_eq!(
            e,
            Irregularity::DuplicateOption {
                name: b"BlkSize".to_vec()
            }
        );
        assert_eq!(
            e.to_string(),
            "option BlkSize: repeated (names are case-insensitive)"
        );
    }

    #[test]
    fn duplicate_unknown_option_reports_earliest_repeat() {
        assert_eq!(
            strict_refused(b"\x00\x01f\x00octet\x00b\x001\x00a\x001\x00A\x002\x00B\x002\x00"),
            Irregularity::DuplicateOption {
                name: b"A".to_vec()
            }
        );
    }

    #[test]
    fn many_repeated_options() {
        let mut bytes = b"\x00\x01f\x00octet\x00".to_vec();
        while bytes.len() + 4 <= MAX_DATAGRAM {
            bytes.extend_from_slice(b"x\x00\x00");
        }
        assert!(parsed(&bytes).options().len() > 20000);
        assert_eq!(
            strict_refused(&bytes),
            Irregularity::DuplicateOption {
                name: b"x".to_vec()
            }
        );
    }

    #[test]
    fn strict_refusal_example_text() {
        let bytes = b"\x00\x01f\x00octet\x00blksize\x00100000\x00";
        let r = parsed(bytes);
        assert_eq!(r.option("blksize").map(|o| o.value), Some(&b"100000"[..]));
        assert_eq!(r.known_options().count(), 0);
        assert_eq!(
            r.check_strict().map_err(|e| e.to_string()),
            Err("option blksize: value 100000 out of range (strict mode)".to_owned())
        );
    }

    #[test]
    fn every_irregularity_in_wire_order() {
        let r = parsed(b"\x00\x02\x00Octet\x00TIMEOUT\x000\x00x\x00\x00timeout\x00abc\x00\x00\x00");
        assert_eq!(r.kind(), Kind::Write);
        assert_eq!(
            r.irregularities(),
            [
                Irregularity::EmptyFilename,
                Irregularity::OptionValueOutOfRange {
                    name: b"TIMEOUT".to_vec(),
                    value: b"0".to_vec(),
                    min: 1,
                    max: 255
                },
                Irregularity::OptionValueNotDecimal {
                    name: b"timeout".to_vec(),
                    value: b"abc".to_vec()
                },
                Irregularity::TrailingNuls { count: 2 },
                Irregularity::DuplicateOption {
                    name: b"timeout".to_vec()
                },
            ]
        );
    }

    #[test]
    fn reasons_are_bounded() {
        let mut bytes = b"\x00\x01".to_vec();
        bytes.resize(MAX_DATAGRAM, 0xff);
        let e = refused(&bytes);
        assert!(e.to_string().len() < 400, "{e}");
        let mut bytes = b"\x00\x01f\x00".to_vec();
        bytes.resize(MAX_DATAGRAM, 0xff);
        let e = parsed(&bytes).check_strict().expect_err("strict");
        assert!(e.to_string().len() < 400, "{e}");
    }

    // ---- properties ----

    /// Bytes that often look like the start of a request.
    fn requestish() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            3 => Just(0u8),
            3 => prop::sample::select(b"abksizetmoucOCTET0123456789".to_vec()),
            2 => any::<u8>(),
        ];
        (0u16..8, prop::collection::vec(byte, 0..80)).prop_map(|(op, body)| {
            let mut v = op.to_be_bytes().to_vec();
            v.extend(body);
            v
        })
    }

    /// Requests assembled from plausible and broken strings, each usually
    /// NUL-terminated, so that every stage of the parser is reached.
    fn tokenish() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            prop::sample::select(vec![
                &b"f"[..],
                b"octet",
                b"NetAscii",
                b"mail",
                b"bin",
                b"",
                b"blksize",
                b"TSIZE",
                b"timeout",
                b"windowsize",
                b"x-opt",
                b"0",
                b"7",
                b"512",
                b"65535",
                b"-1",
                b"99999999999999999999999",
            ])
            .prop_map(<[u8]>::to_vec),
            prop::collection::vec(any::<u8>(), 0..6),
        ];
        let part = (token, prop::bool::weighted(0.9));
        let op = prop_oneof![3 => 1u16..=2, 1 => 0u16..8];
        (op, prop::collection::vec(part, 0..10)).prop_map(|(op, parts)| {
            let mut v = op.to_be_bytes().to_vec();
            for (text, nul) in parts {
                v.extend(text);
                if nul {
                    v.push(0);
                }
            }
            v
        })
    }

    fn arbitrary_datagram() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            requestish(),
            tokenish(),
        ]
    }

    /// Flips the case of the letters where `mask` says so.
    fn recase(text: &str, mask: &[bool]) -> Vec<u8> {
        text.bytes()
            .zip(mask.iter().chain(std::iter::repeat(&false)))
            .map(|(b, &up)| if up { b.to_ascii_uppercase() } else { b })
            .collect()
    }

    /// A plain decimal rendering of `v` with up to 3 leading zeros.
    fn decimal(v: u64, zeros: usize) -> Vec<u8> {
        format!("{}{v}", "0".repeat(zeros)).into_bytes()
    }

    fn known_option() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, KnownOption)> {
        let typed = prop_oneof![
            (8u16..=65464).prop_map(KnownOption::Blksize),
            any::<u64>().prop_map(KnownOption::Tsize),
            (1u8..=255).prop_map(KnownOption::Timeout),
            (1u16..=65535).prop_map(KnownOption::Windowsize),
        ];
        (typed, prop::collection::vec(any::<bool>(), 10), 0usize..4).prop_map(
            |(opt, mask, zeros)| (recase(opt.name(), &mask), decimal(opt.value(), zeros), opt),
        )
    }

    fn unknown_option() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, KnownOption)> {
        (
            prop::collection::vec(1u8..=255, 1..12),
            prop::collection::vec(1u8..=255, 0..12),
        )
            .prop_filter("name of a known option", |(name, _)| {
                Key::lookup(name).is_none()
            })
            .prop_map(|(n, v)| (n, v, KnownOption::Tsize(0)))
    }

    /// Options with unique names (case-insensitively); the `KnownOption`
    /// is meaningful only when the name is known.
    fn option_list() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>, KnownOption)>> {
        prop::collection::vec(prop_oneof![known_option(), unknown_option()], 0..10).prop_map(
            |mut opts| {
                let mut seen: Vec<Vec<u8>> = Vec::new();
                opts.retain(|(name, _, _)| {
                    let lower = name.to_ascii_lowercase();
                    let fresh = !seen.contains(&lower);
                    seen.push(lower);
                    fresh
                });
                opts
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn parse_never_panics(bytes in arbitrary_datagram()) {
            let _ = Request::parse(&bytes);
        }

        #[test]
        fn refusals_have_printable_reasons(bytes in arbitrary_datagram()) {
            let refusal = match Request::parse(&bytes) {
                Err(e) => Some(e),
                Ok(r) => r.check_strict().err(),
            };
            if let Some(e) = refusal {
                let text = e.to_string();
                prop_assert!(!text.is_empty());
                prop_assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{:?}", text);
            }
        }

        #[test]
        fn liberal_parse_needs_only_opcode_and_terminated_filename(
            write in any::<bool>(),
            filename in prop::collection::vec(1u8..=255, 0..32),
            tail in prop::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut bytes = vec![0, if write { 2 } else { 1 }];
            bytes.extend_from_slice(&filename);
            bytes.push(0);
            bytes.extend_from_slice(&tail);
            let r = Request::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(r.filename(), &filename[..]);
            prop_assert_eq!(r.as_bytes(), &bytes[..]);
            prop_assert_eq!(r.options().len(), r.value_spans().len());
            for (o, span) in r.options().iter().zip(r.value_spans()) {
                prop_assert_eq!(bytes.get(span.clone()), Some(o.value));
            }
            if let Some(lowered) = r.lowered_blksize(512) {
                let again = Request::parse(&lowered.bytes)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again.filename(), &filename[..]);
                prop_assert!(again.lowered_blksize(512).is_none());
            }
        }

        #[test]
        fn valid_requests_round_trip(
            write in any::<bool>(),
            filename in prop::collection::vec(1u8..=255, 1..64),
            mode in prop::sample::select(vec![Mode::Netascii, Mode::Octet, Mode::Mail]),
            mask in prop::collection::vec(any::<bool>(), 8),
            opts in option_list(),
        ) {
            let mode_text = recase(mode.as_str(), &mask);
            let mut bytes = vec![0, if write { 2 } else { 1 }];
            for part in [&filename, &mode_text] {
                bytes.extend_from_slice(part);
                bytes.push(0);
            }
            for (name, value, _) in &opts {
                bytes.extend_from_slice(name);
                bytes.push(0);
                bytes.extend_from_slice(value);
                bytes.push(0);
            }
            let r = Request::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(r.kind(), if write { Kind::Write } else { Kind::Read });
            prop_assert_eq!(r.filename(), &filename[..]);
            prop_assert_eq!(r.mode(), Some(mode));
            prop_assert!(r.irregularities().is_empty(), "{:?}", r.irregularities());
            prop_assert_eq!(r.check_strict(), Ok(()));
            prop_assert_eq!(r.as_bytes(), &bytes[..]);
            prop_assert_eq!(r.options().len(), opts.len());
            for (got, (name, value, typed)) in r.options().iter().zip(&opts) {
                prop_assert_eq!(got.name, &name[..]);
                prop_assert_eq!(got.value, &value[..]);
                let expect = Key::lookup(name).map(|_| *typed);
                prop_assert_eq!(got.known(), expect);
            }
        }

        #[test]
        fn truncated_valid_requests_never_panic(
            opts in option_list(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = b"\x00\x01file\x00octet\x00".to_vec();
            for (name, value, _) in &opts {
                bytes.extend_from_slice(name);
                bytes.push(0);
                bytes.extend_from_slice(value);
                bytes.push(0);
            }
            let cut = cut.index(bytes.len() + 1);
            if let Err(e) = Request::parse(bytes.get(..cut).unwrap_or_default()) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
