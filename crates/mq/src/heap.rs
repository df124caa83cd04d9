//! The pool on the heap, for unit tests, loom and Miri: the same [`Pool`] over vectors.

use std::cell::UnsafeCell;
use std::ptr::NonNull;

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64};

use crate::pool::{Control, Geometry, Pool, FREE};

/// A pool's parts, owned.
pub struct HeapPool {
    ctl: Box<Control>,
    ring: Vec<AtomicU64>,
    owner: Vec<AtomicU64>,
    next: Vec<AtomicU32>,
    data: Box<[UnsafeCell<u8>]>,
    geo: Geometry,
}

impl HeapPool {
    /// A fresh pool of this geometry, every chunk free.
    pub fn new(geo: Geometry) -> Self {
        let ctl = Box::<Control>::default();
        ctl.free.store(geo.chunks, shmkit_core::loom::atomic::Ordering::Relaxed);
        Self {
            ctl,
            ring: (0..geo.ring_slots()).map(|_| AtomicU64::new(0)).collect(),
            owner: (0..geo.chunks).map(|_| AtomicU64::new(FREE)).collect(),
            next: (0..geo.chunks).map(|_| AtomicU32::new(0)).collect(),
            data: (0..geo.chunks as usize * geo.chunk_size as usize).map(|_| UnsafeCell::new(0)).collect(),
            geo,
        }
    }

    /// The pool view.
    pub fn pool(&self) -> Pool<'_> {
        // SAFETY: the vectors have the lengths `geo` says and live as long as `self`; the
        // data is cells, written only through raw pointers.
        unsafe {
            Pool::new(
                &self.ctl,
                &self.ring,
                &self.owner,
                &self.next,
                NonNull::new(UnsafeCell::raw_get(self.data.as_ptr())).unwrap_or(NonNull::dangling()),
                self.geo,
            )
        }
    }

    /// The owner words, for checks.
    pub fn owners(&self) -> Vec<u64> {
        self.owner.iter().map(|o| o.load(shmkit_core::loom::atomic::Ordering::Relaxed)).collect()
    }

    /// A ring word, for hostile tests.
    pub fn ring_word(&self, i: usize) -> &AtomicU64 {
        &self.ring[i]
    }

    /// A link, for hostile tests.
    pub fn link(&self, i: usize) -> &AtomicU32 {
        &self.next[i]
    }

    /// Chunk `i`'s owner word, for hostile tests and for leaving the state a process
    /// killed part-way through a locked operation leaves (the control block's counters
    /// are reached through [`Pool::ctl`]).
    ///
    /// # Panics
    ///
    /// If `i` is not below the geometry's chunk count.
    pub fn owner(&self, i: usize) -> &AtomicU64 {
        &self.owner[i]
    }
}
