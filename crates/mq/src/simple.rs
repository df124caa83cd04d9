//! [`SimpleQueue`]: Python's `multiprocessing.SimpleQueue`.

use shmkit_core::{CreateError, OpenError};

use crate::error::MessageError;
use crate::queue::MessageQueue;

/// Python's `multiprocessing.SimpleQueue`: `put`, `get`, `empty` and `close`, nothing
/// else; unbounded as far as its pool allows (by default 8 192 messages, one 512-byte
/// chunk each at least, in 4 MiB). A
/// [`MessageQueue`] underneath ([`queue`](Self::queue) for the rest).
///
/// ```
/// use shmkit::SimpleQueue;
///
/// let q = SimpleQueue::new()?;
/// q.put_bytes(b"job 1")?;
/// assert!(!q.empty());
/// assert_eq!(q.get_bytes()?, b"job 1");
/// assert!(q.empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SimpleQueue {
    q: MessageQueue,
}

impl SimpleQueue {
    /// An anonymous simple queue, shared with children forked afterwards: Python's
    /// `SimpleQueue()`.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::anonymous`].
    pub fn new() -> Result<Self, CreateError> {
        MessageQueue::anonymous(0).map(|q| Self { q })
    }

    /// Creates the named simple queue `name`.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::create`].
    pub fn create(name: &str) -> Result<Self, CreateError> {
        MessageQueue::create(name, 0).map(|q| Self { q })
    }

    /// Opens the named simple queue (or message queue) `name`.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::open`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        MessageQueue::open(name).map(|q| Self { q })
    }

    /// Puts the bytes `msg`, waiting for room.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::put_bytes`].
    pub fn put_bytes(&self, msg: &[u8]) -> Result<(), MessageError> {
        self.q.put_bytes(msg)
    }

    /// Takes the next message, waiting for one.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::get_bytes`].
    pub fn get_bytes(&self) -> Result<Vec<u8>, MessageError> {
        self.q.get_bytes()
    }

    /// Puts `value`, waiting for room: Python's `put(obj)`.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::put`].
    #[cfg(feature = "serde")]
    pub fn put<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), MessageError> {
        self.q.put(value)
    }

    /// Takes the next message as a `T`, waiting for one: Python's `get()`.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::get`].
    #[cfg(feature = "serde")]
    pub fn get<T: serde::de::DeserializeOwned>(&self) -> Result<T, MessageError> {
        self.q.get()
    }

    /// Whether no message is queued (racy): Python's `empty()`.
    pub fn empty(&self) -> bool {
        self.q.empty()
    }

    /// Closes the queue (see [`MessageQueue::close`]).
    pub fn close(&self) {
        self.q.close();
    }

    /// The message queue underneath.
    pub fn queue(&self) -> &MessageQueue {
        &self.q
    }
}
