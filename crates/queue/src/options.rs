//! How a [`Queue`](crate::Queue) is made and laid out: [`QueueOptions`], and the layout
//! of its body (control block, intent table, slots) for core's generic handle.

use std::marker::PhantomData;
use std::ptr::NonNull;

use bytemuck::Pod;
use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{
    CreateError, CreateOptions, Expect, InPlace, Kind, Layout, Object, OpenError, Spec, TypeDesc,
};

use crate::ring::{self, Control, Intent, Ring, Slot, WideSlot};

// SAFETY: `#[repr(C)]` lines of atomics and event counts (AtomicU32/AtomicU64 only, with
// u32 padding), aligned to 128: any bit pattern is valid, peers write them concurrently.
unsafe impl InPlace for Control {}
// SAFETY: one 128-aligned line holding an AtomicU64.
unsafe impl InPlace for Intent {}

/// Spec flag: a blocked `put` reports `Disconnected` once every consumer is gone.
const FLAG_REPORT_NO_CONSUMERS: u64 = 1;

/// The largest capacity (slots), 2^32.
pub const MAX_CAPACITY: usize = 1 << 32;

/// How a queue is created.
#[derive(Clone, Debug)]
pub struct QueueOptions {
    create: CreateOptions,
    report_no_consumers: bool,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self { create: CreateOptions::new(), report_no_consumers: false }
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
        self.create = self.create.participants(slots);
        self
    }

    /// Remove the name when the creator's handle is dropped (see
    /// [`CreateOptions::unlink_on_drop`]).
    pub fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.create = self.create.unlink_on_drop(unlink);
        self
    }

    /// Replace an abandoned queue left under the name by a crashed run (see
    /// [`CreateOptions::replace_abandoned`]).
    pub fn replace_abandoned(mut self, replace: bool) -> Self {
        self.create = self.create.replace_abandoned(replace);
        self
    }

    /// All the object options at once (mode, participants, clean-up).
    pub fn create_options(mut self, opts: CreateOptions) -> Self {
        self.create = opts;
        self
    }

    /// Whether a blocked `put` reports `Disconnected` once every consumer that got from
    /// the queue is gone (dead or detached), instead of waiting for a new one.
    pub fn report_no_consumers(mut self, yes: bool) -> Self {
        self.report_no_consumers = yes;
        self
    }

    /// The object options (mode, participants, clean-up).
    pub fn get_create(&self) -> &CreateOptions {
        &self.create
    }

    /// What the layout needs to make a queue of `capacity`.
    pub(crate) fn shape(&self, capacity: usize) -> Shape {
        Shape { capacity, report_no_consumers: self.report_no_consumers }
    }
}

/// What a creator chooses about a queue's body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    /// At least this many slots (rounded up to a power of two, at least 2).
    pub capacity: usize,
    /// See [`QueueOptions::report_no_consumers`].
    pub report_no_consumers: bool,
}

/// Refuses a capacity or element type no queue (MPMC or SPSC) can hold.
pub(crate) fn check_capacity<T>(capacity: usize) -> Result<(), CreateError> {
    let bad = |reason| Err(CreateError::InvalidSize { size: capacity as u64, reason });
    if capacity == 0 {
        return bad("a queue needs a capacity of at least 1");
    }
    if capacity > MAX_CAPACITY {
        return bad("a queue holds at most 2^32 items");
    }
    if std::mem::align_of::<T>() > 128 {
        return bad("elements aligned to more than 128 bytes are not supported");
    }
    Ok(())
}

/// The byte offsets in the body: control block, intent table, slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Offsets {
    intents: usize,
    slots: usize,
    len: usize,
}

fn offsets<T>(participants: u32, capacity: usize) -> Option<Offsets> {
    let intents = std::mem::size_of::<Control>();
    let slots = intents.checked_add((participants as usize).checked_mul(std::mem::size_of::<Intent>())?)?;
    let len = slots.checked_add(capacity.checked_mul(ring::slot_size::<T>())?)?;
    Some(Offsets { intents, slots, len })
}

/// The layout of a [`Queue`](crate::Queue) or [`JoinableQueue`](crate::JoinableQueue) of `T`.
#[derive(Debug)]
pub(crate) struct RingLayout<T> {
    kind: Kind,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for RingLayout<T> {
    fn clone(&self) -> Self {
        Self::of(self.kind)
    }
}

impl<T> RingLayout<T> {
    pub const fn of(kind: Kind) -> Self {
        Self { kind, _t: PhantomData }
    }
}

/// Where a queue's parts are in its body, checked when attaching.
#[derive(Debug)]
pub(crate) struct RingParts<T> {
    pub ctl: NonNull<Control>,
    pub intents: NonNull<Intent>,
    pub participants: usize,
    /// The slots in the layout `T`'s size picks ([`ring::is_wide`]): `capacity` of them
    /// in one of the two, none (a dangling pointer) in the other.
    pub slots: (NonNull<Slot<T>>, NonNull<WideSlot<T>>),
    pub capacity: usize,
    /// The most items held at once when below the capacity, else 0 (read once).
    pub limit: u64,
    pub report_no_consumers: bool,
}

impl<T: Pod> RingParts<T> {
    /// The ring these parts make.
    ///
    /// # Safety
    ///
    /// The parts are those [`RingLayout::check`] proved inside a body that stays mapped
    /// while the view is used.
    #[inline]
    pub unsafe fn ring(&self) -> Ring<'_, T> {
        // No branch here: this runs several times in every put and get.
        let (packed, wide) = if ring::is_wide::<T>() { (0, self.capacity) } else { (self.capacity, 0) };
        // SAFETY: the caller promises the control block, intents and slots in the mapping;
        // atomics and `UnsafeCell<T: Pod>` take any bits and peers' writes. The unused
        // layout's pointer is dangling and aligned, for an empty slice.
        unsafe {
            Ring::from_parts(
                self.ctl.as_ref(),
                std::slice::from_raw_parts(self.intents.as_ptr(), self.participants),
                std::slice::from_raw_parts(self.slots.0.as_ptr(), packed),
                std::slice::from_raw_parts(self.slots.1.as_ptr(), wide),
                self.limit,
            )
        }
    }
}

impl<T: Pod> Layout for RingLayout<T> {
    type Params<'a> = Shape;
    type Geometry = RingParts<T>;

    fn spec(&self, shape: &Shape, participants: u32) -> Result<Spec, CreateError> {
        let capacity = shape.capacity;
        check_capacity::<T>(capacity)?;
        let bad = |reason| CreateError::InvalidSize { size: capacity as u64, reason };
        // Vyukov's sequences need two slots at least: with one, "full for the consumer of
        // pos" and "free for the producer of pos + 1" are the same number.
        let capacity = capacity.next_power_of_two().max(2);
        let o = offsets::<T>(participants, capacity).ok_or(bad("larger than the address space"))?;
        let flags = if shape.report_no_consumers { FLAG_REPORT_NO_CONSUMERS } else { 0 };
        Ok(Spec::new(self.kind, o.len as u64)
            .elem(TypeDesc::of::<T>(), capacity as u64)
            .slots(participants)
            .flags(flags))
    }

    fn expect(&self) -> Expect {
        Expect::kind(self.kind).elem(TypeDesc::of::<T>())
    }

    fn init(&self, obj: &Object, shape: Shape) -> Result<(), CreateError> {
        let ctl = obj.view::<Control>(0).map_err(CreateError::from_layout)?;
        // A queue made for 10 holds 10, on a ring of 16 (Python's maxsize).
        let limit = u32::try_from(shape.capacity).ok().filter(|&c| !(c as usize).is_power_of_two() && c > 1);
        ctl.misc.0.limit.store(limit.unwrap_or(0), Ordering::Relaxed);
        let parts = self.check(obj).map_err(CreateError::from_layout)?;
        // SAFETY: `check` proved the control block, intents and `capacity` slots inside
        // the body; nobody else sees the body yet, and zero is a valid slot (atomics and
        // a Pod).
        unsafe { parts.ring() }.init();
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<RingParts<T>, OpenError> {
        let info = obj.info();
        let corrupt = |reason| OpenError::Corrupt { reason };
        let capacity = usize::try_from(info.elem_count).map_err(|_| corrupt("capacity out of range"))?;
        if !capacity.is_power_of_two() || !(2..=MAX_CAPACITY).contains(&capacity) {
            return Err(corrupt("the capacity is not a power of two from 2 to 2^32"));
        }
        let o = offsets::<T>(info.slots, capacity).ok_or(corrupt("layout overflows"))?;
        if o.len as u64 != info.body_len {
            return Err(corrupt("the body does not match the queue's layout"));
        }
        let participants = info.slots as usize;
        Ok(RingParts {
            ctl: NonNull::from(obj.view::<Control>(0)?),
            intents: NonNull::from(obj.slice::<Intent>(o.intents, participants)?).cast::<Intent>(),
            participants,
            slots: if ring::is_wide::<T>() {
                (NonNull::dangling(), obj.region::<WideSlot<T>>(o.slots, capacity)?)
            } else {
                (obj.region::<Slot<T>>(o.slots, capacity)?, NonNull::dangling())
            },
            capacity,
            // As `Ring::with_limit` takes it: 0 for none, or below the capacity.
            limit: Some(u64::from(obj.view::<Control>(0)?.misc.0.limit.load(Ordering::Relaxed)))
                .filter(|&l| l < capacity as u64)
                .unwrap_or(0),
            report_no_consumers: info.flags & FLAG_REPORT_NO_CONSUMERS != 0,
        })
    }
}
