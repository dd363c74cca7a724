//! Dissection of the datagram that starts a TFTP transfer: an RRQ or WRQ
//! (RFC 1350) with optional name/value options (RFC 2347), into a
//! [`Request`], or a [`ParseError`] naming the reason it is refused.
//!
//! [`Request::parse`] checks every length once and hands out borrowed,
//! typed views of the client's bytes; unknown opcodes and unknown options
//! are kept and reported rather than guessed at. This module must not do
//! IO, log, apply policy, or alter the bytes: the proxy forwards the
//! datagram exactly as received.

use std::cmp::Ordering;

use thiserror::Error;

use super::escape::quoted;
use super::option::check_option;
use super::MAX_DATAGRAM;

// The parts of a request, also reachable through this module.
pub use super::mode::Mode;
pub use super::opcode::{Kind, Opcode};
pub use super::option::{KnownOption, TftpOption};

/// A checked RRQ or WRQ, borrowing the datagram it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    bytes: &'a [u8],
    kind: Kind,
    filename: &'a [u8],
    mode: Mode,
    options: Vec<TftpOption<'a>>,
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
    /// Parses the first datagram of a transfer, which must be a complete,
    /// well-formed RRQ or WRQ of at most [`MAX_DATAGRAM`] bytes.
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
            Opcode::Unknown(n) => return Err(ParseError::UnknownOpcode(n)),
            other => return Err(ParseError::NotARequest(other)),
        };

        if rest.is_empty() {
            return Err(ParseError::MissingFilename);
        }
        let (filename, rest) = split_nul(rest).ok_or_else(|| ParseError::FilenameUnterminated {
            filename: rest.to_vec(),
        })?;
        if filename.is_empty() {
            return Err(ParseError::EmptyFilename);
        }

        if rest.is_empty() {
            return Err(ParseError::MissingMode);
        }
        let (mode, mut rest) = split_nul(rest).ok_or_else(|| ParseError::ModeUnterminated {
            mode: rest.to_vec(),
        })?;
        let mode = Mode::from_wire(mode).ok_or_else(|| ParseError::UnknownMode {
            mode: mode.to_vec(),
        })?;

        let mut options = Vec::new();
        while !rest.is_empty() {
            let (name, after_name) =
                split_nul(rest).ok_or_else(|| ParseError::OptionNameUnterminated {
                    name: rest.to_vec(),
                })?;
            if name.is_empty() {
                return Err(ParseError::EmptyOptionName {
                    position: options.len().saturating_add(1),
                });
            }
            if after_name.is_empty() {
                return Err(ParseError::OptionWithoutValue {
                    name: name.to_vec(),
                });
            }
            let (value, after_value) =
                split_nul(after_name).ok_or_else(|| ParseError::OptionValueUnterminated {
                    name: name.to_vec(),
                    value: after_name.to_vec(),
                })?;
            check_option(name, value)?;
            options.push(TftpOption { name, value });
            rest = after_value;
        }
        if let Some(name) = first_repeat(&options) {
            return Err(ParseError::DuplicateOption {
                name: name.to_vec(),
            });
        }

        Ok(Request {
            bytes: datagram,
            kind,
            filename,
            mode,
            options,
        })
    }

    /// RRQ or WRQ.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The filename as sent: non-empty, no NUL, otherwise unchecked.
    pub fn filename(&self) -> &'a [u8] {
        self.filename
    }

    /// The transfer mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The options in wire order, unknown ones included.
    pub fn options(&self) -> &[TftpOption<'a>] {
        &self.options
    }

    /// The first option with this name (ASCII case-insensitive), if any.
    pub fn option(&self, name: &str) -> Option<&TftpOption<'a>> {
        self.options.iter().find(|o| o.is_named(name))
    }

    /// The known options with their typed values, in wire order.
    pub fn known_options(&self) -> impl Iterator<Item = KnownOption> + '_ {
        self.options.iter().filter_map(TftpOption::known)
    }

    /// The whole datagram, exactly as received: what the proxy forwards.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Why a datagram is not an acceptable RRQ or WRQ. The `Display` text is
/// the operator-facing reason; wire bytes in it are escaped and bounded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The datagram exceeds [`MAX_DATAGRAM`] bytes.
    #[error("datagram of {len} bytes is longer than the {max}-byte maximum", max = MAX_DATAGRAM)]
    TooLong {
        /// The datagram's length.
        len: usize,
    },
    /// Fewer than 2 bytes: not even an opcode.
    #[error("datagram of {len} byte(s) is too short to hold the 2-byte opcode")]
    TruncatedOpcode {
        /// The datagram's length.
        len: usize,
    },
    /// A defined opcode other than RRQ or WRQ.
    #[error(
        "{0} packet (opcode {num}) sent to the proxy port: only RRQ and WRQ start a transfer",
        num = .0.number()
    )]
    NotARequest(Opcode),
    /// An opcode number TFTP does not define.
    #[error("unknown opcode {0}: only RRQ (1) and WRQ (2) start a transfer")]
    UnknownOpcode(u16),
    /// The datagram ends right after the opcode.
    #[error("request ends after the opcode: no filename")]
    MissingFilename,
    /// The filename runs to the end of the datagram without a NUL.
    #[error("filename {} is not NUL-terminated", quoted(.filename))]
    FilenameUnterminated {
        /// The bytes after the opcode.
        filename: Vec<u8>,
    },
    /// The filename is the empty string.
    #[error("filename is empty")]
    EmptyFilename,
    /// The datagram ends right after the filename.
    #[error("request ends after the filename: no transfer mode")]
    MissingMode,
    /// The mode runs to the end of the datagram without a NUL.
    #[error("transfer mode {} is not NUL-terminated", quoted(.mode))]
    ModeUnterminated {
        /// The bytes after the filename.
        mode: Vec<u8>,
    },
    /// The mode is not netascii, octet or mail.
    #[error("unknown transfer mode {}: expected netascii, octet or mail", quoted(.mode))]
    UnknownMode {
        /// The mode as sent.
        mode: Vec<u8>,
    },
    /// An option name runs to the end of the datagram without a NUL.
    #[error("option name {} is not NUL-terminated", quoted(.name))]
    OptionNameUnterminated {
        /// The bytes where the option name should be.
        name: Vec<u8>,
    },
    /// An option name is the empty string.
    #[error("option {position} has an empty name")]
    EmptyOptionName {
        /// The option's 1-based position in the option list.
        position: usize,
    },
    /// The datagram ends after an option name: no value follows.
    #[error("option {} has no value", quoted(.name))]
    OptionWithoutValue {
        /// The option name as sent.
        name: Vec<u8>,
    },
    /// An option value runs to the end of the datagram without a NUL.
    #[error("value {} of option {} is not NUL-terminated", quoted(.value), quoted(.name))]
    OptionValueUnterminated {
        /// The option name as sent.
        name: Vec<u8>,
        /// The bytes where the value should be.
        value: Vec<u8>,
    },
    /// Two options share a name (compared ASCII case-insensitively).
    #[error("option {} appears more than once (names are case-insensitive)", quoted(.name))]
    DuplicateOption {
        /// The repeated name, as sent the second time.
        name: Vec<u8>,
    },
    /// A known option's value is not a plain decimal number.
    #[error("value {} of option {} is not a plain decimal number", quoted(.value), quoted(.name))]
    OptionValueNotDecimal {
        /// The option name as sent.
        name: Vec<u8>,
        /// The value as sent.
        value: Vec<u8>,
    },
    /// A known option's value is a number outside the option's range.
    #[error(
        "value {} of option {} is out of range {min}..={max}",
        quoted(.value),
        quoted(.name)
    )]
    OptionValueOutOfRange {
        /// The option name as sent.
        name: Vec<u8>,
        /// The value as sent (decimal digits).
        value: Vec<u8>,
        /// The smallest valid value.
        min: u64,
        /// The largest valid value.
        max: u64,
    },
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
        assert_eq!(r.mode(), Mode::Octet);
        assert!(r.options().is_empty());
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
        assert_eq!(
            e.to_string(),
            "DATA packet (opcode 3) sent to the proxy port: only RRQ and WRQ start a transfer"
        );
    }

    #[test]
    fn ack_refused() {
        let e = refused(b"\x00\x04\x00\x01");
        assert_eq!(e, ParseError::NotARequest(Opcode::Ack));
        assert!(e.to_string().starts_with("ACK packet (opcode 4)"));
    }

    #[test]
    fn error_refused() {
        let e = refused(b"\x00\x05\x00\x01nope\x00");
        assert_eq!(e, ParseError::NotARequest(Opcode::Error));
        assert!(e.to_string().starts_with("ERROR packet (opcode 5)"));
    }

    #[test]
    fn oack_refused() {
        let e = refused(b"\x00\x06blksize\x00512\x00");
        assert_eq!(e, ParseError::NotARequest(Opcode::Oack));
        assert!(e.to_string().starts_with("OACK packet (opcode 6)"));
    }

    #[test]
    fn unknown_opcode_refused() {
        assert_eq!(
            refused(b"\x00\x00f\x00octet\x00"),
            ParseError::UnknownOpcode(0)
        );
        let e = refused(b"\x01\x01f\x00octet\x00");
        assert_eq!(e, ParseError::UnknownOpcode(257));
        assert!(e.to_string().contains("257"));
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
        assert_eq!(
            e.to_string(),
            "filename \"pxelinux.0\" is not NUL-terminated"
        );
    }

    #[test]
    fn empty_filename() {
        assert_eq!(refused(b"\x00\x01\x00octet\x00"), ParseError::EmptyFilename);
    }

    #[test]
    fn missing_mode() {
        assert_eq!(refused(b"\x00\x01f\x00"), ParseError::MissingMode);
    }

    #[test]
    fn mode_without_nul() {
        assert_eq!(
            refused(b"\x00\x01f\x00octet"),
            ParseError::ModeUnterminated {
                mode: b"octet".to_vec()
            }
        );
    }

    #[test]
    fn unknown_mode() {
        let e = refused(b"\x00\x01f\x00bin\"\x01\x00");
        assert_eq!(
            e,
            ParseError::UnknownMode {
                mode: b"bin\"\x01".to_vec()
            }
        );
        assert_eq!(
            e.to_string(),
            r#"unknown transfer mode "bin\"\x01": expected netascii, octet or mail"#
        );
    }

    #[test]
    fn empty_mode() {
        assert_eq!(
            refused(b"\x00\x01f\x00\x00"),
            ParseError::UnknownMode { mode: Vec::new() }
        );
    }

    #[test]
    fn option_name_without_nul() {
        assert_eq!(
            refused(b"\x00\x01f\x00octet\x00blksize"),
            ParseError::OptionNameUnterminated {
                name: b"blksize".to_vec()
            }
        );
    }

    #[test]
    fn option_without_value() {
        let e = refused(b"\x00\x01f\x00octet\x00blksize\x00");
        assert_eq!(
            e,
            ParseError::OptionWithoutValue {
                name: b"blksize".to_vec()
            }
        );
        assert_eq!(e.to_string(), "option \"blksize\" has no value");
    }

    #[test]
    fn option_value_without_nul() {
        assert_eq!(
            refused(b"\x00\x01f\x00octet\x00blksize\x00512"),
            ParseError::OptionValueUnterminated {
                name: b"blksize".to_vec(),
                value: b"512".to_vec()
            }
        );
    }

    #[test]
    fn empty_option_name() {
        assert_eq!(
            refused(b"\x00\x01f\x00octet\x00\x00512\x00"),
            ParseError::EmptyOptionName { position: 1 }
        );
        assert_eq!(
            refused(b"\x00\x01f\x00octet\x00a\x00b\x00\x00"),
            ParseError::EmptyOptionName { position: 2 }
        );
    }

    #[test]
    fn duplicate_option_case_insensitive() {
        let e = refused(b"\x00\x01f\x00octet\x00blksize\x00512\x00x\x00\x00BlkSize\x001024\x00");
        assert_eq!(
            e,
            ParseError::DuplicateOption {
                name: b"BlkSize".to_vec()
            }
        );
        assert_eq!(
            e.to_string(),
            "option \"BlkSize\" appears more than once (names are case-insensitive)"
        );
    }

    #[test]
    fn duplicate_unknown_option_reports_earliest_repeat() {
        assert_eq!(
            refused(b"\x00\x01f\x00octet\x00b\x001\x00a\x001\x00A\x002\x00B\x002\x00"),
            ParseError::DuplicateOption {
                name: b"A".to_vec()
            }
        );
    }

    #[test]
    fn many_repeated_options_refused() {
        let mut bytes = b"\x00\x01f\x00octet\x00".to_vec();
        while bytes.len() + 4 <= MAX_DATAGRAM {
            bytes.extend_from_slice(b"x\x00\x00");
        }
        assert_eq!(
            refused(&bytes),
            ParseError::DuplicateOption {
                name: b"x".to_vec()
            }
        );
    }

    #[test]
    fn reasons_are_bounded() {
        let mut bytes = b"\x00\x01f\x00".to_vec();
        bytes.resize(MAX_DATAGRAM, 0xff);
        let e = refused(&bytes);
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
            if let Err(e) = Request::parse(&bytes) {
                let text = e.to_string();
                prop_assert!(!text.is_empty());
                prop_assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{:?}", text);
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
            prop_assert_eq!(r.mode(), mode);
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
