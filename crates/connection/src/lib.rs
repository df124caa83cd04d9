//! shmkit's `multiprocessing.connection`: a [`Listener`] that accepts any number of
//! clients, a [`Client`] that connects to one, and the [`Connection`] between them, with
//! Python's authkey handshake and framing, over AF_UNIX and TCP sockets. A Rust program
//! and a Python program talk: either side may be Python.
//!
//! - Framing: a 4-byte signed big-endian length (or `-1` and an 8-byte length above
//!   2 GiB), then the message. A negative length other than -1, or one above the
//!   receiver's maximum, is an error (Python silently reads the first as empty).
//! - Handshake (with an authkey): Python 3.12's, HMAC-SHA256 with a `{sha256}` prefix,
//!   both ways, the listener first; the legacy HMAC-MD5 form of Python 3.11 and older
//!   when [`Options::allow_legacy`] says so. Frames capped at 256 bytes, MACs compared in
//!   constant time.

pub mod auth;
mod conn;
mod error;
pub mod frame;
mod listener;

pub use conn::{Connection, DEFAULT_MAX_MESSAGE};
pub use error::ConnError;
pub use listener::{Client, Listener, Options, DEFAULT_HANDSHAKE_TIMEOUT};
