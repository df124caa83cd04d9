//! The SPSC ring: Lamport's queue with cached remote indices.
//!
//! The producer alone writes `tail`, the consumer alone writes `head`; each keeps its own
//! index in its handle and a cached copy of the other's, re-read only when the cache says
//! the ring is full (producer) or empty (consumer). In the common case a put or a get
//! touches no cache line the other side writes, except the slot itself.
//!
//! A producer that dies before storing `tail` published nothing; a consumer that dies
//! before storing `head` leaves its item to the next consumer (delivered at least once).
//! Indices from shared memory are masked: garbage makes the ring look full, empty or
//! full of garbage values, never out of bounds.

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::loom::cell::UnsafeCell;
use shmkit_core::EventCount;

use crate::ring::Line;

/// The rarely written fields.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Misc {
    /// `CLOSED` flag (as the MPMC queue's state).
    pub state: AtomicU32,
    /// Padding, an atomic like the rest: peers may write any byte of the state.
    _pad: AtomicU32,
    /// Waited on by the consumer.
    pub not_empty: EventCount,
    /// Waited on by the producer.
    pub not_full: EventCount,
    /// The producer end's holder: 0 never attached, [`GONE`] dropped, else a token.
    pub producer: AtomicU64,
    /// The consumer end's holder, likewise.
    pub consumer: AtomicU64,
}

/// An end whose holder dropped it.
pub const GONE: u64 = 1;

/// The control block: three cache lines.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Control {
    /// The next position to write (the producer's).
    pub tail: Line<AtomicU64>,
    /// The next position to read (the consumer's).
    pub head: Line<AtomicU64>,
    /// Flags, event counts, end holders.
    pub misc: Line<Misc>,
}

/// A view of an SPSC ring.
pub struct Lamport<'a, T> {
    /// The control block.
    pub ctl: &'a Control,
    /// The slots; a power of two of them.
    pub slots: &'a [UnsafeCell<T>],
}

impl<T> Clone for Lamport<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Lamport<'_, T> {}

/// One end's private indices: its own position and its cache of the other end's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The producer's tail, or the consumer's head.
    pub own: u64,
    /// Its latest look at the other end's index.
    pub cached: u64,
}

impl<'a, T: bytemuck::Pod> Lamport<'a, T> {
    /// A view; `slots.len()` must be a power of two.
    pub fn new(ctl: &'a Control, slots: &'a [UnsafeCell<T>]) -> Self {
        debug_assert!(slots.len().is_power_of_two());
        Self { ctl, slots }
    }

    #[inline]
    fn cap(&self) -> u64 {
        self.slots.len() as u64
    }

    #[inline]
    fn slot(&self, pos: u64) -> &'a UnsafeCell<T> {
        &self.slots[(pos & (self.cap() - 1)) as usize]
    }

    /// A producer's cursor, read from the shared indices (at attach time).
    pub fn producer_cursor(&self) -> Cursor {
        Cursor {
            own: self.ctl.tail.0.load(Ordering::Acquire),
            cached: self.ctl.head.0.load(Ordering::Acquire),
        }
    }

    /// A consumer's cursor, read from the shared indices.
    pub fn consumer_cursor(&self) -> Cursor {
        Cursor {
            own: self.ctl.head.0.load(Ordering::Acquire),
            cached: self.ctl.tail.0.load(Ordering::Acquire),
        }
    }

    /// How many slots the producer can fill now (at most `want`), refreshing its cache of
    /// `head` only if the cache says fewer than `want`.
    #[inline]
    pub fn writable(&self, c: &mut Cursor, want: u64) -> u64 {
        let free = |c: &Cursor| self.cap().saturating_sub(c.own.wrapping_sub(c.cached));
        if free(c) < want {
            c.cached = self.ctl.head.0.load(Ordering::Acquire);
        }
        free(c).min(want)
    }

    /// How many items the consumer can take now (at most `want`), refreshing its cache of
    /// `tail` only if the cache says fewer than `want`.
    #[inline]
    pub fn readable(&self, c: &mut Cursor, want: u64) -> u64 {
        let ready = |c: &Cursor| c.cached.wrapping_sub(c.own).min(self.cap());
        if ready(c) < want {
            c.cached = self.ctl.tail.0.load(Ordering::Acquire);
        }
        ready(c).min(want)
    }

    /// Calls `f` with the slot of position `pos` (one the producer may write).
    #[inline]
    pub fn write<R>(&self, pos: u64, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the producer writes only positions in [tail, head + cap), which the
        // consumer does not read until `tail` passes them; `T: Pod`, so any bits there
        // are a valid `T`. A hostile peer can only garble the value.
        self.slot(pos).with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Calls `f` with the slot of position `pos` (one the consumer may read).
    #[inline]
    pub fn read<R>(&self, pos: u64, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: the consumer reads only positions in [head, tail), which the producer
        // does not write until `head` passes them; any bits are a valid `T`.
        self.slot(pos).with(|p| f(unsafe { &*p }))
    }

    /// Publishes the producer's writes up to `c.own`.
    #[inline]
    pub fn publish(&self, c: &Cursor) {
        self.ctl.tail.0.store(c.own, Ordering::Release);
    }

    /// Releases the consumer's slots up to `c.own`.
    #[inline]
    pub fn release(&self, c: &Cursor) {
        self.ctl.head.0.store(c.own, Ordering::Release);
    }

    /// Items in the ring (racy).
    pub fn len(&self) -> usize {
        let head = self.ctl.head.0.load(Ordering::Acquire);
        let tail = self.ctl.tail.0.load(Ordering::Acquire);
        (tail.wrapping_sub(head) as i64).clamp(0, self.cap() as i64) as usize
    }

    /// Whether the ring looks empty (racy).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
