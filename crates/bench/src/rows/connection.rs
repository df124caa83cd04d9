//! Connection (Listener and Client): 8-byte round trips beside the floor and Python's
//! `Listener`/`Client` over AF_UNIX (the bar: over shared memory, spinning, at
//! least 50 × faster than Python's round trip); and what a new authenticated connection
//! costs, beside Python's. Every row's name holds `Connection` or `Listener`, and so do
//! the Python peers' (`-- Connection` and `-- Listener` select a row with its peers).
//!
//! - Round trips, without an authkey: each process makes its own end when it first uses
//!   it (within the warm-up), the parent by binding the listener and accepting, the child
//!   by connecting (again until the listener is there). Neither can be made before the
//!   fork: a shared-memory listener accepts only in the process that bound it, and a
//!   shared-memory connection belongs to the process that connected or accepted (the
//!   harness's parent and child are both forked, and this process drops its copy of the
//!   child's closure once they are).
//! - Connect+accept+handshake, with an authkey: the listener (the parent, which binds it
//!   first thing) and a client (the child) take turns over a control pipe, so that one
//!   connection is made at a
//!   time, to a listener that is already waiting in `accept`. The child reads the clock
//!   just before its connect call and just after it returns; the listener just after its
//!   `accept` returns. One sample per connection: from the connect call until both sides
//!   hold the authenticated connection (the later of the two ends), on the one monotonic
//!   clock both processes read. Closing the connections, and the control messages, fall
//!   outside the samples.
//!
//! The listeners' names (a shared-memory name, a socket path in the temporary directory)
//! hold this process's id and a counter; both are removed when the listener is dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmkit_connection::{Client, Connection, Listener, Options};
use shmkit_core::WaitStrategy;
use shmkit_pipe::Pipe;

use crate::figure::{Figure, Stats};
use crate::harness::{round_trip, two_processes, Bench, Endpoint, Samples, Timing, STOP};
use crate::names::{FLOOR, PYCONN_ACCEPT, PYCONN_PING};
use crate::peers::python::{self, Channel};

/// The key of the handshake rows (Python's too).
const AUTHKEY: &[u8] = b"shmkit-bench";

/// How long the listener waits for its client's next connection before it gives the row
/// up (the client died, or hangs).
const CLIENT_LIMIT: Duration = Duration::from_secs(20);

pub(super) fn rows(b: &mut Bench) {
    b.try_add(PYCONN_PING, &[], None, |tm| python::round_trip(Channel::Listener, 8, tm));
    b.add("Connection (shm) 8 B ping-pong (spin)", &[FLOOR, PYCONN_PING], |tm| {
        let (x, y) = ConnPing::pair(Transport::Shm, WaitStrategy::Spin);
        round_trip(x, y, tm)
    });
    b.add("Connection (AF_UNIX) 8 B ping-pong", &[PYCONN_PING], |tm| {
        // The wait strategy is a shared-memory connection's; a socket sleeps in the kernel.
        let (x, y) = ConnPing::pair(Transport::Unix, WaitStrategy::Park);
        round_trip(x, y, tm)
    });
    b.try_add(PYCONN_ACCEPT, &[], None, python::listener_connect);
    b.add("Listener connect+accept+handshake (shm)", &[PYCONN_ACCEPT], |tm| {
        connect_accept(Transport::Shm, tm)
    });
    b.add("Listener connect+accept+handshake (AF_UNIX)", &[PYCONN_ACCEPT], |tm| {
        connect_accept(Transport::Unix, tm)
    });
}

/// Where a row's listener listens.
#[derive(Clone, Copy, Debug)]
enum Transport {
    /// A shared-memory name.
    Shm,
    /// An AF_UNIX socket path.
    Unix,
}

/// A listener's address, unique to this process and row.
#[derive(Clone, Debug)]
enum Address {
    Shm(String),
    Unix(PathBuf),
}

impl Transport {
    fn address(self) -> Address {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique =
            format!("shmkit-bench-conn-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        match self {
            Self::Shm => Address::Shm(unique),
            Self::Unix => Address::Unix(std::env::temp_dir().join(unique)),
        }
    }
}

impl Address {
    fn bind(&self, opts: &Options) -> Listener {
        match self {
            Self::Shm(name) => Listener::bind_with(name, opts),
            Self::Unix(path) => Listener::bind_unix_with(path, opts),
        }
        .unwrap_or_else(|e| panic!("bind a listener at {self:?}: {e}"))
    }

    fn connect(&self, opts: &Options) -> Connection {
        match self {
            Self::Shm(name) => Client::connect_with(name, opts),
            Self::Unix(path) => Client::connect_unix_with(path, opts),
        }
        .unwrap_or_else(|e| panic!("connect to {self:?}: {e}"))
    }

    /// As [`connect`](Self::connect), again every millisecond until the listener is
    /// there, for at most [`CLIENT_LIMIT`].
    fn connect_when_bound(&self, opts: &Options) -> Connection {
        let start = Instant::now();
        loop {
            let tried = match self {
                Self::Shm(name) => Client::connect_with(name, opts),
                Self::Unix(path) => Client::connect_unix_with(path, opts),
            };
            match tried {
                Ok(conn) => return conn,
                Err(e) if start.elapsed() > CLIENT_LIMIT => panic!("connect to {self:?}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

/// How an end of a ping-pong gets its connection.
enum Way {
    /// The listener's `accept` (the parent, which binds it, and keeps it here).
    Accept(Address, Option<Listener>),
    /// A client's connect (the child).
    Connect(Address),
}

/// One end of a connection, sending 8-byte messages; it connects or accepts when it is
/// first used, in the process that uses it.
struct ConnPing {
    way: Way,
    strategy: WaitStrategy,
    conn: Option<Connection>,
}

impl ConnPing {
    /// The parent's end (the listener, bound when first used, without an authkey) and the
    /// child's.
    fn pair(transport: Transport, strategy: WaitStrategy) -> (Self, Self) {
        let addr = transport.address();
        let end = |way| Self { way, strategy, conn: None };
        (end(Way::Accept(addr.clone(), None)), end(Way::Connect(addr)))
    }

    fn conn(&mut self) -> &Connection {
        let (way, strategy) = (&mut self.way, self.strategy);
        self.conn.get_or_insert_with(|| {
            let mut conn = match way {
                Way::Accept(addr, listener) => listener
                    .insert(addr.bind(&Options::new()))
                    .accept_timeout(Some(CLIENT_LIMIT))
                    .expect("accept the child"),
                Way::Connect(addr) => addr.connect_when_bound(&Options::new()),
            };
            conn.set_wait_strategy(strategy);
            conn
        })
    }
}

impl Endpoint for ConnPing {
    fn send(&mut self, v: u64) {
        self.conn().send_bytes(&v.to_le_bytes()).unwrap();
    }

    fn recv(&mut self) -> u64 {
        let mut b = [0; 8];
        self.conn().recv_bytes_into(&mut b).unwrap();
        u64::from_le_bytes(b)
    }
}

/// Connections with an authkey, one at a time, from a forked client (the child) to the
/// parent's listener: one sample per connection, from the client's connect call until both ends
/// hold it (see the module's doc).
fn connect_accept(transport: Transport, tm: Timing) -> Figure {
    let addr = transport.address();
    let child_addr = addr.clone();
    let opts = Options::new().authkey(AUTHKEY);
    let child_opts = opts.clone();
    // The control pipe: the listener's "connect now" (or STOP), the client's two clock
    // readings back. Both processes read the clock as nanoseconds since `base`: one
    // monotonic clock, whichever process reads it.
    let (ctl, ctl_child) = Pipe::new().expect("a control pipe");
    let base = Instant::now();
    let since = move || base.elapsed().as_nanos() as u64;
    let stats = two_processes(
        tm,
        move || {
            let mut word = [0u8; 8];
            loop {
                ctl_child.recv_bytes_into(&mut word).expect("the listener's go");
                if u64::from_le_bytes(word) == STOP {
                    break;
                }
                let called = since();
                let conn = child_addr.connect(&child_opts);
                let returned = since();
                let mut stamps = [0u8; 16];
                stamps[..8].copy_from_slice(&called.to_le_bytes());
                stamps[8..].copy_from_slice(&returned.to_le_bytes());
                ctl_child.send_bytes(&stamps).expect("the client's clock readings");
                drop(conn);
            }
        },
        move || {
            // Bound here, before the first "connect now": a shared-memory listener accepts
            // only in the process that bound it.
            let listener = addr.bind(&opts);
            let stats = each_sample(tm, || {
                ctl.send_bytes(&0u64.to_le_bytes()).expect("tell the client to connect");
                let conn = listener.accept_timeout(Some(CLIENT_LIMIT)).expect("accept the client");
                let accepted = since();
                drop(conn);
                let mut stamps = [0u8; 16];
                ctl.recv_bytes_into(&mut stamps).expect("the client's clock readings");
                let called = u64::from_le_bytes(stamps[..8].try_into().unwrap());
                let returned = u64::from_le_bytes(stamps[8..].try_into().unwrap());
                accepted.max(returned) - called
            });
            ctl.send_bytes(&STOP.to_le_bytes()).expect("stop the client");
            stats
        },
    );
    Figure::RoundTrip(stats)
}

/// Warms up, then keeps the samples `once` returns (nanoseconds each) until `tm` says it
/// is done.
fn each_sample(tm: Timing, mut once: impl FnMut() -> u64) -> Stats {
    let mut samples = Samples::new();
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        once();
    }
    let start = Instant::now();
    while !tm.done(start.elapsed(), samples.count()) {
        samples.push(once());
    }
    samples.stats()
}
