//! The local ends of a bridge: what an exporter takes messages from ([`Source`]) and what
//! an importer puts them into ([`Target`]), for shmkit's named message queue, Pod queue
//! and simplex pipe.
//!
//! A message on the wire is the bytes of one local message: a [`MessageQueue`] message
//! as it was put, a [`Queue<T>`] item as the bytes of its `T` (so both sides must agree
//! on `T`; an item of another size is counted as malformed and dropped), a pipe message
//! as it was sent. A typed value (a message queue's `put`, a pipe's `send`) stays one: it
//! goes as its encoding, marked typed ([`Message::typed`]), and the importer puts it
//! typed, so that `get::<T>()` on the other host reads it. A Pod queue takes no typed
//! value: one is counted as malformed and dropped.

use bytemuck::Pod;
use shmkit_core::Deadline;
use shmkit_mq::{MessageError, MessageQueue};
use shmkit_pipe::{Receiver, RecvError};
use shmkit_queue::{GetTimeoutError, PutTimeoutError, Queue, TryGetError};

/// The length of the stamp an exporter attaches to each sample: its source id and the
/// sample's sequence number, both little-endian u64.
pub(crate) const STAMP: usize = 16;
/// In the flags byte that may follow the stamp: the sample is a typed value (the other
/// bits are reserved, and ignored). A plain message's stamp has no flags byte.
pub(crate) const TYPED: u8 = 1;

/// One message between a local object and Zenoh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Its bytes: a typed value's encoding if [`typed`](Self::typed).
    pub bytes: Vec<u8>,
    /// Whether it is a typed value (a message queue's `put`, a pipe's `send`), not bytes.
    pub typed: bool,
}

impl Message {
    /// A message of plain bytes.
    pub fn bytes(bytes: Vec<u8>) -> Self {
        Self { bytes, typed: false }
    }
}

/// Why a [`Source`] gave no message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TakeError {
    /// None came by the deadline.
    Timeout,
    /// The source is closed (and empty), or its writers are gone: no message will come.
    Ended,
    /// Anything else, in words.
    Failed(String),
}

/// Why a [`Target`] took no message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutFail {
    /// No room by the deadline.
    Full,
    /// The target is closed, or its readers are gone.
    Ended,
    /// The message cannot be an item of this target (a Pod item of another size).
    Malformed,
    /// Anything else, in words.
    Failed(String),
}

/// A local object an exporter takes messages from. Implemented for [`MessageQueue`],
/// [`Queue<T>`] and the receive end of a simplex pipe ([`Receiver`]).
pub trait Source: Send + 'static {
    /// Takes the next message, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`TakeError`].
    fn take(&mut self, deadline: Deadline) -> Result<Message, TakeError>;

    /// Whether the source has ended with nothing left in it (closed and empty): no
    /// message will come. An exporter with no subscriber looks at this instead of taking.
    /// By default `false` (the pipe cannot tell without taking).
    fn has_ended(&mut self) -> bool {
        false
    }
}

/// A local queue an importer puts messages into. Implemented for [`MessageQueue`] and
/// [`Queue<T>`].
pub trait Target: Send + 'static {
    /// Puts `msg` (a typed value's encoding if `typed`), waiting until `deadline` for
    /// room.
    ///
    /// # Errors
    ///
    /// As [`PutFail`]; [`PutFail::Malformed`] for a typed value into a target that
    /// takes none.
    fn put(&mut self, msg: &[u8], typed: bool, deadline: Deadline) -> Result<(), PutFail>;

    /// Takes the oldest message out and drops it, to make room; `false` if there was none.
    ///
    /// # Errors
    ///
    /// [`PutFail::Ended`] or [`PutFail::Failed`].
    fn discard_oldest(&mut self) -> Result<bool, PutFail>;
}

impl Source for MessageQueue {
    fn take(&mut self, deadline: Deadline) -> Result<Message, TakeError> {
        let (bytes, typed) = self.get_message_deadline(deadline).map_err(|e| match e {
            MessageError::Timeout => TakeError::Timeout,
            MessageError::Closed => TakeError::Ended,
            other => TakeError::Failed(other.to_string()),
        })?;
        Ok(Message { bytes, typed })
    }

    fn has_ended(&mut self) -> bool {
        self.is_closed() && self.is_empty()
    }
}

impl Target for MessageQueue {
    fn put(&mut self, msg: &[u8], typed: bool, deadline: Deadline) -> Result<(), PutFail> {
        self.put_message_deadline(msg, typed, deadline).map_err(|e| match e {
            MessageError::Timeout => PutFail::Full,
            MessageError::Closed => PutFail::Ended,
            MessageError::TooLarge { .. } => PutFail::Malformed,
            other => PutFail::Failed(other.to_string()),
        })
    }

    fn discard_oldest(&mut self) -> Result<bool, PutFail> {
        match self.try_get_bytes() {
            Ok(_) => Ok(true),
            Err(MessageError::Timeout | MessageError::Closed) => Ok(false),
            Err(other) => Err(PutFail::Failed(other.to_string())),
        }
    }
}

impl<T: Pod + Send> Source for Queue<T> {
    fn take(&mut self, deadline: Deadline) -> Result<Message, TakeError> {
        match self.get_deadline(deadline) {
            Ok(item) => Ok(Message::bytes(bytemuck::bytes_of(&item).to_vec())),
            Err(GetTimeoutError::Timeout) => Err(TakeError::Timeout),
            Err(GetTimeoutError::Disconnected) => Err(TakeError::Ended),
            Err(e @ GetTimeoutError::NoSlot) => Err(TakeError::Failed(e.to_string())),
        }
    }

    fn has_ended(&mut self) -> bool {
        self.is_closed() && self.is_empty()
    }
}

impl<T: Pod + Send> Target for Queue<T> {
    fn put(&mut self, msg: &[u8], typed: bool, deadline: Deadline) -> Result<(), PutFail> {
        if typed {
            return Err(PutFail::Malformed);
        }
        let item: T = bytemuck::try_pod_read_unaligned(msg).map_err(|_| PutFail::Malformed)?;
        match self.put_deadline(item, deadline) {
            Ok(()) => Ok(()),
            Err(PutTimeoutError::Timeout(_)) => Err(PutFail::Full),
            Err(PutTimeoutError::Disconnected(_)) => Err(PutFail::Ended),
            Err(e @ PutTimeoutError::NoSlot(_)) => Err(PutFail::Failed(e.to_string())),
        }
    }

    fn discard_oldest(&mut self) -> Result<bool, PutFail> {
        match self.try_get() {
            Ok(_) => Ok(true),
            Err(TryGetError::Empty) => Ok(false),
            Err(TryGetError::Disconnected) => Err(PutFail::Ended),
            Err(e @ TryGetError::NoSlot) => Err(PutFail::Failed(e.to_string())),
        }
    }
}

impl Source for Receiver {
    fn take(&mut self, deadline: Deadline) -> Result<Message, TakeError> {
        let (bytes, typed) = self.recv_message_deadline(deadline).map_err(|e| match e {
            RecvError::Timeout => TakeError::Timeout,
            RecvError::Disconnected => TakeError::Ended,
            other => TakeError::Failed(other.to_string()),
        })?;
        Ok(Message { bytes, typed })
    }
}
