//! [`Semaphore`] and [`BoundedSemaphore`].

use std::time::Duration;

use shmkit_core::{CreateError, CreateOptions, Deadline, Kind, OpenError, OpenOptions, OpenOrCreateError};
use shmkit_core::{Object, WaitStrategy};

use crate::named::Handle;
use crate::raw::{RawSemaphore, ReleaseError};

/// The largest value a semaphore holds (as POSIX's `SEM_VALUE_MAX`).
pub const MAX_VALUE: u32 = i32::MAX as u32;

/// A counting semaphore shared between processes: Python's `multiprocessing.Semaphore`.
///
/// `acquire` takes one unit, waiting while there is none; `release` gives one back.
/// Uncontended, both are one atomic instruction, no system call. A process that dies
/// holding units does not give them back (as with POSIX semaphores).
///
/// # Examples
///
/// ```
/// use shmkit_sync::Semaphore;
/// # let name = format!("doc-sem-{}", std::process::id());
///
/// let sem = Semaphore::create(&name, 2)?;
/// sem.acquire();
/// assert!(sem.try_acquire());
/// assert!(!sem.try_acquire());
/// sem.release()?;
/// assert_eq!(sem.value(), 1);
/// # Semaphore::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Semaphore {
    h: Handle<RawSemaphore>,
    /// The maximum, read once when attaching.
    max: u32,
}

fn check_value(value: u32, max: u32) -> Result<(), CreateError> {
    if value > max {
        return Err(CreateError::InvalidSize {
            size: u64::from(value),
            reason: "a semaphore's value must be at most shmkit_sync::MAX_VALUE",
        });
    }
    Ok(())
}

impl Semaphore {
    fn attach(h: Handle<RawSemaphore>) -> Result<Self, OpenError> {
        let max = h.raw().stored_max();
        if max == 0 || max > MAX_VALUE {
            return Err(OpenError::Corrupt { reason: "semaphore maximum out of range" });
        }
        Ok(Self { h, max })
    }

    fn create_kind(name: &str, kind: Kind, value: u32, max: u32) -> Result<Self, CreateError> {
        check_value(value, MAX_VALUE)?;
        let h = Handle::create(name, kind, &CreateOptions::new(), |r: &RawSemaphore| r.init(value, max))?;
        Ok(Self { h, max })
    }

    fn open_kind(name: &str, kind: Kind) -> Result<Self, OpenError> {
        Self::attach(Handle::open(name, kind, &OpenOptions::new())?)
    }

    fn open_or_create_kind(name: &str, kind: Kind, value: u32, max: u32) -> Result<Self, OpenOrCreateError> {
        check_value(value, MAX_VALUE)?;
        let h = Handle::open_or_create(name, kind, |r: &RawSemaphore| r.init(value, max))?;
        Ok(Self::attach(h)?)
    }

    fn anonymous_kind(kind: Kind, value: u32, max: u32) -> Result<Self, CreateError> {
        check_value(value, MAX_VALUE)?;
        let h = Handle::anonymous(kind, |r: &RawSemaphore| r.init(value, max))?;
        Ok(Self { h, max })
    }

    /// Creates the named semaphore `name` holding `value`.
    ///
    /// # Errors
    ///
    /// [`CreateError::InvalidSize`] if `value` exceeds [`MAX_VALUE`]; otherwise as
    /// [`Object::create`].
    pub fn create(name: &str, value: u32) -> Result<Self, CreateError> {
        Self::create_kind(name, Kind::Semaphore, value, MAX_VALUE)
    }

    /// Opens the named semaphore `name`.
    ///
    /// # Errors
    ///
    /// As [`Object::open`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_kind(name, Kind::Semaphore)
    }

    /// Opens `name`, or creates it holding `value`.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str, value: u32) -> Result<Self, OpenOrCreateError> {
        Self::open_or_create_kind(name, Kind::Semaphore, value, MAX_VALUE)
    }

    /// Creates an anonymous semaphore holding `value`, shared with children forked
    /// afterwards.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn anonymous(value: u32) -> Result<Self, CreateError> {
        Self::anonymous_kind(Kind::Semaphore, value, MAX_VALUE)
    }

    /// Removes the name `name`.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), shmkit_core::UnlinkError> {
        shmkit_core::segment::unlink(name)
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.h.strategy = strategy;
    }

    /// Takes one unit, waiting as long as it takes.
    pub fn acquire(&self) {
        while !self.acquire_deadline(Deadline::never()) {}
    }

    /// Takes one unit if there is one, without waiting.
    pub fn try_acquire(&self) -> bool {
        self.h.raw().try_acquire()
    }

    /// Takes one unit, waiting at most `timeout`; `false` if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_deadline(Deadline::after(timeout))
    }

    /// Takes one unit, waiting until `deadline`; `false` if none came.
    pub fn acquire_deadline(&self, deadline: Deadline) -> bool {
        self.h.raw().acquire_until(deadline, self.h.strategy)
    }

    /// Gives one unit back, waking a waiter if one sleeps.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::AboveMaximum`] for a [`BoundedSemaphore`] already at its initial
    /// value, or any semaphore at [`MAX_VALUE`].
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.h.raw().release(self.max)
    }

    /// The current value (racy): Python's `get_value()`.
    #[doc(alias = "get_value")]
    pub fn value(&self) -> u32 {
        self.h.raw().value()
    }

    /// The underlying object.
    pub fn object(&self) -> &Object {
        self.h.object()
    }
}

/// A semaphore that refuses to be released above its initial value: Python's
/// `multiprocessing.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// use shmkit_sync::BoundedSemaphore;
///
/// let sem = BoundedSemaphore::anonymous(1)?;
/// assert!(sem.release().is_err()); // more releases than acquires
/// sem.acquire();
/// sem.release()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore(Semaphore);

impl BoundedSemaphore {
    /// Creates the named bounded semaphore `name` holding (and bounded by) `value`.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::create`]; `value` 0 is [`CreateError::InvalidSize`].
    pub fn create(name: &str, value: u32) -> Result<Self, CreateError> {
        check_bounded(value)?;
        Semaphore::create_kind(name, Kind::BoundedSemaphore, value, value).map(Self)
    }

    /// Opens the named bounded semaphore `name`.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::open`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Semaphore::open_kind(name, Kind::BoundedSemaphore).map(Self)
    }

    /// Opens `name`, or creates it holding `value`.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str, value: u32) -> Result<Self, OpenOrCreateError> {
        check_bounded(value)?;
        Semaphore::open_or_create_kind(name, Kind::BoundedSemaphore, value, value).map(Self)
    }

    /// Creates an anonymous bounded semaphore holding `value`.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn anonymous(value: u32) -> Result<Self, CreateError> {
        check_bounded(value)?;
        Semaphore::anonymous_kind(Kind::BoundedSemaphore, value, value).map(Self)
    }

    /// The maximum (the initial value).
    pub fn max(&self) -> u32 {
        self.0.max
    }
}

fn check_bounded(value: u32) -> Result<(), CreateError> {
    if value == 0 {
        return Err(CreateError::InvalidSize {
            size: 0,
            reason: "a bounded semaphore's initial value is its maximum, so it must be at least 1",
        });
    }
    Ok(())
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;

    fn deref(&self) -> &Semaphore {
        &self.0
    }
}

impl std::ops::DerefMut for BoundedSemaphore {
    fn deref_mut(&mut self) -> &mut Semaphore {
        &mut self.0
    }
}
