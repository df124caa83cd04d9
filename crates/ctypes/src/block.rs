//! What `Value` and `Array` share: an object whose body is a control block (lock,
//! sequence, recovery flag) and then the elements.
//!
//! ```text
//! body +  0  lock owner   u64   (RawLock: owner token, then its event count)
//!      +  8  lock waiters 2 × u32
//!      + 16  sequence     u64   (SeqLock: odd while a write is in flight)
//!      + 24  recovered    u32   1 if a dead writer's lock was taken over unreported
//!      +128  elements     count × size_of::<T>(), padded to 8 bytes
//! ```

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytemuck::Pod;
use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    RegisterError, Spec, TypeDesc, WaitStrategy,
};
use shmkit_sync::raw::{token, Acquired, RawLock};
use shmkit_sync::LockError;

use crate::seqlock::{copy_load, copy_store, ReadOutcome, SeqLock};

/// Where the elements start in the body.
pub const DATA_OFFSET: usize = 128;

/// The control block at the start of the body.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Control {
    pub lock: RawLock,
    pub seq: SeqLock,
    pub recovered: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<Control>() <= DATA_OFFSET);

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

#[derive(Debug)]
pub(crate) struct Block<T> {
    obj: Object,
    /// The element count, validated when attaching.
    len: usize,
    pub strategy: WaitStrategy,
    _t: PhantomData<T>,
}

fn spec<T: Pod>(kind: Kind, len: usize) -> Result<Spec, CreateError> {
    if std::mem::align_of::<T>() > DATA_OFFSET {
        return Err(CreateError::InvalidSize {
            size: std::mem::align_of::<T>() as u64,
            reason: "element types aligned to more than 128 bytes are not supported",
        });
    }
    let bytes = len
        .checked_mul(std::mem::size_of::<T>())
        .and_then(|b| b.checked_add(DATA_OFFSET + 7))
        .ok_or(CreateError::InvalidSize { size: len as u64, reason: "too many elements" })?;
    Ok(Spec::new(kind, (bytes & !7) as u64).elem(type_desc::<T>(), len as u64))
}

impl<T: Pod> Block<T> {
    fn wrap(obj: Object) -> Result<Self, OpenError> {
        let len =
            usize::try_from(obj.info().elem_count).map_err(|_| OpenError::Corrupt { reason: "count" })?;
        // The header was validated against this type, so size and count are consistent
        // with the body; check anyway, since the body length is what bounds our accesses.
        match len.checked_mul(std::mem::size_of::<T>()).and_then(|b| b.checked_add(DATA_OFFSET)) {
            Some(need) if need <= obj.body_len() => {}
            _ => return Err(OpenError::Corrupt { reason: "body too small for its elements" }),
        }
        Ok(Self { obj, len, strategy: WaitStrategy::default(), _t: PhantomData })
    }

    fn init(body: *mut u8, init: &[T]) {
        // SAFETY: the body is zero-filled, private to the creator until ready, and holds
        // DATA_OFFSET + init.len() * size_of::<T>() bytes (the spec said so).
        unsafe { copy_store(body.add(DATA_OFFSET), init.as_ptr().cast(), std::mem::size_of_val(init)) };
    }

    pub fn create(name: &str, kind: Kind, init: &[T]) -> Result<Self, CreateError> {
        let obj = Object::create(name, &spec::<T>(kind, init.len())?, &CreateOptions::new(), |b, _| {
            Self::init(b, init)
        })?;
        Ok(Self { len: init.len(), obj, strategy: WaitStrategy::default(), _t: PhantomData })
    }

    pub fn create_zeroed(name: &str, kind: Kind, len: usize) -> Result<Self, CreateError> {
        let obj = Object::create(name, &spec::<T>(kind, len)?, &CreateOptions::new(), |_, _| {})?;
        Ok(Self { len, obj, strategy: WaitStrategy::default(), _t: PhantomData })
    }

    pub fn anonymous(kind: Kind, init: &[T]) -> Result<Self, CreateError> {
        let obj = Object::anonymous(&spec::<T>(kind, init.len())?, |b, _| Self::init(b, init))?;
        Ok(Self { len: init.len(), obj, strategy: WaitStrategy::default(), _t: PhantomData })
    }

    pub fn open(name: &str, kind: Kind) -> Result<Self, OpenError> {
        let expect = shmkit_core::Expect::kind(kind).elem(type_desc::<T>());
        Self::wrap(Object::open(name, &expect, &OpenOptions::new())?)
    }

    pub fn open_or_create(name: &str, kind: Kind, init: &[T]) -> Result<Self, OpenOrCreateError> {
        let spec = spec::<T>(kind, init.len())?;
        let (c, o) = (CreateOptions::new(), OpenOptions::new());
        let (obj, _) = Object::open_or_create(name, &spec, &c, &o, |b, _| Self::init(b, init))?;
        Ok(Self::wrap(obj)?)
    }

    pub fn object(&self) -> &Object {
        &self.obj
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn control(&self) -> &Control {
        // SAFETY: the body is at least DATA_OFFSET bytes (checked in `spec`/`wrap`),
        // 128-aligned, mapped while `self.obj` lives; Control is atomics only.
        unsafe { &*self.obj.body().cast::<Control>() }
    }

    /// The address of element `i` (`i <= len`).
    pub fn elem_ptr(&self, i: usize) -> *mut T {
        debug_assert!(i <= self.len);
        // SAFETY: DATA_OFFSET + i * size_of::<T>() <= body length (checked in `wrap`).
        unsafe { self.obj.body().add(DATA_OFFSET + i * std::mem::size_of::<T>()).cast() }
    }

    /// Reads elements `start..start + out.len()` consistently, without the lock.
    pub fn read(&self, start: usize, out: &mut [T]) {
        debug_assert!(start + out.len() <= self.len);
        let bytes = std::mem::size_of_val(out);
        let mut spins = 0u32;
        loop {
            // SAFETY: the range is inside the elements (callers bounds-check); `out` is
            // private memory of the same length.
            let read = || unsafe { copy_load(self.elem_ptr(start).cast(), out.as_mut_ptr().cast(), bytes) };
            match self.control().seq.try_read(read) {
                ReadOutcome::Done => return,
                ReadOutcome::Retry => {
                    spins = spins.wrapping_add(1);
                    if spins % 1024 == 0 {
                        self.repair_abandoned_write();
                    } else {
                        std::hint::spin_loop();
                    }
                }
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
        if owner != 0 && shmkit_sync::raw::Liveness::is_alive(&self.obj, owner) {
            std::thread::yield_now();
            return;
        }
        let Ok(me) = self.me() else {
            std::thread::yield_now();
            return;
        };
        let deadline = Deadline::after(Duration::from_millis(10));
        if let Some(how) = ctl.lock.lock_until(me, deadline, WaitStrategy::Park, &self.obj) {
            if how == Acquired::OwnerDied {
                ctl.recovered.store(1, Ordering::Release);
            }
            ctl.seq.close_abandoned();
            let _ = ctl.lock.unlock(me);
        }
    }

    fn me(&self) -> Result<u64, RegisterError> {
        self.obj.participant().map(token)
    }

    /// Takes the lock, waiting until `deadline` (`None` on time-out). With `Report::Keep`
    /// a dead owner's death stays on record for the next `get_lock` (a write that does
    /// not repair everything); with `Report::Take` it is reported here, once.
    pub fn lock(&self, deadline: Deadline, report: Report) -> Result<Option<Locked>, RegisterError> {
        let me = self.me()?;
        let ctl = self.control();
        let Some(how) = ctl.lock.lock_until(me, deadline, self.strategy, &self.obj) else { return Ok(None) };
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

    /// Releases the lock.
    pub fn unlock(&self, held: Held) {
        let _ = self.control().lock.unlock(held.me);
    }

    /// Writes `src` at element `start`, holding the lock.
    pub fn write(&self, _held: &Held, start: usize, src: &[T]) {
        debug_assert!(start + src.len() <= self.len);
        self.control().seq.write(|| {
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
