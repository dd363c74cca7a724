//! What a request may carry that RFC 1350 and RFC 2347 do not allow, but
//! real servers serve anyway: [`Irregularity`]. The liberal parse notes
//! each one and forwards the request as sent; `--strict-requests` refuses
//! a request with any of them, naming the first.
//!
//! Owns only the names and texts of these deviations; it must not parse,
//! judge or log anything.

use std::fmt;

use thiserror::Error;

use super::escape::quoted;

/// Renders a name or value for a reason: as is when it is short and plain
/// (letters, digits, `.`, `-`, `_`), else quoted and escaped.
pub(super) struct Plain<'a>(pub(super) &'a [u8]);

impl fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && self.0.len() <= 32
            && self
                .0
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if plain {
            // Only ASCII bytes: always valid UTF-8.
            f.write_str(std::str::from_utf8(self.0).unwrap_or_default())
        } else {
            f.write_str(&quoted(self.0))
        }
    }
}

/// One way a read or write request departs from the RFCs. The `Display`
/// text names the part of the request and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Irregularity {
    /// The filename is the empty string.
    #[error("filename empty")]
    EmptyFilename,
    /// The datagram ends right after the filename.
    #[error("no transfer mode after the filename")]
    MissingMode,
    /// The mode runs to the end of the datagram without a NUL.
    #[error("transfer mode {} not terminated", Plain(.mode))]
    ModeUnterminated {
        /// The bytes after the filename.
        mode: Vec<u8>,
    },
    /// The mode is not netascii, octet or mail.
    #[error("unknown transfer mode {}", quoted(.mode))]
    UnknownMode {
        /// The mode as sent.
        mode: Vec<u8>,
    },
    /// Only NUL bytes follow the last complete field.
    #[error("{count} NUL byte(s) of padding after the request")]
    TrailingNuls {
        /// How many.
        count: usize,
    },
    /// Bytes after the last complete field end without a NUL.
    #[error("bytes {} after the last option not terminated", quoted(.bytes))]
    TrailingUnterminated {
        /// The bytes as sent.
        bytes: Vec<u8>,
    },
    /// An option name is the empty string.
    #[error("option {position}: empty name")]
    EmptyOptionName {
        /// The option's 1-based position in the option list.
        position: usize,
    },
    /// The datagram ends after an option name: no value follows.
    #[error("option {}: no value", Plain(.name))]
    OptionWithoutValue {
        /// The option name as sent.
        name: Vec<u8>,
    },
    /// An option value runs to the end of the datagram without a NUL.
    #[error("option {}: value {} not terminated", Plain(.name), Plain(.value))]
    OptionValueUnterminated {
        /// The option name as sent.
        name: Vec<u8>,
        /// The bytes where the value should be.
        value: Vec<u8>,
    },
    /// Two options share a name (compared ASCII case-insensitively).
    #[error("option {}: repeated (names are case-insensitive)", Plain(.name))]
    DuplicateOption {
        /// The repeated name, as sent the second time.
        name: Vec<u8>,
    },
    /// A known option's value is not a plain decimal number.
    #[error("option {}: value {} not a decimal number", Plain(.name), Plain(.value))]
    OptionValueNotDecimal {
        /// The option name as sent.
        name: Vec<u8>,
        /// The value as sent.
        value: Vec<u8>,
    },
    /// A known option's value is a number outside the option's range.
    #[error("option {}: value {} out of range", Plain(.name), Plain(.value))]
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
mod tests {
    use super::*;

    #[test]
    fn plain_names_unquoted_others_quoted() {
        assert_eq!(Plain(b"blksize").to_string(), "blksize");
        assert_eq!(Plain(b"100000").to_string(), "100000");
        assert_eq!(Plain(b"").to_string(), "\"\"");
        assert_eq!(Plain(b"a b").to_string(), "\"a b\"");
        assert_eq!(Plain(b"x\x01").to_string(), "\"x\\x01\"");
        assert_eq!(Plain(&[b'a'; 33]).to_string().len(), 35);
    }

    #[test]
    fn texts_name_the_part() {
        assert_eq!(
            Irregularity::OptionValueOutOfRange {
                name: b"blksize".to_vec(),
                value: b"100000".to_vec(),
                min: 8,
                max: 65464
            }
            .to_string(),
            "option blksize: value 100000 out of range"
        );
        assert_eq!(
            Irregularity::TrailingNuls { count: 3 }.to_string(),
            "3 NUL byte(s) of padding after the request"
        );
    }
}
