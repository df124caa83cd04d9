//! [`Lock`]: crash-aware mutual exclusion between processes, and the errors of every
//! lock of this crate.

use std::fmt;
use std::time::Duration;

use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    RegisterError, UnlinkError, WaitStrategy,
};

use crate::layout::{me, state, Handle, Single};
use crate::raw::{Acquired, NotOwner, RawLock};

const LAYOUT: Single<RawLock> = Single::of(Kind::Lock);

/// Why [`Lock::lock`] (or [`RLock::lock`](crate::RLock::lock)) did not simply return a guard.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError<G> {
    /// The previous owner died holding the lock. You hold it now: the guard is inside.
    /// Repair what the lock protects, then go on; the lock works normally afterwards.
    OwnerDied(G),
    /// This process could not register as a participant of the lock (its table is full).
    NoSlot(RegisterError),
    /// A timed [`Condition`](crate::Condition) wait could not take its lock back before
    /// the deadline (another process held it): this process no longer holds the lock.
    /// Lock it again to go on.
    Timeout,
}

impl<G> LockError<G> {
    /// The guard, if the lock was acquired (from a dead owner).
    pub fn into_guard(self) -> Option<G> {
        match self {
            Self::OwnerDied(g) => Some(g),
            Self::NoSlot(_) | Self::Timeout => None,
        }
    }

    /// Whether the previous owner died.
    pub fn is_owner_died(&self) -> bool {
        matches!(self, Self::OwnerDied(_))
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OwnerDied(_) => f.write_str(
                "the previous owner died holding the lock; you hold it now: repair the data it protects",
            ),
            Self::NoSlot(e) => e.fmt(f),
            Self::Timeout => f.write_str(
                "the lock was not taken back before the deadline (another process held it); you no longer \
                 hold it: lock it again",
            ),
        }
    }
}

impl<G: fmt::Debug> std::error::Error for LockError<G> {}

/// Why a `try_lock*` call did not simply return a guard.
#[derive(Debug)]
#[non_exhaustive]
pub enum TryLockError<G> {
    /// Someone else holds the lock (until the deadline, for the timed forms).
    WouldBlock,
    /// The previous owner died holding the lock; you hold it now (see
    /// [`LockError::OwnerDied`]).
    OwnerDied(G),
    /// This process could not register as a participant of the lock.
    NoSlot(RegisterError),
}

impl<G> TryLockError<G> {
    /// The guard, if the lock was acquired (from a dead owner).
    pub fn into_guard(self) -> Option<G> {
        match self {
            Self::OwnerDied(g) => Some(g),
            _ => None,
        }
    }

    /// Whether the lock was busy.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Self::WouldBlock)
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WouldBlock => f.write_str("the lock is held by someone else"),
            Self::OwnerDied(_) => f.write_str(
                "the previous owner died holding the lock; you hold it now: repair the data it protects",
            ),
            Self::NoSlot(e) => e.fmt(f),
        }
    }
}

impl<G: fmt::Debug> std::error::Error for TryLockError<G> {}

pub(crate) fn lock_result<G>(acquired: Acquired, guard: G) -> Result<G, LockError<G>> {
    match acquired {
        Acquired::Clean => Ok(guard),
        Acquired::OwnerDied => Err(LockError::OwnerDied(guard)),
    }
}

pub(crate) fn try_result<G>(
    acquired: Option<Acquired>,
    guard: impl FnOnce() -> G,
) -> Result<G, TryLockError<G>> {
    match acquired {
        Some(Acquired::Clean) => Ok(guard()),
        Some(Acquired::OwnerDied) => Err(TryLockError::OwnerDied(guard())),
        None => Err(TryLockError::WouldBlock),
    }
}

/// A lock shared between processes: Python's `multiprocessing.Lock`, crash-aware.
///
/// It is held by a process (any of its threads may be waiting, one holds it); locking it
/// again from the holding process waits, as in Python. The lock records its holder's
/// participant id: if the holder dies holding it, the next `lock` takes it over and
/// reports [`LockError::OwnerDied`] with the guard inside, once; a waiter blocked on it
/// notices the death within [`RECHECK_INTERVAL`](shmkit_core::RECHECK_INTERVAL).
///
/// Uncontended `lock` and unlock are one atomic instruction each, no system call.
///
/// # Examples
///
/// ```
/// use shmkit::Lock;
/// let name = format!("example-lock-{}", std::process::id());
///
/// // Process 1
/// let lock = Lock::create(&name)?;
/// // Process 2
/// let same = Lock::open(&name)?;
///
/// {
///     let _guard = lock.lock().unwrap_or_else(|e| e.into_guard().expect("a slot"));
///     assert!(same.try_lock().unwrap_err().is_would_block());
/// }
/// assert!(same.try_lock().is_ok());
/// Lock::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Lock {
    h: Handle<RawLock>,
}

/// Holds a [`Lock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    me: u64,
}

/// Shows the lock held, not the owner token.
impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LockGuard").field(&self.lock).finish()
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Only fails if a peer overwrote the owner word: nothing to release then.
        let _ = state(&self.lock.h).unlock_held(self.me);
    }
}

impl Lock {
    /// Creates the named lock `name`, unlocked. Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Self::create_with(name, &CreateOptions::new())
    }

    /// Creates the named lock `name` with options (file mode, participants).
    pub fn create_with(name: &str, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(LAYOUT, name, (), opts).map(|h| Self { h })
    }

    /// Opens the named lock `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named lock `name` with options.
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

    /// Opens `name`, or creates it as a new lock, unlocked.
    pub fn open_or_create(name: &str) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(LAYOUT, name, ()).map(|h| Self { h })
    }

    /// Creates an anonymous lock, unlocked, shared with children forked afterwards.
    pub fn anonymous() -> Result<Self, CreateError> {
        Self::anonymous_with(&CreateOptions::new())
    }

    /// Creates an anonymous lock with options (participants).
    pub fn anonymous_with(opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(LAYOUT, (), opts).map(|h| Self { h })
    }

    /// Removes the name `name`; processes that have the lock open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RawLock>::unlink(name)
    }

    /// A second handle to the same lock, a participant of its own (one per thread).
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

    /// Acquires the lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (holding the guard) if the previous owner died holding
    /// it; [`LockError::NoSlot`] if this process cannot become a participant.
    #[doc(alias = "acquire")]
    #[inline]
    pub fn lock(&self) -> Result<LockGuard<'_>, LockError<LockGuard<'_>>> {
        let me = me(&self.h).map_err(LockError::NoSlot)?;
        loop {
            if let Some(a) =
                state(&self.h).lock_until(me, Deadline::never(), self.h.wait_strategy(), self.h.object())
            {
                return lock_result(a, LockGuard { lock: self, me });
            }
        }
    }

    /// Acquires the lock if it is free (or its owner is dead), without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held, and as [`lock`](Self::lock).
    pub fn try_lock(&self) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        self.lock_deadline(Deadline::now())
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`lock_deadline`](Self::lock_deadline).
    #[doc(alias = "try_lock_for")]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        self.lock_deadline(Deadline::after(timeout))
    }

    /// Acquires the lock, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is still held at the deadline, and as
    /// [`lock`](Self::lock).
    #[doc(alias = "try_lock_until")]
    pub fn lock_deadline(&self, deadline: Deadline) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        let me = me(&self.h).map_err(TryLockError::NoSlot)?;
        let got = state(&self.h).lock_until(me, deadline, self.h.wait_strategy(), self.h.object());
        try_result(got, || LockGuard { lock: self, me })
    }

    /// Releases the lock held by this process without a guard: Python's
    /// `Lock.release()`, for a guard given up with [`std::mem::forget`].
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if this process does not hold the lock.
    #[doc(alias = "release")]
    pub fn unlock(&self) -> Result<(), NotOwner> {
        let me = me(&self.h).map_err(|_| NotOwner)?;
        state(&self.h).unlock(me)
    }

    /// Whether some process holds the lock (racy: for display).
    pub fn is_locked(&self) -> bool {
        state(&self.h).owner() != 0
    }
}

impl LockGuard<'_> {
    /// Releases the lock now (as dropping the guard does).
    #[doc(alias = "release")]
    pub fn unlock(self) {}
}
