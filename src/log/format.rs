//! The shape of a log line: the readable sentence (the default), or
//! logfmt `key=value` pairs (`--log-format kv`).
//!
//! logfmt rather than RFC 5424 structured data: the helper's syslog
//! transport is the RFC 3164 line every syslogd takes (and standard error
//! with `-d`), where an SD-ELEMENT is just text that receivers would not
//! recognize; logfmt needs no framing, survives any relay and journald
//! untouched, and every log pipeline (Loki, Vector, Splunk's `kv`, `jq`
//! with a one-line split) parses it. Values that are empty or hold a
//! space, `=`, `"` or `\` are double-quoted with `\"` and `\\` escapes;
//! control characters never reach here (the callers escape them).
//!
//! This module owns the rendering only: what a line says is its caller's.

use std::fmt::Write;

/// How lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable sentence per line.
    #[default]
    Readable,
    /// logfmt: `level=info event=outcome client=... outcome=answered`.
    Kv,
}

/// A line with named fields, written as a sentence or as logfmt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What kind of line this is (`request`, `outcome`, `summary`).
    pub kind: &'static str,
    /// The readable sentence.
    pub text: String,
    /// The same facts as named values, in order.
    pub fields: Vec<(&'static str, String)>,
}

impl Event {
    /// An event of `kind` reading `text`, without fields yet.
    pub fn new(kind: &'static str, text: impl Into<String>) -> Event {
        Event {
            kind,
            text: text.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field.
    pub fn field(mut self, key: &'static str, value: impl ToString) -> Event {
        self.fields.push((key, value.to_string()));
        self
    }
}

/// `message` as logfmt: the level and the whole sentence as `msg`.
pub fn kv_message(level: &str, message: &str) -> String {
    let mut out = format!("level={level} msg=");
    push_value(&mut out, message);
    out
}

/// `event` as logfmt: level, event kind, then its fields.
pub fn kv_event(level: &str, event: &Event) -> String {
    let mut out = format!("level={level} event={}", event.kind);
    for (key, value) in &event.fields {
        let _ = write!(out, " {key}=");
        push_value(&mut out, value);
    }
    out
}

/// Appends `value`, quoted when it must be.
fn push_value(out: &mut String, value: &str) {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Splits a logfmt line into its pairs (`None`: not logfmt). The inverse
/// of the rendering above, for tests and for `--check`-style readers.
pub fn parse_kv(line: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = &rest[..eq];
        if key.is_empty() || key.contains([' ', '"']) {
            return None;
        }
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next()?.1 {
                        'n' => out.push('\n'),
                        'x' => {
                            let hex: String =
                                (0..2).filter_map(|_| chars.next()).map(|p| p.1).collect();
                            out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                        }
                        other => out.push(other),
                    },
                    c => out.push(c),
                }
            }
            value = out;
            rest = &quoted[end?..];
            if !(rest.is_empty() || rest.starts_with(' ')) {
                return None;
            }
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            let raw = &rest[..end];
            if raw.is_empty() || raw.contains(['"', '=']) {
                return None;
            }
            value = raw.to_owned();
            rest = &rest[end..];
        }
        pairs.push((key.to_owned(), value));
        rest = rest.trim_start();
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_bare_others_are_quoted() {
        let event = Event::new("outcome", "x")
            .field("client", "192.0.2.20:5000")
            .field("file", "a b\"c\\d")
            .field("empty", "")
            .field("eq", "k=v");
        assert_eq!(
            kv_event("info", &event),
            r#"level=info event=outcome client=192.0.2.20:5000 file="a b\"c\\d" empty="" eq="k=v""#
        );
    }

    #[test]
    fn what_is_written_parses_back() {
        let tricky = "192.0.2.20:5000 -> 198.51.100.1:40000 RRQ \"a=b\\c\" \n\u{1}";
        let line = kv_message("warning", tricky);
        let pairs = parse_kv(&line).unwrap();
        assert_eq!(
            pairs,
            [
                ("level".to_owned(), "warning".to_owned()),
                ("msg".to_owned(), tricky.to_owned())
            ]
        );
    }

    #[test]
    fn a_sentence_is_not_logfmt() {
        assert!(parse_kv("192.0.2.20:5000 -> 198.51.100.2:69 RRQ \"f\": answered").is_none());
        assert!(parse_kv("a=1 b").is_none());
        assert!(parse_kv("a=\"open").is_none());
        assert_eq!(parse_kv("").unwrap(), []);
    }
}
