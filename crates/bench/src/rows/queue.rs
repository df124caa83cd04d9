//! Queue and the SPSC pair: round trips beside the floor, the futex, `raw_sync` and
//! Python's Queue; one-way rates beside rtrb (and crossbeam's `ArrayQueue`, for
//! `Queue`), both between two threads; in-place payloads beside the socketpair.

use shmkit_core::WaitStrategy;
use shmkit_queue::{spsc, Queue};

use crate::figure::Figure;
use crate::harness::{
    one_way, rate, round_trip, round_trip_bytes, throughput, Bench, Echo, Endpoint, Timing,
};
use crate::names::{CROSSBEAM, FLOOR, FUTEX, PYQUEUE, RAWSYNC_BUSY, RAWSYNC_EVENT, RTRB, SOCK64K};
use crate::peers::python::{self, Channel};
use crate::peers::threads;
use crate::rows::sweep::QueueEcho;

/// The SPSC peer of the `Queue<[u8; 1024]>` row.
const SPSC_1K: &str = "SPSC [u8; 1024] ping-pong, copy in/out (spin)";

pub(super) fn rows(b: &mut Bench) {
    b.try_add(PYQUEUE, &[], None, |tm| python::round_trip(Channel::Queue, 8, tm));
    b.add("Queue<u64> ping-pong (spin)", &[FLOOR, RAWSYNC_BUSY], |tm| {
        let (x, y) = QueuePing::pair(WaitStrategy::Spin);
        round_trip(x, y, tm)
    });
    b.add("SPSC u64 ping-pong (spin)", &[FLOOR], |tm| {
        let (x, y) = SpscPing::pair(WaitStrategy::Spin);
        round_trip(x, y, tm)
    });
    b.add("Queue<u64> ping-pong (parked)", &[FUTEX, RAWSYNC_EVENT, PYQUEUE], |tm| {
        let (x, y) = QueuePing::pair(WaitStrategy::Park);
        round_trip(x, y, tm)
    });
    // A payload of whole cache lines, copied in and out of the slot in place: the MPMC
    // ring's slot layout against the SPSC ring's bare array.
    b.add(SPSC_1K, &[FLOOR], |tm| {
        let (x, y) = SpscEcho::<1024>::pair();
        round_trip_bytes(x, y, 1024, tm)
    });
    b.add("Queue<[u8; 1024]> ping-pong, copy in/out (spin)", &[SPSC_1K], |tm| {
        let (x, y) = QueueEcho::<1024>::pair();
        round_trip_bytes(x, y, 1024, tm)
    });
    b.add("SPSC u64 ping-pong (parked)", &[FUTEX], |tm| {
        let (x, y) = SpscPing::pair(WaitStrategy::Park);
        round_trip(x, y, tm)
    });
    b.add(RTRB, &[], threads::rtrb_one_way);
    b.add(CROSSBEAM, &[], threads::crossbeam_one_way);
    b.add("SPSC u64 one-way", &[RTRB], |tm| spsc_one_way(1, tm));
    b.add("SPSC u64 one-way, batches of 64", &[RTRB], |tm| spsc_one_way(64, tm));
    b.add("Queue<u64> one-way", &[RTRB, CROSSBEAM], queue_one_way);
    b.add("SPSC 4 KiB in place one-way", &[SOCK64K], spsc_in_place::<4096>);
    b.add("SPSC 1 MiB in place one-way", &[SOCK64K], spsc_in_place::<{ 1 << 20 }>);
}

/// Ping-pong over two MPMC queues.
struct QueuePing {
    tx: Queue<u64>,
    rx: Queue<u64>,
}

impl QueuePing {
    fn pair(strategy: WaitStrategy) -> (Self, Self) {
        let mut a = Queue::<u64>::anonymous(64).unwrap();
        let mut b = Queue::<u64>::anonymous(64).unwrap();
        a.set_wait_strategy(strategy);
        b.set_wait_strategy(strategy);
        let (a2, b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
        (Self { tx: a, rx: b }, Self { tx: b2, rx: a2 })
    }
}

impl Endpoint for QueuePing {
    fn send(&mut self, v: u64) {
        self.tx.put(v).unwrap();
    }

    fn recv(&mut self) -> u64 {
        self.rx.get().unwrap()
    }
}

/// Ping-pong over two SPSC pairs.
struct SpscPing {
    tx: spsc::Producer<u64>,
    rx: spsc::Consumer<u64>,
}

impl SpscPing {
    fn pair(strategy: WaitStrategy) -> (Self, Self) {
        let (mut ta, mut ra) = spsc::channel::<u64>(64).unwrap();
        let (mut tb, mut rb) = spsc::channel::<u64>(64).unwrap();
        ta.set_wait_strategy(strategy);
        ra.set_wait_strategy(strategy);
        tb.set_wait_strategy(strategy);
        rb.set_wait_strategy(strategy);
        (Self { tx: ta, rx: rb }, Self { tx: tb, rx: ra })
    }
}

impl Endpoint for SpscPing {
    fn send(&mut self, v: u64) {
        self.tx.put(v).unwrap();
    }

    fn recv(&mut self) -> u64 {
        self.rx.get().unwrap()
    }
}

/// Messages through two SPSC pairs of `[u8; N]`, copied into the slot and out of it in
/// place, as [`QueueEcho`] does through two queues.
struct SpscEcho<const N: usize> {
    tx: spsc::Producer<[u8; N]>,
    rx: spsc::Consumer<[u8; N]>,
}

impl<const N: usize> SpscEcho<N> {
    fn pair() -> (Self, Self) {
        let capacity = (256 * 1024 / N).clamp(4, 64);
        let (mut ta, mut ra) = spsc::channel::<[u8; N]>(capacity).unwrap();
        let (mut tb, mut rb) = spsc::channel::<[u8; N]>(capacity).unwrap();
        ta.set_wait_strategy(WaitStrategy::Spin);
        ra.set_wait_strategy(WaitStrategy::Spin);
        tb.set_wait_strategy(WaitStrategy::Spin);
        rb.set_wait_strategy(WaitStrategy::Spin);
        (Self { tx: ta, rx: rb }, Self { tx: tb, rx: ra })
    }
}

impl<const N: usize> Echo for SpscEcho<N> {
    fn send(&mut self, msg: &[u8]) {
        self.tx.put_with(|slot| slot.copy_from_slice(msg)).unwrap();
    }

    fn recv(&mut self, buf: &mut [u8]) {
        self.rx.get_with(|m| buf.copy_from_slice(m)).unwrap();
    }
}

fn spsc_one_way(batch: usize, tm: Timing) -> Figure {
    let (mut tx, mut rx) = spsc::channel::<u64>(4096).unwrap();
    tx.set_wait_strategy(WaitStrategy::Spin);
    rx.set_wait_strategy(WaitStrategy::Spin);
    let mut buf = vec![0u64; batch];
    let mut i = 0u64;
    rate(one_way(
        tm,
        || {
            if batch == 1 {
                let mut i = 0u64;
                while tx.put(i).is_ok() {
                    i += 1;
                }
            } else {
                let src: Vec<u64> = (0..batch as u64).collect();
                while tx.put_slice(&src).is_ok() {}
            }
        },
        || {
            if batch == 1 {
                i += rx.get().unwrap();
                1
            } else {
                rx.get_slice(&mut buf).unwrap() as u64
            }
        },
        || rx.close(),
    ))
}

fn queue_one_way(tm: Timing) -> Figure {
    let mut q = Queue::<u64>::anonymous(4096).unwrap();
    q.set_wait_strategy(WaitStrategy::Spin);
    let mut sum = 0u64;
    rate(one_way(
        tm,
        || {
            let mut i = 0u64;
            while q.put(i).is_ok() {
                i += 1;
            }
        },
        || {
            sum = sum.wrapping_add(q.get().unwrap());
            1
        },
        || q.close(),
    ))
}

/// `N`-byte payloads written in place into an SPSC slot by the child (one copy from its
/// buffer) and copied out by the parent, as a socket's reader would.
fn spsc_in_place<const N: usize>(tm: Timing) -> Figure {
    let capacity = if N > 64 * 1024 { 8 } else { 64 };
    let (mut tx, mut rx) = spsc::channel::<[u8; N]>(capacity).unwrap();
    tx.set_wait_strategy(WaitStrategy::Spin);
    rx.set_wait_strategy(WaitStrategy::Spin);
    let mut out = vec![0u8; N];
    throughput(
        N,
        one_way(
            tm,
            || {
                let src = vec![0x5Au8; N];
                while tx.put_with(|slot| slot.copy_from_slice(&src)).is_ok() {}
            },
            || {
                rx.get_with(|m| out.copy_from_slice(m)).unwrap();
                std::hint::black_box(&out);
                1
            },
            || rx.close(),
        ),
    )
}
