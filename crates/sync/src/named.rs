//! What every named primitive shares: an [`Object`] whose body is one raw state.

use shmkit_core::{
    CreateError, CreateOptions, Kind, Object, OpenError, OpenOptions, OpenOrCreateError, RegisterError, Spec,
    TypeDesc, WaitStrategy,
};
use std::marker::PhantomData;

use crate::raw::{token, RawBarrier, RawCondition, RawEvent, RawLock, RawRLock, RawSemaphore};

/// A raw state that may live in shared memory.
///
/// # Safety
///
/// Implementors are `#[repr(C)]`, made only of atomics (and padding), so that all-zero
/// bytes are a valid value, any bit pattern a peer writes is a valid value, and other
/// processes may write them concurrently.
pub(crate) unsafe trait InPlace: Sized + 'static {}

// SAFETY: `#[repr(C)]` structs of AtomicU64/AtomicU32 and EventCount (two AtomicU32).
unsafe impl InPlace for RawLock {}
// SAFETY: as above (a RawLock and two AtomicU64).
unsafe impl InPlace for RawRLock {}
// SAFETY: as above.
unsafe impl InPlace for RawSemaphore {}
// SAFETY: as above (plus a plain u32 of padding, which any bit pattern fills).
unsafe impl InPlace for RawEvent {}
// SAFETY: as above.
unsafe impl InPlace for RawCondition {}
// SAFETY: as above.
unsafe impl InPlace for RawBarrier {}

/// A lock and a condition in one body.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct LockAndCondition {
    pub lock: RawLock,
    pub cond: RawCondition,
}

// SAFETY: two InPlace fields.
unsafe impl InPlace for LockAndCondition {}

/// An attached object whose body is an `R`.
#[derive(Debug)]
pub(crate) struct Handle<R> {
    obj: Object,
    pub strategy: WaitStrategy,
    _raw: PhantomData<R>,
}

fn spec<R: InPlace>(kind: Kind) -> Spec {
    Spec::new(kind, std::mem::size_of::<R>() as u64).elem(TypeDesc::of::<R>(), 1)
}

impl<R: InPlace> Handle<R> {
    fn wrap(obj: Object) -> Self {
        Self { obj, strategy: WaitStrategy::default(), _raw: PhantomData }
    }

    fn init_body(body: *mut u8, init: impl FnOnce(&R)) {
        // SAFETY: the body is zero-filled, at least size_of::<R>() bytes, 128-aligned,
        // and R is InPlace (all-zero is a valid R).
        init(unsafe { &*body.cast::<R>() });
    }

    pub fn create(
        name: &str,
        kind: Kind,
        opts: &CreateOptions,
        init: impl FnOnce(&R),
    ) -> Result<Self, CreateError> {
        Object::create(name, &spec::<R>(kind), opts, |body, _| Self::init_body(body, init)).map(Self::wrap)
    }

    pub fn open(name: &str, kind: Kind, opts: &OpenOptions) -> Result<Self, OpenError> {
        Object::open(name, &spec::<R>(kind).expect(), opts).map(Self::wrap)
    }

    pub fn open_or_create(name: &str, kind: Kind, init: impl FnOnce(&R)) -> Result<Self, OpenOrCreateError> {
        let (c, o) = (CreateOptions::new(), OpenOptions::new());
        Object::open_or_create(name, &spec::<R>(kind), &c, &o, |body, _| Self::init_body(body, init))
            .map(|(obj, _)| Self::wrap(obj))
    }

    pub fn anonymous(kind: Kind, init: impl FnOnce(&R)) -> Result<Self, CreateError> {
        Object::anonymous(&spec::<R>(kind), |body, _| Self::init_body(body, init)).map(Self::wrap)
    }

    /// The raw state in shared memory.
    #[inline]
    pub fn raw(&self) -> &R {
        // SAFETY: the object was validated to be of this kind with element type R and a
        // body of size_of::<R>() bytes, 128-aligned and mapped while `self.obj` lives; R
        // is InPlace, so peers' writes cannot make the reference invalid.
        unsafe { &*self.obj.body().cast::<R>() }
    }

    /// This process's owner token.
    #[inline]
    pub fn me(&self) -> Result<u64, RegisterError> {
        self.obj.participant().map(token)
    }

    pub fn object(&self) -> &Object {
        &self.obj
    }
}
