//! The message queue's pool of chunks: an owner word and a link per chunk, allocation and
//! freeing under one crash-aware lock, and a sweep that gives back what the dead held.
//!
//! # Ownership, and what a death leaves
//!
//! Every chunk's owner word says who has it: [`FREE`]; the token of the participant
//! holding it (a producer filling it); or [`queued`]`(pos)`, part of the message at ring
//! position `pos` (see [`crate::state`]). Allocating and freeing are done under the lock; a
//! producer turns its chunks into `queued(pos)` without it, after claiming `pos` and
//! before publishing it (only the holder changes a held chunk's word).
//!
//! Whether a word is still wanted is decided by whoever sweeps ([`Pool::sweep`], under the
//! lock), from the owner's liveness and the ring: a dead participant's chunks, and a
//! message's chunks once its position is consumed and no live consumer holds it, are
//! free. A process killed in the lock leaves the free count wrong at worst; the sweep
//! recounts it.
//!
//! Payload bytes are written and read outside the lock by the chunks' owner only.
//!
//! Everything read from shared memory is untrusted: indices are bounds-checked, a chain is
//! never followed further than the pool has chunks, nor out of the order chains follow.

use std::ptr::NonNull;

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::EventCount;
use shmkit_sync::raw::RawLock;

/// The owner word of a free chunk.
pub const FREE: u64 = 0;

/// The tag of an owner word [`queued`] at a ring position: not a participant's token
/// (those have the top bit), nor free.
pub const QUEUED_BIT: u64 = 1 << 62;

/// The ring position bits of a queued owner word.
pub const POS_MASK: u64 = QUEUED_BIT - 1;

/// The owner word of a chunk in the message at ring position `pos`.
#[inline]
pub fn queued(pos: u64) -> u64 {
    QUEUED_BIT | (pos & POS_MASK)
}

/// The link after a chain's last chunk.
pub const END: u32 = u32::MAX;

/// The pool's control block: the lock, the wake-up for freed chunks, the free count, and
/// the geometry the creator chose (read once by an opener, and checked).
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct Control {
    /// Held to allocate and free chunks (not for payload copies).
    pub lock: RawLock,
    /// Woken when chunks are freed, or the queue closed.
    pub freed: EventCount,
    /// How many chunks are free (kept under the lock; a sweep recounts).
    pub free: AtomicU32,
    /// Where the next allocation starts looking.
    pub cursor: AtomicU32,
    /// Geometry: the most messages queued at once.
    pub maxsize: AtomicU32,
    /// Geometry: the bytes a chunk holds.
    pub chunk_size: AtomicU32,
    /// Geometry: how many chunks the pool has.
    pub chunks: AtomicU32,
    /// Sweeps that freed something, or followed a death in the lock (for display).
    pub repairs: AtomicU32,
    /// Messages dropped because their descriptor or chain made no sense: they will never
    /// be marked done, so they are not unfinished.
    pub dropped: AtomicU64,
}

/// The shape of a pool: from the creator's options, or checked from a peer's control block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The most messages queued at once (Python's `maxsize`).
    pub maxsize: u32,
    /// The bytes each chunk holds.
    pub chunk_size: u32,
    /// How many chunks the pool has.
    pub chunks: u32,
}

impl Geometry {
    /// The chunks a message of `len` bytes takes (at least one); `None` if more than the
    /// pool has.
    pub fn chunks_for(&self, len: usize) -> Option<u32> {
        let k = len.div_ceil(self.chunk_size as usize).max(1);
        u32::try_from(k).ok().filter(|&k| k <= self.chunks)
    }

    /// The ring's slots: `maxsize` rounded up to a power of two (at least 2), so that a
    /// position's slot stays the same across the counters' 64-bit wrap.
    pub fn ring_slots(&self) -> u32 {
        self.maxsize.next_power_of_two().max(2)
    }

    /// The largest message the pool can ever hold.
    pub fn max_message(&self) -> usize {
        self.chunk_size as usize * self.chunks as usize
    }
}

/// The longest message a descriptor can describe: 2 GiB - 1.
pub const MAX_LEN: u32 = (1 << 31) - 1;

/// The pool of one queue: its control block, owner words, links and chunks, with the
/// geometry this process uses (never re-read from shared memory).
pub struct Pool<'a> {
    /// The control block.
    pub ctl: &'a Control,
    owner: &'a [AtomicU64],
    next: &'a [AtomicU32],
    data: NonNull<u8>,
    /// The geometry this process uses.
    pub geo: Geometry,
}

impl Clone for Pool<'_> {
    fn clone(&self) -> Self {
        *self
    }
}
impl Copy for Pool<'_> {}

impl<'a> Pool<'a> {
    /// The pool over these parts.
    ///
    /// # Safety
    ///
    /// `owner` and `next` hold `geo.chunks` words each, and `data` points at
    /// `geo.chunks * geo.chunk_size` bytes that stay mapped (or allocated) for `'a`; peers
    /// may write any of it at any time (the bytes are copied with raw copies; only the
    /// in-place forms, loans and `get_with`, reference chunks this process holds).
    pub unsafe fn new(
        ctl: &'a Control,
        owner: &'a [AtomicU64],
        next: &'a [AtomicU32],
        data: NonNull<u8>,
        geo: Geometry,
    ) -> Self {
        debug_assert!(owner.len() == geo.chunks as usize && next.len() == geo.chunks as usize);
        Self { ctl, owner, next, data, geo }
    }

    /// Free chunks (racy outside the lock).
    pub fn free_chunks(&self) -> u32 {
        self.ctl.free.load(Ordering::Acquire).min(self.geo.chunks)
    }

    /// Locked: takes `k` free chunks for `me`, linked into a chain; its first chunk, or
    /// `None` (nothing taken) if fewer than `k` are free.
    pub fn alloc(&self, k: u32, me: u64) -> Option<u32> {
        let n = self.geo.chunks;
        if k == 0 || k > n || self.ctl.free.load(Ordering::Relaxed) < k {
            return None;
        }
        let start = self.ctl.cursor.load(Ordering::Relaxed) % n;
        let (mut first, mut last, mut got) = (END, END, 0);
        for i in 0..n {
            let c = (start + i) % n;
            if self.owner[c as usize].load(Ordering::Relaxed) != FREE {
                continue;
            }
            self.owner[c as usize].store(me, Ordering::Relaxed);
            self.next[c as usize].store(END, Ordering::Relaxed);
            if first == END {
                first = c;
            } else {
                self.next[last as usize].store(c, Ordering::Relaxed);
            }
            last = c;
            got += 1;
            if got == k {
                self.ctl.cursor.store((c + 1) % n, Ordering::Relaxed);
                self.ctl.free.fetch_sub(k, Ordering::Relaxed);
                return Some(first);
            }
        }
        // The free count was wrong (a peer wrote it): give back what we took, recount.
        self.release(first, got, me);
        self.recount();
        None
    }

    /// Locked: frees the chunks of the chain of `k` from `first` whose owner word is
    /// `word` (the caller's token, or the `queued` word of the message it consumed).
    pub fn release(&self, first: u32, k: u32, word: u64) {
        let mut c = first;
        let mut order = Order::new(first);
        let mut freed = 0;
        for _ in 0..k {
            let (Some(o), Some(next)) = (self.owner.get(c as usize), self.next.get(c as usize)) else {
                break;
            };
            if !order.step(c) {
                break;
            }
            let next = next.load(Ordering::Relaxed);
            if o.compare_exchange(word, FREE, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                freed += 1;
            }
            c = next;
        }
        let free = self.ctl.free.load(Ordering::Relaxed).saturating_add(freed).min(self.geo.chunks);
        self.ctl.free.store(free, Ordering::Relaxed);
    }

    /// Turns the chain of `k` chunks from `first` that `me` holds into `word` (no lock:
    /// only the holder changes a held chunk's word). Release stores: whoever reads `word`
    /// sees the links and bytes written before.
    pub fn hand_over(&self, first: u32, k: u32, me: u64, word: u64) {
        let mut c = first;
        let mut order = Order::new(first);
        for _ in 0..k {
            let (Some(o), Some(next)) = (self.owner.get(c as usize), self.next.get(c as usize)) else {
                break;
            };
            if !order.step(c) {
                break;
            }
            let next = next.load(Ordering::Relaxed);
            // Only chunks still ours (a hostile peer may have had them given away).
            let _ = o.compare_exchange(me, word, Ordering::Release, Ordering::Relaxed);
            c = next;
        }
    }

    /// Whether the chain from `first` is `k` chunks in bounds, in order, every one owned
    /// by `word` (checked by its holder before it reads it in place).
    pub fn owns_chain(&self, first: u32, k: u32, word: u64) -> bool {
        let mut c = first;
        let mut order = Order::new(first);
        (0..k).all(|_| match (self.owner.get(c as usize), self.next.get(c as usize)) {
            (Some(o), Some(next)) if order.step(c) && o.load(Ordering::Acquire) == word => {
                c = next.load(Ordering::Relaxed);
                true
            }
            _ => false,
        })
    }

    /// Locked: frees every chunk whose owner word `keep` rejects, and recounts the free
    /// chunks (a process killed in the lock may have left the count wrong). How many
    /// chunks it freed.
    pub fn sweep(&self, keep: &impl Fn(u64) -> bool) -> u32 {
        let (mut free, mut freed) = (0, 0);
        for o in self.owner {
            let w = o.load(Ordering::Relaxed);
            if w == FREE {
                free += 1;
            } else if !keep(w) {
                o.store(FREE, Ordering::Relaxed);
                free += 1;
                freed += 1;
            }
        }
        self.ctl.free.store(free, Ordering::Relaxed);
        self.ctl.repairs.fetch_add(1, Ordering::Relaxed);
        freed
    }

    /// Locked: sets the free count from the owner words.
    fn recount(&self) {
        let free = self.owner.iter().filter(|o| o.load(Ordering::Relaxed) == FREE).count() as u32;
        self.ctl.free.store(free, Ordering::Relaxed);
    }

    /// Whether some chunk's owner word is one `keep` rejects (no lock needed: a hint for
    /// when to [`sweep`](Self::sweep)).
    pub fn has_garbage(&self, keep: &impl Fn(u64) -> bool) -> bool {
        self.owner.iter().any(|o| {
            let w = o.load(Ordering::Relaxed);
            w != FREE && !keep(w)
        })
    }

    /// The owner words (racy: for display).
    pub fn owner_words(&self) -> impl Iterator<Item = u64> + '_ {
        self.owner.iter().map(|o| o.load(Ordering::Relaxed))
    }

    /// Writes `msg` into the chain from `first` (owned by the caller, long enough).
    pub fn write(&self, first: u32, msg: &[u8]) {
        let mut done = 0;
        for (at, n) in self.pieces(first, msg.len()) {
            // SAFETY: `pieces` gives in-bounds chunk addresses and lengths within a chunk;
            // the caller owns these chunks, so no correct peer writes them now (a hostile one
            // may: plain bytes, copied raw, cannot make this unsound).
            unsafe { std::ptr::copy_nonoverlapping(msg[done..done + n].as_ptr(), at.as_ptr(), n) };
            done += n;
        }
    }

    /// Reads the chain from `first` (owned by the caller) into `out`; a chain cut short
    /// (a peer rewrote a link) leaves the rest of `out` as it was.
    pub fn read(&self, first: u32, out: &mut [u8]) {
        let len = out.len();
        let mut done = 0;
        for (at, n) in self.pieces(first, len) {
            // SAFETY: as in `write`; `out[done..done + n]` is ours.
            unsafe {
                std::ptr::copy_nonoverlapping(at.as_ptr().cast_const(), out[done..done + n].as_mut_ptr(), n)
            };
            done += n;
        }
    }

    /// The pieces of a message of `len` bytes in the chain from `first`, in order: each a
    /// chunk's address and how many of its bytes belong to the message.
    pub fn pieces(&self, first: u32, len: usize) -> Pieces<'a> {
        Pieces { pool: *self, chunk: first, left: len, order: Order::new(first) }
    }
}

/// The order every chain follows (as [`Pool::alloc`] makes them): chunk indices upwards
/// from the first, wrapping past the last chunk at most once and never reaching the first
/// again, so no chunk is met twice. A chain out of this order was written by a peer that
/// does not follow the protocol, and is treated as broken.
#[derive(Clone, Copy)]
struct Order {
    first: u32,
    prev: Option<u32>,
    wrapped: bool,
}

impl Order {
    fn new(first: u32) -> Self {
        Self { first, prev: None, wrapped: false }
    }

    /// Whether `c` may come next; records it if so.
    fn step(&mut self, c: u32) -> bool {
        if let Some(prev) = self.prev {
            let up = c > prev && (!self.wrapped || c < self.first);
            let wrap = !self.wrapped && c < prev && c < self.first;
            if !(up || wrap) {
                return false;
            }
            self.wrapped |= wrap;
        }
        self.prev = Some(c);
        true
    }
}

/// The pieces of a message in its chain (see [`Pool::pieces`]): follows links, stops at
/// one out of bounds, and never yields more than the message's length.
/// A chain out of the order chains follow (a peer rewrote a link) ends there, so no
/// chunk is yielded twice.
pub struct Pieces<'a> {
    pool: Pool<'a>,
    chunk: u32,
    left: usize,
    order: Order,
}

impl Iterator for Pieces<'_> {
    type Item = (NonNull<u8>, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let pool = &self.pool;
        if self.left == 0 || self.chunk >= pool.geo.chunks {
            return None;
        }
        if !self.order.step(self.chunk) {
            self.left = 0;
            return None;
        }
        let size = pool.geo.chunk_size as usize;
        let n = size.min(self.left);
        // SAFETY: `chunk < chunks`, so the chunk lies inside the data region (see `new`).
        let at = unsafe { pool.data.add(self.chunk as usize * size) };
        self.left -= n;
        self.chunk = pool.next[self.chunk as usize].load(Ordering::Relaxed);
        Some((at, n))
    }
}
