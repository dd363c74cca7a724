//! Rendering untrusted wire bytes (filenames, modes, options) for log lines
//! and error messages: bounded in length, printable ASCII only, unambiguous.
//!
//! Owns only text rendering; it must not parse, judge or log anything.

use super::option::TftpOption;

/// Longest string [`quoted`] returns, in bytes (all output is ASCII).
pub const QUOTED_MAX: usize = 300;

/// Longest string [`describe_options`] returns, in bytes (all output is ASCII).
pub const DESCRIBE_MAX: usize = 600;

/// Marker appended when output was cut short.
const ELLIPSIS: &str = "...";

/// Appends `byte` to `out`: printable ASCII as is, except `"` and `\` (and
/// every byte in `also`) which are escaped; anything else as `\xNN`.
fn push_escaped(out: &mut String, byte: u8, also: &[u8]) {
    match byte {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        b if also.contains(&b) || !(0x20..=0x7e).contains(&b) => {
            out.push_str("\\x");
            for nibble in [b >> 4, b & 0x0f] {
                out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('?'));
            }
        }
        b => out.push(char::from(b)),
    }
}

/// A string builder that stops once `limit` bytes are exceeded and then
/// cuts back to a piece boundary leaving room for [`ELLIPSIS`].
struct Bounded {
    out: String,
    limit: usize,
    /// Length after the last piece that still leaves room for the ellipsis.
    last_fit: usize,
    full: bool,
}

impl Bounded {
    fn new(limit: usize) -> Self {
        Bounded {
            out: String::new(),
            limit,
            last_fit: 0,
            full: false,
        }
    }

    /// Records the end of a piece; returns `false` once the limit is passed.
    fn end_piece(&mut self) -> bool {
        if self.out.len() <= self.limit.saturating_sub(ELLIPSIS.len()) {
            self.last_fit = self.out.len();
        }
        if self.out.len() > self.limit {
            self.full = true;
        }
        !self.full
    }

    fn push_str(&mut self, s: &str) -> bool {
        if self.full {
            return false;
        }
        self.out.push_str(s);
        self.end_piece()
    }

    fn push_bytes(&mut self, bytes: &[u8], also: &[u8]) -> bool {
        for &b in bytes {
            if self.full {
                return false;
            }
            push_escaped(&mut self.out, b, also);
            if !self.end_piece() {
                return false;
            }
        }
        !self.full
    }

    /// The text, and whether it was cut short (the ellipsis not yet added).
    fn finish(mut self) -> (String, bool) {
        if self.full {
            self.out.truncate(self.last_fit);
        }
        (self.out, self.full)
    }
}

/// Renders bytes for a log line, typically a filename: in double quotes,
/// printable ASCII as is, `"` and `\` backslash-escaped, anything else as
/// `\xNN`. The result is at most [`QUOTED_MAX`] bytes; a longer rendering
/// is cut and marked with `...` after the closing quote.
pub fn quoted(bytes: &[u8]) -> String {
    let mut b = Bounded::new(QUOTED_MAX - 2);
    b.push_bytes(bytes, &[]);
    let (inner, cut) = b.finish();
    let mut out = String::with_capacity(QUOTED_MAX);
    out.push('"');
    out.push_str(&inner);
    out.push('"');
    if cut {
        out.push_str(ELLIPSIS);
    }
    out
}

/// Renders options as `name=value` pairs separated by spaces, in order,
/// e.g. `blksize=1428 tsize=0 windowsize=8`; empty when there are none.
/// Bytes are escaped as in [`quoted`] (without the quotes), and space and
/// `=` are escaped too (`\x20`, `\x3d`) so the rendering stays unambiguous.
/// The result is at most [`DESCRIBE_MAX`] bytes, ending in `... (N more)`
/// when cut (N: the options not shown whole).
pub fn describe_options(opts: &[TftpOption<'_>]) -> String {
    const ALSO: &[u8] = b" =";
    // Room for the count of options left out.
    const MORE_MAX: usize = " (65535 more)".len();
    let mut b = Bounded::new(DESCRIBE_MAX - ELLIPSIS.len() - MORE_MAX);
    let mut shown = 0;
    for (i, opt) in opts.iter().enumerate() {
        let more = (i == 0 || b.push_str(" "))
            && b.push_bytes(opt.name, ALSO)
            && b.push_str("=")
            && b.push_bytes(opt.value, ALSO);
        if !more {
            break;
        }
        shown += 1;
    }
    let (mut out, cut) = b.finish();
    if cut {
        out.push_str(ELLIPSIS);
        out.push_str(&format!(" ({} more)", opts.len() - shown));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt<'a>(name: &'a [u8], value: &'a [u8]) -> TftpOption<'a> {
        TftpOption { name, value }
    }

    #[test]
    fn quoted_plain() {
        assert_eq!(quoted(b"pxelinux.0"), "\"pxelinux.0\"");
        assert_eq!(quoted(b""), "\"\"");
        assert_eq!(quoted(b"a b'c"), "\"a b'c\"");
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(quoted(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted(b"\x00\n\x7f\xff"), r#""\x00\x0a\x7f\xff""#);
        assert_eq!(quoted("é".as_bytes()), r#""\xc3\xa9""#);
    }

    #[test]
    fn quoted_exact_limit_is_not_cut() {
        let bytes = vec![b'a'; QUOTED_MAX - 2];
        let q = quoted(&bytes);
        assert_eq!(q.len(), QUOTED_MAX);
        assert!(!q.ends_with("..."));
    }

    #[test]
    fn quoted_truncates() {
        let bytes = vec![b'a'; QUOTED_MAX - 1];
        let q = quoted(&bytes);
        assert!(q.len() <= QUOTED_MAX);
        assert!(q.ends_with("\"..."));
        let q = quoted(&[0u8; 65535]);
        assert!(q.len() <= QUOTED_MAX);
        assert!(q.ends_with("\\x00\"..."), "{q}");
    }

    #[test]
    fn describe_empty() {
        assert_eq!(describe_options(&[]), "");
    }

    #[test]
    fn describe_in_order() {
        let opts = [
            opt(b"blksize", b"1428"),
            opt(b"tsize", b"0"),
            opt(b"windowsize", b"8"),
        ];
        assert_eq!(describe_options(&opts), "blksize=1428 tsize=0 windowsize=8");
    }

    #[test]
    fn describe_escapes() {
        let opts = [opt(b"a b=c", b"\"\x01\\"), opt(b"x", b"")];
        assert_eq!(describe_options(&opts), r#"a\x20b\x3dc=\"\x01\\ x="#);
    }

    #[test]
    fn describe_truncates() {
        let long = vec![0xffu8; 1000];
        let opts = [opt(b"a", b"1"), opt(&long, b"2"), opt(b"b", b"3")];
        let d = describe_options(&opts);
        assert!(d.len() <= DESCRIBE_MAX);
        assert!(d.starts_with("a=1 \\xff"));
        assert!(d.ends_with("\\xff... (2 more)"), "{d}");
    }
}
