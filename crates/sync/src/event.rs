//! [`Event`]: a flag that processes wait for.

use std::time::Duration;

use shmkit_core::{Deadline, Kind};

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
    crate::named::plain_constructors!(Kind::Event, "event");

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
}
