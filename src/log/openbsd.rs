//! OpenBSD: the system's syslog(3), which sends each line with
//! sendsyslog(2). That call is allowed under pledge "stdio", needs no
//! socket (so it works in the chroot and survives a syslogd restart),
//! stamps local time, and never blocks: when syslogd is away or slow the
//! kernel drops the line, counts it and logs the count itself.
//!
//! This module owns the two libc calls and nothing else.

use std::ffi::CString;

/// Names the helper (`tftp-proxy[pid]`) and the facility (daemon).
pub fn open() {
    // SAFETY: openlog keeps the ident pointer; a 'static C string literal
    // outlives the process's use of it. The flags and facility are plain
    // integers.
    unsafe { libc::openlog(c"tftp-proxy".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) }
}

/// Sends one line at `priority` (a `LOG_*` severity).
pub fn send(priority: libc::c_int, message: &str) {
    // A NUL would end the line early; the callers' text has none, but the
    // guard costs nothing.
    let Ok(text) = CString::new(message.replace('\0', "\\0")) else {
        return;
    };
    // SAFETY: "%s" consumes exactly one argument, a valid NUL-terminated
    // string that lives until the call returns; the message itself is
    // never used as a format.
    unsafe { libc::syslog(priority | libc::LOG_DAEMON, c"%s".as_ptr(), text.as_ptr()) }
}
