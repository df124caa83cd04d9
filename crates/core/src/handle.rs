//! One handle for every kind of object.
//!
//! A kind of object (a lock, a queue, a pipe, ...) is two things: an algorithm over a
//! `#[repr(C)]` state, which lives on the heap too (for loom, Miri and the fuzzer), and a
//! [`Layout`] that says how that state sits in an object's body: the header a new object
//! gets ([`Spec`]), how its creator builds the body, and how an opener checks it and finds
//! its parts. [`Handle`] does everything else, once for every kind: create, open,
//! open-or-create, anonymous objects, their options, `unlink`, `try_clone`, the wait
//! strategy. A kind's public type holds a `Handle` and forwards its constructors with
//! the kind's own parameters (`Semaphore::create(name, value)`).
//!
//! # Trust
//!
//! Every kind reaches its body through [`Object::view`], [`Object::slice`] and
//! [`Object::region`], which prove bounds and alignment against the header this process
//! validated, in one place (the raw [`Object::body`] stays for tools and tests). A [`Layout::check`] derives everything else it needs (a
//! capacity, an offset) from that snapshot, bounds-checks it, and refuses a body that
//! does not match with [`OpenError::Corrupt`].
//!
//! # Examples
//!
//! A kind whose body is one counter:
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use shmkit::{CreateError, Expect, Handle, Kind, Layout, Object, OpenError, Spec, TypeDesc};
//!
//! #[derive(Clone, Copy)]
//! struct Counter;
//!
//! impl Layout for Counter {
//!     type Params<'a> = u64;
//!     type Geometry = ();
//!     fn spec(&self, _start: &u64, participants: u32) -> Result<Spec, CreateError> {
//!         Ok(Spec::new(Kind::Bytes, 8).elem(TypeDesc::of::<u64>(), 1).slots(participants))
//!     }
//!     fn expect(&self) -> Expect {
//!         Expect::kind(Kind::Bytes).elem(TypeDesc::of::<u64>())
//!     }
//!     fn init(&self, obj: &Object, start: u64) -> Result<(), CreateError> {
//!         obj.view::<AtomicU64>(0).map_err(CreateError::from_layout)?.store(start, Ordering::Relaxed);
//!         Ok(())
//!     }
//!     fn check(&self, obj: &Object) -> Result<(), OpenError> {
//!         obj.view::<AtomicU64>(0).map(drop)
//!     }
//! }
//!
//! let name = format!("example-handle-{}", std::process::id());
//! let made = Handle::create(Counter, &name, 41)?;
//! let opened = Handle::open(Counter, &name)?;
//! opened.object().view::<AtomicU64>(0)?.fetch_add(1, Ordering::Relaxed);
//! assert_eq!(made.object().view::<AtomicU64>(0)?.load(Ordering::Relaxed), 42);
//! Handle::<Counter>::unlink(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::os::fd::OwnedFd;

use crate::error::{CreateError, OpenError, UnlinkError};
use crate::event::WaitStrategy;
use crate::header::Expect;
pub use crate::inplace::InPlace;
use crate::object::Object;
use crate::segment::{self, CreateOptions, OpenOptions, OpenOrCreateError};
use crate::spec::Spec;

/// How one kind of object sits in an object's body.
///
/// A layout is a small value (often a unit struct, or the kind among variants that share
/// a state, as `Semaphore` and `BoundedSemaphore` do). [`Handle`] calls it to make, check
/// and describe objects of its kind.
pub trait Layout: Clone {
    /// What a creator chooses: a capacity, an initial value, the initial elements (which
    /// may be borrowed for the call) ...
    type Params<'a>;
    /// What a handle keeps from its validated object: a capacity, checked addresses, or
    /// nothing.
    type Geometry;

    /// The header a new object gets, with room for `participants` processes.
    ///
    /// # Errors
    ///
    /// [`CreateError::InvalidSize`] for parameters that make no object (a capacity of 0,
    /// a size that overflows), with a reason that says what to change.
    fn spec(&self, params: &Self::Params<'_>, participants: u32) -> Result<Spec, CreateError>;

    /// What an opener expects of the header: the kind, and the element type if it has one.
    fn expect(&self) -> Expect;

    /// Builds the body of a new object, zero-filled and seen by nobody yet.
    ///
    /// # Errors
    ///
    /// Whatever refuses the object; it is removed again and never becomes ready.
    fn init(&self, obj: &Object, params: Self::Params<'_>) -> Result<(), CreateError>;

    /// Checks the body of a validated object (a peer's, or our own just built) and derives
    /// what a handle keeps.
    ///
    /// # Errors
    ///
    /// [`OpenError::Corrupt`] for a body that this kind's code would not make.
    fn check(&self, obj: &Object) -> Result<Self::Geometry, OpenError>;
}

/// An attached object of one kind: the [`Object`], what its [`Layout`] derived from it,
/// and how this handle's blocked calls wait.
///
/// Every kind's constructors are these, documented here once: `create` (a new named
/// object; fails if the name exists), `open` (an existing one, checked), `open_or_create`,
/// `anonymous` (a sealed memfd, inherited by children forked afterwards), each with a
/// `_with` form that takes options, and [`unlink`](Self::unlink) to remove a name.
pub struct Handle<L: Layout> {
    obj: Object,
    layout: L,
    geometry: L::Geometry,
    strategy: WaitStrategy,
}

impl<L: Layout> fmt::Debug for Handle<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.obj.name().map(|n| n.as_str()))
            .field("kind", &self.obj.kind())
            .field("strategy", &self.strategy)
            .finish()
    }
}

impl<L: Layout> Handle<L> {
    fn new(obj: Object, layout: L, geometry: L::Geometry) -> Self {
        Self { obj, layout, geometry, strategy: WaitStrategy::default() }
    }

    /// Builds and checks a new object's body; the object becomes ready only if both
    /// succeed.
    fn build(layout: &L, obj: &Object, params: L::Params<'_>) -> Result<L::Geometry, CreateError> {
        layout.init(obj, params)?;
        layout.check(obj).map_err(CreateError::from_layout)
    }

    /// Creates the named object `name` with default options (mode 0600, 64 participants).
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with).
    pub fn create(layout: L, name: &str, params: L::Params<'_>) -> Result<Self, CreateError> {
        Self::create_with(layout, name, params, &CreateOptions::new())
    }

    /// Creates the named object `name`: no opener sees it before its body is built.
    ///
    /// # Errors
    ///
    /// [`CreateError::AlreadyExists`] if the name is taken; [`CreateError::InvalidName`];
    /// [`CreateError::InvalidSize`] for parameters that make no object;
    /// [`CreateError::InvalidSlots`] for a participant count out of range;
    /// [`CreateError::NoSpace`] when `/dev/shm` is full; [`CreateError::PermissionDenied`].
    pub fn create_with(
        layout: L,
        name: &str,
        params: L::Params<'_>,
        opts: &CreateOptions,
    ) -> Result<Self, CreateError> {
        let spec = layout.spec(&params, opts.get_participants())?;
        let (obj, geometry) =
            Object::create_then(name, &spec, opts, |obj| Self::build(&layout, obj, params))?;
        Ok(Self::new(obj, layout, geometry))
    }

    /// Opens the named object `name` with default options (our own objects only; wait up
    /// to two seconds for a creator that is still building it).
    ///
    /// # Errors
    ///
    /// As [`open_with`](Self::open_with).
    pub fn open(layout: L, name: &str) -> Result<Self, OpenError> {
        Self::open_with(layout, name, &OpenOptions::new())
    }

    /// Opens the named object `name`: checks its header (magic, version, kind, element
    /// type, size, owner and mode) and its body, and registers this process as a
    /// participant.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`]; [`OpenError::KindMismatch`] or
    /// [`OpenError::TypeMismatch`] for another kind or element type;
    /// [`OpenError::NotReady`] or [`OpenError::CreatorDied`] for an object never finished;
    /// [`OpenError::Corrupt`] and the other header errors for a damaged or foreign file;
    /// [`OpenError::ForeignOwner`]/[`OpenError::ForeignMode`] unless the options allow it;
    /// [`OpenError::ParticipantsFull`].
    pub fn open_with(layout: L, name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        let obj = Object::open(name, &layout.expect(), opts)?;
        let geometry = layout.check(&obj)?;
        Ok(Self::new(obj, layout, geometry))
    }

    /// Opens `name` if it exists, creates it with `params` otherwise (the race between
    /// two processes doing this at once is handled: one creates, the other opens).
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with) and [`open_with`](Self::open_with).
    pub fn open_or_create(layout: L, name: &str, params: L::Params<'_>) -> Result<Self, OpenOrCreateError> {
        Self::open_or_create_with(layout, name, params, &CreateOptions::new(), &OpenOptions::new())
            .map(|(h, _)| h)
    }

    /// [`open_or_create`](Self::open_or_create) with options; also tells whether this call
    /// created the object.
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with) and [`open_with`](Self::open_with).
    pub fn open_or_create_with(
        layout: L,
        name: &str,
        params: L::Params<'_>,
        create: &CreateOptions,
        open: &OpenOptions,
    ) -> Result<(Self, bool), OpenOrCreateError> {
        let spec = layout.spec(&params, create.get_participants())?;
        let (obj, built) =
            Object::open_or_create_then(name, &spec, create, open, |obj| Self::build(&layout, obj, params))?;
        let created = built.is_some();
        let geometry = match built {
            Some(g) => g,
            None => layout.check(&obj)?,
        };
        Ok((Self::new(obj, layout, geometry), created))
    }

    /// Creates an anonymous object with default options.
    ///
    /// # Errors
    ///
    /// As [`anonymous_with`](Self::anonymous_with).
    pub fn anonymous(layout: L, params: L::Params<'_>) -> Result<Self, CreateError> {
        Self::anonymous_with(layout, params, &CreateOptions::new())
    }

    /// Creates an anonymous object: a memfd sealed against resizing, shared with children
    /// forked afterwards (or passed as a file descriptor), gone when the last process lets
    /// go. The options' participant count applies; it has no name, so no mode.
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with), but for the name.
    pub fn anonymous_with(
        layout: L,
        params: L::Params<'_>,
        opts: &CreateOptions,
    ) -> Result<Self, CreateError> {
        let spec = layout.spec(&params, opts.get_participants())?;
        let (obj, geometry) = Object::anonymous_then(&spec, |obj| Self::build(&layout, obj, params))?;
        Ok(Self::new(obj, layout, geometry))
    }

    /// Attaches to an anonymous object received as a file descriptor, checked as
    /// [`open_with`](Self::open_with) checks a named one.
    ///
    /// # Errors
    ///
    /// As [`Object::from_fd`], and the body checks of [`open_with`](Self::open_with).
    pub fn from_fd(layout: L, fd: OwnedFd, opts: &OpenOptions) -> Result<Self, OpenError> {
        let obj = Object::from_fd(fd, &layout.expect(), opts)?;
        let geometry = layout.check(&obj)?;
        Ok(Self::new(obj, layout, geometry))
    }

    /// Removes the name `name`; processes that have the object open keep using it.
    ///
    /// # Errors
    ///
    /// As [`segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        segment::unlink(name)
    }

    /// A second handle to the same object, a participant of its own (a handle per
    /// thread), with the same wait strategy. Works for anonymous objects and after the
    /// name was removed.
    ///
    /// # Errors
    ///
    /// As [`Object::try_clone`].
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let obj = self.obj.try_clone()?;
        let geometry = self.layout.check(&obj)?;
        let mut h = Self::new(obj, self.layout.clone(), geometry);
        h.strategy = self.strategy;
        Ok(h)
    }

    /// The object: its name, header and participants.
    pub fn object(&self) -> &Object {
        &self.obj
    }

    /// The object and what the layout derived from it: for kinds whose parts each hold
    /// the object once it is made and checked (a pipe's two ends share it).
    pub fn into_parts(self) -> (Object, L::Geometry) {
        (self.obj, self.geometry)
    }

    /// The layout this handle was made with.
    pub fn layout(&self) -> &L {
        &self.layout
    }

    /// What the layout derived from the object when this handle attached.
    pub fn geometry(&self) -> &L::Geometry {
        &self.geometry
    }

    /// How blocked calls wait.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }
}
