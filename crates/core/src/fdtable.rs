//! The lock table: every descriptor of this process that holds a participant lock, so that
//! a fork's child handler can close the child's copies (see `process`). A fixed table of
//! atomics, because that handler runs in a child where taking a lock could deadlock; each
//! function here is async-signal-safe.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::sys;

/// How many participant registrations one process can hold at once.
pub const MAX_REGISTRATIONS: usize = 4096;

/// The descriptors; -1 is a free entry.
static LOCK_FDS: [AtomicI32; MAX_REGISTRATIONS] = [const { AtomicI32::new(-1) }; MAX_REGISTRATIONS];

/// Enters the raw descriptor `fd`; its index, or `None` if the table is full.
pub(crate) fn enter(fd: i32) -> Option<usize> {
    LOCK_FDS
        .iter()
        .position(|entry| entry.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed).is_ok())
}

/// The descriptor at entry `index`, if one is there.
pub(crate) fn get(index: usize) -> Option<i32> {
    let fd = LOCK_FDS.get(index)?.load(Ordering::Acquire);
    (fd >= 0).then_some(fd)
}

/// Takes entry `index` out; the descriptor it held, to close.
pub(crate) fn take(index: usize) -> Option<i32> {
    let fd = LOCK_FDS.get(index)?.swap(-1, Ordering::AcqRel);
    (fd >= 0).then_some(fd)
}

/// Closes every descriptor in the table and empties it (a child's copies of its parent's).
pub(crate) fn close_all() {
    for entry in &LOCK_FDS {
        let fd = entry.swap(-1, Ordering::Relaxed);
        if fd >= 0 {
            sys::close_raw(fd);
        }
    }
}
