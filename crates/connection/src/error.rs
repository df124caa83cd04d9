//! What a connection's calls can fail with.

use std::fmt;
use std::io;

use crate::auth::AuthError;
use crate::frame::FrameError;

/// Why a [`Listener`](crate::Listener), [`Client`](crate::Client) or
/// [`Connection`](crate::Connection) call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnError {
    /// The socket failed (the peer is gone: `BrokenPipe`, `ConnectionReset`; nothing
    /// listens at the address: `ConnectionRefused`, `NotFound`).
    Io(io::Error),
    /// The peer closed the connection: Python's `EOFError`.
    Eof,
    /// Nothing came in time.
    Timeout,
    /// A header no correct peer sends: a negative length other than -1.
    BadLength(i32),
    /// A message longer than this end accepts.
    TooLong {
        /// The length announced.
        len: u64,
        /// The most this end accepts.
        max: u64,
    },
    /// The authkey handshake failed: Python's `AuthenticationError`. Nothing of the
    /// connection is usable.
    Auth(AuthError),
    /// The buffer given to `recv_bytes_into` is too short; as Python's, the message was
    /// taken all the same: here it is.
    BufferTooShort {
        /// The message.
        message: Vec<u8>,
    },
    /// A shared-memory listener could not be made (its name is held by a live process,
    /// or invalid; a backlog or a ring capacity out of range).
    Create(shmkit_core::CreateError),
    /// What is at a shared-memory listener's name cannot be used (not a listener,
    /// another user's, corrupt).
    Open(shmkit_core::OpenError),
    /// A value could not be encoded.
    #[cfg(feature = "serde")]
    Encode(postcard::Error),
    /// A message could not be read as the type asked for.
    #[cfg(feature = "serde")]
    Typed(shmkit_core::typed::TypedError),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "the connection failed: {e}"),
            Self::Eof => f.write_str("the peer closed the connection"),
            Self::Timeout => f.write_str("nothing came before the deadline: wait longer, or retry"),
            Self::BadLength(n) => write!(
                f,
                "the peer sent a message length of {n}, which no correct peer sends: the connection is out of step; \
                 close it"
            ),
            Self::TooLong { len, max } => write!(
                f,
                "the peer announced a message of {len} bytes, more than the {max} this end accepts (set_max_message)"
            ),
            Self::Auth(e) => write!(f, "authentication failed: {e}"),
            Self::BufferTooShort { message } => write!(
                f,
                "the message has {} bytes, more than the buffer holds; it was taken and is in this error",
                message.len()
            ),
            Self::Create(e) => write!(f, "the listener could not be made: {e}"),
            Self::Open(e) => write!(f, "the listener could not be opened: {e}"),
            #[cfg(feature = "serde")]
            Self::Encode(e) => write!(f, "the value could not be encoded: {e}"),
            #[cfg(feature = "serde")]
            Self::Typed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Create(e) => Some(e),
            Self::Open(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<AuthError> for ConnError {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl From<FrameError> for ConnError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Negative(n) => Self::BadLength(n),
            FrameError::TooLong { len, max } => Self::TooLong { len, max },
        }
    }
}
