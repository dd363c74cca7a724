//! `/dev/pf` and the one generic ioctl every pf kernel issues through it,
//! shared by the kernel encodings (`kernel/openbsd/ioctl.rs`,
//! `kernel/freebsd/ioctl.rs`).
//!
//! With the kernels' `ioctl.rs`, the only pf files with `unsafe`: ioctl(2)
//! has no safe wrapper. Each request code is tied to the one argument type
//! it carries, and its encoded length is checked against that type's size
//! when the code is declared (`IOCPARM_LEN` of sys/sys/ioccom.h, the same
//! on both kernels), so the kernel reads and writes exactly the Rust value
//! it is given.
//!
//! It owns no request code, structure or errno meaning: those are each
//! kernel's. It must not decide anything.

use nix::errno::Errno;
#[cfg(target_os = "freebsd")]
use pf_sys::freebsd::ioctl_param_len;
#[cfg(target_os = "openbsd")]
use pf_sys::openbsd::ioctl_param_len;
use std::fs::OpenOptions;
use std::marker::PhantomData;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::raw::c_ulong;

/// The packet filter's control device.
const PF_DEVICE: &str = "/dev/pf";

/// Structures passed to the kernel whole: it copies exactly their size in
/// and back out and follows no pointer inside them. Each kernel implements
/// it for its own structures, saying why each qualifies.
pub trait Argument {}

/// An ioctl request code bound to the one argument type it carries.
pub struct Request<T> {
    code: c_ulong,
    _argument: PhantomData<fn(&mut T)>,
}

impl<T: Argument> Request<T> {
    /// Binds `code` to `T`; refuses (at compile time, in a const) a code
    /// whose encoded length is not `size_of::<T>()`.
    pub const fn new(code: c_ulong) -> Self {
        assert!(
            ioctl_param_len(code) == size_of::<T>(),
            "ioctl length differs from the argument's size"
        );
        Request {
            code,
            _argument: PhantomData,
        }
    }
}

/// `/dev/pf`, open for reading (lookups) or reading and writing (rules).
#[derive(Debug)]
pub struct PfDevice {
    fd: OwnedFd,
}

impl PfDevice {
    /// Opens `/dev/pf`, for writing too when `writable`.
    pub fn open(writable: bool) -> Result<PfDevice, Errno> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(PF_DEVICE)
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(PfDevice { fd: file.into() })
    }

    /// Issues `request` with `argument`.
    pub fn call<T: Argument>(&self, request: Request<T>, argument: &mut T) -> Result<(), Errno> {
        // SAFETY: `self.fd` is an open descriptor of /dev/pf for as long as
        // `self` lives. `request.code` encodes `size_of::<T>()` and `T` is
        // an `Argument` (checked in `Request::new`), so the kernel reads and
        // writes exactly the `T` behind `argument`, an exclusive borrow that
        // outlives the call, and dereferences no pointer inside it.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                request.code,
                std::ptr::from_mut(argument),
            )
        };
        Errno::result(rc).map(drop)
    }
}

/// The descriptor, open for as long as the `PfDevice` lives, for the
/// ioctls whose argument points at more memory (the transactions).
impl AsRawFd for PfDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
