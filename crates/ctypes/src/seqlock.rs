//! The sequence lock behind an [`Array`](crate::Array)'s lock-free reads, and word-wise
//! atomic copies (which [`Value`](crate::Value)s use too, see [`twin`](crate::twin)).
//!
//! A writer (holding the object's lock) makes the sequence odd, writes, and makes it even
//! again; a reader reads the sequence, copies the data with atomic loads, and retries if
//! the sequence was odd or changed. Every access is atomic, so a reader racing a writer
//! reads stale or mixed words, never undefined behaviour, and the sequence check throws
//! such a read away.
//!
//! # What a stalled writer costs
//!
//! The data has one copy, so a writer stopped (SIGSTOP, a debugger, a page-fault storm)
//! between its two sequence stores leaves the sequence odd and every reader retrying until
//! it resumes: reads are lock-free only while writers run. A dead writer is detected and
//! its write closed (the handle checks the lock owner's liveness). The Array's reads have
//! deadline forms (`get_timeout`, `to_vec_deadline`, ...) that give up with an error
//! instead. A Value does not have this problem: it keeps two copies (see
//! [`twin`](crate::twin)); doubling an Array would double its memory and every write's
//! cost, so Arrays keep one copy.

use shmkit_core::loom::atomic::{fence, AtomicU64, Ordering};

/// A sequence counter: even when stable, odd while a write is in flight.
#[repr(transparent)]
#[derive(Debug, Default)]
pub struct SeqLock {
    seq: AtomicU64,
}

/// What [`SeqLock::try_read`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The read is consistent.
    Done,
    /// A write was in flight (or the sequence moved): read again.
    Retry,
}

impl SeqLock {
    /// A stable sequence at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The word `word` seen as a sequence.
    pub fn from_word(word: &AtomicU64) -> &Self {
        // SAFETY: `SeqLock` is `repr(transparent)` over one `AtomicU64`, so it has the
        // same layout and validity; the reference keeps `word`'s lifetime.
        unsafe { &*(word as *const AtomicU64).cast::<Self>() }
    }

    /// One attempt at a consistent read: `read` copies the data with atomic loads.
    #[inline]
    pub fn try_read(&self, read: impl FnOnce()) -> ReadOutcome {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 == 1 {
            return ReadOutcome::Retry;
        }
        read();
        // Orders the data loads before the second look at the sequence: if any of them saw
        // a write, this load sees that write's odd (or later) sequence.
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) == s1 {
            ReadOutcome::Done
        } else {
            ReadOutcome::Retry
        }
    }

    /// Writes with `write` (atomic stores) while the sequence is odd. The caller holds
    /// the lock that serialises writers.
    #[inline]
    pub fn write<R>(&self, write: impl FnOnce() -> R) -> R {
        // Even, whatever a writer that died half-way left behind.
        let s = self.seq.load(Ordering::Relaxed) & !1;
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the data stores (pairs with the reader's fence).
        fence(Ordering::Release);
        let r = write();
        self.seq.store(s.wrapping_add(2), Ordering::Release);
        r
    }

    /// Makes an odd sequence left by a writer that died even again (the caller holds the
    /// lock). Returns whether it was odd.
    pub fn close_abandoned(&self) -> bool {
        let s = self.seq.load(Ordering::Relaxed);
        if s & 1 == 1 {
            self.seq.store(s.wrapping_add(1), Ordering::Release);
            true
        } else {
            false
        }
    }
}

#[cfg(not(shmkit_loom))]
mod copy {
    use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

    /// Copies `len` bytes from shared memory at `src` into private memory at `dst`, each
    /// piece with one relaxed atomic load of the widest size its address allows.
    ///
    /// # Safety
    ///
    /// `src` is valid for reads of `len` bytes of shared memory that is only ever
    /// accessed atomically (or by other processes); `dst` is valid for writes of `len`
    /// bytes and does not overlap it.
    pub unsafe fn load(src: *const u8, dst: *mut u8, len: usize) {
        let mut i = 0;
        while i < len {
            let (p, d, left) = (src.wrapping_add(i), dst.wrapping_add(i), len - i);
            // SAFETY: `p..p+w` and `d..d+w` are within the ranges the caller vouched for,
            // `p` is aligned to `w` (checked), `d` is written unaligned.
            let w = unsafe {
                if p as usize % 8 == 0 && left >= 8 {
                    d.cast::<u64>()
                        .write_unaligned(AtomicU64::from_ptr(p as *mut u64).load(Ordering::Relaxed));
                    8
                } else if p as usize % 4 == 0 && left >= 4 {
                    d.cast::<u32>()
                        .write_unaligned(AtomicU32::from_ptr(p as *mut u32).load(Ordering::Relaxed));
                    4
                } else if p as usize % 2 == 0 && left >= 2 {
                    d.cast::<u16>()
                        .write_unaligned(AtomicU16::from_ptr(p as *mut u16).load(Ordering::Relaxed));
                    2
                } else {
                    d.write(AtomicU8::from_ptr(p as *mut u8).load(Ordering::Relaxed));
                    1
                }
            };
            i += w;
        }
    }

    /// Copies `len` bytes from private memory at `src` into shared memory at `dst` with
    /// relaxed atomic stores.
    ///
    /// # Safety
    ///
    /// As [`load`], with the roles of `src` and `dst` swapped.
    pub unsafe fn store(dst: *mut u8, src: *const u8, len: usize) {
        let mut i = 0;
        while i < len {
            let (p, s, left) = (dst.wrapping_add(i), src.wrapping_add(i), len - i);
            // SAFETY: as in `load`.
            let w = unsafe {
                if p as usize % 8 == 0 && left >= 8 {
                    AtomicU64::from_ptr(p.cast()).store(s.cast::<u64>().read_unaligned(), Ordering::Relaxed);
                    8
                } else if p as usize % 4 == 0 && left >= 4 {
                    AtomicU32::from_ptr(p.cast()).store(s.cast::<u32>().read_unaligned(), Ordering::Relaxed);
                    4
                } else if p as usize % 2 == 0 && left >= 2 {
                    AtomicU16::from_ptr(p.cast()).store(s.cast::<u16>().read_unaligned(), Ordering::Relaxed);
                    2
                } else {
                    AtomicU8::from_ptr(p).store(s.read(), Ordering::Relaxed);
                    1
                }
            };
            i += w;
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn copies_round_trip_at_every_offset_and_length() {
            for off in 0..16 {
                for len in 0..40 {
                    // A fresh buffer each time: store and load then split the range the
                    // same way, so no byte is accessed atomically at two sizes.
                    let shared: Vec<std::sync::atomic::AtomicU64> =
                        (0..8).map(|_| Default::default()).collect();
                    let base = shared.as_ptr() as *mut u8;
                    let src: Vec<u8> =
                        (0..len as u8).map(|b| b.wrapping_mul(7).wrapping_add(off as u8)).collect();
                    let mut out = vec![0u8; len];
                    // SAFETY: off + len <= 56 < 64 bytes of atomics; private buffers of len.
                    unsafe {
                        super::store(base.add(off), src.as_ptr(), len);
                        super::load(base.add(off), out.as_mut_ptr(), len);
                    }
                    assert_eq!(out, src, "offset {off} length {len}");
                }
            }
        }
    }
}

#[cfg(not(shmkit_loom))]
pub(crate) use copy::{load as copy_load, store as copy_store};

#[cfg(all(test, shmkit_loom))]
mod loom_tests {
    use loom::sync::atomic::AtomicU64;
    use loom::sync::Arc;

    use super::*;

    /// A reader never accepts a half-written pair of words.
    #[test]
    fn loom_seqlock_never_torn() {
        loom::model(|| {
            let lock = Arc::new((SeqLock::new(), AtomicU64::new(0), AtomicU64::new(0)));
            let l2 = lock.clone();
            let writer = loom::thread::spawn(move || {
                for v in 1..=2 {
                    l2.0.write(|| {
                        l2.1.store(v, Ordering::Relaxed);
                        l2.2.store(v, Ordering::Relaxed);
                    });
                }
            });
            for _ in 0..2 {
                let (mut a, mut b) = (0, 0);
                let outcome = lock.0.try_read(|| {
                    a = lock.1.load(Ordering::Relaxed);
                    b = lock.2.load(Ordering::Relaxed);
                });
                if outcome == ReadOutcome::Done {
                    assert_eq!(a, b, "a torn read was accepted");
                }
            }
            writer.join().unwrap();
        });
    }
}
