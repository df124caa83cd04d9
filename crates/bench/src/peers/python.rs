//! Python's `multiprocessing` — the system the Python tutorial teaches — through `python3` when it is on
//! `PATH`, timed by Python itself the way the Rust rows are timed (`python.py`).

use std::io::ErrorKind;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use crate::figure::{Figure, Place, Stats};
use crate::harness::{cpus, fail, mark, Timing};

const SCRIPT: &str = include_str!("python.py");

/// The note for every Python row when there is no `python3`.
const NO_PYTHON: &str = "python3 is not on PATH: the Python rows are skipped";

/// Which `multiprocessing` channel a round trip goes through.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Channel {
    /// A pair of `multiprocessing.Queue`s, `put` and `get`.
    Queue,
    /// A duplex `multiprocessing.Pipe`, `send_bytes` and `recv_bytes`.
    Pipe,
    /// A `multiprocessing.connection.Listener` at an AF_UNIX path and the `Client` that
    /// connected to it (no authkey), `send_bytes` and `recv_bytes`.
    Listener,
}

/// Round trips of `bytes`-byte messages to a child process that echoes them.
pub(crate) fn round_trip(channel: Channel, bytes: usize, tm: Timing) -> Result<Figure, String> {
    let mode = match channel {
        Channel::Queue => "queue",
        Channel::Pipe => "pipe",
        Channel::Listener => "listener",
    };
    samples(mode, bytes, tm)
}

/// New connections with an authkey to a `multiprocessing.connection.Listener` at an
/// AF_UNIX path, one at a time from a `Client` in a child process: one sample per
/// connection, from the client's call until both sides hold it.
pub(crate) fn listener_connect(tm: Timing) -> Result<Figure, String> {
    samples("listener-connect", 0, tm)
}

/// A `multiprocessing.Process` that does nothing, started and joined, under the start
/// method `method` (`fork` or `spawn`); one sample per start+join.
pub(crate) fn process_start_join(method: &str, tm: Timing) -> Result<Figure, String> {
    samples(&format!("process-{method}"), 0, tm)
}

/// `Pool(2).apply(abs, (1,))`, one sample per call.
pub(crate) fn pool_apply(tm: Timing) -> Result<Figure, String> {
    samples("pool-apply", 0, tm)
}

/// `Pool(2).map(abs, range(items))`: nanoseconds per item.
pub(crate) fn pool_map(items: usize, tm: Timing) -> Result<Figure, String> {
    per_op("pool-map", items, tm)
}

/// Runs `mode`, which prints one sample per line or space.
fn samples(mode: &str, bytes: usize, tm: Timing) -> Result<Figure, String> {
    let out = python(mode, bytes, tm)?;
    let samples = out
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|e| format!("python3 {mode} printed something else than round trips ({e})"))?;
    if samples.is_empty() {
        return Err(format!("python3 {mode} timed no round trip"));
    }
    Ok(Figure::RoundTrip(Stats::from_nanos(samples)))
}

/// `with v.get_lock(): v.value += 1` on a `multiprocessing.Value`, in one process.
pub(crate) fn value_locked_increment(tm: Timing) -> Result<Figure, String> {
    per_op("value", 0, tm)
}

/// Runs `mode`, which prints nanoseconds per operation and the operation count.
fn per_op(mode: &str, size: usize, tm: Timing) -> Result<Figure, String> {
    let out = python(mode, size, tm)?;
    let mut it = out.split_whitespace();
    let bad = || format!("python3 {mode} printed {out:?}");
    let ns = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let ops = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok(Figure::PerOp { ns, ops })
}

/// Runs the script in `mode` and returns what it printed.
fn python(mode: &str, bytes: usize, tm: Timing) -> Result<String, String> {
    run(SCRIPT, mode, &[mode.to_owned(), bytes.to_string()], tm)
}

/// Python's `multiprocessing.Queue` one way: `bytes`-byte messages from a child process
/// into a queue of `maxsize`, items per second, timed by Python itself
/// (`python_queue_one_way.py`).
pub(crate) fn queue_one_way(bytes: usize, maxsize: usize, tm: Timing) -> Result<Figure, String> {
    const ONE_WAY: &str = include_str!("python_queue_one_way.py");
    let what = "Queue one-way";
    let out = run(ONE_WAY, what, &[bytes.to_string(), maxsize.to_string()], tm)?;
    let bad = || format!("python3 {what} printed {out:?}");
    let mut it = out.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(items)), Some(Ok(ns))) = (it.next(), it.next()) else { return Err(bad()) };
    if ns == 0 {
        return Err(bad());
    }
    Ok(crate::harness::rate((items, std::time::Duration::from_nanos(ns))))
}

/// What a `Manager().dict()` row does (`python_dict.py`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum DictOp {
    /// `d[k]`, from the one client.
    Get,
    /// `d[k] = v` on an existing key, from the one client.
    Set,
    /// `with lock: d[k] += 1` by two client processes.
    IncrLocked,
    /// `d[k] += 1` by two client processes, no lock (increments are lost).
    IncrPlain,
}

/// Python's `multiprocessing.Manager().dict()` of `keys` int keys, reached from client
/// processes: nanoseconds per operation (over both clients for the increments), timed by
/// Python itself (`python_dict.py`). The increments lost by [`DictOp::IncrPlain`] are
/// printed to standard error.
pub(crate) fn manager_dict(op: DictOp, keys: usize, tm: Timing) -> Result<Figure, String> {
    const DICT: &str = include_str!("python_dict.py");
    let mode = match op {
        DictOp::Get => "get",
        DictOp::Set => "set",
        DictOp::IncrLocked => "incr-locked",
        DictOp::IncrPlain => "incr-plain",
    };
    let what = format!("Manager().dict() {mode}");
    let out = run(DICT, &what, &[mode.to_owned(), keys.to_string()], tm)?;
    let bad = || format!("python3 {what} printed {out:?}");
    let mut it = out.split_whitespace();
    let ns: f64 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let ops: u64 = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    if let Some(lost) = it.next() {
        eprintln!("  python3 {what}: {lost} increments lost (over the whole run, warm-up included)");
    }
    Ok(Figure::PerOp { ns, ops })
}

/// Runs `script` (`what`, for messages) with `args`, then the warm-up and measuring times
/// and the two CPUs to pin to, and returns what it printed.
///
/// Python runs in a process group of its own, with its `multiprocessing` children; when it
/// fails, or is not done within `tm.limit()` (a child of its died and it waits for good),
/// the group is killed and the row fails. No `python3` on `PATH`: the row is skipped with
/// a note.
fn run(script: &str, what: &str, args: &[String], tm: Timing) -> Result<String, String> {
    // Every script but `value` (one process) runs processes.
    if what != "value" {
        mark(Place::Processes);
    }
    let (parent, child) = match cpus().pair {
        Some((p, c)) => (p as i64, c as i64),
        None => (-1, -1),
    };
    let timing = [
        tm.warmup.as_nanos().to_string(),
        tm.measure.as_nanos().to_string(),
        parent.to_string(),
        child.to_string(),
    ];
    let mut command = Command::new("python3");
    command.arg("-c").arg(script).args(args).args(&timing);
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let python = match command.spawn() {
        Ok(python) => python,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(NO_PYTHON.to_owned()),
        Err(e) => return Err(format!("python3 could not be started ({e}): the Python rows are skipped")),
    };
    let group = python.id() as libc::pid_t;
    // A thread collects the output (both pipes, so that neither fills) and the status;
    // this one waits for it, at most the row's limit. It ends before this function
    // returns: no thread outlives a row (the rows fork).
    let (tx, rx) = mpsc::channel();
    let collector = std::thread::spawn(move || {
        let _ = tx.send(python.wait_with_output());
    });
    let out = rx.recv_timeout(tm.limit());
    if out.is_err() {
        // SAFETY: plain system call; the group is Python's and its children's, which this
        // process made (Python is unreaped, so its id names it still).
        unsafe { libc::killpg(group, libc::SIGKILL) };
    }
    let out = out.or_else(|_| rx.recv());
    let _ = collector.join();
    let out = match out {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => fail(format!("python3 {what}: reading its output failed ({e})")),
        Err(_) => fail(format!("python3 {what}: no result from the thread that waited for it")),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        let how = match out.status.signal() {
            Some(libc::SIGKILL) => format!("killed, not done within {:.0?}", tm.limit()),
            _ => out.status.to_string(),
        };
        fail(format!("python3 {what} failed ({how}): {last}"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
