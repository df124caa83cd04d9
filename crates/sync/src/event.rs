//! [`Event`]: a flag that processes wait for.

use std::time::Duration;

use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    UnlinkError, WaitStrategy,
};

use crate::layout::{state, Handle, Single};
use crate::raw::RawEvent;

const LAYOUT: Single<RawEvent> = Single::of(Kind::Event);

/// A flag shared between processes: Python's `multiprocessing.Event`.
///
/// `set`, `clear` and `is_set` are single atomic instructions; `set` makes a system call
/// only when someone sleeps in `wait`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::Event;
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
    /// Creates the named event `name`, cleared. Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Self::create_with(name, &CreateOptions::new())
    }

    /// Creates the named event `name` with options (file mode, participants).
    pub fn create_with(name: &str, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(LAYOUT, name, (), opts).map(|h| Self { h })
    }

    /// Opens the named event `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named event `name` with options.
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

    /// Opens `name`, or creates it as a new event, cleared.
    pub fn open_or_create(name: &str) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(LAYOUT, name, ()).map(|h| Self { h })
    }

    /// Creates an anonymous event, cleared, shared with children forked afterwards.
    pub fn anonymous() -> Result<Self, CreateError> {
        Self::anonymous_with(&CreateOptions::new())
    }

    /// Creates an anonymous event with options (participants).
    pub fn anonymous_with(opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(LAYOUT, (), opts).map(|h| Self { h })
    }

    /// Removes the name `name`; processes that have the event open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RawEvent>::unlink(name)
    }

    /// A second handle to the same event, a participant of its own (one per thread).
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

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        state(&self.h).set();
    }

    /// Clears the flag.
    pub fn clear(&self) {
        state(&self.h).clear();
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        state(&self.h).is_set()
    }

    /// Waits until the flag is set.
    pub fn wait(&self) {
        while !self.wait_deadline(Deadline::never()) {}
    }

    /// Whether the flag is set, without waiting: the non-blocking form of
    /// [`wait`](Self::wait).
    pub fn try_wait(&self) -> bool {
        self.is_set()
    }

    /// Waits at most `timeout` for the flag; returns it (as Python does).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(Deadline::after(timeout))
    }

    /// Waits until `deadline` for the flag; returns it.
    pub fn wait_deadline(&self, deadline: Deadline) -> bool {
        state(&self.h).wait_until(deadline, self.h.wait_strategy())
    }
}
