//! Whether the reaper still runs: the helper asks before it reads each
//! datagram, so that no helper serves with a dead reaper (its return
//! paths would never be removed, and each install would fail).
//!
//! The reaper is the helper's child (forked in `Pf::open`; setsid() does
//! not change that), so waitpid(2) with WNOHANG tells, without waiting,
//! whether it has exited, and reaps it. wait4 is allowed under pledge
//! "stdio" (`pledge_syscalls` in kern/kern_pledge.c). This module owns
//! that question and its answer in words; it must not touch pf.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Why the reaper is gone, or `None` while it runs.
pub fn ended(pid: Pid) -> Option<String> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => None,
        Ok(WaitStatus::Exited(_, code)) => Some(format!("exited with status {code}")),
        Ok(WaitStatus::Signaled(_, signal, _)) => Some(format!("killed by {signal}")),
        // Stopped or continued (ptrace, job control): still there.
        Ok(_) => None,
        // ECHILD: reaped already or not our child: gone either way.
        Err(e) => Some(format!("no longer our child ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    // `ended` reaps the child with waitpid, as it does the reaper.
    #[allow(clippy::zombie_processes)]
    fn child(args: &[&str]) -> Pid {
        let child = std::process::Command::new(args[0])
            .args(&args[1..])
            .spawn()
            .expect("spawning a child process");
        Pid::from_raw(i32::try_from(child.id()).expect("a pid"))
    }

    fn wait_for_end(pid: Pid) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(why) = ended(pid) {
                return why;
            }
            assert!(Instant::now() < deadline, "the child never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_running_child_is_alive_and_its_death_is_told() {
        let pid = child(&["sleep", "30"]);
        assert_eq!(ended(pid), None);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        assert_eq!(wait_for_end(pid), "killed by SIGKILL");
        // Reaped now: asked again, still gone.
        assert!(ended(pid).is_some());
    }

    #[test]
    fn an_exit_status_is_told() {
        let pid = child(&["sh", "-c", "exit 3"]);
        assert_eq!(wait_for_end(pid), "exited with status 3");
    }
}
