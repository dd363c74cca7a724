//! Errors a firewall backend reports, named by cause.

use std::net::SocketAddr;

/// Why the firewall could not answer or change what was asked.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The filter holds no redirected flow for this datagram: the
    /// redirect rule (rdr-to, nftables `redirect`) is missing or did not match.
    #[error("no redirected flow from {client} to {local} is known to the firewall (is the redirect rule missing?)")]
    NoRedirect {
        /// Source of the datagram.
        client: SocketAddr,
        /// Where the datagram arrived.
        local: SocketAddr,
    },
    /// More than one flow matched the lookup.
    #[error("more than one redirected flow matches {client} -> {local}")]
    Ambiguous {
        /// Source of the datagram.
        client: SocketAddr,
        /// Where the datagram arrived.
        local: SocketAddr,
    },
    /// A return path for this proxy address and port already exists.
    #[error("a return path for {proxy} from {server} already exists")]
    PathInUse {
        /// The proxy side of the path.
        proxy: SocketAddr,
        /// The server side of the path.
        server: SocketAddr,
    },
    /// The filter holds as many return paths as it was sized for (an
    /// nftables map at its `size`); the request is refused as busy.
    #[error("{what} is full{}: too many live return paths", .limit.map(|n| format!(" (size {n})")).unwrap_or_default())]
    Full {
        /// The map or table that is full.
        what: String,
        /// Its declared size, when known.
        limit: Option<u32>,
    },
    /// The ruleset the helper adds to is missing (not loaded or renamed).
    #[error("{what} not found: is the shipped ruleset loaded?")]
    RulesetMissing {
        /// The table, map or anchor that was looked for.
        what: String,
    },
    /// The kernel refused for lack of privilege.
    #[error("{what}: permission denied{hint}")]
    PermissionDenied {
        /// The operation.
        what: &'static str,
        /// Extra words on the likely cause.
        hint: &'static str,
    },
    /// The packet filter is not enabled.
    #[error("the packet filter is disabled")]
    Disabled,
    /// The running kernel's interface differs from the one the helper was
    /// built against (pf: another pfvar.h, so ioctl sizes do not match).
    #[error("{what}: the kernel does not understand this helper's request ({detail}): rebuild the helper on this system")]
    Incompatible {
        /// The operation.
        what: &'static str,
        /// What the helper was built against.
        detail: String,
    },
    /// A system call failed for another reason.
    #[error("{what}: {source}")]
    System {
        /// The operation.
        what: &'static str,
        /// The error the kernel returned.
        #[source]
        source: std::io::Error,
    },
    /// A part of the backend the helper cannot serve without has ended
    /// (pf: the reaper). The helper stops serving; inetd starts a new one.
    #[error("{what} has ended ({why}): this helper stops serving so that inetd starts a new one")]
    Broken {
        /// The part that ended.
        what: String,
        /// How it ended.
        why: String,
    },
    /// The kernel's answer could not be understood.
    #[error("{what}: malformed answer from the kernel: {detail}")]
    BadAnswer {
        /// The operation.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl FirewallError {
    /// A system call failure from an errno value.
    pub fn errno(what: &'static str, errno: i32) -> Self {
        FirewallError::System {
            what,
            source: std::io::Error::from_raw_os_error(errno),
        }
    }
}
