//! Names of the anchors return paths live in: `tftp-proxy/<pid>.<n>`.
//!
//! This module owns the naming scheme and its parsing, nothing else. It
//! must not touch the kernel: the sweep that acts on stale names lives in
//! the backend.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

/// The anchor the shipped pf.conf evaluates (`anchor "tftp-proxy/*"`);
/// every return path is one anchor directly below it.
pub const PARENT: &str = "tftp-proxy";

/// The path of the `n`th return path of the process `owner` (the pid of
/// the reaper that will empty it): `tftp-proxy/<owner>.<n>`.
pub fn path(owner: u32, n: u64) -> String {
    format!("{PARENT}/{owner}.{n}")
}

/// The path of a child anchor of [`PARENT`] given its name.
pub fn child_path(name: &str) -> String {
    format!("{PARENT}/{name}")
}

/// The owner's pid in an anchor name below [`PARENT`] (`"<pid>.<n>"`), or
/// `None` for a name this helper did not make.
pub fn owner(name: &str) -> Option<u32> {
    let (pid, n) = name.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    n.parse::<u64>().ok()?;
    (pid > 0).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_pid_dot_counter_below_the_parent() {
        assert_eq!(path(4242, 7), "tftp-proxy/4242.7");
        assert_eq!(child_path("4242.7"), "tftp-proxy/4242.7");
    }

    #[test]
    fn owner_parses_only_our_names() {
        assert_eq!(owner("4242.7"), Some(4242));
        assert_eq!(owner("1.0"), Some(1));
        for foreign in [
            "", "4242", "4242.", ".7", "a.7", "4242.x", "0.1", "-1.2", "1.2.3", "+1.2",
        ] {
            assert_eq!(owner(foreign), None, "{foreign:?}");
        }
    }
}
