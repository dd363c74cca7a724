//! Names of the anchors return paths live in:
//! `tftp-proxy/<pid>.<n>.<port>.<until>`: the reaper's pid (the owner),
//! a counter, the helper's upstream port the path waits on, and when the
//! reaper will have emptied it (milliseconds of the system's monotonic
//! clock, `ledger::Clock`). The name carries what a later helper must
//! know: after an abnormal exit the kernel hands the dead helper's ports
//! out again while its anchors still wait, and a new helper reads the
//! port and the deadline here before it installs anything (`ledger.rs`).
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

/// What an anchor's name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name {
    /// The pid of the reaper that will empty it.
    pub owner: u32,
    /// The upstream port the path waits on, and when it will have been
    /// emptied (monotonic milliseconds); `None` in the older
    /// `<pid>.<n>` names, which told neither.
    pub held: Option<(u16, u64)>,
}

/// The path of the `n`th return path of the process `owner` (the pid of
/// the reaper that will empty it), waiting on upstream `port` until
/// `until_ms`: `tftp-proxy/<owner>.<n>.<port>.<until_ms>`.
pub fn path(owner: u32, n: u64, port: u16, until_ms: u64) -> String {
    format!("{PARENT}/{owner}.{n}.{port}.{until_ms}")
}

/// The scratch anchor `Pf::open` checks rule changes with.
pub fn scratch(owner: u32) -> String {
    format!("{PARENT}/{owner}.0")
}

/// The path of a child anchor of [`PARENT`] given its name.
pub fn child_path(name: &str) -> String {
    format!("{PARENT}/{name}")
}

/// Whether a rule's anchor call, as pf hands it out (`"tftp-proxy/*"`,
/// or `"/tftp-proxy/*"` when written absolute), evaluates every anchor
/// directly below `parent`: what `anchor "tftp-proxy/*"` in the main
/// ruleset does.
pub fn calls_children_of(call: &str, parent: &str) -> bool {
    let call = call.strip_prefix('/').unwrap_or(call);
    call.strip_suffix("/*") == Some(parent)
}

/// What a name below [`PARENT`] tells, or `None` for a name this helper
/// did not make.
pub fn parse(name: &str) -> Option<Name> {
    let parts: Vec<&str> = name.split('.').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(parts.len() == 2 || parts.len() == 4) || !parts.iter().all(|p| digits(p)) {
        return None;
    }
    let owner: u32 = parts[0].parse().ok()?;
    parts[1].parse::<u64>().ok()?;
    let held = match parts.as_slice() {
        [_, _, port, until] => Some((port.parse().ok()?, until.parse().ok()?)),
        _ => None,
    };
    (owner > 0).then_some(Name { owner, held })
}

/// The owner's pid in an anchor name below [`PARENT`], or `None` for a
/// name this helper did not make.
pub fn owner(name: &str) -> Option<u32> {
    parse(name).map(|n| n.owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_owner_counter_port_and_deadline() {
        assert_eq!(
            path(4242, 7, 49441, 123_456_789),
            "tftp-proxy/4242.7.49441.123456789"
        );
        assert_eq!(scratch(4242), "tftp-proxy/4242.0");
        assert_eq!(child_path("4242.7"), "tftp-proxy/4242.7");
        // The longest name fits pf's PF_ANCHOR_NAME_SIZE (64, NUL included).
        let longest = path(u32::MAX, u64::MAX, u16::MAX, u64::MAX);
        assert!(longest.len() - PARENT.len() - 1 < 64, "{longest}");
    }

    #[test]
    fn a_wildcard_call_of_the_parent_calls_its_children() {
        assert!(calls_children_of("tftp-proxy/*", PARENT));
        assert!(calls_children_of("/tftp-proxy/*", PARENT));
        for other in ["tftp-proxy", "tftp-proxy/1.2", "relayd/*", "", "*"] {
            assert!(!calls_children_of(other, PARENT), "{other:?}");
        }
    }

    #[test]
    fn names_are_read_back() {
        assert_eq!(
            parse("4242.7.49441.123456789"),
            Some(Name {
                owner: 4242,
                held: Some((49441, 123_456_789))
            })
        );
        assert_eq!(
            parse("4242.7"),
            Some(Name {
                owner: 4242,
                held: None
            })
        );
        assert_eq!(owner("4242.7.1.2"), Some(4242));
        assert_eq!(owner("1.0"), Some(1));
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for foreign in [
            "",
            "4242",
            "4242.",
            ".7",
            "a.7",
            "4242.x",
            "0.1",
            "-1.2",
            "1.2.3",
            "+1.2",
            "1.2.70000.5",
            "1.2.3.4.5",
            "1.2.3.x",
            "1.2..4",
        ] {
            assert_eq!(parse(foreign), None, "{foreign:?}");
        }
    }
}
