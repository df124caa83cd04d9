//! MessageQueue (issue #17): 8-byte round trips beside `Queue<u64>` and the futex; small
//! messages one way beside Python's `multiprocessing.Queue`; 64 KiB messages one way beside
//! the socketpair.
//!
//! Every get lands in a buffer allocated before the timing starts (`get_bytes_into`), and
//! the clock is read once per batch of messages (see `timed_batches`), the memcpy peers'
//! too.

use std::time::Duration;

use shmkit_core::WaitStrategy;
use shmkit_mq::{MessageQueue, MessageQueueOptions};

use crate::harness::{one_way, rate, round_trip, throughput, timed_batches, Bench, Endpoint, Timing, BATCH};
use crate::names::{
    FLOOR, FUTEX, MEMCPY4M, MEMCPY4M_CYCLING, PYQUEUE, PYQUEUE_ONE_WAY, QUEUE_PARKED, QUEUE_SPIN, SOCK64K,
};
use crate::peers::python;

/// The queue's `maxsize` in the one-way rows, Python's too.
const MAXSIZE: usize = 1024;

/// The small messages' size, ours and Python's.
const SMALL: usize = 16;

pub(super) fn rows(b: &mut Bench) {
    b.add("MessageQueue 8 B ping-pong (spin)", &[FLOOR, QUEUE_SPIN], |tm| {
        let (x, y) = MqPing::pair(WaitStrategy::Spin);
        round_trip(x, y, tm)
    });
    b.add("MessageQueue 8 B ping-pong (parked)", &[FUTEX, QUEUE_PARKED, PYQUEUE], |tm| {
        let (x, y) = MqPing::pair(WaitStrategy::Park);
        round_trip(x, y, tm)
    });
    b.try_add(PYQUEUE_ONE_WAY, &[], None, |tm| python::queue_one_way(SMALL, MAXSIZE, tm));
    b.add("MessageQueue 16 B one-way", &[PYQUEUE_ONE_WAY], |tm| {
        // 64-byte chunks: one per message, room for all MAXSIZE of them.
        rate(mq_one_way(SMALL, &MessageQueueOptions::new().chunk_size(64).pool_bytes(64 << 10), tm))
    });
    b.add("MessageQueue 64 KiB one-way (512 B chunks, the default)", &[SOCK64K], |tm| {
        throughput(64 << 10, mq_one_way(64 << 10, &MessageQueueOptions::new(), tm))
    });
    b.add("MessageQueue 64 KiB one-way (64 KiB chunks)", &[SOCK64K], |tm| {
        // One chunk per message, in the default 4 MiB pool.
        let opts = MessageQueueOptions::new().chunk_size(64 << 10);
        throughput(64 << 10, mq_one_way(64 << 10, &opts, tm))
    });
    b.add(MEMCPY4M, &[], |tm| throughput(FRAME, memcpy_4m(tm, 1)));
    b.add(MEMCPY4M_CYCLING, &[], |tm| throughput(FRAME, memcpy_4m(tm, POOL_FRAMES)));
    b.add(
        "MessageQueue 4 MiB loaned one-way (written once, read in place)",
        &[MEMCPY4M, MEMCPY4M_CYCLING],
        |tm| throughput(FRAME, mq_loaned(tm)),
    );
}

/// A camera frame's size, for the loaned rows.
const FRAME: usize = 4 << 20;

/// How many frames the loaned row's pool holds, and the cycling memcpy's destinations.
const POOL_FRAMES: usize = 4;

/// Copies of a 4 MiB buffer into another, in this process (all touched before timing): into
/// the same one each time (`frames` = 1, mostly cache-resident), or into each of `frames`
/// in turn, as the loaned row's writer does into its pool.
fn memcpy_4m(tm: Timing, frames: usize) -> (u64, Duration) {
    let src = vec![0x5Au8; FRAME];
    let mut dst = vec![0u8; FRAME * frames];
    let mut n = 0usize;
    timed_batches(tm, || {
        let at = (n % frames) * FRAME;
        dst[at..at + FRAME].copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&dst);
        n += 1;
        1
    })
}

/// 4 MiB messages one way, each written once into a loan (one copy from the writer's
/// buffer) and read in place by the reader (one byte per chunk touched, nothing copied).
fn mq_loaned(tm: Timing) -> (u64, Duration) {
    let opts = MessageQueueOptions::new().chunk_size(1 << 20).pool_bytes(POOL_FRAMES * FRAME);
    let mut q = MessageQueue::anonymous_with(POOL_FRAMES, &opts).unwrap();
    q.set_wait_strategy(WaitStrategy::Spin);
    one_way(
        tm,
        || {
            let src = vec![0x5Au8; FRAME];
            while let Ok(mut loan) = q.loan(FRAME) {
                loan.copy_from_slice(&src);
                if loan.send().is_err() {
                    break;
                }
            }
        },
        || {
            for _ in 0..4 {
                let touched = q.get_with(|m| m.pieces().map(|p| u64::from(p[0])).sum::<u64>()).unwrap();
                std::hint::black_box(touched);
            }
            4
        },
        || q.close(),
    )
}

/// Ping-pong of 8-byte messages over two message queues.
struct MqPing {
    tx: MessageQueue,
    rx: MessageQueue,
}

impl MqPing {
    fn pair(strategy: WaitStrategy) -> (Self, Self) {
        let opts = MessageQueueOptions::new().chunk_size(64).pool_bytes(4 << 10);
        let mut a = MessageQueue::anonymous_with(64, &opts).unwrap();
        let mut b = MessageQueue::anonymous_with(64, &opts).unwrap();
        a.set_wait_strategy(strategy);
        b.set_wait_strategy(strategy);
        let (a2, b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
        (Self { tx: a, rx: b }, Self { tx: b2, rx: a2 })
    }
}

impl Endpoint for MqPing {
    fn send(&mut self, v: u64) {
        self.tx.put_bytes(&v.to_le_bytes()).unwrap();
    }

    fn recv(&mut self) -> u64 {
        let mut buf = [0u8; 8];
        self.rx.get_bytes_into(&mut buf).unwrap();
        u64::from_le_bytes(buf)
    }
}

/// `n`-byte messages one way through a spinning message queue shaped by `opts`: the
/// child puts from its buffer until the parent closes the queue, the parent gets into its
/// own (both buffers written before the timing starts). The messages taken and the time.
fn mq_one_way(n: usize, opts: &MessageQueueOptions, tm: Timing) -> (u64, Duration) {
    let mut q = MessageQueue::anonymous_with(MAXSIZE, opts).unwrap();
    q.set_wait_strategy(WaitStrategy::Spin);
    let mut out = vec![0x5Au8; n];
    one_way(
        tm,
        || {
            let src = vec![0x5Au8; n];
            while q.put_bytes(&src).is_ok() {}
        },
        || {
            for _ in 0..BATCH {
                q.get_bytes_into(&mut out).unwrap();
            }
            std::hint::black_box(&out);
            BATCH
        },
        || q.close(),
    )
}
