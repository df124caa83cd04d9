//! What a Dict's, List's or Namespace's calls can fail with.

use std::fmt;

use shmkit_core::{CreateError, OpenError, UnlinkError};

use crate::arena::Corrupt;

/// Why a call on a [`Dict`](crate::Dict), [`List`](crate::List) or
/// [`Namespace`](crate::Namespace) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DictError {
    /// The object could not be created.
    Create(CreateError),
    /// The object (or its current generation) could not be opened.
    Open(OpenError),
    /// The name could not be removed.
    Unlink(UnlinkError),
    /// The name is too long to leave room for the generations' names.
    NameTooLong {
        /// Its length.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
    /// The shared state made no sense: a peer wrote what no correct process writes.
    Corrupt {
        /// What was wrong.
        reason: &'static str,
    },
    /// A key or value could not be encoded.
    Encode(postcard::Error),
    /// A stored key or value could not be decoded as the type asked for.
    Decode(postcard::Error),
    /// A Namespace field holds another type than the one asked for.
    Typed(shmkit_core::typed::TypedError),
    /// An index past the end of a List (or a `pop` from an empty one).
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// The List's length.
        len: usize,
    },
    /// The writers' lock (or a change, for `wait_changed`) did not come by the deadline.
    Timeout,
    /// This process could not register as a participant of the object.
    NoSlot,
    /// The generation kept changing while this process looked for it.
    Busy,
    /// The current generation's object is gone (removed by hand, or by a tool): the
    /// object's contents are lost.
    GenerationMissing {
        /// The generation object's name.
        name: String,
    },
    /// An update's closure wrote to the same object (through any handle of this process):
    /// it would wait for itself.
    Reentrant,
    /// An update larger than an arena can be made for.
    TooLarge,
}

impl fmt::Display for DictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create(e) => e.fmt(f),
            Self::Open(e) => e.fmt(f),
            Self::Unlink(e) => e.fmt(f),
            Self::NameTooLong { len, max } => write!(
                f,
                "the name has {len} bytes; a Dict, List or Namespace name has at most {max}, to leave room for \
                 its generations' names: choose a shorter one"
            ),
            Self::Corrupt { reason } => write!(
                f,
                "the shared state is corrupt ({reason}): a process wrote into it outside shmkit; remove the \
                 object and make it again"
            ),
            Self::Encode(e) => write!(f, "a key or value could not be encoded: {e}"),
            Self::Decode(e) => write!(
                f,
                "a stored key or value could not be decoded ({e}): open the object with the types it was made \
                 with"
            ),
            Self::Typed(e) => e.fmt(f),
            Self::IndexOutOfRange { index, len } => {
                write!(f, "index {index} is out of range for a list of {len} elements")
            }
            Self::Timeout => f.write_str("nothing came before the deadline: wait longer, or retry"),
            Self::NoSlot => f.write_str(
                "the object's participant table is full: every slot is held by a live process; end one of them",
            ),
            Self::Busy => f.write_str("the object's generation kept changing while this process looked: retry"),
            Self::GenerationMissing { name } => write!(
                f,
                "the object's current arena {name:?} was removed from /dev/shm (by hand, or by a tool): its contents \
                 are lost; unlink the object and make it again"
            ),
            Self::Reentrant => f.write_str(
                "an update's closure wrote to the object it is updating: compute the other change outside it, or \
                 in the same closure",
            ),
            Self::TooLarge => f.write_str("the update is larger than an arena can be made for"),
        }
    }
}

impl std::error::Error for DictError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Create(e) => Some(e),
            Self::Open(e) => Some(e),
            Self::Unlink(e) => Some(e),
            Self::Encode(e) | Self::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Corrupt> for DictError {
    fn from(c: Corrupt) -> Self {
        Self::Corrupt { reason: c.0 }
    }
}

impl From<crate::arena::WriteError> for DictError {
    fn from(e: crate::arena::WriteError) -> Self {
        match e {
            crate::arena::WriteError::Corrupt(c) => c.into(),
            crate::arena::WriteError::Full(_) | crate::arena::WriteError::Abort => Self::TooLarge,
        }
    }
}

impl From<CreateError> for DictError {
    fn from(e: CreateError) -> Self {
        Self::Create(e)
    }
}

impl From<OpenError> for DictError {
    fn from(e: OpenError) -> Self {
        Self::Open(e)
    }
}

impl From<UnlinkError> for DictError {
    fn from(e: UnlinkError) -> Self {
        Self::Unlink(e)
    }
}
