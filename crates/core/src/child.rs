//! Child processes: the calls behind `shmkit-process`, the benchmarks and the tests
//! (fork, re-executing this program, waiting, signals, dying with the parent, pinning to
//! a CPU, asking for short time slices). The system calls themselves are in the `sys` module.
//!
//! Waiting for a child comes in the four forms every blocking call in shmkit has:
//! [`wait`], [`try_wait`], [`wait_timeout`] and [`wait_deadline`]. The timed forms sleep
//! on a pidfd (`pidfd_open` + `poll`), which the kernel makes readable when the child
//! ends: no sleep-and-poll loop, no `SIGCHLD` handler.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::Command;
use std::time::Duration;

use crate::sys::{self, Forked, WaitStatus};
use crate::Deadline;

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

impl From<WaitStatus> for Exit {
    fn from(status: WaitStatus) -> Self {
        match status {
            WaitStatus::Exited(code) => Exit::Code(code),
            WaitStatus::Signaled(signal) => Exit::Signal(signal),
        }
    }
}

/// Forks this process; the child runs `child`, flushes standard output (as Python's
/// `Process` does when its `run` returns) and exits with the status `child` returns (101
/// if it panics), never returning into the caller. Returns the child's pid.
///
/// Flushing takes standard output's lock: in the child of a multi-threaded process where
/// another thread may be printing, use [`fork_without_flush`].
///
/// # Errors
///
/// If the system cannot fork (`EAGAIN`, `ENOMEM`).
///
/// # Safety
///
/// The child starts with one thread: a lock that another thread of this process held at
/// the moment of the fork stays locked in the child forever, and POSIX allows only
/// async-signal-safe calls in the child of a multi-threaded process. glibc makes `malloc`
/// usable there; anything else `child` uses must not depend on a lock another thread may
/// hold. In a single-threaded process there is no such restriction.
///
/// # Examples
///
/// ```
/// use shmkit_core::child::{self, Exit};
///
/// // SAFETY: this doctest is single-threaded; the child only returns a number.
/// let pid = unsafe { child::fork(|| 7) }?;
/// assert_eq!(child::wait(pid)?, Exit::Code(7));
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn fork(child: impl FnOnce() -> i32) -> io::Result<u32> {
    // SAFETY: the caller upholds the contract above, which is `sys::fork`'s.
    unsafe { fork_then(child, exit_now) }
}

/// As [`fork`], but the child ends with `_exit` as soon as `child` returns, without
/// flushing standard output: for the children of multi-threaded programs such as test
/// harnesses, where another thread may hold standard output's lock at the fork.
///
/// # Errors
///
/// As [`fork`].
///
/// # Safety
///
/// As [`fork`].
pub unsafe fn fork_without_flush(child: impl FnOnce() -> i32) -> io::Result<u32> {
    // SAFETY: the caller upholds the contract above, which is `sys::fork`'s.
    unsafe { fork_then(child, sys::exit_immediately) }
}

/// Forks; the child runs `child` and ends with `exit`.
///
/// # Safety
///
/// As [`fork`].
unsafe fn fork_then(child: impl FnOnce() -> i32, exit: fn(i32) -> !) -> io::Result<u32> {
    // SAFETY: the caller upholds `fork`'s contract; the child never returns from here.
    match unsafe { sys::fork() }? {
        Forked::Child => {
            // A panic must not unwind into the caller's code, which the child also has.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
            // Ending normally: objects inherited and never used were not this child's.
            crate::process::leave_unused_inherited();
            exit(code)
        }
        Forked::Parent(pid) => Ok(pid),
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
    // SAFETY: the hook runs in the forked child before exec and only calls fcntl and
    // close, which are async-signal-safe, on descriptors this process owns, and atomics
    // (no lock, no allocation: the child of a multi-threaded parent may not take them).
    unsafe {
        command.pre_exec(move || {
            // The new program cannot use what the fork gave this child: it leaves cleanly
            // rather than be taken for dead when exec closes the descriptors.
            crate::process::leave_unused_inherited_before_exec();
            fds.iter().try_for_each(|&fd| sys::clear_cloexec(fd))
        });
    }
    let child = command.spawn()?;
    // Dropping a std Child neither waits nor kills: the caller reaps it with `wait`.
    Ok(child.id())
}

/// Waits for child `pid` to end and reaps it.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process.
pub fn wait(pid: u32) -> io::Result<Exit> {
    match sys::waitpid(pid, false)? {
        Some(status) => Ok(status.into()),
        // Without WNOHANG, waitpid returns only once the child has ended.
        None => Err(io::Error::other("waitpid returned without a status")),
    }
}

/// Reaps child `pid` if it has ended, without waiting. `Ok(None)`: still running.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process.
pub fn try_wait(pid: u32) -> io::Result<Option<Exit>> {
    Ok(sys::waitpid(pid, true)?.map(Exit::from))
}

/// Waits up to `timeout` for child `pid` to end, and reaps it. `Ok(None)`: still running
/// when the time was up (never before).
///
/// # Errors
///
/// As [`wait_deadline`].
pub fn wait_timeout(pid: u32, timeout: Duration) -> io::Result<Option<Exit>> {
    wait_deadline(pid, Deadline::after(timeout))
}

/// Waits until `deadline` for child `pid` to end, and reaps it. `Ok(None)`: still running
/// when the deadline passed (never before).
///
/// Sleeps on a pidfd; where the kernel has none (before Linux 5.3, or under a seccomp
/// filter that forbids it), checks with growing naps of at most 10 ms instead.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process; what `poll` fails with.
pub fn wait_deadline(pid: u32, deadline: Deadline) -> io::Result<Option<Exit>> {
    if deadline.is_never() {
        return wait(pid).map(Some);
    }
    if let Some(exit) = try_wait(pid)? {
        return Ok(Some(exit));
    }
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM | libc::EACCES)) => {
            return nap_until(pid, deadline);
        }
        // ESRCH and the like: reaped meanwhile (try_wait says ECHILD), or ended.
        Err(e) => return try_wait(pid).and_then(|exit| exit.map(Some).ok_or(e)),
    };
    loop {
        let readable = sys::poll_readable(pidfd.as_fd(), deadline.as_monotonic_nanos())?;
        // Readable: the child has ended, so this reaps it. Not readable: the deadline
        // passed, but look once more.
        match try_wait(pid)? {
            Some(exit) => return Ok(Some(exit)),
            None if !readable => return Ok(None),
            None => {}
        }
    }
}

/// [`wait_deadline`] without a pidfd: checks with growing naps.
fn nap_until(pid: u32, deadline: Deadline) -> io::Result<Option<Exit>> {
    let mut nap = Duration::from_micros(50);
    loop {
        if let Some(exit) = try_wait(pid)? {
            return Ok(Some(exit));
        }
        match deadline.remaining() {
            Some(left) if left.is_zero() => return Ok(None),
            Some(left) => std::thread::sleep(nap.min(left)),
            None => std::thread::sleep(nap),
        }
        nap = (nap * 2).min(Duration::from_millis(10));
    }
}

/// Sends `signal` to process `pid`.
///
/// # Errors
///
/// `ESRCH` if there is no such process, `EPERM` if it is not ours to signal.
pub fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    sys::kill(pid, signal)
}

/// Makes the kernel send `signal` to this process when `parent` ends (more precisely:
/// when the thread that forked us ends). If `parent` has already gone, raises `signal` now.
///
/// # Errors
///
/// If `prctl` fails.
pub fn die_with_parent(signal: i32, parent: u32) -> io::Result<()> {
    sys::set_parent_death_signal(signal)?;
    // The parent may have died before the prctl: then we were re-parented already.
    if parent_pid() != parent {
        send_signal(sys::getpid(), signal)?;
    }
    Ok(())
}

/// The parent's pid (`getppid`).
pub fn parent_pid() -> u32 {
    sys::getppid()
}

/// Ends this process now with `code`, without unwinding, running destructors or `atexit`
/// handlers (`_exit`). Standard output is flushed first.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    sys::exit_immediately(code)
}

/// How many CPUs this process may run on (its affinity mask), at least 1.
pub fn cpu_count() -> usize {
    allowed_cpus().map_or(1, |cpus| cpus.len().max(1))
}

/// The CPUs the calling thread may run on (its affinity mask), in increasing order.
///
/// # Errors
///
/// If `sched_getaffinity` fails.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    sys::affinity()
}

/// Restricts the calling thread to `cpus` (its affinity mask); threads it starts, and
/// children it forks, inherit the mask.
///
/// # Errors
///
/// `EINVAL` if the set is empty, names no CPU this process may use, or a CPU beyond the
/// kernel's set size.
pub fn set_allowed_cpus(cpus: &[usize]) -> io::Result<()> {
    sys::set_affinity(cpus)
}

/// Pins the calling thread to CPU `cpu` (a number from [`allowed_cpus`]).
///
/// # Errors
///
/// As [`set_allowed_cpus`].
///
/// # Examples
///
/// ```
/// use shmkit_core::child;
///
/// let before = child::allowed_cpus()?;
/// child::pin_to_cpu(before[0])?;
/// assert_eq!(child::allowed_cpus()?, [before[0]]);
/// child::set_allowed_cpus(&before)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    set_allowed_cpus(&[cpu])
}

/// The shortest time slice the kernel grants on request (it clamps a request to 0.1 ms
/// to 100 ms).
pub const MIN_TIME_SLICE: Duration = Duration::from_micros(100);

/// Asks the kernel to schedule the calling thread in time slices of about `slice`
/// (`sched_setattr`'s `sched_runtime`, taken by the fair scheduler since Linux 6.12), for
/// a thread that runs in short bursts: a shorter slice gives the thread an earlier
/// deadline, so that it runs sooner once woken and is not preempted by a thread it wakes
/// before its burst is done. The kernel clamps the request to [`MIN_TIME_SLICE`] to
/// 100 ms. The thread's policy and nice value are kept. Threads and processes it creates
/// afterwards start with the default slice (the request sets `SCHED_RESET_ON_FORK`, which
/// for a fair-policy thread also starts them at nice 0 if its own nice is below 0).
///
/// Returns the slice the thread now has, or `None` if nothing changed: the thread is not
/// under `SCHED_OTHER` or `SCHED_BATCH` (real-time and idle threads are left alone), or
/// the kernel is older than 6.12 and takes no slice requests.
///
/// # Errors
///
/// The system call's error (`ENOSYS` before Linux 3.14; `EPERM` if a security policy
/// forbids it).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit_core::child;
///
/// std::thread::spawn(|| {
///     if let Some(slice) = child::request_time_slice(Duration::from_micros(10))? {
///         assert_eq!(slice, child::MIN_TIME_SLICE); // clamped
///     }
///     Ok::<(), std::io::Error>(())
/// })
/// .join()
/// .unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn request_time_slice(slice: Duration) -> io::Result<Option<Duration>> {
    let mut attr = sys::sched_getattr()?;
    // A kernel that reports no slice (before 6.12) takes no request either: leave the
    // thread as it is.
    let fair = attr.policy == libc::SCHED_OTHER as u32 || attr.policy == libc::SCHED_BATCH as u32;
    if !fair || attr.runtime == 0 {
        return Ok(None);
    }
    // Not inherited: a runtime that starts its threads from this one gets the default.
    attr.flags = sys::SCHED_FLAG_RESET_ON_FORK;
    attr.runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX).max(1);
    sys::sched_setattr(attr)?;
    time_slice()
}

/// The calling thread's time slice as the kernel reports it: the kernel's default, or what
/// [`request_time_slice`] asked for. `None` on kernels older than 6.12, which report none.
///
/// # Errors
///
/// The system call's error (`ENOSYS` before Linux 3.14).
pub fn time_slice() -> io::Result<Option<Duration>> {
    let attr = sys::sched_getattr()?;
    Ok((attr.runtime != 0).then(|| Duration::from_nanos(attr.runtime)))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork")]
    fn exit_codes_and_signals() {
        // SAFETY: the child only returns a number.
        let pid = unsafe { fork_without_flush(|| 7) }.unwrap();
        assert_eq!(wait(pid).unwrap(), Exit::Code(7));
        // SAFETY: the child only sleeps.
        let pid = unsafe {
            fork_without_flush(|| {
                std::thread::sleep(Duration::from_secs(30));
                0
            })
        }
        .unwrap();
        assert_eq!(try_wait(pid).unwrap(), None);
        send_signal(pid, SIGKILL).unwrap();
        let exit = wait(pid).unwrap();
        assert_eq!((exit, exit.exitcode()), (Exit::Signal(SIGKILL), -9));
        assert!(wait(pid).is_err(), "reaped once");
        assert!(try_wait(pid).is_err(), "reaped once");
        assert!(cpu_count() >= 1);
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork")]
    fn timed_waits() {
        // SAFETY: the child only sleeps.
        let pid = unsafe {
            fork_without_flush(|| {
                std::thread::sleep(Duration::from_millis(300));
                5
            })
        }
        .unwrap();
        let timeout = Duration::from_millis(40);
        let start = Instant::now();
        assert_eq!(wait_timeout(pid, timeout).unwrap(), None);
        assert!(start.elapsed() >= timeout, "returned early: {:?}", start.elapsed());
        assert_eq!(
            wait_deadline(pid, Deadline::after(Duration::from_secs(20))).unwrap(),
            Some(Exit::Code(5))
        );
        assert!(wait_timeout(pid, Duration::ZERO).is_err(), "reaped once");
        // A passed deadline still reaps a child that has ended.
        // SAFETY: the child only returns a number.
        let pid = unsafe { fork_without_flush(|| 0) }.unwrap();
        assert_eq!(wait_deadline(pid, Deadline::never()).unwrap(), Some(Exit::Code(0)));
    }

    /// Runs `f` on a thread of its own, whose scheduling it may change for good.
    fn on_own_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sched_setattr")]
    fn a_time_slice_request_is_clamped_and_read_back() {
        on_own_thread(|| {
            let default = time_slice().unwrap();
            let Some(slice) = request_time_slice(Duration::from_micros(10)).unwrap() else {
                eprintln!("this kernel takes no time-slice requests (before Linux 6.12): nothing to check");
                return;
            };
            assert_eq!(slice, MIN_TIME_SLICE, "below the minimum: clamped");
            assert_eq!(request_time_slice(Duration::from_millis(2)).unwrap(), Some(Duration::from_millis(2)));
            assert_eq!(time_slice().unwrap(), Some(Duration::from_millis(2)));
            // A thread it creates starts with the default.
            assert!(default.is_some_and(|d| d > MIN_TIME_SLICE), "{default:?}");
            std::thread::spawn(move || assert_eq!(time_slice().unwrap(), default)).join().unwrap();
        });
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sched_setattr")]
    fn a_time_slice_request_keeps_policy_and_nice() {
        on_own_thread(|| {
            // A batch thread with nice 3 (raising one's own nice needs no privilege).
            let mut attr = sys::sched_getattr().unwrap();
            attr.policy = libc::SCHED_BATCH as u32;
            attr.nice = 3;
            sys::sched_setattr(attr).unwrap();
            let slice = request_time_slice(MIN_TIME_SLICE).unwrap();
            let after = sys::sched_getattr().unwrap();
            assert_eq!((after.policy, after.nice), (libc::SCHED_BATCH as u32, 3), "{after:?}");
            assert!(slice.is_none() || slice == Some(MIN_TIME_SLICE), "{slice:?}");
        });
        on_own_thread(|| {
            // An idle-policy thread is left alone.
            let mut attr = sys::sched_getattr().unwrap();
            attr.policy = libc::SCHED_IDLE as u32;
            sys::sched_setattr(attr).unwrap();
            assert_eq!(request_time_slice(MIN_TIME_SLICE).unwrap(), None);
            assert_eq!(sys::sched_getattr().unwrap().policy, libc::SCHED_IDLE as u32);
        });
    }

    #[test]
    fn affinity_round_trip() {
        let before = allowed_cpus().unwrap();
        assert!(!before.is_empty());
        assert!(set_allowed_cpus(&[]).is_err());
        assert!(pin_to_cpu(usize::MAX).is_err());
        // On a thread of its own, so the mask of the test thread is left alone.
        std::thread::spawn(move || {
            pin_to_cpu(before[0]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), [before[0]]);
            set_allowed_cpus(&before).unwrap();
            assert_eq!(allowed_cpus().unwrap(), before);
        })
        .join()
        .unwrap();
    }
}
