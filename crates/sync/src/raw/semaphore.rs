//! [`RawSemaphore`]: a counting semaphore, optionally bounded.

use shmkit_core::loom::atomic::{AtomicU32, Ordering};
use shmkit_core::{Deadline, EventCount, WaitStrategy};

/// Why a semaphore release was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A bounded semaphore is at its initial value: more releases than acquires.
    AboveMaximum {
        /// The semaphore's maximum.
        max: u32,
    },
}

impl std::fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AboveMaximum { max } => write!(
                f,
                "released too many times: the semaphore is already at its maximum of {max}; release only what you acquired"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// A semaphore as [`RawSemaphore::snapshot`] saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemaphoreSnapshot {
    /// The value.
    pub value: u32,
    /// The maximum.
    pub max: u32,
    /// How many wait for a unit.
    pub waiters: u32,
}

/// A counting semaphore.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawSemaphore {
    value: AtomicU32,
    /// The maximum value (set once by the creator).
    max: AtomicU32,
    waiters: EventCount,
}

impl RawSemaphore {
    /// A semaphore holding `value`, releasable up to `max`.
    pub fn new(value: u32, max: u32) -> Self {
        let s = Self::default();
        s.init(value, max);
        s
    }

    /// Sets the value and maximum (for creators of an in-place semaphore).
    pub fn init(&self, value: u32, max: u32) {
        self.max.store(max, Ordering::Relaxed);
        self.value.store(value, Ordering::Release);
    }

    /// The maximum stored by the creator (read it once, when attaching).
    pub fn stored_max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// Takes one unit if there is one. No system call.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let mut v = self.value.load(Ordering::Relaxed);
        while v > 0 {
            match self.value.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    /// Takes one unit, waiting until `deadline`. `false` on time-out.
    #[inline]
    pub fn acquire_until(&self, deadline: Deadline, strategy: WaitStrategy) -> bool {
        if self.try_acquire() {
            return true;
        }
        let got = self.waiters.wait_until(strategy, deadline, || self.try_acquire().then_some(())).is_some();
        if !got {
            self.waiters.notify_one();
        }
        got
    }

    /// Gives one unit back, up to `max` (the caller's copy of the maximum), and wakes a
    /// waiter if one sleeps.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::AboveMaximum`] if the value is already `max`.
    #[inline]
    pub fn release(&self, max: u32) -> Result<(), ReleaseError> {
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            if v >= max {
                return Err(ReleaseError::AboveMaximum { max });
            }
            match self.value.compare_exchange_weak(v, v + 1, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        self.waiters.notify_one();
        Ok(())
    }

    /// The current value (racy).
    #[inline]
    pub fn value(&self) -> u32 {
        self.value.load(Ordering::Relaxed)
    }

    /// The value, the maximum and the number of waiters, for display (racy).
    pub fn snapshot(&self) -> SemaphoreSnapshot {
        SemaphoreSnapshot {
            value: self.value(),
            max: self.max.load(Ordering::Relaxed),
            waiters: self.waiters.waiters(),
        }
    }
}
