//! [`Queue<T>`]: Python's `multiprocessing.Queue`, as a lock-free MPMC ring in shared
//! memory. This file holds the handle and its state; [`blocking`](crate::blocking) the
//! waiting puts and gets, [`joinable`](crate::joinable) the JoinableQueue.

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use bytemuck::Pod;
use shmkit_core::loom::atomic::Ordering;
use shmkit_core::process::fork_generation;
use shmkit_core::{
    CreateError, Handle, Kind, Object, OpenError, OpenOptions, OpenOrCreateError, ParticipantId, Role,
    UnlinkError, WaitStrategy,
};

use crate::error::Fail;
use crate::options::{QueueOptions, RingLayout};
use crate::ring::{state, Peers, Ring};

/// The participant table, as the ring's [`Peers`].
pub(crate) struct Table<'a>(pub &'a Object);

impl Peers for Table<'_> {
    fn alive(&self, slot: u32) -> bool {
        self.0.is_slot_alive(slot)
    }
}

pub(crate) const PRODUCES: u8 = 1;
pub(crate) const CONSUMES: u8 = 2;

fn role_of(sides: u8) -> Role {
    match sides {
        PRODUCES => Role::PRODUCER,
        CONSUMES => Role::CONSUMER,
        0 => Role::USER,
        _ => Role::PRODUCER_CONSUMER,
    }
}

pub(crate) fn is_producer(role: Role) -> bool {
    role == Role::PRODUCER || role == Role::PRODUCER_CONSUMER
}

pub(crate) fn is_consumer(role: Role) -> bool {
    role == Role::CONSUMER || role == Role::PRODUCER_CONSUMER
}

/// How often a waiter asks the participant table whether its peers are gone.
pub(crate) const PEER_SCAN_INTERVAL: Duration = Duration::from_millis(2);

/// A bounded multi-producer multi-consumer queue of `T` in shared memory: Python's
/// `multiprocessing.Queue`, lock-free.
///
/// - `put`/`get` block (spinning briefly, then sleeping on a futex), `try_*` never
///   block, `*_timeout`/`*_deadline` block at most that long. A put into a queue nobody
///   waits on makes no system call.
/// - The capacity is rounded up to a power of two (at least 2): `Queue::create(name, 10)`
///   holds 16.
/// - [`close`](Self::close) ends it: puts fail, gets drain what is left, then report
///   `Disconnected`. A blocked `get` also reports `Disconnected` once every producer is
///   gone (dead, or dropped its handle) after one was seen; a blocked `put` likewise
///   for consumers if the queue was created with
///   [`report_no_consumers`](QueueOptions::report_no_consumers).
/// - Crashes: a producer killed between claiming a slot and publishing it leaves a hole
///   that consumers skip once they see it dead; a consumer killed while reading gives
///   its slot back (its item is lost with it).
///
/// A handle is one participant, used by one thread at a time (`Send`, not `Sync`): give
/// each thread its own with [`try_clone`](Self::try_clone). Each handle counts as a
/// producer once it puts (or calls [`declare_producer`](Self::declare_producer)), and as
/// a consumer once it gets.
///
/// # Examples
///
/// Your own `#[repr(C)]` struct travels as its bytes. Derive `shmkit::Pod` and
/// `shmkit::Zeroable`: the derive checks that the layout has no padding (make it explicit
/// with a `_pad` field). A program that opens the queue by name must use a struct of the
/// same name, size and alignment.
///
/// ```
/// use shmkit::Queue;
///
/// #[repr(C)]
/// #[derive(Clone, Copy, Debug, PartialEq, shmkit::Pod, shmkit::Zeroable)]
/// struct Order {
///     id: u64,
///     price: f64,
///     qty: u32,
///     side: u8,
///     _pad: [u8; 3], // every byte belongs to a field
/// }
///
/// let orders = Queue::<Order>::anonymous(64)?;
/// let order = Order { id: 7, price: 99.5, qty: 100, side: b'B', _pad: [0; 3] };
/// orders.put(order)?; // in a forked child, say
/// assert_eq!(orders.get()?, order);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Two processes sharing a queue by name:
///
/// ```
/// use shmkit::Queue;
/// let name = format!("example-queue-{}", std::process::id());
///
/// // q = Queue(10)
/// let q = Queue::<u64>::create(&name, 10)?;
/// // in another process
/// let same = Queue::<u64>::open(&name)?;
/// q.put(1)?;
/// q.put(2)?;
/// assert_eq!(same.get()?, 1);
/// assert_eq!(same.try_get()?, 2);
/// assert!(same.try_get().is_err()); // empty
/// q.close();
/// assert!(q.put(3).is_err());
/// Queue::<u64>::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T: Pod> {
    h: Handle<RingLayout<T>>,
    /// The participant id this handle last cleared the intent of.
    known: Cell<u64>,
    /// The fork generation in which `known` was found to be this process's id
    /// ([`u32::MAX`] before the first use): while it is current, `known` is.
    known_in: Cell<u32>,
    /// `PRODUCES | CONSUMES`: what this handle has done.
    sides: Cell<u8>,
}

/// What a queue repaired after crashes, as [`Queue::repairs`] counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Slots skipped because their producer died before publishing.
    pub holes: u64,
    /// Slots given back because their consumer died before releasing.
    pub reclaimed: u64,
}

// SAFETY: the handle's pointers point into the mapping it owns, which may move between
// threads; `T: Pod` values are plain bytes. The `Cell`s keep the handle `!Sync`, which
// the one-intent-per-participant protocol needs.
unsafe impl<T: Pod> Send for Queue<T> {}

impl<T: Pod> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.object().name().map(|n| n.as_str()))
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

impl<T: Pod> Queue<T> {
    /// Wraps a checked handle, and takes over this participant slot now: a dead
    /// predecessor's intent goes.
    pub(crate) fn wrap(h: Handle<RingLayout<T>>) -> Self {
        let q = Self { h, known: Cell::new(0), known_in: Cell::new(u32::MAX), sides: Cell::new(0) };
        let _ = q.me();
        q
    }

    pub(crate) fn handle(&self) -> &Handle<RingLayout<T>> {
        &self.h
    }

    /// Creates the named queue `name` holding at least `capacity` items (rounded up to a power of two, at least 2): Python's `Queue(maxsize)`. Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
        Self::create_with(name, capacity, &QueueOptions::new())
    }

    /// Creates the named queue `name` with options (file mode, participants, whether
    /// `put` reports missing consumers).
    pub fn create_with(name: &str, capacity: usize, opts: &QueueOptions) -> Result<Self, CreateError> {
        Handle::create_with(RingLayout::of(Kind::Queue), name, opts.shape(capacity), opts.get_create())
            .map(Self::wrap)
    }

    /// Opens the named queue `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named queue `name` with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(RingLayout::of(Kind::Queue), name, opts).map(Self::wrap)
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

    /// Opens `name`, or creates it as a new queue holding at least `capacity` items (rounded up to a power of two, at least 2): Python's `Queue(maxsize)`.
    pub fn open_or_create(name: &str, capacity: usize) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(RingLayout::of(Kind::Queue), name, QueueOptions::new().shape(capacity))
            .map(Self::wrap)
    }

    /// Creates an anonymous queue holding at least `capacity` items (rounded up to a power of two, at least 2): Python's `Queue(maxsize)`, shared with children forked afterwards.
    pub fn anonymous(capacity: usize) -> Result<Self, CreateError> {
        Self::anonymous_with(capacity, &QueueOptions::new())
    }

    /// Creates an anonymous queue with options (participants).
    pub fn anonymous_with(capacity: usize, opts: &QueueOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(RingLayout::of(Kind::Queue), opts.shape(capacity), opts.get_create())
            .map(Self::wrap)
    }

    /// Removes the name `name`; processes that have the queue open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RingLayout<T>>::unlink(name)
    }

    /// A second handle to the same queue, a participant of its own (one per thread).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.h.try_clone().map(Self::wrap)
    }

    /// The underlying object (its name, header and participants).
    pub fn object(&self) -> &Object {
        self.h.object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.h.set_wait_strategy(strategy);
    }

    #[inline]
    pub(crate) fn ring(&self) -> Ring<'_, T> {
        // SAFETY: the geometry is what `RingLayout::check` proved, in the body mapped
        // while `self.h` lives.
        unsafe { self.h.geometry().ring() }
    }

    /// This handle's participant slot; a new registration (the first use in a forked
    /// child) first clears what a dead predecessor left in the slot's intent.
    #[inline]
    pub(crate) fn me(&self) -> Result<u32, Fail> {
        // The registration changes only in a forked child (a new fork generation).
        if self.known_in.get() == fork_generation() {
            return Ok(ParticipantId::from_u64(self.known.get()).slot);
        }
        self.me_slow()
    }

    #[cold]
    fn me_slow(&self) -> Result<u32, Fail> {
        let generation = fork_generation();
        let id = self.h.object().participant().map_err(|_| Fail::NoSlot)?;
        if id.to_u64() != self.known.get() {
            self.ring().forget(id.slot);
            self.known.set(id.to_u64());
        }
        self.known_in.set(generation);
        Ok(id.slot)
    }

    /// Records that this handle produces (or consumes), once.
    #[inline]
    pub(crate) fn acts_as(&self, side: u8) {
        if self.sides.get() & side == 0 {
            self.learn(side);
        }
    }

    #[cold]
    fn learn(&self, side: u8) {
        // Registered first (a forked child may not be yet), so the role is visible at once.
        let _ = self.me();
        let sides = self.sides.get() | side;
        self.sides.set(sides);
        self.h.object().set_role(role_of(sides));
        let flag = if side == PRODUCES { state::PRODUCER_SEEN } else { state::CONSUMER_SEEN };
        self.ring().ctl.misc.0.state.fetch_or(flag, Ordering::AcqRel);
    }

    /// Counts this handle as a producer from now on, before its first put: a consumer
    /// blocked in `get` then waits for it instead of reporting `Disconnected` when the
    /// other producers are gone.
    pub fn declare_producer(&self) {
        self.acts_as(PRODUCES);
    }

    /// Counts this handle as a consumer from now on (see
    /// [`QueueOptions::report_no_consumers`]).
    pub fn declare_consumer(&self) {
        self.acts_as(CONSUMES);
    }

    pub(crate) fn closed(&self) -> bool {
        self.ring().ctl.misc.0.state.load(Ordering::Acquire) & state::CLOSED != 0
    }

    /// Whether some participant other than `me` that has the role can still act, given
    /// that one was seen at all.
    pub(crate) fn peers_gone(&self, me: u32, seen: u32, role: fn(Role) -> bool) -> bool {
        if self.ring().ctl.misc.0.state.load(Ordering::Acquire) & seen == 0 {
            return false;
        }
        !self.h.object().participants().iter().any(|p| p.alive && p.id.slot != me && role(p.role))
    }

    /// Closes the queue for everyone: puts fail from now on, gets take what is left and
    /// then report `Disconnected`. Wakes every blocked caller.
    pub fn close(&self) {
        let misc = &self.ring().ctl.misc.0;
        misc.state.fetch_or(state::CLOSED, Ordering::AcqRel);
        misc.not_empty.notify_all();
        misc.not_full.notify_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed()
    }

    /// The number of items (racy: other processes may change it at any moment). Python's
    /// `qsize()`.
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.ring().len()
    }

    /// Whether the queue looks empty (racy). Python's `empty()`.
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue looks full (racy). Python's `full()`.
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        self.ring().is_full()
    }

    /// How many items it holds at most: what it was made for, as Python's `maxsize` (a
    /// queue for 10 holds 10, though its ring has 16 slots).
    #[doc(alias = "maxsize")]
    pub fn capacity(&self) -> usize {
        self.ring().maxsize() as usize
    }

    /// How many slots were skipped because their producer died before publishing, and
    /// how many were given back because their consumer died before releasing.
    pub fn repairs(&self) -> Repairs {
        let misc = &self.ring().ctl.misc.0;
        Repairs {
            holes: misc.holes.load(Ordering::Relaxed),
            reclaimed: misc.reclaimed.load(Ordering::Relaxed),
        }
    }
}
