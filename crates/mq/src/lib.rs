//! shmkit's message queue: Python's `multiprocessing.Queue` for messages of any type and
//! size between processes, in a pool of chunks in shared memory, surviving processes
//! killed at any point.
//!
//! - [`MessageQueue`]: bytes (`put_bytes`/`get_bytes`), or serde values (`put`/`get`,
//!   with the `serde` feature: strings, tuples, vectors, maps, your structs), with
//!   Python's `maxsize`, `qsize`, `empty`, `full`, `close`, and the four wait forms.
//! - [`SimpleQueue`]: Python's `SimpleQueue` (`put`, `get`, `empty`, `close`).
//!
//! The Pod `Queue<T>` of `shmkit-queue` stays the fastest path for fixed-size items.

// Under loom only the pool's algorithm is built; the handles over it are not.
#![cfg_attr(shmkit_loom, allow(dead_code, unused_imports))]

mod error;
pub mod heap;
#[cfg(not(shmkit_loom))]
mod inspect;
#[cfg(not(shmkit_loom))]
mod layout;
pub mod pool;
#[cfg(not(shmkit_loom))]
mod queue;
#[cfg(not(shmkit_loom))]
mod simple;
pub mod state;

pub use error::MessageError;
#[cfg(not(shmkit_loom))]
pub use inspect::inspect;
#[cfg(not(shmkit_loom))]
pub use layout::{MessageQueueOptions, DEFAULT_CHUNK_SIZE, DEFAULT_MAXSIZE, DEFAULT_POOL_BYTES, MAX_MAXSIZE};
#[cfg(not(shmkit_loom))]
pub use queue::{Loan, MessageQueue, MessageView, PoolState};
#[cfg(not(shmkit_loom))]
pub use simple::SimpleQueue;

#[cfg(test)]
mod tests;
