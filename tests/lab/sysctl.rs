//! The host-wide receive-buffer default, set as the shipped
//! `etc/sysctl.d/60-tftp-proxy.conf` sets it, for labs that measure a
//! storm's first burst into a socket inetd has just created.
//!
//! `net.core.rmem_default` is not per network namespace (a namespace sees
//! it read-only), so this changes the whole host while a lab runs: only
//! raising a ceiling on memory queued to sockets created meanwhile. One
//! lab at a time holds it (a lock file), and the old value comes back
//! when the guard is dropped, on failure too.

use super::{fail, repo};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::process::Command;

const RMEM_DEFAULT: &str = "/proc/sys/net/core/rmem_default";
const LOCK: &str = "/run/tftp-proxy-lab-rmem_default.lock";

/// `net.core.rmem_default` at the shipped value until dropped.
pub struct ShippedReceiveBuffer {
    before: String,
    /// The shipped value, in bytes.
    pub bytes: usize,
    _lock: Flock<File>,
}

impl ShippedReceiveBuffer {
    /// Sets `net.core.rmem_default` to the value of
    /// `etc/sysctl.d/60-tftp-proxy.conf` with `sysctl -p` on that file.
    pub fn set() -> ShippedReceiveBuffer {
        let conf = repo().join("etc/sysctl.d/60-tftp-proxy.conf");
        let text = std::fs::read_to_string(&conf)
            .unwrap_or_else(|e| fail(format!("{}: {e}", conf.display())));
        let bytes: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("net.core.rmem_default = "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| fail(format!("no net.core.rmem_default in {}", conf.display())));
        let file = File::create(LOCK).unwrap_or_else(|e| fail(format!("{LOCK}: {e}")));
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| fail(format!("locking {LOCK}: {e}")));
        let before = std::fs::read_to_string(RMEM_DEFAULT)
            .unwrap_or_else(|e| fail(format!("{RMEM_DEFAULT}: {e} (the lab needs root)")));
        // As doc/install-linux.md has the operator apply it.
        super::run(Command::new("sysctl").args(["-q", "-p"]).arg(&conf));
        let now = std::fs::read_to_string(RMEM_DEFAULT).unwrap_or_default();
        if now.trim() != bytes.to_string() {
            fail(format!(
                "sysctl -p {} left {RMEM_DEFAULT} at {}",
                conf.display(),
                now.trim()
            ));
        }
        ShippedReceiveBuffer {
            before,
            bytes,
            _lock: lock,
        }
    }
}

impl Drop for ShippedReceiveBuffer {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(RMEM_DEFAULT, self.before.trim()) {
            eprintln!(
                "lab: restoring {RMEM_DEFAULT} to {}: {e}",
                self.before.trim()
            );
        }
    }
}
