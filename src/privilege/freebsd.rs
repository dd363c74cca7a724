//! FreeBSD: chroot to `/var/empty`, become the unprivileged user.
//!
//! This file owns the order of those steps. It must not open anything:
//! every handle the helper needs (`/dev/pf`, the inherited socket) is
//! open before it runs. FreeBSD has no pledge; what is left to the helper
//! is its open descriptors and what the unprivileged user may do.

use super::PrivilegeError;
use nix::unistd::{chdir, chroot, geteuid, User};

/// The empty, root-owned directory the helper is confined to.
const JAIL: &str = "/var/empty";

/// Gives up root for good: looks `user` up (the password database is out
/// of reach once chrooted), chroots to `/var/empty`, takes the user's
/// group as the only one, then sets real, effective and saved group and
/// user ids.
pub fn drop_privileges(user: &str) -> Result<(), PrivilegeError> {
    if !geteuid().is_root() {
        return Err(PrivilegeError::System {
            what: "giving up root",
            source: std::io::Error::other(format!(
                "running as uid {}, not root: tftp-proxy must be started as root \
                 (the inetd.conf user field, or user = root for xinetd)",
                geteuid()
            )),
        });
    }
    let account = User::from_name(user)
        .map_err(|e| PrivilegeError::system("looking up the unprivileged user", e))?
        .ok_or_else(|| PrivilegeError::NoSuchUser(user.to_owned()))?;
    chroot(JAIL).map_err(|e| PrivilegeError::system("chroot(/var/empty)", e))?;
    chdir("/").map_err(|e| PrivilegeError::system("chdir(/) in /var/empty", e))?;
    super::become_user(&account)
}
