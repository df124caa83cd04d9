//! Processes and pools, beside Python's `multiprocessing.Process` and `Pool`.
//!
//! The spawn rows start the benchmark's own program again: whatever runs the suite
//! calls `shmkit_process::init()` first thing in `main` (`benches/ipc.rs` of this crate
//! and the `shmkit` command do).

use std::time::Instant;

use shmkit_process::{Pool, Process, StartMethod};

use crate::figure::{Figure, Place};
use crate::harness::{mark, Bench, Samples, Timing};
use crate::peers::python;

const PY_FORK: &str = "python3 multiprocessing Process start+join (fork)";
const PY_SPAWN: &str = "python3 multiprocessing Process start+join (spawn)";
const PY_APPLY: &str = "python3 multiprocessing Pool(2).apply round trip";
const PY_MAP: &str = "python3 multiprocessing Pool(2).map, per item";

/// Items per `map` call.
const MAP_ITEMS: usize = 20_000;

fn nothing(_: ()) {}

fn identity(x: u64) -> u64 {
    x
}

/// Samples of `once` (nanoseconds each) for the measuring time, after a warm-up. The
/// rows that use it start processes.
fn each(tm: Timing, mut once: impl FnMut()) -> Figure {
    mark(Place::Processes);
    let mut samples = Samples::new();
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        once();
    }
    let start = Instant::now();
    let mut last = start;
    while !tm.done(last - start, samples.count()) {
        once();
        let now = Instant::now();
        samples.push((now - last).as_nanos() as u64);
        last = now;
    }
    Figure::RoundTrip(samples.stats())
}

fn start_join(method: StartMethod) -> impl FnMut() {
    move || {
        let mut p = Process::call(nothing, ()).start_method(method);
        p.start().expect("start a process");
        assert_eq!(p.join().expect("join it"), 0);
    }
}

pub(super) fn rows(b: &mut Bench) {
    b.try_add(PY_FORK, &[], None, |tm| python::process_start_join("fork", tm));
    b.add("Process start+join (fork)", &[PY_FORK], |tm| each(tm, start_join(StartMethod::Fork)));
    b.try_add(PY_SPAWN, &[], None, |tm| python::process_start_join("spawn", tm));
    b.add("Process start+join (spawn)", &[PY_SPAWN], |tm| each(tm, start_join(StartMethod::Spawn)));
    b.try_add(PY_APPLY, &[], None, python::pool_apply);
    b.add("Pool(2).apply round trip", &[PY_APPLY], |tm| {
        let pool = Pool::new(2).expect("a pool");
        each(tm, || assert_eq!(pool.apply(identity, 7), Ok(7)))
    });
    b.try_add(PY_MAP, &[], None, |tm| python::pool_map(MAP_ITEMS, tm));
    b.add("Pool(2).map, per item", &[PY_MAP], |_| {
        mark(Place::Processes);
        let pool = Pool::new(2).expect("a pool");
        let items: Vec<u64> = (0..MAP_ITEMS as u64).collect();
        assert_eq!(pool.map(identity, items.clone()).map(|v| v.len()), Ok(MAP_ITEMS));
        let start = Instant::now();
        let out = pool.map(identity, items).expect("map");
        let ns = start.elapsed().as_nanos() as f64 / out.len() as f64;
        Figure::PerOp { ns, ops: out.len() as u64 }
    });
}
