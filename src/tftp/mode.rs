//! Transfer modes (RFC 1350): [`Mode`], netascii, octet or mail, named
//! on the wire in any ASCII case.

use std::fmt;

/// A transfer mode (RFC 1350); matched ASCII case-insensitively on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// "netascii": text with CR LF line ends.
    Netascii,
    /// "octet": raw bytes.
    Octet,
    /// "mail": obsolete delivery to a user, still a defined mode.
    Mail,
}

impl Mode {
    /// The canonical lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Netascii => "netascii",
            Mode::Octet => "octet",
            Mode::Mail => "mail",
        }
    }

    /// The mode named by wire bytes (without the NUL), in any ASCII case.
    pub fn from_wire(name: &[u8]) -> Option<Mode> {
        [Mode::Netascii, Mode::Octet, Mode::Mail]
            .into_iter()
            .find(|m| name.eq_ignore_ascii_case(m.as_str().as_bytes()))
    }
}

impl fmt::Display for Mode {
    /// The lowercase name, e.g. "octet".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tftp::request::tests::parsed;

    #[test]
    fn mode_netascii_mixed_case() {
        assert_eq!(
            parsed(b"\x00\x01f\x00NetASCII\x00").mode(),
            Some(Mode::Netascii)
        );
        assert_eq!(Mode::Netascii.to_string(), "netascii");
    }

    #[test]
    fn mode_octet_mixed_case() {
        assert_eq!(parsed(b"\x00\x01f\x00OCTET\x00").mode(), Some(Mode::Octet));
        assert_eq!(parsed(b"\x00\x01f\x00oCtEt\x00").mode(), Some(Mode::Octet));
        assert_eq!(Mode::Octet.to_string(), "octet");
    }

    #[test]
    fn mode_mail_mixed_case() {
        assert_eq!(parsed(b"\x00\x02user\x00MaiL\x00").mode(), Some(Mode::Mail));
        assert_eq!(Mode::Mail.to_string(), "mail");
    }
}
