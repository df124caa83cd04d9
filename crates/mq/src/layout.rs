//! Where a message queue's parts lie in its object's body, and the options that shape it.

use std::ptr::NonNull;

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::{
    CreateError, CreateOptions, Expect, InPlace, Kind, Layout, Object, OpenError, Spec, TypeDesc,
};
use shmkit_queue::ring::{self, Intent, Ring, Slot};

use crate::pool::{Control, Geometry, Pool};
use crate::state::{Item, State};

// SAFETY: `#[repr(C)]`, made only of atomics, a RawLock (atomics) and event counts (atomics),
// with atomic padding: any bit pattern is valid, and peers write it concurrently.
unsafe impl InPlace for Control {}

/// The most messages a queue can hold at once.
pub const MAX_MAXSIZE: u32 = 1 << 24;

/// What `maxsize = 0` (Python's "infinite") gives.
pub const DEFAULT_MAXSIZE: u32 = 1 << 16;

/// The bytes a chunk holds unless the options say otherwise.
pub const DEFAULT_CHUNK_SIZE: u32 = 512;

/// The pool's bytes unless the options say otherwise: 4 MiB.
pub const DEFAULT_POOL_BYTES: usize = 4 << 20;

/// How a message queue is made: its pool of chunks, and the object options.
#[derive(Clone, Debug)]
pub struct MessageQueueOptions {
    create: CreateOptions,
    pool_bytes: usize,
    chunk_size: u32,
}

impl Default for MessageQueueOptions {
    fn default() -> Self {
        Self { create: CreateOptions::new(), pool_bytes: DEFAULT_POOL_BYTES, chunk_size: DEFAULT_CHUNK_SIZE }
    }
}

impl MessageQueueOptions {
    /// The defaults: a 4 MiB pool of 512-byte chunks, mode 0600, 64 participants.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pool's size in bytes: what all the queued messages (and those being written or
    /// read) may take at once; a message can be at most this large.
    pub fn pool_bytes(mut self, bytes: usize) -> Self {
        self.pool_bytes = bytes;
        self
    }

    /// The bytes each chunk holds (64 to 16 MiB, a multiple of 8): every message takes at
    /// least one chunk, so small chunks suit small messages.
    pub fn chunk_size(mut self, bytes: u32) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// The object options (mode, participants, clean-up).
    pub fn create_options(mut self, opts: CreateOptions) -> Self {
        self.create = opts;
        self
    }

    /// The bytes each chunk holds.
    pub fn get_chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// The pool's size in bytes.
    pub fn get_pool_bytes(&self) -> usize {
        self.pool_bytes
    }

    /// The object options.
    pub fn get_create(&self) -> &CreateOptions {
        &self.create
    }

    /// The geometry for a queue of `maxsize` messages (0: [`DEFAULT_MAXSIZE`]).
    pub(crate) fn geometry(&self, maxsize: usize) -> Result<Geometry, CreateError> {
        let bad = |size: u64, reason| CreateError::InvalidSize { size, reason };
        let maxsize = match maxsize {
            0 => DEFAULT_MAXSIZE,
            m => u32::try_from(m)
                .ok()
                .filter(|&m| m <= MAX_MAXSIZE)
                .ok_or(bad(maxsize as u64, "a message queue holds at most 2^24 messages"))?,
        };
        let chunk_size = self.chunk_size;
        if !(64..=1 << 24).contains(&chunk_size) || chunk_size % 8 != 0 {
            return Err(bad(u64::from(chunk_size), "a chunk holds 64 bytes to 16 MiB, a multiple of 8"));
        }
        let chunks = self.pool_bytes.div_ceil(chunk_size as usize);
        let chunks = u32::try_from(chunks).ok().filter(|&c| (1..=1 << 24).contains(&c)).ok_or(bad(
            self.pool_bytes as u64,
            "a pool has 1 to 2^24 chunks: give it room for one chunk at least",
        ))?;
        Ok(Geometry { maxsize, chunk_size, chunks })
    }
}

/// Where each part lies, from the start of the body: the pool's control block, the ring's,
/// the intents, the slots (a cache line each), the owner words, the links, the chunks.
struct Offsets {
    ring_ctl: usize,
    intents: usize,
    slots: usize,
    owner: usize,
    next: usize,
    data: usize,
    len: usize,
}

fn offsets(geo: Geometry, participants: u32) -> Option<Offsets> {
    let ring_ctl = std::mem::size_of::<Control>().checked_next_multiple_of(128)?;
    let intents = ring_ctl.checked_add(std::mem::size_of::<ring::Control>())?;
    let slots = intents.checked_add((participants as usize).checked_mul(std::mem::size_of::<Intent>())?)?;
    let owner =
        slots.checked_add((geo.ring_slots() as usize).checked_mul(std::mem::size_of::<Slot<Item>>())?)?;
    let next = owner.checked_add((geo.chunks as usize).checked_mul(8)?)?;
    let data = next.checked_add((geo.chunks as usize).checked_mul(4)?)?.checked_next_multiple_of(128)?;
    let len = data.checked_add((geo.chunks as usize).checked_mul(geo.chunk_size as usize)?)?;
    Some(Offsets { ring_ctl, intents, slots, owner, next, data, len })
}

/// A message queue's layout.
#[derive(Clone, Copy, Debug, Default)]
pub struct MqLayout;

/// The parts of a checked body: valid while its object is mapped.
#[derive(Clone, Copy, Debug)]
pub struct Parts {
    ctl: NonNull<Control>,
    ring_ctl: NonNull<ring::Control>,
    intents: NonNull<Intent>,
    participants: usize,
    slots: NonNull<Slot<Item>>,
    owner: NonNull<AtomicU64>,
    next: NonNull<AtomicU32>,
    data: NonNull<u8>,
    /// The geometry checked.
    pub geo: Geometry,
}

impl Parts {
    /// The ring and the pool over these parts.
    ///
    /// # Safety
    ///
    /// The object they were checked in is mapped for `'a`.
    pub unsafe fn state<'a>(&self) -> State<'a> {
        let (m, c) = (self.geo.ring_slots() as usize, self.geo.chunks as usize);
        // SAFETY: `check` proved each part (these lengths, aligned) inside the body, which
        // the caller keeps mapped; atomics, and the slots' `UnsafeCell<Item: Pod>`, are
        // valid for any bits and for writes by other processes.
        unsafe {
            let ring = Ring::new(
                self.ring_ctl.as_ref(),
                std::slice::from_raw_parts(self.intents.as_ptr(), self.participants),
                std::slice::from_raw_parts(self.slots.as_ptr(), m),
            );
            let pool = Pool::new(
                self.ctl.as_ref(),
                std::slice::from_raw_parts(self.owner.as_ptr(), c),
                std::slice::from_raw_parts(self.next.as_ptr(), c),
                self.data,
                self.geo,
            );
            State::new(ring, pool)
        }
    }
}

impl Layout for MqLayout {
    type Params<'a> = Geometry;
    type Geometry = Parts;

    fn spec(&self, geo: &Geometry, participants: u32) -> Result<Spec, CreateError> {
        let o = offsets(*geo, participants)
            .ok_or(CreateError::InvalidSize { size: 0, reason: "larger than the address space" })?;
        Ok(Spec::new(Kind::MessageQueue, o.len as u64)
            .elem(TypeDesc::bytes(), u64::from(geo.maxsize))
            .slots(participants))
    }

    fn expect(&self) -> Expect {
        Expect::kind(Kind::MessageQueue)
    }

    fn init(&self, obj: &Object, geo: Geometry) -> Result<(), CreateError> {
        let ctl = obj.view::<Control>(0).map_err(CreateError::from_layout)?;
        ctl.maxsize.store(geo.maxsize, Ordering::Relaxed);
        ctl.chunk_size.store(geo.chunk_size, Ordering::Relaxed);
        ctl.chunks.store(geo.chunks, Ordering::Relaxed);
        ctl.free.store(geo.chunks, Ordering::Relaxed);
        let parts = self.check(obj).map_err(CreateError::from_layout)?;
        // SAFETY: checked in `obj`, mapped for this call.
        unsafe { parts.state() }.ring.init();
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<Parts, OpenError> {
        let corrupt = |reason| OpenError::Corrupt { reason };
        let ctl = obj.view::<Control>(0)?;
        // Read once: what a peer writes later does not change the layout we use.
        let geo = Geometry {
            maxsize: ctl.maxsize.load(Ordering::Relaxed),
            chunk_size: ctl.chunk_size.load(Ordering::Relaxed),
            chunks: ctl.chunks.load(Ordering::Relaxed),
        };
        if !(1..=MAX_MAXSIZE).contains(&geo.maxsize) || u64::from(geo.maxsize) != obj.info().elem_count {
            return Err(corrupt("the message queue's maxsize is out of range or disagrees with the header"));
        }
        if !(64..=1 << 24).contains(&geo.chunk_size)
            || geo.chunk_size % 8 != 0
            || !(1..=1 << 24).contains(&geo.chunks)
        {
            return Err(corrupt("the message queue's chunk geometry is out of range"));
        }
        let participants = obj.info().slots;
        let o = offsets(geo, participants).ok_or(corrupt("the message queue's layout overflows"))?;
        if o.len as u64 != obj.info().body_len {
            return Err(corrupt("the body does not match the message queue's layout"));
        }
        let (m, c) = (geo.ring_slots() as usize, geo.chunks as usize);
        let participants = participants as usize;
        Ok(Parts {
            ctl: NonNull::from(ctl),
            ring_ctl: NonNull::from(obj.view::<ring::Control>(o.ring_ctl)?),
            intents: NonNull::from(obj.slice::<Intent>(o.intents, participants)?).cast(),
            participants,
            slots: obj.region::<Slot<Item>>(o.slots, m)?,
            owner: NonNull::from(obj.slice::<AtomicU64>(o.owner, c)?).cast(),
            next: NonNull::from(obj.slice::<AtomicU32>(o.next, c)?).cast(),
            data: obj.region::<u8>(o.data, c * geo.chunk_size as usize)?,
            geo,
        })
    }
}
