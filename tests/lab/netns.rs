//! Entering a lab namespace from one thread: storms' phones and the
//! benchmark's clients run in-process, each thread in the phone's network
//! namespace, so no process start on the client side is counted against
//! any path.

/// Moves the calling thread into the network namespace `name` (as created
/// by `ip netns add`). Sockets it opens afterwards live there.
#[cfg(target_os = "linux")]
pub fn enter(name: &str) {
    use nix::sched::{setns, CloneFlags};
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("lab: opening {path}: {e}"));
    setns(&file, CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("lab: entering network namespace {name}: {e}"));
}

/// The lab is Linux-only (network namespaces): elsewhere this only fails.
#[cfg(not(target_os = "linux"))]
pub fn enter(name: &str) {
    panic!("lab: cannot enter network namespace {name}: the lab runs on Linux only");
}
