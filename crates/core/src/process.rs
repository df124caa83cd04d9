//! What shmkit knows about the current process: its pid, and how many forks separate it
//! from the process that attached an object.
//!
//! After `fork()` a child shares its parent's open file descriptions, and so its parent's
//! liveness locks: if the child kept them, a dead parent would look alive for as long as
//! the child lives. A `pthread_atfork` child handler therefore closes, in the child, every
//! descriptor that holds a participant lock, and bumps the *fork generation*. Objects see
//! the new generation and register the child as a participant of its own, with its own
//! open file description, the first time it uses them.
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

use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

use crate::header::{ParticipantEntry, HEADER_SIZE, PARTICIPANT_SIZE};
use crate::sys;

/// How many participant registrations one process can hold at once.
pub const MAX_REGISTRATIONS: usize = 4096;

/// Descriptors holding participant locks; -1 is a free entry. A fixed table of atomics,
/// because the fork handler runs in a child where taking a lock could deadlock.
static LOCK_FDS: [AtomicI32; MAX_REGISTRATIONS] = [const { AtomicI32::new(-1) }; MAX_REGISTRATIONS];

// Heirs: registrations whose object makes every child forked from now on a participant
// from its first instruction (see `LockFd::set_heirs`). Per table entry: the address of
// the object's participant table (0: no heirs) and its slot count; a slot taken for the
// coming child by the prepare handler (its descriptor and slot); and, in a child, the
// registration made for it, to be adopted by the object's first use.
#[allow(clippy::declare_interior_mutable_const)]
const NO_ADDR: AtomicUsize = AtomicUsize::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO32: AtomicU32 = AtomicU32::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO64: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const NO_FD: AtomicI32 = AtomicI32::new(-1);
static HEIR_TABLE: [AtomicUsize; MAX_REGISTRATIONS] = [NO_ADDR; MAX_REGISTRATIONS];
static HEIR_SLOTS: [AtomicU32; MAX_REGISTRATIONS] = [ZERO32; MAX_REGISTRATIONS];
static PENDING_FD: [AtomicI32; MAX_REGISTRATIONS] = [NO_FD; MAX_REGISTRATIONS];
static PENDING_SLOT: [AtomicU32; MAX_REGISTRATIONS] = [ZERO32; MAX_REGISTRATIONS];
/// The fork generation an heir registration was made for (0: none).
static HEIR_GEN: [AtomicU32; MAX_REGISTRATIONS] = [ZERO32; MAX_REGISTRATIONS];
/// The heir registration's participant id, packed.
static HEIR_ID: [AtomicU64; MAX_REGISTRATIONS] = [ZERO64; MAX_REGISTRATIONS];

/// Bumped in the child by every fork.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(1);

/// Our pid, refreshed by the fork handler; 0 until first asked.
static PID: AtomicU32 = AtomicU32::new(0);

static INSTALL: Once = Once::new();

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
    // For each object that wants its children registered, lock a free slot for the
    // coming child now, through a descriptor of its own: the child keeps it, the parent
    // closes its copy after the fork. Normal code may run here (it is before the fork).
    for (i, entry) in LOCK_FDS.iter().enumerate() {
        let slots = HEIR_SLOTS[i].load(Ordering::Relaxed);
        let fd = entry.load(Ordering::Relaxed);
        if slots == 0 || fd < 0 {
            continue;
        }
        // SAFETY: `fd` is in the table, which owns it; the gate keeps it open until the
        // handlers are done.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let Ok(heir) = sys::reopen(borrowed) else { continue };
        let free = (0..slots).find(|&s| sys::ofd_try_lock(heir.as_fd(), u64::from(s)).unwrap_or(false));
        if let Some(slot) = free {
            PENDING_SLOT[i].store(slot, Ordering::Relaxed);
            PENDING_FD[i].store(heir.into_raw_fd(), Ordering::Relaxed);
        }
        // Without a free slot the child is not registered (dropping `heir` closes it).
    }
}

/// In a forked child, for the heirs' slots the prepare handler locked: records the child
/// in each (async-signal-safe: atomics only) and keeps the descriptor as its registration.
fn adopt_pending_heirs(generation: u32) {
    let pid = PID.load(Ordering::Relaxed);
    for (i, pending) in PENDING_FD.iter().enumerate() {
        let fd = pending.swap(-1, Ordering::Relaxed);
        if fd < 0 {
            continue;
        }
        let slot = PENDING_SLOT[i].load(Ordering::Relaxed);
        let table = HEIR_TABLE[i].load(Ordering::Relaxed);
        // SAFETY: `table` is the base of a mapping that was live at the fork (its
        // registration was in the table behind the gate, and a mapping outlives its
        // registration), inherited by this child; `slot < slots` was the prepare handler's
        // bound, and the participant table holds `slots` entries after the header.
        let e = unsafe {
            &*((table + (HEADER_SIZE + u64::from(slot) * PARTICIPANT_SIZE) as usize)
                as *const ParticipantEntry)
        };
        let mut heir_generation = e.generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        if heir_generation == 0 {
            heir_generation = e.generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
        }
        e.pid.store(pid, Ordering::Relaxed);
        e.role.store(2, Ordering::Relaxed); // Role::USER
        e.state.store(1, Ordering::Release);
        LOCK_FDS[i].store(fd, Ordering::Relaxed);
        HEIR_ID[i].store((u64::from(slot) << 32) | u64::from(heir_generation), Ordering::Relaxed);
        HEIR_GEN[i].store(generation, Ordering::Relaxed);
    }
}

/// The registration made at the fork for this child in the object whose parent's
/// registration was at table entry `index`, if there is one: the descriptor and the
/// packed participant id. Taken once.
pub(crate) fn adopt_heir(index: usize) -> Option<(LockFd, u64)> {
    let generation = fork_generation();
    if index >= MAX_REGISTRATIONS
        || HEIR_GEN[index].compare_exchange(generation, 0, Ordering::AcqRel, Ordering::Relaxed).is_err()
    {
        return None;
    }
    let fd = LOCK_FDS[index].load(Ordering::Acquire);
    (fd >= 0).then(|| (LockFd { index, fd, generation }, HEIR_ID[index].load(Ordering::Relaxed)))
}

extern "C" fn after_fork_in_child() {
    // The forking thread closed the gate before the fork; the child, which has only that
    // thread, opens it (below, once its table is its own).
    // Only async-signal-safe work here: atomics, close(2), getpid(2).
    for entry in &LOCK_FDS {
        let fd = entry.swap(-1, Ordering::Relaxed);
        if fd >= 0 {
            sys::close_raw(fd);
        }
    }
    PID.store(sys::getpid(), Ordering::Relaxed);
    FORKS_MADE.store(0, Ordering::Relaxed);
    let generation = FORK_GENERATION.load(Ordering::Relaxed).wrapping_add(1);
    adopt_pending_heirs(generation);
    FORK_GENERATION.store(generation, Ordering::Release);
    open_gate();
}

/// How many children this process forked (counted once the handlers are installed).
static FORKS_MADE: AtomicU32 = AtomicU32::new(0);

extern "C" fn after_fork_in_parent() {
    FORKS_MADE.fetch_add(1, Ordering::Release);
    // The child keeps its copies of the heirs' descriptors, and with them their locks.
    for pending in &PENDING_FD {
        let fd = pending.swap(-1, Ordering::Relaxed);
        if fd >= 0 {
            sys::close_raw(fd);
        }
    }
    open_gate();
}

/// How many children this process has forked since shmkit first attached an object in it
/// (0 in a freshly forked child). A handle that remembers this number can tell whether a
/// child may have inherited a copy of it since.
pub fn forks_made() -> u32 {
    install();
    FORKS_MADE.load(Ordering::Acquire)
}

fn install() {
    INSTALL.call_once(|| {
        PID.store(sys::getpid(), Ordering::Relaxed);
        // If this fails (it cannot on Linux short of ENOMEM), children would keep their
        // parent's locks: liveness would err towards "alive", never towards "dead".
        let _ = sys::at_fork(before_fork, after_fork_in_parent, after_fork_in_child);
    });
}

/// The fork generation of this process: equal in a parent and in its objects'
/// registrations, different in a forked child.
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
        let generation = fork_generation();
        let raw = fd.into_raw_fd();
        for (index, entry) in LOCK_FDS.iter().enumerate() {
            if entry.compare_exchange(-1, raw, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                HEIR_SLOTS[index].store(0, Ordering::Relaxed);
                return Ok(Self { index, fd: raw, generation });
            }
        }
        // SAFETY: `raw` came from `into_raw_fd` above and was not stored anywhere.
        Err(unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) })
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

    /// The table entry.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Makes every child this process forks from now on a participant of the object
    /// whose participant table (`slots` entries) the mapping holds at `base`, from its
    /// first instruction, so that a child that dies before it ever uses the object is
    /// seen dead.
    pub(crate) fn set_heirs(&self, base: *const u8, slots: u32) {
        without_forks(|| {
            HEIR_TABLE[self.index].store(base as usize, Ordering::Relaxed);
            HEIR_SLOTS[self.index].store(slots, Ordering::Relaxed);
        });
    }
}

impl Drop for LockFd {
    fn drop(&mut self) {
        if !self.is_ours() {
            return;
        }
        without_forks(|| {
            HEIR_SLOTS[self.index].store(0, Ordering::Relaxed);
            let fd = LOCK_FDS[self.index].swap(-1, Ordering::AcqRel);
            if fd >= 0 {
                sys::close_raw(fd);
            }
        });
    }
}
