//! shmkit's ring-buffer queues in shared memory.
//!
//! - [`Queue<T>`]: Python's `multiprocessing.Queue`: bounded, multi-producer
//!   multi-consumer, lock-free (Vyukov's ring with per-slot sequence numbers), with
//!   blocking, non-blocking and timed `put`/`get`, `close`, in-place and batch forms, and
//!   recovery from producers and consumers killed half-way through an operation.
//! - [`JoinableQueue<T>`]: the same, with `task_done` and `join`.
//! - [`spsc`]: one producer, one consumer: a Lamport ring with cached indices, the
//!   fastest path between two processes.
//!
//! Items are `T: bytemuck::Pod`: plain bytes, copied into the ring (or written in place
//! with `put_with`). Any bits a peer leaves in a slot are a valid `T`.
//!
//! ```
//! use shmkit::Queue;
//!
//! let q = Queue::<[u8; 16]>::anonymous(10)?;
//! // In a forked child: q.put(*b"hello from child")
//! q.put(*b"hello from child")?;
//! assert_eq!(&q.get()?, b"hello from child");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Under loom only the rings are built; the handles over them are not.
#![cfg_attr(shmkit_loom, allow(dead_code, unused_macros, unused_imports))]

pub(crate) mod api;
#[cfg(not(shmkit_loom))]
mod blocking;
mod error;
pub mod heap;
#[cfg(not(shmkit_loom))]
mod inspect;
#[cfg(not(shmkit_loom))]
mod joinable;
pub mod lamport;
#[cfg(not(shmkit_loom))]
mod options;
#[cfg(not(shmkit_loom))]
mod queue;
pub mod ring;
#[cfg(not(shmkit_loom))]
pub mod spsc;

pub use error::{
    Fail, GetError, GetTimeoutError, JoinTimeoutError, PutError, PutTimeoutError, TaskDoneError, TryGetError,
    TryPutError,
};
#[cfg(not(shmkit_loom))]
pub use inspect::{inspect, spsc_ring};
#[cfg(not(shmkit_loom))]
pub use joinable::JoinableQueue;
#[cfg(not(shmkit_loom))]
pub use options::{QueueOptions, MAX_CAPACITY};
#[cfg(not(shmkit_loom))]
pub use queue::{Queue, Repairs};

#[cfg(test)]
mod tests;
