//! How every primitive of this crate sits in its object: one in-place state at the start
//! of the body, described to core's generic [`Handle`](shmkit_core::Handle) by [`Single`].

use std::marker::PhantomData;
use std::ptr::NonNull;

use shmkit_core::{
    CreateError, Expect, InPlace, Kind, Layout, Object, OpenError, RegisterError, Spec, TypeDesc,
};

use crate::raw::{token, RawBarrier, RawCondition, RawEvent, RawLock, RawRLock, RawSemaphore};

/// A lock and a condition in one body.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct LockAndCondition {
    pub lock: RawLock,
    pub cond: RawCondition,
}

// The raw states are `#[repr(C)]` structs made only of AtomicU64/AtomicU32, EventCount
// (two AtomicU32) and plain u32 padding, none aligned to more than 8.
// SAFETY: an AtomicU64 and an EventCount: every bit pattern is valid, peers may write it.
unsafe impl InPlace for RawLock {}
// SAFETY: as above (a RawLock and two AtomicU64).
unsafe impl InPlace for RawRLock {}
// SAFETY: as above.
unsafe impl InPlace for RawSemaphore {}
// SAFETY: as above.
unsafe impl InPlace for RawEvent {}
// SAFETY: as above.
unsafe impl InPlace for RawCondition {}
// SAFETY: as above.
unsafe impl InPlace for RawBarrier {}
// SAFETY: two InPlace fields.
unsafe impl InPlace for LockAndCondition {}

/// A primitive's in-place state: what its creator chooses, how it is built, and what an
/// opener checks and keeps.
pub(crate) trait State: InPlace {
    /// The name stored in the header's type hash: fixed, so that where the type lives in
    /// this crate never changes what its objects say they hold.
    const NAME: &'static str;
    /// What the creator chooses (an initial value, a party count), or `()`.
    type Params;
    /// What a handle keeps, read once when attaching.
    type Checked: Copy + Send + Sync + std::fmt::Debug;

    /// Refuses parameters that make no primitive.
    fn validate(_params: &Self::Params) -> Result<(), CreateError> {
        Ok(())
    }

    /// Builds a new, zero-filled state.
    fn build(&self, params: Self::Params);

    /// Checks a state a peer made.
    fn check(&self) -> Result<Self::Checked, OpenError>;
}

/// Stateless primitives: all zeroes is the initial state and any state is acceptable.
impl State for RawLock {
    const NAME: &'static str = "shmkit_sync::raw::RawLock";
    type Params = ();
    type Checked = ();
    fn build(&self, (): ()) {}
    fn check(&self) -> Result<(), OpenError> {
        Ok(())
    }
}

impl State for RawRLock {
    const NAME: &'static str = "shmkit_sync::raw::RawRLock";
    type Params = ();
    type Checked = ();
    fn build(&self, (): ()) {}
    fn check(&self) -> Result<(), OpenError> {
        Ok(())
    }
}

impl State for RawEvent {
    const NAME: &'static str = "shmkit_sync::raw::RawEvent";
    type Params = ();
    type Checked = ();
    fn build(&self, (): ()) {}
    fn check(&self) -> Result<(), OpenError> {
        Ok(())
    }
}

impl State for LockAndCondition {
    const NAME: &'static str = "shmkit_sync::named::LockAndCondition";
    type Params = ();
    type Checked = ();
    fn build(&self, (): ()) {}
    fn check(&self) -> Result<(), OpenError> {
        Ok(())
    }
}

/// The layout of a primitive whose body is one `R`, of kind `kind`.
#[derive(Debug)]
pub(crate) struct Single<R> {
    kind: Kind,
    _r: PhantomData<fn() -> R>,
}

impl<R> Clone for Single<R> {
    fn clone(&self) -> Self {
        Self::of(self.kind)
    }
}

impl<R> Single<R> {
    pub const fn of(kind: Kind) -> Self {
        Self { kind, _r: PhantomData }
    }
}

/// Where a primitive's state is, and what its check kept: found once when attaching, so
/// that an operation costs one load, not a bounds check.
#[derive(Debug)]
pub(crate) struct Placed<R: State> {
    state: NonNull<R>,
    /// What [`State::check`] returned.
    pub checked: R::Checked,
}

// SAFETY: `state` points into the mapping of the handle that holds this value (the only
// place it lives), which moves between threads with it; `R: InPlace` is atomics only, made
// to be used by several processes, hence threads, at once.
unsafe impl<R: State> Send for Placed<R> {}
// SAFETY: as above; shared use goes through `&R`, whose atomics are `Sync`.
unsafe impl<R: State> Sync for Placed<R> {}

impl<R: State> Layout for Single<R> {
    type Params<'a> = R::Params;
    type Geometry = Placed<R>;

    fn spec(&self, params: &R::Params, participants: u32) -> Result<Spec, CreateError> {
        R::validate(params)?;
        Ok(Spec::new(self.kind, std::mem::size_of::<R>() as u64)
            .elem(TypeDesc::named::<R>(R::NAME), 1)
            .slots(participants))
    }

    fn expect(&self) -> Expect {
        Expect::kind(self.kind).elem(TypeDesc::named::<R>(R::NAME)).count(1)
    }

    fn init(&self, obj: &Object, params: R::Params) -> Result<(), CreateError> {
        obj.view::<R>(0).map_err(CreateError::from_layout)?.build(params);
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<Placed<R>, OpenError> {
        let state = obj.view::<R>(0)?;
        Ok(Placed { checked: state.check()?, state: NonNull::from(state) })
    }
}

/// An attached primitive whose body is an `R`.
pub(crate) type Handle<R> = shmkit_core::Handle<Single<R>>;

/// The state in `h`'s object.
#[inline]
pub(crate) fn state<R: State>(h: &Handle<R>) -> &R {
    // SAFETY: `Single::check` made the pointer from a checked view of the object `h`
    // holds (every handle's geometry comes from its own object's check), which stays
    // mapped while `h` lives; R is InPlace, so any bytes a peer writes are a valid R.
    unsafe { h.geometry().state.as_ref() }
}

/// This process's owner token in `h`'s object.
#[inline]
pub(crate) fn me<R: State>(h: &Handle<R>) -> Result<u64, RegisterError> {
    h.object().participant().map(token)
}
