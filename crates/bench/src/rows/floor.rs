//! The floor and the kernel.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::harness::{per_op, round_trip, Bench};
use crate::kernel::{os_pipe, os_socketpair, pipe_pair, socket_pair, stream_throughput, FutexSleep};
use crate::names::{CAS, FLOOR, FUTEX, SOCK64K};

pub(super) fn rows(b: &mut Bench) {
    b.add(FLOOR, &[], crate::kernel::floor);
    b.add(FUTEX, &[FLOOR], |tm| {
        let (x, y) = FutexSleep::pair();
        round_trip(x, y, tm)
    });
    b.add("kernel pipe 8 B ping-pong", &[FUTEX], |tm| {
        let (x, y) = pipe_pair();
        round_trip(x, y, tm)
    });
    b.add("unix socketpair 8 B ping-pong", &[FUTEX], |tm| {
        let (x, y) = socket_pair();
        round_trip(x, y, tm)
    });
    b.add("pipe 64 KiB one-way", &[SOCK64K], |tm| {
        let (r, w) = os_pipe();
        stream_throughput(r, w, 64 * 1024, tm)
    });
    b.add(SOCK64K, &[], |tm| {
        let (x, y) = os_socketpair();
        stream_throughput(x, y, 64 * 1024, tm)
    });
    b.add(CAS, &[], |tm| {
        let word = AtomicU64::new(0);
        per_op(tm, || {
            let w = std::hint::black_box(&word);
            let _ = w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed);
            let _ = w.compare_exchange(1, 0, Ordering::Release, Ordering::Relaxed);
        })
    });
}
