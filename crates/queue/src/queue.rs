//! [`Queue<T>`] and [`JoinableQueue<T>`]: Python's `multiprocessing.Queue` and
//! `JoinableQueue`, as a lock-free MPMC ring in shared memory.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use bytemuck::Pod;
use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{
    CreateError, CreateOptions, Deadline, Expect, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    Role, Spec, TypeDesc, WaitStrategy,
};

use crate::api::{get_api, put_api, Wait};
use crate::error::{Fail, JoinTimeoutError, TaskDoneError};
use crate::ring::{state, Control, Intent, Peers, Ring, Slot};

/// Spec flag: a blocked `put` reports `Disconnected` once every consumer is gone.
const FLAG_REPORT_NO_CONSUMERS: u64 = 1;

/// The largest capacity (slots), 2^32.
pub const MAX_CAPACITY: usize = 1 << 32;

/// The body's layout: control block, intent table, slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    intents: usize,
    slots: usize,
    len: usize,
}

fn layout<T>(participants: u32, capacity: usize) -> Option<Layout> {
    let intents = std::mem::size_of::<Control>();
    let slots = intents.checked_add((participants as usize).checked_mul(std::mem::size_of::<Intent>())?)?;
    let len = slots.checked_add(capacity.checked_mul(std::mem::size_of::<Slot<T>>())?)?;
    Some(Layout { intents, slots, len })
}

/// How a queue is created.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    create: CreateOptions,
    slots: u32,
    report_no_consumers: bool,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            create: CreateOptions::new(),
            slots: shmkit_core::header::DEFAULT_SLOTS,
            report_no_consumers: false,
        }
    }
}

impl QueueOptions {
    /// The defaults: mode 0600, 64 participants, `put` never reports missing consumers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The file mode of a named queue.
    pub fn mode(mut self, mode: u32) -> Self {
        self.create = self.create.mode(mode);
        self
    }

    /// How many handles (processes, or clones) can be attached at once.
    pub fn participants(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// Whether a blocked `put` reports `Disconnected` once every consumer that got from
    /// the queue is gone (dead or detached), instead of waiting for a new one.
    pub fn report_no_consumers(mut self, yes: bool) -> Self {
        self.report_no_consumers = yes;
        self
    }
}

/// The participant table, as the ring's [`Peers`].
struct Table<'a>(&'a Object);

impl Peers for Table<'_> {
    fn alive(&self, slot: u32) -> bool {
        self.0.is_slot_alive(slot)
    }
}

const PRODUCES: u8 = 1;
const CONSUMES: u8 = 2;

fn role_of(sides: u8) -> Role {
    match sides {
        PRODUCES => Role::PRODUCER,
        CONSUMES => Role::CONSUMER,
        0 => Role::USER,
        _ => Role::PRODUCER_CONSUMER,
    }
}

fn is_producer(role: Role) -> bool {
    role == Role::PRODUCER || role == Role::PRODUCER_CONSUMER
}

fn is_consumer(role: Role) -> bool {
    role == Role::CONSUMER || role == Role::PRODUCER_CONSUMER
}

/// How often a waiter asks the participant table whether its peers are gone.
const PEER_SCAN_INTERVAL: Duration = Duration::from_millis(2);

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
/// ```
/// use shmkit_queue::Queue;
/// # let name = format!("doc-queue-{}", std::process::id());
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
/// # Queue::<u64>::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Queue<T: Pod> {
    obj: Object,
    ctl: NonNull<Control>,
    intents: NonNull<Intent>,
    participants: usize,
    slots: NonNull<Slot<T>>,
    capacity: usize,
    strategy: WaitStrategy,
    report_no_consumers: bool,
    joinable: bool,
    /// The participant id this handle last cleared the intent of.
    known: Cell<u64>,
    /// `PRODUCES | CONSUMES`: what this handle has done.
    sides: Cell<u8>,
    _t: PhantomData<T>,
}

// SAFETY: the pointers point into the mapping owned by `obj`, which may move between
// threads; `T: Pod` values are plain bytes. The `Cell`s keep the handle `!Sync`, which
// the one-intent-per-participant protocol needs.
unsafe impl<T: Pod> Send for Queue<T> {}

impl<T: Pod> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.obj.name().map(|n| n.as_str()))
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

/// Publishes a claimed slot even if the caller's closure panics.
struct Publish<'a, T: Pod> {
    ring: Ring<'a, T>,
    me: u32,
    pos: u64,
}

impl<T: Pod> Drop for Publish<'_, T> {
    fn drop(&mut self) {
        self.ring.publish(self.me, self.pos);
    }
}

/// Releases a claimed slot even if the caller's closure panics.
struct Release<'a, T: Pod> {
    ring: Ring<'a, T>,
    me: u32,
    pos: u64,
}

impl<T: Pod> Drop for Release<'_, T> {
    fn drop(&mut self) {
        self.ring.release(self.me, self.pos);
    }
}

impl<T: Pod> Queue<T> {
    fn spec(kind: Kind, capacity: usize, opts: &QueueOptions) -> Result<Spec, CreateError> {
        let bad = |reason| CreateError::InvalidSize { size: capacity as u64, reason };
        if capacity == 0 {
            return Err(bad("a queue needs a capacity of at least 1"));
        }
        if capacity > MAX_CAPACITY {
            return Err(bad("a queue holds at most 2^32 items"));
        }
        if std::mem::align_of::<T>() > 128 {
            return Err(bad("elements aligned to more than 128 bytes are not supported"));
        }
        // Vyukov's sequences need two slots at least: with one, "full for the consumer of
        // pos" and "free for the producer of pos + 1" are the same number.
        let capacity = capacity.next_power_of_two().max(2);
        let l = layout::<T>(opts.slots, capacity).ok_or(bad("larger than the address space"))?;
        let flags = if opts.report_no_consumers { FLAG_REPORT_NO_CONSUMERS } else { 0 };
        Ok(Spec::new(kind, l.len as u64)
            .elem(TypeDesc::of::<T>(), capacity as u64)
            .slots(opts.slots)
            .flags(flags))
    }

    fn init(capacity: u64, slots: u32) -> impl FnOnce(*mut u8, usize) {
        move |body, _| {
            let l = layout::<T>(slots, capacity as usize).expect("checked by spec");
            // SAFETY: the body is zero-filled, 128-aligned and `l.len` bytes long (the
            // spec's body length); zero is a valid `Slot<T>` (an atomic and a Pod).
            let slots =
                unsafe { std::slice::from_raw_parts(body.add(l.slots).cast::<Slot<T>>(), capacity as usize) };
            for (i, s) in slots.iter().enumerate() {
                s.seq.store(i as u64, Ordering::Relaxed);
            }
        }
    }

    /// Checks that a validated object's layout is one this code would make; returns its
    /// capacity.
    fn check(obj: &Object) -> Result<usize, OpenError> {
        let info = obj.info();
        let corrupt = |reason| OpenError::Corrupt { reason };
        let capacity = usize::try_from(info.elem_count).map_err(|_| corrupt("capacity out of range"))?;
        if !capacity.is_power_of_two() || !(2..=MAX_CAPACITY).contains(&capacity) {
            return Err(corrupt("the capacity is not a power of two from 2 to 2^32"));
        }
        let l = layout::<T>(info.slots, capacity).ok_or(corrupt("layout overflows"))?;
        if l.len as u64 != info.body_len || obj.body_len() < l.len {
            return Err(corrupt("the body does not match the queue's layout"));
        }
        Ok(capacity)
    }

    /// Wraps an object whose layout holds `capacity` slots (made from our spec, or
    /// passed through [`check`](Self::check)).
    fn wrap(obj: Object, capacity: usize, joinable: bool) -> Self {
        let info = obj.info();
        let l = layout::<T>(info.slots, capacity).expect("the callers checked this layout");
        let body = obj.body();
        // SAFETY: `l` fits the body (the callers' guarantee), which is 128-aligned; these offsets
        // are multiples of 128, and `Slot<T>` is aligned to at most 128 (checked at
        // creation; the type hash pins `T`).
        let (ctl, intents, slots) = unsafe {
            (
                NonNull::new_unchecked(body.cast::<Control>()),
                NonNull::new_unchecked(body.add(l.intents).cast::<Intent>()),
                NonNull::new_unchecked(body.add(l.slots).cast::<Slot<T>>()),
            )
        };
        let q = Self {
            report_no_consumers: info.flags & FLAG_REPORT_NO_CONSUMERS != 0,
            participants: info.slots as usize,
            obj,
            ctl,
            intents,
            slots,
            capacity,
            strategy: WaitStrategy::default(),
            joinable,
            known: Cell::new(0),
            sides: Cell::new(0),
            _t: PhantomData,
        };
        // Take over this participant slot now: a dead predecessor's intent goes.
        let _ = q.me();
        q
    }

    fn create_kind(
        name: &str,
        capacity: usize,
        opts: &QueueOptions,
        kind: Kind,
    ) -> Result<Self, CreateError> {
        let spec = Self::spec(kind, capacity, opts)?;
        let obj = Object::create(name, &spec, &opts.create, Self::init(spec.count, spec.slots))?;
        Ok(Self::wrap(obj, spec.count as usize, kind == Kind::JoinableQueue))
    }

    fn open_kind(name: &str, opts: &OpenOptions, kind: Kind) -> Result<Self, OpenError> {
        let expect = Expect::kind(kind).elem(TypeDesc::of::<T>());
        let obj = Object::open(name, &expect, opts)?;
        let capacity = Self::check(&obj)?;
        Ok(Self::wrap(obj, capacity, kind == Kind::JoinableQueue))
    }

    fn open_or_create_kind(name: &str, capacity: usize, kind: Kind) -> Result<Self, OpenOrCreateError> {
        let opts = QueueOptions::new();
        let spec = Self::spec(kind, capacity, &opts).map_err(OpenOrCreateError::Create)?;
        let (obj, _) = Object::open_or_create(
            name,
            &spec,
            &opts.create,
            &OpenOptions::new(),
            Self::init(spec.count, spec.slots),
        )?;
        let capacity = Self::check(&obj).map_err(OpenOrCreateError::Open)?;
        Ok(Self::wrap(obj, capacity, kind == Kind::JoinableQueue))
    }

    fn anonymous_kind(capacity: usize, opts: &QueueOptions, kind: Kind) -> Result<Self, CreateError> {
        let spec = Self::spec(kind, capacity, opts)?;
        let obj = Object::anonymous(&spec, Self::init(spec.count, spec.slots))?;
        Ok(Self::wrap(obj, spec.count as usize, kind == Kind::JoinableQueue))
    }

    /// Creates the named queue `name` holding at least `capacity` items (rounded up to
    /// a power of two). Python's `Queue(maxsize)`.
    ///
    /// # Errors
    ///
    /// As [`Object::create`]; a zero capacity, one above [`MAX_CAPACITY`], or a `T`
    /// aligned to more than 128 bytes is [`CreateError::InvalidSize`].
    pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
        Self::create_kind(name, capacity, &QueueOptions::new(), Kind::Queue)
    }

    /// [`create`](Self::create) with options.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn create_with(name: &str, capacity: usize, opts: &QueueOptions) -> Result<Self, CreateError> {
        Self::create_kind(name, capacity, opts, Kind::Queue)
    }

    /// Opens the named queue `name`, which must hold `T`s.
    ///
    /// # Errors
    ///
    /// As [`Object::open`]; another element type is [`OpenError::TypeMismatch`], a
    /// layout this code would not make is [`OpenError::Corrupt`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_kind(name, &OpenOptions::new(), Kind::Queue)
    }

    /// [`open`](Self::open) with options.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Self::open_kind(name, opts, Kind::Queue)
    }

    /// Opens `name`, or creates it with `capacity`.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str, capacity: usize) -> Result<Self, OpenOrCreateError> {
        Self::open_or_create_kind(name, capacity, Kind::Queue)
    }

    /// Creates an anonymous queue, shared with children forked afterwards.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn anonymous(capacity: usize) -> Result<Self, CreateError> {
        Self::anonymous_kind(capacity, &QueueOptions::new(), Kind::Queue)
    }

    /// [`anonymous`](Self::anonymous) with options.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn anonymous_with(capacity: usize, opts: &QueueOptions) -> Result<Self, CreateError> {
        Self::anonymous_kind(capacity, opts, Kind::Queue)
    }

    /// Removes the name `name` (attached processes keep using the queue).
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), shmkit_core::UnlinkError> {
        shmkit_core::segment::unlink(name)
    }

    /// Another handle to this queue, a participant of its own: one per thread.
    ///
    /// # Errors
    ///
    /// As [`Object::try_clone`].
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let mut q = Self::wrap(self.obj.try_clone()?, self.capacity, self.joinable);
        q.strategy = self.strategy;
        Ok(q)
    }

    /// Sets how blocked calls wait (spin, spin then sleep, or sleep).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// The underlying object (its name, header and participants).
    pub fn object(&self) -> &Object {
        &self.obj
    }

    #[inline]
    fn ring(&self) -> Ring<'_, T> {
        // SAFETY: `wrap` checked that the control block, `participants` intents and
        // `capacity` slots lie in the body, mapped while `self.obj` lives. All three are
        // made of atomics, or (the values) of `UnsafeCell<T: Pod>`, valid for any bits
        // and for writes by other processes.
        unsafe {
            Ring::new(
                self.ctl.as_ref(),
                std::slice::from_raw_parts(self.intents.as_ptr(), self.participants),
                std::slice::from_raw_parts(self.slots.as_ptr(), self.capacity),
            )
        }
    }

    /// This handle's participant slot; a new registration (the first use in a forked
    /// child) first clears what a dead predecessor left in the slot's intent.
    #[inline]
    fn me(&self) -> Result<u32, Fail> {
        let id = self.obj.participant().map_err(|_| Fail::NoSlot)?;
        if id.to_u64() != self.known.get() {
            self.ring().forget(id.slot);
            self.known.set(id.to_u64());
        }
        Ok(id.slot)
    }

    /// Records that this handle produces (or consumes), once.
    #[inline]
    fn acts_as(&self, side: u8) {
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
        self.obj.set_role(role_of(sides));
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

    fn closed(&self) -> bool {
        self.ring().ctl.misc.0.state.load(Ordering::Acquire) & state::CLOSED != 0
    }

    /// Whether some participant other than `me` that has the role can still act, given
    /// that one was seen at all.
    fn peers_gone(&self, me: u32, seen: u32, role: fn(Role) -> bool) -> bool {
        if self.ring().ctl.misc.0.state.load(Ordering::Acquire) & seen == 0 {
            return false;
        }
        !self.obj.participants().iter().any(|p| p.alive && p.id.slot != me && role(p.role))
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
        self.len() >= self.capacity
    }

    /// How many items it holds at most (a power of two).
    #[doc(alias = "maxsize")]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many slots were skipped because their producer died before publishing, and
    /// how many were given back because their consumer died before releasing.
    pub fn repairs(&self) -> (u64, u64) {
        let misc = &self.ring().ctl.misc.0;
        (misc.holes.load(Ordering::Relaxed), misc.reclaimed.load(Ordering::Relaxed))
    }

    /// Claims a slot to produce into, waiting as `wait` allows.
    #[inline]
    fn claim_put(&self, me: u32, wait: Wait) -> Result<u64, Fail> {
        let ring = self.ring();
        if self.closed() {
            return Err(Fail::Disconnected);
        }
        match ring.claim_put(me) {
            Some(pos) => return Ok(pos),
            None if wait.deadline().is_none() => {
                // Not blocking: a slot held by a dead consumer is still given back.
                return if ring.repair_put(&Table(&self.obj)) {
                    ring.claim_put(me).ok_or(Fail::Nothing)
                } else {
                    Err(Fail::Nothing)
                };
            }
            None => {}
        }
        self.wait_put(me, wait.deadline().unwrap_or_else(Deadline::never))
    }

    #[cold]
    fn wait_put(&self, me: u32, deadline: Deadline) -> Result<u64, Fail> {
        let ring = self.ring();
        let misc = &ring.ctl.misc.0;
        let table = Table(&self.obj);
        let mut last_scan = Instant::now();
        let r = misc.not_full.wait_checked(
            self.strategy,
            deadline,
            || {
                if self.closed() {
                    return Some(Err(Fail::Disconnected));
                }
                ring.claim_put(me).map(Ok)
            },
            || {
                if ring.repair_put(&table) {
                    return None;
                }
                if self.report_no_consumers && last_scan.elapsed() >= PEER_SCAN_INTERVAL {
                    last_scan = Instant::now();
                    if self.peers_gone(me, state::CONSUMER_SEEN, is_consumer) {
                        return Some(Err(Fail::Disconnected));
                    }
                }
                None
            },
        );
        let r = r.unwrap_or(Err(Fail::Timeout));
        if r.is_err() && ring.len() < self.capacity {
            // A wake-up meant for a producer that gives up goes to another.
            misc.not_full.notify_one();
        }
        r
    }

    #[inline]
    fn put_inner<R>(&self, wait: Wait, f: impl FnOnce(&mut T) -> R) -> Result<R, Fail> {
        let me = self.me()?;
        self.acts_as(PRODUCES);
        let pos = self.claim_put(me, wait)?;
        let ring = self.ring();
        let r = {
            let _publish = Publish { ring, me, pos };
            let r = ring.write(pos, f);
            if self.joinable {
                ring.ctl.misc.0.unfinished.fetch_add(1, Ordering::Relaxed);
            }
            r
        };
        ring.ctl.misc.0.not_empty.notify_one();
        Ok(r)
    }

    fn put_many(&self, items: &[T], wait: Wait) -> (usize, Option<Fail>) {
        let me = match self.me() {
            Ok(me) => me,
            Err(e) => return (0, Some(e)),
        };
        self.acts_as(PRODUCES);
        let ring = self.ring();
        let mut done = 0;
        let mut fail = None;
        for item in items {
            // Wait only when nothing put so far is waiting to be seen.
            let pos = match self.claim_put(me, if done == 0 { wait } else { Wait::Now }) {
                Ok(pos) => pos,
                Err(Fail::Nothing) if done > 0 && wait.deadline().is_some() => {
                    ring.ctl.misc.0.not_empty.notify_all();
                    match self.claim_put(me, wait) {
                        Ok(pos) => pos,
                        Err(e) => {
                            fail = Some(e);
                            break;
                        }
                    }
                }
                Err(e) => {
                    fail = Some(e);
                    break;
                }
            };
            let _publish = Publish { ring, me, pos };
            ring.write(pos, |slot| *slot = *item);
            if self.joinable {
                ring.ctl.misc.0.unfinished.fetch_add(1, Ordering::Relaxed);
            }
            done += 1;
        }
        if done > 0 {
            ring.ctl.misc.0.not_empty.notify_all();
        }
        (done, fail)
    }

    /// Claims a slot to consume from, waiting as `wait` allows.
    #[inline]
    fn claim_get(&self, me: u32, wait: Wait) -> Result<u64, Fail> {
        let ring = self.ring();
        match ring.claim_get(me) {
            Some(pos) => return Ok(pos),
            None if wait.deadline().is_none() => {
                // Not blocking: still skip a dead producer's hole.
                while ring.repair_get(me, &Table(&self.obj)) {
                    if let Some(pos) = ring.claim_get(me) {
                        return Ok(pos);
                    }
                }
                return Err(if self.closed() && ring.is_empty() {
                    Fail::Disconnected
                } else {
                    Fail::Nothing
                });
            }
            None => {}
        }
        self.wait_get(me, wait.deadline().unwrap_or_else(Deadline::never))
    }

    #[cold]
    fn wait_get(&self, me: u32, deadline: Deadline) -> Result<u64, Fail> {
        let ring = self.ring();
        let misc = &ring.ctl.misc.0;
        let table = Table(&self.obj);
        let mut last_scan = Instant::now();
        let r = misc.not_empty.wait_checked(
            self.strategy,
            deadline,
            || match ring.claim_get(me) {
                Some(pos) => Some(Ok(pos)),
                None if self.closed() && ring.is_empty() => Some(Err(Fail::Disconnected)),
                None => None,
            },
            || {
                if ring.repair_get(me, &table) {
                    return ring.claim_get(me).map(Ok);
                }
                if ring.is_empty() && last_scan.elapsed() >= PEER_SCAN_INTERVAL {
                    last_scan = Instant::now();
                    if self.peers_gone(me, state::PRODUCER_SEEN, is_producer) && ring.is_empty() {
                        return Some(Err(Fail::Disconnected));
                    }
                }
                None
            },
        );
        let r = r.unwrap_or(Err(Fail::Timeout));
        if r.is_err() && !ring.is_empty() {
            misc.not_empty.notify_one();
        }
        r
    }

    #[inline]
    fn get_inner<R>(&self, wait: Wait, f: impl FnOnce(&T) -> R) -> Result<R, Fail> {
        let me = self.me()?;
        self.acts_as(CONSUMES);
        let pos = self.claim_get(me, wait)?;
        let ring = self.ring();
        let r = {
            let _release = Release { ring, me, pos };
            ring.read(pos, f)
        };
        ring.ctl.misc.0.not_full.notify_one();
        Ok(r)
    }

    fn get_many(&self, out: &mut [T], wait: Wait) -> Result<usize, Fail> {
        let me = self.me()?;
        self.acts_as(CONSUMES);
        let ring = self.ring();
        let mut done = 0;
        for slot in out.iter_mut() {
            let pos = match self.claim_get(me, if done == 0 { wait } else { Wait::Now }) {
                Ok(pos) => pos,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            let _release = Release { ring, me, pos };
            *slot = ring.read(pos, |v| *v);
            done += 1;
        }
        if done > 0 {
            ring.ctl.misc.0.not_full.notify_all();
        }
        Ok(done)
    }

    put_api!();
    get_api!();
}

/// A [`Queue`] whose items are counted until a consumer marks each done: Python's
/// `multiprocessing.JoinableQueue`. Dereferences to the queue for `put` and `get`.
///
/// # Examples
///
/// ```
/// use shmkit_queue::JoinableQueue;
///
/// let q = JoinableQueue::<u32>::anonymous(8)?;
/// q.put(1)?;
/// q.put(2)?;
/// while let Ok(_job) = q.try_get() {
///     q.task_done()?;
/// }
/// q.join(); // returns at once: every item is done
/// assert!(q.task_done().is_err()); // one call too many
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JoinableQueue<T: Pod> {
    q: Queue<T>,
}

impl<T: Pod> Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.q
    }
}

impl<T: Pod> JoinableQueue<T> {
    /// Creates the named joinable queue `name` (see [`Queue::create`]).
    ///
    /// # Errors
    ///
    /// As [`Queue::create`].
    pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
        Queue::create_kind(name, capacity, &QueueOptions::new(), Kind::JoinableQueue).map(|q| Self { q })
    }

    /// [`create`](Self::create) with options.
    ///
    /// # Errors
    ///
    /// As [`Queue::create`].
    pub fn create_with(name: &str, capacity: usize, opts: &QueueOptions) -> Result<Self, CreateError> {
        Queue::create_kind(name, capacity, opts, Kind::JoinableQueue).map(|q| Self { q })
    }

    /// Opens the named joinable queue `name`.
    ///
    /// # Errors
    ///
    /// As [`Queue::open`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Queue::open_kind(name, &OpenOptions::new(), Kind::JoinableQueue).map(|q| Self { q })
    }

    /// Creates an anonymous joinable queue, shared with children forked afterwards.
    ///
    /// # Errors
    ///
    /// As [`Queue::create`].
    pub fn anonymous(capacity: usize) -> Result<Self, CreateError> {
        Queue::anonymous_kind(capacity, &QueueOptions::new(), Kind::JoinableQueue).map(|q| Self { q })
    }

    /// Another handle, a participant of its own.
    ///
    /// # Errors
    ///
    /// As [`Queue::try_clone`].
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.q.try_clone().map(|q| Self { q })
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.q.set_wait_strategy(strategy);
    }

    /// Marks one item got from the queue as done.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError::TooManyCalls`] if every item put is done already.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let misc = &self.q.ring().ctl.misc.0;
        let mut cur = misc.unfinished.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return Err(TaskDoneError::TooManyCalls);
            }
            match misc.unfinished.compare_exchange_weak(cur, cur - 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if cur == 1 {
                        misc.all_done.notify_all();
                    }
                    return Ok(());
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Items put and not yet marked done (racy).
    pub fn unfinished(&self) -> u64 {
        self.q.ring().ctl.misc.0.unfinished.load(Ordering::Acquire)
    }

    /// Blocks until every item put has been marked done.
    pub fn join(&self) {
        let _ = self.join_deadline(Deadline::never());
    }

    /// [`join`](Self::join), for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if items were still unfinished.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), JoinTimeoutError> {
        self.join_deadline(Deadline::after(timeout))
    }

    /// [`join`](Self::join), until `deadline`.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if items were still unfinished.
    pub fn join_deadline(&self, deadline: Deadline) -> Result<(), JoinTimeoutError> {
        let misc = &self.q.ring().ctl.misc.0;
        misc.all_done
            .wait_until(self.q.strategy, deadline, || {
                (misc.unfinished.load(Ordering::Acquire) == 0).then_some(())
            })
            .ok_or(JoinTimeoutError::Timeout)
    }
}
