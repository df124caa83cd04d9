//! shmkit's synchronisation primitives: Python's `multiprocessing` `Lock`, `RLock`,
//! `Semaphore`, `BoundedSemaphore`, `Event`, `Condition` and `Barrier`, in shared memory.
//!
//! Each one is usable two ways:
//!
//! - **named**, as a shmkit object that any process opens by name (`create`, `open`,
//!   `open_or_create`), or **anonymous**, shared with children forked after it was made;
//! - **in place**: the [`raw`] forms are `#[repr(C)]` states of atomics that other
//!   primitives embed in their own segments (a Value's lock, a queue's condition), and that
//!   tests run on the heap under loom and Miri.
//!
//! Uncontended, every operation is atomics only: acquiring and releasing a free lock or
//! semaphore, setting or testing an event, make no system call. Blocked calls spin
//! briefly, then sleep on a futex in the shared memory (see
//! [`WaitStrategy`](shmkit_core::WaitStrategy)), and every blocking call has `_timeout`
//! and `_deadline` forms.
//!
//! # Crashes
//!
//! A lock records the participant id of the process that holds it. If that process dies
//! holding it (`kill -9` included), the next process to lock it takes it over and is told
//! so, once, through [`LockError::OwnerDied`], which carries the guard: repair the data
//! the lock protects, and go on. Processes already blocked on the lock notice within
//! [`RECHECK_INTERVAL`](shmkit_core::RECHECK_INTERVAL). A [`Barrier`] whose party dies
//! breaks, and its waiters return [`BarrierError::Broken`].
//!
//! # Example: ten processes printing under a lock
//!
//! ```no_run
//! use shmkit::Lock;
//!
//! // Process 1
//! let lock = Lock::create("print")?;
//! // Processes 2..=11
//! let lock = Lock::open("print")?;
//! let guard = lock.lock().unwrap_or_else(|died| died.into_guard().expect("a participant slot"));
//! println!("hello world");
//! drop(guard);
//! // Process 1, once the others are done
//! Lock::unlink("print")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(not(shmkit_loom))]
mod barrier;
#[cfg(not(shmkit_loom))]
mod condition;
#[cfg(not(shmkit_loom))]
mod event;
#[cfg(not(shmkit_loom))]
mod inspect;
#[cfg(not(shmkit_loom))]
mod layout;
#[cfg(not(shmkit_loom))]
mod lock;
pub mod raw;
#[cfg(not(shmkit_loom))]
mod rlock;
#[cfg(not(shmkit_loom))]
mod semaphore;

#[cfg(not(shmkit_loom))]
pub use barrier::{Barrier, MAX_PARTIES};
#[cfg(not(shmkit_loom))]
pub use condition::{Condition, ConditionGuard};
#[cfg(not(shmkit_loom))]
pub use event::Event;
#[cfg(not(shmkit_loom))]
pub use inspect::inspect;
#[cfg(not(shmkit_loom))]
pub use lock::{Lock, LockError, LockGuard, TryLockError};
pub use raw::{BarrierError, NotOwner, ReleaseError};
#[cfg(not(shmkit_loom))]
pub use rlock::{RLock, RLockGuard};
#[cfg(not(shmkit_loom))]
pub use semaphore::{BoundedSemaphore, Semaphore, MAX_VALUE};

#[cfg(test)]
mod tests;
