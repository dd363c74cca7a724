//! What became of each forwarded request, and the exit summary.
//!
//! An outcome comes from the kernel's count of the return path's use
//! ([`PathUse`], read by the firewall backend in one batch once the
//! transfer wait is over, or sooner once the answer passed, see
//! `settle.rs`), never from the upstream socket's error slot
//! alone: any host that knows the server's address can forge an ICMP
//! error about a proxy port, but only the server's own answer passes the
//! path. An ICMP error the socket holds is told only as detail of a path
//! the kernel saw unused; the kernel delivered it to this socket only
//! because the error quotes this socket's exact addresses and ports
//! (__udp4_lib_err() and __udp6_lib_err() look the socket up by the
//! quoted header, net/ipv4/udp.c, net/ipv6/udp.c).
//!
//! This module owns the wording of the outcome line (the request line's
//! shape, then the outcome) and of the summary, and the summary's counts,
//! which are the per-request lines' counts. Pure code: no socket, no
//! firewall.

use crate::firewall::{PathUse, ReturnPath};
use crate::log::Event;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What the request line said, kept for the outcome line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLabel {
    /// `RRQ` or `WRQ`.
    pub opcode: &'static str,
    /// The filename, escaped and quoted as the request line shows it.
    pub filename: String,
}

impl RequestLabel {
    /// The escaped filename without its quotes (a logfmt value).
    pub fn bare_filename(&self) -> &str {
        self.filename
            .strip_prefix('"')
            .and_then(|f| f.strip_suffix('"'))
            .unwrap_or(&self.filename)
    }
}

/// What became of one forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The server's answer took the return path.
    Answered {
        /// Datagrams the path redirected (the first answer, and any
        /// answer the server sent before the first one's state existed).
        packets: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// The server answered (the path redirected its answer) but the
    /// firewall dropped the answer before it left toward the client.
    Dropped {
        /// Datagrams the path redirected.
        packets: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// Nothing took the path within the wait; `network` is an ICMP error
    /// about this very request, if the socket holds one.
    NoAnswer {
        /// The ICMP error, in words.
        network: Option<String>,
    },
    /// The kernel kept no count (the map was declared without `counter`,
    /// or reloaded under the path).
    Unknown,
}

impl Verdict {
    /// The verdict from the kernel's count and the socket's pending error.
    pub fn judge(used: PathUse, socket_error: Option<&io::Error>) -> Verdict {
        match used {
            PathUse::Used { packets, bytes } if packets > 0 => Verdict::Answered { packets, bytes },
            PathUse::Dropped { packets, bytes } => Verdict::Dropped { packets, bytes },
            PathUse::Used { .. } | PathUse::Unused => Verdict::NoAnswer {
                network: socket_error.map(icmp_words),
            },
            PathUse::Unknown | PathUse::Pending => Verdict::Unknown,
        }
    }

    /// The outcome's name in a logfmt line.
    fn name(&self) -> &'static str {
        match self {
            Verdict::Answered { .. } => "answered",
            Verdict::Dropped { .. } => "dropped-on-firewall",
            Verdict::NoAnswer { network: None } => "no-answer",
            Verdict::NoAnswer { network: Some(_) } => "refused-by-network",
            Verdict::Unknown => "unknown",
        }
    }
}

/// An ICMP error as the socket reported it, in the ICMP message's words
/// (icmp_err_convert[], net/ipv4/icmp.c; icmpv6_err_convert(),
/// net/ipv6/icmp.c).
pub fn icmp_words(error: &io::Error) -> String {
    let what = match error.raw_os_error() {
        Some(libc::ECONNREFUSED) => "port unreachable",
        Some(libc::EHOSTUNREACH) => "host unreachable or administratively prohibited",
        Some(libc::ENETUNREACH) => "network unreachable",
        Some(libc::EMSGSIZE) => "fragmentation needed",
        Some(libc::EPROTO) => "protocol unreachable or parameter problem",
        _ => return error.to_string(),
    };
    let mut text = error.to_string();
    if let Some(cut) = text.find(" (os error") {
        text.truncate(cut);
    }
    format!("{what} ({text})")
}

/// The outcome line of `path`'s request.
pub fn event(
    path: &ReturnPath,
    label: &RequestLabel,
    verdict: &Verdict,
    retransmissions: u32,
    wait: Duration,
) -> Event {
    let mut text = format!(
        "{} -> {} -> {} {} {}: ",
        path.client, path.proxy, path.server, label.opcode, label.filename
    );
    let secs = wait.as_secs_f64();
    match verdict {
        Verdict::Answered { .. } => text.push_str("answered"),
        Verdict::Dropped { .. } => text.push_str(&format!(
            "answer dropped on the firewall ({} answered, nothing left toward {}: look at the forward chain)",
            path.server, path.client
        )),
        Verdict::NoAnswer { network } => {
            text.push_str(&format!("no answer within {secs} s from {}", path.server));
            if let Some(network) = network {
                text.push_str(&format!("; refused by the network: {network}"));
            }
        }
        Verdict::Unknown => text.push_str(
            "outcome unknown (the return path carried no counter: load etc/tftp-proxy.nft as shipped)",
        ),
    }
    if retransmissions > 0 {
        text.push_str(&format!(
            ", retransmitted {retransmissions} time{}",
            if retransmissions == 1 { "" } else { "s" }
        ));
    }
    let filename = label.bare_filename();
    let mut e = Event::new("outcome", text)
        .field("client", path.client)
        .field("proxy", path.proxy)
        .field("server", path.server)
        .field("op", label.opcode)
        .field("file", filename)
        .field("outcome", verdict.name())
        .field("wait_s", secs)
        .field("retransmissions", retransmissions);
    match verdict {
        Verdict::Answered { packets, bytes } | Verdict::Dropped { packets, bytes } => {
            e = e.field("path_packets", packets).field("path_bytes", bytes);
        }
        Verdict::NoAnswer {
            network: Some(network),
        } => e = e.field("network", network),
        _ => {}
    }
    e
}

/// Counts of one helper's life, logged as one line when it exits.
#[derive(Debug, Default)]
pub struct Summary {
    requests: usize,
    forwarded: usize,
    answered: usize,
    dropped: usize,
    unanswered: HashMap<SocketAddr, usize>,
    unknown: usize,
    refused: BTreeMap<&'static str, usize>,
    failed: usize,
    retransmissions: usize,
    clients: HashSet<IpAddr>,
}

/// How many servers the summary names among the unanswered.
const WORST: usize = 3;

impl Summary {
    /// A datagram from `client` was handled.
    pub fn request(&mut self, client: IpAddr) {
        self.requests += 1;
        self.clients.insert(client);
    }

    /// A new transfer was forwarded.
    pub fn forwarded(&mut self) {
        self.forwarded += 1;
    }

    /// A copy of a live transfer's request came (absorbed or sent again).
    pub fn retransmission(&mut self) {
        self.retransmissions += 1;
    }

    /// A datagram was refused, for `reason` (a short name).
    pub fn refused(&mut self, reason: &'static str) {
        *self.refused.entry(reason).or_insert(0) += 1;
    }

    /// A request could not be served for a fault of the helper's side.
    pub fn failed(&mut self) {
        self.failed += 1;
    }

    /// An outcome line was logged for a transfer to `server`.
    pub fn outcome(&mut self, server: SocketAddr, verdict: &Verdict) {
        match verdict {
            Verdict::Answered { .. } => self.answered += 1,
            Verdict::Dropped { .. } => self.dropped += 1,
            Verdict::NoAnswer { .. } => *self.unanswered.entry(server).or_insert(0) += 1,
            Verdict::Unknown => self.unknown += 1,
        }
    }

    /// The summary line; `end` says why the helper stops.
    pub fn event(&self, lifetime: Duration, end: &str) -> Event {
        let unanswered: usize = self.unanswered.values().sum();
        let mut worst: Vec<(SocketAddr, usize)> =
            self.unanswered.iter().map(|(&s, &n)| (s, n)).collect();
        worst.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let more = worst.len().saturating_sub(WORST);
        worst.truncate(WORST);
        let worst_text: Vec<String> = worst.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let refused: usize = self.refused.values().sum();
        let reasons: Vec<String> = self
            .refused
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let mut text = format!(
            "summary: {} requests from {} clients in {:.1} s: {} forwarded, {} answered, {} unanswered",
            self.requests,
            self.clients.len(),
            lifetime.as_secs_f64(),
            self.forwarded,
            self.answered,
            unanswered
        );
        if !worst_text.is_empty() {
            text.push_str(&format!(" ({}", worst_text.join(", ")));
            if more > 0 {
                text.push_str(&format!(", {more} more servers"));
            }
            text.push(')');
        }
        if self.dropped > 0 {
            text.push_str(&format!(", {} dropped on the firewall", self.dropped));
        }
        if self.unknown > 0 {
            text.push_str(&format!(", {} outcome unknown", self.unknown));
        }
        text.push_str(&format!(", {refused} refused"));
        if !reasons.is_empty() {
            text.push_str(&format!(" ({})", reasons.join(", ")));
        }
        text.push_str(&format!(
            ", {} failed, {} retransmissions; {end}",
            self.failed, self.retransmissions
        ));
        let mut e = Event::new("summary", text)
            .field("requests", self.requests)
            .field("clients", self.clients.len())
            .field("lifetime_s", format!("{:.1}", lifetime.as_secs_f64()))
            .field("forwarded", self.forwarded)
            .field("answered", self.answered)
            .field("unanswered", unanswered)
            .field("dropped", self.dropped)
            .field("unknown", self.unknown)
            .field("refused", refused)
            .field("failed", self.failed)
            .field("retransmissions", self.retransmissions);
        for (server, n) in &worst {
            e.fields
                .push(("unanswered_server", format!("{server}={n}")));
        }
        for (reason, n) in &self.refused {
            e.fields.push(("refused_reason", format!("{reason}={n}")));
        }
        e.field("end", end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> ReturnPath {
        ReturnPath {
            client: "192.0.2.20:5000".parse().unwrap(),
            proxy: "198.51.100.1:40000".parse().unwrap(),
            server: "198.51.100.2:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        }
    }

    fn label() -> RequestLabel {
        RequestLabel {
            opcode: "RRQ",
            filename: "\"a b.cfg\"".into(),
        }
    }

    #[test]
    fn the_kernel_count_decides_and_icmp_is_only_detail() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let used = PathUse::Used {
            packets: 1,
            bytes: 544,
        };
        // A forged error on a path the answer took changes nothing.
        assert_eq!(
            Verdict::judge(used, Some(&refused)),
            Verdict::Answered {
                packets: 1,
                bytes: 544
            }
        );
        assert_eq!(
            Verdict::judge(PathUse::Unused, Some(&refused)),
            Verdict::NoAnswer {
                network: Some("port unreachable (Connection refused)".into())
            }
        );
        assert_eq!(
            Verdict::judge(PathUse::Unused, None),
            Verdict::NoAnswer { network: None }
        );
        assert_eq!(
            Verdict::judge(PathUse::Unknown, Some(&refused)),
            Verdict::Unknown
        );
    }

    #[test]
    fn outcome_lines_have_the_request_lines_shape() {
        let wait = Duration::from_secs(2);
        let answered = Verdict::Answered {
            packets: 1,
            bytes: 60,
        };
        assert_eq!(
            event(&path(), &label(), &answered, 0, wait).text,
            "192.0.2.20:5000 -> 198.51.100.1:40000 -> 198.51.100.2:69 RRQ \"a b.cfg\": answered"
        );
        let dropped = Verdict::Dropped {
            packets: 1,
            bytes: 60,
        };
        let e = event(&path(), &label(), &dropped, 0, wait);
        assert_eq!(
            e.text,
            "192.0.2.20:5000 -> 198.51.100.1:40000 -> 198.51.100.2:69 RRQ \"a b.cfg\": answer dropped on the firewall (198.51.100.2:69 answered, nothing left toward 192.0.2.20:5000: look at the forward chain)"
        );
        let fields: HashMap<_, _> = e.fields.into_iter().collect();
        assert_eq!(fields["outcome"], "dropped-on-firewall");
        assert_eq!(fields["path_packets"], "1");
        let silent = Verdict::NoAnswer { network: None };
        assert_eq!(
            event(&path(), &label(), &silent, 2, wait).text,
            "192.0.2.20:5000 -> 198.51.100.1:40000 -> 198.51.100.2:69 RRQ \"a b.cfg\": no answer within 2 s from 198.51.100.2:69, retransmitted 2 times"
        );
        let e = event(&path(), &label(), &answered, 1, wait);
        assert!(
            e.text.ends_with("answered, retransmitted 1 time"),
            "{}",
            e.text
        );
        let fields: HashMap<_, _> = e.fields.into_iter().collect();
        assert_eq!(fields["file"], "a b.cfg");
        assert_eq!(fields["outcome"], "answered");
        assert_eq!(fields["retransmissions"], "1");
    }

    #[test]
    fn summary_counts_what_the_lines_said() {
        let mut s = Summary::default();
        let a: SocketAddr = "198.51.100.2:69".parse().unwrap();
        let b: SocketAddr = "198.51.100.3:69".parse().unwrap();
        for client in ["192.0.2.20", "192.0.2.21", "192.0.2.20"] {
            s.request(client.parse().unwrap());
        }
        s.forwarded();
        s.forwarded();
        s.outcome(
            a,
            &Verdict::Answered {
                packets: 1,
                bytes: 1,
            },
        );
        s.outcome(b, &Verdict::NoAnswer { network: None });
        s.outcome(
            b,
            &Verdict::Dropped {
                packets: 1,
                bytes: 1,
            },
        );
        s.refused("policy");
        s.retransmission();
        let e = s.event(Duration::from_millis(12_340), "exiting after 10 s idle");
        assert_eq!(
            e.text,
            "summary: 3 requests from 2 clients in 12.3 s: 2 forwarded, 1 answered, 1 unanswered (198.51.100.3:69 1), 1 dropped on the firewall, 1 refused (policy 1), 0 failed, 1 retransmissions; exiting after 10 s idle"
        );
    }
}
