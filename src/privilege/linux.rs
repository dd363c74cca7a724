//! Linux: become an unprivileged user that keeps CAP_NET_ADMIN and
//! nothing else (conntrack lookups and map updates over netfilter netlink
//! need it; nothing else the helper does needs any privilege).

use super::PrivilegeError;
use caps::{CapSet, Capability, CapsHashSet};
use nix::sys::prctl;
use nix::unistd::{geteuid, User};

/// Changes to `user` (when started as root), keeping only CAP_NET_ADMIN,
/// and forbids gaining privileges again (no_new_privs).
pub fn drop_privileges(user: &str) -> Result<(), PrivilegeError> {
    if geteuid().is_root() {
        let account = User::from_name(user)
            .map_err(|e| PrivilegeError::system("looking up the unprivileged user", e))?
            .ok_or_else(|| PrivilegeError::NoSuchUser(user.to_owned()))?;
        prctl::set_keepcaps(true)
            .map_err(|e| PrivilegeError::system("prctl(PR_SET_KEEPCAPS)", e))?;
        super::become_user(&account)?;
        prctl::set_keepcaps(false)
            .map_err(|e| PrivilegeError::system("prctl(PR_SET_KEEPCAPS)", e))?;
    }
    let only: CapsHashSet = [Capability::CAP_NET_ADMIN].into_iter().collect();
    let caps_error = |what: &'static str| {
        move |e: caps::errors::CapsError| PrivilegeError::System {
            what,
            source: std::io::Error::other(e.to_string()),
        }
    };
    let permitted =
        caps::read(None, CapSet::Permitted).map_err(caps_error("reading capabilities"))?;
    if !permitted.contains(&Capability::CAP_NET_ADMIN) {
        return Err(PrivilegeError::System {
            what: "keeping CAP_NET_ADMIN",
            source: std::io::Error::other("the process does not have it (run as root, or grant it, e.g. AmbientCapabilities=CAP_NET_ADMIN)"),
        });
    }
    caps::clear(None, CapSet::Ambient).map_err(caps_error("clearing ambient capabilities"))?;
    caps::clear(None, CapSet::Inheritable)
        .map_err(caps_error("clearing inheritable capabilities"))?;
    caps::set(None, CapSet::Effective, &only)
        .map_err(caps_error("setting effective capabilities"))?;
    caps::set(None, CapSet::Permitted, &only)
        .map_err(caps_error("setting permitted capabilities"))?;
    prctl::set_no_new_privs()
        .map_err(|e| PrivilegeError::system("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
    Ok(())
}

/// Gives up everything for answering queued datagrams (see
/// [`super::drop_for_refusal`]): as root, becomes the refusal account
/// without PR_SET_KEEPCAPS, so the kernel clears the permitted and
/// effective capabilities with the change of user (capabilities(7));
/// then clears every capability set left and sets no_new_privs.
pub fn drop_all(user: &str) -> Result<(), PrivilegeError> {
    if geteuid().is_root() {
        let account = super::refusal_account(user)?;
        prctl::set_keepcaps(false)
            .map_err(|e| PrivilegeError::system("prctl(PR_SET_KEEPCAPS)", e))?;
        super::become_user(&account)?;
    }
    let caps_error = |what: &'static str| {
        move |e: caps::errors::CapsError| PrivilegeError::System {
            what,
            source: std::io::Error::other(e.to_string()),
        }
    };
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(caps_error("clearing capabilities"))?;
    }
    prctl::set_no_new_privs().map_err(|e| PrivilegeError::system("prctl(PR_SET_NO_NEW_PRIVS)", e))
}

/// Who the process is now, for the verbose log: user ids and the
/// effective capabilities.
pub fn identity() -> String {
    let caps = caps::read(None, CapSet::Effective)
        .map(|set| {
            let mut names: Vec<String> = set.iter().map(|c| c.to_string().to_lowercase()).collect();
            names.sort();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(",")
            }
        })
        .unwrap_or_else(|e| format!("unknown ({e})"));
    format!(
        "uid {} euid {}, capabilities {caps}",
        nix::unistd::getuid(),
        geteuid()
    )
}
