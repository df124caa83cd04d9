//! Dict (issue #18): Python's `Manager().dict()` in shared memory, beside the manager
//! itself in the same run. Every row's name starts with `dict: ` (`-- dict` selects them
//! all, the Python peers too).
//!
//! - `get` and `insert` of a small key in a dict of [`KEYS`] keys, ns per operation (the
//!   clock read once per 1000 operations), beside `d[k]` and `d[k] = v` from a client of
//!   the manager (Python reads its clock once per 64).
//! - `update(&k, +1)` on one key by two processes, each with its own handle, ns per
//!   increment over both, beside `with lock: d[k] += 1` and the plain, lossy `d[k] += 1`
//!   by two clients of the manager. The row checks that no increment was lost.
//! - Reads per second while another process inserts and updates, beside the same reader
//!   while the other process does nothing.
//! - Growing a dict from empty to [`GROWN`] keys by `insert` one at a time: one shot
//!   (no warm-up; it includes every growth into a new generation object), inserts per
//!   second, beside a `std` `HashMap` grown the same way.
//!
//! The dicts are anonymous: forked children inherit them, and nothing is left in
//! `/dev/shm` when they go.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use shmkit_ctypes::Value;
use shmkit_dict::Dict;

use crate::figure::Figure;
use crate::harness::{one_way, per_op, rate, two_processes, Bench, Timing};
use crate::names::{PYDICT_GET, PYDICT_INCR_LOCKED, PYDICT_INCR_PLAIN, PYDICT_SET};
use crate::peers::python::{self, DictOp};

/// The keys of the get, insert and read rows (`0..KEYS`, value = key), Python's too.
const KEYS: u64 = 1000;

/// The key stride: gets and inserts visit the keys in this order, not in insertion
/// order (Python's too).
const STRIDE: u64 = 7;

/// Operations between two clock reads (or two count publications) in the rate and
/// contended rows.
const BATCH: u64 = 256;

/// How many keys the growth row inserts.
const GROWN: u64 = 1_000_000;

/// The reader with the other process idle: the peer of the reader beside a writer.
const READER_ALONE: &str = "dict: Dict<u64,u64>::get, 1000 keys, the other process idle (gets/s)";

/// The in-process reference for the growth row.
const HASHMAP_GROWN: &str =
    "dict: std HashMap<u64,u64> grown 0 to 1M keys by insert, one process (inserts/s)";

/// How long the contended row waits for its child's first increments.
const CHILD_START: Duration = Duration::from_secs(10);

pub(super) fn rows(b: &mut Bench) {
    b.try_add(PYDICT_GET, &[], None, |tm| python::manager_dict(DictOp::Get, KEYS as usize, tm));
    b.add("dict: Dict<u64,u64>::get, 1000 keys", &[PYDICT_GET], |tm| {
        let d = filled();
        let mut k = 0;
        per_op(tm, || {
            k = (k + STRIDE) % KEYS;
            black_box(d.get(&k).unwrap());
        })
    });
    b.try_add(PYDICT_SET, &[], None, |tm| python::manager_dict(DictOp::Set, KEYS as usize, tm));
    b.add("dict: Dict<u64,u64>::insert (overwrite), 1000 keys", &[PYDICT_SET], |tm| {
        let d = filled();
        let (mut k, mut v) = (0, 0);
        per_op(tm, || {
            k = (k + STRIDE) % KEYS;
            v += 1;
            black_box(d.insert(k, v).unwrap());
        })
    });
    b.try_add(PYDICT_INCR_LOCKED, &[], None, |tm| {
        python::manager_dict(DictOp::IncrLocked, KEYS as usize, tm)
    });
    b.try_add(PYDICT_INCR_PLAIN, &[], None, |tm| python::manager_dict(DictOp::IncrPlain, KEYS as usize, tm));
    b.try_add(
        "dict: Dict<u64,u64>::update(&k, +1), two processes contending",
        &[PYDICT_INCR_LOCKED, PYDICT_INCR_PLAIN],
        None,
        contended_update,
    );
    b.add(READER_ALONE, &[], |tm| rate(reads(tm, false)));
    b.add(
        "dict: Dict<u64,u64>::get, 1000 keys, while another process inserts+updates (gets/s)",
        &[READER_ALONE],
        |tm| rate(reads(tm, true)),
    );
    b.add(HASHMAP_GROWN, &[], |_| grow_hash_map());
    b.add(
        "dict: Dict<u64,u64> grown 0 to 1M keys by insert, amortised, one shot (inserts/s)",
        &[HASHMAP_GROWN],
        |_| grow_dict(),
    );
}

/// An anonymous dict of `0..KEYS`, value = key, committed at once.
fn filled() -> Dict<u64, u64> {
    let d = Dict::anonymous().unwrap();
    d.extend((0..KEYS).map(|k| (k, k))).unwrap();
    d
}

/// Gets per second in this process, in batches of [`BATCH`], while a forked child with
/// its own handle inserts and updates the same keys (`writer`) or does nothing. The gets
/// and the time.
fn reads(tm: Timing, writer: bool) -> (u64, Duration) {
    let d = filled();
    let theirs = d.try_clone().unwrap();
    let stop = Value::<u64>::anonymous(0).unwrap();
    let mut k = 0;
    one_way(
        tm,
        || {
            let mut i = 0u64;
            while writer && stop.load() == 0 {
                i += 1;
                let k = (i * STRIDE) % KEYS;
                if i % 2 == 0 {
                    theirs.insert(k, i).unwrap();
                } else {
                    theirs.update(&k, |v| v.map(|v| v + 1)).unwrap();
                }
            }
        },
        || {
            for _ in 0..BATCH {
                k = (k + STRIDE) % KEYS;
                black_box(d.get(&k).unwrap());
            }
            BATCH
        },
        || stop.store(1).unwrap(),
    )
}

/// Two processes add 1 to one key with `update` for the measuring time, each through its
/// own handle; ns per increment over both. Fails the row if the key did not gain exactly
/// the increments made.
fn contended_update(tm: Timing) -> Result<Figure, String> {
    let d = filled();
    let theirs = d.try_clone().unwrap();
    let stop = Value::<u64>::anonymous(0).unwrap();
    let child_ops = Value::<u64>::anonymous(0).unwrap();
    let before = d.get(&0).unwrap().unwrap_or(0);
    let incr = |d: &Dict<u64, u64>| {
        for _ in 0..BATCH {
            d.update(&0, |v| Some(v.unwrap_or(0) + 1)).unwrap();
        }
        BATCH
    };
    let parent = two_processes(
        tm,
        || {
            let mut n = 0;
            while stop.load() == 0 {
                n += incr(&theirs);
                child_ops.store(n).unwrap();
            }
        },
        || {
            let waiting = Instant::now();
            while child_ops.load() == 0 {
                if waiting.elapsed() > CHILD_START {
                    stop.store(1).unwrap();
                    return None;
                }
                std::hint::spin_loop();
            }
            let mut mine = 0;
            let warm = Instant::now();
            while warm.elapsed() < tm.warmup {
                mine += incr(&d);
            }
            let (start, ops0) = (Instant::now(), mine + child_ops.load());
            while start.elapsed() < tm.measure {
                mine += incr(&d);
            }
            let (elapsed, ops) = (start.elapsed(), mine + child_ops.load() - ops0);
            stop.store(1).unwrap();
            Some((mine, elapsed, ops))
        },
    );
    let (mine, elapsed, ops) =
        parent.ok_or_else(|| "dict: the contended update's child made no increment".to_owned())?;
    let done = mine + child_ops.load();
    let gained = d.get(&0).unwrap().unwrap_or(0) - before;
    if gained != done {
        return Err(format!("dict: update lost increments: {done} made, the key gained {gained}"));
    }
    Ok(Figure::PerOp { ns: elapsed.as_nanos() as f64 / ops as f64, ops })
}

/// Inserts `0..GROWN` one at a time into a new anonymous dict, timed as a whole.
fn grow_dict() -> Figure {
    let d = Dict::<u64, u64>::anonymous().unwrap();
    let start = Instant::now();
    for k in 0..GROWN {
        d.insert(k, k).unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(d.len().unwrap() as u64, GROWN);
    rate((GROWN, elapsed))
}

/// As [`grow_dict`] into a `std` `HashMap` (no capacity reserved).
fn grow_hash_map() -> Figure {
    let mut m = HashMap::new();
    let start = Instant::now();
    for k in 0..GROWN {
        m.insert(black_box(k), k);
    }
    let elapsed = start.elapsed();
    assert_eq!(black_box(&m).len() as u64, GROWN);
    rate((GROWN, elapsed))
}
