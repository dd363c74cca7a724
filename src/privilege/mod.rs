//! Giving up root once the kernel handles the helper needs are open.
//!
//! This module owns the change of user (and, on OpenBSD, chroot and pledge;
//! on FreeBSD, chroot; on Linux, the capability set). It must be called after the firewall
//! backend has opened its handles and before the first datagram is read;
//! and, by a helper that could not start, before it answers the queued
//! datagrams ([`drop_for_refusal`]).

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "openbsd")]
mod openbsd;

#[cfg(target_os = "freebsd")]
pub use freebsd::drop_privileges;
#[cfg(target_os = "linux")]
pub use linux::{drop_privileges, identity};
#[cfg(target_os = "openbsd")]
pub use openbsd::drop_privileges;

/// The account a helper that could not start answers queued datagrams
/// as, when its own user (`-u`) does not exist: the system's.
pub const FALLBACK_USER: &str = "nobody";

/// Gives up every privilege before a helper that could not start answers
/// the datagrams queued on its socket (which needs nothing but the
/// socket): as root, it becomes `user` (or [`FALLBACK_USER`] if `user`
/// does not exist), chrooted to `/var/empty` on the BSDs; then it drops
/// what is left (Linux: every capability, no_new_privs; OpenBSD: pledge
/// "stdio inet"). Works whether or not root was given up already (the
/// start may have failed before or after). Returns who the process is
/// now, for the log.
pub fn drop_for_refusal(user: &str) -> Result<String, PrivilegeError> {
    #[cfg(target_os = "linux")]
    linux::drop_all(user)?;
    #[cfg(target_os = "openbsd")]
    openbsd::drop_all(user)?;
    #[cfg(target_os = "freebsd")]
    jail_for_refusal(user)?;
    Ok(identity())
}

/// Becomes `account` for good: its group as the only one, then real,
/// effective and saved group and user ids.
#[cfg(any(target_os = "linux", target_os = "openbsd", target_os = "freebsd"))]
fn become_user(account: &nix::unistd::User) -> Result<(), PrivilegeError> {
    use nix::unistd::{setgroups, setresgid, setresuid};
    setgroups(&[account.gid]).map_err(|e| PrivilegeError::system("setgroups", e))?;
    setresgid(account.gid, account.gid, account.gid)
        .map_err(|e| PrivilegeError::system("setresgid", e))?;
    setresuid(account.uid, account.uid, account.uid)
        .map_err(|e| PrivilegeError::system("setresuid", e))
}

/// The BSDs' part of [`drop_for_refusal`]: as root, chroots to
/// `/var/empty` (best effort: a start that failed after its chroot is
/// there already) and becomes the refusal account; nothing without root.
#[cfg(any(target_os = "openbsd", target_os = "freebsd"))]
fn jail_for_refusal(user: &str) -> Result<(), PrivilegeError> {
    use nix::unistd::{chdir, chroot, geteuid};
    if !geteuid().is_root() {
        return Ok(());
    }
    let account = refusal_account(user)?;
    if chroot("/var/empty").is_ok() {
        chdir("/").map_err(|e| PrivilegeError::system("chdir(/) in /var/empty", e))?;
    }
    become_user(&account)
}

/// `user`, or [`FALLBACK_USER`] if there is no such user.
#[cfg(any(target_os = "linux", target_os = "openbsd", target_os = "freebsd"))]
fn refusal_account(user: &str) -> Result<nix::unistd::User, PrivilegeError> {
    use nix::unistd::User;
    let lookup = |name: &str| {
        User::from_name(name)
            .map_err(|e| PrivilegeError::system("looking up the unprivileged user", e))
    };
    match lookup(user)? {
        Some(account) => Ok(account),
        None => lookup(FALLBACK_USER)?.ok_or_else(|| PrivilegeError::NoSuchUser(user.to_owned())),
    }
}

/// Who the process is now, for the verbose log.
#[cfg(not(target_os = "linux"))]
pub fn identity() -> String {
    format!(
        "uid {} euid {}",
        nix::unistd::getuid(),
        nix::unistd::geteuid()
    )
}

/// The user the helper runs as by default once root is given up.
#[cfg(target_os = "openbsd")]
pub const DEFAULT_USER: &str = "_tftp_proxy";
/// The user the helper runs as by default once root is given up: the
/// base system's `proxy` (uid 62), which FreeBSD's own proxies use.
#[cfg(target_os = "freebsd")]
pub const DEFAULT_USER: &str = "proxy";
/// The user the helper runs as by default once root is given up.
#[cfg(not(any(target_os = "openbsd", target_os = "freebsd")))]
pub const DEFAULT_USER: &str = "nobody";

/// Why root could not be given up. The helper refuses to serve then.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// The unprivileged user does not exist.
    #[error("no such user {0:?} (create it or pick another with -u)")]
    NoSuchUser(String),
    /// A system call in the drop failed.
    #[error("{what}: {source}")]
    System {
        /// The step that failed.
        what: &'static str,
        /// The error the kernel returned.
        #[source]
        source: std::io::Error,
    },
}

impl PrivilegeError {
    pub(crate) fn system(what: &'static str, errno: nix::errno::Errno) -> Self {
        PrivilegeError::System {
            what,
            source: std::io::Error::from(errno),
        }
    }
}
