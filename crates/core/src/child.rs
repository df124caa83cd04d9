//! Child processes: the system calls behind `shmkit-process` (fork, re-executing this
//! program, waiting, signals, dying with the parent).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::process::Command;

use crate::sys;

/// `SIGTERM`: ask a process to end.
pub const SIGTERM: i32 = libc::SIGTERM;
/// `SIGKILL`: end a process now.
pub const SIGKILL: i32 = libc::SIGKILL;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl Exit {
    /// Python's `exitcode`: the status, or minus the signal's number.
    pub fn exitcode(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => -s,
        }
    }
}

/// Forks this process; the child runs `child` and exits with the status it returns (101
/// if it panics), never returning into the caller. Returns the child's pid.
///
/// # Safety
///
/// The child starts with one thread: a lock that another thread of this process held at
/// the moment of the fork stays locked in the child forever, and POSIX allows only
/// async-signal-safe calls in the child of a multi-threaded process. glibc makes `malloc`
/// usable there; anything else `child` uses must not depend on a lock another thread may
/// hold. In a single-threaded process there is no such restriction.
pub unsafe fn fork(child: impl FnOnce() -> i32) -> io::Result<u32> {
    // SAFETY: the caller upholds the contract above; the child never returns from here.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
            exit_now(code)
        }
        pid => Ok(pid as u32),
    }
}

/// Starts `command` (typically this program again) with `keep` inherited as open
/// descriptors at the same numbers (they are `O_CLOEXEC` otherwise). Returns the pid; wait
/// for it with [`wait`], not through `std`.
///
/// # Errors
///
/// If the program cannot be started.
pub fn spawn(mut command: Command, keep: &[BorrowedFd<'_>]) -> io::Result<u32> {
    use std::os::unix::process::CommandExt;
    let fds: Vec<i32> = keep.iter().map(|fd| fd.as_raw_fd()).collect();
    // SAFETY: the hook runs in the forked child before exec and only calls fcntl, which is
    // async-signal-safe, on descriptors this process owns (borrowed for the call).
    unsafe {
        command.pre_exec(move || {
            for &fd in &fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    // Dropping a std Child neither waits nor kills: the caller reaps it with `wait`.
    Ok(child.id())
}

/// Reaps child `pid` if it has ended (`block`: waits until it has). `Ok(None)`: still
/// running.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process.
pub fn wait(pid: u32, block: bool) -> io::Result<Option<Exit>> {
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        let mut status = 0;
        // SAFETY: plain system call; `status` is valid for writes.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, flags) };
        match r {
            0 => return Ok(None),
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            _ if libc::WIFEXITED(status) => return Ok(Some(Exit::Code(libc::WEXITSTATUS(status)))),
            _ if libc::WIFSIGNALED(status) => return Ok(Some(Exit::Signal(libc::WTERMSIG(status)))),
            // Stopped or continued (only reported with WUNTRACED/WCONTINUED): keep going.
            _ => continue,
        }
    }
}

/// Sends `signal` to process `pid`.
///
/// # Errors
///
/// `ESRCH` if there is no such process, `EPERM` if it is not ours to signal.
pub fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    // SAFETY: plain system call.
    if unsafe { libc::kill(pid as libc::pid_t, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the kernel send `signal` to this process when `parent` ends (more precisely:
/// when the thread that forked us ends). If `parent` has already gone, raises `signal` now.
///
/// # Errors
///
/// If `prctl` fails.
pub fn die_with_parent(signal: i32, parent: u32) -> io::Result<()> {
    // SAFETY: plain system call with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The parent may have died before the prctl: then we were re-parented already.
    if parent_pid() != parent {
        send_signal(sys::getpid(), signal)?;
    }
    Ok(())
}

/// The parent's pid (`getppid`).
pub fn parent_pid() -> u32 {
    // SAFETY: `getppid` has no preconditions and cannot fail.
    unsafe { libc::getppid() as u32 }
}

/// Ends this process now with `code`, without unwinding, running destructors or `atexit`
/// handlers (`_exit`). Standard output is flushed first.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` has no preconditions.
    unsafe { libc::_exit(code) }
}

/// How many CPUs this process may run on (its affinity mask), at least 1.
pub fn cpu_count() -> usize {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    let n = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return 1;
        }
        libc::CPU_COUNT(&set)
    };
    (n as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork")]
    fn exit_codes_and_signals() {
        // SAFETY: the child only returns a number.
        let pid = unsafe { fork(|| 7) }.unwrap();
        assert_eq!(wait(pid, true).unwrap(), Some(Exit::Code(7)));
        // SAFETY: the child only sleeps.
        let pid = unsafe {
            fork(|| {
                std::thread::sleep(std::time::Duration::from_secs(30));
                0
            })
        }
        .unwrap();
        assert_eq!(wait(pid, false).unwrap(), None);
        send_signal(pid, SIGKILL).unwrap();
        let exit = wait(pid, true).unwrap().unwrap();
        assert_eq!((exit, exit.exitcode()), (Exit::Signal(SIGKILL), -9));
        assert!(wait(pid, true).is_err(), "reaped once");
        assert!(cpu_count() >= 1);
    }
}
