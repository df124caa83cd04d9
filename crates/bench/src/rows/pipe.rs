//! Pipe: 8-byte round trips beside the floor, the futex and Python's Pipe; large messages
//! one way beside the socketpair.

use shmkit_core::WaitStrategy;
use shmkit_pipe::{Connection, Pipe, PipeOptions};

use crate::figure::Figure;
use crate::harness::{one_way, round_trip, throughput, Bench, Endpoint, Timing};
use crate::names::{FLOOR, FUTEX, PYPIPE, SOCK64K};
use crate::peers::python::{self, Channel};

pub(super) fn rows(b: &mut Bench) {
    b.try_add(PYPIPE, &[], None, |tm| python::round_trip(Channel::Pipe, 8, tm));
    b.add("Pipe 8 B ping-pong (spin)", &[FLOOR], |tm| {
        let (x, y) = PipePing::pair(WaitStrategy::Spin);
        round_trip(x, y, tm)
    });
    b.add("Pipe 8 B ping-pong (parked)", &[FUTEX, PYPIPE], |tm| {
        let (x, y) = PipePing::pair(WaitStrategy::Park);
        round_trip(x, y, tm)
    });
    b.add("Pipe 64 KiB one-way", &[SOCK64K], |tm| pipe_one_way(64 << 10, 1 << 20, tm));
    b.add("Pipe 1 MiB one-way", &[SOCK64K], |tm| pipe_one_way(1 << 20, 4 << 20, tm));
}

/// One end of a duplex pipe, sending 8-byte messages.
struct PipePing(Connection);

impl PipePing {
    fn pair(strategy: WaitStrategy) -> (Self, Self) {
        let (mut a, mut b) = Pipe::new().unwrap();
        a.set_wait_strategy(strategy);
        b.set_wait_strategy(strategy);
        (Self(a), Self(b))
    }
}

impl Endpoint for PipePing {
    fn send(&mut self, v: u64) {
        self.0.send_bytes(&v.to_le_bytes()).unwrap();
    }

    fn recv(&mut self) -> u64 {
        let mut b = [0; 8];
        self.0.recv_bytes_into(&mut b).unwrap();
        u64::from_le_bytes(b)
    }
}

/// `n`-byte messages through a one-way pipe with a ring of `capacity` bytes: the child
/// sends from its buffer, the parent receives into its own (two copies, as a socket).
fn pipe_one_way(n: usize, capacity: usize, tm: Timing) -> Figure {
    let (r, w) = Pipe::simplex_with_options(&PipeOptions::new().capacity(capacity)).unwrap();
    let mut out = vec![0u8; n];
    throughput(
        n,
        one_way(
            tm,
            || {
                let src = vec![0x5Au8; n];
                while w.send_bytes(&src).is_ok() {}
            },
            || {
                r.recv_bytes_into(&mut out).unwrap();
                std::hint::black_box(&out);
                1
            },
            || r.close(),
        ),
    )
}
