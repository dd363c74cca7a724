//! OpenBSD's pf: the return path is one anchor holding
//! `pass in quick on <if> ... rdr-to <client> port <p> once`, its
//! `pass out quick`, and the forwarded request's `pass out quick ... no
//! state`, installed with one `PF_TRANS_RULESET` transaction.
//!
//! - `rule.rs`: pure encoding of rules, transactions and lookups;
//! - `syntax.rs`: pure rendering of encoded rules as pf.conf text;
//! - `layout.rs` (tests): the sizes and ioctl codes of each release;
//! - `ioctl.rs` (OpenBSD only): every ioctl, errno turned into
//!   [`FirewallError`](crate::firewall::FirewallError) by cause, and
//!   pledge(2).
//!
//! This file joins them into what the shared backend calls. It must not
//! decide when a path is installed or removed; and once the process is
//! pledged no ioctl pledge(2) forbids may be issued (`DIOCXROLLBACK`, the
//! anchor listing): those happen in [`Pf::open`](crate::firewall::pf::Pf).

#[cfg(target_os = "openbsd")]
#[allow(unsafe_code)] // the thin layer of kernel calls; each block says why it is sound
mod ioctl;
#[cfg(test)]
mod layout;
mod rule;
mod syntax;

use crate::firewall::ReturnPath;

/// The pf.conf text of `path`'s three rules, bound to `interface`, one
/// per line: what
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

#[cfg(target_os = "openbsd")]
pub use ioctl::{open_error, pledge, routing_table, Device};

/// Confines the reaper further once it runs as the unprivileged user in
/// `/var/empty`: nothing more. pledge "pf" allows DIOCXBEGIN and
/// DIOCXCOMMIT, which empty an anchor, but not DIOCGETRULES,
/// DIOCGETRULE or DIOCXEND (`pledge_ioctl` in kern/kern_pledge.c), which
/// read the anchor's `once` rule for the outcome line just before; a
/// pledged reaper issuing them would be killed. It holds only `/dev/pf`
/// and its two pipes, and pledge "pf" would not narrow what it may do to
/// pf's rulesets (a transaction may replace any of them).
#[cfg(target_os = "openbsd")]
pub fn limit_to_pf() {}

#[cfg(target_os = "openbsd")]
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
            let query = rule::natlook_query(client, local, super::ioctl::routing_table())
                .map_err(|_| FirewallError::NoRedirect { client, local })?;
            let answer = self.natlook(query, client, local)?;
            rule::natlook_answer(&answer, local).ok_or(FirewallError::NoRedirect { client, local })
        }

        /// Whether pf still holds the state a single-port server's
        /// answer to `path` created (`rule::answer_state_query`). It
        /// cannot be read nor killed under pledge "pf", which allows
        /// DIOCNATLOOK but neither DIOCGETSTATE(S) nor DIOCKILLSTATES
        /// (pledge_ioctl() in kern/kern_pledge.c); the rules' timeouts
        /// remove it once the transfer is quiet (`idle.rs`).
        pub fn answer_state_exists(&self, path: &ReturnPath) -> Result<bool, FirewallError> {
            let query = rule::answer_state_query(path, super::ioctl::routing_table())
                .map_err(encode_error)?;
            self.state_exists(query)
        }

        /// The client's redirected request cannot be forgotten on
        /// OpenBSD: DIOCKILLSTATES is not allowed under pledge "pf"
        /// (pledge_ioctl() in kern/kern_pledge.c); with divert-to on a
        /// `no state` rule there is nothing to forget. Nothing is done.
        pub fn forget_request(&self, _redirection: &Redirection) -> Result<(), FirewallError> {
            Ok(())
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
            describe(&path, "em0", false),
            "pass in quick on em0 inet proto udp from 198.51.100.2 to 198.51.100.1 port 49441 \
             rdr-to 192.0.2.20 port 50232 \
             keep state (udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295) once\n\
             pass out quick inet proto udp from 198.51.100.2 to 192.0.2.20 port 50232 \
             keep state (udp.first 6, udp.single 6, udp.multiple 6, adaptive.start 4294967294, adaptive.end 4294967295)\n\
             pass out quick inet proto udp from 198.51.100.1 port 49441 to 198.51.100.2 port 69 \
             no state"
        );
        let mixed = ReturnPath {
            server: "[2001:db8::2]:69".parse().unwrap(),
            ..path
        };
        assert!(describe(&mixed, "em0", false).starts_with("# "));
        assert!(describe(&path, "", false).starts_with("# "));
    }
}
