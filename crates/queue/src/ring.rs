//! The MPMC ring: Vyukov's bounded queue with per-slot sequence numbers, plus one intent
//! word per participant so that a slot claimed by a process that then died can be found
//! and skipped (or given back).
//!
//! # The algorithm
//!
//! Slot `i` starts with sequence `i`. For position `pos` (a 64-bit counter that never
//! wraps in practice) and capacity `cap`, the slot `pos % cap` holds sequence
//!
//! - `pos`: free for the producer of `pos`;
//! - `pos + 1`: full, for the consumer of `pos`;
//! - `pos + cap`: released by that consumer, free for the producer of `pos + cap`.
//!
//! A producer claims `pos` by moving `tail` from `pos` to `pos + 1` with a CAS, writes the
//! value, and publishes it by storing `pos + 1`; a consumer claims `pos` by moving `head`
//! and releases the slot by storing `pos + cap`.
//!
//! # Crashed claimants
//!
//! Before its claiming CAS, a participant stores its *intent*, `pos` and its side, in its
//! own word (`intents[slot]`, where `slot` is its participant slot), and clears it after
//! publishing or releasing. The claiming CAS is a release and the waiter's load of
//! `tail` (or `head`) an acquire, so whoever sees the claim also sees the intent.
//!
//! A consumer that finds `pos` claimed (`tail > pos`) but unpublished scans the intents:
//! if a *live* participant has intent `pos`, it waits; if none has, the claimant died
//! between its CAS and its publish (a live claimant's intent stays until after its
//! publish, and is stored after the publish, so a scan that misses it re-reads the slot
//! published). The consumer then claims `head` at `pos` and releases the slot without
//! reading it: a hole, counted in `holes`. Producers mirror this for a consumer that died
//! between claiming and releasing: they give the slot back.
//!
//! A participant slot taken over by a new process keeps the dead one's intent until the
//! newcomer clears it, which it does before its first operation: until then waiters see
//! a live intent and wait, never a false death.
//!
//! # Trust
//!
//! Everything here lives in memory that other processes write. Every index is masked, the
//! intent table and the slots are slices, and a state no correct peer produces makes an
//! operation report "full", "empty" or "busy", never panic or loop without bound.

use std::fmt;

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::loom::cell::UnsafeCell;
use shmkit_core::EventCount;

/// 128 bytes, so that two fields in different lines never share a cache line, nor its
/// prefetched neighbour.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct Line<T>(pub T);

/// Flags in the `state` word of the control blocks.
pub mod state {
    /// `close` was called: puts fail, gets drain then report `Disconnected`.
    pub const CLOSED: u32 = 1;
    /// Some participant has put.
    pub const PRODUCER_SEEN: u32 = 2;
    /// Some participant has got.
    pub const CONSUMER_SEEN: u32 = 4;
}

/// The rarely written fields.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Misc {
    /// [`state`] flags.
    pub state: AtomicU32,
    /// The most items the queue holds when that is less than the capacity (Python's
    /// `maxsize` for a queue made for, say, 10 on a ring of 16), or 0: set by the creator,
    /// read once by each handle. (Before it had this meaning it was padding, always 0.)
    pub limit: AtomicU32,
    /// Waited on by consumers, notified after a put.
    pub not_empty: EventCount,
    /// Waited on by producers, notified after a get.
    pub not_full: EventCount,
    /// Waited on by `join` (JoinableQueue), notified when the last unfinished item is
    /// marked done.
    pub all_done: EventCount,
    /// Items marked done (JoinableQueue). What is unfinished is derived: positions claimed
    /// by producers (`tail`), less the holes their deaths left, less this; so a producer
    /// killed half-way leaves nothing to count down.
    pub done: AtomicU64,
    /// Slots skipped because their producer died before publishing.
    pub holes: AtomicU64,
    /// Slots given back because their consumer died before releasing.
    pub reclaimed: AtomicU64,
}

/// The control block at the start of the body: three cache lines.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Control {
    /// The next position to produce.
    pub tail: Line<AtomicU64>,
    /// The next position to consume.
    pub head: Line<AtomicU64>,
    /// Flags, event counts and counters.
    pub misc: Line<Misc>,
}

/// One participant's intent word, on its own cache line: 0, or `pos << 2 | side`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Intent(pub Line<AtomicU64>);

const PRODUCING: u64 = 1;
const CONSUMING: u64 = 2;

#[inline]
fn intent(pos: u64, side: u64) -> u64 {
    (pos << 2) | side
}

/// One slot of an element smaller than a cache line: its sequence, then the value.
#[repr(C)]
pub struct Slot<T> {
    /// See the module documentation.
    pub seq: AtomicU64,
    /// The value; any bits are a valid `T` (`T: Pod`).
    pub value: UnsafeCell<T>,
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").field("seq", &self.seq).finish_non_exhaustive()
    }
}

/// A 64-byte cache line holding one value.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct Line64<T>(pub T);

/// One slot of an element of a cache line or more ([`is_wide`]): the sequence on a line
/// of its own, the value from the next line on. A value of whole lines then fills them
/// exactly, and no sequence shares a line with a value, its own or another slot's: a
/// consumer reading one slot's last line does not take the line the producer of the
/// next slot is writing.
#[repr(C)]
pub struct WideSlot<T> {
    /// As [`Slot::seq`].
    pub seq: Line64<AtomicU64>,
    /// As [`Slot::value`].
    pub value: UnsafeCell<T>,
}

impl<T> fmt::Debug for WideSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WideSlot").field("seq", &self.seq.0).finish_non_exhaustive()
    }
}

/// Whether a ring of `T` uses [`WideSlot`]s: for elements of 64 bytes or more. The
/// choice follows from `T`'s size alone, which every handle checks when it attaches, so
/// all handles of one queue agree on it.
#[inline]
pub const fn is_wide<T>() -> bool {
    std::mem::size_of::<T>() >= 64
}

/// The bytes one slot of `T` takes.
pub const fn slot_size<T>() -> usize {
    if is_wide::<T>() {
        std::mem::size_of::<WideSlot<T>>()
    } else {
        std::mem::size_of::<Slot<T>>()
    }
}

/// Asks the core to bring the cache line at `at` in, ready to be written, without waiting
/// for it: a hint with no effect on what the program computes.
#[inline]
fn prefetch_for_write<P>(at: *const P) {
    #[cfg(all(target_arch = "x86_64", not(shmkit_loom), not(miri)))]
    // SAFETY: a prefetch reads nothing the program sees and never faults, whatever the
    // address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        _mm_prefetch::<_MM_HINT_ET0>(at.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(shmkit_loom), not(miri))))]
    let _ = at;
}

/// Asks the core to bring the first lines of `value` in for reading, without waiting for
/// them (at most [`PREFETCH_MAX`] bytes): a hint, as [`prefetch_for_write`].
#[inline]
fn prefetch_value<T>(value: &UnsafeCell<T>) {
    #[cfg(all(target_arch = "x86_64", not(shmkit_loom), not(miri)))]
    {
        let at = (value as *const UnsafeCell<T>).cast::<i8>();
        for line in (0..std::mem::size_of::<T>().min(PREFETCH_MAX)).step_by(64) {
            // SAFETY: a prefetch reads nothing the program sees and never faults, whatever
            // the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.wrapping_add(line))
            };
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(shmkit_loom), not(miri))))]
    let _ = value;
}

/// The most bytes of a value [`prefetch_value`] asks for.
const PREFETCH_MAX: usize = 4096;

/// A slot's two parts, wherever its layout puts them.
struct SlotRef<'a, T> {
    seq: &'a AtomicU64,
    value: &'a UnsafeCell<T>,
}

/// Which participant slots are held by live processes.
pub trait Peers {
    /// Whether the process in participant slot `slot` is alive.
    fn alive(&self, slot: u32) -> bool;
}

/// A view of a ring: its control block, intent table and slots.
pub struct Ring<'a, T> {
    /// The control block.
    pub ctl: &'a Control,
    /// One intent word per participant slot.
    pub intents: &'a [Intent],
    /// The slots of an element smaller than a line; a power of two of them, or none
    /// when the ring uses [`wide`](Self::wide) slots ([`is_wide`]).
    pub slots: &'a [Slot<T>],
    /// The slots of an element of a line or more; a power of two of them, or none.
    pub wide: &'a [WideSlot<T>],
    /// The most items held at once, below the capacity; 0 for the capacity.
    limit: u64,
}

impl<T> Clone for Ring<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Ring<'_, T> {}

impl<'a, T: bytemuck::Pod> Ring<'a, T> {
    /// A view of a ring of small elements (`!is_wide::<T>()`); `slots.len()` must be a
    /// power of two (the caller checked it).
    pub fn new(ctl: &'a Control, intents: &'a [Intent], slots: &'a [Slot<T>]) -> Self {
        debug_assert!(slots.len().is_power_of_two() && !is_wide::<T>());
        Self { ctl, intents, slots, wide: &[], limit: 0 }
    }

    /// A view of a ring of wide elements ([`is_wide`]); `slots.len()` must be a power
    /// of two.
    pub fn new_wide(ctl: &'a Control, intents: &'a [Intent], slots: &'a [WideSlot<T>]) -> Self {
        debug_assert!(slots.len().is_power_of_two() && is_wide::<T>());
        Self { ctl, intents, slots: &[], wide: slots, limit: 0 }
    }

    /// A view from its parts, as [`new`](Self::new) or [`new_wide`](Self::new_wide) and
    /// [`with_limit`](Self::with_limit) make it: the slots in `slots` or in `wide`
    /// (whichever [`is_wide`] picks), the other empty, and `limit` 0 or below the
    /// capacity.
    #[inline]
    pub fn from_parts(
        ctl: &'a Control,
        intents: &'a [Intent],
        slots: &'a [Slot<T>],
        wide: &'a [WideSlot<T>],
        limit: u64,
    ) -> Self {
        debug_assert!(if is_wide::<T>() { slots.is_empty() } else { wide.is_empty() });
        debug_assert!(
            (slots.len() | wide.len()).is_power_of_two() && limit < (slots.len() | wide.len()) as u64
        );
        Self { ctl, intents, slots, wide, limit }
    }

    /// The same view, holding at most `limit` items (0, or at least the capacity: all
    /// of them). A producer then compares its position with the consumers' before it
    /// claims: one more load, of `head`'s line, on every put.
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = if limit >= self.cap() { 0 } else { limit };
        self
    }

    /// The most items the ring holds at once.
    pub fn maxsize(&self) -> u64 {
        if self.limit == 0 {
            self.cap()
        } else {
            self.limit
        }
    }

    /// Writes the initial sequences (a fresh ring is all zero otherwise).
    pub fn init(&self) {
        for i in 0..self.cap() {
            self.slot(i).seq.store(i, Ordering::Relaxed);
        }
    }

    #[inline]
    fn cap(&self) -> u64 {
        // One of the two is empty.
        (self.slots.len() | self.wide.len()) as u64
    }

    #[inline]
    fn slot(&self, pos: u64) -> SlotRef<'a, T> {
        // The length is a power of two: the mask keeps any position in bounds. `is_wide`
        // is a constant, so each ring's code has one branch only.
        let i = (pos & (self.cap() - 1)) as usize;
        if is_wide::<T>() {
            let s = &self.wide[i];
            SlotRef { seq: &s.seq.0, value: &s.value }
        } else {
            let s = &self.slots[i];
            SlotRef { seq: &s.seq, value: &s.value }
        }
    }

    #[inline]
    fn intent_of(&self, me: u32) -> Option<&'a AtomicU64> {
        self.intents.get(me as usize).map(|i| &i.0 .0)
    }

    /// Clears participant `me`'s intent: call it when `me` is a new registration, before
    /// its first claim.
    pub fn forget(&self, me: u32) {
        if let Some(w) = self.intent_of(me) {
            w.store(0, Ordering::Release);
        }
    }

    /// Claims the next position to produce, as participant `me`; `None` if the next slot
    /// is not free (full, or its consumer has not released it: see
    /// [`put_blocked`](Self::put_blocked)). On success, write the slot with
    /// [`write`](Self::write) and then [`publish`](Self::publish) it.
    #[inline]
    pub fn claim_put(&self, me: u32) -> Option<u64> {
        let mine = self.intent_of(me)?;
        let mut pos = self.ctl.tail.0.load(Ordering::Relaxed);
        loop {
            let seq = self.slot(pos).seq.load(Ordering::Acquire);
            let dif = seq.wrapping_sub(pos) as i64;
            // Under a limit: claims are serialised by `tail`, and `head` only grows, so
            // checking each position against the head seen before its claim keeps the
            // items held at most `limit`, however many producers race.
            if dif == 0
                && self.limit != 0
                && pos.wrapping_sub(self.ctl.head.0.load(Ordering::Acquire)) >= self.limit
            {
                // An intent stored for a position lost to another producer must not stay:
                // it would make that producer's hole look live.
                mine.store(0, Ordering::Release);
                return None;
            }
            if dif == 0 {
                mine.store(intent(pos, PRODUCING), Ordering::Release);
                match self.ctl.tail.0.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some(pos),
                    Err(now) => pos = now,
                }
            } else if dif < 0 {
                // The slot still holds the item of `pos - cap`. (Whether its consumer is
                // reading it is not asked here: that load would pull `head`'s line into
                // every spin of a waiting producer.)
                mine.store(0, Ordering::Release);
                return None;
            } else {
                let now = self.ctl.tail.0.load(Ordering::Relaxed);
                if now == pos {
                    // A sequence ahead of an unmoving tail: no correct peer does this.
                    mine.store(0, Ordering::Release);
                    return None;
                }
                pos = now;
            }
        }
    }

    /// Calls `f` with the claimed slot of `pos`.
    #[inline]
    pub fn write<R>(&self, pos: u64, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: `pos` was claimed by this caller (`claim_put`), so no correct peer
        // touches the slot until it is published; `T: Pod`, so whatever bits are there
        // are a valid `T`. A hostile peer writing it concurrently can only garble the
        // value (shared memory is outside this process's abstract machine).
        self.slot(pos).value.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Publishes the slot claimed at `pos` by participant `me`.
    #[inline]
    pub fn publish(&self, me: u32, pos: u64) {
        self.slot(pos).seq.store(pos.wrapping_add(1), Ordering::Release);
        if let Some(mine) = self.intent_of(me) {
            mine.store(0, Ordering::Release);
        }
        // The next claim reads the next slot's sequence, which the consumer that released
        // it wrote last: fetch its line now, while this thread goes on (to wait for a
        // reply, say), rather than stall on it in that claim.
        prefetch_for_write(self.slot(pos.wrapping_add(1)).seq);
    }

    /// Claims the next position to consume, as participant `me`; `None` if nothing is
    /// published there (empty, or claimed by a producer that has not published yet: see
    /// [`get_blocked`](Self::get_blocked)). On success, read the slot with
    /// [`read`](Self::read) and then [`release`](Self::release) it.
    #[inline]
    pub fn claim_get(&self, me: u32) -> Option<u64> {
        let mine = self.intent_of(me)?;
        let mut pos = self.ctl.head.0.load(Ordering::Relaxed);
        loop {
            let seq = self.slot(pos).seq.load(Ordering::Acquire);
            let dif = seq.wrapping_sub(pos.wrapping_add(1)) as i64;
            if dif == 0 {
                // The claim below is a locked instruction, which no later load may pass:
                // start fetching a value of whole lines now, so that they travel while the
                // claim is made instead of after it (a small value came with its sequence).
                if is_wide::<T>() {
                    prefetch_value(self.slot(pos).value);
                }
                mine.store(intent(pos, CONSUMING), Ordering::Release);
                match self.ctl.head.0.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // The release writes this sequence: own its line by then, so
                        // that the store does not hold up this thread's next locked
                        // instruction (a claim on another queue, say).
                        prefetch_for_write(self.slot(pos).seq);
                        return Some(pos);
                    }
                    Err(now) => pos = now,
                }
            } else if dif < 0 {
                // Not published. (Not asking whether a producer claimed it keeps `tail`'s
                // line out of a spinning consumer's loop.)
                mine.store(0, Ordering::Release);
                return None;
            } else {
                let now = self.ctl.head.0.load(Ordering::Relaxed);
                if now == pos {
                    mine.store(0, Ordering::Release);
                    return None;
                }
                pos = now;
            }
        }
    }

    /// Calls `f` with the claimed slot of `pos`.
    #[inline]
    pub fn read<R>(&self, pos: u64, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: as in `write`: the slot is claimed by this caller and holds a valid `T`.
        self.slot(pos).value.with(|p| f(unsafe { &*p }))
    }

    /// Releases the slot claimed at `pos` by participant `me`.
    #[inline]
    pub fn release(&self, me: u32, pos: u64) {
        self.slot(pos).seq.store(pos.wrapping_add(self.cap()), Ordering::Release);
        if let Some(mine) = self.intent_of(me) {
            mine.store(0, Ordering::Release);
        }
    }

    /// Whether the next position to consume is claimed by a producer that has not
    /// published it yet (racy: for repair decisions and tests).
    pub fn get_blocked(&self) -> bool {
        let pos = self.ctl.head.0.load(Ordering::Acquire);
        let ahead = self.ctl.tail.0.load(Ordering::Acquire).wrapping_sub(pos);
        self.slot(pos).seq.load(Ordering::Acquire) == pos && ahead > 0 && ahead <= self.cap()
    }

    /// Whether the next position to produce waits for a consumer that has claimed the
    /// slot's previous item and not released it yet (racy).
    pub fn put_blocked(&self) -> bool {
        let pos = self.ctl.tail.0.load(Ordering::Acquire);
        let old = pos.wrapping_sub(self.cap());
        let behind = pos.wrapping_sub(self.ctl.head.0.load(Ordering::Acquire));
        self.slot(pos).seq.load(Ordering::Acquire) == old.wrapping_add(1) && behind < self.cap()
    }

    /// Whether a live participant has intent `want`.
    fn live_intent(&self, want: u64, peers: &impl Peers) -> bool {
        self.intents
            .iter()
            .enumerate()
            .any(|(i, w)| w.0 .0.load(Ordering::Acquire) == want && peers.alive(i as u32))
    }

    /// Whether a live participant has claimed position `pos` to consume it and not
    /// released it yet (racy: for repair decisions).
    pub fn held_by_live_consumer(&self, pos: u64, peers: &impl Peers) -> bool {
        self.live_intent(intent(pos, CONSUMING), peers)
    }

    /// If the next position to consume was claimed by a producer that died before
    /// publishing it, skips it (as participant `me`) and returns `true`.
    pub fn repair_get(&self, me: u32, peers: &impl Peers) -> bool {
        let Some(mine) = self.intent_of(me) else { return false };
        let pos = self.ctl.head.0.load(Ordering::Acquire);
        let slot = self.slot(pos);
        if slot.seq.load(Ordering::Acquire) != pos {
            return false;
        }
        let ahead = self.ctl.tail.0.load(Ordering::Acquire).wrapping_sub(pos);
        if ahead == 0 || ahead > self.cap() {
            return false;
        }
        if self.live_intent(intent(pos, PRODUCING), peers) {
            return false;
        }
        // A live claimant clears its intent only after publishing: look again.
        if slot.seq.load(Ordering::Acquire) != pos {
            return false;
        }
        mine.store(intent(pos, CONSUMING), Ordering::Release);
        let won = self
            .ctl
            .head
            .0
            .compare_exchange(pos, pos.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if won {
            slot.seq.store(pos.wrapping_add(self.cap()), Ordering::Release);
            self.ctl.misc.0.holes.fetch_add(1, Ordering::Relaxed);
        }
        mine.store(0, Ordering::Release);
        won
    }

    /// If the next position to produce waits for a consumer that died before releasing
    /// its slot, gives the slot back and returns `true`.
    pub fn repair_put(&self, peers: &impl Peers) -> bool {
        let cap = self.cap();
        let pos = self.ctl.tail.0.load(Ordering::Acquire);
        let old = pos.wrapping_sub(cap);
        let slot = self.slot(pos);
        if slot.seq.load(Ordering::Acquire) != old.wrapping_add(1) {
            return false;
        }
        let behind = pos.wrapping_sub(self.ctl.head.0.load(Ordering::Acquire));
        if behind >= cap {
            return false;
        }
        if self.live_intent(intent(old, CONSUMING), peers) {
            return false;
        }
        let given =
            slot.seq.compare_exchange(old.wrapping_add(1), pos, Ordering::AcqRel, Ordering::Relaxed).is_ok();
        if given {
            self.ctl.misc.0.reclaimed.fetch_add(1, Ordering::Relaxed);
        }
        given
    }

    /// Whether the ring looks empty (racy).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items in the ring (racy): between 0 and the capacity.
    pub fn len(&self) -> usize {
        let head = self.ctl.head.0.load(Ordering::Acquire);
        let tail = self.ctl.tail.0.load(Ordering::Acquire);
        (tail.wrapping_sub(head) as i64).clamp(0, self.cap() as i64) as usize
    }

    /// Whether the ring holds its most items (racy).
    pub fn is_full(&self) -> bool {
        self.len() as u64 >= self.maxsize()
    }
}
