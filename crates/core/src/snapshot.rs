//! [`Object::snapshot`]: looking at an object without mapping its file.
//!
//! Tools such as `shmkit ls` look at every object on the machine, including other users'.
//! Mapping such a file would let its owner kill the tool with `SIGBUS` by truncating it,
//! and would let every later read see new numbers. A snapshot instead opens the file
//! read-only, copies it with `pread` into a private memfd sealed against resizing
//! ([`segment`](crate::segment)), and validates and decodes that copy, which nobody else
//! can change. Liveness questions (open-file-description locks on the participant slots)
//! still go to the original file, whose descriptor the snapshot keeps, so the participants
//! it shows are alive or dead as they really are, and [`Object::unlink`] still removes the
//! name only while it names the file that was copied.

use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::error::OpenError;
use crate::object::Object;
use crate::segment::OpenOptions;

impl Object {
    /// A snapshot of the named object `name`: its bytes as they were when read (all of
    /// them, or for a file over [`SNAPSHOT_LIMIT`](crate::segment::SNAPSHOT_LIMIT) bytes the
    /// header and participant table only, see [`Segment::snapshot_len`]), validated like
    /// [`inspect`](Self::inspect) does, never mapped from the file and never registered.
    ///
    /// The object is for looking: its memory is a private copy, so nothing written to it
    /// reaches anyone. Do not take part in it ([`participant`](Self::participant),
    /// [`try_clone`](Self::try_clone), the kinds' operations). [`participants`],
    /// [`is_alive`](Self::is_alive), [`has_live_participants`] and [`unlink`] concern the
    /// original file.
    ///
    /// An object still being created is waited for up to the options' ready timeout: the
    /// file is copied again, at growing intervals up to 50 ms, until a copy shows it ready
    /// (a copy never changes, so waiting on one would wait out the timeout).
    ///
    /// [`Segment::snapshot_len`]: crate::Segment::snapshot_len
    /// [`participants`]: Self::participants
    /// [`has_live_participants`]: Self::has_live_participants
    /// [`unlink`]: Self::unlink
    ///
    /// # Errors
    ///
    /// As [`inspect`](Self::inspect); a file that cannot be read or copied is
    /// [`OpenError::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{CreateOptions, Kind, Object, OpenOptions, Spec};
    /// let name = format!("example-snapshot-{}", std::process::id());
    ///
    /// let obj = Object::create(&name, &Spec::new(Kind::Bytes, 64), &CreateOptions::new(), |_, _| {})?;
    /// let seen = Object::snapshot(&name, &OpenOptions::new())?;
    /// assert!(seen.segment().snapshot_len().is_some());
    /// // The creator is alive, as the original file's locks say.
    /// assert_eq!(seen.participants().iter().filter(|p| p.alive).count(), 1);
    /// // Looking never takes part.
    /// assert!(seen.participant().is_err());
    /// obj.unlink()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        let started = Instant::now();
        let deadline = Deadline::after(opts.get_ready_timeout());
        // Each copy is looked at once: not ready yet means copy again.
        let once = opts.clone().snapshot(true).ready_timeout(Duration::ZERO);
        // A copy can be large: the pause between two grows from 1 ms to 50 ms.
        let mut pause = Duration::from_millis(1);
        loop {
            match Self::inspect(name, &once) {
                Err(OpenError::NotReady { .. }) if !deadline.has_passed() => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(OpenError::NotReady { .. }) => {
                    return Err(OpenError::NotReady { waited: started.elapsed() });
                }
                seen => return seen,
            }
        }
    }
}
