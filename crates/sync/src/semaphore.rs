//! [`Semaphore`] and [`BoundedSemaphore`].

use std::time::Duration;

use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    UnlinkError, WaitStrategy,
};

use crate::layout::{state, Handle, Single, State};
use crate::raw::{RawSemaphore, ReleaseError};

const LAYOUT: Single<RawSemaphore> = Single::of(Kind::Semaphore);
const BOUNDED: Single<RawSemaphore> = Single::of(Kind::BoundedSemaphore);

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
/// use shmkit::Semaphore;
/// let name = format!("example-sem-{}", std::process::id());
///
/// let sem = Semaphore::create(&name, 2)?;
/// sem.acquire();
/// assert!(sem.try_acquire());
/// assert!(!sem.try_acquire());
/// sem.release()?;
/// assert_eq!(sem.value(), 1);
/// Semaphore::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Semaphore {
    h: Handle<RawSemaphore>,
}

/// A semaphore's state holds its maximum: [`MAX_VALUE`], or a bounded semaphore's initial
/// value. An opener reads it once and keeps it.
impl State for RawSemaphore {
    const NAME: &'static str = "shmkit_sync::raw::RawSemaphore";
    /// The initial value and the maximum.
    type Params = (u32, u32);
    /// The maximum.
    type Checked = u32;

    fn validate(&(value, max): &(u32, u32)) -> Result<(), CreateError> {
        let bad = |reason| Err(CreateError::InvalidSize { size: u64::from(value), reason });
        if max == 0 {
            return bad("a bounded semaphore's initial value is its maximum, so it must be at least 1");
        }
        if value > max.min(MAX_VALUE) {
            return bad("a semaphore's value must be at most shmkit_sync::MAX_VALUE");
        }
        Ok(())
    }

    fn build(&self, (value, max): (u32, u32)) {
        self.init(value, max);
    }

    fn check(&self) -> Result<u32, OpenError> {
        let max = self.stored_max();
        if max == 0 || max > MAX_VALUE {
            return Err(OpenError::Corrupt { reason: "semaphore maximum out of range" });
        }
        Ok(max)
    }
}

impl Semaphore {
    /// Creates the named semaphore `name` holding `value` (at most [`MAX_VALUE`]). Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, value: u32) -> Result<Self, CreateError> {
        Self::create_with(name, value, &CreateOptions::new())
    }

    /// Creates the named semaphore `name` with options (file mode, participants).
    pub fn create_with(name: &str, value: u32, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(LAYOUT, name, (value, MAX_VALUE), opts).map(|h| Self { h })
    }

    /// Opens the named semaphore `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named semaphore `name` with options.
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

    /// Opens `name`, or creates it as a new semaphore holding `value` (at most [`MAX_VALUE`]).
    pub fn open_or_create(name: &str, value: u32) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(LAYOUT, name, (value, MAX_VALUE)).map(|h| Self { h })
    }

    /// Creates an anonymous semaphore holding `value` (at most [`MAX_VALUE`]), shared with children forked afterwards.
    pub fn anonymous(value: u32) -> Result<Self, CreateError> {
        Self::anonymous_with(value, &CreateOptions::new())
    }

    /// Creates an anonymous semaphore with options (participants).
    pub fn anonymous_with(value: u32, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(LAYOUT, (value, MAX_VALUE), opts).map(|h| Self { h })
    }

    /// Removes the name `name`; processes that have the semaphore open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RawSemaphore>::unlink(name)
    }

    /// A second handle to the same semaphore, a participant of its own (one per thread).
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

    /// Takes one unit, waiting as long as it takes.
    pub fn acquire(&self) {
        while !self.acquire_deadline(Deadline::never()) {}
    }

    /// Takes one unit if there is one, without waiting.
    pub fn try_acquire(&self) -> bool {
        state(&self.h).try_acquire()
    }

    /// Takes one unit, waiting at most `timeout`; `false` if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.acquire_deadline(Deadline::after(timeout))
    }

    /// Takes one unit, waiting until `deadline`; `false` if none came.
    pub fn acquire_deadline(&self, deadline: Deadline) -> bool {
        state(&self.h).acquire_until(deadline, self.h.wait_strategy())
    }

    /// Gives one unit back, waking a waiter if one sleeps.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::AboveMaximum`] for a [`BoundedSemaphore`] already at its initial
    /// value, or any semaphore at [`MAX_VALUE`].
    pub fn release(&self) -> Result<(), ReleaseError> {
        state(&self.h).release(self.h.geometry().checked)
    }

    /// The current value (racy): Python's `get_value()`.
    #[doc(alias = "get_value")]
    pub fn value(&self) -> u32 {
        state(&self.h).value()
    }
}

/// A semaphore that refuses to be released above its initial value: Python's
/// `multiprocessing.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// use shmkit::BoundedSemaphore;
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
    /// Creates the named bounded semaphore `name` holding (and bounded by) `value`, at least 1. Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, value: u32) -> Result<Self, CreateError> {
        Self::create_with(name, value, &CreateOptions::new())
    }

    /// Creates the named bounded semaphore `name` with options (file mode, participants).
    pub fn create_with(name: &str, value: u32, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(BOUNDED, name, (value, value), opts).map(|h| Self(Semaphore { h }))
    }

    /// Opens the named bounded semaphore `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named bounded semaphore `name` with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(BOUNDED, name, opts).map(|h| Self(Semaphore { h }))
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

    /// Opens `name`, or creates it as a new bounded semaphore holding (and bounded by) `value`, at least 1.
    pub fn open_or_create(name: &str, value: u32) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(BOUNDED, name, (value, value)).map(|h| Self(Semaphore { h }))
    }

    /// Creates an anonymous bounded semaphore holding (and bounded by) `value`, at least 1, shared with children forked afterwards.
    pub fn anonymous(value: u32) -> Result<Self, CreateError> {
        Self::anonymous_with(value, &CreateOptions::new())
    }

    /// Creates an anonymous bounded semaphore with options (participants).
    pub fn anonymous_with(value: u32, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(BOUNDED, (value, value), opts).map(|h| Self(Semaphore { h }))
    }

    /// Removes the name `name`; processes that have the bounded semaphore open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RawSemaphore>::unlink(name)
    }

    /// A second handle to the same bounded semaphore, a participant of its own (one per thread).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.0.h.try_clone().map(|h| Self(Semaphore { h }))
    }

    /// The underlying object (its name, header and participants).
    pub fn object(&self) -> &Object {
        self.0.h.object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.0.h.set_wait_strategy(strategy);
    }

    /// The maximum (the initial value).
    pub fn max(&self) -> u32 {
        self.0.h.geometry().checked
    }
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
