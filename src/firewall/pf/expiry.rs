//! The line the helper writes to its reaper for each new anchor:
//! `<deadline> <anchor>`, the deadline in microseconds after an epoch both
//! processes share (an `Instant` taken before the fork; the monotonic
//! clock is the system's, so the two agree on it).
//!
//! The deadline is the helper's: the moment it announced the anchor, just
//! before installing it, plus the transfer wait. So the anchor is emptied
//! at that time however late the reaper gets to read the line, and never
//! after the helper lets go of the transfer's socket, which it keeps for
//! the wait counted from after the request was sent.
//!
//! A request sent again (a retransmission) announces its anchor once
//! more with the new deadline; the reaper moves it ([`schedule`]).
//!
//! Pure code; it owns the line's format and the reaper's schedule, and
//! nothing else.
#![cfg_attr(
    not(any(target_os = "openbsd", target_os = "freebsd")),
    allow(dead_code)
)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The line announcing `anchor`, to be emptied at `deadline`.
pub fn line(epoch: Instant, deadline: Instant, anchor: &str) -> String {
    let micros = deadline.saturating_duration_since(epoch).as_micros();
    format!("{micros} {anchor}\n")
}

/// Reads a line (without its newline) back: when to empty which anchor.
/// `None` for a line this format does not describe.
pub fn parse(epoch: Instant, line: &str) -> Option<(Instant, &str)> {
    let (micros, anchor) = line.split_once(' ')?;
    let micros: u64 = micros.parse().ok()?;
    if anchor.is_empty() || anchor.contains(char::is_whitespace) {
        return None;
    }
    Some((epoch.checked_add(Duration::from_micros(micros))?, anchor))
}

/// Puts `anchor` on the reaper's schedule (soonest deadline first) to
/// be emptied `at`. An anchor already on it moves to the new deadline:
/// its request was sent again and its wait counts from then.
pub fn schedule(pending: &mut VecDeque<(Instant, String)>, at: Instant, anchor: &str) {
    if let Some(index) = pending.iter().position(|(_, a)| a == anchor) {
        pending.remove(index);
    }
    let index = pending.partition_point(|(t, _)| *t <= at);
    pending.insert(index, (at, anchor.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_anchor_moves_to_its_new_deadline() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut pending = VecDeque::new();
        schedule(&mut pending, t0 + ms(100), "a");
        schedule(&mut pending, t0 + ms(200), "b");
        schedule(&mut pending, t0 + ms(300), "a");
        let order: Vec<_> = pending.iter().map(|(t, a)| (*t, a.as_str())).collect();
        assert_eq!(order, vec![(t0 + ms(200), "b"), (t0 + ms(300), "a")]);
        // An earlier deadline (not the helper's own lines) still sorts.
        schedule(&mut pending, t0 + ms(50), "c");
        assert_eq!(pending.front().map(|(_, a)| a.as_str()), Some("c"));
        assert_eq!(pending.len(), 3);
    }

    #[test]
    fn a_line_round_trips() {
        let epoch = Instant::now();
        let deadline = epoch + Duration::from_millis(2345);
        let text = line(epoch, deadline, "tftp-proxy/4242.7");
        assert_eq!(text, "2345000 tftp-proxy/4242.7\n");
        assert_eq!(
            parse(epoch, text.trim_end()),
            Some((deadline, "tftp-proxy/4242.7"))
        );
    }

    #[test]
    fn a_deadline_before_the_epoch_is_the_epoch() {
        let epoch = Instant::now() + Duration::from_secs(1);
        assert_eq!(line(epoch, Instant::now(), "a/1.1"), "0 a/1.1\n");
    }

    #[test]
    fn other_lines_are_refused() {
        let epoch = Instant::now();
        for bad in [
            "",
            "tftp-proxy/1.1",
            "x tftp-proxy/1.1",
            "12 ",
            "12 a b",
            "-1 a",
        ] {
            assert_eq!(parse(epoch, bad), None, "{bad:?}");
        }
    }
}
