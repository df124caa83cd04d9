//! Cross-process benchmarks: two real processes, pinned to different cores where there are
//! two, every shmkit figure beside its floor and kernel peers from the same run.
//!
//! `cargo bench --bench ipc` prints one table. `cargo bench --bench ipc -- WORD` runs only
//! the rows whose name contains WORD.
//!
//! Method: fork a child, pin parent and child to different cores, warm up, then measure.
//! Round trips are timed one by one (one clock read per round trip) for at least half a
//! second; every sample is kept and sorted, so p50/p99/p99.9 are exact, not bucketed.
//! Throughput moves 64 KiB messages one way for at least half a second.
#![allow(missing_docs)]

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::{
    futex, spsc, Connection, Deadline, Event, Lock, Pipe, PipeOptions, Queue, Segment, Semaphore, Value,
    WaitStrategy,
};

const WARMUP: Duration = Duration::from_millis(100);
const MEASURE: Duration = Duration::from_millis(500);
const MAX_SAMPLES: usize = 2_000_000;
const STOP: u64 = u64::MAX;

// ---------------------------------------------------------------------------------------
// Processes

fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The cores this process may run on (not `available_parallelism`, which also counts a
/// cgroup's CPU quota).
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(allowed_cpus)
}

fn allowed_cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return 1;
        }
        libc::CPU_COUNT(&set) as usize
    }
}

/// Runs `child` in a forked process pinned to core 1 (parent on core 0), and `parent` here.
fn two_processes<T>(child: impl FnOnce(), parent: impl FnOnce() -> T) -> T {
    let two = cpus() >= 2;
    if two {
        pin_to(0);
    }
    // SAFETY: the child runs `child` and `_exit`s; the bench is single-threaded.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        if two {
            pin_to(1);
        }
        child();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    let out = parent();
    let mut status = 0;
    // SAFETY: reaps our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    out
}

// ---------------------------------------------------------------------------------------
// Statistics and the table

struct Stats {
    p50: f64,
    p99: f64,
    p999: f64,
    mean: f64,
    samples: usize,
}

impl Stats {
    fn from_nanos(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)] as f64;
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
        Self { p50: at(0.5), p99: at(0.99), p999: at(0.999), mean, samples: samples.len() }
    }
}

enum Figure {
    RoundTrip(Stats),
    Throughput {
        bytes_per_sec: f64,
        messages: u64,
    },
    /// Nanoseconds per operation, from a long loop timed as a whole.
    PerOp {
        ns: f64,
        ops: u64,
    },
    /// Items per second, one way.
    Rate {
        per_sec: f64,
        items: u64,
    },
}

impl Figure {
    /// The figure ratios are taken of: p50, ns per operation, or bytes per second.
    fn headline(&self) -> f64 {
        match self {
            Figure::RoundTrip(s) => s.p50,
            Figure::Throughput { bytes_per_sec, .. } => *bytes_per_sec,
            Figure::PerOp { ns, .. } => *ns,
            Figure::Rate { per_sec, .. } => *per_sec,
        }
    }
}

struct Row {
    name: String,
    figure: Figure,
    /// The row this one is compared with, and the bar if there is one.
    versus: Option<&'static str>,
}

struct Table {
    rows: Vec<Row>,
    filter: Option<String>,
}

impl Table {
    fn new() -> Self {
        let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
        Self { rows: Vec::new(), filter }
    }

    fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }

    fn add(&mut self, name: &str, versus: Option<&'static str>, run: impl FnOnce() -> Figure) {
        if !self.wants(name) {
            return;
        }
        eprintln!("running {name} ...");
        self.rows.push(Row { name: name.to_owned(), figure: run(), versus });
    }

    fn find(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    fn print(&self) {
        println!();
        println!(
            "{:<44} {:>9} {:>9} {:>9} {:>9} {:>12}  ratio",
            "round trip (ns) / throughput", "p50", "p99", "p99.9", "mean", "MiB/s, M/s"
        );
        println!("{}", "-".repeat(118));
        for row in &self.rows {
            let ratio = row.versus.and_then(|v| self.find(v)).map(|peer| {
                match row.figure.headline() / peer.figure.headline() {
                    r if r < 0.1 => format!("{:.0}x faster than {}", 1.0 / r, peer.name),
                    r if r > 10.0
                        && matches!(row.figure, Figure::Throughput { .. } | Figure::Rate { .. }) =>
                    {
                        format!("{r:.0}x {}", peer.name)
                    }
                    r => format!("{r:.2}x {}", peer.name),
                }
            });
            let ratio = ratio.unwrap_or_default();
            match &row.figure {
                Figure::RoundTrip(s) => println!(
                    "{:<44} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>12}  {}",
                    row.name, s.p50, s.p99, s.p999, s.mean, "", ratio
                ),
                Figure::Throughput { bytes_per_sec, .. } => println!(
                    "{:<44} {:>9} {:>9} {:>9} {:>9} {:>12.0}  {}",
                    row.name,
                    "",
                    "",
                    "",
                    "",
                    bytes_per_sec / (1024.0 * 1024.0),
                    ratio
                ),
                Figure::PerOp { ns, .. } => {
                    println!(
                        "{:<44} {:>9} {:>9} {:>9} {:>9.1} {:>12}  {}",
                        row.name, "", "", "", ns, "", ratio
                    )
                }
                Figure::Rate { per_sec, .. } => println!(
                    "{:<44} {:>9} {:>9} {:>9} {:>9} {:>10.1} M  {}",
                    row.name,
                    "",
                    "",
                    "",
                    "",
                    per_sec / 1e6,
                    ratio
                ),
            }
        }
        println!();
        for row in &self.rows {
            match &row.figure {
                Figure::RoundTrip(s) => println!("  {}: {} round trips", row.name, s.samples),
                Figure::Throughput { messages, .. } => println!("  {}: {} messages", row.name, messages),
                Figure::PerOp { ops, .. } => println!("  {}: {} operations", row.name, ops),
                Figure::Rate { items, .. } => println!("  {}: {} items", row.name, items),
            }
        }
        println!(
            "\n{} cores; parent pinned to core 0, child to core 1{}",
            cpus(),
            if cpus() >= 2 { "" } else { " (only one core: not pinned)" }
        );
    }
}

// ---------------------------------------------------------------------------------------
// Round trips

/// One side of a ping-pong: `send` a number, `recv` the answer.
trait Endpoint {
    fn send(&mut self, v: u64);
    fn recv(&mut self) -> u64;
}

/// The child echoes `v + 1` for every `v` until it receives STOP; the parent times each
/// round trip.
fn round_trip(mut parent: impl Endpoint, mut child: impl Endpoint) -> Figure {
    let stats = two_processes(
        move || loop {
            let v = child.recv();
            if v == STOP {
                break;
            }
            child.send(v + 1);
        },
        move || {
            let mut samples = Vec::with_capacity(MAX_SAMPLES);
            let mut v = 0u64;
            let start = Instant::now();
            while start.elapsed() < WARMUP {
                parent.send(v);
                assert_eq!(parent.recv(), v + 1);
                v += 2;
            }
            let start = Instant::now();
            let mut last = start;
            while samples.len() < MAX_SAMPLES && (last - start < MEASURE || samples.len() < 1000) {
                parent.send(v);
                let got = parent.recv();
                let now = Instant::now();
                debug_assert_eq!(got, v + 1);
                samples.push((now - last).as_nanos() as u64);
                last = now;
                v += 2;
            }
            parent.send(STOP);
            Stats::from_nanos(samples)
        },
    );
    Figure::RoundTrip(stats)
}

/// The floor: one cache line in shared memory, both sides spinning on it.
struct CacheLine {
    _seg: std::sync::Arc<Segment>,
    word: *const AtomicU64,
    last: u64,
}

impl CacheLine {
    fn pair() -> (Self, Self) {
        let seg = std::sync::Arc::new(Segment::anonymous(4096).unwrap());
        let word = seg.as_ptr().cast::<AtomicU64>() as *const AtomicU64;
        // SAFETY: the page is zeroed, aligned, and mapped while `_seg` lives.
        unsafe { (*word).store(u64::MAX - 1, Ordering::Relaxed) };
        let a = Self { _seg: seg.clone(), word, last: u64::MAX - 1 };
        let b = Self { _seg: seg, word, last: u64::MAX - 1 };
        (a, b)
    }

    fn word(&self) -> &AtomicU64 {
        // SAFETY: the mapping outlives `self` (held by `_seg`, inherited by the child).
        unsafe { &*self.word }
    }
}

impl Endpoint for CacheLine {
    fn send(&mut self, v: u64) {
        self.last = v;
        self.word().store(v, Ordering::Release);
    }

    fn recv(&mut self) -> u64 {
        loop {
            let v = self.word().load(Ordering::Acquire);
            if v != self.last {
                self.last = v;
                return v;
            }
            std::hint::spin_loop();
        }
    }
}

/// Both sides always sleep in the kernel: a store and an unconditional FUTEX_WAKE to
/// send, a FUTEX_WAIT to receive. The floor for parked waits.
struct FutexSleep {
    _seg: std::sync::Arc<Segment>,
    word: *const AtomicU32,
    value: *const AtomicU64,
    last: u32,
}

impl FutexSleep {
    fn pair() -> (Self, Self) {
        let seg = std::sync::Arc::new(Segment::anonymous(4096).unwrap());
        let word = seg.as_ptr().cast::<AtomicU32>() as *const AtomicU32;
        // SAFETY: offset 64 is inside the 4096-byte page and 8-aligned.
        let value = unsafe { seg.as_ptr().add(64) }.cast::<AtomicU64>() as *const AtomicU64;
        (Self { _seg: seg.clone(), word, value, last: 0 }, Self { _seg: seg, word, value, last: 0 })
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: as for `CacheLine::word`.
        unsafe { &*self.word }
    }

    fn value(&self) -> &AtomicU64 {
        // SAFETY: as for `CacheLine::word`.
        unsafe { &*self.value }
    }
}

impl Endpoint for FutexSleep {
    fn send(&mut self, v: u64) {
        self.value().store(v, Ordering::Relaxed);
        self.last = self.last.wrapping_add(1);
        self.word().store(self.last, Ordering::Release);
        futex::wake_all(self.word());
    }

    fn recv(&mut self) -> u64 {
        loop {
            let w = self.word().load(Ordering::Acquire);
            if w != self.last {
                self.last = w;
                return self.value().load(Ordering::Relaxed);
            }
            futex::wait(self.word(), w, Deadline::never());
        }
    }
}

/// An 8-byte message over a pair of kernel byte streams.
struct Stream {
    tx: std::fs::File,
    rx: std::fs::File,
}

impl Endpoint for Stream {
    fn send(&mut self, v: u64) {
        self.tx.write_all(&v.to_le_bytes()).unwrap();
    }

    fn recv(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.rx.read_exact(&mut b).unwrap();
        u64::from_le_bytes(b)
    }
}

fn os_pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors we own.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

fn os_socketpair() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0);
    // SAFETY: fresh descriptors we own.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

fn pipe_pair() -> (Stream, Stream) {
    let (r1, w1) = os_pipe();
    let (r2, w2) = os_pipe();
    (Stream { tx: w1, rx: r2 }, Stream { tx: w2, rx: r1 })
}

fn socket_pair() -> (Stream, Stream) {
    let (a, b) = os_socketpair();
    (Stream { tx: a.try_clone().unwrap(), rx: a }, Stream { tx: b.try_clone().unwrap(), rx: b })
}

// ---------------------------------------------------------------------------------------
// Throughput

/// The child writes `msg`-byte messages into `tx` until the parent, reading `rx`, has
/// measured for MEASURE and closes its end.
fn stream_throughput(rx: std::fs::File, tx: std::fs::File, msg: usize) -> Figure {
    let (rx, tx) = (rx.into_raw_fd(), tx.into_raw_fd());
    let (bytes, elapsed) = two_processes(
        || {
            // SAFETY: after fork each process owns its copies; the child keeps only `tx`.
            let mut tx = unsafe {
                libc::close(rx);
                std::fs::File::from_raw_fd(tx)
            };
            let buf = vec![0x5Au8; msg];
            // Ends with EPIPE once the parent closes its end.
            while tx.write_all(&buf).is_ok() {}
        },
        || {
            // SAFETY: as above; the parent keeps only `rx`.
            let mut rx = unsafe {
                libc::close(tx);
                std::fs::File::from_raw_fd(rx)
            };
            let mut buf = vec![0u8; msg];
            let start = Instant::now();
            while start.elapsed() < WARMUP {
                rx.read_exact(&mut buf).unwrap();
            }
            let start = Instant::now();
            let mut bytes = 0u64;
            while start.elapsed() < MEASURE {
                rx.read_exact(&mut buf).unwrap();
                bytes += msg as u64;
            }
            (bytes, start.elapsed())
        },
    );
    Figure::Throughput { bytes_per_sec: bytes as f64 / elapsed.as_secs_f64(), messages: bytes / msg as u64 }
}

// ---------------------------------------------------------------------------------------
// Synchronisation primitives

/// Times `op` over many iterations in this process.
fn per_op(mut op: impl FnMut()) -> Figure {
    let start = Instant::now();
    while start.elapsed() < WARMUP {
        op();
    }
    let mut ops = 0u64;
    let start = Instant::now();
    while start.elapsed() < MEASURE {
        for _ in 0..1000 {
            op();
        }
        ops += 1000;
    }
    Figure::PerOp { ns: start.elapsed().as_nanos() as f64 / ops as f64, ops }
}

/// Two processes take and release one lock in a tight loop for MEASURE; the figure is
/// the time per lock+unlock pair over both.
fn contended_lock() -> Figure {
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
                    std::thread::sleep(MEASURE);
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
    mine: std::sync::Arc<Event>,
    theirs: std::sync::Arc<Event>,
    value: CacheLine,
}

impl EventPing {
    fn pair(strategy: shmkit::WaitStrategy) -> (Self, Self) {
        let mut a = Event::anonymous().unwrap();
        let mut b = Event::anonymous().unwrap();
        a.set_wait_strategy(strategy);
        b.set_wait_strategy(strategy);
        let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
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

// ---------------------------------------------------------------------------------------
// Value

/// Two processes `fetch_add` one Value for MEASURE; ns per operation over both.
fn contended_fetch_add() -> Figure {
    let v = Value::<u64>::anonymous(0).unwrap();
    let stop = Value::<u64>::anonymous(0).unwrap();
    let child_ops = Value::<u64>::anonymous(0).unwrap();
    let spin = || {
        let mut n = 0u64;
        while stop.load() == 0 {
            v.fetch_add(1);
            n += 1;
        }
        n
    };
    let (ops, elapsed) = two_processes(
        || {
            child_ops.store(spin()).unwrap();
        },
        || {
            let start = Instant::now();
            std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(MEASURE);
                    stop.store(1).unwrap();
                });
                (spin(), start.elapsed())
            })
        },
    );
    let total = ops + child_ops.load();
    Figure::PerOp { ns: elapsed.as_nanos() as f64 / total as f64, ops: total }
}

/// Python's `with v.get_lock(): v.value += 1` on a `multiprocessing.Value`, timed by
/// python3 itself; `None` when there is no python3.
fn python_value_locked_increment() -> Option<Figure> {
    let script = "import time\nfrom multiprocessing import Value\nv = Value('i', 0)\nn = 300000\n\
                  t = time.perf_counter()\nfor _ in range(n):\n    with v.get_lock():\n        v.value += 1\n\
                  print((time.perf_counter() - t) / n * 1e9, n)";
    let out = std::process::Command::new("python3").args(["-c", script]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let ns = it.next()?.parse().ok()?;
    let ops = it.next()?.parse().ok()?;
    Some(Figure::PerOp { ns, ops })
}

// ---------------------------------------------------------------------------------------
// Queues

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
        for s in [&mut ta as &mut dyn SetStrategy, &mut ra, &mut tb, &mut rb] {
            s.set(strategy);
        }
        (Self { tx: ta, rx: rb }, Self { tx: tb, rx: ra })
    }
}

trait SetStrategy {
    fn set(&mut self, s: WaitStrategy);
}

impl SetStrategy for spsc::Producer<u64> {
    fn set(&mut self, s: WaitStrategy) {
        self.set_wait_strategy(s);
    }
}

impl SetStrategy for spsc::Consumer<u64> {
    fn set(&mut self, s: WaitStrategy) {
        self.set_wait_strategy(s);
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

/// The child runs `produce` until it fails (the parent closes the queue); the parent runs
/// `consume`, which returns how many items it took, for MEASURE, then `close`s.
fn one_way(
    produce: impl FnOnce(),
    mut consume: impl FnMut() -> u64,
    close: impl FnOnce(),
) -> (u64, Duration) {
    two_processes(produce, move || {
        let start = Instant::now();
        while start.elapsed() < WARMUP {
            consume();
        }
        let start = Instant::now();
        let mut items = 0u64;
        while start.elapsed() < MEASURE {
            items += consume();
        }
        let elapsed = start.elapsed();
        close();
        (items, elapsed)
    })
}

fn rate((items, elapsed): (u64, Duration)) -> Figure {
    Figure::Rate { per_sec: items as f64 / elapsed.as_secs_f64(), items }
}

fn spsc_one_way(batch: usize) -> Figure {
    let (mut tx, mut rx) = spsc::channel::<u64>(4096).unwrap();
    tx.set_wait_strategy(WaitStrategy::Spin);
    rx.set_wait_strategy(WaitStrategy::Spin);
    let mut buf = vec![0u64; batch];
    let mut i = 0u64;
    rate(one_way(
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

fn queue_one_way() -> Figure {
    let mut q = Queue::<u64>::anonymous(4096).unwrap();
    q.set_wait_strategy(WaitStrategy::Spin);
    let mut sum = 0u64;
    rate(one_way(
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

/// The in-process peer: rtrb's SPSC ring between two threads on cores 0 and 1.
fn rtrb_two_threads() -> Figure {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(4096);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let two = cpus() >= 2;
    if two {
        pin_to(0);
    }
    let producer = std::thread::spawn(move || {
        if two {
            pin_to(1);
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
    while start.elapsed() < WARMUP {
        pop();
    }
    let start = Instant::now();
    let mut items = 0u64;
    while start.elapsed() < MEASURE {
        items += pop();
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    rate((items, elapsed))
}

/// `N`-byte payloads written in place into an SPSC slot by the child (one copy from its
/// buffer) and copied out by the parent, as a socket's reader would.
fn spsc_in_place<const N: usize>(capacity: usize) -> Figure {
    let (mut tx, mut rx) = spsc::channel::<[u8; N]>(capacity).unwrap();
    tx.set_wait_strategy(WaitStrategy::Spin);
    rx.set_wait_strategy(WaitStrategy::Spin);
    let mut out = vec![0u8; N];
    let (items, elapsed) = one_way(
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
    );
    Figure::Throughput { bytes_per_sec: (items * N as u64) as f64 / elapsed.as_secs_f64(), messages: items }
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
fn pipe_one_way(n: usize, capacity: usize) -> Figure {
    let (r, w) = Pipe::simplex_with_options(&PipeOptions::new().capacity(capacity)).unwrap();
    let mut out = vec![0u8; n];
    let (items, elapsed) = one_way(
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
    );
    Figure::Throughput { bytes_per_sec: (items * n as u64) as f64 / elapsed.as_secs_f64(), messages: items }
}

/// Python's `multiprocessing.Queue` ping-pong between two processes, mean per round trip
/// as timed by python3 itself; `None` when there is no python3.
fn python_queue_ping_pong() -> Option<Figure> {
    let script = "import time, multiprocessing as mp\n\
                  def echo(a, b):\n    while True:\n        v = a.get()\n        if v is None:\n            break\n        b.put(v + 1)\n\
                  if __name__ == '__main__':\n    a, b = mp.Queue(), mp.Queue()\n    p = mp.Process(target=echo, args=(a, b))\n    p.start()\n\
                  \x20   for i in range(2000):\n        a.put(i); b.get()\n    n = 20000\n    t = time.perf_counter()\n\
                  \x20   for i in range(n):\n        a.put(i); b.get()\n    print((time.perf_counter() - t) / n * 1e9, n)\n\
                  \x20   a.put(None); p.join()\n";
    let out = std::process::Command::new("python3").args(["-c", script]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let ns = it.next()?.parse().ok()?;
    let ops = it.next()?.parse().ok()?;
    Some(Figure::PerOp { ns, ops })
}

fn main() {
    // Count the cores before any pinning narrows the set.
    cpus();
    // SIGPIPE would kill the throughput writers instead of giving them EPIPE.
    // SAFETY: plain system call.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };

    let mut t = Table::new();
    const FLOOR: &str = "floor: cache line ping-pong (spin)";
    const FUTEX: &str = "futex ping-pong (both always sleep)";
    const SOCK64K: &str = "socketpair 64 KiB one-way";

    t.add(FLOOR, None, || {
        let (a, b) = CacheLine::pair();
        round_trip(a, b)
    });
    t.add(FUTEX, Some(FLOOR), || {
        let (a, b) = FutexSleep::pair();
        round_trip(a, b)
    });
    t.add("kernel pipe 8 B ping-pong", Some(FUTEX), || {
        let (a, b) = pipe_pair();
        round_trip(a, b)
    });
    t.add("unix socketpair 8 B ping-pong", Some(FUTEX), || {
        let (a, b) = socket_pair();
        round_trip(a, b)
    });
    t.add("pipe 64 KiB one-way", Some(SOCK64K), || {
        let (r, w) = os_pipe();
        stream_throughput(r, w, 64 * 1024)
    });
    t.add(SOCK64K, None, || {
        let (a, b) = os_socketpair();
        stream_throughput(a, b, 64 * 1024)
    });

    const CAS: &str = "bare atomic CAS pair (in-process)";
    t.add(CAS, None, || {
        let word = AtomicU64::new(0);
        per_op(|| {
            let w = std::hint::black_box(&word);
            let _ = w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed);
            let _ = w.compare_exchange(1, 0, Ordering::Release, Ordering::Relaxed);
        })
    });
    t.add("Semaphore acquire+release, uncontended", Some(CAS), || {
        let sem = Semaphore::anonymous(1).unwrap();
        per_op(|| {
            sem.acquire();
            sem.release().unwrap();
        })
    });
    t.add("Lock lock+unlock, uncontended", Some(CAS), || {
        let lock = Lock::anonymous().unwrap();
        per_op(|| drop(lock.lock().unwrap()))
    });
    t.add("Lock lock+unlock, two processes contending", Some(FLOOR), contended_lock);
    t.add("Event ping-pong (spin, then park)", Some(FLOOR), || {
        let (a, b) = EventPing::pair(shmkit::WaitStrategy::default());
        round_trip(a, b)
    });
    t.add("Event ping-pong (parked)", Some(FUTEX), || {
        let (a, b) = EventPing::pair(shmkit::WaitStrategy::Park);
        round_trip(a, b)
    });

    const PYVALUE: &str = "python3 multiprocessing.Value locked += 1";
    if t.wants(PYVALUE) {
        match python_value_locked_increment() {
            Some(fig) => t.add(PYVALUE, None, || fig),
            None => eprintln!("note: python3 is not here: the Python Value row is skipped"),
        }
    }
    t.add("Value<u64> load", Some(PYVALUE), || {
        let v = Value::<u64>::anonymous(7).unwrap();
        per_op(|| {
            std::hint::black_box(v.load());
        })
    });
    t.add("Value<u64> store", Some(PYVALUE), || {
        let v = Value::<u64>::anonymous(7).unwrap();
        let mut i = 0;
        per_op(|| {
            i += 1;
            v.store(i).unwrap();
        })
    });
    t.add("Value<u64> fetch_add, uncontended", Some(PYVALUE), || {
        let v = Value::<u64>::anonymous(0).unwrap();
        per_op(|| {
            v.fetch_add(1);
        })
    });
    t.add("Value<u64> fetch_add, two processes contending", Some(PYVALUE), contended_fetch_add);
    t.add("Value<u64> locked increment (get_lock)", Some(PYVALUE), || {
        let v = Value::<u64>::anonymous(0).unwrap();
        per_op(|| {
            v.get_lock().unwrap().update(|x| x + 1);
        })
    });
    const PYQUEUE: &str = "python3 multiprocessing.Queue ping-pong (mean)";
    if t.wants(PYQUEUE) {
        match python_queue_ping_pong() {
            Some(fig) => t.add(PYQUEUE, None, || fig),
            None => eprintln!("note: python3 is not here: the Python Queue row is skipped"),
        }
    }
    t.add("Queue<u64> ping-pong (spin)", Some(FLOOR), || {
        let (a, b) = QueuePing::pair(WaitStrategy::Spin);
        round_trip(a, b)
    });
    t.add("SPSC u64 ping-pong (spin)", Some(FLOOR), || {
        let (a, b) = SpscPing::pair(WaitStrategy::Spin);
        round_trip(a, b)
    });
    t.add("Queue<u64> ping-pong (parked)", Some(FUTEX), || {
        let (a, b) = QueuePing::pair(WaitStrategy::Park);
        round_trip(a, b)
    });
    t.add("SPSC u64 ping-pong (parked)", Some(FUTEX), || {
        let (a, b) = SpscPing::pair(WaitStrategy::Park);
        round_trip(a, b)
    });
    const RTRB: &str = "rtrb SPSC u64 one-way, two threads";
    t.add(RTRB, None, rtrb_two_threads);
    t.add("SPSC u64 one-way", Some(RTRB), || spsc_one_way(1));
    t.add("SPSC u64 one-way, batches of 64", Some(RTRB), || spsc_one_way(64));
    t.add("Queue<u64> one-way", Some(RTRB), queue_one_way);
    t.add("SPSC 4 KiB in place one-way", Some(SOCK64K), || spsc_in_place::<4096>(64));
    t.add("SPSC 1 MiB in place one-way", Some(SOCK64K), || spsc_in_place::<{ 1 << 20 }>(8));
    t.add("Pipe 8 B ping-pong (spin)", Some(FLOOR), || {
        let (a, b) = PipePing::pair(WaitStrategy::Spin);
        round_trip(a, b)
    });
    t.add("Pipe 8 B ping-pong (parked)", Some(FUTEX), || {
        let (a, b) = PipePing::pair(WaitStrategy::Park);
        round_trip(a, b)
    });
    t.add("Pipe 64 KiB one-way", Some(SOCK64K), || pipe_one_way(64 << 10, 1 << 20));
    t.add("Pipe 1 MiB one-way", Some(SOCK64K), || pipe_one_way(1 << 20, 4 << 20));
    t.print();
}
