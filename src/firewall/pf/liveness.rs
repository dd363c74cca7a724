//! Whether the reaper still runs: the helper asks before it reads each
//! datagram, so that no helper serves with a dead reaper (its return
//! paths would never be removed, and each install would fail).
//!
//! Two signs, both cheap and both allowed under pledge "stdio"
//! (`pledge_syscalls` in kern/kern_pledge.c):
//! - the reaper is the helper's child (forked in `Pf::open`; setsid()
//!   does not change that), so waitpid(2) with WNOHANG tells, without
//!   waiting, whether it exited and how; but a helper started with
//!   SIGCHLD ignored has its children reaped by the kernel and learns
//!   nothing there (ECHILD), so
//! - the write end of the reaper's pipe is polled: once the reaper is
//!   gone nothing holds the read end, and poll(2) reports POLLHUP (the
//!   BSDs' pipe_poll(), kern/sys_pipe.c) or POLLERR (Linux).
//!
//! kill(pid, 0) is not used: pledge(2) kills a process that signals
//! another without "proc". This module owns that question and its answer
//! in words; it must not touch pf.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::BorrowedFd;

/// Why the reaper `pid`, reading the pipe whose write end is `pipe`, is
/// gone, or `None` while it runs.
pub fn ended(pid: Pid, pipe: BorrowedFd<'_>) -> Option<String> {
    match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => return Some(format!("exited with status {code}")),
        Ok(WaitStatus::Signaled(_, signal, _)) => return Some(format!("killed by {signal}")),
        // Running, stopped or continued; or not waitable (ECHILD with
        // SIGCHLD ignored): the pipe tells.
        _ => {}
    }
    reader_gone(pipe).then(|| "its end of the pipe is closed".to_owned())
}

/// Whether nothing reads the pipe whose write end is `pipe` any more.
fn reader_gone(pipe: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(pipe, PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
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

    fn wait_for_end(pid: Pid, pipe: BorrowedFd<'_>) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(why) = ended(pid, pipe) {
                return why;
            }
            assert!(Instant::now() < deadline, "the child never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_running_child_is_alive_and_its_death_is_told() {
        // A pipe whose reader stays open: only waitpid can tell.
        let (_read, write) = nix::unistd::pipe().unwrap();
        let pid = child(&["sleep", "30"]);
        assert_eq!(ended(pid, write.as_fd()), None);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        assert_eq!(wait_for_end(pid, write.as_fd()), "killed by SIGKILL");
    }

    #[test]
    fn an_exit_status_is_told() {
        let (_read, write) = nix::unistd::pipe().unwrap();
        let pid = child(&["sh", "-c", "exit 3"]);
        assert_eq!(wait_for_end(pid, write.as_fd()), "exited with status 3");
    }

    #[test]
    fn a_closed_pipe_tells_when_waitpid_cannot() {
        let (read, write) = nix::unistd::pipe().unwrap();
        // Not our child: waitpid answers ECHILD, as with SIGCHLD ignored.
        let stranger = Pid::from_raw(1);
        assert_eq!(ended(stranger, write.as_fd()), None, "reader still open");
        drop(read);
        assert_eq!(
            ended(stranger, write.as_fd()).as_deref(),
            Some("its end of the pipe is closed")
        );
    }
}
