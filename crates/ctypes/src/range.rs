//! Work on part of an [`Array`]: read or update a range of its elements, and hand ranges
//! to workers as [`ArrayChunk`]s.
//!
//! # The protocol
//!
//! A range is read as the whole array is ([`Array::to_vec`]), with the same sequence-lock
//! read over the range's words only. A range is updated as [`ArrayGuard::update`] updates
//! the whole array, but only the range travels:
//!
//! ```text
//! take the array's lock               other writers wait; readers go on
//! copy the range into a private copy  atomic loads; no writer is in flight
//! f(private copy)                     readers still read the old range
//! sequence odd                        readers of any part of the array retry from here
//! copy the private copy back          atomic stores
//! sequence even                       readers see the whole new range
//! release the lock
//! ```
//!
//! `f` never gets a reference into shared memory: other processes read those bytes with
//! atomic loads while the range is written, and a plain `&mut [T]` over them would be a
//! data race.
//!
//! # Why chunk writers share the one lock
//!
//! The array has one sequence word, and a reader accepts a copy when the word was even and
//! unchanged across it. Two writers of disjoint chunks in flight at once would need the
//! word to stay odd until *both* finished: a count of writers in flight, which the word
//! does not hold (its low bit is the whole protocol, and Python's `shmkit.py` reads it the
//! same way). Worse, a reader that finds the word odd while nobody holds the lock takes
//! the write for a dead writer's and closes it, so a lock-free chunk writer would have its
//! write closed under it and readers would accept torn data. So a chunk update takes the
//! lock like every write; it is cheap because only the chunk is copied, out and back.
//!
//! # Trust
//!
//! A range is checked against the array's length once, when it is given (and a chunk's
//! when the chunk is made: an array's length never changes); every access inside it is
//! then in bounds whatever peers write.

use std::fmt;
use std::ops::{Bound, Range, RangeBounds};
use std::time::Duration;

use bytemuck::Pod;
use shmkit_core::Deadline;

use crate::array::{Array, ArrayError, ArrayGuard};

/// The elements `bounds` names in an array of `len`, or why it names none.
fn resolve(bounds: &impl RangeBounds<usize>, len: usize) -> Result<Range<usize>, ArrayError> {
    let start = match bounds.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let (end, explicit_end) = match bounds.end_bound() {
        // `..=usize::MAX` ends past any array: said as an end of `usize::MAX`.
        Bound::Included(&e) => (e.saturating_add(1), true),
        Bound::Excluded(&e) => (e, true),
        Bound::Unbounded => (len, false),
    };
    // `5..` on three elements is past the end, not reversed: only an end the caller gave
    // can be on the wrong side.
    if explicit_end && start > end {
        return Err(ArrayError::RangeReversed { start, end });
    }
    if start > len || end > len {
        return Err(ArrayError::RangeOutOfBounds { start, end, len });
    }
    Ok(start..end)
}

impl<T: Pod> Array<T> {
    /// Copies elements `range` into `out`: a consistent snapshot of the range, without the
    /// lock, as [`to_vec`](Self::to_vec) is of the whole array. Waits while a write is in
    /// flight, however long (see [`read_range_deadline`](Self::read_range_deadline)). The
    /// array has one sequence word, so a write anywhere in it, not only in `range`, makes
    /// the read go again.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<f32>::anonymous(&[0.0, 1.0, 2.0, 3.0, 4.0])?;
    /// let mut middle = [0.0; 3];
    /// arr.read_range(1..4, &mut middle)?;
    /// assert_eq!(middle, [1.0, 2.0, 3.0]);
    /// assert!(arr.read_range(3..6, &mut middle).is_err()); // past the end
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::RangeReversed`], [`ArrayError::RangeOutOfBounds`],
    /// [`ArrayError::RangeLengthMismatch`] if `out` is not as long as the range.
    #[doc(alias = "__getitem__")]
    pub fn read_range(&self, range: impl RangeBounds<usize>, out: &mut [T]) -> Result<(), ArrayError> {
        self.read_range_deadline(range, out, Deadline::never())
    }

    /// [`read_range`](Self::read_range) if no write is in flight now (one attempt at a
    /// consistent read).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous(&[1, 2, 3])?;
    /// let mut out = [0; 2];
    /// arr.try_read_range(1.., &mut out)?; // nobody writes: the first attempt succeeds
    /// assert_eq!(out, [2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_range_deadline`](Self::read_range_deadline).
    pub fn try_read_range(&self, range: impl RangeBounds<usize>, out: &mut [T]) -> Result<(), ArrayError> {
        self.read_range_deadline(range, out, Deadline::now())
    }

    /// [`read_range`](Self::read_range), waiting at most `timeout` for a write in flight
    /// to finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i64>::anonymous(&[5, 6, 7])?;
    /// let mut out = [0; 2];
    /// arr.read_range_timeout(..2, &mut out, Duration::from_millis(10))?;
    /// assert_eq!(out, [5, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_range_deadline`](Self::read_range_deadline).
    pub fn read_range_timeout(
        &self,
        range: impl RangeBounds<usize>,
        out: &mut [T],
        timeout: Duration,
    ) -> Result<(), ArrayError> {
        self.read_range_deadline(range, out, Deadline::after(timeout))
    }

    /// [`read_range`](Self::read_range), waiting until `deadline` for a write in flight to
    /// finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::{Array, ArrayError};
    /// use shmkit_core::Deadline;
    ///
    /// let arr = Array::<u32>::anonymous(&[1, 2, 3, 4])?;
    /// let mut out = [0; 2];
    /// arr.read_range_deadline(2..=3, &mut out, Deadline::after(Duration::from_millis(10)))?;
    /// assert_eq!(out, [3, 4]);
    /// // The buffer must be as long as the range.
    /// let err = arr.read_range_deadline(0..3, &mut out, Deadline::now()).unwrap_err();
    /// assert!(matches!(err, ArrayError::RangeLengthMismatch { expected: 3, found: 2 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::ReadTimeout`] if a write is still in flight at the deadline (its
    /// writer may be stopped; `out` is then unspecified); [`ArrayError::RangeReversed`],
    /// [`ArrayError::RangeOutOfBounds`], [`ArrayError::RangeLengthMismatch`].
    pub fn read_range_deadline(
        &self,
        range: impl RangeBounds<usize>,
        out: &mut [T],
        deadline: Deadline,
    ) -> Result<(), ArrayError> {
        let range = resolve(&range, self.len())?;
        self.read_resolved(range, out, deadline)
    }

    /// Reads a checked range into `out` until `deadline`: the same read as `to_vec`'s.
    fn read_resolved(
        &self,
        range: Range<usize>,
        out: &mut [T],
        deadline: Deadline,
    ) -> Result<(), ArrayError> {
        if out.len() != range.len() {
            return Err(ArrayError::RangeLengthMismatch { expected: range.len(), found: out.len() });
        }
        if self.block().read_until(range.start, out, deadline) {
            Ok(())
        } else {
            Err(ArrayError::ReadTimeout)
        }
    }

    /// Runs `f` on a private copy of elements `range` under the array's lock and writes
    /// the copy back in one write: readers (of the range or of the whole array) see the
    /// whole range old or the whole range new, never part of each. Only the range is
    /// copied, out and back. Waits for the lock as long as another process holds it (see
    /// [`update_range_deadline`](Self::update_range_deadline)). Returns what `f` returns.
    ///
    /// If `f` panics, nothing is written and the lock is released.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// // Normalise the second half, leaving the first alone.
    /// let arr = Array::<f32>::anonymous(&[1.0, 2.0, 2.0, 4.0])?;
    /// let max = arr.update_range(2.., |xs| {
    ///     let max = xs.iter().copied().fold(f32::MIN, f32::max);
    ///     xs.iter_mut().for_each(|x| *x /= max);
    ///     max
    /// })?;
    /// assert_eq!(max, 4.0);
    /// assert_eq!(arr.to_vec(), [1.0, 2.0, 0.5, 1.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::RangeReversed`], [`ArrayError::RangeOutOfBounds`] (`f` is not run);
    /// [`ArrayError::NoSlot`].
    #[doc(alias = "__setitem__")]
    pub fn update_range<R>(
        &self,
        range: impl RangeBounds<usize>,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, ArrayError> {
        self.update_range_deadline(range, Deadline::never(), f)
    }

    /// [`update_range`](Self::update_range) if the lock is free now (or its owner is dead).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::{Array, ArrayError};
    ///
    /// let arr = Array::<i32>::anonymous(&[1, 2, 3])?;
    /// arr.try_update_range(..1, |xs| xs[0] = 10)?;
    /// let guard = arr.get_lock().unwrap();
    /// // Held (here by this process's guard): refused, nothing written, `f` not run.
    /// assert!(matches!(arr.try_update_range(.., |xs| xs.fill(0)), Err(ArrayError::Timeout)));
    /// drop(guard);
    /// assert_eq!(arr.to_vec(), [10, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_range_deadline`](Self::update_range_deadline).
    pub fn try_update_range<R>(
        &self,
        range: impl RangeBounds<usize>,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, ArrayError> {
        self.update_range_deadline(range, Deadline::now(), f)
    }

    /// [`update_range`](Self::update_range), waiting at most `timeout` for the lock. The
    /// closure comes last, after the timeout, so that it can be written in place.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u64>::anonymous_zeroed(6)?;
    /// arr.update_range_timeout(3..6, Duration::from_millis(10), |xs| xs.fill(9))?;
    /// assert_eq!(arr.to_vec(), [0, 0, 0, 9, 9, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_range_deadline`](Self::update_range_deadline).
    pub fn update_range_timeout<R>(
        &self,
        range: impl RangeBounds<usize>,
        timeout: Duration,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, ArrayError> {
        self.update_range_deadline(range, Deadline::after(timeout), f)
    }

    /// [`update_range`](Self::update_range), waiting until `deadline` for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit_core::Deadline;
    /// use shmkit::{Array, ArrayError};
    ///
    /// let arr = Array::<u16>::anonymous(&[1, 2, 3])?;
    /// let sum: u16 = arr.update_range_deadline(1..3, Deadline::now(), |xs| xs.iter().sum())?;
    /// assert_eq!(sum, 5);
    /// // A reversed range is refused before the lock is taken.
    /// let err = arr.update_range_deadline(2..1, Deadline::now(), |_| ()).unwrap_err();
    /// assert!(matches!(err, ArrayError::RangeReversed { start: 2, end: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::Timeout`] if another process still holds the lock at the deadline
    /// (nothing was written, `f` was not run); [`ArrayError::RangeReversed`],
    /// [`ArrayError::RangeOutOfBounds`], [`ArrayError::NoSlot`].
    pub fn update_range_deadline<R>(
        &self,
        range: impl RangeBounds<usize>,
        deadline: Deadline,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, ArrayError> {
        let range = resolve(&range, self.len())?;
        self.with_lock(deadline, |held| self.update_held(held, range, f))
    }

    /// A handle on elements `range` only, to give to one worker: see [`ArrayChunk`].
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i32>::anonymous(&(0..10).collect::<Vec<_>>())?;
    /// let tail = arr.chunk(7..)?;
    /// assert_eq!((tail.range(), tail.to_vec()), (7..10, vec![7, 8, 9]));
    /// assert!(arr.chunk(7..11).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::RangeReversed`], [`ArrayError::RangeOutOfBounds`].
    pub fn chunk(&self, range: impl RangeBounds<usize>) -> Result<ArrayChunk<'_, T>, ArrayError> {
        let range = resolve(&range, self.len())?;
        Ok(ArrayChunk { array: self, start: range.start, end: range.end })
    }

    /// The array cut into `parts` contiguous chunks, in order, whose lengths differ by at
    /// most one (the first `len % parts` are one longer): numpy's `array_split`. Exactly
    /// `parts` chunks, so worker `i` can take chunk `i`; some are empty when `parts` is
    /// more than the length. (`parts` is a count of chunks, not a chunk length as in
    /// `slice::chunks`.)
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<f32>::anonymous_zeroed(10)?;
    /// let chunks = arr.split(4)?;
    /// let ranges: Vec<_> = chunks.iter().map(|c| c.range()).collect();
    /// assert_eq!(ranges, [0..3, 3..6, 6..8, 8..10]);
    /// // In worker i (a forked child, say): chunks[i].update(|xs| ...).
    /// for (i, chunk) in chunks.iter().enumerate() {
    ///     chunk.update(|xs| xs.fill(i as f32))?;
    /// }
    /// assert_eq!(arr.to_vec(), [0., 0., 0., 1., 1., 1., 2., 2., 3., 3.]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::NoParts`] if `parts` is 0.
    #[doc(alias = "array_split")]
    #[doc(alias = "chunks")]
    pub fn split(&self, parts: usize) -> Result<Vec<ArrayChunk<'_, T>>, ArrayError> {
        if parts == 0 {
            return Err(ArrayError::NoParts);
        }
        let (len, mut start) = (self.len(), 0);
        let chunks = (0..parts)
            .map(|i| {
                let end = start + len / parts + usize::from(i < len % parts);
                let chunk = ArrayChunk { array: self, start, end };
                start = end;
                chunk
            })
            .collect();
        Ok(chunks)
    }
}

impl<T: Pod> ArrayGuard<'_, T> {
    /// Applies `f` to a private copy of elements `range` and writes it back: as
    /// [`update`](Self::update) on part of the array, copying only that part. Returns what
    /// `f` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i32>::anonymous(&[1, 2, 3, 4])?;
    /// let mut guard = arr.get_lock().unwrap();
    /// // Two updates that no other writer comes between.
    /// let first = guard.update_range(..1, |xs| std::mem::replace(&mut xs[0], 0))?;
    /// guard.update_range(3.., |xs| xs[0] += first)?;
    /// drop(guard);
    /// assert_eq!(arr.to_vec(), [0, 2, 3, 5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::RangeReversed`], [`ArrayError::RangeOutOfBounds`] (`f` is not run).
    pub fn update_range<R>(
        &mut self,
        range: impl RangeBounds<usize>,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, ArrayError> {
        let range = resolve(&range, self.len())?;
        Ok(self.array().update_held(self.held(), range, f))
    }
}

/// Elements `start..end` of an [`Array`], checked when the chunk was made
/// ([`Array::chunk`], [`Array::split`]): reads and updates of that range only, to give to
/// one worker.
///
/// # Concurrent chunk writers
///
/// Updates of different chunks take the array's one lock, one after another. They cannot
/// soundly run at once: the array has a single sequence word, odd while a write is in
/// flight, and it cannot count two writes in flight (the first to finish would make it
/// even while the second still writes); and a reader that finds it odd with the lock free
/// closes the write as a dead writer's. They are cheap all the same: an update copies its
/// chunk out, runs the closure on the private copy, and copies it back, so a worker holds
/// the lock for about twice a `memcpy` of its chunk plus the closure, not for the whole
/// array. Workers that do heavy computation can do it outside: [`read`](Self::read) the
/// chunk, compute, then [`update`](Self::update) with the result (if no one else writes
/// the chunk in between, which is what giving each chunk to one worker means).
///
/// # What a concurrent whole-array reader sees
///
/// Each update is one write that readers see all at once, and writes happen one at a time
/// under the lock. So [`Array::to_vec`] returns the array as it was between two writes:
/// every chunk wholly before or wholly after any update of it, never part of one. With
/// four workers each updating its chunk once, a reader may see chunks 0 and 2 updated and
/// 1 and 3 not yet, but never half of chunk 1. A reader retries while any chunk's write is
/// in flight, since there is one sequence word: a read that takes longer than the gaps
/// between writes (a whole-array `to_vec` while workers update back to back) goes on
/// retrying until the writers pause. Use the deadline forms ([`Array::to_vec_deadline`],
/// [`read_deadline`](Self::read_deadline)) to bound that, or read between rounds.
///
/// Chunks are not exclusive: nothing stops two chunks from overlapping, or another handle
/// from writing into a chunk. Overlapping writers stay correct (they share the lock);
/// they are merely not what chunks are for.
///
/// # Examples
///
/// ```
/// use shmkit::Array;
///
/// // Process 1: the parent makes the array and the chunks, then forks four workers.
/// let arr = Array::<f32>::anonymous(&(1..=8).map(|x| x as f32).collect::<Vec<_>>())?;
/// let chunks = arr.split(4)?;
/// // Process 2 (worker i): normalise its own chunk.
/// for chunk in &chunks {
///     chunk.update(|xs| {
///         let max = xs.iter().copied().fold(f32::MIN, f32::max);
///         xs.iter_mut().for_each(|x| *x /= max);
///     })?;
/// }
/// assert_eq!(arr.to_vec(), [0.5, 1.0, 0.75, 1.0, 5. / 6., 1.0, 7. / 8., 1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ArrayChunk<'a, T: Pod> {
    array: &'a Array<T>,
    start: usize,
    end: usize,
}

impl<T: Pod> Clone for ArrayChunk<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Pod> Copy for ArrayChunk<'_, T> {}

impl<T: Pod> fmt::Debug for ArrayChunk<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayChunk")
            .field("range", &self.range())
            .field("array_len", &self.array.len())
            .finish()
    }
}

impl<'a, T: Pod> ArrayChunk<'a, T> {
    /// The elements this chunk covers, as indexes into the array.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous_zeroed(5)?;
    /// assert_eq!(arr.chunk(1..=2)?.range(), 1..3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The number of elements in the chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous_zeroed(5)?;
    /// assert_eq!(arr.chunk(1..4)?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the chunk has no elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous_zeroed(2)?;
    /// assert!(arr.split(3)?[2].is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The whole array the chunk is part of.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous_zeroed(4)?;
    /// assert_eq!(arr.chunk(..2)?.array().len(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn array(&self) -> &'a Array<T> {
        self.array
    }

    /// Copies the chunk into `out`, a consistent snapshot: [`Array::read_range`] on its
    /// range.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i32>::anonymous(&[1, 2, 3, 4])?;
    /// let mut out = [0; 2];
    /// arr.chunk(2..)?.read(&mut out)?;
    /// assert_eq!(out, [3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::RangeLengthMismatch`] if `out` is not as long as the chunk.
    pub fn read(&self, out: &mut [T]) -> Result<(), ArrayError> {
        self.read_deadline(out, Deadline::never())
    }

    /// [`read`](Self::read) if no write is in flight now (one attempt).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i32>::anonymous(&[1, 2, 3, 4])?;
    /// let mut out = [0; 1];
    /// arr.chunk(..1)?.try_read(&mut out)?;
    /// assert_eq!(out, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_deadline`](Self::read_deadline).
    pub fn try_read(&self, out: &mut [T]) -> Result<(), ArrayError> {
        self.read_deadline(out, Deadline::now())
    }

    /// [`read`](Self::read), waiting at most `timeout` for a write in flight to finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i32>::anonymous(&[1, 2, 3, 4])?;
    /// let mut out = [0; 2];
    /// arr.chunk(1..3)?.read_timeout(&mut out, Duration::from_millis(10))?;
    /// assert_eq!(out, [2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read_deadline`](Self::read_deadline).
    pub fn read_timeout(&self, out: &mut [T], timeout: Duration) -> Result<(), ArrayError> {
        self.read_deadline(out, Deadline::after(timeout))
    }

    /// [`read`](Self::read), waiting until `deadline` for a write in flight to finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit_core::Deadline;
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i32>::anonymous(&[1, 2, 3, 4])?;
    /// let mut out = [0; 4];
    /// arr.chunk(..)?.read_deadline(&mut out, Deadline::now())?;
    /// assert_eq!(out, [1, 2, 3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::ReadTimeout`] if a write (anywhere in the array) is still in flight
    /// at the deadline; [`ArrayError::RangeLengthMismatch`].
    pub fn read_deadline(&self, out: &mut [T], deadline: Deadline) -> Result<(), ArrayError> {
        self.array.read_resolved(self.range(), out, deadline)
    }

    /// A consistent copy of the chunk. Waits while a write is in flight, however long.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<i32>::anonymous(&[1, 2, 3, 4])?;
    /// assert_eq!(arr.chunk(1..3)?.to_vec(), [2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = vec![T::zeroed(); self.len()];
        // The same read as `Array::to_vec`'s; the range was checked when the chunk was made.
        self.array.block().read(self.start, &mut out);
        out
    }

    /// Runs `f` on a private copy of the chunk under the array's lock and writes it back
    /// in one write: [`Array::update_range`] on its range. Returns what `f` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<f32>::anonymous(&[2.0, 4.0, 3.0, 6.0])?;
    /// let [left, right] = [arr.chunk(..2)?, arr.chunk(2..)?];
    /// left.update(|xs| xs.iter_mut().for_each(|x| *x /= 4.0))?;
    /// right.update(|xs| xs.iter_mut().for_each(|x| *x /= 6.0))?;
    /// assert_eq!(arr.to_vec(), [0.5, 1.0, 0.5, 1.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::NoSlot`].
    pub fn update<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R, ArrayError> {
        self.update_deadline(Deadline::never(), f)
    }

    /// [`update`](Self::update) if the lock is free now (or its owner is dead).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous_zeroed(4)?;
    /// arr.chunk(1..2)?.try_update(|xs| xs[0] = 7)?;
    /// assert_eq!(arr.to_vec(), [0, 7, 0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_deadline`](Self::update_deadline).
    pub fn try_update<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> Result<R, ArrayError> {
        self.update_deadline(Deadline::now(), f)
    }

    /// [`update`](Self::update), waiting at most `timeout` for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous_zeroed(4)?;
    /// arr.chunk(2..)?.update_timeout(Duration::from_millis(10), |xs| xs.fill(1))?;
    /// assert_eq!(arr.to_vec(), [0, 0, 1, 1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update_deadline`](Self::update_deadline).
    pub fn update_timeout<R>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, ArrayError> {
        self.update_deadline(Deadline::after(timeout), f)
    }

    /// [`update`](Self::update), waiting until `deadline` for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit_core::Deadline;
    /// use shmkit::Array;
    ///
    /// let arr = Array::<u8>::anonymous_zeroed(4)?;
    /// let n = arr.chunk(..3)?.update_deadline(Deadline::now(), |xs| xs.len())?;
    /// assert_eq!(n, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ArrayError::Timeout`] if another process still holds the lock at the deadline
    /// (nothing was written, `f` was not run); [`ArrayError::NoSlot`].
    pub fn update_deadline<R>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> Result<R, ArrayError> {
        let array = self.array;
        array.with_lock(deadline, |held| array.update_held(held, self.range(), f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::reversed_empty_ranges)] // reversed ranges are what is tested
    fn ranges_resolve_or_say_why_not() {
        assert_eq!(resolve(&(..), 4).unwrap(), 0..4);
        assert_eq!(resolve(&(1..=2), 4).unwrap(), 1..3);
        assert_eq!(resolve(&(4..), 4).unwrap(), 4..4);
        assert_eq!(resolve(&(Bound::Excluded(0), Bound::Unbounded), 4).unwrap(), 1..4);
        assert!(matches!(resolve(&(3..2), 4), Err(ArrayError::RangeReversed { start: 3, end: 2 })));
        assert!(matches!(resolve(&(9..2), 4), Err(ArrayError::RangeReversed { .. })));
        assert!(matches!(resolve(&(5..), 4), Err(ArrayError::RangeOutOfBounds { start: 5, end: 4, len: 4 })));
        assert!(matches!(
            resolve(&(2..5), 4),
            Err(ArrayError::RangeOutOfBounds { start: 2, end: 5, len: 4 })
        ));
        assert!(matches!(
            resolve(&(..=usize::MAX), 4),
            Err(ArrayError::RangeOutOfBounds { end: usize::MAX, .. })
        ));
        assert!(matches!(
            resolve(&(Bound::Excluded(usize::MAX), Bound::Unbounded), 4),
            Err(ArrayError::RangeOutOfBounds { .. })
        ));
    }
}
