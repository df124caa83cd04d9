//! shmkit's pipes: Python's `multiprocessing.Pipe` over shared memory.
//!
//! - [`Pipe::new`] gives two connected duplex [`Connection`]s; [`Pipe::simplex`] a
//!   [`Receiver`] and a [`Sender`], distinct types, so that sending on the receive end
//!   does not compile. Both are anonymous (inherited across fork); named pipes are made
//!   with `create` in one process and `open` in the other.
//! - Messages are byte strings of any length up to a limit (1 GiB unless raised, at most
//!   4 GiB - 1): `send_bytes`, `recv_bytes`, `recv_bytes_into`, `poll`.
//! - Each direction is an SPSC byte ring (the queue crate's [`Port`](shmkit_queue::spsc::Port));
//!   a message is a frame of length, flags and payload padded to 8 bytes, and a message
//!   larger than the ring streams through it.
//! - When the other end closes, is dropped or dies, a receive drains what it sent and
//!   then reports [`RecvError::Disconnected`] (Python's `EOFError`), and a send fails with
//!   [`SendError::Disconnected`].

// Under loom only the framing and the heap ring are built; the handles over shared
// memory are not.
#![cfg_attr(shmkit_loom, allow(dead_code, unused_imports))]

#[cfg(not(shmkit_loom))]
mod api;
#[cfg(not(shmkit_loom))]
mod conn;
mod error;
pub mod frame;
pub mod heap;
#[cfg(not(shmkit_loom))]
mod inspect;
#[cfg(not(shmkit_loom))]
mod layout;
pub mod stream;

#[cfg(test)]
mod tests;

#[cfg(not(shmkit_loom))]
pub use conn::{Connection, Pipe, Receiver, Sender};
pub use error::{RecvError, SendError};
#[cfg(not(shmkit_loom))]
pub use inspect::inspect;
#[cfg(not(shmkit_loom))]
pub use layout::{PipeOptions, DEFAULT_CAPACITY, DEFAULT_MAX_MESSAGE, MAX_CAPACITY, MIN_CAPACITY};
