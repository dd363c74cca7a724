//! The ioctl request encoding of `<sys/ioccom.h>`, the same on OpenBSD
//! and FreeBSD: the argument's length in bits 16..29, the group letter,
//! the command number, and the copy direction in the top bits.
//!
//! This file owns that arithmetic and nothing else.

use std::os::raw::c_ulong;

/// Bits of an ioctl request code that hold the argument's length
/// (`IOCPARM_MASK` in `<sys/ioccom.h>`: 13 bits, starting at bit 16).
pub const IOCPARM_MASK: c_ulong = 0x1fff;

/// `IOC_IN | IOC_OUT`: the kernel copies the argument in and back out.
const IOC_INOUT: c_ulong = 0x8000_0000 | 0x4000_0000;

/// The request code of a read-write ioctl (`_IOWR(group, num, type)`)
/// whose argument is `len` bytes long.
pub const fn iowr(group: u8, num: u8, len: usize) -> c_ulong {
    assert!(len as c_ulong <= IOCPARM_MASK, "ioctl argument too large");
    IOC_INOUT | ((len as c_ulong & IOCPARM_MASK) << 16) | ((group as c_ulong) << 8) | num as c_ulong
}

/// The argument length encoded in a request code (`IOCPARM_LEN`).
pub const fn ioctl_param_len(request: c_ulong) -> usize {
    ((request >> 16) & IOCPARM_MASK) as usize
}

/// The group letter encoded in a request code (`IOCGROUP`).
pub const fn ioctl_group(request: c_ulong) -> u8 {
    ((request >> 8) & 0xff) as u8
}

/// The command number encoded in a request code.
pub const fn ioctl_number(request: c_ulong) -> u8 {
    (request & 0xff) as u8
}
