//! The in-process peers for one-way rates: rtrb's SPSC ring and crossbeam's MPMC
//! `ArrayQueue`, each between two threads.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::figure::Figure;
use crate::harness::{one_way_threads, rate, Timing};

/// The capacity of both, the SPSC and `Queue<u64>` rows' own.
const CAPACITY: usize = 4096;

/// u64 items one way through a rtrb ring of [`CAPACITY`], producer and consumer threads
/// pinned to the two cores, timed as the rows are (the clock read once per batch of
/// items, see `timed_batches`).
pub(crate) fn rtrb_one_way(tm: Timing) -> Figure {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    u64_one_way(tm, move |v| tx.push(v).is_ok(), move || rx.pop().ok())
}

/// The same through a crossbeam `ArrayQueue` of [`CAPACITY`].
pub(crate) fn crossbeam_one_way(tm: Timing) -> Figure {
    let q = ArrayQueue::<u64>::new(CAPACITY);
    u64_one_way(tm, |v| q.push(v).is_ok(), || q.pop())
}

/// Counting u64s pushed by one thread (`push` says whether there was room) and popped by
/// the other, until the consumer's time is up.
fn u64_one_way(
    tm: Timing,
    mut push: impl FnMut(u64) -> bool + Send,
    mut pop: impl FnMut() -> Option<u64>,
) -> Figure {
    let stop = AtomicBool::new(false);
    rate(one_way_threads(
        tm,
        || {
            let mut i = 0u64;
            loop {
                if push(i) {
                    i += 1;
                } else if stop.load(Ordering::Relaxed) {
                    // Full, and the consumer stopped.
                    break;
                }
            }
        },
        || loop {
            if let Some(v) = pop() {
                std::hint::black_box(v);
                return 1;
            }
        },
        || stop.store(true, Ordering::Relaxed),
    ))
}
