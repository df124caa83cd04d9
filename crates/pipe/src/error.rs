//! The errors of pipe operations.

use std::fmt;

use shmkit_queue::Fail;

/// Why a message was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The other end closed the pipe, dropped its end or died (Python's
    /// `BrokenPipeError`). Part of a message that was streaming may have been written.
    Disconnected,
    /// The message is longer than this end sends.
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The limit (see `set_max_send` and `set_max_recv`).
        max: usize,
    },
    /// The pipe's object has no free participant slot for this process.
    NoSlot,
    /// No room came by the deadline (or at once, for a `try_` send); nothing was written.
    Timeout,
    /// `send` could not encode the value.
    #[cfg(feature = "serde")]
    Encode(postcard::Error),
}

/// Why no message was received.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// The other end closed the pipe, dropped its end or died, and everything it sent
    /// has been received (Python's `EOFError`).
    Disconnected,
    /// The next message is longer than this end accepts; it stays in the pipe.
    TooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The limit (see `set_max_send` and `set_max_recv`).
        max: usize,
    },
    /// The buffer given to `recv_bytes_into` is too short; the message stays in the pipe.
    BufferTooShort {
        /// The message's length in bytes.
        needed: usize,
    },
    /// The pipe holds a frame no shmkit sender writes: a foreign or corrupt peer.
    Corrupt {
        /// What is wrong.
        reason: &'static str,
    },
    /// The pipe's object has no free participant slot for this process.
    NoSlot,
    /// No message came by the deadline (or was there, for a `try_` receive).
    Timeout,
    /// `recv` asked for one type and the message was sent as another (or with
    /// `send_bytes`); the message is consumed.
    #[cfg(feature = "serde")]
    TypeMismatch {
        /// The type `recv` asked for.
        expected: String,
        /// The type it was sent as.
        found: String,
    },
    /// `recv` could not decode the message, though it was sent as the type asked for (a
    /// type whose serde form changed between the two programs?); the message is consumed.
    #[cfg(feature = "serde")]
    Decode(postcard::Error),
}

impl From<Fail> for SendError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::NoSlot => SendError::NoSlot,
            Fail::Nothing | Fail::Timeout => SendError::Timeout,
            Fail::Disconnected => SendError::Disconnected,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected => f.write_str("the other end of the pipe is closed, dropped or dead"),
            SendError::TooLarge { len, max } => write!(
                f,
                "a message of {len} bytes exceeds this end's limit of {max}; raise it with set_max_send \
                 (the receiver must accept it too: set_max_recv)"
            ),
            SendError::NoSlot => f.write_str(
                "the pipe's participant table is full: every slot is held by a live process; end one of them",
            ),
            SendError::Timeout => f.write_str(
                "the pipe stayed full until the deadline, nothing was sent: the receiver is slow; wait longer",
            ),
            #[cfg(feature = "serde")]
            SendError::Encode(e) => write!(f, "the value could not be encoded for the pipe: {e}"),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Disconnected => f.write_str(
                "the other end of the pipe is closed, dropped or dead, and nothing is left to receive",
            ),
            RecvError::TooLarge { len, max } => write!(
                f,
                "the next message has {len} bytes, over this end's limit of {max}; it stays in the pipe: \
                 raise the limit with set_max_recv and receive again"
            ),
            RecvError::BufferTooShort { needed } => write!(
                f,
                "the next message has {needed} bytes, more than the buffer holds; it stays in the pipe: \
                 receive it into a buffer of at least {needed} bytes"
            ),
            RecvError::Corrupt { reason } => write!(f, "the pipe holds a corrupt frame: {reason}"),
            RecvError::NoSlot => f.write_str(
                "the pipe's participant table is full: every slot is held by a live process; end one of them",
            ),
            RecvError::Timeout => f.write_str("no message came before the deadline: try again later"),
            #[cfg(feature = "serde")]
            RecvError::TypeMismatch { expected, found } => write!(
                f,
                "recv asked for a {expected}, but the message was sent as {found}; it is consumed: receive \
                 the type the other end sends"
            ),
            #[cfg(feature = "serde")]
            RecvError::Decode(e) => write!(
                f,
                "the message was sent as the type asked for but does not decode (did the type change between \
                 the two programs?): {e}"
            ),
        }
    }
}

#[cfg(feature = "serde")]
impl From<shmkit_core::typed::TypedError> for RecvError {
    fn from(e: shmkit_core::typed::TypedError) -> Self {
        use shmkit_core::typed::TypedError;
        match e {
            TypedError::Mismatch { expected, found } => RecvError::TypeMismatch { expected, found },
            TypedError::Corrupt => {
                RecvError::Corrupt { reason: "a typed message without a readable type tag" }
            }
            TypedError::Decode(e) => RecvError::Decode(e),
        }
    }
}

impl std::error::Error for SendError {}
impl std::error::Error for RecvError {}
