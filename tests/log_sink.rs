//! The log's sinks against real sockets: a syslog socket that stops being
//! read (writing never blocks, lines past the queue are counted, the count
//! is logged once the socket is read again), and `-d` with a socket on
//! standard error, as under inetd (nothing is written into it). No root
//! needed.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};
use tftp_proxy::log::Log;

fn messages(reader: &UnixDatagram) -> Vec<String> {
    reader
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = reader.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

#[test]
fn a_stalled_reader_never_blocks_the_writer_and_drops_are_counted() {
    let dir = std::env::temp_dir().join(format!("tftp-proxy-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("log.sock");
    let reader = UnixDatagram::bind(&path).expect("binding the syslog socket");

    let mut log = Log::syslog(Some(&path), false);
    let lines = 5000;
    let start = Instant::now();
    for i in 0..lines {
        log.info(format_args!("line {i}"));
    }
    let took = start.elapsed();
    // Nothing reads the socket: a blocking writer would hang here.
    assert!(took < Duration::from_secs(5), "{lines} lines took {took:?}");

    // Read while the log drains its queue, then the count.
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        all.extend(messages(&reader));
        if !log.has_pending() || Instant::now() > deadline {
            break;
        }
        log.tick();
    }
    all.extend(messages(&reader));
    let delivered = all.iter().filter(|m| m.contains(": line ")).count();
    let reports: Vec<&String> = all
        .iter()
        .filter(|m| m.contains("log line(s) dropped: syslog was not taking lines"))
        .collect();
    assert_eq!(reports.len(), 1, "one report: {reports:?}");
    let dropped: usize = reports[0]
        .split(": ")
        .nth(1)
        .and_then(|m| m.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {}", reports[0]));
    println!(
        "{lines} lines written in {took:?}: {delivered} delivered, {dropped} dropped and counted"
    );
    assert!(dropped > 0, "the queue is bounded");
    assert_eq!(
        delivered + dropped,
        lines,
        "every line delivered or counted"
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_never_writes_into_a_socket_on_standard_error() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::process::{Command, Stdio};
    let dir = std::env::temp_dir().join(format!("tftp-proxy-log-d-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("log.sock");
    let reader = UnixDatagram::bind(&path).expect("binding the syslog socket");
    // Under inetd standard error is the client's socket; a socket stands
    // in for it here.
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let status = Command::new(env!("CARGO_BIN_EXE_tftp-proxy"))
        .args(["-d", "--idle", "1", "--syslog-socket"])
        .arg(&path)
        .stdin(Stdio::null())
        .stderr(std::os::fd::OwnedFd::from(theirs))
        .status()
        .expect("running tftp-proxy");
    assert_eq!(status.code(), Some(1), "not under inetd: a start error");
    ours.set_nonblocking(true).expect("non-blocking");
    let mut written = Vec::new();
    let _ = (&ours).read_to_end(&mut written);
    assert!(
        written.is_empty(),
        "nothing may reach the socket on standard error: {}",
        String::from_utf8_lossy(&written)
    );
    let logged = messages(&reader);
    assert!(
        logged
            .iter()
            .any(|m| m.contains("standard input is not a UDP socket")),
        "the start error goes to syslog instead: {logged:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
