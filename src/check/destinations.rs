//! Whether the helper's command line limits where it forwards: without
//! `--allow-server` it forwards a request to whatever address the phone
//! named, from the firewall itself, so LAN egress rules that keep the
//! phones out of a management network or a DMZ do not stop the forwarded
//! request. `--check` says so. Pure; the caller finds the command lines.

use super::Finding;

/// Judges the command lines (`argv[0]` first) that start the helper.
pub fn judge(command_lines: &[Vec<String>]) -> Finding {
    let unrestricted = command_lines.iter().any(|argv| {
        !argv
            .iter()
            .any(|a| a == "--allow-server" || a.starts_with("--allow-server="))
    });
    if command_lines.is_empty() {
        Finding::warning(
            "no command line of the helper was found to judge its destinations: without --allow-server it forwards to any server a phone names",
        )
    } else if unrestricted {
        Finding::warning(
            "the helper runs without --allow-server: it forwards to any server a phone names, from the firewall itself, past the LAN's egress rules; add --allow-server CIDR for your TFTP servers to its command line",
        )
    } else {
        Finding::ok("the helper forwards only to its --allow-server networks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_missing_allow_list_is_a_warning() {
        let f = judge(&[argv(&["tftp-proxy", "-v"])]);
        assert_eq!(f.status, Status::Warning, "{f}");
        assert!(f.text.contains("--allow-server CIDR"), "{f}");
        assert_eq!(judge(&[]).status, Status::Warning);
    }

    #[test]
    fn every_line_must_have_one() {
        let limited = argv(&["tftp-proxy", "--allow-server", "198.51.100.0/24"]);
        assert_eq!(judge(std::slice::from_ref(&limited)).status, Status::Ok);
        let equals = argv(&["tftp-proxy", "--allow-server=198.51.100.0/24"]);
        assert_eq!(judge(&[equals]).status, Status::Ok);
        let open = argv(&["tftp-proxy"]);
        assert_eq!(judge(&[limited, open]).status, Status::Warning);
    }
}
