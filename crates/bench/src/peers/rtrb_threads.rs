//! The in-process peer for one-way rates: rtrb's SPSC ring between two threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::figure::Figure;
use crate::harness::{cpus, pin_to, rate, Timing};

/// u64 items one way through an rtrb ring of 4096, producer and consumer threads pinned
/// to the two cores.
pub(crate) fn one_way(tm: Timing) -> Figure {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(4096);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let pair = cpus().pair;
    if let Some((p, _)) = pair {
        pin_to(p);
    }
    let producer = std::thread::spawn(move || {
        if let Some((_, c)) = pair {
            pin_to(c);
        }
        let mut i = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            if tx.push(i).is_ok() {
                i += 1;
            }
        }
    });
    let mut pop = || loop {
        if let Ok(v) = rx.pop() {
            std::hint::black_box(v);
            return 1u64;
        }
    };
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        pop();
    }
    let start = Instant::now();
    let mut items = 0u64;
    while start.elapsed() < tm.measure {
        items += pop();
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    rate((items, elapsed))
}
