//! TFTP wire format, sans-IO: dissecting the first datagram of a transfer
//! (RRQ or WRQ, RFC 1350 with the option extension of RFC 2347, 2348,
//! 2349 and 7440) as liberally as real servers do, lowering a requested
//! blksize (`--max-blksize`), building ERROR packets, and rendering
//! untrusted wire bytes safely for logs.
//!
//! This module owns the bytes-to-types boundary only. It must not touch
//! sockets, the clock, the firewall, logging or policy: it never decides
//! whether a request may pass (that is [`crate::policy`]). The proxy
//! forwards the client's exact bytes; the one change it may make,
//! lowering blksize, is built here ([`LoweredBlksize`]).

mod blksize;
pub mod error;
mod escape;
mod irregularity;
mod mode;
mod opcode;
mod option;
pub mod request;

pub use blksize::{LoweredBlksize, MAX_BLKSIZE, MIN_BLKSIZE};
pub use error::{error_packet, ErrorCode, MAX_ERROR_MESSAGE};
pub use escape::{describe_options, quoted, DESCRIBE_MAX, QUOTED_MAX};
pub use irregularity::Irregularity;
pub use mode::Mode;
pub use opcode::{Kind, Opcode};
pub use option::{KnownOption, TftpOption};
pub use request::{ParseError, Request};

/// The largest datagram accepted: the largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65535;
