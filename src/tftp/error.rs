//! TFTP ERROR packets (RFC 1350 opcode 5, code 8 from RFC 2347): the codes
//! and the encoder the proxy uses to tell a client why it was refused.
//!
//! Owns only building the bytes; it must not send them, log, or decide
//! which error applies.

use std::fmt;

use super::opcode::Opcode;

/// Longest error message put on the wire, in bytes (before the final NUL).
pub const MAX_ERROR_MESSAGE: usize = 255;

/// Longest packet [`error_packet`] builds: opcode, code, message, NUL.
pub const MAX_ERROR_PACKET: usize = 2 + 2 + MAX_ERROR_MESSAGE + 1;

/// A TFTP error code (RFC 1350 section 5, RFC 2347 for code 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// 0: not defined, see the error message.
    NotDefined = 0,
    /// 1: file not found.
    FileNotFound = 1,
    /// 2: access violation.
    AccessViolation = 2,
    /// 3: disk full or allocation exceeded.
    DiskFull = 3,
    /// 4: illegal TFTP operation.
    IllegalOperation = 4,
    /// 5: unknown transfer ID.
    UnknownTransferId = 5,
    /// 6: file already exists.
    FileExists = 6,
    /// 7: no such user.
    NoSuchUser = 7,
    /// 8: the transfer should be terminated due to option negotiation.
    OptionRefused = 8,
}

impl ErrorCode {
    /// The code's number on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The code for a wire number, if it is one of the nine defined codes.
    pub fn from_code(code: u16) -> Option<ErrorCode> {
        Some(match code {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTransferId,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            _ => return None,
        })
    }
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> u16 {
        code.code()
    }
}

impl fmt::Display for ErrorCode {
    /// The RFC's wording, e.g. "access violation".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorCode::NotDefined => "not defined",
            ErrorCode::FileNotFound => "file not found",
            ErrorCode::AccessViolation => "access violation",
            ErrorCode::DiskFull => "disk full",
            ErrorCode::IllegalOperation => "illegal TFTP operation",
            ErrorCode::UnknownTransferId => "unknown transfer ID",
            ErrorCode::FileExists => "file already exists",
            ErrorCode::NoSuchUser => "no such user",
            ErrorCode::OptionRefused => "option negotiation refused",
        })
    }
}

/// Builds an ERROR packet: opcode 5, `code`, `message`, NUL.
///
/// The message is made a valid netascii string: every character that is
/// not printable ASCII (controls, NUL, CR, LF, anything non-ASCII) becomes
/// one `?`, and it is cut at [`MAX_ERROR_MESSAGE`] bytes.
pub fn error_packet(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut packet = Vec::with_capacity(MAX_ERROR_PACKET);
    packet.extend_from_slice(&Opcode::Error.number().to_be_bytes());
    packet.extend_from_slice(&code.code().to_be_bytes());
    packet.extend(message.chars().take(MAX_ERROR_MESSAGE).map(|c| {
        u8::try_from(c)
            .ok()
            .filter(|b| (0x20..=0x7e).contains(b))
            .unwrap_or(b'?')
    }));
    packet.push(0);
    packet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_violation_bytes() {
        assert_eq!(
            error_packet(ErrorCode::AccessViolation, "read-only"),
            b"\x00\x05\x00\x02read-only\x00"
        );
    }

    #[test]
    fn option_refused_empty_message() {
        assert_eq!(
            error_packet(ErrorCode::OptionRefused, ""),
            b"\x00\x05\x00\x08\x00"
        );
    }

    #[test]
    fn replaces_unprintable_and_non_ascii() {
        assert_eq!(
            error_packet(ErrorCode::NotDefined, "a\0b\r\nc\u{e9}\u{1F600}\x7f"),
            b"\x00\x05\x00\x00a?b??c???\x00"
        );
    }

    #[test]
    fn caps_message_length() {
        let long = "x".repeat(1000);
        let packet = error_packet(ErrorCode::FileNotFound, &long);
        assert_eq!(packet.len(), 4 + MAX_ERROR_MESSAGE + 1);
        assert_eq!(packet.get(..4), Some(&b"\x00\x05\x00\x01"[..]));
        assert_eq!(packet.last(), Some(&0));
        assert_eq!(packet.iter().filter(|&&b| b == 0).count(), 3);
    }

    #[test]
    fn codes_round_trip() {
        for n in 0..=8u16 {
            let code = ErrorCode::from_code(n).expect("defined code");
            assert_eq!(u16::from(code), n);
            assert!(!code.to_string().is_empty());
        }
        assert_eq!(ErrorCode::from_code(9), None);
    }
}
