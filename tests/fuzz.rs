//! Fuzzing the untrusted edges: the request dissector and the escaping of
//! wire bytes for log lines and ERROR packets, from a committed seed corpus
//! (`tests/fuzz/seeds/`) mutated by proptest, and from arbitrary bytes.
//!
//! Only the public API is used (parse, the borrowed views, `quoted`,
//! `describe_options`, `error_packet`), and only properties that hold
//! whatever the dissector accepts: no panic, a request views the exact
//! bytes it was given, renderings are bounded printable ASCII on one line.
//! `TFTP_PROXY_FUZZ_CASES` sets the number of cases per property (default
//! 2048; `scripts/test` runs more).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::path::PathBuf;
use tftp_proxy::tftp::{self, ErrorCode, Request};

fn cases() -> u32 {
    std::env::var("TFTP_PROXY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048)
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("a seed").path()).expect("reading a seed"))
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= 10,
        "the seed corpus is missing: {}",
        dir.display()
    );
    seeds
}

/// What a log line or ERROR message may contain: printable ASCII, no
/// line breaks, within `max` bytes.
fn assert_safe_text(text: &str, max: usize, what: &str) {
    assert!(
        text.len() <= max,
        "{what}: {} bytes > {max}: {text}",
        text.len()
    );
    assert!(
        text.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "{what}: not printable ASCII: {text:?}"
    );
}

/// Everything that must hold for any datagram.
fn check(datagram: &[u8]) {
    if let Ok(request) = Request::parse(datagram) {
        assert_eq!(
            request.as_bytes(),
            datagram,
            "a request views its own bytes"
        );
        assert!(
            datagram.len() >= 2 && request.filename().len() < datagram.len(),
            "filename inside the datagram"
        );
        let options = tftp::describe_options(request.options());
        assert_safe_text(&options, tftp::DESCRIBE_MAX, "describe_options");
        let filename = tftp::quoted(request.filename());
        assert_safe_text(&filename, tftp::QUOTED_MAX, "quoted filename");
    }
    let rendered = tftp::quoted(datagram);
    assert_safe_text(&rendered, tftp::QUOTED_MAX, "quoted datagram");
    assert!(rendered.starts_with('"'), "{rendered}");
    // Any text (a refusal's words) makes a well-formed ERROR packet.
    let text = String::from_utf8_lossy(datagram);
    let packet = tftp::error_packet(ErrorCode::NotDefined, &text);
    assert_eq!(&packet[..4], &[0, 5, 0, 0], "ERROR header");
    assert_eq!(packet.last(), Some(&0), "ERROR message ends in NUL");
    assert!(
        packet[4..packet.len() - 1].iter().all(|&b| b != 0),
        "one NUL only"
    );
    assert!(packet.len() <= 4 + tftp::MAX_ERROR_MESSAGE + 1);
}

/// One mutation of a seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
    Repeat(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Mutation::Remove(at, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Repeat(at, n)),
    ]
}

fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Flip(i, b) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] ^= b;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, new) => {
                let i = at(*i, bytes.len());
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = at(*i, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Truncate(i) => {
                let i = at(*i, bytes.len());
                bytes.truncate(i);
            }
            Mutation::Repeat(i, n) => {
                let i = at(*i, bytes.len());
                let piece = bytes[i..].to_vec();
                for _ in 0..*n {
                    bytes.extend_from_slice(&piece);
                    if bytes.len() > 70_000 {
                        break;
                    }
                }
            }
        }
    }
    bytes
}

#[test]
fn every_seed_holds() {
    for seed in seeds() {
        check(&seed);
    }
}

#[test]
fn mutated_seeds_never_break_the_dissector_or_the_escaping() {
    let seeds = seeds();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..6));
    runner
        .run(&strategy, |(which, mutations)| {
            check(&mutate(&seeds[which], &mutations));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn arbitrary_bytes_never_break_the_dissector_or_the_escaping() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..700), |bytes| {
            check(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
