//! The payload sweep: round trips of 8 B to 1 MiB messages (the same size each way)
//! through shmkit's Queue and Pipe, the kernel's pipe and socketpair, and Python's Queue
//! and Pipe. Every row is one point of the chart.
//!
//! shmkit's Queue and Pipe spin (`WaitStrategy::Spin`) here: the sweep shows what the
//! payload costs, so the wake-up is kept out of it (the parked 8-byte rows above show
//! the wake-up).

use shmkit_core::WaitStrategy;
use shmkit_pipe::{Connection, Pipe, PipeOptions};
use shmkit_queue::Queue;

use crate::figure::{bytes_label, Figure, Sweep};
use crate::harness::{round_trip_bytes, Bench, Echo, Timing};
use crate::kernel::{pipe_pair, socket_pair};
use crate::peers::python::{self, Channel};

/// The payload sizes, in bytes.
const SIZES: [usize; 6] = [8, 64, 512, 4 << 10, 64 << 10, 1 << 20];

const QUEUE: &str = "shmkit Queue<[u8; N]> (spin)";
const PIPE: &str = "shmkit Pipe (spin)";
const KERNEL_PIPE: &str = "kernel pipe";
const SOCKETPAIR: &str = "unix socketpair";
const PY_QUEUE: &str = "python3 multiprocessing.Queue";
const PY_PIPE: &str = "python3 multiprocessing.Pipe";

pub(super) fn rows(b: &mut Bench) {
    for n in SIZES {
        let name = |series: &str| format!("sweep {} round trip: {series}", bytes_label(n as f64));
        let at = |series: &str| Some(Sweep { series: series.to_owned(), bytes: n });
        let (socketpair, py_queue, py_pipe) = (name(SOCKETPAIR), name(PY_QUEUE), name(PY_PIPE));

        b.try_add(&name(KERNEL_PIPE), &[], at(KERNEL_PIPE), |tm| {
            let (x, y) = pipe_pair();
            Ok(round_trip_bytes(x, y, n, tm))
        });
        b.try_add(&socketpair, &[], at(SOCKETPAIR), |tm| {
            let (x, y) = socket_pair();
            Ok(round_trip_bytes(x, y, n, tm))
        });
        b.try_add(&py_queue, &[], at(PY_QUEUE), |tm| python::round_trip(Channel::Queue, n, tm));
        b.try_add(&py_pipe, &[], at(PY_PIPE), |tm| python::round_trip(Channel::Pipe, n, tm));
        b.try_add(&name(QUEUE), &[&socketpair[..], &py_queue[..]], at(QUEUE), |tm| {
            Ok(queue_round_trip(n, tm))
        });
        b.try_add(&name(PIPE), &[&socketpair[..], &py_pipe[..]], at(PIPE), |tm| {
            let (x, y) = PipeEcho::pair(n);
            Ok(round_trip_bytes(x, y, n, tm))
        });
    }
}

/// `Queue<[u8; n]>` round trips, for the sizes of the sweep.
fn queue_round_trip(n: usize, tm: Timing) -> Figure {
    fn sized<const N: usize>(tm: Timing) -> Figure {
        let (x, y) = QueueEcho::<N>::pair();
        round_trip_bytes(x, y, N, tm)
    }
    match n {
        8 => sized::<8>(tm),
        64 => sized::<64>(tm),
        512 => sized::<512>(tm),
        4096 => sized::<4096>(tm),
        65536 => sized::<65536>(tm),
        1048576 => sized::<1048576>(tm),
        _ => unreachable!("no Queue row for {n} bytes"),
    }
}

/// Messages through two `Queue<[u8; N]>`, written into the slot and copied out of it in
/// place (`put_with`, `get_with`): one copy in, one copy out, as a socket.
pub(super) struct QueueEcho<const N: usize> {
    tx: Queue<[u8; N]>,
    rx: Queue<[u8; N]>,
}

impl<const N: usize> QueueEcho<N> {
    pub(super) fn pair() -> (Self, Self) {
        // A few slots are plenty for a ping-pong; keep the largest queues to a few MiB.
        let capacity = (256 * 1024 / N).clamp(4, 64);
        let mut a = Queue::<[u8; N]>::anonymous(capacity).unwrap();
        let mut b = Queue::<[u8; N]>::anonymous(capacity).unwrap();
        a.set_wait_strategy(WaitStrategy::Spin);
        b.set_wait_strategy(WaitStrategy::Spin);
        let (a2, b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
        (Self { tx: a, rx: b }, Self { tx: b2, rx: a2 })
    }
}

impl<const N: usize> Echo for QueueEcho<N> {
    fn send(&mut self, msg: &[u8]) {
        self.tx.put_with(|slot| slot.copy_from_slice(msg)).unwrap();
    }

    fn recv(&mut self, buf: &mut [u8]) {
        self.rx.get_with(|m| buf.copy_from_slice(m)).unwrap();
    }
}

/// Messages through a duplex Pipe whose rings hold a whole message (`send_bytes`,
/// `recv_bytes_into`).
struct PipeEcho(Connection);

impl PipeEcho {
    fn pair(n: usize) -> (Self, Self) {
        let capacity = (n + 64).next_power_of_two().max(64 << 10);
        let (mut a, mut b) = Pipe::with_options(&PipeOptions::new().capacity(capacity)).unwrap();
        a.set_wait_strategy(WaitStrategy::Spin);
        b.set_wait_strategy(WaitStrategy::Spin);
        (Self(a), Self(b))
    }
}

impl Echo for PipeEcho {
    fn send(&mut self, msg: &[u8]) {
        self.0.send_bytes(msg).unwrap();
    }

    fn recv(&mut self, buf: &mut [u8]) {
        let got = self.0.recv_bytes_into(buf).unwrap();
        debug_assert_eq!(got, buf.len());
    }
}
