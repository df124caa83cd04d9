//! [`Array<T>`]: a fixed-length array in shared memory: Python's `multiprocessing.Array`.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use bytemuck::Pod;
use shmkit_core::{
    CreateError, CreateOptions, Deadline, Handle, Kind, Layout, Object, OpenError, OpenOptions,
    OpenOrCreateError, RegisterError, UnlinkError, WaitStrategy,
};
use shmkit_sync::{LockError, TryLockError};

use crate::block::{lock_forever, Block, CChar, Cells, Contents, Held, Report};
use crate::int::AtomicInt;
use crate::seqlock::copy_load;

/// Why an array operation was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ArrayError {
    /// The index is past the end.
    OutOfRange {
        /// The index given.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// A slice of the wrong length was given for the whole array.
    LengthMismatch {
        /// The array's length.
        expected: usize,
        /// The slice's length.
        found: usize,
    },
    /// A byte string longer than the array.
    TooLong {
        /// The array's length.
        capacity: usize,
        /// The string's length.
        found: usize,
    },
    /// This process could not become a participant (for the lock).
    NoSlot(RegisterError),
    /// A timed write found the lock still held by another process at its deadline;
    /// nothing was written.
    Timeout,
    /// A timed read found a write still in flight at its deadline: its writer is slow, or
    /// stopped (SIGSTOP, a debugger) in the middle of it. Nothing was read.
    ReadTimeout,
    /// A range that starts after it ends, such as `5..3`.
    RangeReversed {
        /// The range's first index.
        start: usize,
        /// The index one past its last.
        end: usize,
    },
    /// A range that reaches past the end of the array.
    RangeOutOfBounds {
        /// The range's first index.
        start: usize,
        /// The index one past its last (`usize::MAX` for `..=usize::MAX`).
        end: usize,
        /// The array's length.
        len: usize,
    },
    /// A buffer of the wrong length was given for a range.
    RangeLengthMismatch {
        /// The range's length.
        expected: usize,
        /// The buffer's length.
        found: usize,
    },
    /// [`Array::split`] was asked for no parts.
    NoParts,
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { index, len } => {
                write!(f, "index {index} is out of range for an array of {len} elements")
            }
            Self::LengthMismatch { expected, found } => {
                write!(
                    f,
                    "the array holds {expected} elements, the slice {found}: pass a slice of {expected}"
                )
            }
            Self::TooLong { capacity, found } => {
                write!(f, "{found} bytes do not fit an array of {capacity}: make the array larger")
            }
            Self::NoSlot(e) => e.fmt(f),
            Self::Timeout => {
                f.write_str("another process held the array's lock until the deadline; nothing was written")
            }
            Self::ReadTimeout => f.write_str(
                "a write to the array was still in flight at the deadline (its writer may be stopped); \
                 read again later or with a later deadline",
            ),
            Self::RangeReversed { start, end } => {
                write!(f, "the range {start}..{end} starts after it ends: put the smaller index first ({end}..{start})")
            }
            Self::RangeOutOfBounds { start, end, len } => write!(
                f,
                "the range {start}..{end} reaches past the end of an array of {len} elements: \
                 keep both ends at {len} or below"
            ),
            Self::RangeLengthMismatch { expected, found } => {
                write!(
                    f,
                    "the range holds {expected} elements, the buffer {found}: pass a buffer of {expected}"
                )
            }
            Self::NoParts => f.write_str("an array cannot be split into 0 parts: ask for 1 or more"),
        }
    }
}

impl std::error::Error for ArrayError {}

/// A fixed-length array of `T` in shared memory, with a lock: Python's
/// `multiprocessing.Array`.
///
/// Element reads ([`get`](Self::get), [`to_vec`](Self::to_vec)) are lock-free and never
/// torn; writes take the lock.
///
/// # What a stopped writer costs
///
/// An Array keeps one copy of its elements under a sequence lock (a Value keeps two: see
/// [`twin`](crate::twin); doubling an array would double its memory and the work of every
/// write). So a reader retries while a write is in flight: if the writer is stopped
/// (SIGSTOP, a debugger, a page-fault storm) in the middle of a write, [`get`](Self::get)
/// and [`to_vec`](Self::to_vec) wait until it resumes. A writer that *died* is noticed
/// and its write closed. When a reader must not wait on a live peer, use the deadline
/// forms — [`try_get`](Self::try_get), [`get_timeout`](Self::get_timeout),
/// [`get_deadline`](Self::get_deadline), and the same for `to_vec` — which give up with
/// [`ArrayError::ReadTimeout`]. Indexes are checked: out of range is an error, never a
/// panic. For integers, [`fetch_add`](Self::fetch_add) and friends are atomic without the
/// lock. `Array<CChar>` is Python's `Array('c', ...)`, with [`value`](Self::value).
///
/// # Working on part of an array
///
/// [`read_range`](Self::read_range) and [`update_range`](Self::update_range) read or
/// update a range of elements and copy only that range; [`chunk`](Self::chunk) and
/// [`split`](Self::split) hand ranges to workers as [`ArrayChunk`](crate::ArrayChunk)s.
/// Range updates take the array's one lock, like every write: see the
/// [`ArrayChunk`](crate::ArrayChunk) docs for why, and for what a concurrent whole-array
/// reader sees.
///
/// # Examples
///
/// ```
/// use shmkit::Array;
///
/// // Array('i', 10) and Array('i', range(10))
/// let zeros = Array::<i32>::anonymous_zeroed(10)?;
/// let arr = Array::<i32>::anonymous(&(0..10).collect::<Vec<_>>())?;
/// assert_eq!(zeros.to_vec(), vec![0; 10]);
/// arr.set(3, -3)?;
/// assert_eq!(arr.get(3)?, -3);
/// assert!(arr.get(10).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Array<T: Pod> {
    b: Block<T>,
}

impl<T: Pod + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
    }
}

impl<T: Pod> Array<T> {
    /// Creates the named array `name` holding a copy of `values`. Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, values: &[T]) -> Result<Self, CreateError> {
        Self::create_with(name, values, &CreateOptions::new())
    }

    /// Creates the named array `name` with options (file mode, participants).
    pub fn create_with(name: &str, values: &[T], opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(Cells::of(Kind::Array), name, Contents::Copy(values), opts)
            .map(|h| Self { b: Block::new(h) })
    }

    /// Opens the named array `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// The elements of the named array `name` as they were when read, without taking part
    /// in it: the file is copied with `pread` into a private snapshot and validated there
    /// (kind, element type), never mapped and never registered as a participant. For
    /// monitors and tools: nothing the file's owner does to it (truncating it, writing
    /// garbage) can crash the reader, and it needs only read permission, so another
    /// user's array is read too (the copy trusts nothing in it). An element being
    /// written at the moment of the copy may be read torn; every other one is as it was.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) (never [`OpenError::ParticipantsFull`]); an array larger
    /// than a snapshot copies ([`shmkit_core::segment::SNAPSHOT_LIMIT`]) is
    /// [`OpenError::Io`]: open it instead.
    pub fn read_snapshot(name: &str) -> Result<Vec<T>, OpenError> {
        let layout = Cells::<T>::of(Kind::Array);
        let obj = Object::snapshot(name, &OpenOptions::new().allow_foreign(true))?;
        if obj.segment().snapshot_len().is_some_and(|copied| copied < obj.info().total_size) {
            let limit = shmkit_core::segment::SNAPSHOT_LIMIT;
            let reason =
                format!("the array is larger than the {limit} bytes a snapshot copies: open it instead");
            return Err(OpenError::Io { op: "snapshot", source: std::io::Error::other(reason) });
        }
        obj.info().validate(obj.segment().len() as u64, &layout.expect())?;
        let elements = layout.check(&obj)?;
        let mut out = vec![T::zeroed(); elements.len()];
        // SAFETY: `check` found `len` elements inside the body from `data`; the snapshot is
        // a private copy that nobody writes, mapped while `obj` lives; `out` is as long.
        unsafe {
            copy_load(
                elements.data().as_ptr().cast(),
                out.as_mut_ptr().cast(),
                std::mem::size_of_val(&out[..]),
            )
        };
        Ok(out)
    }

    /// Opens the named array `name` with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(Cells::of(Kind::Array), name, opts).map(|h| Self { b: Block::new(h) })
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Opens `name`, or creates it as a new array holding a copy of `values`.
    pub fn open_or_create(name: &str, values: &[T]) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(Cells::of(Kind::Array), name, Contents::Copy(values))
            .map(|h| Self { b: Block::new(h) })
    }

    /// Creates an anonymous array holding a copy of `values`, shared with children forked afterwards.
    pub fn anonymous(values: &[T]) -> Result<Self, CreateError> {
        Self::anonymous_with(values, &CreateOptions::new())
    }

    /// Creates an anonymous array with options (participants).
    pub fn anonymous_with(values: &[T], opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(Cells::of(Kind::Array), Contents::Copy(values), opts)
            .map(|h| Self { b: Block::new(h) })
    }

    /// Removes the name `name`; processes that have the array open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<Cells<T>>::unlink(name)
    }

    /// A second handle to the same array, a participant of its own (one per thread).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.b.handle().try_clone().map(|h| Self { b: Block::new(h) })
    }

    /// The underlying object (its name, header and participants).
    pub fn object(&self) -> &Object {
        self.b.handle().object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.b.handle_mut().set_wait_strategy(strategy);
    }

    /// Creates the named array `name` of `len` zeroed elements: Python's `Array('i', 10)`.
    pub fn create_zeroed(name: &str, len: usize) -> Result<Self, CreateError> {
        Handle::create(Cells::of(Kind::Array), name, Contents::Zeroed(len)).map(|h| Self { b: Block::new(h) })
    }

    /// Creates an anonymous array of `len` zeroed elements.
    pub fn anonymous_zeroed(len: usize) -> Result<Self, CreateError> {
        Handle::anonymous(Cells::of(Kind::Array), Contents::Zeroed(len)).map(|h| Self { b: Block::new(h) })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.b.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.b.len() == 0
    }

    fn check(&self, index: usize) -> Result<(), ArrayError> {
        if index < self.len() {
            Ok(())
        } else {
            Err(ArrayError::OutOfRange { index, len: self.len() })
        }
    }

    /// Element `index`, read without the lock and never torn.
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`].
    pub fn get(&self, index: usize) -> Result<T, ArrayError> {
        self.check(index)?;
        let mut out = [T::zeroed()];
        self.b.read(index, &mut out);
        Ok(out[0])
    }

    /// Element `index` if no write is in flight now (one attempt at a consistent read).
    ///
    /// # Errors
    ///
    /// As [`get_deadline`](Self::get_deadline).
    pub fn try_get(&self, index: usize) -> Result<T, ArrayError> {
        self.get_deadline(index, Deadline::now())
    }

    /// Element `index`, waiting at most `timeout` for a write in flight to finish.
    ///
    /// # Errors
    ///
    /// As [`get_deadline`](Self::get_deadline).
    pub fn get_timeout(&self, index: usize, timeout: Duration) -> Result<T, ArrayError> {
        self.get_deadline(index, Deadline::after(timeout))
    }

    /// Element `index`, waiting until `deadline` for a write in flight to finish.
    ///
    /// # Errors
    ///
    /// [`ArrayError::ReadTimeout`] if a write is still in flight at the deadline (its
    /// writer may be stopped); [`ArrayError::OutOfRange`].
    pub fn get_deadline(&self, index: usize, deadline: Deadline) -> Result<T, ArrayError> {
        self.check(index)?;
        let mut out = [T::zeroed()];
        if self.b.read_until(index, &mut out, deadline) {
            Ok(out[0])
        } else {
            Err(ArrayError::ReadTimeout)
        }
    }

    /// Writes element `index` under the lock, waiting for it as long as another process
    /// holds it (see [`set_deadline`](Self::set_deadline) for a bounded wait).
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`], [`ArrayError::NoSlot`].
    pub fn set(&self, index: usize, value: T) -> Result<(), ArrayError> {
        self.set_deadline(index, value, Deadline::never())
    }

    /// Writes element `index` if the lock is free now (or its owner is dead).
    ///
    /// # Errors
    ///
    /// As [`set_deadline`](Self::set_deadline).
    pub fn try_set(&self, index: usize, value: T) -> Result<(), ArrayError> {
        self.set_deadline(index, value, Deadline::now())
    }

    /// Writes element `index`, waiting at most `timeout` for the lock.
    ///
    /// # Errors
    ///
    /// As [`set_deadline`](Self::set_deadline).
    pub fn set_timeout(&self, index: usize, value: T, timeout: Duration) -> Result<(), ArrayError> {
        self.set_deadline(index, value, Deadline::after(timeout))
    }

    /// Writes element `index`, waiting until `deadline` for the lock.
    ///
    /// # Errors
    ///
    /// [`ArrayError::Timeout`] if another process still holds the lock at the deadline
    /// (nothing was written); [`ArrayError::OutOfRange`], [`ArrayError::NoSlot`].
    pub fn set_deadline(&self, index: usize, value: T, deadline: Deadline) -> Result<(), ArrayError> {
        self.check(index)?;
        self.with_lock(deadline, |held| self.b.write(held, index, &[value]))
    }

    /// A consistent copy of the whole array, without the lock. Waits while a write is in
    /// flight, however long (see [`to_vec_deadline`](Self::to_vec_deadline)).
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = vec![T::zeroed(); self.len()];
        self.b.read(0, &mut out);
        out
    }

    /// A consistent copy of the whole array if no write is in flight now (one attempt).
    ///
    /// # Errors
    ///
    /// As [`to_vec_deadline`](Self::to_vec_deadline).
    pub fn try_to_vec(&self) -> Result<Vec<T>, ArrayError> {
        self.to_vec_deadline(Deadline::now())
    }

    /// A consistent copy of the whole array, waiting at most `timeout` for a write in
    /// flight to finish.
    ///
    /// # Errors
    ///
    /// As [`to_vec_deadline`](Self::to_vec_deadline).
    pub fn to_vec_timeout(&self, timeout: Duration) -> Result<Vec<T>, ArrayError> {
        self.to_vec_deadline(Deadline::after(timeout))
    }

    /// A consistent copy of the whole array, waiting until `deadline` for a write in
    /// flight to finish.
    ///
    /// # Errors
    ///
    /// [`ArrayError::ReadTimeout`] if a write is still in flight at the deadline (its
    /// writer may be stopped).
    pub fn to_vec_deadline(&self, deadline: Deadline) -> Result<Vec<T>, ArrayError> {
        let mut out = vec![T::zeroed(); self.len()];
        if self.b.read_until(0, &mut out, deadline) {
            Ok(out)
        } else {
            Err(ArrayError::ReadTimeout)
        }
    }

    /// Overwrites the whole array under the lock (readers see all old or all new),
    /// waiting for the lock as long as another process holds it (see
    /// [`copy_from_slice_deadline`](Self::copy_from_slice_deadline) for a bounded wait).
    ///
    /// # Errors
    ///
    /// [`ArrayError::LengthMismatch`], [`ArrayError::NoSlot`].
    pub fn copy_from_slice(&self, values: &[T]) -> Result<(), ArrayError> {
        self.copy_from_slice_deadline(values, Deadline::never())
    }

    /// [`copy_from_slice`](Self::copy_from_slice) if the lock is free now.
    ///
    /// # Errors
    ///
    /// As [`copy_from_slice_deadline`](Self::copy_from_slice_deadline).
    pub fn try_copy_from_slice(&self, values: &[T]) -> Result<(), ArrayError> {
        self.copy_from_slice_deadline(values, Deadline::now())
    }

    /// [`copy_from_slice`](Self::copy_from_slice), waiting at most `timeout` for the lock.
    ///
    /// # Errors
    ///
    /// As [`copy_from_slice_deadline`](Self::copy_from_slice_deadline).
    pub fn copy_from_slice_timeout(&self, values: &[T], timeout: Duration) -> Result<(), ArrayError> {
        self.copy_from_slice_deadline(values, Deadline::after(timeout))
    }

    /// [`copy_from_slice`](Self::copy_from_slice), waiting until `deadline` for the lock.
    ///
    /// # Errors
    ///
    /// [`ArrayError::Timeout`] if another process still holds the lock at the deadline
    /// (nothing was written); [`ArrayError::LengthMismatch`], [`ArrayError::NoSlot`].
    pub fn copy_from_slice_deadline(&self, values: &[T], deadline: Deadline) -> Result<(), ArrayError> {
        if values.len() != self.len() {
            return Err(ArrayError::LengthMismatch { expected: self.len(), found: values.len() });
        }
        self.with_lock(deadline, |held| self.b.write(held, 0, values))
    }

    /// Runs `f` holding the lock, taken by `deadline`; the lock is released when `f`
    /// returns, and also if it panics (`f` may be a caller's closure, as in
    /// `update_range`).
    pub(crate) fn with_lock<R>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&Held) -> R,
    ) -> Result<R, ArrayError> {
        // A dead owner's lock is taken over; this write does not repair the whole array,
        // so the death stays on record for the next `get_lock`.
        let locked = self.b.lock(deadline, Report::Keep).map_err(ArrayError::NoSlot)?;
        let guard = ArrayGuard { a: self, held: Some(locked.ok_or(ArrayError::Timeout)?.held()) };
        Ok(f(guard.held()))
    }

    /// The shared block: the range operations (`range.rs`) read through it.
    pub(crate) fn block(&self) -> &Block<T> {
        &self.b
    }

    /// Copies elements `start..start + out.len()` into `out` while holding the lock (the
    /// caller bounds-checks). No writer can be in flight, since writers hold the lock, so
    /// this does not wait on the sequence: a sequence left odd by a writer that died
    /// holding the lock (which this holder took over) would otherwise make it wait forever.
    pub(crate) fn read_held(&self, _held: &Held, start: usize, out: &mut [T]) {
        debug_assert!(start + out.len() <= self.len());
        // SAFETY: the range is inside the elements (callers bounds-check) and peers only
        // access it atomically; `out` is private memory of the same length. Holding the
        // lock, no writer changes it while it is copied.
        unsafe {
            copy_load(self.b.elem_ptr(start).cast(), out.as_mut_ptr().cast(), std::mem::size_of_val(out))
        }
    }

    /// Applies `f` to a private copy of elements `range` (bounds-checked by the caller)
    /// and writes it back in one write, holding the lock: readers see the whole range old
    /// or the whole range new. Only the range is copied, out and back; `f` runs while the
    /// sequence is even, so readers go on reading the old range meanwhile.
    pub(crate) fn update_held<R>(
        &self,
        held: &Held,
        range: Range<usize>,
        f: impl FnOnce(&mut [T]) -> R,
    ) -> R {
        let mut private = vec![T::zeroed(); range.len()];
        self.read_held(held, range.start, &mut private);
        let r = f(&mut private);
        self.b.write(held, range.start, &private);
        r
    }

    /// Holds the array's lock for bulk work: Python's `arr.get_lock()`.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) if a process died holding the lock;
    /// [`LockError::NoSlot`].
    pub fn get_lock(&self) -> Result<ArrayGuard<'_, T>, LockError<ArrayGuard<'_, T>>> {
        let locked = lock_forever(&self.b, Report::Take).map_err(LockError::NoSlot)?;
        locked.into_result(|held| ArrayGuard { a: self, held: Some(held) })
    }

    /// Takes the array's lock if it is free (or its owner is dead), without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held; [`TryLockError::OwnerDied`] (with the
    /// guard) as [`get_lock`](Self::get_lock); [`TryLockError::NoSlot`].
    pub fn try_get_lock(&self) -> Result<ArrayGuard<'_, T>, TryLockError<ArrayGuard<'_, T>>> {
        self.get_lock_deadline(Deadline::now())
    }

    /// Takes the array's lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get_lock_deadline`](Self::get_lock_deadline).
    pub fn get_lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ArrayGuard<'_, T>, TryLockError<ArrayGuard<'_, T>>> {
        self.get_lock_deadline(Deadline::after(timeout))
    }

    /// Takes the array's lock, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is still held at the deadline, else as
    /// [`try_get_lock`](Self::try_get_lock).
    pub fn get_lock_deadline(
        &self,
        deadline: Deadline,
    ) -> Result<ArrayGuard<'_, T>, TryLockError<ArrayGuard<'_, T>>> {
        self.b.lock_guard(deadline, |held| ArrayGuard { a: self, held: Some(held) })
    }

    /// The first element's address, for callers that synchronise themselves: Python's
    /// `Array(..., lock=False)`.
    ///
    /// # Safety
    ///
    /// As [`Value::as_ptr`](crate::Value::as_ptr), for `len()` elements.
    pub unsafe fn as_ptr(&self) -> *mut T {
        self.b.elem_ptr(0)
    }
}

impl<T: AtomicInt> Array<T> {
    fn elem(&self, index: usize) -> Result<*mut T, ArrayError> {
        self.check(index)?;
        Ok(self.b.elem_ptr(index))
    }

    /// Adds `v` to element `index` atomically, without the lock; returns the old value.
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`].
    pub fn fetch_add(&self, index: usize, v: T) -> Result<T, ArrayError> {
        // SAFETY: in range (checked), aligned (integers are aligned to their size, which
        // divides the 128-byte-aligned start), only accessed atomically.
        Ok(unsafe { T::fetch_add(self.elem(index)?, v) })
    }

    /// Subtracts `v` from element `index` atomically; returns the old value.
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`].
    pub fn fetch_sub(&self, index: usize, v: T) -> Result<T, ArrayError> {
        // SAFETY: as in `fetch_add`.
        Ok(unsafe { T::fetch_sub(self.elem(index)?, v) })
    }

    /// Stores `v` in element `index` atomically; returns the old value.
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`].
    pub fn swap(&self, index: usize, v: T) -> Result<T, ArrayError> {
        // SAFETY: as in `fetch_add`.
        Ok(unsafe { T::swap(self.elem(index)?, v) })
    }

    /// Stores `new` in element `index` if it holds `current`. The outer `Result` is the
    /// index check; the inner one is `Err(found)` if the element was not `current`.
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`].
    pub fn compare_exchange(&self, index: usize, current: T, new: T) -> Result<Result<T, T>, ArrayError> {
        // SAFETY: as in `fetch_add`.
        Ok(unsafe { T::compare_exchange(self.elem(index)?, current, new) })
    }
}

impl Array<CChar> {
    /// A byte array holding `bytes`: Python's `Array('c', b'...')`.
    ///
    /// # Errors
    ///
    /// As [`Array::anonymous`].
    pub fn anonymous_bytes(bytes: &[u8]) -> Result<Self, CreateError> {
        Self::anonymous(bytemuck::cast_slice(bytes))
    }

    /// The named byte array `name` holding `bytes`.
    ///
    /// # Errors
    ///
    /// As [`Array::create`].
    pub fn create_bytes(name: &str, bytes: &[u8]) -> Result<Self, CreateError> {
        Self::create(name, bytemuck::cast_slice(bytes))
    }

    /// The bytes up to the first NUL: Python's `arr.value` for a `'c'` array.
    pub fn value(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.to_vec().into_iter().map(|c| c.0).collect();
        if let Some(nul) = v.iter().position(|&b| b == 0) {
            v.truncate(nul);
        }
        v
    }

    /// Stores `bytes`, followed by a NUL if they are shorter than the array: Python's
    /// `arr.value = b'...'`.
    ///
    /// # Errors
    ///
    /// [`ArrayError::TooLong`] if `bytes` is longer than the array.
    pub fn set_value(&self, bytes: &[u8]) -> Result<(), ArrayError> {
        if bytes.len() > self.len() {
            return Err(ArrayError::TooLong { capacity: self.len(), found: bytes.len() });
        }
        let mut all = bytes.to_vec();
        if all.len() < self.len() {
            all.push(0);
        }
        self.with_lock(Deadline::never(), |held| self.b.write(held, 0, bytemuck::cast_slice(&all)))
    }
}

/// Holds an [`Array`]'s lock; releases it when dropped: Python's `with arr.get_lock():`.
/// Several reads and writes under one guard form one step that no other writer can split.
///
/// ```
/// use shmkit::Array;
///
/// let balances = Array::anonymous(&[100i64, 50])?;
/// {
///     // A transfer: both elements change under one lock.
///     let mut g = balances.get_lock().map_err(|e| e.to_string())?;
///     let (from, to) = (g.get(0)?, g.get(1)?);
///     g.set(0, from - 30)?;
///     g.set(1, to + 30)?;
/// } // released here
/// assert_eq!(balances.to_vec(), [70, 80]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Pod> {
    a: &'a Array<T>,
    held: Option<Held>,
}

impl<T: Pod> ArrayGuard<'_, T> {
    /// The array.
    pub(crate) fn array(&self) -> &Array<T> {
        self.a
    }

    /// The holding of the lock.
    pub(crate) fn held(&self) -> &Held {
        // `held` is `Some` from construction until `drop` takes it out, and no method
        // runs after `drop`.
        self.held.as_ref().expect("an ArrayGuard holds the lock until it is dropped")
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }

    /// Element `index`.
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`].
    pub fn get(&self, index: usize) -> Result<T, ArrayError> {
        self.a.check(index)?;
        let mut out = [T::zeroed()];
        self.a.read_held(self.held(), index, &mut out);
        Ok(out[0])
    }

    /// Writes element `index`.
    ///
    /// # Errors
    ///
    /// [`ArrayError::OutOfRange`].
    pub fn set(&mut self, index: usize, value: T) -> Result<(), ArrayError> {
        self.a.check(index)?;
        self.a.b.write(self.held(), index, &[value]);
        Ok(())
    }

    /// A copy of the whole array.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = vec![T::zeroed(); self.len()];
        self.a.read_held(self.held(), 0, &mut out);
        out
    }

    /// Overwrites the whole array.
    ///
    /// # Errors
    ///
    /// [`ArrayError::LengthMismatch`].
    pub fn copy_from_slice(&mut self, values: &[T]) -> Result<(), ArrayError> {
        if values.len() != self.len() {
            return Err(ArrayError::LengthMismatch { expected: self.len(), found: values.len() });
        }
        self.a.b.write(self.held(), 0, values);
        Ok(())
    }

    /// Applies `f` to a private copy of the array and writes it back: bulk work in one
    /// write that readers see all at once.
    pub fn update(&mut self, f: impl FnOnce(&mut [T])) {
        self.a.update_held(self.held(), 0..self.len(), f);
    }
}

impl<T: Pod> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            self.a.b.unlock(held);
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
    }
}
