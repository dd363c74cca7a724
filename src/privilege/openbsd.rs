//! OpenBSD: chroot to `/var/empty`, become the unprivileged user, pledge.
//!
//! This file owns the order of those steps and the one pledge(2) call of
//! the helper (libc has no safe wrapper for it). It must not open
//! anything: every handle the helper needs (`/dev/pf`, the inherited
//! socket) is open before it runs.

use super::PrivilegeError;
use nix::unistd::{chdir, chroot, geteuid, User};

/// The empty, root-owned directory the helper is confined to.
const JAIL: &str = "/var/empty";

/// What the helper keeps: memory and open descriptors ("stdio"), sockets
/// toward servers ("inet"), and the pf ioctls on the open `/dev/pf`
/// ("pf"). No "proc" (the reaper was forked already), no paths.
const PROMISES: &std::ffi::CStr = c"stdio inet pf";

/// Gives up root for good: looks `user` up (the password database is out
/// of reach once chrooted), chroots to `/var/empty`, takes the user's
/// group as the only one, sets real, effective and saved group and user
/// ids, then pledges "stdio inet pf".
pub fn drop_privileges(user: &str) -> Result<(), PrivilegeError> {
    if !geteuid().is_root() {
        return Err(PrivilegeError::System {
            what: "giving up root",
            source: std::io::Error::other(format!(
                "running as uid {}, not root: tftp-proxy must be started as root (inetd.conf user field)",
                geteuid()
            )),
        });
    }
    let account = User::from_name(user)
        .map_err(|e| PrivilegeError::system("looking up the unprivileged user", e))?
        .ok_or_else(|| PrivilegeError::NoSuchUser(user.to_owned()))?;
    chroot(JAIL).map_err(|e| PrivilegeError::system("chroot(/var/empty)", e))?;
    chdir("/").map_err(|e| PrivilegeError::system("chdir(/) in /var/empty", e))?;
    super::become_user(&account)?;
    crate::firewall::pf::pledge(PROMISES)
        .map_err(|e| PrivilegeError::system("pledge(\"stdio inet pf\")", e))
}

/// What a helper that could not start keeps while it answers queued
/// datagrams: the socket ("stdio") and sending to the clients ("inet").
const REFUSAL_PROMISES: &std::ffi::CStr = c"stdio inet";

/// Gives up everything for answering queued datagrams (see
/// [`super::drop_for_refusal`]): the BSDs' chroot and change of user,
/// then pledge "stdio inet", which also narrows an earlier
/// "stdio inet pf".
pub fn drop_all(user: &str) -> Result<(), PrivilegeError> {
    super::jail_for_refusal(user)?;
    crate::firewall::pf::pledge(REFUSAL_PROMISES)
        .map_err(|e| PrivilegeError::system("pledge(\"stdio inet\")", e))
}
