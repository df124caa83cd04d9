//! shmkit's foundation: everything the primitives stand on, and the only crate that talks to
//! the operating system.
//!
//! - [`Segment`]: a mapped shared-memory file, named (`/dev/shm/shmkit.<name>`, created
//!   with `O_EXCL | O_NOFOLLOW`, mode 0600, every page reserved up front) or anonymous (a
//!   memfd sealed against resizing, inherited by forked children).
//! - [`Object`]: a segment that starts with a validated [`Header`] (magic, format version,
//!   kind, element layout, size, ready state, creator) and a participant table whose
//!   liveness the kernel keeps through open-file-description locks.
//! - [`EventCount`], [`WaitStrategy`], [`futex`]: waiting across processes with no lost
//!   wake-ups and no system call when nobody sleeps.
//! - [`Deadline`]: the one time type behind every `_timeout` and `_deadline` call.
//! - [`loom`]: the shim through which algorithm crates take their atomics, so loom can
//!   check them.
//!
//! # A tour
//!
//! ```
//! use std::time::Duration;
//! use shmkit::{CreateOptions, Deadline, Expect, Kind, Object, OpenOptions, Spec};
//! let name = format!("example-tour-{}", std::process::id());
//!
//! // Process 1: create an object with a 4 KiB body.
//! let spec = Spec::new(Kind::Bytes, 4096);
//! let obj = Object::create(&name, &spec, &CreateOptions::new(), |_body, _len| {})?;
//!
//! // Process 2: open it by name; the header is checked against what we expect.
//! let peer = Object::open(&name, &Expect::kind(Kind::Bytes), &OpenOptions::new())?;
//! assert_eq!(peer.body_len(), 4096);
//!
//! // Asking for the wrong kind is a named error, not garbage.
//! let err = Object::open(&name, &Expect::kind(Kind::Queue), &OpenOptions::new()).unwrap_err();
//! assert!(matches!(err, shmkit::OpenError::KindMismatch { .. }));
//!
//! // Both processes are participants, and both are alive.
//! let me = obj.participant()?;
//! assert!(peer.is_alive(me));
//! assert_eq!(obj.participants().iter().filter(|p| p.alive).count(), 2);
//!
//! // Every blocking call takes a deadline on the monotonic clock.
//! let deadline = Deadline::after(Duration::from_millis(1));
//! assert!(!shmkit::futex::wait_while(&obj.header().state, 1, deadline));
//! obj.unlink()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Safety and trust
//!
//! Shared memory is a trust boundary. The header is read once into a [`HeaderSnapshot`]
//! and validated; the layout this process uses comes from that snapshot, never from a
//! second read. References into shared memory are handed out only for atomics (the
//! header, the participant table, event counts), whose every bit pattern is valid and
//! which other processes may write concurrently; everything else is a raw pointer.
//!
//! Named objects are only opened when they belong to our user and are not writable by
//! others (unless [`OpenOptions::allow_foreign`] says otherwise): a named file cannot be
//! sealed, so whoever can write it could also truncate it under our mapping.

pub mod asym;
pub mod child;
mod deadline;
mod error;
mod event;
mod fdtable;
pub mod futex;
pub mod handle;
pub mod header;
mod heirs;
mod inplace;
pub mod io;
mod kind;
pub mod loom;
mod name;
mod object;
mod participants;
pub mod process;
pub mod segment;
mod slots;
mod snapshot;
mod spec;
pub mod state;
mod sys;
#[cfg(feature = "serde")]
pub mod typed;
mod view;

pub use deadline::{coarse_clock_ns, Deadline};
pub use error::{CreateError, NameError, OpenError, RegisterError, UnlinkError};
pub use event::{EventCount, WaitKey, WaitStrategy, CHECK_SPINS, FIRST_RECHECK, RECHECK_INTERVAL};
pub use handle::{Handle, InPlace, Layout};
pub use header::{Expect, Header, HeaderSnapshot, Kind, TypeDesc};
pub use name::{Name, MAX_NAME_LEN};
pub use object::Object;
pub use participants::{ParticipantId, ParticipantInfo, Role};
pub use segment::{CreateOptions, OpenOptions, OpenOrCreateError, Segment};
pub use spec::Spec;
pub use state::{BodyState, FieldValue};
