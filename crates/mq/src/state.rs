//! The queue's shared state: a ring of items (`shmkit-queue`'s MPMC ring, crash-aware) and
//! a pool of chunks, and the steps of a put and a get over them. The handles in `queue` add
//! the waiting, the pool's lock and the liveness checks; the tests, loom and the fuzzer
//! drive the same steps over the heap.
//!
//! # Messages
//!
//! A ring slot is one cache line: the position's sequence, then an [`Item`] — a length,
//! flags, and 48 bytes. A message of up to [`INLINE_MAX`] bytes travels in the item itself:
//! a put claims a position, writes the item and publishes it, a get claims it, copies it
//! and releases it, with no lock and no chunk. A longer message is a chain of chunks from
//! the pool, and the item carries its first chunk.
//!
//! # A chain's way through the ring
//!
//! 1. The producer takes the chunks under the pool's lock (their owner word becomes its
//!    token) and writes the bytes.
//! 2. It claims ring position `pos`, turns its chunks' words into [`queued`]`(pos)` (no
//!    lock: only the holder changes a held chunk's word), writes the item and publishes.
//! 3. A consumer claims `pos`, checks the chain is `queued(pos)` all along, reads it, frees
//!    the chunks under the lock, and only then releases the position.
//!
//! Who still has a chunk ([`State::owner`]) follows from that order: a token's
//! chunks while its process lives; `queued(pos)`'s while `pos` is not consumed yet, or a
//! live consumer holds it (its intent word, set before it claimed `pos`, is cleared only
//! after the chunks are freed). So a producer killed before publishing loses its message
//! and its chunks come back (its position becomes a hole that consumers skip); a consumer
//! killed while it reads loses that message (never delivered twice), and its chunks come
//! back too.

use shmkit_core::loom::atomic::Ordering;
use shmkit_queue::ring::{state, Peers, Ring};

use crate::pool::{queued, Pool, MAX_LEN, POS_MASK, QUEUED_BIT};

/// The longest message carried in the ring slot itself.
pub const INLINE_MAX: usize = 48;

/// `Item::flags`: the message is a typed value (`put`), not bytes.
const TYPED: u32 = 1;
/// `Item::flags`: the message is a chain of chunks whose first is in the body.
const CHAINED: u32 = 2;

/// What a ring slot carries: a message of up to [`INLINE_MAX`] bytes, or a chain's first
/// chunk. With the slot's sequence, one cache line.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Item {
    /// The message's length in bytes.
    pub len: u32,
    /// `TYPED`, `CHAINED`.
    pub flags: u32,
    /// The message, or (chained) its first chunk, little-endian, in the first four bytes.
    pub body: [u8; INLINE_MAX],
}

// SAFETY: `#[repr(C)]` of two u32 and a byte array: no padding (56 bytes), every bit
// pattern valid.
unsafe impl bytemuck::Zeroable for Item {}
// SAFETY: as above; `Copy` and `'static`.
unsafe impl bytemuck::Pod for Item {}

/// A chained message: its first chunk, its length in bytes (up to [`MAX_LEN`]) and
/// whether it is a typed value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    /// The chain's first chunk.
    pub first: u32,
    /// The message's length in bytes.
    pub len: u32,
    /// Whether it is a typed value (`put`) rather than bytes (`put_bytes`).
    pub typed: bool,
}

/// What a consumer found at the position it claimed.
#[derive(Clone, Copy, Debug)]
pub enum Message {
    /// A message carried in the item.
    Inline {
        /// Its bytes: the first `len` of the body.
        body: [u8; INLINE_MAX],
        /// Its length (at most [`INLINE_MAX`]).
        len: usize,
        /// Whether it is a typed value.
        typed: bool,
    },
    /// A chain of `chunks` chunks, checked to be this position's all along.
    Chain {
        /// The message.
        desc: Desc,
        /// Its chunk count.
        chunks: u32,
    },
    /// An item or a chain that makes no sense (a hostile peer wrote it): drop it.
    Broken,
}

impl Message {
    /// Its length in bytes (0 if broken).
    pub fn len(&self) -> usize {
        match *self {
            Self::Inline { len, .. } => len,
            Self::Chain { desc, .. } => desc.len as usize,
            Self::Broken => 0,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it is a typed value.
    pub fn typed(&self) -> bool {
        match *self {
            Self::Inline { typed, .. } => typed,
            Self::Chain { desc, .. } => desc.typed,
            Self::Broken => false,
        }
    }
}

/// Who has a chunk (see [`State::owner`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// No one.
    Free,
    /// A message in the ring (or being published into it).
    Queued,
    /// A live process: a producer filling it, a consumer reading it.
    Held,
    /// No one alive: a sweep frees it.
    Dead,
}

/// A closure's answer (whether a participant slot is held by a live process) as the
/// ring's [`Peers`].
pub struct PeersFn<F>(pub F);

impl<F: Fn(u32) -> bool> Peers for PeersFn<F> {
    fn alive(&self, slot: u32) -> bool {
        (self.0)(slot)
    }
}

/// The ring and the pool of one queue.
#[derive(Clone, Copy)]
pub struct State<'a> {
    /// The ring of items, limited to `maxsize`.
    pub ring: Ring<'a, Item>,
    /// The pool of chunks.
    pub pool: Pool<'a>,
}

impl<'a> State<'a> {
    /// The state over a ring and a pool.
    pub fn new(ring: Ring<'a, Item>, pool: Pool<'a>) -> Self {
        Self { ring: ring.with_limit(u64::from(pool.geo.maxsize)), pool }
    }

    /// How many messages are queued (racy).
    pub fn len(&self) -> usize {
        self.ring.len().min(self.pool.geo.maxsize as usize)
    }

    /// Whether no message is queued (racy).
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Whether `maxsize` messages are queued (racy).
    pub fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.ring.ctl.misc.0.state.load(Ordering::Acquire) & state::CLOSED != 0
    }

    /// Closes the queue (the caller wakes the waiters).
    pub fn close(&self) {
        self.ring.ctl.misc.0.state.fetch_or(state::CLOSED, Ordering::AcqRel);
    }

    /// Messages put (racy): positions claimed by producers, less the holes their deaths
    /// left, less those dropped as broken.
    pub fn put_count(&self) -> u64 {
        self.ring
            .ctl
            .tail
            .0
            .load(Ordering::Acquire)
            .saturating_sub(self.ring.ctl.misc.0.holes.load(Ordering::Acquire))
            .saturating_sub(self.pool.ctl.dropped.load(Ordering::Acquire))
    }

    /// Messages put and not yet marked done (racy).
    pub fn unfinished(&self) -> u64 {
        self.put_count().saturating_sub(self.ring.ctl.misc.0.done.load(Ordering::Acquire))
    }

    /// Writes the message `msg` (at most [`INLINE_MAX`] bytes) into the position `pos` that
    /// participant `slot` claimed, and publishes it.
    pub fn send_inline(&self, slot: u32, pos: u64, msg: &[u8], typed: bool) {
        debug_assert!(msg.len() <= INLINE_MAX);
        let n = msg.len().min(INLINE_MAX);
        self.ring.write(pos, |it| {
            it.len = n as u32;
            it.flags = if typed { TYPED } else { 0 };
            it.body[..n].copy_from_slice(&msg[..n]);
        });
        self.ring.publish(slot, pos);
    }

    /// Hands the chain of `k` chunks that `me` holds, message `desc`, to the position `pos`
    /// that participant `slot` claimed, and publishes it.
    pub fn send_chain(&self, slot: u32, me: u64, pos: u64, desc: Desc, k: u32) {
        self.pool.hand_over(desc.first, k, me, queued(pos));
        self.ring.write(pos, |it| {
            it.len = desc.len;
            it.flags = CHAINED | if desc.typed { TYPED } else { 0 };
            it.body[..4].copy_from_slice(&desc.first.to_le_bytes());
        });
        self.ring.publish(slot, pos);
    }

    /// The message at the position `pos` this process claimed to consume, checked.
    pub fn open(&self, pos: u64) -> Message {
        let it = self.ring.read(pos, |it| *it);
        let typed = it.flags & TYPED != 0;
        if it.flags & !(TYPED | CHAINED) != 0 {
            return Message::Broken;
        }
        if it.flags & CHAINED == 0 {
            let len = it.len as usize;
            return if len <= INLINE_MAX {
                Message::Inline { body: it.body, len, typed }
            } else {
                Message::Broken
            };
        }
        let first = u32::from_le_bytes([it.body[0], it.body[1], it.body[2], it.body[3]]);
        let desc = Desc { first, len: it.len, typed };
        match self.pool.geo.chunks_for(it.len as usize) {
            Some(k) if it.len <= MAX_LEN && self.pool.owns_chain(first, k, queued(pos)) => {
                Message::Chain { desc, chunks: k }
            }
            _ => Message::Broken,
        }
    }

    /// Locked: after participant `me` consumed the chained message `desc` of `k` chunks at
    /// `pos`, frees its chunks (the caller then releases the position).
    pub fn free_chain(&self, pos: u64, desc: Desc, k: u32) {
        self.pool.release(desc.first, k, queued(pos));
    }

    /// Counts a message dropped as broken.
    pub fn count_dropped(&self) {
        self.pool.ctl.dropped.fetch_add(1, Ordering::AcqRel);
    }

    /// Who has a chunk whose owner word is `w`: no one, a queued message, a live process
    /// (`live` asks about a token; `peers` about a participant slot, for a consumer
    /// holding a message), or no one alive (see the module documentation).
    pub fn owner(&self, w: u64, live: &impl Fn(u64) -> bool, peers: &impl Peers) -> Owner {
        if w == crate::pool::FREE {
            return Owner::Free;
        }
        let alive = |yes: bool| if yes { Owner::Held } else { Owner::Dead };
        if w & shmkit_sync::raw::TOKEN_BIT != 0 {
            return alive(live(w));
        }
        if w & QUEUED_BIT == 0 {
            return Owner::Dead;
        }
        let head = self.ring.ctl.head.0.load(Ordering::Acquire);
        let claimed = self.ring.ctl.tail.0.load(Ordering::Acquire).wrapping_sub(head);
        // The position's distance from `head`, in the 62 bits the word keeps.
        let d = (((w & POS_MASK) << 2).wrapping_sub(head << 2) as i64) >> 2;
        match d {
            // Published or being published (its producer's chunks, handed over): claimed,
            // as a producer claims a position before it hands its chunks over.
            0.. if (d as u64) < claimed.min(self.ring.slots.len() as u64) => Owner::Queued,
            // A position no correct producer has claimed yet.
            0.. => Owner::Dead,
            _ => alive(self.ring.held_by_live_consumer(head.wrapping_add(d as u64), peers)),
        }
    }

    /// Locked: frees every chunk no one alive has ([`owner`](Self::owner)); how many.
    pub fn sweep(&self, live: &impl Fn(u64) -> bool, peers: &impl Peers) -> u32 {
        let live = memo(live);
        self.pool.sweep(&|w| self.owner(w, &live, peers) != Owner::Dead)
    }

    /// Whether some chunk is no one's any more (a hint for when to [`sweep`](Self::sweep)).
    pub fn has_garbage(&self, live: &impl Fn(u64) -> bool, peers: &impl Peers) -> bool {
        let live = memo(live);
        self.pool.has_garbage(&|w| self.owner(w, &live, peers) != Owner::Dead)
    }
}

/// `live`, asked once per distinct owner (each answer is a system call).
fn memo(live: &impl Fn(u64) -> bool) -> impl Fn(u64) -> bool + '_ {
    let seen = std::cell::RefCell::new(Vec::<(u64, bool)>::new());
    move |w| {
        if let Some(&(_, alive)) = seen.borrow().iter().find(|(t, _)| *t == w) {
            return alive;
        }
        let alive = live(w);
        seen.borrow_mut().push((w, alive));
        alive
    }
}
