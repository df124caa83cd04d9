//! Heirs: a child forked with an anonymous object is its participant from the fork on.
//!
//! A child forked with a handle to an anonymous pipe, SPSC queue or barrier may die
//! before it ever uses it. Registered only on first use (see `participants`), it would
//! leave no trace, and a process waiting for it would wait for good. An object that cares
//! asks to be *watched* ([`Object::watch_children`](crate::Object::watch_children)):
//!
//! - the fork *prepare* handler claims a slot of the object's table for the coming child,
//!   locked through a descriptor made for it;
//! - the child keeps that descriptor; the *parent* handler closes the parent's copy, so
//!   the slot's lock lives exactly as long as the child holds it;
//! - the slot is marked *inherited* (state 2) until the child's first use of the object
//!   adopts it as its registration (state 1). Dropping the object unused, returning from
//!   [`child::fork`](crate::child::fork)'s closure, `exit`, or exec through
//!   [`child::spawn`](crate::child::spawn) leaves the slot cleanly; dying (or ending any
//!   other way) leaves it inherited and unlocked: a dead heir, which each kind weighs (a
//!   pipe's end then has nobody left to take it; a barrier breaks only if fewer live
//!   processes hold it than it has parties);
//! - a child for which the table has no free slot takes a shared lock on the *overflow*
//!   byte instead, so that it still counts as alive.
//!
//! The tables are fixed arrays of atomics, because the child handler may not take a lock
//! or allocate. Entries are made and removed only behind the fork gate (see `process`),
//! which the prepare handler also passes, so a fork never sees one half-made; the table
//! address an entry holds stays mapped until the entry is removed (an object removes its
//! entry before it unmaps).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::fdtable;
use crate::slots::{claim, entry_at, ParticipantId, Role, INHERITED, OVERFLOW_BYTE};
use crate::sys;

/// How many objects one process can watch at once.
pub const MAX_WATCHED: usize = 256;

/// One watched object, as this process sees it.
struct Watch {
    /// The object's descriptor, which never holds a lock (-1: a free entry), and its
    /// file's inode, checked before each use (a descriptor number closed behind the
    /// object's back and reused must not be taken for it).
    fd: AtomicI32,
    ino: AtomicU64,
    /// The address of its participant table, and the table's length.
    table: AtomicUsize,
    slots: AtomicU32,
    /// A child forked by this process (or by an ancestor, before this one) could not be
    /// registered: no descriptor, no free slot. Its death would go unseen.
    missed: AtomicBool,
    /// Made by the prepare handler for the coming child: the descriptor (-1: none), and
    /// its slot (`u64::MAX`: none, the descriptor holds the overflow byte).
    pending_fd: AtomicI32,
    pending_id: AtomicU64,
    /// This process's inherited registration, not yet adopted: its entry in the lock
    /// descriptor table (-1: none), and its id.
    heir: AtomicI32,
    heir_id: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Watch = Watch {
    fd: AtomicI32::new(-1),
    ino: AtomicU64::new(0),
    table: AtomicUsize::new(0),
    slots: AtomicU32::new(0),
    missed: AtomicBool::new(false),
    pending_fd: AtomicI32::new(-1),
    pending_id: AtomicU64::new(0),
    heir: AtomicI32::new(-1),
    heir_id: AtomicU64::new(0),
};

static WATCHED: [Watch; MAX_WATCHED] = [FREE; MAX_WATCHED];

/// Where the prepare handler starts looking for a free slot: spreads children over the
/// table.
static NEXT_SLOT: AtomicU32 = AtomicU32::new(0);

impl Watch {
    /// Entry `slot` of the watched object's table.
    fn entry(&self, slot: u32) -> Option<&crate::header::ParticipantEntry> {
        // SAFETY: `table` and `slots` were taken from a live object's validated table,
        // which stays mapped while this entry is in use (the object removes the entry,
        // behind the gate, before it unmaps); callers look only at entries in use.
        unsafe {
            entry_at(
                self.table.load(Ordering::Relaxed) as *const u8,
                self.slots.load(Ordering::Relaxed),
                slot,
            )
        }
    }

    /// Marks slot `id` free if it is still `id` and inherited.
    fn free_inherited(&self, id: u64) {
        let id = ParticipantId::from_u64(id);
        if let Some(e) = self.entry(id.slot) {
            if e.generation.load(Ordering::Acquire) == id.generation {
                let _ = e.state.compare_exchange(INHERITED, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }

    /// Leaves this process's unadopted inherited registration, if any: the slot is
    /// marked free and its lock descriptor closed. Behind the gate (or in a child that
    /// runs one thread).
    fn leave_heir(&self) {
        let index = self.heir.swap(-1, Ordering::Relaxed);
        if index < 0 {
            return;
        }
        self.free_inherited(self.heir_id.load(Ordering::Relaxed));
        if let Some(fd) = fdtable::take(index as usize) {
            sys::close_raw(fd);
        }
    }

    /// The object's descriptor, if it is still the object's file.
    fn object_fd(&self) -> Option<BorrowedFd<'static>> {
        let fd = self.fd.load(Ordering::Relaxed);
        if fd < 0 {
            return None;
        }
        // SAFETY: the object owns `fd` while its entry is in use, and the gate keeps it
        // from being dropped meanwhile; the inode check catches a number reused behind
        // its back. The borrow is used only within the handler that took it.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        sys::fstat(fd).ok().filter(|st| st.ino == self.ino.load(Ordering::Relaxed)).map(|_| fd)
    }
}

/// Starts watching the object whose descriptor is `fd` and whose participant table (of
/// `slots` entries) is at `table`. Behind the gate. `None` if the table of watched
/// objects is full.
pub(crate) fn watch(fd: BorrowedFd<'_>, table: *const u8, slots: u32) -> Option<usize> {
    let ino = sys::fstat(fd).ok()?.ino;
    let i = WATCHED.iter().position(|w| w.fd.load(Ordering::Relaxed) < 0)?;
    let w = &WATCHED[i];
    w.ino.store(ino, Ordering::Relaxed);
    w.table.store(table as usize, Ordering::Relaxed);
    w.slots.store(slots, Ordering::Relaxed);
    w.missed.store(false, Ordering::Relaxed);
    w.heir.store(-1, Ordering::Relaxed);
    w.fd.store(fd.as_raw_fd(), Ordering::Relaxed);
    Some(i)
}

/// Stops watching entry `i` (the object is being dropped): an inherited registration
/// not adopted is left cleanly. Behind the gate.
pub(crate) fn unwatch(i: usize) {
    let Some(w) = WATCHED.get(i) else { return };
    w.leave_heir();
    w.fd.store(-1, Ordering::Relaxed);
}

/// Whether a child forked with entry `i` could not be registered.
pub(crate) fn missed(i: usize) -> bool {
    WATCHED.get(i).is_none_or(|w| w.missed.load(Ordering::Relaxed))
}

/// Takes this process's inherited registration in entry `i`, if it has one: its lock
/// descriptor's index in the lock table, and its id.
pub(crate) fn adopt(i: usize) -> Option<(usize, ParticipantId)> {
    let w = WATCHED.get(i)?;
    let index = w.heir.swap(-1, Ordering::Relaxed);
    (index >= 0).then(|| (index as usize, ParticipantId::from_u64(w.heir_id.load(Ordering::Relaxed))))
}

/// Leaves every inherited registration this process never adopted: a child that ends
/// normally without using an object it inherited was never one of its users. Behind
/// the gate, or in a process that runs one thread.
pub(crate) fn leave_unused() {
    for w in &WATCHED {
        if w.fd.load(Ordering::Relaxed) >= 0 {
            w.leave_heir();
        }
    }
}

/// The prepare handler's part, gate closed: claims a slot for the coming child in every
/// watched object. No allocation: an allocator's own fork handlers may hold its locks.
pub(crate) fn prepare() {
    for w in &WATCHED {
        let Some(object) = w.object_fd() else { continue };
        let Ok(new) = sys::reopen_raw(object) else {
            w.missed.store(true, Ordering::Relaxed);
            continue;
        };
        // SAFETY: `reopen_raw` just made `new`; it is closed only by these handlers.
        let lock = unsafe { BorrowedFd::borrow_raw(new) };
        let start = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        let table = w.table.load(Ordering::Relaxed) as *const u8;
        let slots = w.slots.load(Ordering::Relaxed);
        // SAFETY: as in `Watch::entry`; `lock` is a descriptor of the object's file.
        let id = match unsafe { claim(table, slots, lock, start, 0, Role::INHERITED, INHERITED) } {
            Ok(Some(id)) => id.to_u64(),
            // No free slot: the child still counts as alive through the overflow byte.
            Ok(None) if sys::ofd_try_lock_shared(lock, OVERFLOW_BYTE).unwrap_or(false) => u64::MAX,
            _ => {
                sys::close_raw(new);
                w.missed.store(true, Ordering::Relaxed);
                continue;
            }
        };
        w.pending_id.store(id, Ordering::Relaxed);
        w.pending_fd.store(new, Ordering::Relaxed);
    }
}

/// The parent handler's part, gate still closed: the child holds its copies of the new
/// descriptors, so the parent closes its own. A slot then held by nobody had no child to
/// hold it (the fork failed, or the child ended already): it is left free, if nobody has
/// taken it since.
pub(crate) fn parent() {
    for w in &WATCHED {
        let fd = w.pending_fd.swap(-1, Ordering::Relaxed);
        if fd < 0 {
            continue;
        }
        sys::close_raw(fd);
        let id = w.pending_id.load(Ordering::Relaxed);
        if id == u64::MAX {
            continue;
        }
        let slot = ParticipantId::from_u64(id).slot;
        if w.object_fd().is_some_and(|object| !sys::ofd_is_locked(object, u64::from(slot), 1).unwrap_or(true))
        {
            w.free_inherited(id);
        }
    }
}

/// The child handler's part, after it closed the parent's lock descriptors (including
/// the parent's own inherited ones): the new descriptors become this child's inherited
/// registrations. Async-signal-safe: atomics only.
pub(crate) fn child(pid: u32) {
    for w in &WATCHED {
        w.heir.store(-1, Ordering::Relaxed);
        let fd = w.pending_fd.swap(-1, Ordering::Relaxed);
        if fd < 0 {
            continue;
        }
        let id = w.pending_id.load(Ordering::Relaxed);
        match fdtable::enter(fd) {
            // Holding the overflow byte, the child has no slot to adopt or leave: the
            // descriptor lives in the lock table (closed by its own forks) until it ends.
            Some(_) if id == u64::MAX => {}
            Some(index) => {
                if let Some(e) = w.entry(ParticipantId::from_u64(id).slot) {
                    e.pid.store(pid, Ordering::Relaxed);
                }
                w.heir_id.store(id, Ordering::Relaxed);
                w.heir.store(index as i32, Ordering::Relaxed);
            }
            // No room to track it: it stays open, untracked, so the slot reads alive for
            // as long as this process lives (erring towards "alive", never "gone").
            None => w.missed.store(true, Ordering::Relaxed),
        }
    }
}
