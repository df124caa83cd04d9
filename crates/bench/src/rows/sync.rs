//! Semaphore, Lock and Event, beside the `shared_memory` + `raw_sync` handoffs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use shmkit_core::{Segment, WaitStrategy};
use shmkit_sync::{Event, Lock, Semaphore};

use crate::figure::Figure;
use crate::harness::{per_op, round_trip, two_processes, Bench, Endpoint, Timing};
use crate::kernel::CacheLine;
use crate::names::{CAS, FLOOR, FUTEX, RAWSYNC_BUSY, RAWSYNC_EVENT};
use crate::peers::rawsync::{Handoff, RawSyncPing};

pub(super) fn rows(b: &mut Bench) {
    b.add("Semaphore acquire+release, uncontended", &[CAS], |tm| {
        let sem = Semaphore::anonymous(1).unwrap();
        per_op(tm, || {
            sem.acquire();
            sem.release().unwrap();
        })
    });
    b.add("Lock lock+unlock, uncontended", &[CAS], |tm| {
        let lock = Lock::anonymous().unwrap();
        per_op(tm, || drop(lock.lock().unwrap()))
    });
    b.add("Lock lock+unlock, two processes contending", &[FLOOR], contended_lock);

    for (name, handoff) in [(RAWSYNC_BUSY, Handoff::Busy), (RAWSYNC_EVENT, Handoff::Condvar)] {
        b.try_add(name, &[], None, |tm| {
            let (x, y) = RawSyncPing::pair(handoff).map_err(|e| format!("{name} is skipped: {e}"))?;
            Ok(round_trip(x, y, tm))
        });
    }
    b.add("Event ping-pong (spin)", &[FLOOR, RAWSYNC_BUSY], |tm| {
        let (x, y) = EventPing::pair(WaitStrategy::Spin);
        round_trip(x, y, tm)
    });
    b.add("Event ping-pong (spin, then park)", &[FLOOR], |tm| {
        let (x, y) = EventPing::pair(WaitStrategy::default());
        round_trip(x, y, tm)
    });
    b.add("Event ping-pong (parked)", &[FUTEX, RAWSYNC_EVENT], |tm| {
        let (x, y) = EventPing::pair(WaitStrategy::Park);
        round_trip(x, y, tm)
    });
}

/// Two processes take and release one lock in a tight loop for the measuring time; the
/// figure is the time per lock+unlock pair over both.
fn contended_lock(tm: Timing) -> Figure {
    let lock = Lock::anonymous().unwrap();
    let seg = Segment::anonymous(4096).unwrap();
    // SAFETY: the page is mapped while `seg` lives (and in the child, which inherits it).
    let stop = unsafe { &*seg.as_ptr().cast::<AtomicU64>() };
    // SAFETY: as above; offset 128 is inside the page, 8-aligned.
    let child_ops = unsafe { &*seg.as_ptr().add(128).cast::<AtomicU64>() };
    let spin = |count: &mut u64| {
        while stop.load(Ordering::Relaxed) == 0 {
            drop(lock.lock().unwrap());
            *count += 1;
        }
    };
    let (ops, elapsed) = two_processes(
        tm,
        || {
            let mut n = 0;
            spin(&mut n);
            child_ops.store(n, Ordering::Release);
        },
        || {
            let mut n = 0;
            let start = Instant::now();
            let watch = std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(tm.measure);
                    stop.store(1, Ordering::Relaxed);
                });
                spin(&mut n);
                start.elapsed()
            });
            (n, watch)
        },
    );
    let total = ops + child_ops.load(Ordering::Acquire);
    Figure::PerOp { ns: elapsed.as_nanos() as f64 / total as f64, ops: total }
}

/// Event ping-pong: set the other side's event, wait for ours.
struct EventPing {
    mine: Arc<Event>,
    theirs: Arc<Event>,
    value: CacheLine,
}

impl EventPing {
    fn pair(strategy: WaitStrategy) -> (Self, Self) {
        let mut a = Event::anonymous().unwrap();
        let mut b = Event::anonymous().unwrap();
        a.set_wait_strategy(strategy);
        b.set_wait_strategy(strategy);
        let (a, b) = (Arc::new(a), Arc::new(b));
        let (va, vb) = CacheLine::pair();
        (Self { mine: a.clone(), theirs: b.clone(), value: va }, Self { mine: b, theirs: a, value: vb })
    }
}

impl Endpoint for EventPing {
    fn send(&mut self, v: u64) {
        self.value.word().store(v, Ordering::Relaxed);
        self.theirs.set();
    }

    fn recv(&mut self) -> u64 {
        self.mine.wait();
        self.mine.clear();
        self.value.word().load(Ordering::Relaxed)
    }
}
