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

/// The constructors (and the accessors every primitive shares) of a primitive that is a
/// `Handle` in a field `h`, created in its empty state.
macro_rules! plain_constructors {
    ($kind:expr, $what:literal) => {
        #[doc = concat!("Creates the named ", $what, " `name`.")]
        ///
        /// # Errors
        ///
        /// As [`Object::create`](shmkit_core::Object::create).
        pub fn create(name: &str) -> Result<Self, shmkit_core::CreateError> {
            Self::create_with(name, &shmkit_core::CreateOptions::new())
        }

        #[doc = concat!("Creates the named ", $what, " `name` with options (its file mode).")]
        ///
        /// # Errors
        ///
        /// As [`Object::create`](shmkit_core::Object::create).
        pub fn create_with(
            name: &str,
            opts: &shmkit_core::CreateOptions,
        ) -> Result<Self, shmkit_core::CreateError> {
            $crate::named::Handle::create(name, $kind, opts, |_| {}).map(|h| Self { h })
        }

        #[doc = concat!("Opens the named ", $what, " `name`.")]
        ///
        /// # Errors
        ///
        /// As [`Object::open`](shmkit_core::Object::open); another kind of object is
        /// [`OpenError::KindMismatch`](shmkit_core::OpenError::KindMismatch).
        pub fn open(name: &str) -> Result<Self, shmkit_core::OpenError> {
            Self::open_with(name, &shmkit_core::OpenOptions::new())
        }

        #[doc = concat!("Opens the named ", $what, " `name` with options.")]
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open).
        pub fn open_with(
            name: &str,
            opts: &shmkit_core::OpenOptions,
        ) -> Result<Self, shmkit_core::OpenError> {
            $crate::named::Handle::open(name, $kind, opts).map(|h| Self { h })
        }

        #[doc = concat!("Opens `name`, or creates it as a new ", $what, ".")]
        ///
        /// # Errors
        ///
        /// As [`create`](Self::create) and [`open`](Self::open).
        pub fn open_or_create(name: &str) -> Result<Self, shmkit_core::OpenOrCreateError> {
            $crate::named::Handle::open_or_create(name, $kind, |_| {}).map(|h| Self { h })
        }

        #[doc = concat!("Creates an anonymous ", $what, ", shared with children forked afterwards.")]
        ///
        /// # Errors
        ///
        /// As [`Object::anonymous`](shmkit_core::Object::anonymous).
        pub fn anonymous() -> Result<Self, shmkit_core::CreateError> {
            $crate::named::Handle::anonymous($kind, |_| {}).map(|h| Self { h })
        }

        /// Removes the name `name` (processes that have the object open keep using it).
        ///
        /// # Errors
        ///
        /// As [`shmkit_core::segment::unlink`].
        pub fn unlink(name: &str) -> Result<(), shmkit_core::UnlinkError> {
            shmkit_core::segment::unlink(name)
        }

        /// Sets how blocked calls wait.
        pub fn set_wait_strategy(&mut self, strategy: shmkit_core::WaitStrategy) {
            self.h.strategy = strategy;
        }

        /// The underlying object (its name, header and participants).
        pub fn object(&self) -> &shmkit_core::Object {
            self.h.object()
        }
    };
}

pub(crate) use plain_constructors;
