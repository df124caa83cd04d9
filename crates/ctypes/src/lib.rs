//! Python's `multiprocessing.sharedctypes` in shared memory: [`Value<T>`] and
//! [`Array<T>`], for any `T: bytemuck::Pod`.
//!
//! ```
//! use shmkit::{Array, Value};
//!
//! // num = Value('d', 0.0); arr = Array('i', range(10))
//! let num = Value::<f64>::anonymous(0.0)?;
//! let arr = Array::<i32>::anonymous(&(0..10).collect::<Vec<_>>())?;
//!
//! // In a child process: num.value = 3.1415927; arr[i] = -arr[i]
//! num.store(3.1415927)?;
//! {
//!     let mut guard = arr.get_lock().unwrap();
//!     guard.update(|a| a.iter_mut().for_each(|x| *x = -*x));
//! }
//! assert_eq!(num.load(), 3.1415927);
//! assert_eq!(arr.to_vec(), (0..10).map(|x| -x).collect::<Vec<_>>());
//!
//! // with v.get_lock(): v.value += 1
//! let counter = Value::<i64>::anonymous(0)?;
//! counter.get_lock().unwrap().update(|v| v + 1);
//! counter.fetch_add(1); // or lock-free
//! assert_eq!(counter.load(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Reads never see half a write, and take no lock:
//!
//! - A [`Value`]'s `load` never waits on a writer, whatever the writer does (stopped by
//!   SIGSTOP or a debugger, or killed, in the middle of a store). A `T` of 1, 2, 4 or 8
//!   bytes is one atomic word; a larger `T` has two copies and a version word: a store
//!   fills the copy readers are not using, then publishes it ([`twin`]).
//! - An [`Array`]'s reads use a sequence lock (odd while a write is in flight) with
//!   word-wise atomic copies, retried until consistent ([`seqlock`]): one copy of the
//!   elements, so a reader does wait while a live writer is stopped in the middle of a
//!   write; the `try_`, `_timeout` and `_deadline` forms of `get` and `to_vec` give up
//!   with [`ArrayError::ReadTimeout`] instead.
//!
//! Writes hold the object's crash-aware lock: if a writer dies in the middle, readers go
//! on (a Value's never saw its scratch copy; an Array's notice the death and close the
//! write), and the next `get_lock` reports
//! [`LockError::OwnerDied`](shmkit_sync::LockError::OwnerDied) so the data can be
//! repaired.
//!
//! The layout (header, then a 128-byte control block, then the elements) is documented in
//! the repository's `python/shmkit.py`, which attaches to these objects from Python.

#[cfg(not(shmkit_loom))]
mod array;
#[cfg(not(shmkit_loom))]
mod block;
#[cfg(not(shmkit_loom))]
mod inspect;
#[cfg(not(shmkit_loom))]
mod int;
#[cfg(not(shmkit_loom))]
mod range;
pub mod seqlock;
pub mod twin;
#[cfg(not(shmkit_loom))]
mod value;

#[cfg(not(shmkit_loom))]
pub use array::{Array, ArrayError, ArrayGuard};
#[cfg(not(shmkit_loom))]
pub use block::{type_desc, CChar, DATA_OFFSET};
#[cfg(not(shmkit_loom))]
pub use inspect::inspect;
#[cfg(not(shmkit_loom))]
pub use int::AtomicInt;
#[cfg(not(shmkit_loom))]
pub use range::ArrayChunk;
#[cfg(not(shmkit_loom))]
pub use value::{Value, ValueGuard};
