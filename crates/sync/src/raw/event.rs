//! [`RawEvent`]: a flag that can be waited for.

use shmkit_core::loom::atomic::{AtomicU32, Ordering};
use shmkit_core::{Deadline, EventCount, WaitStrategy};

/// An event as [`RawEvent::snapshot`] saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSnapshot {
    /// Whether the flag is set.
    pub set: bool,
    /// How many wait for it.
    pub waiters: u32,
}

/// A flag that can be waited for.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawEvent {
    flag: AtomicU32,
    /// Padding, an atomic like the rest: peers may write any byte of the state.
    _pad: AtomicU32,
    waiters: EventCount,
}

impl RawEvent {
    /// A cleared event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter (no system call if nobody sleeps).
    #[inline]
    pub fn set(&self) {
        self.flag.store(1, Ordering::Release);
        self.waiters.notify_all();
    }

    /// Clears the flag.
    #[inline]
    pub fn clear(&self) {
        self.flag.store(0, Ordering::Release);
    }

    /// Whether the flag is set. No system call.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire) != 0
    }

    /// Whether the flag is set, and the number of waiters, for display (racy).
    pub fn snapshot(&self) -> EventSnapshot {
        EventSnapshot { set: self.is_set(), waiters: self.waiters.waiters() }
    }

    /// Waits until the flag is set or `deadline`; returns the flag.
    pub fn wait_until(&self, deadline: Deadline, strategy: WaitStrategy) -> bool {
        self.waiters.wait_until(strategy, deadline, || self.is_set().then_some(())).is_some()
    }
}
