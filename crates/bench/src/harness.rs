//! Processes, pinning, timing loops and the collector the rows are added to.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shmkit_core::child;

use crate::figure::{Figure, Row, Stats, Sweep};
use crate::names::FLOOR;

/// The value that tells a ping-pong's child to stop.
pub(crate) const STOP: u64 = u64::MAX;
/// Round trips kept at most per row.
const MAX_SAMPLES: usize = 2_000_000;
/// Round trips a row wants at least, unless they take longer than `STRETCH` measuring
/// times (large payloads, Python).
const MIN_SAMPLES: usize = 1000;
const STRETCH: u32 = 4;

/// How long each row warms up and measures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub warmup: Duration,
    pub measure: Duration,
}

impl Timing {
    /// The short timing (`--quick`) or the normal one.
    pub fn new(quick: bool) -> Self {
        if quick {
            Self { warmup: Duration::from_millis(20), measure: Duration::from_millis(100) }
        } else {
            Self { warmup: Duration::from_millis(100), measure: Duration::from_millis(500) }
        }
    }

    /// Whether a round-trip measurement that has run `elapsed` with `samples` may stop.
    pub fn done(&self, elapsed: Duration, samples: usize) -> bool {
        samples >= MAX_SAMPLES
            || (elapsed >= self.measure && (samples >= MIN_SAMPLES || elapsed >= self.measure * STRETCH))
    }
}

// ---------------------------------------------------------------------------------------
// Cores

/// The cores this process may run on when the suite first looks (before any pinning
/// narrows the set), and the two the parent and the child are pinned to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cpus {
    /// How many cores the process may run on (not `available_parallelism`, which also
    /// counts a cgroup's CPU quota).
    pub count: usize,
    /// The parent's core and the child's, when there are two.
    pub pair: Option<(usize, usize)>,
}

pub(crate) fn cpus() -> Cpus {
    static CPUS: OnceLock<Cpus> = OnceLock::new();
    *CPUS.get_or_init(|| {
        let Ok(allowed) = child::allowed_cpus() else { return Cpus { count: 1, pair: None } };
        let pair = (allowed.len() >= 2).then(|| (allowed[0], allowed[1]));
        Cpus { count: allowed.len().max(1), pair }
    })
}

/// Pins the calling thread to `cpu`; a core that cannot be pinned to leaves the thread
/// where it was (the row is measured unpinned, as on a one-core machine).
pub(crate) fn pin_to(cpu: usize) {
    let _ = child::pin_to_cpu(cpu);
}

// ---------------------------------------------------------------------------------------
// Processes

/// Runs `in_child` in a forked process pinned to the second core (this process on the
/// first), and `parent` here; reaps the child when `parent` returns.
pub(crate) fn two_processes<T>(in_child: impl FnOnce(), parent: impl FnOnce() -> T) -> T {
    let pair = cpus().pair;
    if let Some((p, _)) = pair {
        pin_to(p);
    }
    let work = move || {
        if let Some((_, c)) = pair {
            pin_to(c);
        }
        in_child();
        0
    };
    // SAFETY: the child runs `in_child` on memory set up before the fork and `_exit`s (a
    // panic exits 101, never unwinding into the parent's code); the suite runs no other
    // thread across a fork (see `run`).
    let pid = unsafe { child::fork_without_flush(work) }.unwrap_or_else(|e| panic!("fork failed: {e}"));
    let out = parent();
    let _ = child::wait(pid);
    out
}

// ---------------------------------------------------------------------------------------
// Round trips

/// One side of an 8-byte ping-pong: `send` a number, `recv` the answer.
pub(crate) trait Endpoint {
    fn send(&mut self, v: u64);
    fn recv(&mut self) -> u64;
}

/// One side of a ping-pong of `n`-byte messages.
pub(crate) trait Echo {
    /// Sends `msg`, all of it.
    fn send(&mut self, msg: &[u8]);
    /// Receives one whole message into `buf`, which is the message's size.
    fn recv(&mut self, buf: &mut [u8]);
}

/// Warms up, then times `once(v)` (one round trip carrying `v`) one call at a time until
/// `tm` says it is done.
pub(crate) fn time_round_trips(tm: Timing, mut once: impl FnMut(u64)) -> Stats {
    let mut v = 0u64;
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        once(v);
        v += 2;
    }
    let mut samples = Vec::with_capacity(MAX_SAMPLES);
    let start = Instant::now();
    let mut last = start;
    loop {
        once(v);
        v += 2;
        let now = Instant::now();
        samples.push((now - last).as_nanos() as u64);
        last = now;
        if tm.done(now - start, samples.len()) {
            break;
        }
    }
    Stats::from_nanos(samples)
}

/// The child echoes `v + 1` for every `v` until it receives STOP; the parent times each
/// round trip.
pub(crate) fn round_trip(mut parent: impl Endpoint, mut child: impl Endpoint, tm: Timing) -> Figure {
    let stats = two_processes(
        move || loop {
            let v = child.recv();
            if v == STOP {
                break;
            }
            child.send(v + 1);
        },
        move || {
            let stats = time_round_trips(tm, |v| {
                parent.send(v);
                let got = parent.recv();
                debug_assert_eq!(got, v + 1);
            });
            parent.send(STOP);
            stats
        },
    );
    Figure::RoundTrip(stats)
}

/// As [`round_trip`] with `n`-byte messages (`n >= 8`): the number travels in the first 8
/// bytes, and the child sends back the whole message it received.
pub(crate) fn round_trip_bytes(mut parent: impl Echo, mut child: impl Echo, n: usize, tm: Timing) -> Figure {
    assert!(n >= 8);
    let word = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap());
    let stats = two_processes(
        move || {
            let mut buf = vec![0x5Au8; n];
            loop {
                child.recv(&mut buf);
                let v = word(&buf);
                if v == STOP {
                    break;
                }
                buf[..8].copy_from_slice(&(v + 1).to_le_bytes());
                child.send(&buf);
            }
        },
        move || {
            let mut msg = vec![0x5Au8; n];
            let mut back = vec![0u8; n];
            let stats = time_round_trips(tm, |v| {
                msg[..8].copy_from_slice(&v.to_le_bytes());
                parent.send(&msg);
                parent.recv(&mut back);
                debug_assert_eq!(word(&back), v + 1);
            });
            msg[..8].copy_from_slice(&STOP.to_le_bytes());
            parent.send(&msg);
            stats
        },
    );
    Figure::RoundTrip(stats)
}

// ---------------------------------------------------------------------------------------
// One way, and per operation

/// The child runs `produce` until it fails (the parent closes the channel); the parent
/// runs `consume`, which returns how many items it took, for the measuring time, then
/// `close`s. Returns the items taken and the time taken.
pub(crate) fn one_way(
    tm: Timing,
    produce: impl FnOnce(),
    mut consume: impl FnMut() -> u64,
    close: impl FnOnce(),
) -> (u64, Duration) {
    two_processes(produce, move || {
        let start = Instant::now();
        while start.elapsed() < tm.warmup {
            consume();
        }
        let start = Instant::now();
        let mut items = 0u64;
        while start.elapsed() < tm.measure {
            items += consume();
        }
        let elapsed = start.elapsed();
        close();
        (items, elapsed)
    })
}

/// Items per second.
pub(crate) fn rate((items, elapsed): (u64, Duration)) -> Figure {
    Figure::Rate { per_sec: items as f64 / elapsed.as_secs_f64(), items }
}

/// Bytes per second of `items` messages of `n` bytes.
pub(crate) fn throughput(n: usize, (items, elapsed): (u64, Duration)) -> Figure {
    Figure::Throughput { bytes_per_sec: (items * n as u64) as f64 / elapsed.as_secs_f64(), messages: items }
}

/// Times `op` over many iterations in this process.
pub(crate) fn per_op(tm: Timing, mut op: impl FnMut()) -> Figure {
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        op();
    }
    let mut ops = 0u64;
    let start = Instant::now();
    while start.elapsed() < tm.measure {
        for _ in 0..1000 {
            op();
        }
        ops += 1000;
    }
    Figure::PerOp { ns: start.elapsed().as_nanos() as f64 / ops as f64, ops }
}

// ---------------------------------------------------------------------------------------
// The collector

/// What a run leaves for its report: the rows in the order they ran, the notes, and the
/// cores.
pub(crate) struct Outcome {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub cpus: Cpus,
}

/// Collects the rows of one run.
pub(crate) struct Bench {
    filter: Option<String>,
    timing: Timing,
    /// Measures the floor ([`FLOOR`]), again before each row compared with it.
    floor: fn(Timing) -> Figure,
    rows: Vec<Row>,
    notes: Vec<String>,
    /// The affinity and SIGPIPE disposition to restore when the run ends.
    saved_affinity: Option<Vec<usize>>,
    saved_sigpipe: libc::sighandler_t,
}

impl Bench {
    /// A collector running the rows whose name contains `filter` (all when `None`) with
    /// `timing`; `floor` measures the floor row.
    pub fn new(filter: Option<String>, timing: Timing, floor: fn(Timing) -> Figure) -> Self {
        // Count the cores before any pinning narrows the set.
        cpus();
        // SIGPIPE would kill the throughput writers instead of giving them EPIPE.
        // SAFETY: plain system call; the old disposition is restored in `finish`.
        let saved_sigpipe = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        Self {
            filter,
            timing,
            floor,
            rows: Vec::new(),
            notes: Vec::new(),
            saved_affinity: child::allowed_cpus().ok(),
            saved_sigpipe,
        }
    }

    /// Whether the filter selects the row `name`.
    pub fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }

    /// Runs and adds the row `name`, compared with the rows `versus`, when the filter
    /// selects it.
    pub fn add(&mut self, name: &str, versus: &[&str], run: impl FnOnce(Timing) -> Figure) {
        self.try_add(name, versus, None, |tm| Ok(run(tm)));
    }

    /// As [`add`](Self::add) for a row that may be skipped: `run` returns the note that
    /// says why, printed once however many rows give it. `sweep` places the row in the
    /// payload sweep.
    pub fn try_add(
        &mut self,
        name: &str,
        versus: &[&str],
        sweep: Option<Sweep>,
        run: impl FnOnce(Timing) -> Result<Figure, String>,
    ) {
        if !self.wants(name) {
            return;
        }
        eprintln!("running {name} ...");
        let floor_before =
            (name != FLOOR && versus.contains(&FLOOR)).then(|| (self.floor)(self.timing).headline());
        match run(self.timing) {
            Ok(figure) => self.rows.push(Row {
                name: name.to_owned(),
                figure,
                versus: versus.iter().map(|v| v.to_string()).collect(),
                sweep,
                floor_before,
            }),
            Err(note) => self.note(note),
        }
    }

    /// Prints `note` to standard error and keeps it for the report, once.
    pub fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            eprintln!("note: {note}");
            self.notes.push(note);
        }
    }

    /// Restores what the run changed and returns what it measured.
    pub fn finish(mut self) -> Outcome {
        if let Some(cpus) = &self.saved_affinity {
            let _ = child::set_allowed_cpus(cpus);
        }
        // SAFETY: plain system call, putting back the disposition `new` found.
        unsafe { libc::signal(libc::SIGPIPE, self.saved_sigpipe) };
        Outcome { rows: std::mem::take(&mut self.rows), notes: std::mem::take(&mut self.notes), cpus: cpus() }
    }
}
