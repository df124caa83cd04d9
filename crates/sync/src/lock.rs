//! [`Lock`] and [`RLock`]: crash-aware mutual exclusion between processes.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmkit_core::{Deadline, Kind, RegisterError};

use crate::named::Handle;
use crate::raw::{Acquired, NotOwner, RawLock, RawRLock};

/// Why [`Lock::lock`] (or [`RLock::lock`]) did not simply return a guard.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError<G> {
    /// The previous owner died holding the lock. You hold it now: the guard is inside.
    /// Repair what the lock protects, then go on; the lock works normally afterwards.
    OwnerDied(G),
    /// This process could not register as a participant of the lock (its table is full).
    NoSlot(RegisterError),
}

impl<G> LockError<G> {
    /// The guard, if the lock was acquired (from a dead owner).
    pub fn into_guard(self) -> Option<G> {
        match self {
            Self::OwnerDied(g) => Some(g),
            Self::NoSlot(_) => None,
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
/// use shmkit_sync::Lock;
/// # let name = format!("doc-lock-{}", std::process::id());
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
/// # Lock::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Lock {
    h: Handle<RawLock>,
}

/// Holds a [`Lock`]; releases it when dropped.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    me: u64,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Only fails if a peer overwrote the owner word: nothing to release then.
        let _ = self.lock.h.raw().unlock(self.me);
    }
}

impl Lock {
    crate::named::plain_constructors!(Kind::Lock, "lock");

    /// Acquires the lock, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (holding the guard) if the previous owner died holding
    /// it; [`LockError::NoSlot`] if this process cannot become a participant.
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<LockGuard<'_>, LockError<LockGuard<'_>>> {
        let me = self.h.me().map_err(LockError::NoSlot)?;
        loop {
            if let Some(a) = self.h.raw().lock_until(me, Deadline::never(), self.h.strategy, self.h.object())
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
        self.try_lock_until(Deadline::now())
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`try_lock_until`](Self::try_lock_until).
    pub fn try_lock_for(&self, timeout: Duration) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        self.try_lock_until(Deadline::after(timeout))
    }

    /// Acquires the lock, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is still held at the deadline, and as
    /// [`lock`](Self::lock).
    pub fn try_lock_until(&self, deadline: Deadline) -> Result<LockGuard<'_>, TryLockError<LockGuard<'_>>> {
        let me = self.h.me().map_err(TryLockError::NoSlot)?;
        let got = self.h.raw().lock_until(me, deadline, self.h.strategy, self.h.object());
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
        let me = self.h.me().map_err(|_| NotOwner)?;
        self.h.raw().unlock(me)
    }

    /// Whether some process holds the lock (racy: for display).
    pub fn is_locked(&self) -> bool {
        self.h.raw().owner() != 0
    }
}

impl LockGuard<'_> {
    /// Releases the lock now (as dropping the guard does).
    #[doc(alias = "release")]
    pub fn unlock(self) {}
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// A non-zero id for the current thread, unique within the process.
pub(crate) fn thread_id() -> u64 {
    THREAD.with(|t| *t)
}

/// A recursive lock: Python's `multiprocessing.RLock`. The thread that holds it may lock
/// it again; it is released when every guard is gone. Crash-aware like [`Lock`].
///
/// # Examples
///
/// ```
/// use shmkit_sync::RLock;
///
/// let lock = RLock::anonymous()?;
/// let outer = lock.lock().unwrap();
/// let inner = lock.lock().unwrap(); // the same thread: no deadlock
/// assert_eq!(lock.depth(), 2);
/// drop(inner);
/// drop(outer);
/// assert!(!lock.is_locked());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RLock {
    h: Handle<RawRLock>,
}

/// Holds an [`RLock`] once; the lock is released when the last guard is dropped.
#[derive(Debug)]
#[must_use = "the lock is left as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    me: u64,
    /// Guards belong to the thread that took them.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.h.raw().unlock(self.me, thread_id());
    }
}

impl RLock {
    crate::named::plain_constructors!(Kind::RLock, "recursive lock");

    /// Acquires the lock (again, if this thread holds it).
    ///
    /// # Errors
    ///
    /// As [`Lock::lock`].
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        let me = self.h.me().map_err(LockError::NoSlot)?;
        loop {
            let got =
                self.h.raw().lock_until(me, thread_id(), Deadline::never(), self.h.strategy, self.h.object());
            if let Some(a) = got {
                return lock_result(a, self.guard(me));
            }
        }
    }

    fn guard(&self, me: u64) -> RLockGuard<'_> {
        RLockGuard { lock: self, me, _not_send: std::marker::PhantomData }
    }

    /// Acquires the lock if this thread holds it or it is free, without waiting.
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock`].
    pub fn try_lock(&self) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        self.try_lock_until(Deadline::now())
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock_for`].
    pub fn try_lock_for(&self, timeout: Duration) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        self.try_lock_until(Deadline::after(timeout))
    }

    /// Acquires the lock, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock_until`].
    pub fn try_lock_until(&self, deadline: Deadline) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        let me = self.h.me().map_err(TryLockError::NoSlot)?;
        let got = self.h.raw().lock_until(me, thread_id(), deadline, self.h.strategy, self.h.object());
        try_result(got, || self.guard(me))
    }

    /// Leaves the lock once without a guard: Python's `RLock.release()`, for a guard
    /// given up with [`std::mem::forget`].
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if this thread does not hold it.
    #[doc(alias = "release")]
    pub fn unlock(&self) -> Result<(), NotOwner> {
        let me = self.h.me().map_err(|_| NotOwner)?;
        self.h.raw().unlock(me, thread_id())
    }

    /// The recursion depth (racy unless this thread holds the lock).
    pub fn depth(&self) -> u64 {
        self.h.raw().depth()
    }

    /// Whether some thread holds the lock (racy: for display).
    pub fn is_locked(&self) -> bool {
        self.h.raw().raw().owner() != 0
    }
}
