//! FreeBSD's pf: the return path is one anchor holding an `rdr` rule in
//! its RDR ruleset (target in the rule's pool) and `pass in`/`pass out`
//! rules with `max-states 1` in its FILTER ruleset, installed with one
//! transaction over both rulesets; the reaper removes them (no `once`).
//!
//! - `rule.rs`: pure encoding of rules, pool address, transactions and
//!   lookups;
//! - `syntax.rs`: pure rendering of encoded rules as FreeBSD pf.conf text;
//! - `nvlist.rs`: FreeBSD's packed nvlist format (libnv), built and read;
//! - `nvrequest.rs`: pure encoding of pf's nvlist ioctls (13 to 15):
//!   whether pf is enabled, forgetting a state, reading the main
//!   ruleset's anchor calls;
//! - `netlink.rs`: pure encoding of pf's netlink requests for the same
//!   status and state killing, used where the nvlist ioctls are gone;
//! - `ioctl.rs` (FreeBSD only): every ioctl and that netlink exchange,
//!   errno turned into [`FirewallError`](crate::firewall::FirewallError)
//!   by cause.
//!
//! This file joins them into what the shared backend calls. It must not
//! decide when a path is installed or removed.

#[cfg(target_os = "freebsd")]
#[allow(unsafe_code)] // the thin layer of kernel calls; each block says why it is sound
mod ioctl;
mod netlink;
mod nvlist;
mod nvrequest;
mod rule;
mod syntax;

use crate::firewall::ReturnPath;

/// The pf.conf text of `path`'s rules, the answer's bound to
/// `interface`, one per line: what
/// [`Firewall::describe_return_path`](crate::firewall::Firewall::describe_return_path)
/// returns.
pub fn describe(path: &ReturnPath, interface: &str, verbose: bool) -> String {
    // The anchor does not show in the text; any valid one will do.
    match rule::return_path_rules(
        path,
        interface,
        crate::firewall::pf::anchor::PARENT,
        verbose,
    ) {
        Ok(rules) => syntax::render_all(&rules),
        Err(e) => format!("# no pf rule can express this return path: {e}"),
    }
}

#[cfg(target_os = "freebsd")]
pub use ioctl::{open_error, Device};

/// Confines the reaper further once it runs as the unprivileged user in
/// `/var/empty`: nothing more on FreeBSD (there is no pledge; the reaper
/// holds only `/dev/pf` and its two pipes).
#[cfg(target_os = "freebsd")]
pub fn limit_to_pf() {}

#[cfg(target_os = "freebsd")]
mod flow {
    use super::{ioctl::Device, rule};
    use crate::firewall::pf::encode::EncodeError;
    use crate::firewall::{FirewallError, Redirection, ReturnPath};
    use std::net::SocketAddr;

    impl Device {
        /// Finds where a datagram from `client` at `local` was going
        /// (DIOCNATLOOK).
        pub fn original_destination(
            &self,
            client: SocketAddr,
            local: SocketAddr,
        ) -> Result<Redirection, FirewallError> {
            let query = rule::natlook_query(client, local)
                .map_err(|_| FirewallError::NoRedirect { client, local })?;
            let answer = self.natlook(query, client, local)?;
            rule::natlook_answer(&answer, local).ok_or(FirewallError::NoRedirect { client, local })
        }

        /// Whether pf still holds the state a single-port server's
        /// answer to `path` created (`rule::answer_state_query`); the
        /// rules' timeouts remove it once the transfer is quiet
        /// (`idle.rs`).
        pub fn answer_state_exists(&self, path: &ReturnPath) -> Result<bool, FirewallError> {
            let query = rule::answer_state_query(path).map_err(encode_error)?;
            self.state_exists(query)
        }

        /// Forgets pf's state of the client's redirected request, so that a
        /// server answering from port 69 itself, redirected to the client,
        /// is not taken for that flow (see `rule::return_path_rules` for
        /// the request's own `no state` rule).
        pub fn forget_request(&self, redirection: &Redirection) -> Result<(), FirewallError> {
            self.kill_request_state(redirection.client, redirection.original_destination)
        }

        /// Installs `path`'s rules, the answer's bound to `interface`,
        /// into `anchor` in one transaction.
        pub fn install_return_path(
            &self,
            anchor: &str,
            path: &ReturnPath,
            interface: &str,
            verbose: bool,
        ) -> Result<(), FirewallError> {
            let mut rules =
                rule::return_path_rules(path, interface, anchor, verbose).map_err(encode_error)?;
            self.install(anchor, &mut rules)
        }
    }

    fn encode_error(e: EncodeError) -> FirewallError {
        FirewallError::System {
            what: "encoding pf rules",
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_is_the_dry_run_text() {
        let path = ReturnPath {
            client: "192.0.2.20:50232".parse().unwrap(),
            proxy: "198.51.100.1:49441".parse().unwrap(),
            server: "198.51.100.2:69".parse().unwrap(),
            idle_limit: crate::firewall::STATE_IDLE_LIMIT,
        };
        assert_eq!(
            describe(&path, "igb0", false),
            "rdr on igb0 inet proto udp from 198.51.100.2 to 198.51.100.1 port 49441 \
             -> 192.0.2.20 port 50232\n\
             pass in quick on igb0 inet proto udp from 198.51.100.2 to 192.0.2.20 port 50232 \
             keep state (max 1, udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out quick inet proto udp from 198.51.100.2 to 192.0.2.20 port 50232 \
             keep state (max 1, udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out quick inet proto udp from 198.51.100.1 port 49441 to 198.51.100.2 port 69 \
             no state"
        );
        let mixed = ReturnPath {
            server: "[2001:db8::2]:69".parse().unwrap(),
            ..path
        };
        assert!(describe(&mixed, "igb0", false).starts_with("# "));
        assert!(describe(&path, "", false).starts_with("# "));
    }
}
