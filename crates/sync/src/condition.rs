//! [`Condition`]: a condition variable with its own lock.

use std::time::Duration;

use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    UnlinkError, WaitStrategy,
};

use crate::layout::{me, state, Handle, LockAndCondition, Single};
use crate::lock::{lock_result, try_result, LockError, TryLockError};
use crate::raw::Acquired;

const LAYOUT: Single<LockAndCondition> = Single::of(Kind::Condition);

/// A condition variable shared between processes, with the lock it works under:
/// Python's `multiprocessing.Condition`.
///
/// Lock it, check the shared state, and [`wait`](Self::wait) (which releases the lock
/// while sleeping and takes it back before returning) until another process changes the
/// state and calls [`notify`](Self::notify). A notify sent by a process holding the lock
/// is never lost. Waits may also return spuriously: check the state again, or use
/// [`wait_while`](Self::wait_while).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::Condition;
///
/// let cond = Condition::anonymous()?;
/// let guard = cond.lock().unwrap();
/// // Nobody notifies: the wait times out, holding the lock again.
/// let (guard, timed_out) = cond.wait_timeout(guard, Duration::from_millis(5)).unwrap();
/// assert!(timed_out);
/// cond.notify_all(); // no waiter: no system call
/// drop(guard);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Condition {
    h: Handle<LockAndCondition>,
}

/// What a wait saw: the guard (if the lock was taken back by the deadline), whether a
/// notify came, and whether the lock came back from a dead owner.
struct Rewaited<'a> {
    guard: Option<ConditionGuard<'a>>,
    notified: bool,
    died: bool,
}

/// Holds a [`Condition`]'s lock; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    me: u64,
}

/// Shows the lock held, not the owner token.
impl std::fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ConditionGuard").field(&self.cond).finish()
    }
}

impl Drop for ConditionGuard<'_> {
    fn drop(&mut self) {
        let _ = state(&self.cond.h).lock.unlock(self.me);
    }
}

impl Condition {
    /// Creates the named condition `name`. Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Self::create_with(name, &CreateOptions::new())
    }

    /// Creates the named condition `name` with options (file mode, participants).
    pub fn create_with(name: &str, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(LAYOUT, name, (), opts).map(|h| Self { h })
    }

    /// Opens the named condition `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named condition `name` with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(LAYOUT, name, opts).map(|h| Self { h })
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Opens `name`, or creates it as a new condition.
    pub fn open_or_create(name: &str) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(LAYOUT, name, ()).map(|h| Self { h })
    }

    /// Creates an anonymous condition, shared with children forked afterwards.
    pub fn anonymous() -> Result<Self, CreateError> {
        Self::anonymous_with(&CreateOptions::new())
    }

    /// Creates an anonymous condition with options (participants).
    pub fn anonymous_with(opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(LAYOUT, (), opts).map(|h| Self { h })
    }

    /// Removes the name `name`; processes that have the condition open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<LockAndCondition>::unlink(name)
    }

    /// A second handle to the same condition, a participant of its own (one per thread).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.h.try_clone().map(|h| Self { h })
    }

    /// The underlying object (its name, header and participants).
    pub fn object(&self) -> &Object {
        self.h.object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.h.set_wait_strategy(strategy);
    }

    fn guard(&self, me: u64) -> ConditionGuard<'_> {
        ConditionGuard { cond: self, me }
    }

    /// Acquires the condition's lock.
    ///
    /// # Errors
    ///
    /// As [`Lock::lock`](crate::Lock::lock).
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<ConditionGuard<'_>, LockError<ConditionGuard<'_>>> {
        let me = me(&self.h).map_err(LockError::NoSlot)?;
        loop {
            let raw = &state(&self.h).lock;
            if let Some(a) = raw.lock_until(me, Deadline::never(), self.h.wait_strategy(), self.h.object()) {
                return lock_result(a, self.guard(me));
            }
        }
    }

    /// Acquires the condition's lock if it is free, without waiting.
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock`](crate::Lock::try_lock).
    pub fn try_lock(&self) -> Result<ConditionGuard<'_>, TryLockError<ConditionGuard<'_>>> {
        self.lock_deadline(Deadline::now())
    }

    /// Acquires the condition's lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Lock::lock_timeout`](crate::Lock::lock_timeout).
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ConditionGuard<'_>, TryLockError<ConditionGuard<'_>>> {
        self.lock_deadline(Deadline::after(timeout))
    }

    /// Acquires the condition's lock, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`Lock::lock_deadline`](crate::Lock::lock_deadline).
    pub fn lock_deadline(
        &self,
        deadline: Deadline,
    ) -> Result<ConditionGuard<'_>, TryLockError<ConditionGuard<'_>>> {
        let me = me(&self.h).map_err(TryLockError::NoSlot)?;
        let got = state(&self.h).lock.lock_until(me, deadline, self.h.wait_strategy(), self.h.object());
        try_result(got, || self.guard(me))
    }

    /// Releases the lock, waits for a notify, and takes the lock back.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) if, while we waited, a process died
    /// holding the lock.
    pub fn wait<'a>(
        &'a self,
        guard: ConditionGuard<'a>,
    ) -> Result<ConditionGuard<'a>, LockError<ConditionGuard<'a>>> {
        let w = self.wait_inner(guard, Deadline::never());
        // Without a deadline the lock is always taken back.
        match w.guard {
            Some(g) if w.died => Err(LockError::OwnerDied(g)),
            Some(g) => Ok(g),
            None => Err(LockError::Timeout),
        }
    }

    /// As [`wait`](Self::wait), without sleeping: gives the lock up for a moment (so a
    /// notifier waiting for it gets it) and takes it back; also returns whether no notify
    /// came, which without sleeping is almost always `true`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    #[allow(clippy::type_complexity)]
    pub fn try_wait<'a>(
        &'a self,
        guard: ConditionGuard<'a>,
    ) -> Result<(ConditionGuard<'a>, bool), LockError<(ConditionGuard<'a>, bool)>> {
        self.wait_deadline(guard, Deadline::now())
    }

    /// As [`wait`](Self::wait), for at most `timeout` in all, taking the lock back
    /// included; also returns whether it timed out (no notify came).
    ///
    /// # Errors
    ///
    /// As [`wait_deadline`](Self::wait_deadline).
    #[allow(clippy::type_complexity)]
    pub fn wait_timeout<'a>(
        &'a self,
        guard: ConditionGuard<'a>,
        timeout: Duration,
    ) -> Result<(ConditionGuard<'a>, bool), LockError<(ConditionGuard<'a>, bool)>> {
        self.wait_deadline(guard, Deadline::after(timeout))
    }

    /// As [`wait`](Self::wait), until `deadline`; also returns whether it timed out (no
    /// notify came). The deadline bounds taking the lock back too: unlike Python, which
    /// re-acquires however long another process holds the lock, this returns by the
    /// deadline (give or take a wake-up).
    ///
    /// # Errors
    ///
    /// [`LockError::Timeout`] if the lock could not be taken back by the deadline (this
    /// process no longer holds it); otherwise as [`wait`](Self::wait).
    #[allow(clippy::type_complexity)]
    pub fn wait_deadline<'a>(
        &'a self,
        guard: ConditionGuard<'a>,
        deadline: Deadline,
    ) -> Result<(ConditionGuard<'a>, bool), LockError<(ConditionGuard<'a>, bool)>> {
        let w = self.wait_inner(guard, deadline);
        let timed_out = !w.notified && deadline.has_passed();
        match w.guard {
            Some(g) if w.died => Err(LockError::OwnerDied((g, timed_out))),
            Some(g) => Ok((g, timed_out)),
            None => Err(LockError::Timeout),
        }
    }

    /// Waits while `condition()` is true (checked under the lock), then returns holding
    /// the lock: Python's `wait_for` with the predicate negated, as Rust's
    /// `Condvar::wait_while`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_while<'a>(
        &'a self,
        mut guard: ConditionGuard<'a>,
        mut condition: impl FnMut() -> bool,
    ) -> Result<ConditionGuard<'a>, LockError<ConditionGuard<'a>>> {
        let mut died = false;
        while condition() {
            let w = self.wait_inner(guard, Deadline::never());
            // Without a deadline the lock is always taken back.
            guard = w.guard.ok_or(LockError::Timeout)?;
            died |= w.died;
        }
        if died {
            Err(LockError::OwnerDied(guard))
        } else {
            Ok(guard)
        }
    }

    /// Waits for a notify until `deadline`, and takes the lock back by the same deadline.
    fn wait_inner<'a>(&'a self, guard: ConditionGuard<'a>, deadline: Deadline) -> Rewaited<'a> {
        let me = guard.me;
        // The raw wait releases and retakes the lock itself.
        std::mem::forget(guard);
        let raw = state(&self.h);
        let (strategy, live) = (self.h.wait_strategy(), self.h.object());
        let (notified, relocked) =
            match raw.cond.wait_then_lock(&raw.lock, me, deadline, deadline, strategy, live) {
                Ok(w) => (w.notified, w.relocked),
                // A peer overwrote the owner: we no longer hold the lock; take it again.
                Err(_) => loop {
                    let got = raw.lock.lock_until(me, deadline, strategy, live);
                    if got.is_some() || !deadline.is_never() {
                        break (false, got);
                    }
                },
            };
        Rewaited {
            guard: relocked.map(|_| self.guard(me)),
            notified,
            died: relocked == Some(Acquired::OwnerDied),
        }
    }

    /// Wakes one waiter (no system call if nobody waits).
    pub fn notify(&self) {
        state(&self.h).cond.notify_one();
    }

    /// Wakes up to `n` waiters.
    pub fn notify_n(&self, n: u32) {
        state(&self.h).cond.notify(n);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        state(&self.h).cond.notify_all();
    }
}
