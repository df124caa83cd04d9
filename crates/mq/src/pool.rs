//! The message queue's state and its algorithm: a ring of message descriptors, a pool of
//! fixed-size chunks, an owner word per chunk, all changed under one crash-aware lock.
//!
//! # Ownership, and what a death leaves
//!
//! Every chunk's owner word says who has it: [`FREE`], [`QUEUED`] (part of a message in
//! the ring), or the token of the participant holding it (a producer filling it, a
//! consumer reading it). Each change of ownership is one store made under the lock, and
//! the two commit points are single stores too: a producer's `tail += 1` publishes a
//! message whose chunks it marked queued; a consumer's `head += 1` takes one whose chunks
//! it marked as its own. Whatever the moment a process dies, then:
//!
//! - outside the lock, it leaves chunks owned by its token: [`Pool::repair`] frees them
//!   once it is seen dead (a producer's unpublished message, or the message a consumer
//!   was reading, is lost; nothing is delivered twice);
//! - inside the lock, the next locker is told (`OwnerDied`) and runs [`Pool::repair`]: a
//!   mark from the descriptors between head and tail and a sweep of every owner word make
//!   the state what the completed stores say it is, whichever came last.
//!
//! Payload bytes are written and read outside the lock by the chunks' owner only.
//!
//! Everything read from shared memory is untrusted: indices are bounds-checked, a chain is
//! never followed further than the pool has chunks, and a descriptor that does not make
//! sense is dropped (and the pool repaired) rather than followed.

use std::ptr::NonNull;

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::EventCount;
use shmkit_sync::raw::RawLock;

/// The owner word of a free chunk.
pub const FREE: u64 = 0;

/// The owner word of a chunk that belongs to a message in the ring.
pub const QUEUED: u64 = u64::MAX;

/// The link after a chain's last chunk.
pub const END: u32 = u32::MAX;

/// The control block: the lock, the wake-ups, the ring's counters, and the geometry the
/// creator chose (read once by an opener, and checked).
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct Control {
    /// Held for every change of the state below (not for payload copies).
    pub lock: RawLock,
    /// Woken when a message is published, or the queue closed.
    pub not_empty: EventCount,
    /// Woken when a message is taken or chunks freed, or the queue closed.
    pub not_full: EventCount,
    /// The ring position of the next message to get.
    pub head: AtomicU64,
    /// The ring position the next message is published at.
    pub tail: AtomicU64,
    /// How many chunks are free (kept under the lock; `repair` recounts).
    pub free: AtomicU32,
    /// Where the next allocation starts looking.
    pub cursor: AtomicU32,
    /// Non-zero once closed.
    pub closed: AtomicU32,
    /// Geometry: the most messages queued at once.
    pub maxsize: AtomicU32,
    /// Geometry: the bytes a chunk holds.
    pub chunk_size: AtomicU32,
    /// Geometry: how many chunks the pool has.
    pub chunks: AtomicU32,
    /// Repairs made (for display).
    pub repairs: AtomicU32,
    /// Padding, an atomic like the rest.
    pub _pad: AtomicU32,
    /// Messages marked done (`task_done`).
    pub done: AtomicU64,
    /// Messages dropped by a claim because their descriptor made no sense: they will never
    /// be marked done, so they are not unfinished.
    pub dropped: AtomicU64,
    /// Woken when the last unfinished message is marked done (`join`).
    pub all_done: EventCount,
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

    /// The ring's slots: `maxsize` rounded up to a power of two, so that a position's slot
    /// (`pos & (slots - 1)`) stays the same across the counters' 64-bit wrap (with `%` of
    /// another number, two positions either side of it would share a slot).
    pub fn ring_slots(&self) -> u32 {
        self.maxsize.next_power_of_two()
    }

    /// The slot of ring position `pos`.
    fn slot(&self, pos: u64) -> usize {
        (pos & u64::from(self.ring_slots() - 1)) as usize
    }

    /// The largest message the pool can ever hold.
    pub fn max_message(&self) -> usize {
        self.chunk_size as usize * self.chunks as usize
    }
}

/// The longest message a descriptor can describe: 2 GiB - 1.
pub const MAX_LEN: u32 = (1 << 31) - 1;

/// A message in the ring: its first chunk, its length in bytes (up to [`MAX_LEN`]) and
/// whether it is a typed value, packed in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    /// The chain's first chunk.
    pub first: u32,
    /// The message's length in bytes.
    pub len: u32,
    /// Whether it is a typed value (`put`) rather than bytes (`put_bytes`).
    pub typed: bool,
}

impl Desc {
    fn pack(self) -> u64 {
        u64::from(self.first) | (u64::from(self.len & MAX_LEN) << 32) | (u64::from(self.typed) << 63)
    }

    fn unpack(w: u64) -> Self {
        Self { first: w as u32, len: (w >> 32) as u32 & MAX_LEN, typed: w >> 63 != 0 }
    }
}

/// A message taken from the ring, whose chunks the taker now owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Its descriptor.
    pub desc: Desc,
    /// How many chunks its chain has.
    pub chunks: u32,
}

/// What a claim found at the head of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nothing queued.
    Empty,
    /// A message, now the taker's.
    Taken(Taken),
    /// A descriptor that made no sense (a hostile peer): it was dropped and the pool
    /// repaired; look again.
    Dropped,
}

/// The state of one pool: the control block, the ring, the owner words, the links and the
/// chunks, with the geometry this process uses (never re-read from shared memory).
pub struct Pool<'a> {
    /// The control block.
    pub ctl: &'a Control,
    ring: &'a [AtomicU64],
    owner: &'a [AtomicU64],
    next: &'a [AtomicU32],
    data: NonNull<u8>,
    /// The geometry this process uses.
    pub geo: Geometry,
}

impl<'a> Pool<'a> {
    /// The pool over these parts.
    ///
    /// # Safety
    ///
    /// `ring` holds `geo.ring_slots()` words, `owner` and `next` `geo.chunks` each, and `data`
    /// points at `geo.chunks * geo.chunk_size` bytes that stay mapped (or allocated) for
    /// `'a`; peers may write any of it at any time (the bytes are copied with raw copies;
    /// only the in-place forms, loans and `get_with`, reference chunks this process owns).
    pub unsafe fn new(
        ctl: &'a Control,
        ring: &'a [AtomicU64],
        owner: &'a [AtomicU64],
        next: &'a [AtomicU32],
        data: NonNull<u8>,
        geo: Geometry,
    ) -> Self {
        debug_assert_eq!(ring.len(), geo.ring_slots() as usize);
        debug_assert!(owner.len() == geo.chunks as usize && next.len() == geo.chunks as usize);
        Self { ctl, ring, owner, next, data, geo }
    }

    /// How many messages are queued (racy outside the lock).
    pub fn len(&self) -> u64 {
        let head = self.ctl.head.load(Ordering::Acquire);
        self.ctl.tail.load(Ordering::Acquire).wrapping_sub(head).min(u64::from(self.geo.maxsize))
    }

    /// Whether no message is queued (racy outside the lock).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `maxsize` messages are queued (racy outside the lock).
    pub fn is_full(&self) -> bool {
        self.len() >= u64::from(self.geo.maxsize)
    }

    /// Messages put and not yet marked done (racy): published, less dropped, less done.
    pub fn unfinished(&self) -> u64 {
        let put = self.ctl.tail.load(Ordering::Acquire);
        put.saturating_sub(self.ctl.dropped.load(Ordering::Acquire))
            .saturating_sub(self.ctl.done.load(Ordering::Acquire))
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.ctl.closed.load(Ordering::Acquire) != 0
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

    /// Locked: frees the chain of `k` chunks from `first`, those of them that are `me`'s.
    pub fn release(&self, first: u32, k: u32, me: u64) {
        let mut c = first;
        let mut freed = 0;
        for _ in 0..k {
            let Some(o) = self.owner.get(c as usize) else { break };
            let next = self.next[c as usize].load(Ordering::Relaxed);
            if o.compare_exchange(me, FREE, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                freed += 1;
            }
            c = next;
        }
        let free = self.ctl.free.load(Ordering::Relaxed).saturating_add(freed).min(self.geo.chunks);
        self.ctl.free.store(free, Ordering::Relaxed);
    }

    /// Locked: whether a message can be published now (fewer than `maxsize` queued).
    pub fn has_room(&self) -> bool {
        let head = self.ctl.head.load(Ordering::Relaxed);
        self.ctl.tail.load(Ordering::Relaxed).wrapping_sub(head) < u64::from(self.geo.maxsize)
    }

    /// Locked, with [`has_room`](Self::has_room): publishes the chain of `k` chunks from
    /// `first` (owned by the caller) as message `desc` (whose `first` is the chain's).
    pub fn publish(&self, desc: Desc, k: u32, me: u64) {
        let mut c = desc.first;
        for _ in 0..k {
            let Some(o) = self.owner.get(c as usize) else { break };
            // Only chunks still ours (a hostile peer may have had them given away).
            let _ = o.compare_exchange(me, QUEUED, Ordering::Relaxed, Ordering::Relaxed);
            c = self.next[c as usize].load(Ordering::Relaxed);
        }
        let tail = self.ctl.tail.load(Ordering::Relaxed);
        let at = self.geo.slot(tail);
        self.ring[at].store(desc.pack(), Ordering::Relaxed);
        // The commit point.
        self.ctl.tail.store(tail.wrapping_add(1), Ordering::Release);
    }

    /// Locked: the length of the message at the head, if any (unchecked: a claim checks).
    pub fn peek_len(&self) -> Option<usize> {
        let head = self.ctl.head.load(Ordering::Relaxed);
        if head == self.ctl.tail.load(Ordering::Relaxed) {
            return None;
        }
        let w = self.ring[self.geo.slot(head)].load(Ordering::Relaxed);
        Some(Desc::unpack(w).len as usize)
    }

    /// Locked: takes the message at the head for `me` (its chunks become `me`'s).
    pub fn claim(&self, me: u64, live: &impl Fn(u64) -> bool) -> Claim {
        let head = self.ctl.head.load(Ordering::Relaxed);
        let tail = self.ctl.tail.load(Ordering::Relaxed);
        if head == tail {
            return Claim::Empty;
        }
        if tail.wrapping_sub(head) > u64::from(self.geo.maxsize) {
            // Counters no process writes: start again from an empty ring.
            self.repair(live);
            return Claim::Dropped;
        }
        let desc = Desc::unpack(self.ring[self.geo.slot(head)].load(Ordering::Relaxed));
        match self.take_chain(desc, me) {
            Some(k) => {
                // The commit point.
                self.ctl.head.store(head.wrapping_add(1), Ordering::Release);
                Claim::Taken(Taken { desc, chunks: k })
            }
            None => {
                self.ctl.head.store(head.wrapping_add(1), Ordering::Relaxed);
                self.ctl.dropped.fetch_add(1, Ordering::Relaxed);
                self.repair(live);
                Claim::Dropped
            }
        }
    }

    /// Makes the chain of `desc` `me`'s, checking as it goes that every link is in bounds
    /// and every chunk queued (a chunk met twice is not: a cycle stops at once); its chunk
    /// count. On a broken chain, the chunks already taken are freed (they belonged to the
    /// broken message) and `None` is returned.
    fn take_chain(&self, desc: Desc, me: u64) -> Option<u32> {
        let k = self.geo.chunks_for(desc.len as usize);
        let mut c = desc.first;
        let mut taken = 0;
        let mut order = Order::new(desc.first);
        let ok = k.is_some_and(|k| {
            (0..k).all(|_| match self.owner.get(c as usize) {
                Some(o) if o.load(Ordering::Relaxed) == QUEUED && order.step(c) => {
                    o.store(me, Ordering::Relaxed);
                    taken += 1;
                    c = self.next[c as usize].load(Ordering::Relaxed);
                    true
                }
                _ => false,
            })
        });
        if ok {
            return k;
        }
        // Links re-read here may have changed (a hostile peer): bounds-checked, and what
        // is left wrong is set right by the repair that follows.
        let mut c = desc.first;
        for _ in 0..taken {
            let (Some(o), Some(next)) = (self.owner.get(c as usize), self.next.get(c as usize)) else {
                break;
            };
            let _ = o.compare_exchange(me, FREE, Ordering::Relaxed, Ordering::Relaxed);
            c = next.load(Ordering::Relaxed);
        }
        None
    }

    /// Locked: makes the state what its committed stores say it is, after a process died
    /// in or out of the lock, or a peer wrote nonsense. Chunks of a message between head
    /// and tail are queued; chunks owned by a live participant stay theirs; every other
    /// chunk is free. A descriptor whose chain is broken is dropped (its chunks freed).
    /// Returns how many chunks it freed that were not free.
    pub fn repair(&self, live: &impl Fn(u64) -> bool) -> u32 {
        let n = self.geo.chunks as usize;
        let maxsize = u64::from(self.geo.maxsize);
        let live = memo(live);
        // 0: not in a queued message; else the (1-based) descriptor that holds it.
        let mut queued = vec![0u32; n];
        let head = self.ctl.head.load(Ordering::Relaxed);
        let mut tail = self.ctl.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(head) > maxsize {
            // Counters no process writes: what they claimed was queued is dropped.
            self.ctl.dropped.fetch_add(tail.wrapping_sub(head).min(maxsize), Ordering::Relaxed);
            tail = head;
            self.ctl.tail.store(tail, Ordering::Relaxed);
        }
        let mut pos = head;
        let mut stamp = 0u32;
        while pos != tail {
            stamp += 1;
            let desc = Desc::unpack(self.ring[self.geo.slot(pos)].load(Ordering::Relaxed));
            // A broken chain, one sharing a chunk with an earlier message, or one through a
            // chunk that is free or a live process's: a descriptor that follows no chain
            // stands in for it, and the claim that meets it drops it.
            if !self.mark(desc, stamp, &mut queued, &live) {
                let empty = Desc { first: END, len: 0, typed: false };
                self.ring[self.geo.slot(pos)].store(empty.pack(), Ordering::Relaxed);
            }
            pos = pos.wrapping_add(1);
        }
        let (mut free, mut freed) = (0, 0);
        for (c, o) in self.owner.iter().enumerate() {
            let w = o.load(Ordering::Relaxed);
            if queued[c] != 0 {
                o.store(QUEUED, Ordering::Relaxed);
            } else if w == FREE {
                free += 1;
            } else if w == QUEUED || !live(w) {
                o.store(FREE, Ordering::Relaxed);
                free += 1;
                freed += 1;
            }
        }
        self.ctl.free.store(free, Ordering::Relaxed);
        self.ctl.repairs.fetch_add(1, Ordering::Relaxed);
        freed
    }

    /// Marks the chunks of `desc`'s chain with `stamp` in `queued`; `false` (and nothing
    /// left marked) if a link is out of bounds, the chain meets a chunk already marked (by
    /// this or an earlier message), or a chunk that is neither queued nor a dead
    /// process's (a queued message's chunks are queued, or taken by a claim whose process
    /// died in it).
    fn mark(&self, desc: Desc, stamp: u32, queued: &mut [u32], live: &impl Fn(u64) -> bool) -> bool {
        let Some(k) = self.geo.chunks_for(desc.len as usize) else { return false };
        let mut c = desc.first;
        let mut order = Order::new(desc.first);
        for _ in 0..k {
            let Some(o) = self.owner.get(c as usize) else { return self.unmark(stamp, queued) };
            let w = o.load(Ordering::Relaxed);
            let ours = w == QUEUED || (w != FREE && !live(w));
            if queued[c as usize] != 0 || !ours || !order.step(c) {
                return self.unmark(stamp, queued);
            }
            queued[c as usize] = stamp;
            c = self.next[c as usize].load(Ordering::Relaxed);
        }
        true
    }

    /// Clears the marks `stamp` left (a chain that failed half-way); `false`. Runs only
    /// for a broken descriptor, so its O(chunks) is paid once per one.
    fn unmark(&self, stamp: u32, queued: &mut [u32]) -> bool {
        for q in queued.iter_mut().filter(|q| **q == stamp) {
            *q = 0;
        }
        false
    }

    /// Locked: sets the free count from the owner words.
    fn recount(&self) {
        let free = self.owner.iter().filter(|o| o.load(Ordering::Relaxed) == FREE).count() as u32;
        self.ctl.free.store(free, Ordering::Relaxed);
    }

    /// Whether a chunk is held by a participant that `live` says is dead (no lock needed:
    /// a hint for when to [`repair`](Self::repair)).
    pub fn has_dead_holders(&self, live: &impl Fn(u64) -> bool) -> bool {
        let live = memo(live);
        self.owner.iter().any(|o| {
            let w = o.load(Ordering::Relaxed);
            w != FREE && w != QUEUED && !live(w)
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
    pub fn pieces(&self, first: u32, len: usize) -> Pieces<&Pool<'a>> {
        Pieces { pool: self, chunk: first, left: len, order: Order::new(first) }
    }

    /// [`pieces`](Self::pieces), owning the view.
    pub fn into_pieces(self, first: u32, len: usize) -> Pieces<Pool<'a>> {
        Pieces { pool: self, chunk: first, left: len, order: Order::new(first) }
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

/// The pieces of a message in its chain (see [`Pool::pieces`]): follows links, stops at
/// one out of bounds, and never yields more than the message's length.
/// A chain out of the order chains follow (a peer rewrote a link) ends there, so no
/// chunk is yielded twice.
pub struct Pieces<P> {
    pool: P,
    chunk: u32,
    left: usize,
    order: Order,
}

impl<'a, P: std::borrow::Borrow<Pool<'a>>> Iterator for Pieces<P> {
    type Item = (NonNull<u8>, usize);

    fn next(&mut self) -> Option<Self::Item> {
        let pool = self.pool.borrow();
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
