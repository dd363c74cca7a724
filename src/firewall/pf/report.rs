//! The reaper's reports to the helper, one line per anchor it emptied:
//! `<anchor> used <packets> <bytes>`, `<anchor> unused` or `<anchor>
//! unknown`, what it read of the anchor's answer-catching rule just
//! before emptying it (`outcome.rs`); and the helper's book of which
//! return path awaits which anchor's report.
//!
//! The helper reads the reports off a non-blocking pipe whenever it asks
//! about outcomes or its reaper's health, so a report may arrive in
//! pieces: [`Lines`] keeps the unfinished tail. A path whose report has
//! not come is [`PathUse::Pending`]; the flow asks again later.
//!
//! Pure code; it owns the line format and the book, nothing else.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use crate::firewall::{PathUse, ReturnPath};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

/// The longest line a reader keeps waiting for the end of: an anchor
/// path (at most 64 bytes in pf) and two 20-digit numbers fit well.
const MAX_LINE: usize = 256;

/// The report of `anchor`'s use, with its newline.
pub fn line(anchor: &str, used: PathUse) -> String {
    match used {
        PathUse::Used { packets, bytes } => format!("{anchor} used {packets} {bytes}\n"),
        PathUse::Unused => format!("{anchor} unused\n"),
        // pf cannot tell a dropped answer; Pending is the helper's own.
        PathUse::Dropped { .. } | PathUse::Unknown | PathUse::Pending => {
            format!("{anchor} unknown\n")
        }
    }
}

/// A report line (without its newline) read back, or `None` for a line
/// this format does not describe.
pub fn parse(line: &str) -> Option<(&str, PathUse)> {
    let mut words = line.split(' ');
    let anchor = words.next().filter(|a| !a.is_empty())?;
    let used = match (words.next()?, words.next(), words.next()) {
        ("used", Some(packets), Some(bytes)) => PathUse::Used {
            packets: packets.parse().ok()?,
            bytes: bytes.parse().ok()?,
        },
        ("unused", None, None) => PathUse::Unused,
        ("unknown", None, None) => PathUse::Unknown,
        _ => return None,
    };
    words.next().is_none().then_some((anchor, used))
}

/// Splits bytes read in arbitrary pieces into whole lines.
#[derive(Debug, Default)]
pub struct Lines {
    tail: Vec<u8>,
}

impl Lines {
    /// The whole lines `bytes` completes, without their newlines. An
    /// overlong or non-UTF-8 line is dropped (not the reaper's format).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                let whole = std::mem::take(&mut self.tail);
                if let Ok(text) = String::from_utf8(whole) {
                    lines.push(text);
                }
            } else if self.tail.len() < MAX_LINE {
                self.tail.push(byte);
            } else {
                // Too long to be a report: forget it up to its newline.
                self.tail.clear();
                self.tail.extend_from_slice(&[0xff; MAX_LINE]);
            }
        }
        lines
    }
}

/// A return path's identity in the book.
type Key = (SocketAddr, SocketAddr, SocketAddr);

fn key(path: &ReturnPath) -> Key {
    (path.client, path.proxy, path.server)
}

/// Which path awaits which anchor's report, and the reports not yet
/// asked for.
#[derive(Debug, Default)]
pub struct Book {
    anchors: HashMap<Key, String>,
    /// The anchors awaited, for the reports.
    awaited: HashSet<String>,
    reported: HashMap<String, PathUse>,
}

impl Book {
    /// `path` was installed in `anchor`; its report will come.
    pub fn installed(&mut self, path: &ReturnPath, anchor: &str) {
        if let Some(old) = self.anchors.insert(key(path), anchor.to_owned()) {
            self.awaited.remove(&old);
            self.reported.remove(&old);
        }
        self.awaited.insert(anchor.to_owned());
    }

    /// `path` was removed before its time: no report is asked for.
    pub fn removed(&mut self, path: &ReturnPath) {
        if let Some(anchor) = self.anchors.remove(&key(path)) {
            self.awaited.remove(&anchor);
            self.reported.remove(&anchor);
        }
    }

    /// Records a report line. Reports of anchors no path awaits (removed
    /// early, or not this helper's format) are dropped.
    pub fn report(&mut self, line: &str) {
        let Some((anchor, used)) = parse(line) else {
            return;
        };
        if self.awaited.contains(anchor) {
            self.reported.insert(anchor.to_owned(), used);
        }
    }

    /// `path`'s use as reported, which then leaves the book;
    /// [`PathUse::Pending`] until its report has come, and
    /// [`PathUse::Unknown`] for a path never installed.
    pub fn take(&mut self, path: &ReturnPath) -> PathUse {
        let Some(anchor) = self.anchors.get(&key(path)) else {
            return PathUse::Unknown;
        };
        match self.reported.remove(anchor) {
            Some(used) => {
                self.awaited.remove(anchor);
                self.anchors.remove(&key(path));
                used
            }
            None => PathUse::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(proxy_port: u16) -> ReturnPath {
        ReturnPath {
            client: "198.51.100.2:50232".parse().unwrap(),
            proxy: format!("203.0.113.1:{proxy_port}").parse().unwrap(),
            server: "192.0.2.20:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    #[test]
    fn every_use_round_trips() {
        let anchor = "tftp-proxy/4242.7.49441.123456789";
        for used in [
            PathUse::Used {
                packets: 1,
                bytes: 544,
            },
            PathUse::Used {
                packets: u64::MAX,
                bytes: u64::MAX,
            },
            PathUse::Unused,
            PathUse::Unknown,
        ] {
            let text = line(anchor, used);
            assert!(text.ends_with('\n') && text.len() < MAX_LINE, "{text:?}");
            assert_eq!(parse(text.trim_end()), Some((anchor, used)), "{text:?}");
        }
        // Pending is the helper's own state, never a report.
        assert_eq!(line("a/1", PathUse::Pending), "a/1 unknown\n");
        assert_eq!(line("a/1", PathUse::Unused), "a/1 unused\n");
        assert_eq!(
            line(
                "a/1",
                PathUse::Used {
                    packets: 2,
                    bytes: 9
                }
            ),
            "a/1 used 2 9\n"
        );
    }

    #[test]
    fn other_lines_are_refused() {
        for bad in [
            "",
            "a/1",
            " unused",
            "a/1 used",
            "a/1 used 1",
            "a/1 used x 2",
            "a/1 used 1 2 3",
            "a/1 unused 0",
            "a/1 maybe",
            "a/1  unused",
            "a/1 used -1 2",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lines_arrive_in_pieces() {
        let mut lines = Lines::default();
        assert!(lines.feed(b"a/1 unu").is_empty());
        assert_eq!(lines.feed(b"sed\na/2 used 1 5"), vec!["a/1 unused"]);
        assert_eq!(lines.feed(b"44\n"), vec!["a/2 used 1 544"]);
        // An overlong line is dropped whole; the next one is read.
        let long = vec![b'x'; MAX_LINE * 2];
        assert!(lines.feed(&long).is_empty());
        assert_eq!(lines.feed(b"\na/3 unknown\n"), vec!["a/3 unknown"]);
    }

    #[test]
    fn a_path_is_pending_until_its_anchors_report() {
        let mut book = Book::default();
        let (first, second) = (path(1000), path(1001));
        book.installed(&first, "tftp-proxy/7.1.1000.5");
        book.installed(&second, "tftp-proxy/7.2.1001.5");
        assert_eq!(book.take(&first), PathUse::Pending);
        book.report("tftp-proxy/7.1.1000.5 used 1 544");
        // Another helper's anchor, or a garbled line: nothing changes.
        book.report("tftp-proxy/9.1.1000.5 unused");
        book.report("tftp-proxy/7.2.1001.5 garbled");
        assert_eq!(
            book.take(&first),
            PathUse::Used {
                packets: 1,
                bytes: 544
            }
        );
        // Taken: the book no longer knows it.
        assert_eq!(book.take(&first), PathUse::Unknown);
        assert_eq!(book.take(&second), PathUse::Pending);
        book.report("tftp-proxy/7.2.1001.5 unused");
        assert_eq!(book.take(&second), PathUse::Unused);
        assert!(book.anchors.is_empty() && book.awaited.is_empty() && book.reported.is_empty());
    }

    #[test]
    fn a_path_removed_early_is_not_reported() {
        let mut book = Book::default();
        let p = path(1000);
        book.installed(&p, "tftp-proxy/7.1.1000.5");
        book.removed(&p);
        book.report("tftp-proxy/7.1.1000.5 unknown");
        assert_eq!(book.take(&p), PathUse::Unknown);
        assert!(book.reported.is_empty());
    }
}
