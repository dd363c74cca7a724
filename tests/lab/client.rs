//! A minimal TFTP read client (RFC 1350, octet mode, no options) that
//! times each read: RRQ to the first DATA (setup latency) and to the end
//! of the file. It behaves as a phone would: it retransmits its RRQ when
//! no DATA comes, ACKs each block to the server's transfer ID, and answers
//! DATA from any other port with ERROR 5.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How long a read waits for a packet before it retransmits.
pub const RETRANSMIT: Duration = Duration::from_secs(1);
/// How long a read may take in all before it counts as failed.
pub const DEADLINE: Duration = Duration::from_secs(8);

const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const BLOCK: usize = 512;

/// What one read did.
#[derive(Debug, Clone)]
pub struct Read {
    /// RRQ sent to the first DATA received (through retransmissions).
    pub first_data: Option<Duration>,
    /// The whole file received (or the read given up).
    pub total: Duration,
    /// RRQs and ACKs sent again after a timeout.
    pub retransmits: u32,
    /// Why the read failed, if it did.
    pub failure: Option<String>,
    /// Bytes received.
    pub bytes: usize,
}

impl Read {
    /// Whether the whole file arrived.
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

fn rrq(file: &str) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(file.as_bytes());
    p.push(0);
    p.extend_from_slice(b"octet");
    p.push(0);
    p
}

fn packet(opcode: u16, number: u16, text: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + text.len());
    p.extend_from_slice(&opcode.to_be_bytes());
    p.extend_from_slice(&number.to_be_bytes());
    p.extend_from_slice(text);
    p
}

/// Reads `file` from `server` (port 69), from a fresh socket on `source`
/// (None: the namespace's own address), in the calling thread's network
/// namespace.
pub fn read(server: SocketAddr, file: &str, source: Option<Ipv4Addr>) -> Read {
    let start = Instant::now();
    let source = IpAddr::V4(source.unwrap_or(Ipv4Addr::UNSPECIFIED));
    match UdpSocket::bind((source, 0)) {
        Ok(socket) => read_on(&socket, server, file, None),
        Err(e) => Read {
            first_data: None,
            total: start.elapsed(),
            retransmits: 0,
            failure: Some(format!("socket: {e}")),
            bytes: 0,
        },
    }
}

/// The RRQ for `file` (octet mode, no options), to send ahead of
/// [`read_on`] with `sent`.
pub fn request(file: &str) -> Vec<u8> {
    rrq(file)
}

/// Reads `file` from `server` on `socket`. `sent`: the RRQ already went
/// out from this socket at that moment (a storm's first burst, sent by
/// one thread for every phone); timing starts there.
pub fn read_on(socket: &UdpSocket, server: SocketAddr, file: &str, sent: Option<Instant>) -> Read {
    let start = sent.unwrap_or_else(Instant::now);
    let mut result = Read {
        first_data: None,
        total: Duration::ZERO,
        retransmits: 0,
        failure: None,
        bytes: 0,
    };
    let finish = |mut r: Read, failure: Option<String>| {
        r.total = start.elapsed();
        r.failure = failure;
        r
    };
    let request = rrq(file);
    if sent.is_none() {
        if let Err(e) = socket.send_to(&request, server) {
            return finish(result, Some(format!("sending RRQ: {e}")));
        }
    }
    let mut last_sent = (request, server);
    let mut sent_at = start;
    let mut peer: Option<SocketAddr> = None;
    let mut expected: u16 = 1;
    let mut buf = [0u8; 4 + BLOCK + 1];
    loop {
        if start.elapsed() > DEADLINE {
            let what = if peer.is_none() {
                "no DATA"
            } else {
                "transfer stalled"
            };
            return finish(result, Some(format!("{what} after {DEADLINE:?}")));
        }
        let wait = RETRANSMIT.saturating_sub(sent_at.elapsed());
        if wait.is_zero() {
            let _ = socket.send_to(&last_sent.0, last_sent.1);
            result.retransmits += 1;
            sent_at = Instant::now();
            continue;
        }
        let _ = socket.set_read_timeout(Some(wait));
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return finish(result, Some(format!("receiving: {e}"))),
        };
        if n < 4 {
            continue;
        }
        let opcode = u16::from_be_bytes([buf[0], buf[1]]);
        let number = u16::from_be_bytes([buf[2], buf[3]]);
        if peer.is_some_and(|p| p != from) {
            // A second transfer started by a retransmitted RRQ.
            let _ = socket.send_to(&packet(ERROR, 5, b"unknown transfer ID\0"), from);
            continue;
        }
        match opcode {
            ERROR => {
                let text = String::from_utf8_lossy(&buf[4..n]);
                return finish(
                    result,
                    Some(format!("ERROR {number}: {}", text.trim_end_matches('\0'))),
                );
            }
            DATA if number == expected => {
                if peer.is_none() {
                    peer = Some(from);
                    result.first_data = Some(start.elapsed());
                }
                result.bytes += n - 4;
                let ack = packet(ACK, number, &[]);
                let _ = socket.send_to(&ack, from);
                last_sent = (ack, from);
                sent_at = Instant::now();
                if n - 4 < BLOCK {
                    return finish(result, None);
                }
                expected = expected.wrapping_add(1);
            }
            _ => {}
        }
    }
}

/// Sends `payload` to `to` and waits for any answer: the round trip of a
/// service inetd starts per datagram. None when nothing came.
pub fn echo(to: SocketAddr, payload: &[u8], timeout: Duration) -> Option<Duration> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.set_read_timeout(Some(timeout)).ok()?;
    let start = Instant::now();
    socket.send_to(payload, to).ok()?;
    let mut buf = [0u8; 1024];
    socket.recv_from(&mut buf).ok()?;
    Some(start.elapsed())
}
