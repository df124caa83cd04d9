//! What shmkit knows about the current process: its pid, and how many forks separate it
//! from the process that attached an object.
//!
//! After `fork()` a child shares its parent's open file descriptions, and so its parent's
//! liveness locks: if the child kept them, a dead parent would look alive for as long as
//! the child lives. A `pthread_atfork` child handler therefore closes, in the child, every
//! descriptor that holds a participant lock, and bumps the *fork generation*. Objects see
//! the new generation and register the child as a participant of its own, with its own
//! open file description, the first time it uses them — or, for objects that watch their
//! children (see `heirs`), adopt the registration the fork made for it.
//!
//! A descriptor is made and entered in the table, or taken out of it and closed, behind a
//! gate that the fork *prepare* handler also passes: a fork made by another thread at
//! that moment waits the few microseconds it takes, so a child never holds a lock
//! descriptor the table does not list (it would keep its parent's slot alive as long as
//! it lives). One window remains, erring towards "alive", never towards "dead": a fork
//! made by another thread holds copies of this process's descriptors until its child has
//! run the handler (or, for `posix_spawn`, which runs no handler, until it execs: the
//! descriptors are `O_CLOEXEC`), so a participant that lets go at that moment reads alive
//! for those microseconds.

use std::os::fd::{BorrowedFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::{fdtable, sys};

pub use crate::fdtable::MAX_REGISTRATIONS;

/// Bumped in the child by every fork.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(1);

/// Our pid, refreshed by the fork handler; 0 until first asked.
static PID: AtomicU32 = AtomicU32::new(0);

/// Whether the fork and exit handlers are installed: [`INSTALLED`], or the pid of the
/// process installing them shifted left by one (not a `Once`: a child forked while
/// another thread of its parent was installing would inherit a `Once` that never
/// finishes, and hang the first time it asked).
static INSTALL: AtomicU64 = AtomicU64::new(0);

const INSTALLED: u64 = 1;

#[inline]
fn is_installed() -> bool {
    INSTALL.load(Ordering::Acquire) == INSTALLED
}

/// Closed while a lock descriptor is made and entered in the table, or taken out and
/// closed, and across a fork. A spin gate of one atomic: the fork handlers cannot use a
/// `Mutex` guard, and what it guards takes microseconds.
static FD_GATE: AtomicBool = AtomicBool::new(false);

fn close_gate() {
    while FD_GATE.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        std::thread::yield_now();
    }
}

fn open_gate() {
    FD_GATE.store(false, Ordering::Release);
}

/// Runs `f` (which makes or closes a lock descriptor) where no fork can copy the
/// descriptors half-way through.
pub(crate) fn without_forks<R>(f: impl FnOnce() -> R) -> R {
    install();
    struct Reopen;
    impl Drop for Reopen {
        fn drop(&mut self) {
            open_gate();
        }
    }
    close_gate();
    let _reopen = Reopen;
    f()
}

extern "C" fn before_fork() {
    close_gate();
    crate::heirs::prepare();
}

extern "C" fn after_fork_in_child() {
    // The forking thread closed the gate before the fork; the child, which has only that
    // thread, opens it.
    open_gate();
    // Only async-signal-safe work here: atomics, close(2), getpid(2).
    fdtable::close_all();
    let pid = sys::getpid();
    PID.store(pid, Ordering::Relaxed);
    // The handlers ran, so they are installed, whatever the parent was doing.
    INSTALL.store(INSTALLED, Ordering::Release);
    crate::heirs::child(pid);
    FORKS_MADE.store(0, Ordering::Relaxed);
    FORK_GENERATION.fetch_add(1, Ordering::Release);
}

/// How many children this process forked (counted once the handlers are installed).
static FORKS_MADE: AtomicU32 = AtomicU32::new(0);

extern "C" fn after_fork_in_parent() {
    crate::heirs::parent();
    FORKS_MADE.fetch_add(1, Ordering::Release);
    open_gate();
}

/// Leaves, cleanly, every object this process inherited at its fork and never used (see
/// [`Object::watch_children`](crate::Object::watch_children)): for a child that is about to
/// end normally, so that its end is not taken for a death.
pub fn leave_unused_inherited() {
    // Without the fork handlers, no child inherits anything (and `install` is not run
    // here: a `Once` another thread was running at the fork would never finish in a child).
    if is_installed() {
        without_forks(crate::heirs::leave_unused);
    }
}

/// [`leave_unused_inherited`] for a child between fork and exec, which runs one thread:
/// no gate, no allocation.
pub(crate) fn leave_unused_inherited_before_exec() {
    if is_installed() {
        crate::heirs::leave_unused();
    }
}

extern "C" fn at_exit() {
    leave_unused_inherited();
}

/// How many children this process has forked since shmkit first attached an object in it
/// (0 in a freshly forked child). A handle that remembers this number can tell whether a
/// child may have inherited a copy of it since.
pub fn forks_made() -> u32 {
    install();
    FORKS_MADE.load(Ordering::Acquire)
}

#[inline]
fn install() {
    if !is_installed() {
        install_slow();
    }
}

#[cold]
fn install_slow() {
    let me = u64::from(sys::getpid()) << 1;
    let mut seen = INSTALL.load(Ordering::Acquire);
    loop {
        if seen == INSTALLED {
            return;
        }
        if seen == me {
            // Another thread of this process is installing: it takes microseconds.
            std::thread::yield_now();
            seen = INSTALL.load(Ordering::Acquire);
            continue;
        }
        // Nobody is installing, or the process that was is our parent, which forked us
        // half-way with no handler run (a handler would have marked us installed): ours.
        match INSTALL.compare_exchange(seen, me, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => seen = now,
        }
    }
    PID.store(sys::getpid(), Ordering::Relaxed);
    // Before this process's first notify: its notifiers may then skip their fence.
    crate::asym::register();
    // If this fails (it cannot on Linux short of ENOMEM), children would keep their
    // parent's locks: liveness would err towards "alive", never towards "dead".
    let _ = sys::at_fork(before_fork, after_fork_in_parent, after_fork_in_child);
    // `exit` (`std::process::exit`, the end of `main`) is a normal end: objects
    // inherited and never used are left cleanly, not taken for a death.
    let _ = sys::at_exit(at_exit);
    INSTALL.store(INSTALLED, Ordering::Release);
}

/// The fork generation of this process: equal in a parent and in its objects'
/// registrations, different in a forked child.
#[inline]
pub fn fork_generation() -> u32 {
    install();
    FORK_GENERATION.load(Ordering::Acquire)
}

/// [`fork_generation`] without making sure the fork handler is installed: for callers
/// that know it is (every object registration installs it first).
#[inline]
pub(crate) fn fork_generation_installed() -> u32 {
    FORK_GENERATION.load(Ordering::Acquire)
}

/// This process's pid, without a system call after the first.
///
/// Correct across `fork()` made through libc (which runs the fork handler); a child made
/// with a raw `clone` system call would see its parent's pid.
pub fn current_pid() -> u32 {
    install();
    PID.load(Ordering::Relaxed)
}

/// A descriptor in the lock table: closed when dropped in the process that made it, left
/// alone in a forked child (whose fork handler has already closed its copy).
#[derive(Debug)]
pub(crate) struct LockFd {
    index: usize,
    fd: i32,
    generation: u32,
}

impl LockFd {
    /// Moves `fd` into the table; gives it back if the table is full.
    pub(crate) fn new(fd: OwnedFd) -> Result<Self, OwnedFd> {
        let raw = fd.into_raw_fd();
        match fdtable::enter(raw) {
            Some(index) => Ok(Self { index, fd: raw, generation: fork_generation() }),
            // SAFETY: `raw` came from `into_raw_fd` above and was not stored anywhere.
            None => Err(unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) }),
        }
    }

    /// The descriptor at entry `index` of the lock table, made by this process's fork
    /// handler for an inherited registration (see `heirs`).
    pub(crate) fn adopt(index: usize) -> Option<Self> {
        let fd = fdtable::get(index)?;
        Some(Self { index, fd, generation: fork_generation() })
    }

    /// The descriptor. Only meaningful in the process that made it (see [`is_ours`]).
    ///
    /// [`is_ours`]: Self::is_ours
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the table entry owns `fd` until `self` is dropped, and only `Drop` (or
        // the fork handler, in a child, where `is_ours` is false) closes it.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    /// Whether this process made the descriptor (no fork since).
    pub(crate) fn is_ours(&self) -> bool {
        self.generation == fork_generation()
    }
}

impl Drop for LockFd {
    fn drop(&mut self) {
        if !self.is_ours() {
            return;
        }
        without_forks(|| {
            if let Some(fd) = fdtable::take(self.index) {
                sys::close_raw(fd);
            }
        });
    }
}
