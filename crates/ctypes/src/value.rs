//! [`Value<T>`]: one `T` in shared memory: Python's `multiprocessing.Value`.

use std::fmt;
use std::time::Duration;

use bytemuck::Pod;
use shmkit_core::{
    CreateError, CreateOptions, Deadline, Handle, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    RegisterError, UnlinkError, WaitStrategy,
};
use shmkit_sync::{LockError, TryLockError};

use crate::block::{lock_forever, Block, Cells, Contents, Held, Report};
use crate::int::AtomicInt;

/// One `T` in shared memory, with a lock: Python's `multiprocessing.Value`.
///
/// - [`load`](Self::load) never waits on a writer and is never torn, whatever a writer
///   does (stopped by SIGSTOP or a debugger, or killed, in the middle of a store): a `T`
///   of 1, 2, 4 or 8 bytes is one atomic word; a larger one has two copies, and a store
///   fills the one readers are not using, then publishes it (see
///   [`twin`](crate::twin) for the algorithm and its one caveat, a storm of completed
///   stores).
/// - [`store`](Self::store) takes the lock for the write.
/// - [`get_lock`](Self::get_lock) holds the lock for a read-modify-write, as Python's
///   `with v.get_lock(): v.value += 1`.
/// - For integers, [`fetch_add`](Self::fetch_add) and friends are single atomic
///   instructions, without the lock.
///
/// `open` checks the element type (size, alignment, type code, type name) and refuses
/// another one with [`OpenError::TypeMismatch`].
///
/// # Examples
///
/// Your own `#[repr(C)]` struct is a value too. Derive `shmkit::Pod` and
/// `shmkit::Zeroable`: the derive checks that the layout has no padding (make it explicit
/// with a `_pad` field). A program that opens the value by name must use a struct of the
/// same name, size and alignment.
///
/// ```
/// use shmkit::Value;
///
/// #[repr(C)]
/// #[derive(Clone, Copy, Debug, PartialEq, shmkit::Pod, shmkit::Zeroable)]
/// struct Position {
///     qty: i64,
///     avg_price: f64,
///     updates: u32,
///     _pad: [u8; 4], // every byte belongs to a field
/// }
///
/// let flat = Position { qty: 0, avg_price: 0.0, updates: 0, _pad: [0; 4] };
/// let pos = Value::anonymous(flat)?; // shared with children forked from here on
/// pos.store(Position { qty: 100, avg_price: 99.5, updates: 1, ..flat })?;
/// {
///     // A read-modify-write holds the lock: with v.get_lock(): ...
///     let mut guard = pos.get_lock().unwrap();
///     guard.update(|p| Position { qty: p.qty + 50, updates: p.updates + 1, ..p });
/// }
/// // A load never waits for a writer, and never sees half of a store.
/// assert_eq!(pos.load(), Position { qty: 150, avg_price: 99.5, updates: 2, ..flat });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A counter shared by name between two processes:
///
/// ```
/// use shmkit::Value;
/// let name = format!("example-value-{}", std::process::id());
///
/// // Process 1: Value('i', 0)
/// let counter = Value::<i32>::create(&name, 0)?;
/// // Process 2
/// let same = Value::<i32>::open(&name)?;
/// {
///     let mut guard = same.get_lock().unwrap();
///     let v = guard.get();
///     guard.set(v + 1);
/// }
/// counter.fetch_add(10);
/// assert_eq!(counter.load(), 11);
/// assert!(Value::<f64>::open(&name).is_err()); // the wrong type is refused
/// Value::<i32>::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Value<T: Pod> {
    b: Block<T>,
}

impl<T: Pod + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value").field("value", &self.load()).finish()
    }
}

impl<T: Pod> Value<T> {
    /// Creates the named value `name` holding `value` (a `T` aligned to at most 128 bytes). Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, value: T) -> Result<Self, CreateError> {
        Self::create_with(name, value, &CreateOptions::new())
    }

    /// Creates the named value `name` with options (file mode, participants).
    pub fn create_with(name: &str, value: T, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(Cells::of(Kind::Value), name, Contents::Copy(&[value]), opts)
            .map(|h| Self { b: Block::new(h) })
    }

    /// Opens the named value `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named value `name` with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(Cells::of(Kind::Value), name, opts).map(|h| Self { b: Block::new(h) })
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

    /// Opens `name`, or creates it as a new value holding `value` (a `T` aligned to at most 128 bytes).
    pub fn open_or_create(name: &str, value: T) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(Cells::of(Kind::Value), name, Contents::Copy(&[value]))
            .map(|h| Self { b: Block::new(h) })
    }

    /// Creates an anonymous value holding `value` (a `T` aligned to at most 128 bytes), shared with children forked afterwards.
    pub fn anonymous(value: T) -> Result<Self, CreateError> {
        Self::anonymous_with(value, &CreateOptions::new())
    }

    /// Creates an anonymous value with options (participants).
    pub fn anonymous_with(value: T, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(Cells::of(Kind::Value), Contents::Copy(&[value]), opts)
            .map(|h| Self { b: Block::new(h) })
    }

    /// Removes the name `name`; processes that have the value open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<Cells<T>>::unlink(name)
    }

    /// A second handle to the same value, a participant of its own (one per thread).
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

    /// The value, read without the lock and never torn: always a complete value that a
    /// store committed, even while a writer is stopped in the middle of its store.
    /// Python's `v.value`.
    ///
    /// A `T` of one atomic word is read with one atomic load: wait-free. A larger `T` is
    /// copied from the published copy and the copy is retried only if a store completed
    /// meanwhile (lock-free); after 64 such lost races the read also tries the lock
    /// without waiting (see [`twin`](crate::twin)).
    #[doc(alias = "value")]
    pub fn load(&self) -> T {
        self.b.load_value()
    }

    /// Stores `value` under the lock. Python's `v.value = x`. Waits for the lock as long
    /// as another process holds it (see [`store_deadline`](Self::store_deadline) for a
    /// bounded wait). A lock whose owner died is taken over: the store repairs the value
    /// anyway.
    ///
    /// # Errors
    ///
    /// [`RegisterError`] if this process cannot become a participant.
    pub fn store(&self, value: T) -> Result<(), RegisterError> {
        // The store overwrites the whole value: it repairs whatever a dead writer left.
        let held = lock_forever(&self.b, Report::Take)?.held();
        self.write(held, value);
        Ok(())
    }

    /// Stores `value` if the lock is free now (or its owner is dead).
    ///
    /// # Errors
    ///
    /// As [`store_deadline`](Self::store_deadline).
    pub fn try_store(&self, value: T) -> Result<(), TryLockError<()>> {
        self.store_deadline(value, Deadline::now())
    }

    /// Stores `value`, waiting at most `timeout` for the lock.
    ///
    /// # Errors
    ///
    /// As [`store_deadline`](Self::store_deadline).
    pub fn store_timeout(&self, value: T, timeout: Duration) -> Result<(), TryLockError<()>> {
        self.store_deadline(value, Deadline::after(timeout))
    }

    /// Stores `value`, waiting until `deadline` for the lock; as [`store`](Self::store)
    /// otherwise.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if another process still holds the lock at the
    /// deadline (nothing was written); [`TryLockError::NoSlot`].
    pub fn store_deadline(&self, value: T, deadline: Deadline) -> Result<(), TryLockError<()>> {
        // As `store`: the whole value is overwritten, so a dead writer's death is repaired.
        let held = self.b.lock(deadline, Report::Take).map_err(TryLockError::NoSlot)?;
        self.write(held.ok_or(TryLockError::WouldBlock)?.held(), value);
        Ok(())
    }

    fn write(&self, held: Held, value: T) {
        self.b.store_value(&held, &value);
        self.b.unlock(held);
    }

    /// Holds the value's lock for a read-modify-write: Python's `v.get_lock()`.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (with the guard) if a process died holding the lock, maybe
    /// in the middle of a write; [`LockError::NoSlot`].
    pub fn get_lock(&self) -> Result<ValueGuard<'_, T>, LockError<ValueGuard<'_, T>>> {
        let locked = lock_forever(&self.b, Report::Take).map_err(LockError::NoSlot)?;
        locked.into_result(|held| ValueGuard { v: self, held: Some(held) })
    }

    /// Takes the value's lock if it is free (or its owner is dead), without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held; [`TryLockError::OwnerDied`] (with the
    /// guard) as [`get_lock`](Self::get_lock); [`TryLockError::NoSlot`].
    pub fn try_get_lock(&self) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        self.get_lock_deadline(Deadline::now())
    }

    /// Takes the value's lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get_lock_deadline`](Self::get_lock_deadline).
    pub fn get_lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        self.get_lock_deadline(Deadline::after(timeout))
    }

    /// Takes the value's lock, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is still held at the deadline, else as
    /// [`try_get_lock`](Self::try_get_lock).
    pub fn get_lock_deadline(
        &self,
        deadline: Deadline,
    ) -> Result<ValueGuard<'_, T>, TryLockError<ValueGuard<'_, T>>> {
        self.b.lock_guard(deadline, |held| ValueGuard { v: self, held: Some(held) })
    }

    /// The value's address, for callers that synchronise themselves: Python's
    /// `Value(..., lock=False)`.
    ///
    /// For a `T` of 1, 2, 4 or 8 bytes this is the value itself. A larger `T` has two
    /// copies (see [`twin`](crate::twin)); this is copy 0, which `load` reads only while
    /// it is the published one: do not mix access through the pointer with `load` and
    /// `store` on such a Value.
    ///
    /// # Safety
    ///
    /// The pointer is valid while `self` lives. Other processes may read and write the
    /// value at any time: any access through it must be atomic or otherwise
    /// synchronised with them, and must not be turned into a reference while they can.
    pub unsafe fn as_ptr(&self) -> *mut T {
        self.b.elem_ptr(0)
    }

    /// Whether some process holds the lock (racy).
    pub fn is_locked(&self) -> bool {
        self.b.is_locked()
    }
}

/// Integer atomics act on the value in place, one atomic instruction each. Every
/// [`AtomicInt`] is one word, so its Value has one copy (see [`twin`](crate::twin)) and
/// these instructions, `load` (one atomic load) and `store` (one atomic store, under the
/// lock) all access the same word: they are linearizable together. A read-modify-write
/// under [`get_lock`](Self::get_lock) can overwrite them, as in Python.
impl<T: AtomicInt> Value<T> {
    /// Adds `v` atomically (wrapping) and returns the previous value. No lock.
    pub fn fetch_add(&self, v: T) -> T {
        const { assert!(crate::twin::is_word(std::mem::size_of::<T>())) };
        // SAFETY: the element is aligned (integer alignment divides 128), inside the
        // mapping, and only accessed atomically.
        unsafe { T::fetch_add(self.b.elem_ptr(0), v) }
    }

    /// Subtracts `v` atomically (wrapping) and returns the previous value. No lock.
    pub fn fetch_sub(&self, v: T) -> T {
        // SAFETY: as in `fetch_add`.
        unsafe { T::fetch_sub(self.b.elem_ptr(0), v) }
    }

    /// Stores `v` atomically and returns the previous value. No lock.
    pub fn swap(&self, v: T) -> T {
        // SAFETY: as in `fetch_add`.
        unsafe { T::swap(self.b.elem_ptr(0), v) }
    }

    /// Stores `new` if the value is `current`; returns the previous value, `Err` with it
    /// if it was not `current`. No lock.
    ///
    /// # Errors
    ///
    /// The value found, if it was not `current`.
    pub fn compare_exchange(&self, current: T, new: T) -> Result<T, T> {
        // SAFETY: as in `fetch_add`.
        unsafe { T::compare_exchange(self.b.elem_ptr(0), current, new) }
    }
}

/// Holds a [`Value`]'s lock; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Pod> {
    v: &'a Value<T>,
    held: Option<Held>,
}

impl<T: Pod> ValueGuard<'_, T> {
    /// The value.
    pub fn get(&self) -> T {
        self.v.load()
    }

    /// Writes the value (readers see the old or the new one, never a mix).
    pub fn set(&mut self, value: T) {
        if let Some(held) = &self.held {
            self.v.b.store_value(held, &value);
        }
    }

    /// Replaces the value with `f(value)` and returns the new one.
    pub fn update(&mut self, f: impl FnOnce(T) -> T) -> T {
        let new = f(self.get());
        self.set(new);
        new
    }
}

impl<T: Pod> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            self.v.b.unlock(held);
        }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueGuard").field("value", &self.get()).finish()
    }
}
