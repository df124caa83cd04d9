//! A byte ring on the heap with the same control block as a pipe's, for loom models and
//! fuzzing: [`HeapEnd`] implements [`ByteRing`] over a [`HeapLamport<u8>`].

use std::cell::Cell;

use shmkit_core::loom::atomic::Ordering;
use shmkit_core::Deadline;
use shmkit_queue::heap::HeapLamport;
use shmkit_queue::lamport::{Cursor, Lamport};
use shmkit_queue::ring::state;
use shmkit_queue::Fail;

use crate::stream::ByteRing;

/// How the two ends share a heap ring: across loom threads, or within one thread.
#[cfg(shmkit_loom)]
pub type Shared<T> = loom::sync::Arc<T>;
/// How the two ends share a heap ring: across loom threads, or within one thread.
#[cfg(not(shmkit_loom))]
pub type Shared<T> = std::rc::Rc<T>;

/// One side of a heap byte ring.
pub struct HeapEnd {
    ring: Shared<HeapLamport<u8>>,
    cursor: Cell<Cursor>,
    /// Whether a call that must wait yields and tries again (a loom thread with a live
    /// peer), or reports `Disconnected` at once (a fuzz input with no peer).
    patient: bool,
}

impl HeapEnd {
    /// The sending side of `ring`.
    pub fn sender(ring: Shared<HeapLamport<u8>>, patient: bool) -> Self {
        let cursor = Cell::new(ring.ring().producer_cursor());
        Self { ring, cursor, patient }
    }

    /// The receiving side of `ring`.
    pub fn receiver(ring: Shared<HeapLamport<u8>>, patient: bool) -> Self {
        let cursor = Cell::new(ring.ring().consumer_cursor());
        Self { ring, cursor, patient }
    }

    fn lamport(&self) -> Lamport<'_, u8> {
        self.ring.ring()
    }

    fn closed(&self) -> bool {
        self.ring.ctl.misc.0.state.load(Ordering::Acquire) & state::CLOSED != 0
    }

    /// Closes the ring.
    pub fn close(&self) {
        self.ring.ctl.misc.0.state.fetch_or(state::CLOSED, Ordering::AcqRel);
    }

    fn index(&self, pos: u64) -> usize {
        (pos & (self.ring.slots.len() as u64 - 1)) as usize
    }

    fn wait(
        &self,
        min: u64,
        want: u64,
        deadline: Option<Deadline>,
        count: impl Fn(&Lamport<'_, u8>, &mut Cursor, u64) -> u64,
    ) -> Result<(u64, u64), Fail> {
        let min = min.clamp(1, self.ring.slots.len() as u64);
        let want = want.max(min);
        loop {
            let mut c = self.cursor.get();
            let n = count(&self.lamport(), &mut c, want);
            self.cursor.set(c);
            if n >= min {
                return Ok((c.own, n));
            }
            if deadline.is_none() {
                return Err(Fail::Nothing);
            }
            if self.closed() || !self.patient {
                let mut c = self.cursor.get();
                if count(&self.lamport(), &mut c, min) >= min {
                    continue;
                }
                return Err(Fail::Disconnected);
            }
            shmkit_core::loom::thread::yield_now();
        }
    }
}

impl ByteRing for HeapEnd {
    fn capacity(&self) -> usize {
        self.ring.slots.len()
    }

    fn reserve(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail> {
        if self.closed() {
            return Err(Fail::Disconnected);
        }
        self.wait(min, want, deadline, |r, c, want| r.writable(c, want))
    }

    fn commit(&self, n: u64) {
        let mut c = self.cursor.get();
        c.own = c.own.wrapping_add(n);
        self.lamport().publish(&c);
        self.cursor.set(c);
    }

    fn ready(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail> {
        self.wait(min, want, deadline, |r, c, want| r.readable(c, want))
    }

    fn consume(&self, n: u64) {
        let mut c = self.cursor.get();
        c.own = c.own.wrapping_add(n);
        self.lamport().release(&c);
        self.cursor.set(c);
    }

    fn copy_in(&self, pos: u64, src: &[u8]) {
        for (i, &b) in src.iter().enumerate() {
            let slot = &self.ring.slots[self.index(pos.wrapping_add(i as u64))];
            // SAFETY: the sender owns reserved bytes until `commit`; loom checks it.
            slot.with_mut(|p| unsafe { *p = b });
        }
    }

    fn copy_out(&self, pos: u64, dst: &mut [u8]) {
        for (i, d) in dst.iter_mut().enumerate() {
            let slot = &self.ring.slots[self.index(pos.wrapping_add(i as u64))];
            // SAFETY: the receiver owns ready bytes until `consume`; loom checks it.
            *d = slot.with(|p| unsafe { *p });
        }
    }
}
