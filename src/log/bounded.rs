//! Bounds on what one log line may hold: syslog daemons drop or cut
//! lines past a few KB (RFC 3164 allows 1024 bytes a message), and a
//! request can carry thousands of options.
//!
//! This file owns the longest line and the joining of lists that say how
//! many items were left out. Pure text functions.

use std::fmt::Display;

/// The longest message part of a log line, in bytes.
pub const MAX_LINE: usize = 900;

/// The longest a joined list may be within a line, in bytes.
pub const MAX_LIST: usize = 400;

/// `items` joined with `separator`, at most `budget` bytes of them; the
/// items that did not fit are counted as `… (N more)`.
pub fn join_bounded<T: Display>(items: &[T], separator: &str, budget: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.to_string();
        let needed = if i == 0 { 0 } else { separator.len() } + text.len();
        if out.len() + needed > budget {
            let more = items.len() - i;
            out.push_str(&format!("{}… ({more} more)", if i == 0 { "" } else { " " }));
            return out;
        }
        if i > 0 {
            out.push_str(separator);
        }
        out.push_str(&text);
    }
    out
}

/// `line` cut to [`MAX_LINE`] bytes (at a character boundary), saying
/// how many bytes were cut.
pub fn cap(mut line: String) -> String {
    if line.len() <= MAX_LINE {
        return line;
    }
    let total = line.len();
    let mut end = MAX_LINE - " … (99999 bytes more)".len();
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.truncate(end);
    line.push_str(&format!(" … ({} bytes more)", total - end));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_list_is_whole() {
        assert_eq!(join_bounded(&["a", "b"], "; ", 100), "a; b");
        assert_eq!(join_bounded::<&str>(&[], "; ", 100), "");
    }

    #[test]
    fn a_long_list_counts_what_is_left_out() {
        let items: Vec<String> = (0..5000).map(|i| format!("item {i}")).collect();
        let joined = join_bounded(&items, "; ", MAX_LIST);
        assert!(
            joined.len() <= MAX_LIST + " … (5000 more)".len(),
            "{joined}"
        );
        let shown = joined.matches("item").count();
        assert!(
            joined.ends_with(&format!("… ({} more)", 5000 - shown)),
            "{joined}"
        );
    }

    #[test]
    fn a_long_line_is_capped_and_says_so() {
        let line = "é".repeat(2000);
        let capped = cap(line);
        assert!(capped.len() <= MAX_LINE, "{}", capped.len());
        assert!(capped.ends_with("bytes more)"), "{capped}");
        assert_eq!(cap("short".into()), "short");
    }
}
