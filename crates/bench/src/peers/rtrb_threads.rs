//! The in-process SPSC peer for one-way rates: rtrb's ring between two threads.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::figure::Figure;
use crate::harness::{one_way_threads, rate, Timing};

/// u64 items one way through an rtrb ring of 4096 (the SPSC rows' capacity), producer
/// and consumer threads pinned to the two cores, timed as the rows are (the clock read
/// once per batch of items, see `timed_batches`).
pub(crate) fn one_way(tm: Timing) -> Figure {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(4096);
    let stop = AtomicBool::new(false);
    rate(one_way_threads(
        tm,
        || {
            let mut i = 0u64;
            loop {
                match tx.push(i) {
                    Ok(()) => i += 1,
                    // Full: the consumer may have stopped.
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
        },
        || loop {
            if let Ok(v) = rx.pop() {
                std::hint::black_box(v);
                return 1;
            }
        },
        || stop.store(true, Ordering::Relaxed),
    ))
}
