//! shmkit's `multiprocessing.connection`: a [`Listener`] that accepts any number of
//! clients, a [`Client`] that connects to one, and the [`Connection`] between them, with
//! Python's authkey handshake.
//!
//! Two transports, one API:
//!
//! - **Shared memory** ([`Listener::bind`], [`Client::connect`]): a name, like every
//!   shmkit object. Each accepted connection is a pipe of its own, two rings the listener
//!   creates and both sides hold, reclaimed when both are gone. Clients wait in a
//!   [backlog](shm::backlog) of fixed size; a client that dies there or in the handshake
//!   never wedges `accept`, and a listener that dies fails connects at once. Rust
//!   programs only.
//! - **Sockets** ([`Listener::bind_unix`], [`bind_abstract`](Listener::bind_abstract),
//!   [`bind_tcp`](Listener::bind_tcp)): Python's wire protocol exactly, so a Rust program
//!   and a Python program talk, either side Python. Framing: a 4-byte signed big-endian
//!   length (or `-1` and an 8-byte length above 2 GiB), then the message; a negative
//!   length other than -1, or one above the receiver's maximum, is an error (Python
//!   silently reads the first as empty).
//!
//! Handshake (with an authkey): Python 3.12's, HMAC-SHA256 with a `{sha256}` prefix, both
//! ways, the listener first; over sockets, the legacy HMAC-MD5 form of Python 3.11 and
//! older when [`Options::allow_legacy`] says so. Frames capped at 256 bytes, MACs compared
//! in constant time.

// Under loom only the backlog's protocol is built: the handles over shared memory and
// sockets are not.
#![cfg_attr(shmkit_loom, allow(dead_code, unused_imports))]

#[cfg(not(shmkit_loom))]
pub mod auth;
#[cfg(shmkit_loom)]
#[path = "shm/backlog.rs"]
pub mod backlog;
#[cfg(not(shmkit_loom))]
mod conn;
#[cfg(not(shmkit_loom))]
mod error;
#[cfg(not(shmkit_loom))]
pub mod frame;
#[cfg(not(shmkit_loom))]
mod listener;
#[cfg(not(shmkit_loom))]
pub mod shm;

#[cfg(not(shmkit_loom))]
pub use conn::{Connection, DEFAULT_MAX_MESSAGE};
#[cfg(not(shmkit_loom))]
pub use error::ConnError;
#[cfg(not(shmkit_loom))]
pub use listener::{Client, Listener, Options, DEFAULT_HANDSHAKE_TIMEOUT};
#[cfg(not(shmkit_loom))]
pub use shm::{inspect, DEFAULT_BACKLOG, MAX_BACKLOG};
