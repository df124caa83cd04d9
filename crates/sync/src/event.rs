//! [`Event`]: a flag that processes wait for.

use std::time::Duration;

use shmkit_core::WaitStrategy;
use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
};

use crate::named::Handle;
use crate::raw::RawEvent;

/// A flag shared between processes: Python's `multiprocessing.Event`.
///
/// `set`, `clear` and `is_set` are single atomic instructions; `set` makes a system call
/// only when someone sleeps in `wait`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit_sync::Event;
///
/// let ev = Event::anonymous()?;
/// assert!(!ev.wait_timeout(Duration::from_millis(1)));
/// ev.set();
/// assert!(ev.is_set());
/// ev.wait();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Event {
    h: Handle<RawEvent>,
}

impl Event {
    /// Creates the named event `name`, cleared.
    ///
    /// # Errors
    ///
    /// As [`Object::create`].
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Handle::create(name, Kind::Event, &CreateOptions::new(), |_| {}).map(|h| Self { h })
    }

    /// Opens the named event `name`.
    ///
    /// # Errors
    ///
    /// As [`Object::open`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Handle::open(name, Kind::Event, &OpenOptions::new()).map(|h| Self { h })
    }

    /// Opens `name`, or creates it cleared.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(name, Kind::Event, |_| {}).map(|h| Self { h })
    }

    /// Creates an anonymous event, shared with children forked afterwards.
    ///
    /// # Errors
    ///
    /// As [`Object::anonymous`].
    pub fn anonymous() -> Result<Self, CreateError> {
        Handle::anonymous(Kind::Event, |_| {}).map(|h| Self { h })
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

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.h.raw().set();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.h.raw().clear();
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.h.raw().is_set()
    }

    /// Waits until the flag is set.
    pub fn wait(&self) {
        while !self.wait_deadline(Deadline::never()) {}
    }

    /// Waits at most `timeout` for the flag; returns it (as Python does).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(Deadline::after(timeout))
    }

    /// Waits until `deadline` for the flag; returns it.
    pub fn wait_deadline(&self, deadline: Deadline) -> bool {
        self.h.raw().wait_until(deadline, self.h.strategy)
    }

    /// The underlying object.
    pub fn object(&self) -> &Object {
        self.h.object()
    }
}
