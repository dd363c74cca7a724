//! The Linux backend: conntrack answers the lookup, an nftables map with
//! timeouts carries the return paths.
//!
//! This module owns the one netfilter netlink socket and the mapping of
//! kernel answers to [`FirewallError`]s. It never runs `nft` or
//! `conntrack`; it only adds and removes elements of the maps the shipped
//! ruleset (`etc/tftp-proxy.nft`) declares, never rules or tables.

mod batch;
mod conntrack;
mod counters;
mod message;
mod nftables;
pub mod table_load;

pub use nftables::ReturnMaps;

use super::{Firewall, FirewallError, PathUse, Redirection, ReturnPath};
use batch::{Answer, Answers, Round};
use message::{messages, Message, NLMSG_DONE};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// How the backend is set up.
#[derive(Debug, Clone)]
pub struct NetfilterOptions {
    /// The `inet` table of the shipped ruleset.
    pub table: String,
    /// How long a return path lives (the element's timeout).
    pub transfer_wait: Duration,
    /// The mark put on the helper's sockets toward the servers, which the
    /// shipped ruleset leaves untracked (single-port servers); 0: none.
    pub upstream_mark: u32,
}

/// The netfilter backend.
#[derive(Debug)]
pub struct Netfilter {
    socket: Socket,
    seq: u32,
    maps: ReturnMaps,
    transfer_wait: Duration,
    upstream_mark: u32,
    /// Each map's declared size (IPv4, IPv6), once read.
    sizes: [Option<Option<u32>>; 2],
    /// When the conntrack table's fill was last read.
    load_read: Option<std::time::Instant>,
    /// Whether a full table was reported since it was last below the
    /// threshold.
    load_reported: bool,
}

/// The netlink socket's receive buffer: a wake-up's answers (at most
/// two per datagram, see `proxy::arrival::BATCH`) many times over.
const NETLINK_RECEIVE_BUFFER: usize = 1 << 20;

/// The receive buffer for one netlink datagram: twice the longest the
/// kernel sends.
const NETLINK_DATAGRAM: usize = 64 << 10;

const HINT_CAP: &str = " (the helper needs CAP_NET_ADMIN in the firewall's network namespace)";

impl Netfilter {
    /// Opens the netlink socket. Needs CAP_NET_ADMIN to be used, not to open.
    pub fn open(options: NetfilterOptions) -> Result<Self, FirewallError> {
        let system = |what| move |source| FirewallError::System { what, source };
        let mut socket =
            Socket::new(NETLINK_NETFILTER).map_err(system("opening a netfilter netlink socket"))?;
        socket
            .bind_auto()
            .map_err(system("binding the netfilter netlink socket"))?;
        // The kernel answers at once; the timeout only guards against a lost answer.
        setsockopt(&socket, sockopt::ReceiveTimeout, &TimeVal::seconds(2))
            .map_err(|e| FirewallError::errno("setting the netlink receive timeout", e as i32))?;
        // A wake-up's pipelined answers wait here together: room for them
        // all. SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN
        // (the helper holds it now); without, the default stays, and an
        // overflow (ENOBUFS) costs only the answers being asked again
        // one by one.
        if setsockopt(&socket, sockopt::RcvBufForce, &NETLINK_RECEIVE_BUFFER).is_err() {
            let _ = setsockopt(&socket, sockopt::RcvBuf, &NETLINK_RECEIVE_BUFFER);
        }
        Ok(Netfilter {
            socket,
            seq: std::process::id().wrapping_mul(1000),
            maps: ReturnMaps {
                table: options.table,
                delivered: true,
            },
            transfer_wait: options.transfer_wait,
            upstream_mark: options.upstream_mark,
            sizes: [None; 2],
            load_read: None,
            load_reported: false,
        })
    }

    fn next_seq(&mut self) -> u32 {
        // Batches use seq-1 and seq+1 for their begin and end messages.
        self.seq = self.seq.wrapping_add(3);
        self.seq
    }

    /// One datagram from the kernel, in one `recv`: a netlink message the
    /// kernel sends is at most 32 KiB (`netlink_recvmsg()` caps the size
    /// it learns for dumps at 32768, net/netlink/af_netlink.c), so the
    /// buffer holds any whole; a longer one (MSG_TRUNC tells its real
    /// length) is refused rather than read in part.
    fn receive(&mut self, what: &'static str) -> Result<Vec<u8>, FirewallError> {
        let mut datagram = Vec::with_capacity(NETLINK_DATAGRAM);
        let len = self
            .socket
            .recv(&mut datagram, libc::MSG_TRUNC)
            .map_err(|source| FirewallError::System { what, source })?;
        if len > datagram.len() {
            return Err(FirewallError::BadAnswer {
                what,
                detail: format!("an answer of {len} bytes, longer than {NETLINK_DATAGRAM}"),
            });
        }
        Ok(datagram)
    }

    /// The first of `n` sequence numbers in a row, with a free one before
    /// and after them for a batch's begin and end messages.
    fn reserve_seqs(&mut self, n: usize) -> u32 {
        let first = self.seq.wrapping_add(3);
        self.seq = first.wrapping_add(n as u32).wrapping_sub(1);
        first
    }

    /// Sends `request` (many messages in one datagram) and reads the
    /// kernel's answers until `answers` holds one for each message it
    /// awaits, in whatever order they come.
    fn exchange_many(
        &mut self,
        what: &'static str,
        request: &[u8],
        mut answers: Answers,
    ) -> Result<Answers, FirewallError> {
        if answers.complete() {
            // Nothing asked (an empty wake-up's stage): nothing to send.
            return Ok(answers);
        }
        self.socket
            .send(request, 0)
            .map_err(|source| FirewallError::System { what, source })?;
        while !answers.complete() {
            let datagram = self.receive(what)?;
            answers
                .feed(&datagram)
                .map_err(|e| FirewallError::BadAnswer {
                    what,
                    detail: e.to_string(),
                })?;
        }
        Ok(answers)
    }

    /// Sends `request` and returns the kernel's answer to message `seq`:
    /// `Ok(Some(attrs))` for data, `Ok(None)` for an acknowledgement,
    /// `Err(errno)` for a refusal.
    fn exchange(
        &mut self,
        what: &'static str,
        request: &[u8],
        seq: u32,
    ) -> Result<Result<Option<Vec<u8>>, Errno>, FirewallError> {
        self.socket
            .send(request, 0)
            .map_err(|source| FirewallError::System { what, source })?;
        loop {
            let datagram = self.receive(what)?;
            for msg in messages(&datagram) {
                let msg: Message<'_> = msg.map_err(|e| FirewallError::BadAnswer {
                    what,
                    detail: e.to_string(),
                })?;
                // Only our batch's messages concern us (begin/end are seq -+ 1).
                if msg.seq.wrapping_sub(seq).wrapping_add(1) > 2 {
                    continue;
                }
                match msg.error_code() {
                    Some(0) => return Ok(Ok(None)),
                    Some(code) => return Ok(Err(Errno::from_raw(code))),
                    None if msg.msg_type == NLMSG_DONE => return Ok(Ok(None)),
                    None => return Ok(Ok(Some(msg.payload.to_vec()))),
                }
            }
        }
    }

    /// The `size` of the map `path` goes into, if the kernel tells it.
    fn declared_size(&mut self, path: &ReturnPath) -> Option<u32> {
        let seq = self.next_seq();
        let request = self.maps.size_request(seq, path);
        match self.exchange("reading the map's size", &request, seq) {
            Ok(Ok(Some(payload))) => {
                let msg = Message {
                    msg_type: nftables::GETSET,
                    seq,
                    payload: &payload,
                };
                nftables::declared_size(msg.attributes())
            }
            _ => None,
        }
    }

    /// Marks the socket: the shipped ruleset's raw-priority output chain
    /// sets `notrack` on packets with this mark, so the forwarded request
    /// creates no conntrack entry whose reply direction (server:69 ->
    /// firewall:P) would catch a single-port server's answer before the
    /// nat prerouting chain and its return-path map see it (NAT is only
    /// looked up for a flow's first packet: net/netfilter/nf_nat_core.c,
    /// nf_nat_inet_fn()). `notrack` must run before conntrack's own hook
    /// (NF_IP_PRI_CONNTRACK -200, include/uapi/linux/netfilter_ipv4.h;
    /// `raw` is -300). SO_MARK needs CAP_NET_ADMIN or CAP_NET_RAW
    /// (net/core/sock.c, sk_setsockopt()); the helper keeps the first.
    /// Setting it after connect() is fine: __sock_set_mark() drops the
    /// socket's cached route, so the mark takes part in routing too.
    /// A failure is the request's failure: without CAP_NET_ADMIN the map
    /// element could not be added either.
    fn mark_upstream(&self, socket: BorrowedFd<'_>) -> Result<(), FirewallError> {
        if self.upstream_mark == 0 {
            return Ok(());
        }
        setsockopt(&socket, sockopt::Mark, &self.upstream_mark).map_err(|e| match e {
            Errno::EPERM => FirewallError::PermissionDenied {
                what: "marking the socket toward the server (SO_MARK)",
                hint: HINT_CAP,
            },
            e => FirewallError::errno("marking the socket toward the server (SO_MARK)", e as i32),
        })
    }

    /// Sends a dump request and collects the payload of every message of
    /// the multipart answer to `seq` until NLMSG_DONE.
    fn dump(
        &mut self,
        what: &'static str,
        request: &[u8],
        seq: u32,
    ) -> Result<Result<Vec<Vec<u8>>, Errno>, FirewallError> {
        self.socket
            .send(request, 0)
            .map_err(|source| FirewallError::System { what, source })?;
        let mut payloads = Vec::new();
        loop {
            let datagram = self.receive(what)?;
            for msg in messages(&datagram) {
                let msg: Message<'_> = msg.map_err(|e| FirewallError::BadAnswer {
                    what,
                    detail: e.to_string(),
                })?;
                if msg.seq != seq {
                    continue;
                }
                match msg.error_code() {
                    Some(0) => return Ok(Ok(payloads)),
                    Some(code) => return Ok(Err(Errno::from_raw(code))),
                    None if msg.msg_type == NLMSG_DONE => return Ok(Ok(payloads)),
                    None => payloads.push(msg.payload.to_vec()),
                }
            }
        }
    }

    /// Every element of the map or set `map` with what its counter says,
    /// by key.
    fn map_use(&mut self, map: &str) -> Result<HashMap<Vec<u8>, PathUse>, FirewallError> {
        const WHAT: &str = "reading the return paths' counters";
        let seq = self.next_seq();
        let request = counters::dump_request(&self.maps, seq, map);
        match self.dump(WHAT, &request, seq)? {
            Ok(payloads) => Ok(payloads
                .iter()
                .flat_map(|payload| {
                    let msg = Message {
                        msg_type: nftables::NEWSETELEM,
                        seq,
                        payload,
                    };
                    counters::elements(msg.attributes())
                })
                .map(|e| (e.key, e.used))
                .collect()),
            Err(Errno::ENOENT) => Err(FirewallError::RulesetMissing {
                what: format!("map inet {} {map}", self.maps.table),
            }),
            Err(Errno::EPERM) => Err(FirewallError::PermissionDenied {
                what: WHAT,
                hint: HINT_CAP,
            }),
            Err(e) => Err(FirewallError::errno(WHAT, e as i32)),
        }
    }

    /// Adds `path` to its map and `delivered` set in one transaction. A
    /// table without the sets (an older include) answers ENOENT: then the
    /// map alone is tried, and if that works the sets are left out from
    /// now on (outcomes then cannot tell a dropped answer from one that
    /// arrived; `--check` warns).
    fn add(
        &mut self,
        what: &'static str,
        path: &ReturnPath,
    ) -> Result<Result<(), Errno>, FirewallError> {
        let seq = self.next_seq();
        let request = self.maps.add_batch(seq, path, self.transfer_wait);
        match self.exchange(what, &request, seq)? {
            Err(Errno::ENOENT) if self.maps.delivered => {
                let alone = ReturnMaps {
                    delivered: false,
                    ..self.maps.clone()
                };
                let seq = self.next_seq();
                let request = alone.add_batch(seq, path, self.transfer_wait);
                let answer = self.exchange(what, &request, seq)?;
                if answer.is_ok() {
                    self.maps = alone;
                }
                Ok(answer.map(drop))
            }
            answer => Ok(answer.map(drop)),
        }
    }

    /// Adds every path of `paths` to its map and `delivered` set in one
    /// transaction, each element its own acknowledged message. A batch
    /// that failed is aborted whole (see `batch.rs`): the paths whose
    /// messages failed get their own error, and the others go again in a
    /// batch of their own, until one commits. A failure of the whole
    /// transaction, ENOENT while the `delivered` sets are in use (an
    /// older include, see [`Netfilter::add`]), or an exchange that broke
    /// off (no answer) is settled path by path, each in a transaction of
    /// its own.
    fn add_many(
        &mut self,
        what: &'static str,
        paths: &[ReturnPath],
    ) -> Vec<Result<(), FirewallError>> {
        let mut results: Vec<Option<Result<(), FirewallError>>> =
            paths.iter().map(|_| None).collect();
        let mut todo: Vec<usize> = (0..paths.len()).collect();
        let mut alone = Vec::new();
        while !todo.is_empty() {
            let batch: Vec<ReturnPath> = todo.iter().map(|&i| paths[i]).collect();
            let first = self.reserve_seqs(batch.len() * self.maps.messages_per_path());
            let (request, messages) = self.maps.add_many(first, &batch, self.transfer_wait);
            let asked: Vec<(u32, bool)> = messages.iter().map(|m| (m.seq, m.acked)).collect();
            let owners: Vec<usize> = messages.iter().map(|m| m.path).collect();
            let awaited = Answers::for_messages(&asked).with_batch_begin(first.wrapping_sub(1));
            let Ok(answers) = self.exchange_many(what, &request, awaited) else {
                alone.append(&mut todo);
                break;
            };
            let batch_error = answers.batch_error();
            match batch::settle(&answers.into_answers(), &owners, batch.len(), batch_error) {
                Round::Committed => {
                    for i in todo.drain(..) {
                        results[i] = Some(Ok(()));
                    }
                }
                Round::Aborted { failed, retry } => {
                    for (at, errno) in failed {
                        let i = todo[at];
                        if errno == Errno::ENOENT && self.maps.delivered {
                            alone.push(i);
                        } else {
                            results[i] = Some(Err(self.add_error(&paths[i], errno)));
                        }
                    }
                    todo = retry.into_iter().map(|at| todo[at]).collect();
                }
                Round::Unattributed(_) => alone.append(&mut todo),
            }
        }
        for i in alone {
            results[i] = Some(match self.add(what, &paths[i]) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(errno)) => Err(self.add_error(&paths[i], errno)),
                Err(e) => Err(e),
            });
        }
        results.into_iter().map(unsettled_is_error).collect()
    }

    /// The kernel's answer to the lookup of `client`'s datagram at
    /// `local`, as the flow sees it.
    fn redirection(
        answer: Option<Answer>,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Result<Redirection, FirewallError> {
        const WHAT: &str = "conntrack lookup";
        match answer {
            Some(Ok(Some(payload))) => {
                let msg = Message {
                    msg_type: conntrack::CT_NEW,
                    seq: 0,
                    payload: &payload,
                };
                conntrack::decode_entry(msg.attributes())
                    .map_err(|detail| FirewallError::BadAnswer { what: WHAT, detail })
            }
            Some(Ok(None)) | None => Err(FirewallError::BadAnswer {
                what: WHAT,
                detail: "acknowledged without an entry".into(),
            }),
            Some(Err(Errno::ENOENT)) => Err(FirewallError::NoRedirect { client, local }),
            Some(Err(Errno::EPERM)) => Err(FirewallError::PermissionDenied {
                what: WHAT,
                hint: HINT_CAP,
            }),
            Some(Err(e)) => Err(FirewallError::errno(WHAT, e as i32)),
        }
    }

    /// The lookups of many datagrams in one zone, pipelined: every request
    /// sent at once, the answers matched by sequence number.
    fn lookup_many(
        &mut self,
        datagrams: &[(SocketAddr, SocketAddr)],
        zone: u16,
    ) -> Result<Vec<Result<Redirection, FirewallError>>, FirewallError> {
        let first = self.reserve_seqs(datagrams.len());
        let seqs: Vec<u32> = (0..datagrams.len() as u32)
            .map(|i| first.wrapping_add(i))
            .collect();
        let request = conntrack::lookup_requests(first, datagrams, zone);
        let answers = self.exchange_many("conntrack lookup", &request, Answers::new(&seqs))?;
        Ok(answers
            .into_answers()
            .into_iter()
            .zip(datagrams)
            .map(|(answer, &(client, local))| Self::redirection(answer, client, local))
            .collect())
    }

    /// The deletions of many requests' entries in one zone, pipelined:
    /// for each, whether there was one.
    fn delete_many(
        &mut self,
        flows: &[(SocketAddr, SocketAddr)],
        zone: u16,
    ) -> Result<Vec<Result<bool, FirewallError>>, FirewallError> {
        const WHAT: &str = "deleting a conntrack entry";
        let first = self.reserve_seqs(flows.len());
        let seqs: Vec<u32> = (0..flows.len() as u32)
            .map(|i| first.wrapping_add(i))
            .collect();
        let request = conntrack::delete_requests(first, flows, zone);
        let answers = self.exchange_many(WHAT, &request, Answers::new(&seqs))?;
        Ok(answers
            .into_answers()
            .into_iter()
            .map(|answer| match answer {
                Some(Ok(_)) | None => Ok(true),
                Some(Err(e)) => deleted(WHAT, e),
            })
            .collect())
    }

    /// What `path`'s element in `set` counted, read alone.
    fn element_use(&mut self, set: &str, path: &ReturnPath) -> Result<PathUse, FirewallError> {
        const WHAT: &str = "reading the return path's counter";
        let seq = self.next_seq();
        let request = counters::element_request(&self.maps, seq, set, path);
        match self.exchange(WHAT, &request, seq)? {
            Ok(Some(payload)) => {
                let msg = Message {
                    msg_type: nftables::NEWSETELEM,
                    seq,
                    payload: &payload,
                };
                let key = nftables::key(path);
                Ok(counters::elements(msg.attributes())
                    .into_iter()
                    .find(|e| e.key == key)
                    .map_or(PathUse::Unknown, |e| e.used))
            }
            // Expired (or removed by a reload): nothing to read.
            Ok(None) | Err(Errno::ENOENT) => Ok(PathUse::Unknown),
            Err(Errno::EPERM) => Err(FirewallError::PermissionDenied {
                what: WHAT,
                hint: HINT_CAP,
            }),
            Err(e) => Err(FirewallError::errno(WHAT, e as i32)),
        }
    }

    fn map_name(&self, path: &ReturnPath) -> String {
        format!("map inet {} {}", self.maps.table, self.maps.map_for(path))
    }

    /// The conntrack lookup of a redirected datagram in one zone.
    fn lookup_in_zone(
        &mut self,
        client: SocketAddr,
        local: SocketAddr,
        zone: u16,
    ) -> Result<Redirection, FirewallError> {
        let seq = self.next_seq();
        let request = conntrack::lookup_request(seq, client, local, zone);
        let answer = self.exchange("conntrack lookup", &request, seq)?;
        Self::redirection(Some(answer), client, local)
    }

    /// Deletes the entry whose original tuple is `src -> dst` in `zone`;
    /// `Ok(false)` if there is none.
    fn delete_in_zone(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        zone: u16,
    ) -> Result<bool, FirewallError> {
        const WHAT: &str = "deleting a conntrack entry";
        let seq = self.next_seq();
        let request = conntrack::delete_request(seq, src, dst, zone);
        match self.exchange(WHAT, &request, seq)? {
            Ok(_) => Ok(true),
            Err(e) => deleted(WHAT, e),
        }
    }

    /// The kernel's error for an element addition of `path`, named.
    fn add_error(&mut self, path: &ReturnPath, errno: Errno) -> FirewallError {
        const WHAT: &str = "adding the return path to the nftables map";
        match errno {
            Errno::EEXIST => FirewallError::PathInUse {
                proxy: path.proxy,
                server: path.server,
            },
            Errno::ENOENT => FirewallError::RulesetMissing {
                what: self.map_name(path),
            },
            // nft_add_set_elem() (net/netfilter/nf_tables_api.c) answers
            // ENFILE when the set holds its declared size.
            Errno::ENFILE => FirewallError::Full {
                what: self.map_name(path),
                limit: self.capacity(path).and_then(|n| u32::try_from(n).ok()),
            },
            Errno::EPERM => FirewallError::PermissionDenied {
                what: WHAT,
                hint: HINT_CAP,
            },
            e => FirewallError::errno(WHAT, e as i32),
        }
    }
}

/// A path's addition as settled; one left unsettled (none is) counts as
/// not added, never as added.
fn unsettled_is_error(result: Option<Result<(), FirewallError>>) -> Result<(), FirewallError> {
    result.unwrap_or_else(|| {
        Err(FirewallError::BadAnswer {
            what: "adding the return paths to the nftables maps",
            detail: "no answer was settled for this path".into(),
        })
    })
}

/// A conntrack deletion's refusal: ENOENT is no entry (`Ok(false)`).
fn deleted(what: &'static str, errno: Errno) -> Result<bool, FirewallError> {
    match errno {
        Errno::ENOENT => Ok(false),
        Errno::EPERM => Err(FirewallError::PermissionDenied {
            what,
            hint: HINT_CAP,
        }),
        e => Err(FirewallError::errno(what, e as i32)),
    }
}

impl Firewall for Netfilter {
    /// Looks in the requests' zone first (the shipped ruleset puts them
    /// there), then in the default zone (a ruleset without that rule, or a
    /// datagram that is no request).
    fn original_destination(
        &mut self,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Result<Redirection, FirewallError> {
        match self.lookup_in_zone(client, local, conntrack::REQUEST_ZONE) {
            Err(FirewallError::NoRedirect { .. }) => self.lookup_in_zone(client, local, 0),
            found => found,
        }
    }

    /// Marks `upstream` (see [`Netfilter::mark_upstream`]), then adds the
    /// map element.
    fn open_return_path(
        &mut self,
        path: &ReturnPath,
        upstream: BorrowedFd<'_>,
    ) -> Result<(), FirewallError> {
        const WHAT: &str = "adding the return path to the nftables map";
        self.mark_upstream(upstream)?;
        match self.add(WHAT, path)? {
            Ok(()) => Ok(()),
            Err(errno) => Err(self.add_error(path, errno)),
        }
    }

    /// Marks each socket, then adds every path whose socket was marked in
    /// one nf_tables batch (see [`Netfilter::add_many`]): one exchange for
    /// the wake-up's new transfers instead of one each.
    fn open_return_paths(
        &mut self,
        paths: &[(ReturnPath, BorrowedFd<'_>)],
    ) -> Vec<Result<(), FirewallError>> {
        const WHAT: &str = "adding the return path to the nftables map";
        let mut results: Vec<Option<Result<(), FirewallError>>> = Vec::new();
        let mut marked = Vec::new();
        for (i, (path, upstream)) in paths.iter().enumerate() {
            match self.mark_upstream(*upstream) {
                Ok(()) => {
                    results.push(None);
                    marked.push((i, *path));
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let batch: Vec<ReturnPath> = marked.iter().map(|&(_, path)| path).collect();
        for ((i, _), added) in marked.into_iter().zip(self.add_many(WHAT, &batch)) {
            results[i] = Some(added);
        }
        results.into_iter().map(unsettled_is_error).collect()
    }

    /// Looks up every datagram in the requests' zone in one pipelined
    /// exchange, then those not found there in the default zone in
    /// another. An exchange that fails as a whole is asked again one
    /// datagram at a time, so each gets its own answer.
    fn original_destinations(
        &mut self,
        datagrams: &[(SocketAddr, SocketAddr)],
    ) -> Vec<Result<Redirection, FirewallError>> {
        let mut found = match self.lookup_many(datagrams, conntrack::REQUEST_ZONE) {
            Ok(found) => found,
            Err(_) => {
                return datagrams
                    .iter()
                    .map(|&(client, local)| self.original_destination(client, local))
                    .collect()
            }
        };
        let again: Vec<usize> = (0..found.len())
            .filter(|&i| matches!(found[i], Err(FirewallError::NoRedirect { .. })))
            .collect();
        if again.is_empty() {
            return found;
        }
        let queries: Vec<_> = again.iter().map(|&i| datagrams[i]).collect();
        match self.lookup_many(&queries, 0) {
            Ok(answers) => {
                for (i, answer) in again.into_iter().zip(answers) {
                    found[i] = answer;
                }
            }
            Err(_) => {
                for i in again {
                    let (client, local) = datagrams[i];
                    found[i] = self.lookup_in_zone(client, local, 0);
                }
            }
        }
        found
    }

    fn close_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
        const WHAT: &str = "removing the return path from the nftables map";
        let seq = self.next_seq();
        let request = self.maps.remove_batch(seq, path);
        match self.exchange(WHAT, &request, seq)? {
            // Already gone: it expired, which is what removal wants.
            Ok(_) | Err(Errno::ENOENT) => Ok(()),
            Err(Errno::EPERM) => Err(FirewallError::PermissionDenied {
                what: WHAT,
                hint: HINT_CAP,
            }),
            Err(e) => Err(FirewallError::errno(WHAT, e as i32)),
        }
    }

    /// One element read from the map and one from its `delivered` set:
    /// for a copy of a request, whose fate (a true copy or a new request)
    /// turns on whether the server's answer reached the client yet.
    fn path_use(&mut self, path: &ReturnPath) -> Result<PathUse, FirewallError> {
        let map = self.element_use(self.maps.map_for(path), path)?;
        if !self.maps.delivered || !map.answered() {
            return Ok(map);
        }
        let delivered = self.element_use(self.maps.delivered_for(path), path)?;
        Ok(counters::combine(map, delivered))
    }

    /// One dump per map the paths use, however many paths: the cost of a
    /// batch of outcomes is one exchange per family, not one per path. A
    /// dump that spans several answers resumes by counting the elements
    /// it already sent (`cb->args[0]`, nf_tables_dump_set(),
    /// net/netfilter/nf_tables_api.c), so elements added or expired in
    /// between can shift it past one: a path the dump missed is asked
    /// about alone.
    fn paths_use(&mut self, paths: &[ReturnPath]) -> Result<Vec<PathUse>, FirewallError> {
        let mut maps: Vec<&'static str> = paths.iter().map(|p| self.maps.map_for(p)).collect();
        maps.sort_unstable();
        maps.dedup();
        let mut found = HashMap::new();
        let mut delivered = HashMap::new();
        let mut delivered_read = false;
        for map in maps {
            found.extend(self.map_use(map)?);
            if self.maps.delivered {
                let set = if map == "return_v4" {
                    "delivered_v4"
                } else {
                    "delivered_v6"
                };
                match self.map_use(set) {
                    Ok(elements) => {
                        delivered_read = true;
                        delivered.extend(elements);
                    }
                    // An older include: the maps' counts stand alone.
                    Err(FirewallError::RulesetMissing { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        paths
            .iter()
            .map(|p| {
                let key = nftables::key(p);
                match (found.get(&key), delivered.get(&key)) {
                    (Some(&used), Some(&twin)) => Ok(counters::combine(used, twin)),
                    // An answered path whose twin the dump missed is asked
                    // about alone: it may be settled as answered on this
                    // read, so "dropped" must not be mistaken for it.
                    (Some(&used), None) if !(delivered_read && used.answered()) => {
                        Ok(counters::combine(used, PathUse::Unknown))
                    }
                    _ => self.path_use(p),
                }
            })
            .collect()
    }

    /// The element counters count as the answer passes (see
    /// `counters.rs`), so a dump tells a live path's use.
    fn reads_live_use(&self) -> bool {
        true
    }

    fn renew_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
        const WHAT: &str = "renewing the return path in the nftables map";
        let seq = self.next_seq();
        let request = self.maps.renew_batch(seq, path, self.transfer_wait);
        match self.exchange(WHAT, &request, seq)? {
            Ok(_) => Ok(()),
            // It expired meanwhile: add it again (the socket is marked).
            Err(Errno::ENOENT) => match self.add(WHAT, path)? {
                Ok(()) => Ok(()),
                Err(e) => Err(FirewallError::errno(WHAT, e as i32)),
            },
            Err(Errno::EPERM) => Err(FirewallError::PermissionDenied {
                what: WHAT,
                hint: HINT_CAP,
            }),
            Err(e) => Err(FirewallError::errno(WHAT, e as i32)),
        }
    }

    fn describe_return_path(&self, path: &ReturnPath) -> String {
        self.maps.describe(path, self.transfer_wait)
    }

    /// The map's `size`, read with one GETSET the first time it is asked.
    fn capacity(&mut self, path: &ReturnPath) -> Option<usize> {
        let family = usize::from(path.server.is_ipv6());
        let size = match self.sizes[family] {
            Some(size) => size,
            None => {
                let size = self.declared_size(path);
                self.sizes[family] = Some(size);
                size
            }
        };
        size.map(|n| n as usize)
    }

    /// Reads the conntrack table's fill at most once a second; a table
    /// nearly full is reported once, and again only after it has been
    /// below the threshold.
    fn table_pressure(&mut self) -> Option<String> {
        let now = std::time::Instant::now();
        if self
            .load_read
            .is_some_and(|then| now.duration_since(then) < Duration::from_secs(1))
        {
            return None;
        }
        self.load_read = Some(now);
        let (count, max) = table_load::read()?;
        match table_load::judge(count, max) {
            Some(pressure) if !self.load_reported => {
                self.load_reported = true;
                Some(pressure.to_string())
            }
            Some(_) => None,
            None => {
                self.load_reported = false;
                None
            }
        }
    }

    fn clear_state(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
        self.delete_in_zone(path.server, path.proxy, 0).map(|_| ())
    }

    /// A single-port server's answer to `path` created a conntrack entry
    /// server:port -> proxy (`path.server` -> `path.proxy`, default zone)
    /// that carries the rest of that transfer. While it lives, it matches
    /// any later datagram of that server to that proxy port before NAT is
    /// looked at: an established entry is found by its tuple
    /// (`__nf_conntrack_find_get()`, net/netfilter/nf_conntrack_core.c)
    /// and NAT rules run only for a flow's first packet
    /// (`nf_nat_inet_fn()`, net/netfilter/nf_nat_core.c). So the port must
    /// not be given to another transfer before the entry is gone: this is
    /// how long it has left. Servers answering from a new port create
    /// entries from that port, which a later transfer's server answers
    /// would match only by choosing the same port again.
    fn state_left(&mut self, path: &ReturnPath) -> Result<Option<Duration>, FirewallError> {
        const WHAT: &str = "looking up the conntrack entry of the server's answers";
        let seq = self.next_seq();
        let request = conntrack::get_request(seq, path.server, path.proxy);
        match self.exchange(WHAT, &request, seq)? {
            Ok(Some(payload)) => {
                let msg = Message {
                    msg_type: conntrack::CT_NEW,
                    seq,
                    payload: &payload,
                };
                let left = conntrack::timeout_left(msg.attributes()).unwrap_or(1);
                Ok(Some(Duration::from_secs(u64::from(left.max(1)))))
            }
            Ok(None) | Err(Errno::ENOENT) => Ok(None),
            Err(Errno::EPERM) => Err(FirewallError::PermissionDenied {
                what: WHAT,
                hint: HINT_CAP,
            }),
            Err(e) => Err(FirewallError::errno(WHAT, e as i32)),
        }
    }

    /// Deletes the conntrack entry of the client's redirected request
    /// (original tuple client -> server:69). A single-port server's answer,
    /// redirected to the client, gets the reply tuple client -> server:69;
    /// while the request's entry holds that tuple, NAT cannot use it
    /// (nf_nat_used_tuple(), net/netfilter/nf_nat_core.c) and the answer
    /// would never reach the client. A missing entry is no error.
    /// The request is looked for in the requests' zone first, then in the
    /// default zone.
    fn request_forwarded(&mut self, redirection: &Redirection) -> Result<(), FirewallError> {
        let (client, server) = (redirection.client, redirection.original_destination);
        if !self.delete_in_zone(client, server, conntrack::REQUEST_ZONE)? {
            self.delete_in_zone(client, server, 0)?;
        }
        Ok(())
    }

    /// The deletions of one wake-up's requests, pipelined: the requests'
    /// zone for all at once, then the default zone for those not found
    /// there. An exchange that fails as a whole is done one request at a
    /// time, so each gets its own answer.
    fn requests_forwarded(
        &mut self,
        redirections: &[Redirection],
    ) -> Vec<Result<(), FirewallError>> {
        let flows: Vec<_> = redirections
            .iter()
            .map(|r| (r.client, r.original_destination))
            .collect();
        let one_by_one = |this: &mut Self| -> Vec<Result<(), FirewallError>> {
            redirections
                .iter()
                .map(|r| this.request_forwarded(r))
                .collect()
        };
        let Ok(first) = self.delete_many(&flows, conntrack::REQUEST_ZONE) else {
            return one_by_one(self);
        };
        let again: Vec<usize> = (0..first.len())
            .filter(|&i| matches!(first[i], Ok(false)))
            .collect();
        let mut results: Vec<Result<(), FirewallError>> =
            first.into_iter().map(|r| r.map(drop)).collect();
        if again.is_empty() {
            return results;
        }
        let rest: Vec<_> = again.iter().map(|&i| flows[i]).collect();
        match self.delete_many(&rest, 0) {
            Ok(second) => {
                for (i, r) in again.into_iter().zip(second) {
                    results[i] = r.map(drop);
                }
            }
            Err(_) => {
                for i in again {
                    let (client, server) = flows[i];
                    results[i] = self.delete_in_zone(client, server, 0).map(drop);
                }
            }
        }
        results
    }
}
