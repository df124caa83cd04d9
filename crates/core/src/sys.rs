//! The operating-system layer: every call into `libc` that shmkit makes lives in this
//! module (this file, and `sys/sched.rs` for the calling thread's scheduling).
//!
//! Each function is a thin, safe wrapper around one system call. They take and return
//! Rust types (`OwnedFd`, `io::Result`), turn `errno` into [`io::Error`], and keep their
//! `unsafe` blocks to the call itself. A port to another Unix is this module's work.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::AtomicU32;

mod sched;
pub(crate) use sched::*;

/// Where Linux mounts the POSIX shared-memory filesystem that `shm_open` uses.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// What `fstat` says about a file, reduced to what shmkit checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileStat {
    pub size: u64,
    pub uid: u32,
    pub mode: u32,
    pub is_regular: bool,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `shm_open(path, flags, mode)`; `path` is `/name`.
pub(crate) fn shm_open(path: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let fd = cvt(unsafe { libc::shm_open(path.as_ptr(), flags, mode as libc::mode_t) })?;
    // SAFETY: `shm_open` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(path)`.
pub(crate) fn shm_unlink(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    cvt(unsafe { libc::shm_unlink(path.as_ptr()) }).map(drop)
}

/// `renameat2(from, to, RENAME_NOREPLACE)`: moves a name, failing with `EEXIST` rather
/// than replace a file at `to`.
pub(crate) fn rename_noreplace(from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    cvt(unsafe {
        libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_NOREPLACE)
    })
    .map(drop)
}

/// An inotify descriptor watching `dir` for files created in it or moved into it
/// (non-blocking, close-on-exec).
pub(crate) fn watch_creations(dir: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer flags.
    let fd = cvt(unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) })?;
    // SAFETY: `inotify_init1` returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `dir` is NUL-terminated; the descriptor is open.
    cvt(unsafe {
        libc::inotify_add_watch(fd.as_raw_fd(), dir.as_ptr(), libc::IN_CREATE | libc::IN_MOVED_TO)
    })?;
    Ok(fd)
}

/// Reads and drops whatever events an inotify descriptor holds (non-blocking).
pub(crate) fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 4096];
    // SAFETY: `buf` is valid for writes of its length; the descriptor is non-blocking.
    while unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// `lstat(path)`: the file's device and inode.
pub(crate) fn lstat_id(path: &CStr) -> io::Result<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `path` is NUL-terminated; `st` is valid for writes of a `stat`.
    cvt(unsafe { libc::lstat(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: `lstat` succeeded, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    Ok((st.st_dev, st.st_ino))
}

/// `unlink(path)`.
pub(crate) fn unlink(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    cvt(unsafe { libc::unlink(path.as_ptr()) }).map(drop)
}

/// `fstat(fd)`.
#[allow(clippy::unnecessary_cast)] // `st_nlink` is u64 on x86-64 but u32 on arm64
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of a `stat`; the descriptor is open (borrowed).
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: `fstat` succeeded, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    Ok(FileStat {
        size: st.st_size as u64,
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        is_regular: st.st_mode & libc::S_IFMT == libc::S_IFREG,
        ino: st.st_ino,
        dev: st.st_dev,
        nlink: st.st_nlink as u64,
    })
}

/// `fchmod(fd, mode)`: sets the exact mode, which `shm_open` would have masked with umask.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: plain system call on an open descriptor.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
}

/// `posix_fallocate(fd, 0, len)`: reserves every page now, so a full filesystem is an
/// error here rather than a `SIGBUS` on first touch.
pub(crate) fn allocate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    loop {
        // SAFETY: plain system call on an open descriptor.
        let err = unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, len) };
        match err {
            0 => return Ok(()),
            libc::EINTR => continue,
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// `ftruncate(fd, len)`.
pub(crate) fn truncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: plain system call on an open descriptor.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)`.
pub(crate) fn memfd_create(name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: `memfd_create` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The seals that make an anonymous segment's size immutable.
pub(crate) const SIZE_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;

/// `fcntl(fd, F_ADD_SEALS, seals)`.
pub(crate) fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call on an open descriptor.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// `fcntl(fd, F_GET_SEALS)`.
pub(crate) fn seals(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: plain system call on an open descriptor.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// Opens the file behind `fd` again, giving a new open file description (which a `dup`
/// would not). Open-file-description locks belong to the description, so each participant
/// needs its own.
pub(crate) fn reopen(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let new = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
    // SAFETY: `open` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// [`reopen`] without allocating: the path is built on the stack (for the fork prepare
/// handler). Returns the new raw descriptor, `O_CLOEXEC`.
pub(crate) fn reopen_raw(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    let mut path = [0u8; 32];
    path[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let mut n = fd.as_raw_fd().unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        path[PREFIX.len() + i] = *d;
    }
    // The rest of `path` is zero: the string is NUL-terminated (14 + 10 < 32).
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) })
}

fn ofd_lock(
    fd: libc::c_int,
    cmd: libc::c_int,
    ty: libc::c_int,
    start: u64,
    len: u64,
) -> io::Result<libc::flock> {
    // SAFETY: all-zero is a valid `flock` (plain integers).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    // `l_pid` must be 0 for open-file-description locks.
    fl.l_pid = 0;
    // SAFETY: `fl` is a valid, initialised `flock` that outlives the call.
    cvt(unsafe { libc::fcntl(fd, cmd, &mut fl) })?;
    Ok(fl)
}

/// Tries to take an exclusive open-file-description lock on byte `byte` of the file.
/// `Ok(false)` if another description holds a conflicting lock.
pub(crate) fn ofd_try_lock(fd: BorrowedFd<'_>, byte: u64) -> io::Result<bool> {
    match ofd_lock(fd.as_raw_fd(), libc::F_OFD_SETLK, libc::F_WRLCK, byte, 1) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Tries to take a shared open-file-description lock on byte `byte` of the file (many
/// descriptions may hold one at once). `Ok(false)` if an exclusive lock is in the way.
pub(crate) fn ofd_try_lock_shared(fd: BorrowedFd<'_>, byte: u64) -> io::Result<bool> {
    match ofd_lock(fd.as_raw_fd(), libc::F_OFD_SETLK, libc::F_RDLCK, byte, 1) {
        Ok(_) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether any open file description other than `fd`'s holds a lock on bytes
/// `start..start + len`. Asked through a description that holds no locks itself, this
/// answers for every holder.
pub(crate) fn ofd_is_locked(fd: BorrowedFd<'_>, start: u64, len: u64) -> io::Result<bool> {
    let fl = ofd_lock(fd.as_raw_fd(), libc::F_OFD_GETLK, libc::F_WRLCK, start, len)?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// `close(fd)` on a raw descriptor; async-signal-safe (used in the fork handler).
pub(crate) fn close_raw(fd: libc::c_int) {
    // SAFETY: the caller owns `fd` (it takes it out of the registry before closing).
    unsafe { libc::close(fd) };
}

/// `getpid()`.
pub(crate) fn getpid() -> u32 {
    // SAFETY: `getpid` has no preconditions and cannot fail.
    unsafe { libc::getpid() as u32 }
}

/// Whether `fd` was opened read-only (the access mode of its open file description,
/// which `fcntl(F_SETFL)` cannot change).
pub(crate) fn is_read_only(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags; an invalid
    // descriptor gives -1, which is not O_RDONLY's 0.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_ACCMODE == libc::O_RDONLY
}

/// `geteuid()`.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Nanoseconds on `CLOCK_MONOTONIC` (the clock `Instant` and the futex deadlines use).
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is valid for writes; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds on `CLOCK_MONOTONIC_COARSE`: a few nanoseconds to read (a vDSO variable),
/// a few milliseconds coarse.
pub(crate) fn monotonic_coarse_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is valid for writes; CLOCK_MONOTONIC_COARSE exists since Linux 2.6.32.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } != 0 {
        // Refused (a filter?): the fine clock, so that rate limits still advance.
        return monotonic_ns();
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds since the Unix epoch on `CLOCK_REALTIME`, for display only.
pub(crate) fn realtime_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The start time of process `pid` in clock ticks after boot (field 22 of
/// `/proc/<pid>/stat`), which tells two processes with the same pid apart.
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// How a futex wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FutexWait {
    /// Woken by `FUTEX_WAKE` (or spuriously).
    Woken,
    /// The word did not hold the expected value when the kernel looked.
    Changed,
    /// A signal arrived.
    Interrupted,
    /// The absolute deadline passed.
    TimedOut,
    /// The kernel refused the wait (EFAULT, EINVAL, ENOSYS under a seccomp filter...).
    Failed,
}

/// `FUTEX_WAIT_BITSET` on a shared (not process-private) word with an absolute
/// `CLOCK_MONOTONIC` deadline; `None` waits without limit.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, deadline_ns: Option<u64>) -> FutexWait {
    let ts = deadline_ns.map(timespec_from_ns);
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic; `ts_ptr` is null or points at a
    // normalised timespec that outlives the call. No FUTEX_PRIVATE_FLAG: the word may be
    // shared with other processes through a mapping.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if ret == 0 {
        return FutexWait::Woken;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => FutexWait::Changed,
        Some(libc::EINTR) => FutexWait::Interrupted,
        Some(libc::ETIMEDOUT) => FutexWait::TimedOut,
        _ => FutexWait::Failed,
    }
}

/// `membarrier(2)`'s `MEMBARRIER_CMD_GLOBAL_EXPEDITED`.
pub(crate) const MEMBARRIER_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
/// `membarrier(2)`'s `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`.
pub(crate) const MEMBARRIER_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

/// `membarrier(cmd, 0)`.
pub(crate) fn membarrier(cmd: libc::c_int) -> io::Result<()> {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_uint) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `FUTEX_WAKE` on a shared word: wakes up to `n` waiters, returns how many woke.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) -> u32 {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE reads nothing else.
    let ret = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
    ret.max(0) as u32
}

/// A normalised `timespec` (`0 <= tv_nsec < 1e9`) for `ns` nanoseconds.
pub(crate) fn timespec_from_ns(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000).min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

/// Registers `parent` and `child` to run in the parent and the child after every
/// `fork()` made through libc.
pub(crate) fn at_fork(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> io::Result<()> {
    // SAFETY: all three are plain functions that stay valid for the life of the process.
    let err = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if err == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(err))
    }
}

/// `atexit(handler)`.
pub(crate) fn at_exit(handler: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `handler` is a plain function that stays valid for the life of the process.
    if unsafe { libc::atexit(handler) } == 0 {
        Ok(())
    } else {
        Err(io::Error::other("atexit: no room for another handler"))
    }
}

// ---------------------------------------------------------------------------------------
// Processes: fork, wait, signals, affinity (behind `child.rs`).

/// Which side of a `fork()` this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The calling process; the child's pid.
    Parent(u32),
}

/// `fork()`.
///
/// # Safety
///
/// The child starts with only the calling thread: the caller must make sure the child
/// does not depend on a lock that another thread may hold at the moment of the fork (see
/// `child::fork`), and that the child never returns into code that assumes it is the
/// parent.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller upholds the contract above; `fork` itself has no preconditions.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as u32)),
    }
}

/// Clears `FD_CLOEXEC` on `fd`, so that it survives an `exec`. Only `fcntl`, so it is
/// async-signal-safe (used between fork and exec). A descriptor that is not open is
/// `EBADF`, nothing worse.
pub(crate) fn clear_cloexec(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call with integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: plain system call with integer arguments.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

/// What `waitpid` reported about a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitStatus {
    /// It exited with this status.
    Exited(i32),
    /// This signal ended it.
    Signaled(i32),
}

/// `waitpid(pid, &status, nohang ? WNOHANG : 0)`, restarted on `EINTR` and on stop or
/// continue reports. `Ok(None)`: still running (only with `nohang`).
pub(crate) fn waitpid(pid: u32, nohang: bool) -> io::Result<Option<WaitStatus>> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ECHILD))?;
    let flags = if nohang { libc::WNOHANG } else { 0 };
    loop {
        let mut status = 0;
        // SAFETY: plain system call; `status` is valid for writes.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        match r {
            0 => return Ok(None),
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            _ if libc::WIFEXITED(status) => return Ok(Some(WaitStatus::Exited(libc::WEXITSTATUS(status)))),
            _ if libc::WIFSIGNALED(status) => return Ok(Some(WaitStatus::Signaled(libc::WTERMSIG(status)))),
            // Stopped or continued (only reported with WUNTRACED/WCONTINUED): keep going.
            _ => {}
        }
    }
}

/// `kill(pid, signal)`.
pub(crate) fn kill(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: plain system call with integer arguments (a positive pid: never a group).
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, signal)`: the kernel sends `signal` to this process when the
/// thread that forked it ends.
pub(crate) fn set_parent_death_signal(signal: i32) -> io::Result<()> {
    let signal = libc::c_ulong::try_from(signal).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: plain system call with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) }).map(drop)
}

/// `getppid()`.
pub(crate) fn getppid() -> u32 {
    // SAFETY: `getppid` has no preconditions and cannot fail.
    unsafe { libc::getppid() as u32 }
}

/// `_exit(code)`: ends this process now, running no destructors and no `atexit` handlers.
/// Async-signal-safe.
pub(crate) fn exit_immediately(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions.
    unsafe { libc::_exit(code) }
}

/// `pidfd_open(pid, 0)`: a descriptor that becomes readable when process `pid` ends
/// (Linux 5.3).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `pidfd_open` returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Waits until `fd` is readable or the absolute `CLOCK_MONOTONIC` deadline passes (`None`:
/// no limit), with `ppoll`, restarted on `EINTR` with the time that is left. `Ok(true)`:
/// readable; `Ok(false)`: the deadline passed.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, deadline_ns: Option<u64>) -> io::Result<bool> {
    loop {
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let left = deadline_ns.map(|d| timespec_from_ns(d.saturating_sub(monotonic_ns())));
        let ts_ptr = left.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `pfd` is one valid pollfd; `ts_ptr` is null or points at a normalised
        // timespec; both outlive the call; no signal mask is passed.
        let r = unsafe { libc::ppoll(&mut pfd, 1, ts_ptr, std::ptr::null()) };
        match r {
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            0 => {
                // ppoll's timeout is relative; only the monotonic clock says the deadline
                // has passed.
                if deadline_ns.is_some_and(|d| monotonic_ns() >= d) {
                    return Ok(false);
                }
            }
            _ => return Ok(true),
        }
    }
}
