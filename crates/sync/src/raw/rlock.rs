//! [`RawRLock`]: a recursive lock over a [`RawLock`].

use shmkit_core::loom::atomic::{AtomicU64, Ordering};
use shmkit_core::{Deadline, WaitStrategy};

use super::lock::{LockSnapshot, RawLock};
use super::owner::{Acquired, Liveness, NotOwner};

/// A recursive lock as [`RawRLock::snapshot`] saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RLockSnapshot {
    /// The inner lock.
    pub lock: LockSnapshot,
    /// The recursion depth.
    pub depth: u64,
}

/// A recursive lock: [`RawLock`] plus the owning thread and a recursion count.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawRLock {
    lock: RawLock,
    /// The owning thread (a per-process thread id), 0 if none. Only the owner writes it.
    thread: AtomicU64,
    /// Recursion depth. Only the owner touches it.
    count: AtomicU64,
}

impl RawRLock {
    /// A free lock.
    pub fn new() -> Self {
        Self::default()
    }

    /// The inner lock's [`snapshot`](RawLock::snapshot) and the recursion depth, for
    /// display (racy).
    pub fn snapshot(&self) -> RLockSnapshot {
        RLockSnapshot { lock: self.lock.snapshot(), depth: self.count.load(Ordering::Relaxed) }
    }

    fn held_by(&self, me: u64, thread: u64) -> bool {
        self.lock.owner() == me && self.thread.load(Ordering::Relaxed) == thread
    }

    /// Takes the lock for thread `thread` of participant `me`, or enters it again if that
    /// thread holds it. `None` on time-out.
    pub fn lock_until(
        &self,
        me: u64,
        thread: u64,
        deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Option<Acquired> {
        if self.held_by(me, thread) {
            self.count.fetch_add(1, Ordering::Relaxed);
            return Some(Acquired::Clean);
        }
        let got = self.lock.lock_until(me, deadline, strategy, live)?;
        self.thread.store(thread, Ordering::Relaxed);
        self.count.store(1, Ordering::Relaxed);
        Some(got)
    }

    /// Leaves the lock once; releases it when the count reaches zero.
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if that thread of `me` does not hold it.
    pub fn unlock(&self, me: u64, thread: u64) -> Result<(), NotOwner> {
        if !self.held_by(me, thread) {
            return Err(NotOwner);
        }
        let depth = self.count.load(Ordering::Relaxed);
        if depth > 1 {
            self.count.store(depth - 1, Ordering::Relaxed);
            return Ok(());
        }
        self.count.store(0, Ordering::Relaxed);
        self.thread.store(0, Ordering::Relaxed);
        self.lock.unlock(me)
    }

    /// The recursion depth of the current holding (racy unless you hold it).
    pub fn depth(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The underlying lock.
    pub fn raw(&self) -> &RawLock {
        &self.lock
    }
}
