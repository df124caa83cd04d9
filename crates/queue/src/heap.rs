//! The rings' `#[repr(C)]` states on the heap, for unit tests, loom models and the fuzz
//! targets: the same algorithms as in shared memory, with liveness set by hand.

use shmkit_core::loom::atomic::{AtomicBool, AtomicU64, Ordering};
use shmkit_core::loom::cell::UnsafeCell;

use crate::lamport;
use crate::ring::{self, Intent, Line, Line64, Peers, Ring, Slot, WideSlot};

/// An MPMC ring on the heap.
pub struct HeapRing<T> {
    /// The control block.
    pub ctl: Box<ring::Control>,
    /// The intent words.
    pub intents: Vec<Intent>,
    /// The slots (none when `T` is wide, see [`ring::is_wide`]).
    pub slots: Vec<Slot<T>>,
    /// The wide slots (none when `T` is not).
    pub wide: Vec<WideSlot<T>>,
    /// Which participants are alive.
    pub alive: Vec<AtomicBool>,
}

impl<T: bytemuck::Pod> HeapRing<T> {
    /// A ring of `cap` slots (a power of two, at least 2) for `participants`, all alive.
    pub fn new(cap: usize, participants: usize) -> Self {
        let r = Self {
            ctl: Box::default(),
            intents: (0..participants).map(|_| Intent(Line(AtomicU64::new(0)))).collect(),
            slots: (0..if ring::is_wide::<T>() { 0 } else { cap })
                .map(|_| Slot { seq: AtomicU64::new(0), value: UnsafeCell::new(T::zeroed()) })
                .collect(),
            wide: (0..if ring::is_wide::<T>() { cap } else { 0 })
                .map(|_| WideSlot { seq: Line64(AtomicU64::new(0)), value: UnsafeCell::new(T::zeroed()) })
                .collect(),
            alive: (0..participants).map(|_| AtomicBool::new(true)).collect(),
        };
        r.ring().init();
        r
    }

    /// The ring's view.
    pub fn ring(&self) -> Ring<'_, T> {
        if ring::is_wide::<T>() {
            Ring::new_wide(&self.ctl, &self.intents, &self.wide)
        } else {
            Ring::new(&self.ctl, &self.intents, &self.slots)
        }
    }

    /// Marks participant `who` dead.
    pub fn kill(&self, who: u32) {
        self.alive[who as usize].store(false, Ordering::SeqCst);
    }

    /// One put attempt as participant `me`: claim, write, publish.
    pub fn put(&self, me: u32, v: T) -> bool {
        let r = self.ring();
        match r.claim_put(me) {
            Some(pos) => {
                r.write(pos, |s| *s = v);
                r.publish(me, pos);
                true
            }
            None => false,
        }
    }

    /// One get attempt as participant `me`: claim, read, release.
    pub fn get(&self, me: u32) -> Option<T> {
        let r = self.ring();
        let pos = r.claim_get(me)?;
        let v = r.read(pos, |v| *v);
        r.release(me, pos);
        Some(v)
    }
}

impl<T> Peers for HeapRing<T> {
    fn alive(&self, slot: u32) -> bool {
        self.alive.get(slot as usize).is_some_and(|a| a.load(Ordering::SeqCst))
    }
}

/// An SPSC ring on the heap.
pub struct HeapLamport<T> {
    /// The control block.
    pub ctl: Box<lamport::Control>,
    /// The slots.
    pub slots: Vec<UnsafeCell<T>>,
}

impl<T: bytemuck::Pod> HeapLamport<T> {
    /// A ring of `cap` slots (a power of two).
    pub fn new(cap: usize) -> Self {
        Self { ctl: Box::default(), slots: (0..cap).map(|_| UnsafeCell::new(T::zeroed())).collect() }
    }

    /// The ring's view.
    pub fn ring(&self) -> lamport::Lamport<'_, T> {
        lamport::Lamport::new(&self.ctl, &self.slots)
    }
}
