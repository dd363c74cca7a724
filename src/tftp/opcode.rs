//! TFTP opcodes: [`Opcode`], the first two bytes of every packet, and
//! [`Kind`], the direction of the transfer an RRQ or WRQ starts.

use std::fmt;

/// A TFTP opcode, the first two bytes of every packet (big-endian).
///
/// Numbers without a defined opcode are kept as [`Opcode::Unknown`];
/// [`Opcode::from`] never puts a defined number (1 to 6) there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 1: read request.
    Rrq,
    /// 2: write request.
    Wrq,
    /// 3: data.
    Data,
    /// 4: acknowledgment.
    Ack,
    /// 5: error.
    Error,
    /// 6: option acknowledgment (RFC 2347).
    Oack,
    /// Any other number, kept as received.
    Unknown(u16),
}

impl Opcode {
    /// The opcode at the start of any datagram, or `None` when it is
    /// shorter than the 2-byte opcode. Reads nothing else, so it also
    /// classifies datagrams
    /// [`Request::parse`](super::Request::parse) refuses.
    pub fn of(datagram: &[u8]) -> Option<Opcode> {
        match datagram {
            [hi, lo, ..] => Some(Opcode::from(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        }
    }

    /// The opcode's number on the wire.
    pub fn number(self) -> u16 {
        match self {
            Opcode::Rrq => 1,
            Opcode::Wrq => 2,
            Opcode::Data => 3,
            Opcode::Ack => 4,
            Opcode::Error => 5,
            Opcode::Oack => 6,
            Opcode::Unknown(n) => n,
        }
    }
}

impl From<u16> for Opcode {
    fn from(n: u16) -> Opcode {
        match n {
            1 => Opcode::Rrq,
            2 => Opcode::Wrq,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::Oack,
            n => Opcode::Unknown(n),
        }
    }
}

impl From<Opcode> for u16 {
    fn from(op: Opcode) -> u16 {
        op.number()
    }
}

impl fmt::Display for Opcode {
    /// The RFC name ("RRQ", "DATA", ...), or "opcode N" for unknown ones.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opcode::Rrq => f.write_str("RRQ"),
            Opcode::Wrq => f.write_str("WRQ"),
            Opcode::Data => f.write_str("DATA"),
            Opcode::Ack => f.write_str("ACK"),
            Opcode::Error => f.write_str("ERROR"),
            Opcode::Oack => f.write_str("OACK"),
            Opcode::Unknown(n) => write!(f, "opcode {n}"),
        }
    }
}

/// Which way a transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// RRQ: the client reads a file from the server.
    Read,
    /// WRQ: the client writes a file to the server.
    Write,
}

impl Kind {
    /// The opcode that requests this kind of transfer.
    pub fn opcode(self) -> Opcode {
        match self {
            Kind::Read => Opcode::Rrq,
            Kind::Write => Opcode::Wrq,
        }
    }

    /// The kind an opcode requests, if it is RRQ or WRQ.
    pub fn from_opcode(op: Opcode) -> Option<Kind> {
        match op {
            Opcode::Rrq => Some(Kind::Read),
            Opcode::Wrq => Some(Kind::Write),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    /// "RRQ" or "WRQ".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.opcode().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_of_any_datagram() {
        assert_eq!(Opcode::of(b""), None);
        assert_eq!(Opcode::of(b"\x00"), None);
        assert_eq!(Opcode::of(b"\x00\x05"), Some(Opcode::Error));
        assert_eq!(Opcode::of(b"\x00\x05\x00\x01x\x00"), Some(Opcode::Error));
        assert_eq!(Opcode::of(b"\x00\x01f"), Some(Opcode::Rrq));
        assert_eq!(Opcode::of(b"\xff\xff"), Some(Opcode::Unknown(65535)));
    }
}
