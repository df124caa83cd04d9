//! Processes, pinning, timing loops and the collector the rows are added to.

use std::any::Any;
use std::cell::Cell;
use std::mem::{align_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use shmkit_core::child::{self, Exit};
use shmkit_core::Segment;

use crate::figure::{Figure, Place, Row, Stats, Sweep};
use crate::names::FLOOR;

/// The value that tells a ping-pong's child to stop.
pub(crate) const STOP: u64 = u64::MAX;
/// Round trips kept at most per row.
const MAX_SAMPLES: usize = 2_000_000;
/// Items a rate loop moves between two clock reads, at least: a clock read costs more
/// than an SPSC put, so no contender reads it per item.
pub(crate) const BATCH: u64 = 256;
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
// Where a row runs, and how it fails

thread_local! {
    /// Where the running row has run so far (see [`mark`]).
    static PLACE: Cell<Place> = const { Cell::new(Place::OneProcess) };
}

/// Notes that the running row runs at `place`; a row's place is the widest it marks
/// (processes over threads over one process). [`two_processes`] and
/// [`one_way_threads`] mark theirs; rows whose processes are made elsewhere (pools,
/// Python) mark them themselves.
pub(crate) fn mark(place: Place) {
    PLACE.set(PLACE.get().max(place));
}

/// The payload a failed row unwinds with: why it failed.
struct RowFailed(String);

/// Fails the running row: unwinds to the collector (without a panic message), which
/// reports the row as failed, saying `why`, and goes on with the next row.
pub(crate) fn fail(why: String) -> ! {
    panic::resume_unwind(Box::new(RowFailed(why)))
}

/// Why a row failed, from what it unwound with.
fn failure(payload: Box<dyn Any + Send>) -> String {
    let payload = match payload.downcast::<RowFailed>() {
        Ok(failed) => return failed.0,
        Err(other) => other,
    };
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned());
    format!("panicked: {}", msg.as_deref().unwrap_or("(no message)"))
}

// ---------------------------------------------------------------------------------------
// Processes

/// How long a row's processes may run beyond twice the longest its timing allows (see
/// [`Timing::limit`]) before the row is failed and they are killed.
const SLACK: Duration = Duration::from_secs(60);
/// How long one of a row's two processes may go on once the other has ended cleanly.
const GRACE: Duration = Duration::from_secs(10);
/// Where the parent's result is in the page it hands it back in (a flag at 0).
const RESULT_AT: usize = 64;

impl Timing {
    /// How long a row's processes may take before the row fails: twice its warm-up and
    /// its longest measurement (`STRETCH` measuring times), and a minute more.
    pub fn limit(&self) -> Duration {
        SLACK + 2 * (self.warmup + self.measure * STRETCH)
    }
}

/// Runs `parent` in a forked process pinned to the first core and `in_child` in another
/// pinned to the second (when there are two), and returns what `parent` returned. This
/// process, pinned to the first core, sleeps until both have ended.
///
/// Neither side runs here, so that neither can take the run with it: when either ends
/// other than by returning (a panic, a signal), or they are not both done within
/// `tm.limit()` (or [`GRACE`] after the first ended), the other is killed and the row
/// fails, saying which and how.
///
/// This process keeps its copies of what the closures hold: `in_child`'s until both are
/// forked, as a parent drops its copy of what its child uses (a pipe's write end held
/// here would keep its reader from ever seeing the end); `parent`'s until both have ended,
/// as when the parent side ran in this process. Whatever only the process that made it
/// may use (a shared-memory listener's accept) is made by the side that uses it.
pub(crate) fn two_processes<T: Copy>(tm: Timing, in_child: impl FnOnce(), parent: impl FnOnce() -> T) -> T {
    mark(Place::Processes);
    let pair = cpus().pair;
    if let Some((p, _)) = pair {
        pin_to(p);
    }
    // The page the parent hands its result back in: a flag, and the value at RESULT_AT.
    let page = Segment::anonymous(4096).unwrap_or_else(|e| fail(format!("no page for the result: {e}")));
    assert!(size_of::<T>() <= page.len() - RESULT_AT && align_of::<T>() <= RESULT_AT);
    // SAFETY: the page is mapped, zeroed and 4096-aligned while `page` lives, here and in
    // both children, which inherit it.
    let done = unsafe { &*page.as_ptr().cast::<AtomicU32>() };
    // SAFETY: as above; RESULT_AT leaves room for a T, aligned (asserted).
    let slot = unsafe { page.as_ptr().add(RESULT_AT) }.cast::<T>();

    let (mut in_child, mut parent) = (Some(in_child), Some(parent));
    let child_pid = fork_pinned(pair.map(|(_, c)| c), || {
        if let Some(run) = in_child.take() {
            run();
        }
    })
    .unwrap_or_else(|e| fail(format!("fork failed: {e}")));
    let parent_pid = fork_pinned(pair.map(|(p, _)| p), || {
        if let Some(run) = parent.take() {
            let out = run();
            // SAFETY: `slot` is in the shared page, sized and aligned for a T; only this
            // process writes it, and the flag orders the write before this process's end.
            unsafe { slot.write(out) };
            done.store(1, Ordering::Release);
        }
    });
    drop(in_child);
    let ended = match parent_pid {
        Ok(parent_pid) => watch(parent_pid, child_pid, tm.limit()),
        Err(e) => {
            kill(child_pid);
            Err(format!("fork failed: {e}"))
        }
    };
    drop(parent);
    if let Err(why) = ended {
        fail(why);
    }
    if done.load(Ordering::Acquire) != 1 {
        fail("the parent process ended without its result".to_owned());
    }
    // SAFETY: the parent process wrote a T there before it set the flag, and has ended.
    unsafe { slot.read() }
}

/// Forks a child that pins itself to `cpu` (when given), runs `run` and exits (status
/// 101 if `run` panics, never unwinding into the caller's code).
fn fork_pinned(cpu: Option<usize>, run: impl FnOnce()) -> std::io::Result<u32> {
    let work = move || {
        if let Some(c) = cpu {
            pin_to(c);
        }
        run();
        0
    };
    // SAFETY: the child runs `run` on memory set up before the fork and `_exit`s; the
    // suite runs no other thread across a fork (see `run`).
    unsafe { child::fork_without_flush(work) }
}

/// SIGKILLs child `pid` and reaps it.
fn kill(pid: u32) {
    // SAFETY: plain system call; `pid` is an unreaped child of this process, so it names
    // that child still.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let _ = child::wait(pid);
}

/// One of a row's two processes, as [`watch`] sees it.
struct Watched {
    what: &'static str,
    pid: u32,
    /// Readable once the process has ended; `None` where the kernel has no pidfds.
    pidfd: Option<OwnedFd>,
    exit: Option<Exit>,
}

impl Watched {
    fn new(what: &'static str, pid: u32) -> Self {
        // SAFETY: plain system call; a non-negative result is a new descriptor
        // (close-on-exec) this process owns.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        // SAFETY: as just said.
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) });
        Self { what, pid, pidfd, exit: None }
    }
}

/// Waits until a row's two processes have both ended cleanly (exit status 0), at most
/// `limit`, sleeping on their pidfds (where the kernel has none, checking every 10 ms).
/// When one ends any other way, or time is up, kills what still runs and says why.
fn watch(parent: u32, child: u32, limit: Duration) -> Result<(), String> {
    let mut procs = [Watched::new("the parent process", parent), Watched::new("the child process", child)];
    let outcome = wait_clean(&mut procs, limit);
    for p in procs.iter().filter(|p| p.exit.is_none()) {
        kill(p.pid);
    }
    outcome
}

fn wait_clean(procs: &mut [Watched; 2], limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut deadline = start + limit;
    loop {
        for p in procs.iter_mut().filter(|p| p.exit.is_none()) {
            p.exit = child::try_wait(p.pid).map_err(|e| format!("waiting for {}: {e}", p.what))?;
        }
        // A process that did not end cleanly fails the row; when both did not, the one a
        // signal ended is named (the other most likely failed because of it).
        let unclean = |p: &&Watched| p.exit.is_some_and(|how| how != Exit::Code(0));
        let signalled = |p: &&Watched| matches!(p.exit, Some(Exit::Signal(_)));
        let culprit = procs.iter().filter(unclean).find(signalled).or_else(|| procs.iter().find(unclean));
        if let Some(p) = culprit {
            return Err(format!("{} {}", p.what, ended(p.exit.unwrap_or(Exit::Code(0)))));
        }
        let now = Instant::now();
        let running: Vec<&str> = procs.iter().filter(|p| p.exit.is_none()).map(|p| p.what).collect();
        match running[..] {
            [] => return Ok(()),
            // The other ended cleanly: this one should follow at once.
            [_] => deadline = deadline.min(now + GRACE),
            _ => {}
        }
        if now >= deadline {
            let (what, verb) = (running.join(" and "), if running.len() == 1 { "was" } else { "were" });
            let secs = (now - start).as_secs_f64();
            return Err(format!("{what} {verb} still running {secs:.1} s into the row: killed"));
        }
        sleep(procs, deadline - now);
    }
}

/// Sleeps until one of the running `procs` ends, at most `timeout`.
fn sleep(procs: &[Watched; 2], timeout: Duration) {
    let running = procs.iter().filter(|p| p.exit.is_none());
    let mut fds: Vec<libc::pollfd> = running
        .clone()
        .filter_map(|p| p.pidfd.as_ref())
        .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    let timeout = if fds.len() < running.count() { timeout.min(Duration::from_millis(10)) } else { timeout };
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: `fds` is `fds.len()` initialised pollfds. An interrupted poll (EINTR) just
    // returns early: the caller looks again.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
}

/// How a process ended, for a failed row: `panicked (exit status 101)`, `was killed by
/// signal 9 (SIGKILL)`.
fn ended(how: Exit) -> String {
    match how {
        Exit::Code(101) => "panicked (exit status 101)".to_owned(),
        Exit::Code(code) => format!("exited with status {code}"),
        Exit::Signal(sig) => {
            let name = match sig {
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGTERM => " (SIGTERM)",
                libc::SIGILL => " (SIGILL)",
                _ => "",
            };
            format!("was killed by signal {sig}{name}")
        }
    }
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

/// Samples in nanoseconds, kept in a buffer allocated for the most a row keeps and
/// written all through when it is made, so that no first touch of one of its pages (a
/// page fault) lands in a timed loop. Make it in the process that records the samples,
/// before the timing starts (a page written before a fork would fault again, copied on
/// write, when this process first writes it after).
pub(crate) struct Samples {
    buf: Vec<u64>,
    len: usize,
}

impl Samples {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(MAX_SAMPLES);
        // Not zeros: a zero fill of fresh memory may become a calloc that touches nothing.
        buf.resize(MAX_SAMPLES, 1);
        Self { buf: std::hint::black_box(buf), len: 0 }
    }

    /// Keeps `ns` (a sample past the most a row keeps is dropped; `Timing::done` stops
    /// before).
    #[inline]
    pub fn push(&mut self, ns: u64) {
        if let Some(at) = self.buf.get_mut(self.len) {
            *at = ns;
            self.len += 1;
        }
    }

    /// How many samples were kept.
    pub fn count(&self) -> usize {
        self.len
    }

    /// Their statistics.
    pub fn stats(mut self) -> Stats {
        self.buf.truncate(self.len);
        Stats::from_nanos(self.buf)
    }
}

/// Warms up, then times `once(v)` (one round trip carrying `v`) one call at a time until
/// `tm` says it is done.
pub(crate) fn time_round_trips(tm: Timing, mut once: impl FnMut(u64)) -> Stats {
    let mut samples = Samples::new();
    let mut v = 0u64;
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        once(v);
        v += 2;
    }
    let start = Instant::now();
    let mut last = start;
    loop {
        once(v);
        v += 2;
        let now = Instant::now();
        samples.push((now - last).as_nanos() as u64);
        last = now;
        if tm.done(now - start, samples.count()) {
            break;
        }
    }
    samples.stats()
}

/// The child echoes `v + 1` for every `v` until it receives STOP; the parent times each
/// round trip.
pub(crate) fn round_trip(mut parent: impl Endpoint, mut child: impl Endpoint, tm: Timing) -> Figure {
    let stats = two_processes(
        tm,
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
        tm,
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

/// Runs `take` (which moves some items and returns how many) for the warm-up, then for
/// the measuring time, reading the clock once per batch of at least [`BATCH`] items,
/// never per item. Returns the items moved while measuring, exactly, and the time from
/// the clock read before the first batch to the one after the last.
pub(crate) fn timed_batches(tm: Timing, mut take: impl FnMut() -> u64) -> (u64, Duration) {
    let mut batch = || {
        let mut n = 0;
        while n < BATCH {
            n += take();
        }
        n
    };
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        batch();
    }
    let start = Instant::now();
    let mut items = 0u64;
    loop {
        items += batch();
        let elapsed = start.elapsed();
        if elapsed >= tm.measure {
            return (items, elapsed);
        }
    }
}

/// The child runs `produce` until it fails (the parent closes the channel); the parent
/// runs `consume`, which returns how many items it took, for the measuring time (see
/// [`timed_batches`]), then `close`s. Returns the items taken and the time taken.
pub(crate) fn one_way(
    tm: Timing,
    produce: impl FnOnce(),
    consume: impl FnMut() -> u64,
    close: impl FnOnce(),
) -> (u64, Duration) {
    two_processes(tm, produce, move || {
        let out = timed_batches(tm, consume);
        close();
        out
    })
}

/// Calls the closure it holds when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// As [`one_way`] between two threads of this process pinned to the two cores (the
/// in-process peers): `produce` runs on a new thread until `close`, called on this one
/// once the measuring time is over, makes it return; `consume` runs here, timed the same
/// way.
pub(crate) fn one_way_threads(
    tm: Timing,
    produce: impl FnOnce() + Send,
    consume: impl FnMut() -> u64,
    close: impl FnOnce(),
) -> (u64, Duration) {
    mark(Place::Threads);
    let pair = cpus().pair;
    if let Some((p, _)) = pair {
        pin_to(p);
    }
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some((_, c)) = pair {
                pin_to(c);
            }
            produce();
        });
        // Stops the producer however this thread leaves (the scope waits for it).
        let _close = OnDrop(Some(close));
        timed_batches(tm, consume)
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

/// Times `op` over many iterations in this process, reading the clock once per 1000.
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
    /// The round now running.
    round: usize,
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
            round: 0,
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
    /// payload sweep. A row that fails ([`fail`], or a panic; a process of its that dies
    /// or hangs) is kept as [`Figure::Failed`], saying why, and the run goes on.
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
        let (tm, floor) = (self.timing, self.floor);
        let probe = name != FLOOR && versus.contains(&FLOOR);
        // A row that fails (`fail`, or any panic) unwinds to here and is reported failed.
        let ran = panic::catch_unwind(AssertUnwindSafe(|| {
            let floor_before = probe.then(|| floor(tm).headline());
            PLACE.set(Place::OneProcess);
            run(tm).map(|figure| (figure, floor_before))
        }));
        let (figure, floor_before) = match ran {
            Ok(Ok(measured)) => measured,
            Ok(Err(note)) => return self.note(note),
            Err(payload) => {
                let why = failure(payload);
                eprintln!("  {name} FAILED: {why}");
                (Figure::Failed(why), None)
            }
        };
        self.rows.push(Row {
            name: name.to_owned(),
            figure,
            place: PLACE.get(),
            versus: versus.iter().map(|v| v.to_string()).collect(),
            sweep,
            floor_before,
            round: self.round,
        });
    }

    /// Starts round `round`: the rows added from now on belong to it.
    pub fn start_round(&mut self, round: usize) {
        if round > 0 {
            eprintln!("round {} ...", round + 1);
        }
        self.round = round;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A row whose child is killed while its parent waits for it forever.
    fn killed_child(tm: Timing) -> Figure {
        let seg = Segment::anonymous(4096).unwrap();
        // SAFETY: the page is mapped while `seg` lives, here and in the forked processes.
        let word = unsafe { &*seg.as_ptr().cast::<AtomicU32>() };
        let got = two_processes(
            tm,
            // SAFETY: plain system call.
            || unsafe {
                libc::raise(libc::SIGKILL);
            },
            || {
                while word.load(Ordering::Acquire) == 0 {
                    std::hint::spin_loop();
                }
                1u64
            },
        );
        rate((got, Duration::from_secs(1)))
    }

    #[test]
    fn a_row_whose_process_dies_fails_and_the_run_goes_on() {
        let tm = Timing::new(true);
        let mut b = Bench::new(None, tm, |_| unreachable!());
        b.add("child killed", &[], killed_child);
        b.add("parent panics", &[], |tm| {
            let n: u64 = two_processes(tm, || {}, || panic!("on purpose"));
            rate((n, Duration::from_secs(1)))
        });
        b.add("fine", &[], |tm| rate((two_processes(tm, || {}, || 7u64), Duration::from_secs(1))));
        let out = b.finish();
        let figures: Vec<&Figure> = out.rows.iter().map(|r| &r.figure).collect();
        assert!(
            matches!(figures[0], Figure::Failed(why) if why == "the child process was killed by signal 9 (SIGKILL)"),
            "{figures:?}"
        );
        assert!(
            matches!(figures[1], Figure::Failed(why) if why.contains("parent process panicked")),
            "{figures:?}"
        );
        assert_eq!(figures[2], &Figure::Rate { per_sec: 7.0, items: 7 });
        assert!(out.rows.iter().all(|r| r.place == Place::Processes));
    }

    #[test]
    fn samples_are_written_before_use() {
        let mut s = Samples::new();
        assert_eq!(s.count(), 0);
        s.push(5);
        s.push(3);
        assert_eq!(s.count(), 2);
        assert_eq!(s.stats().samples, 2);
    }
}
