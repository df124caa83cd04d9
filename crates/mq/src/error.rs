//! What a message queue's calls can fail with.

use std::fmt;

/// Why a `put` or `get` on a [`MessageQueue`](crate::MessageQueue) failed.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum MessageError {
    /// The message is larger than the queue's pool could ever hold (or than 2 GiB - 1).
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The largest message the pool holds.
        max: usize,
    },
    /// Nothing came (for `get`), or no room was made (for `put`), by the deadline; for a
    /// `try_` form: not now.
    Timeout,
    /// The queue was closed: `put` fails; `get` fails once the queue is empty.
    Closed,
    /// This process could not register as a participant of the queue's object.
    NoSlot,
    /// The buffer given to `get_bytes_into` is too short. As Python's
    /// `recv_bytes_into`, the message was taken all the same: here it is.
    BufferTooShort {
        /// The message's length.
        needed: usize,
        /// The message.
        message: Vec<u8>,
    },
    /// `task_done` was called more times than messages were put.
    TooManyTaskDone,
    /// The value could not be encoded.
    #[cfg(feature = "serde")]
    Encode(postcard::Error),
    /// A typed message could not be read as the type asked for (another type, raw bytes,
    /// or bytes that do not decode); the message is consumed.
    #[cfg(feature = "serde")]
    Typed(shmkit_core::typed::TypedError),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => write!(
                f,
                "a message of {len} bytes can never fit: the queue's pool holds {max}; create it with a larger \
                 pool (MessageQueueOptions::pool_bytes)"
            ),
            Self::Timeout => f.write_str("nothing could be done before the deadline: wait longer, or retry"),
            Self::Closed => f.write_str("the queue is closed (and, for a get, empty)"),
            Self::NoSlot => f.write_str(
                "the queue's participant table is full: every slot is held by a live process; end one of them",
            ),
            Self::BufferTooShort { needed, .. } => write!(
                f,
                "the message has {needed} bytes, more than the buffer holds; it was taken and is in this error \
                 (`message`): give get_bytes_into a buffer of at least the largest message's size"
            ),
            Self::TooManyTaskDone => f.write_str(
                "task_done was called more times than there were messages put: call it once per message got",
            ),
            #[cfg(feature = "serde")]
            Self::Encode(e) => write!(f, "the value could not be encoded: {e}"),
            #[cfg(feature = "serde")]
            Self::Typed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MessageError {}
