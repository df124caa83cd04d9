//! What `Value` and `Array` share: an object whose body is a control block (lock,
//! sequence or version, recovery flag) and then the elements.
//!
//! ```text
//! body +  0  lock owner   u64   (RawLock: owner token, then its event count)
//!      +  8  lock waiters 2 × u32
//!      + 16  word         u64   Array: sequence (SeqLock: odd while a write is in flight)
//!                               Value: version (Twin: its low bit is the published copy)
//!      + 24  recovered    u32   1 if a dead writer's lock was taken over unreported
//!      +128  elements     Array: count × size_of::<T>(), padded to 8 bytes
//!                         Value: copy 0, then copy 1 at +128 + stride, where stride is
//!                         size_of::<T>() rounded up to 8; the body is exactly
//!                         128 + 2 × stride bytes. A T of 1, 2, 4 or 8 bytes uses copy 0
//!                         only (one atomic word; its version stays 0).
//! ```
//!
//! A Value made before the two copies (one copy: a body of 128 + stride bytes) is refused
//! on open as corrupt, with the advice to recreate it: never read with the wrong protocol.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytemuck::Pod;
use shmkit_core::{
    CreateError, Deadline, Expect, Handle, InPlace, Kind, Layout, Object, OpenError, RegisterError, Spec,
    TypeDesc, WaitStrategy,
};
use shmkit_sync::raw::{token, Acquired, RawLock};
use shmkit_sync::{LockError, TryLockError};

use crate::seqlock::{copy_load, copy_store, ReadOutcome, SeqLock};
use crate::twin::{self, Twin};

/// Where the elements start in the body.
pub const DATA_OFFSET: usize = 128;

/// The control block at the start of the body.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Control {
    pub lock: RawLock,
    /// An Array's sequence, a Value's version.
    pub word: AtomicU64,
    pub recovered: AtomicU32,
}

impl Control {
    /// The word as an Array's sequence.
    pub fn seq(&self) -> &SeqLock {
        SeqLock::from_word(&self.word)
    }

    /// The word as a Value's version.
    pub fn twin(&self) -> &Twin {
        Twin::from_word(&self.word)
    }
}

/// The exact body length of a Value of a `T` of `size` bytes (`None` on overflow).
pub(crate) fn value_body_len(size: usize) -> Option<usize> {
    DATA_OFFSET.checked_add(twin::stride(size)?.checked_mul(2)?)
}

const _: () = assert!(std::mem::size_of::<Control>() <= DATA_OFFSET);

// SAFETY: `#[repr(C)]`, made of a RawLock (atomics), an AtomicU64 and an AtomicU32: every bit pattern is valid and peers may write it concurrently.
unsafe impl InPlace for Control {}

/// A C `char`: Python's type code `'c'`, for byte strings (`Array('c', b'...')`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct CChar(pub u8);

// SAFETY: a transparent wrapper of u8: no padding, every bit pattern valid.
unsafe impl bytemuck::Zeroable for CChar {}
// SAFETY: as above; Copy and 'static.
unsafe impl Pod for CChar {}

/// The type description of `T`, with `'c'` for [`CChar`].
pub fn type_desc<T: Pod>() -> TypeDesc {
    let mut d = TypeDesc::of::<T>();
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<CChar>() {
        d.code = b'c';
    }
    d
}

/// Holds the lock for a write; `me` is the holder's token.
pub(crate) struct Held {
    pub me: u64,
}

/// How the lock was taken.
pub(crate) enum Locked {
    Clean(Held),
    /// Its owner died holding it (now, or before an unreported repair).
    OwnerDied(Held),
}

impl Locked {
    /// Into the `Result` shape of `get_lock`, with `guard` made from the holding.
    pub fn into_result<G>(self, guard: impl FnOnce(Held) -> G) -> Result<G, LockError<G>> {
        match self {
            Locked::Clean(h) => Ok(guard(h)),
            Locked::OwnerDied(h) => Err(LockError::OwnerDied(guard(h))),
        }
    }

    /// The holding, however it was taken.
    pub fn held(self) -> Held {
        match self {
            Locked::Clean(h) | Locked::OwnerDied(h) => h,
        }
    }
}

/// What a creator puts in the elements.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Contents<'a, T> {
    /// A copy of these values.
    Copy(&'a [T]),
    /// This many zeroed elements.
    Zeroed(usize),
}

impl<T> Contents<'_, T> {
    fn len(&self) -> usize {
        match self {
            Self::Copy(values) => values.len(),
            Self::Zeroed(len) => *len,
        }
    }
}

/// The layout of a Value or an Array of `T`: the control block, then the elements.
#[derive(Debug)]
pub(crate) struct Cells<T> {
    kind: Kind,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Cells<T> {
    fn clone(&self) -> Self {
        Self::of(self.kind)
    }
}

impl<T> Cells<T> {
    pub const fn of(kind: Kind) -> Self {
        Self { kind, _t: PhantomData }
    }
}

/// Where a Value's or Array's elements are, checked when attaching.
#[derive(Debug)]
pub(crate) struct Elements<T> {
    /// The control block.
    ctl: NonNull<Control>,
    /// The element count.
    len: usize,
    /// The first element (`len` of them follow, inside the body); a Value's copy 0.
    data: NonNull<T>,
    /// How the elements are read and written.
    shape: Shape<T>,
}

impl<T> Elements<T> {
    /// The element count.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The first element: `len` of them follow, inside the checked body.
    pub fn data(&self) -> NonNull<T> {
        self.data
    }
}

/// How a Value's or Array's elements are read and written.
#[derive(Debug)]
enum Shape<T> {
    /// An Array: one copy under the sequence lock.
    Array,
    /// A Value of one atomic word: copy 0, one atomic instruction per access.
    Word,
    /// A larger Value: two copies under the version word; this is copy 1.
    Twin(NonNull<T>),
}

impl<T: Pod> Layout for Cells<T> {
    type Params<'a> = Contents<'a, T>;
    type Geometry = Elements<T>;

    fn spec(&self, contents: &Contents<'_, T>, participants: u32) -> Result<Spec, CreateError> {
        if std::mem::align_of::<T>() > DATA_OFFSET {
            return Err(CreateError::InvalidSize {
                size: std::mem::align_of::<T>() as u64,
                reason: "element types aligned to more than 128 bytes are not supported",
            });
        }
        let len = contents.len();
        let bytes = if self.kind == Kind::Value {
            value_body_len(std::mem::size_of::<T>())
        } else {
            len.checked_mul(std::mem::size_of::<T>())
                .and_then(|b| b.checked_add(DATA_OFFSET + 7))
                .map(|b| b & !7)
        }
        .ok_or(CreateError::InvalidSize { size: len as u64, reason: "too many elements" })?;
        Ok(Spec::new(self.kind, bytes as u64).elem(type_desc::<T>(), len as u64).slots(participants))
    }

    fn expect(&self) -> Expect {
        let expect = Expect::kind(self.kind).elem(type_desc::<T>());
        // A Value holds exactly one element; an Array any number.
        if self.kind == Kind::Value {
            expect.count(1)
        } else {
            expect
        }
    }

    fn init(&self, obj: &Object, contents: Contents<'_, T>) -> Result<(), CreateError> {
        // A Value's copy 0 is published first (version 0): its value goes there.
        if let Contents::Copy(values) = contents {
            let data = obj.region::<T>(DATA_OFFSET, values.len()).map_err(CreateError::from_layout)?;
            // SAFETY: `region` checked that `values.len()` elements fit the body from
            // DATA_OFFSET; nobody else sees the body yet; `values` is private memory.
            unsafe {
                copy_store(data.as_ptr().cast(), values.as_ptr().cast(), std::mem::size_of_val(values))
            };
        }
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<Elements<T>, OpenError> {
        let len =
            usize::try_from(obj.info().elem_count).map_err(|_| OpenError::Corrupt { reason: "count" })?;
        if self.kind == Kind::Value && len != 1 {
            // Every access of a Value is to element 0.
            return Err(OpenError::Corrupt { reason: "a Value's element count is not 1" });
        }
        let size = std::mem::size_of::<T>();
        let shape = if self.kind != Kind::Value {
            Shape::Array
        } else {
            if value_body_len(size) != Some(obj.body_len()) {
                return Err(OpenError::Corrupt {
                    reason: "a Value's body is not the two-copy layout of this version; an older \
                             shmkit may have made it",
                });
            }
            match twin::stride(size) {
                _ if twin::is_word(size) => Shape::Word,
                Some(stride) => Shape::Twin(obj.region::<T>(DATA_OFFSET + stride, 1)?),
                None => return Err(OpenError::Corrupt { reason: "the element size" }),
            }
        };
        let ctl = NonNull::from(obj.view::<Control>(0)?);
        Ok(Elements { ctl, len, data: obj.region::<T>(DATA_OFFSET, len)?, shape })
    }
}

#[derive(Debug)]
pub(crate) struct Block<T: Pod> {
    h: Handle<Cells<T>>,
}

// SAFETY: `Elements::data` points into the mapping owned by the handle, which moves
// between threads with it; the elements are `T`s, which may move if `T: Send`.
unsafe impl<T: Pod + Send> Send for Block<T> {}
// SAFETY: shared use reads through the seqlock and writes under the lock, with atomic
// copies, as processes share it; threads may do the same where `T: Sync`.
unsafe impl<T: Pod + Sync> Sync for Block<T> {}

impl<T: Pod> Block<T> {
    pub fn new(h: Handle<Cells<T>>) -> Self {
        Self { h }
    }

    pub fn handle(&self) -> &Handle<Cells<T>> {
        &self.h
    }

    pub fn handle_mut(&mut self) -> &mut Handle<Cells<T>> {
        &mut self.h
    }

    pub fn object(&self) -> &Object {
        self.h.object()
    }

    pub fn len(&self) -> usize {
        self.h.geometry().len
    }

    fn control(&self) -> &Control {
        // SAFETY: `Cells::check` made the pointer from a checked view of the object this
        // handle holds, mapped while `self` lives; Control is InPlace (atomics only).
        unsafe { self.h.geometry().ctl.as_ref() }
    }

    /// The address of element `i` (`i <= len`).
    pub fn elem_ptr(&self, i: usize) -> *mut T {
        let e = self.h.geometry();
        debug_assert!(i <= e.len);
        // SAFETY: `Cells::check` proved `len` elements from `data` inside the body, so
        // `data + i` for `i <= len` stays inside or one past them.
        unsafe { e.data.as_ptr().add(i.min(e.len)) }
    }

    /// Reads an Array's elements `start..start + out.len()` consistently, without the
    /// lock, however long a write in flight takes.
    pub fn read(&self, start: usize, out: &mut [T]) {
        while !self.read_until(start, out, Deadline::never()) {}
    }

    /// As [`read`](Self::read), giving up (`false`) at `deadline` if a write is still in
    /// flight then: its writer is slow or stopped. One attempt even if it has passed.
    pub fn read_until(&self, start: usize, out: &mut [T], deadline: Deadline) -> bool {
        debug_assert!(start + out.len() <= self.len());
        let bytes = std::mem::size_of_val(out);
        let mut spins = 0u32;
        loop {
            // SAFETY: the range is inside the elements (callers bounds-check); `out` is
            // private memory of the same length.
            let read = || unsafe { copy_load(self.elem_ptr(start).cast(), out.as_mut_ptr().cast(), bytes) };
            match self.control().seq().try_read(read) {
                ReadOutcome::Done => return true,
                ReadOutcome::Retry => {
                    spins = spins.wrapping_add(1);
                    if spins % 64 == 0 && deadline.has_passed() {
                        return false;
                    }
                    if spins % 1024 == 0 {
                        self.repair_abandoned_write();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        }
    }

    /// A Value's value, without waiting on any writer (see [`twin`]).
    #[inline]
    pub fn load_value(&self) -> T {
        let e = self.h.geometry();
        match e.shape {
            Shape::Twin(second) => self.load_twin([e.data, second]),
            Shape::Word | Shape::Array => {
                // SAFETY: `Cells::check` proved element 0 inside the body, at an address
                // aligned to 64 bytes (the body's start is, and DATA_OFFSET is 128); a
                // Word's `T` is 1, 2, 4 or 8 bytes; peers access it atomically.
                let value = unsafe { word::load(e.data.as_ptr()) };
                // Whatever the storer wrote before its release fence is visible after.
                fence(Ordering::Acquire);
                value
            }
        }
    }

    /// The two-copy read (see [`twin`]): `copies` are copy 0 and copy 1.
    #[inline(never)]
    fn load_twin(&self, copies: [NonNull<T>; 2]) -> T {
        let mut out = T::zeroed();
        let size = std::mem::size_of::<T>();
        let dst: *mut u8 = (&mut out as *mut T).cast();
        let mut lost = 0u32;
        loop {
            // SAFETY: `Cells::check` proved both copies inside the body; `out` is private
            // memory of one `T`.
            let read = |i: usize| unsafe { copy_load(copies[i].as_ptr().cast(), dst, size) };
            if self.control().twin().try_read(read) == ReadOutcome::Done {
                return out;
            }
            // Every lost race is a store that completed (lock-free); a long stream of
            // them is outlasted under the lock, if it is free now.
            lost = lost.wrapping_add(1);
            if lost % 64 == 0 {
                if let Ok(Some(locked)) = self.lock(Deadline::now(), Report::Keep) {
                    let i = self.control().twin().published();
                    // SAFETY: as above; holding the lock, no writer changes copy `i`.
                    unsafe { copy_load(copies[i].as_ptr().cast(), dst, size) };
                    self.unlock(locked.held());
                    return out;
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Stores a Value's value, holding the lock: readers see the old or the new value.
    pub fn store_value(&self, _held: &Held, value: &T) {
        let size = std::mem::size_of::<T>();
        let src: *const u8 = (value as *const T).cast();
        match self.h.geometry().shape {
            Shape::Twin(second) => {
                let copies = [self.h.geometry().data, second];
                self.control().twin().write(|i| {
                    // SAFETY: copy `i` is inside the body (`Cells::check`); `value` is
                    // private memory of one `T`.
                    unsafe { copy_store(copies[i].as_ptr().cast(), src, size) }
                });
            }
            Shape::Word | Shape::Array => {
                // Pairs with the acquire fence of `load_value`.
                fence(Ordering::Release);
                // SAFETY: as in `load_value`: one atomic store.
                unsafe { word::store(self.h.geometry().data.as_ptr(), *value) }
            }
        }
    }

    /// A write has been in flight for a long time: if its writer is dead (or a peer left
    /// the sequence odd without holding the lock), close it so readers can go on. The
    /// owner's death stays on record for the next `get_lock`.
    #[cold]
    fn repair_abandoned_write(&self) {
        let ctl = self.control();
        let owner = ctl.lock.owner();
        if owner != 0 && shmkit_sync::raw::Liveness::is_alive(self.object(), owner) {
            std::thread::yield_now();
            return;
        }
        let Ok(me) = self.me() else {
            std::thread::yield_now();
            return;
        };
        let deadline = Deadline::after(Duration::from_millis(10));
        if let Some(how) = ctl.lock.lock_until(me, deadline, WaitStrategy::Park, self.object()) {
            if how == Acquired::OwnerDied {
                ctl.recovered.store(1, Ordering::Release);
            }
            ctl.seq().close_abandoned();
            let _ = ctl.lock.unlock(me);
        }
    }

    fn me(&self) -> Result<u64, RegisterError> {
        self.object().participant().map(token)
    }

    /// Takes the lock, waiting until `deadline` (`None` on time-out). With `Report::Keep`
    /// a dead owner's death stays on record for the next `get_lock` (a write that does
    /// not repair everything); with `Report::Take` it is reported here, once.
    pub fn lock(&self, deadline: Deadline, report: Report) -> Result<Option<Locked>, RegisterError> {
        let me = self.me()?;
        let ctl = self.control();
        let how = loop {
            match ctl.lock.lock_until(me, deadline, self.h.wait_strategy(), self.object()) {
                Some(how) => break how,
                // Without a deadline only the lock ends the wait.
                None if deadline.is_never() => {}
                None => return Ok(None),
            }
        };
        let died = how == Acquired::OwnerDied;
        let held = Held { me };
        Ok(Some(match report {
            Report::Keep => {
                if died {
                    ctl.recovered.store(1, Ordering::Release);
                }
                Locked::Clean(held)
            }
            Report::Take if died || ctl.recovered.swap(0, Ordering::AcqRel) == 1 => Locked::OwnerDied(held),
            Report::Take => Locked::Clean(held),
        }))
    }

    /// Takes the lock until `deadline` for a guard made by `guard`, in the `Result` shape
    /// of `try_get_lock` and its timed forms; a dead owner's death is reported.
    pub fn lock_guard<G>(
        &self,
        deadline: Deadline,
        guard: impl FnOnce(Held) -> G,
    ) -> Result<G, TryLockError<G>> {
        match self.lock(deadline, Report::Take).map_err(TryLockError::NoSlot)? {
            Some(Locked::Clean(h)) => Ok(guard(h)),
            Some(Locked::OwnerDied(h)) => Err(TryLockError::OwnerDied(guard(h))),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Releases the lock.
    pub fn unlock(&self, held: Held) {
        let _ = self.control().lock.unlock(held.me);
    }

    /// Writes an Array's `src` at element `start`, holding the lock.
    pub fn write(&self, _held: &Held, start: usize, src: &[T]) {
        debug_assert!(start + src.len() <= self.len());
        self.control().seq().write(|| {
            // SAFETY: the range is inside the elements (callers bounds-check); `src` is
            // private memory.
            unsafe {
                copy_store(self.elem_ptr(start).cast(), src.as_ptr().cast(), std::mem::size_of_val(src))
            }
        });
    }

    /// Whether some process holds the lock (racy).
    pub fn is_locked(&self) -> bool {
        self.control().lock.owner() != 0
    }
}

/// Takes the lock, however long it takes.
pub(crate) fn lock_forever<T: Pod>(b: &Block<T>, report: Report) -> Result<Locked, RegisterError> {
    loop {
        if let Some(l) = b.lock(Deadline::never(), report)? {
            return Ok(l);
        }
    }
}

/// Whether taking the lock reports a previous owner's death (see [`Block::lock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    Take,
    Keep,
}

/// One atomic load or store of a `T` of 1, 2, 4 or 8 bytes (a Value's `Word` shape).
mod word {
    use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

    use bytemuck::Pod;

    use crate::seqlock::{copy_load, copy_store};

    /// Loads the `T` at `p` with one relaxed atomic load.
    ///
    /// # Safety
    ///
    /// `p` is valid for reads of a `T` of 1, 2, 4 or 8 bytes, aligned to its size, in
    /// memory that is only accessed atomically.
    #[inline(always)]
    pub unsafe fn load<T: Pod>(p: *const T) -> T {
        let mut out = T::zeroed();
        let (src, dst) = (p as *mut u8, (&mut out as *mut T).cast::<u8>());
        // SAFETY: the caller vouches for `p`, its size and alignment; `dst` is `out`,
        // private, of the same size (written unaligned). The size is a constant: one arm.
        unsafe {
            match std::mem::size_of::<T>() {
                8 => {
                    dst.cast::<u64>().write_unaligned(AtomicU64::from_ptr(src.cast()).load(Ordering::Relaxed))
                }
                4 => {
                    dst.cast::<u32>().write_unaligned(AtomicU32::from_ptr(src.cast()).load(Ordering::Relaxed))
                }
                2 => {
                    dst.cast::<u16>().write_unaligned(AtomicU16::from_ptr(src.cast()).load(Ordering::Relaxed))
                }
                1 => dst.write(AtomicU8::from_ptr(src).load(Ordering::Relaxed)),
                size => copy_load(src, dst, size),
            }
        }
        out
    }

    /// Stores `value` at `p` with one relaxed atomic store.
    ///
    /// # Safety
    ///
    /// As [`load`], for writes.
    #[inline(always)]
    pub unsafe fn store<T: Pod>(p: *mut T, value: T) {
        let (dst, src) = (p.cast::<u8>(), (&value as *const T).cast::<u8>());
        // SAFETY: as in `load`, the other way round.
        unsafe {
            match std::mem::size_of::<T>() {
                8 => AtomicU64::from_ptr(dst.cast())
                    .store(src.cast::<u64>().read_unaligned(), Ordering::Relaxed),
                4 => AtomicU32::from_ptr(dst.cast())
                    .store(src.cast::<u32>().read_unaligned(), Ordering::Relaxed),
                2 => AtomicU16::from_ptr(dst.cast())
                    .store(src.cast::<u16>().read_unaligned(), Ordering::Relaxed),
                1 => AtomicU8::from_ptr(dst).store(src.read(), Ordering::Relaxed),
                size => copy_store(dst, src, size),
            }
        }
    }
}
