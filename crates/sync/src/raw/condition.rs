//! [`RawCondition`]: a condition variable used with a [`RawLock`].

use shmkit_core::{Deadline, EventCount, WaitStrategy};

use super::lock::RawLock;
use super::owner::{Acquired, Liveness, NotOwner};

/// What [`RawCondition::wait_then_lock`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waited {
    /// Whether a notify woke the waiter (it may also wake spuriously).
    pub notified: bool,
    /// How the lock was taken back, or `None` if it was not by the deadline.
    pub relocked: Option<Acquired>,
}

/// A condition variable used with a [`RawLock`].
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawCondition {
    waiters: EventCount,
}

impl RawCondition {
    /// The number of waiters, for display (racy).
    pub fn waiters(&self) -> u32 {
        self.waiters.waiters()
    }

    /// A condition nobody waits on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Releases `lock` (held by `me`), waits for a notify or `deadline`, and takes the lock
    /// again (displacing a dead owner if need be). Returns whether it was notified (it may
    /// also wake spuriously) and how the lock was taken back.
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if `me` does not hold `lock`; nothing is waited for then.
    pub fn wait_until(
        &self,
        lock: &RawLock,
        me: u64,
        deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Result<(bool, Acquired), NotOwner> {
        let relocked = |acquired: Option<Acquired>| acquired.unwrap_or(Acquired::Clean);
        let w = self.wait_then_lock(lock, me, deadline, Deadline::never(), strategy, live)?;
        // Without a deadline the lock is always taken back.
        Ok((w.notified, relocked(w.relocked)))
    }

    /// As [`wait_until`](Self::wait_until), but the lock is taken back only until
    /// `relock_deadline`: `relocked` is `None` if another process still held it then (the
    /// caller no longer holds the lock).
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if `me` does not hold `lock`; nothing is waited for then.
    pub fn wait_then_lock(
        &self,
        lock: &RawLock,
        me: u64,
        deadline: Deadline,
        relock_deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Result<Waited, NotOwner> {
        // Counted as a waiter before the lock is released: a notify sent by the next
        // holder cannot be missed.
        let key = self.waiters.prepare_wait();
        if let Err(e) = lock.unlock(me) {
            self.waiters.cancel_wait(key);
            return Err(e);
        }
        let notified = self.waiters.wait(key, deadline);
        let relocked = loop {
            if let Some(a) = lock.lock_until(me, relock_deadline, strategy, live) {
                break Some(a);
            }
            if !relock_deadline.is_never() {
                break None;
            }
        };
        Ok(Waited { notified, relocked })
    }

    /// Wakes up to one waiter (no system call if nobody waits).
    pub fn notify_one(&self) {
        self.waiters.notify_one();
    }

    /// Wakes up to `n` waiters.
    pub fn notify(&self, n: u32) {
        self.waiters.notify(n);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.waiters.notify_all();
    }
}
