//! The one place a helper that cannot reach syslog says so: the kernel's
//! log on Linux (`/dev/kmsg`, shown by `dmesg` and journald), the console
//! elsewhere. Never standard error, which under inetd is the client's
//! socket.
//!
//! The device is opened at start, while the helper is still root; this
//! module writes one line to it and owns nothing else.

use std::fs::{File, OpenOptions};
use std::io::Write;

#[cfg(target_os = "linux")]
const DEVICE: &str = "/dev/kmsg";
#[cfg(not(target_os = "linux"))]
const DEVICE: &str = "/dev/console";

/// Priority prefix for /dev/kmsg: facility daemon (3), severity error (3).
#[cfg(target_os = "linux")]
const PREFIX: &str = "<27>";
#[cfg(not(target_os = "linux"))]
const PREFIX: &str = "";

/// Writes `message` as one line to the kernel log or console. Returns
/// whether it could.
pub fn tell(message: &str) -> bool {
    let Ok(mut device): Result<File, _> = OpenOptions::new().write(true).open(DEVICE) else {
        return false;
    };
    let line = format!("{PREFIX}tftp-proxy[{}]: {message}\n", std::process::id());
    device.write_all(line.as_bytes()).is_ok()
}
