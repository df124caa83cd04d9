//! Error types, one per verb. Every message says what went wrong and what to do next.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::kind::{Kind, KindCode, TypeDesc};

/// Why a name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than the maximum.
    TooLong {
        /// The length given, in bytes.
        len: usize,
        /// The longest name allowed, in bytes.
        max: usize,
    },
    /// The name holds a character outside `[A-Za-z0-9._-]`.
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the name.
        index: usize,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("object name is empty: give a name such as \"jobs\""),
            Self::TooLong { len, max } => {
                write!(f, "object name is {len} bytes long; use at most {max}")
            }
            Self::InvalidChar { ch, index } => write!(
                f,
                "object name has {ch:?} at byte {index}; use only letters, digits, '.', '_' and '-'"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Why creating an object or segment failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// The name was refused.
    InvalidName(NameError),
    /// The requested size or layout is impossible.
    InvalidSize {
        /// The size asked for, in bytes.
        size: u64,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// The participant table size is out of range.
    InvalidSlots {
        /// The number asked for.
        slots: u32,
        /// The most allowed.
        max: u32,
    },
    /// An object with this name exists already.
    AlreadyExists {
        /// The name.
        name: String,
    },
    /// The kernel refused to create the file.
    PermissionDenied {
        /// The name.
        name: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The new object's participant table had no slot for its creator.
    ParticipantsFull {
        /// The size of the table.
        slots: u32,
    },
    /// Not enough room in `/dev/shm` (or memory) for the whole object.
    NoSpace {
        /// The size asked for, in bytes.
        size: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// Another system call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => e.fmt(f),
            Self::InvalidSize { size, reason } => write!(f, "cannot create an object of {size} bytes: {reason}"),
            Self::InvalidSlots { slots, max } => {
                write!(f, "{slots} participant slots asked for; choose between 1 and {max}")
            }
            Self::AlreadyExists { name } => write!(
                f,
                "an object named {name:?} exists already: open it, choose another name, or remove it with `unlink`"
            ),
            Self::PermissionDenied { name, source } => write!(
                f,
                "permission denied creating {name:?} ({source}): check the permissions of /dev/shm"
            ),
            Self::ParticipantsFull { slots } => write!(
                f,
                "the creator could not take one of the {slots} participant slots of its new object: remove the object and create it again"
            ),
            Self::NoSpace { size, source } => write!(
                f,
                "no room for {size} bytes of shared memory ({source}): free space in /dev/shm (`shmkit gc`) or ask for less"
            ),
            Self::Io { op, source } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidName(e) => Some(e),
            Self::PermissionDenied { source, .. }
            | Self::NoSpace { source, .. }
            | Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<NameError> for CreateError {
    fn from(e: NameError) -> Self {
        Self::InvalidName(e)
    }
}

/// Why opening an object or segment failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The name was refused.
    InvalidName(NameError),
    /// No object has this name.
    NotFound {
        /// The name.
        name: String,
    },
    /// The kernel refused to open the file.
    PermissionDenied {
        /// The name.
        name: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The name is a symbolic link, which shmkit never follows.
    Symlink {
        /// The name.
        name: String,
    },
    /// The name is not a regular file.
    NotRegularFile {
        /// The name.
        name: String,
    },
    /// The file belongs to another user.
    ForeignOwner {
        /// The name.
        name: String,
        /// Our effective uid.
        expected: u32,
        /// The file's owner.
        found: u32,
    },
    /// The file's mode lets others write it, which shmkit never creates.
    ForeignMode {
        /// The name.
        name: String,
        /// The mode found.
        found: u32,
    },
    /// A descriptor passed as an anonymous segment is not sealed against resizing.
    NotSealed {
        /// The seals found.
        found: i32,
    },
    /// The file is too small to hold what it must.
    TooSmall {
        /// The least size that could be valid, in bytes.
        expected_at_least: u64,
        /// The file's size.
        found: u64,
    },
    /// The header's total size differs from the file's size.
    SizeMismatch {
        /// The size the header records.
        expected: u64,
        /// The file's size.
        found: u64,
    },
    /// The file does not start with shmkit's magic number.
    BadMagic {
        /// The magic number found.
        found: u64,
    },
    /// The object was made by another version of shmkit's format.
    VersionMismatch {
        /// The format version this library speaks.
        expected: u32,
        /// The version found.
        found: u32,
    },
    /// The object is another kind of primitive.
    KindMismatch {
        /// The kind asked for.
        expected: Kind,
        /// The kind found.
        found: KindCode,
    },
    /// The object holds elements of another type.
    TypeMismatch {
        /// The type asked for.
        expected: TypeDesc,
        /// The type found.
        found: TypeDesc,
    },
    /// The object has another element count or capacity.
    CountMismatch {
        /// The count asked for.
        expected: u64,
        /// The count found.
        found: u64,
    },
    /// The header contradicts itself.
    Corrupt {
        /// What is inconsistent.
        reason: &'static str,
    },
    /// The object's creator died before it finished building it.
    CreatorDied,
    /// The object was still being initialised when the deadline passed.
    NotReady {
        /// How long `open` waited.
        waited: Duration,
    },
    /// Every participant slot is held by a live process.
    ParticipantsFull {
        /// The size of the table.
        slots: u32,
    },
    /// The end asked for (an SPSC queue's producer, say) is held by another live process.
    EndTaken {
        /// Which end.
        end: &'static str,
        /// The process holding it.
        pid: u32,
    },
    /// Another system call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => e.fmt(f),
            Self::NotFound { name } => write!(
                f,
                "no shmkit object named {name:?}: create it first, or check the name (`shmkit ls` lists objects)"
            ),
            Self::PermissionDenied { name, source } => {
                write!(f, "permission denied opening {name:?} ({source}): run as the user who created it")
            }
            Self::Symlink { name } => write!(
                f,
                "{name:?} is a symbolic link, which shmkit never follows: remove it and create the object again"
            ),
            Self::NotRegularFile { name } => {
                write!(f, "{name:?} is not a regular file: remove it and create the object again")
            }
            Self::ForeignOwner { name, expected, found } => write!(
                f,
                "{name:?} belongs to uid {found}, not to us (uid {expected}): if you trust that user, open with `allow_foreign(true)`"
            ),
            Self::ForeignMode { name, found } => write!(
                f,
                "{name:?} has mode {found:o}, writable by other users: if that is intended, open with `allow_foreign(true)`"
            ),
            Self::NotSealed { found } => write!(
                f,
                "the descriptor is not a sealed anonymous segment (seals {found:#x}): pass a descriptor made by `Segment::anonymous`"
            ),
            Self::TooSmall { expected_at_least, found } => write!(
                f,
                "the object is {found} bytes, less than the {expected_at_least} it needs: it was truncated or is not shmkit's; remove it and create it again"
            ),
            Self::SizeMismatch { expected, found } => write!(
                f,
                "the header says {expected} bytes but the file has {found}: the object was resized or is corrupt; remove it and create it again"
            ),
            Self::BadMagic { found } => write!(
                f,
                "not a shmkit object (magic {found:#018x}): another program owns this name; choose another name"
            ),
            Self::VersionMismatch { expected, found } => write!(
                f,
                "object format version {found}, but this shmkit speaks version {expected}: use the same shmkit version in every process"
            ),
            Self::KindMismatch { expected, found } => write!(
                f,
                "the object is a {found}, not a {expected}: open it with the right type or choose another name"
            ),
            Self::TypeMismatch { expected, found } => write!(
                f,
                "the object holds {found}, not {expected}: open it with the element type it was created with"
            ),
            Self::CountMismatch { expected, found } => write!(
                f,
                "the object holds {found} elements, not {expected}: open it without a count, or with {found}"
            ),
            Self::Corrupt { reason } => {
                write!(f, "the object's header is corrupt ({reason}): remove it and create it again")
            }
            Self::CreatorDied => f.write_str(
                "the object's creator died before it finished building it: remove it (`unlink`) and create it again",
            ),
            Self::NotReady { waited } => write!(
                f,
                "the object was not ready after {waited:?}: its creator is slow or died while creating it; wait longer, or remove it and create it again"
            ),
            Self::ParticipantsFull { slots } => write!(
                f,
                "all {slots} participant slots are held by live processes: create the object with more slots"
            ),
            Self::EndTaken { end, pid } => write!(
                f,
                "the {end} end is held by process {pid}, which is alive: it must drop it (or exit) first"
            ),
            Self::Io { op, source } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidName(e) => Some(e),
            Self::PermissionDenied { source, .. } | Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<NameError> for OpenError {
    fn from(e: NameError) -> Self {
        Self::InvalidName(e)
    }
}

/// Why removing a name failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum UnlinkError {
    /// The name was refused.
    InvalidName(NameError),
    /// No object has this name.
    NotFound {
        /// The name.
        name: String,
    },
    /// Another system call failed.
    Io {
        /// The underlying error.
        source: io::Error,
    },
}

impl fmt::Display for UnlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(e) => e.fmt(f),
            Self::NotFound { name } => write!(f, "no shmkit object named {name:?} to remove"),
            Self::Io { source } => write!(f, "removing the object failed: {source}"),
        }
    }
}

impl std::error::Error for UnlinkError {}

impl From<NameError> for UnlinkError {
    fn from(e: NameError) -> Self {
        Self::InvalidName(e)
    }
}

/// Why a process could not register as a participant of an object.
#[derive(Debug)]
#[non_exhaustive]
pub enum RegisterError {
    /// Every participant slot is held by a live process.
    Full {
        /// The size of the table.
        slots: u32,
    },
    /// A system call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { slots } => write!(
                f,
                "all {slots} participant slots are held by live processes: create the object with more slots"
            ),
            Self::Io { op, source } => write!(f, "{op} failed: {source}"),
        }
    }
}

impl std::error::Error for RegisterError {}

impl From<RegisterError> for OpenError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Full { slots } => Self::ParticipantsFull { slots },
            RegisterError::Io { op, source } => Self::Io { op, source },
        }
    }
}

impl CreateError {
    /// A layout that does not fit the body its own spec made: a bug in the kind, reported
    /// rather than acted on.
    pub fn from_layout(e: OpenError) -> Self {
        let reason = match e {
            OpenError::Corrupt { reason } => reason,
            _ => "the body does not fit its layout",
        };
        CreateError::InvalidSize { size: 0, reason }
    }
}
