//! The in-process MPMC peer for one-way rates: crossbeam's bounded `ArrayQueue` between
//! two threads.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;

use crate::figure::Figure;
use crate::harness::{one_way_threads, rate, Timing};

/// u64 items one way through a crossbeam `ArrayQueue` of 4096 (the `Queue<u64>` row's
/// capacity), producer and consumer threads pinned to the two cores, timed as the rows
/// are (the clock read once per batch of items, see `timed_batches`).
pub(crate) fn one_way(tm: Timing) -> Figure {
    let q = ArrayQueue::<u64>::new(4096);
    let stop = AtomicBool::new(false);
    rate(one_way_threads(
        tm,
        || {
            let mut i = 0u64;
            loop {
                match q.push(i) {
                    Ok(()) => i += 1,
                    // Full: the consumer may have stopped.
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
        },
        || loop {
            if let Some(v) = q.pop() {
                std::hint::black_box(v);
                return 1;
            }
        },
        || stop.store(true, Ordering::Relaxed),
    ))
}
