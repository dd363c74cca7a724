//! The seam between the proxy and the packet filter.
//!
//! This module owns the [`Firewall`] trait and the plain data that crosses
//! it. The request flow (`crate::proxy`) talks to the firewall only through
//! this trait; it never knows which backend runs. Backends own their kernel
//! interfaces (ioctls on /dev/pf, netfilter netlink) and nothing else: no
//! sockets toward clients or servers, no TFTP, no policy.

mod error;
#[cfg(target_os = "linux")]
pub mod netfilter;
#[cfg(any(target_os = "openbsd", target_os = "freebsd", test))]
pub mod pf;

pub use error::FirewallError;

use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// What the firewall knows about a redirected request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirection {
    /// The client's address and port as the wire carried them (the firewall
    /// may have rewritten the source port while redirecting).
    pub client: SocketAddr,
    /// Where the client really sent the request: the TFTP server.
    pub original_destination: SocketAddr,
}

/// One transfer's way back: datagrams from `server` (from any port, its new
/// transfer ID) to `proxy` are redirected to `client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnPath {
    /// The client, as the wire carries it.
    pub client: SocketAddr,
    /// The helper's socket toward the server: firewall address and the port
    /// the kernel gave it.
    pub proxy: SocketAddr,
    /// The TFTP server (the original destination).
    pub server: SocketAddr,
    /// How long filter state of this transfer's answers may go without a
    /// packet before the transfer counts as over ([`state_idle_limit`] of
    /// the request's retransmission timeout).
    pub idle_limit: Duration,
}

/// The operations the request flow needs from a packet filter.
pub trait Firewall {
    /// Finds the redirected flow for a datagram received from `client` on the
    /// helper's socket at `local` (address and port the datagram arrived at).
    fn original_destination(
        &mut self,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Result<Redirection, FirewallError>;

    /// Installs `path` for the request about to leave from `upstream` (the
    /// helper's socket toward the server, bound and connected as
    /// `path.proxy` -> `path.server`). It must go away by itself after the
    /// transfer wait the backend was built with, even if this process dies.
    ///
    /// A backend may also prepare `upstream` so that the filter keeps no
    /// state of its own for the request (Linux marks it for the shipped
    /// ruleset's `notrack` rule): a server answering from port 69 itself
    /// must find its answer taking the return path, not delivered to the
    /// helper's socket.
    fn open_return_path(
        &mut self,
        path: &ReturnPath,
        upstream: BorrowedFd<'_>,
    ) -> Result<(), FirewallError>;

    /// [`Firewall::original_destination`] for the datagrams of one
    /// wake-up (each `(client, local)`), answers in their order: a backend
    /// may ask the kernel about all of them in one exchange. The default
    /// asks about each in turn.
    fn original_destinations(
        &mut self,
        datagrams: &[(SocketAddr, SocketAddr)],
    ) -> Vec<Result<Redirection, FirewallError>> {
        datagrams
            .iter()
            .map(|&(client, local)| self.original_destination(client, local))
            .collect()
    }

    /// [`Firewall::open_return_path`] for the new transfers of one
    /// wake-up, results in their order: a backend may install them in one
    /// transaction, but a path that fails fails alone, and the others are
    /// installed. The default installs each in turn.
    fn open_return_paths(
        &mut self,
        paths: &[(ReturnPath, BorrowedFd<'_>)],
    ) -> Vec<Result<(), FirewallError>> {
        paths
            .iter()
            .map(|(path, upstream)| self.open_return_path(path, *upstream))
            .collect()
    }

    /// Removes `path` now (a request that could not be forwarded, or the
    /// helper was told to stop).
    fn close_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError>;

    /// Whether the backend can still keep its promises (pf: its reaper,
    /// which removes every return path, still runs). The request flow asks
    /// before it reads each datagram; an error ends serving, and the
    /// datagram stays queued for the new helper inetd starts. The default:
    /// always.
    fn check_alive(&mut self) -> Result<(), FirewallError> {
        Ok(())
    }

    /// What `open_return_path` would install, in the filter's own
    /// configuration syntax, one rule per line (for `-n` and `-v`).
    fn describe_return_path(&self, path: &ReturnPath) -> String;

    /// How many return paths the filter can hold alongside `path` (an
    /// nftables map's declared `size`), read from the kernel once, so the
    /// flow can answer "busy" without asking the kernel to fail. `None`:
    /// no fixed limit is known.
    fn capacity(&mut self, path: &ReturnPath) -> Option<usize> {
        let _ = path;
        None
    }

    /// How long filter state created by `path`'s answers (a single-port
    /// server's flow back to the proxy port) may still live, if there is
    /// any: the helper keeps the port until it is gone, so no later
    /// transfer that reuses the port can be matched by it. The default
    /// knows of none.
    fn state_left(&mut self, path: &ReturnPath) -> Result<Option<Duration>, FirewallError> {
        let _ = path;
        Ok(None)
    }

    /// Deletes the filter state [`Firewall::state_left`] found for `path`
    /// (its transfer is over), so the port can be given to another
    /// transfer. The default has none to delete.
    fn clear_state(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
        let _ = path;
        Ok(())
    }

    /// Whether the filter removes the state [`Firewall::state_left`]
    /// finds by itself once it has gone the path's
    /// [`ReturnPath::idle_limit`] without a packet (pf: the return path's rules carry that timeout), so that
    /// the flow holds the port until the state is gone and never clears
    /// it. The default: no, the flow tells idle state and clears it.
    fn state_expires_when_idle(&self) -> bool {
        false
    }

    /// A warning about the filter's own state table when it is (nearly)
    /// full, which drops packets before they reach the helper; given once
    /// until the table has room again. Cheap enough to ask twice a
    /// second. The default knows of no such table.
    fn table_pressure(&mut self) -> Option<String> {
        None
    }

    /// The client's redirected request (`redirection`) is the helper's now:
    /// the filter may forget its own state of that flow. A single-port
    /// server's answer, once redirected to the client, runs back as
    /// client -> server:69, the very flow of the redirected request, which
    /// still points at the helper. The state is recreated by the client's
    /// next datagram if it needs one.
    ///
    /// Called for each request the helper sends toward a server (first
    /// copies and re-sent retransmissions). The default does nothing. A
    /// failure is logged and the transfer goes on: servers answering from
    /// a new port do not need this.
    fn request_forwarded(&mut self, redirection: &Redirection) -> Result<(), FirewallError> {
        let _ = redirection;
        Ok(())
    }

    /// [`Firewall::request_forwarded`] for the requests of one wake-up,
    /// results in their order. The default tells each in turn.
    fn requests_forwarded(
        &mut self,
        redirections: &[Redirection],
    ) -> Vec<Result<(), FirewallError>> {
        redirections
            .iter()
            .map(|r| self.request_forwarded(r))
            .collect()
    }

    /// Which of the kernel's interfaces the backend found to talk to the
    /// filter, where the kernel offers more than one (FreeBSD pf: nvlist
    /// ioctls or netlink), for the `-v` log. The default is `None`.
    fn kernel_interface(&self) -> Option<String> {
        None
    }

    /// How the kernel has seen `path` used so far: whether a server's
    /// answer took it. This is kernel state an outsider cannot forge with
    /// an ICMP error, unlike the upstream socket's error slot. The default
    /// cannot tell.
    fn path_use(&mut self, path: &ReturnPath) -> Result<PathUse, FirewallError> {
        let _ = path;
        Ok(PathUse::Unknown)
    }

    /// [`Firewall::path_use`] for many paths at once, in their order: a
    /// backend reads them in one batch (one dump of a map), off the
    /// request path. The default asks about each.
    fn paths_use(&mut self, paths: &[ReturnPath]) -> Result<Vec<PathUse>, FirewallError> {
        paths.iter().map(|p| self.path_use(p)).collect()
    }

    /// Whether [`Firewall::paths_use`] tells a live path's use as soon as
    /// the server's answer has taken it, so the flow may settle an
    /// answered path (log its outcome, remove it) before its wait is
    /// over. The default: no (pf's counts come from its reaper at each
    /// path's deadline).
    fn reads_live_use(&self) -> bool {
        false
    }

    /// Counts `path`'s transfer wait again from now: the request was sent
    /// again (a retransmission), and a server answering that copy must
    /// find the path as one answering the first would. Called only for a
    /// path the kernel saw unused. The default does nothing.
    fn renew_return_path(&mut self, path: &ReturnPath) -> Result<(), FirewallError> {
        let _ = path;
        Ok(())
    }
}

/// The least time filter state of a transfer's answers may go without a
/// packet before the transfer counts as over: longer than the
/// retransmission timeout TFTP peers use by default (1 to 5 s), so a
/// transfer that is still retrying is never cut. A request that asks for
/// a longer timeout gets more ([`state_idle_limit`]).
pub const STATE_IDLE_LIMIT: Duration = Duration::from_secs(6);

/// What a transfer's idle limit adds to the retransmission timeout its
/// request asked for: the way of the re-sent packet to the firewall and
/// the lateness of the peer's timer. The same margin makes
/// [`STATE_IDLE_LIMIT`] from the default timeouts' 5 s.
pub const IDLE_MARGIN: Duration = Duration::from_secs(1);

/// How long filter state of a transfer's answers may go without a packet
/// before the transfer counts as over, given the retransmission timeout
/// its request asked for (RFC 2349 `timeout`, if any): after a lost
/// packet, a peer that honours it re-sends only that long after its last
/// send, and either peer's re-sent packet refreshes the state. Never less
/// than [`STATE_IDLE_LIMIT`]. The flow clears state idle this long
/// ([`Firewall::clear_state`]); a filter that expires it by itself
/// ([`Firewall::state_expires_when_idle`]) is given this timeout.
pub fn state_idle_limit(retransmission_timeout: Option<Duration>) -> Duration {
    retransmission_timeout.map_or(STATE_IDLE_LIMIT, |t| {
        (t + IDLE_MARGIN).max(STATE_IDLE_LIMIT)
    })
}

/// How a return path has been used, as the kernel counted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathUse {
    /// No datagram has taken the path.
    Unused,
    /// The server's answer took it: `packets` datagrams, `bytes` bytes
    /// (the path carries a transfer's first answer; connection tracking
    /// carries the rest).
    Used {
        /// Datagrams the path redirected.
        packets: u64,
        /// Their bytes, as the kernel counts them.
        bytes: u64,
    },
    /// The server's answer took the path's redirection, but the firewall
    /// dropped it before it left toward the client (Linux: a forward
    /// chain's rule). Counts as for [`PathUse::Used`].
    Dropped {
        /// Datagrams the path redirected.
        packets: u64,
        /// Their bytes, as the kernel counts them.
        bytes: u64,
    },
    /// The path is gone, or the backend cannot count (a map declared
    /// without `counter`).
    Unknown,
    /// The backend will know later: the kernel is read off the request
    /// path by another process that has not reported yet (pf's reaper
    /// reads each anchor at its deadline). The flow asks again at its
    /// next batch, for at most [`OUTCOME_PATIENCE`], then counts the
    /// outcome unknown.
    Pending,
}

/// How long the flow keeps asking about a path whose use is
/// [`PathUse::Pending`] after its wait is over, and how much longer the
/// helper stays for such reports before it exits.
pub const OUTCOME_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

impl PathUse {
    /// Whether the server's answer is known to have taken the path to the
    /// client (a dropped answer did not).
    pub fn answered(self) -> bool {
        matches!(self, PathUse::Used { packets, .. } if packets > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_idle_limit_outlasts_the_requested_timeout() {
        // No option, or one within the default timeouts: the floor.
        assert_eq!(state_idle_limit(None), secs(6));
        assert_eq!(state_idle_limit(Some(secs(1))), secs(6));
        assert_eq!(state_idle_limit(Some(secs(5))), secs(6));
        // Longer: the timeout and the margin.
        assert_eq!(state_idle_limit(Some(secs(6))), secs(7));
        assert_eq!(state_idle_limit(Some(secs(10))), secs(11));
        assert_eq!(state_idle_limit(Some(secs(255))), secs(256));
        for t in 1..=255 {
            let limit = state_idle_limit(Some(secs(t)));
            assert!(limit > secs(t) && limit >= STATE_IDLE_LIMIT, "timeout {t}");
        }
    }
}
