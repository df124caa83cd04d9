//! Two copies and a version word: how a [`Value`](crate::Value) is read without ever
//! waiting on a writer.
//!
//! # The algorithm
//!
//! A Value of `T` holds two copies of `T` (copy 0 and copy 1) and a version word. The
//! version's low bit names the *published* copy; the other one is the writer's scratch.
//!
//! ```text
//! writer (holds the Value's lock)        reader (no lock)
//!   v = version                            v1 = version            (Acquire)
//!   fence(Release)                         copy copy[v1 & 1] out   (atomic loads)
//!   copy[(v + 1) & 1] = new  (atomic)      fence(Acquire)
//!   version = v + 1          (Release)     done if version == v1, else again
//! ```
//!
//! A writer only ever writes the copy readers are *not* told to use, and publishes it
//! with one store. So:
//!
//! - **A stopped writer never makes a reader wait.** A writer stopped (SIGSTOP, a
//!   debugger, a page-fault storm) or killed in the middle of a write has not flipped the
//!   version: readers go on reading the published copy, complete and committed, and
//!   succeed at their first attempt. Nothing is left to repair when it dies; the next
//!   `get_lock` still reports the death.
//! - **A reader retries only when a writer *completed* a store meanwhile.** The writer
//!   of version `v1 + 2` writes the copy a reader of `v1` may be reading, and it starts
//!   as soon as `v1 + 1` is published, so any change of the version sends the reader
//!   round again. Each retry means some store finished: reads are lock-free. They are not
//!   wait-free against an unbounded stream of completed stores: a reader whose copy takes
//!   longer than a store-and-flip can lose every race. The handle bounds that: after 64
//!   lost races a reader also tries the lock (without waiting) and, if it gets it, reads
//!   the published copy, which cannot change while it is held. A stopped writer that
//!   holds the lock stops flipping, so then the next plain attempt succeeds. The cost: a
//!   reader that is itself stopped while it holds the lock for that one copy stalls
//!   writers (never readers), as a stopped `get_lock` holder does.
//!
//! Why the version check catches a torn copy: if one of the reader's loads saw a store of
//! the writer of `v1 + 2`, the reader's acquire fence synchronises with that writer's
//! release fence, which comes after the publication of `v1 + 1` (by the same writer, or
//! by an earlier one whose unlock it acquired); so the reader's second load of the version
//! sees `v1 + 1` or later and throws the copy away. The first load is an acquire of the
//! publication of `v1`, so the copy holds nothing older than that store.
//!
//! # Which Values use it
//!
//! Only a `T` that does not fit one native atomic. A `T` of 1, 2, 4 or 8 bytes sits at a
//! 128-byte-aligned address, so every load and store of it is one atomic instruction
//! (see `copy_load`): it cannot tear, needs no protocol, and its integer atomics
//! (`fetch_add`, `swap`, `compare_exchange`) act on it in place, coherent with
//! `load`/`store` by being single instructions on the same word. Those Values keep the
//! same two-copy layout (copy 1 is unused) so that every Value has one layout; their
//! version word stays 0. Integer atomics never meet the two-copy protocol: every
//! [`AtomicInt`](crate::AtomicInt) type is a word.
//!
//! # Trust
//!
//! A peer that can write the mapping can write any version: readers then read the copy it
//! names, which may be stale or half-written by the scratch writer, never out of bounds
//! (the copy index is one bit), and they never spin on it. Values from the Value's
//! users are within that trust boundary, as for every shmkit object.

use shmkit_core::loom::atomic::{fence, AtomicU64, Ordering};

use crate::seqlock::ReadOutcome;

/// The version word of a two-copy Value: its low bit is the published copy.
#[repr(transparent)]
#[derive(Debug, Default)]
pub struct Twin {
    version: AtomicU64,
}

/// Whether a `T` of `size` bytes is one atomic word (read and written with one
/// instruction at the Value's aligned address), so it uses only copy 0.
pub const fn is_word(size: usize) -> bool {
    matches!(size, 1 | 2 | 4 | 8)
}

/// The distance between a Value's two copies for a `T` of `size` bytes: `size` rounded up
/// to 8 bytes (a multiple of `T`'s alignment, which divides `size`); `None` on overflow.
pub const fn stride(size: usize) -> Option<usize> {
    match size.checked_add(7) {
        Some(s) => Some(s & !7),
        None => None,
    }
}

impl Twin {
    /// Copy 0 published, at version 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The word `word` seen as a version word.
    pub fn from_word(word: &AtomicU64) -> &Self {
        // SAFETY: `Twin` is `repr(transparent)` over one `AtomicU64`, so it has the same
        // layout and validity; the reference keeps `word`'s lifetime.
        unsafe { &*(word as *const AtomicU64).cast::<Self>() }
    }

    /// One attempt at reading the published copy: `read(i)` copies copy `i` out with
    /// atomic loads. [`ReadOutcome::Retry`] only if a writer completed a store meanwhile.
    #[inline]
    pub fn try_read(&self, read: impl FnOnce(usize)) -> ReadOutcome {
        let v1 = self.version.load(Ordering::Acquire);
        read((v1 & 1) as usize);
        // Orders the data loads before the second look at the version (module docs).
        fence(Ordering::Acquire);
        if self.version.load(Ordering::Relaxed) == v1 {
            ReadOutcome::Done
        } else {
            ReadOutcome::Retry
        }
    }

    /// The published copy. Stable only while the caller holds the lock that serialises
    /// writers.
    pub fn published(&self) -> usize {
        (self.version.load(Ordering::Acquire) & 1) as usize
    }

    /// Writes the scratch copy with `write(i)` (atomic stores into copy `i`), then
    /// publishes it. The caller holds the lock that serialises writers.
    #[inline]
    pub fn write<R>(&self, write: impl FnOnce(usize) -> R) -> R {
        let r = write(self.begin_write());
        self.publish();
        r
    }

    /// The first half of [`write`](Self::write): the scratch copy to fill. A writer
    /// stopped after this (and any number of stores into the copy) holds up no reader.
    #[inline]
    pub fn begin_write(&self) -> usize {
        // The last writer's publication (ours, or acquired with the lock).
        let v = self.version.load(Ordering::Relaxed);
        // Pairs with the reader's fence: a reader that sees any store into the scratch
        // copy also sees the publication of `v` (module docs). Without it, loom finds a
        // reader that accepts a half-written copy.
        fence(Ordering::Release);
        (v.wrapping_add(1) & 1) as usize
    }

    /// The second half of [`write`](Self::write): publishes the scratch copy.
    #[inline]
    pub fn publish(&self) {
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Release);
    }
}

#[cfg(all(test, not(shmkit_loom)))]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    use super::*;
    use crate::seqlock::{copy_load, copy_store};

    const WORDS: usize = 4;

    /// The heap form of a two-copy Value of `[u64; WORDS]`.
    #[derive(Default)]
    struct Heap {
        twin: Twin,
        copies: [[AtomicU64; WORDS]; 2],
    }

    impl Heap {
        fn load(&self) -> Option<[u64; WORDS]> {
            let mut out = [0u64; WORDS];
            let read = |i: usize| {
                // SAFETY: copy `i` (0 or 1) is WORDS atomics; `out` is private, as long.
                unsafe { copy_load(self.copies[i].as_ptr().cast(), out.as_mut_ptr().cast(), WORDS * 8) }
            };
            (self.twin.try_read(read) == ReadOutcome::Done).then_some(out)
        }

        fn store(&self, v: [u64; WORDS]) {
            self.twin.write(|i| {
                // SAFETY: as in `load`, the other way round.
                unsafe { copy_store(self.copies[i].as_ptr() as *mut u8, v.as_ptr().cast(), WORDS * 8) }
            });
        }
    }

    #[test]
    fn the_sizes_of_one_word_use_one_copy() {
        assert!([1, 2, 4, 8].into_iter().all(is_word));
        assert!(![0, 3, 5, 6, 7, 9, 16, 4096].into_iter().any(is_word));
        assert_eq!(
            (stride(1), stride(8), stride(12), stride(usize::MAX)),
            (Some(8), Some(8), Some(16), None)
        );
    }

    #[test]
    fn a_write_stopped_half_way_is_never_seen_and_never_retried() {
        let h = Heap::default();
        h.store([1; WORDS]);
        // A writer stops after writing half of its scratch copy: it never publishes.
        let scratch = h.twin.begin_write();
        h.copies[scratch][0].store(2, Ordering::Relaxed);
        h.copies[scratch][1].store(2, Ordering::Relaxed);
        for _ in 0..3 {
            assert_eq!(h.load(), Some([1; WORDS]), "a reader retried or tore");
        }
        // The next writer (who took the dead or stopped one's lock) overwrites it all.
        h.store([3; WORDS]);
        assert_eq!(h.load(), Some([3; WORDS]));
    }

    #[test]
    fn readers_racing_a_writer_accept_only_committed_values() {
        let h = Arc::new(Heap::default());
        let stores = if cfg!(miri) { 20 } else { 20_000 };
        let writer = {
            let h = h.clone();
            std::thread::spawn(move || (1..=stores).for_each(|v| h.store([v; WORDS])))
        };
        let mut last = 0;
        while last < stores {
            if let Some(v) = h.load() {
                assert!(v.iter().all(|&w| w == v[0]), "torn: {v:?}");
                assert!(v[0] >= last, "went back from {last} to {}", v[0]);
                last = v[0];
            }
            std::hint::spin_loop();
        }
        writer.join().unwrap();
    }
}

#[cfg(all(test, shmkit_loom))]
mod loom_tests {
    use loom::sync::atomic::AtomicU64;
    use loom::sync::Arc;

    use super::*;

    /// The heap form of a two-copy Value of two words.
    #[derive(Default)]
    struct Heap {
        twin: Twin,
        copies: [[AtomicU64; 2]; 2],
    }

    impl Heap {
        fn try_load(&self) -> Option<(u64, u64)> {
            let (mut a, mut b) = (0, 0);
            let done = self.twin.try_read(|i| {
                a = self.copies[i][0].load(Ordering::Relaxed);
                b = self.copies[i][1].load(Ordering::Relaxed);
            });
            (done == ReadOutcome::Done).then_some((a, b))
        }
    }

    /// Readers accept only committed values, in order, while writers store and flip.
    #[test]
    fn loom_twin_never_torn() {
        loom::model(|| {
            let h = Arc::new(Heap::default());
            let w = h.clone();
            let writer = loom::thread::spawn(move || {
                for v in 1..=2 {
                    w.twin.write(|i| {
                        w.copies[i][0].store(v, Ordering::Relaxed);
                        w.copies[i][1].store(v, Ordering::Relaxed);
                    });
                }
            });
            let mut last = 0;
            for _ in 0..2 {
                if let Some((a, b)) = h.try_load() {
                    assert_eq!(a, b, "a torn read was accepted");
                    assert!(a >= last, "a read went back in time");
                    last = a;
                }
            }
            writer.join().unwrap();
        });
    }

    /// A writer that stops half-way (it never publishes) never makes a reader retry, and
    /// the reader sees the last committed value.
    #[test]
    fn loom_twin_stopped_writer_never_blocks_readers() {
        loom::model(|| {
            let h = Arc::new(Heap::default());
            let w = h.clone();
            let writer = loom::thread::spawn(move || {
                w.twin.write(|i| {
                    w.copies[i][0].store(1, Ordering::Relaxed);
                    w.copies[i][1].store(1, Ordering::Relaxed);
                });
                // The second write stops after one word and never flips.
                let scratch = w.twin.begin_write();
                w.copies[scratch][0].store(2, Ordering::Relaxed);
            });
            let first = h.try_load();
            writer.join().unwrap();
            // Racing the completed flip, the first read may retry; once it is done, no
            // read ever retries or sees the stopped write.
            if let Some((a, b)) = first {
                assert!(a == b && a <= 1);
            }
            assert_eq!(h.try_load(), Some((1, 1)));
        });
    }
}
