//! [`RawLock`]: a lock whose state is its owner's token.

use shmkit_core::loom::atomic::{AtomicU64, Ordering};
use shmkit_core::{Deadline, EventCount, WaitStrategy};

use super::owner::{Acquired, Liveness, NotOwner};

/// A lock as [`RawLock::snapshot`] saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockSnapshot {
    /// The owner token, 0 when free.
    pub owner: u64,
    /// How many wait for it.
    pub waiters: u32,
}

/// A lock whose state is its owner's token: 0 when free. One word, so a holder can never
/// die "between" taking the lock and recording itself.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawLock {
    owner: AtomicU64,
    waiters: EventCount,
}

impl RawLock {
    /// A free lock.
    pub fn new() -> Self {
        Self::default()
    }

    /// The owner token and the number of waiters, for display (racy).
    pub fn snapshot(&self) -> LockSnapshot {
        LockSnapshot { owner: self.owner.load(Ordering::Relaxed), waiters: self.waiters.waiters() }
    }

    /// Takes the lock for `me` if it is free. No system call.
    #[inline]
    pub fn try_lock(&self, me: u64) -> bool {
        self.owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Takes the lock for `me` (a non-zero token), waiting until `deadline`. An owner that
    /// `live` says is dead is displaced, and the result says so. `None` on time-out.
    #[inline]
    pub fn lock_until(
        &self,
        me: u64,
        deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Option<Acquired> {
        if self.try_lock(me) {
            return Some(Acquired::Clean);
        }
        self.lock_slow(me, deadline, strategy, live)
    }

    /// [`lock_until`](Self::lock_until) when the lock was held at the first try.
    #[cold]
    #[inline(never)]
    fn lock_slow(
        &self,
        me: u64,
        deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Option<Acquired> {
        if deadline.has_passed() {
            // A try: no spinning, but a dead owner is still displaced.
            return self.take_from_dead(me, live).then_some(Acquired::OwnerDied);
        }
        let got = self.waiters.wait_checked(
            strategy,
            deadline,
            || self.try_lock(me).then_some(Acquired::Clean),
            || self.take_from_dead(me, live).then_some(Acquired::OwnerDied),
        );
        if got.is_none() {
            // We may have taken a wake-up meant for the next waiter: pass it on.
            self.waiters.notify_one();
        }
        got
    }

    fn take_from_dead(&self, me: u64, live: &impl Liveness) -> bool {
        let owner = self.owner.load(Ordering::Relaxed);
        owner != 0
            && !live.is_alive(owner)
            && self.owner.compare_exchange(owner, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Releases the lock held by `me` and wakes a waiter if one sleeps.
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if `me` does not hold it.
    #[inline]
    pub fn unlock(&self, me: u64) -> Result<(), NotOwner> {
        self.owner.compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed).map_err(|_| NotOwner)?;
        self.waiters.notify_one();
        Ok(())
    }

    /// Releases the lock that `me` holds (a guard's release): a plain store, no locked
    /// instruction. Among correct peers nobody else writes the word while `me` holds it:
    /// a waiter's try needs it free, and a dead owner's lock is taken only from a dead
    /// process, which `me`, releasing it, is not. A word that does not name `me` (a
    /// hostile peer's write) is left alone.
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if the word does not name `me`.
    #[inline]
    pub fn unlock_held(&self, me: u64) -> Result<(), NotOwner> {
        if self.owner.load(Ordering::Relaxed) != me {
            return Err(NotOwner);
        }
        self.owner.store(0, Ordering::Release);
        self.waiters.notify_one();
        Ok(())
    }

    /// The owner's token, 0 if free (racy).
    #[inline]
    pub fn owner(&self) -> u64 {
        self.owner.load(Ordering::Relaxed)
    }
}
