//! [`RLock`]: a recursive lock, crash-aware like [`Lock`](crate::Lock).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    UnlinkError, WaitStrategy,
};

use crate::layout::{me, state, Handle, Single};
use crate::lock::{lock_result, try_result, LockError, TryLockError};
use crate::raw::{NotOwner, RawRLock};

const LAYOUT: Single<RawRLock> = Single::of(Kind::RLock);

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// A non-zero id for the current thread, unique within the process.
pub(crate) fn thread_id() -> u64 {
    THREAD.with(|t| *t)
}

/// A recursive lock: Python's `multiprocessing.RLock`. The thread that holds it may lock
/// it again; it is released when every guard is gone. Crash-aware like [`Lock`](crate::Lock).
///
/// # Examples
///
/// ```
/// use shmkit::RLock;
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
#[must_use = "the lock is left as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    me: u64,
    /// Guards belong to the thread that took them.
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Shows the lock held, not the owner token.
impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RLockGuard").field(&self.lock).finish()
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _ = state(&self.lock.h).unlock(self.me, thread_id());
    }
}

impl RLock {
    /// Creates the named recursive lock `name`, unlocked. Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Self::create_with(name, &CreateOptions::new())
    }

    /// Creates the named recursive lock `name` with options (file mode, participants).
    pub fn create_with(name: &str, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(LAYOUT, name, (), opts).map(|h| Self { h })
    }

    /// Opens the named recursive lock `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named recursive lock `name` with options.
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

    /// Opens `name`, or creates it as a new recursive lock, unlocked.
    pub fn open_or_create(name: &str) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(LAYOUT, name, ()).map(|h| Self { h })
    }

    /// Creates an anonymous recursive lock, unlocked, shared with children forked afterwards.
    pub fn anonymous() -> Result<Self, CreateError> {
        Self::anonymous_with(&CreateOptions::new())
    }

    /// Creates an anonymous recursive lock with options (participants).
    pub fn anonymous_with(opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(LAYOUT, (), opts).map(|h| Self { h })
    }

    /// Removes the name `name`; processes that have the recursive lock open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RawRLock>::unlink(name)
    }

    /// A second handle to the same recursive lock, a participant of its own (one per thread).
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

    /// Acquires the lock (again, if this thread holds it).
    ///
    /// # Errors
    ///
    /// As [`Lock::lock`](crate::Lock::lock).
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Result<RLockGuard<'_>, LockError<RLockGuard<'_>>> {
        let me = me(&self.h).map_err(LockError::NoSlot)?;
        loop {
            let got = state(&self.h).lock_until(
                me,
                thread_id(),
                Deadline::never(),
                self.h.wait_strategy(),
                self.h.object(),
            );
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
    /// As [`Lock::try_lock`](crate::Lock::try_lock).
    pub fn try_lock(&self) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        self.lock_deadline(Deadline::now())
    }

    /// Acquires the lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Lock::lock_timeout`](crate::Lock::lock_timeout).
    #[doc(alias = "try_lock_for")]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        self.lock_deadline(Deadline::after(timeout))
    }

    /// Acquires the lock, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`Lock::lock_deadline`](crate::Lock::lock_deadline).
    #[doc(alias = "try_lock_until")]
    pub fn lock_deadline(&self, deadline: Deadline) -> Result<RLockGuard<'_>, TryLockError<RLockGuard<'_>>> {
        let me = me(&self.h).map_err(TryLockError::NoSlot)?;
        let got =
            state(&self.h).lock_until(me, thread_id(), deadline, self.h.wait_strategy(), self.h.object());
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
        let me = me(&self.h).map_err(|_| NotOwner)?;
        state(&self.h).unlock(me, thread_id())
    }

    /// The recursion depth (racy unless this thread holds the lock).
    pub fn depth(&self) -> u64 {
        state(&self.h).depth()
    }

    /// Whether some thread holds the lock (racy: for display).
    pub fn is_locked(&self) -> bool {
        state(&self.h).raw().owner() != 0
    }
}
