//! Value, beside Python's `multiprocessing.Value` under its lock; and work on part of an
//! Array, beside the whole-array update and the raw pointer.

use std::ops::Range;
use std::time::Instant;

use shmkit_ctypes::{Array, Value};

use crate::figure::Figure;
use crate::harness::{per_op, two_processes, Bench, Timing};
use crate::names::PYVALUE;
use crate::peers::python;

pub(super) fn rows(b: &mut Bench) {
    b.try_add(PYVALUE, &[], None, python::value_locked_increment);
    b.add("Value<u64> load", &[PYVALUE], |tm| {
        let v = Value::<u64>::anonymous(7).unwrap();
        per_op(tm, || {
            std::hint::black_box(v.load());
        })
    });
    b.add("Value<u64> store", &[PYVALUE], |tm| {
        let v = Value::<u64>::anonymous(7).unwrap();
        let mut i = 0;
        per_op(tm, || {
            i += 1;
            v.store(i).unwrap();
        })
    });
    b.add("Value<u64> fetch_add, uncontended", &[PYVALUE], |tm| {
        let v = Value::<u64>::anonymous(0).unwrap();
        per_op(tm, || {
            v.fetch_add(1);
        })
    });
    b.add("Value<u64> fetch_add, two processes contending", &[PYVALUE], contended_fetch_add);
    b.add("Value<u64> locked increment (get_lock)", &[PYVALUE], |tm| {
        let v = Value::<u64>::anonymous(0).unwrap();
        per_op(tm, || {
            v.get_lock().unwrap().update(|x| x + 1);
        })
    });
    array_rows(b);
}

/// The elements of the Array rows, and the range they normalise (issue #16's case).
const ARRAY_LEN: usize = 1 << 20;
const ARRAY_RANGE: Range<usize> = (1 << 18)..(1 << 18) + (1 << 16);
/// The same work through the whole-array update: all 1M elements copied out and back.
const ARRAY_WHOLE: &str = "Array<f32> 1M: same, by get_lock + update (copies all 1M)";
/// The same work on the elements in place, through the raw pointer: the floor.
const ARRAY_PTR: &str = "Array<f32> 1M: same, through as_ptr (no lock, no copy)";

/// Normalising one 64K-element range of a 1M-element `Array<f32>`, three ways.
fn array_rows(b: &mut Bench) {
    let array = || {
        Array::<f32>::anonymous(&(0..ARRAY_LEN).map(|i| (i % 1000 + 1) as f32).collect::<Vec<_>>()).unwrap()
    };
    b.add(ARRAY_WHOLE, &[], |tm| {
        let arr = array();
        per_call(tm, || arr.get_lock().unwrap().update(|xs| normalise(&mut xs[ARRAY_RANGE])))
    });
    b.add(ARRAY_PTR, &[], |tm| {
        let arr = array();
        per_call(tm, || {
            // SAFETY: `as_ptr` is valid for `len()` elements while `arr` lives and the
            // range is inside them; the array is anonymous and no process was forked
            // since it was made, so nothing else accesses it while the slice lives.
            let xs = unsafe {
                std::slice::from_raw_parts_mut(arr.as_ptr().add(ARRAY_RANGE.start), ARRAY_RANGE.len())
            };
            normalise(xs);
        })
    });
    b.add("Array<f32> 1M: update 64K-element range", &[ARRAY_WHOLE, ARRAY_PTR], |tm| {
        let arr = array();
        per_call(tm, || arr.update_range(ARRAY_RANGE, normalise).unwrap())
    });
}

/// Divides `xs` by its largest element (after the first call it is 1: no denormals).
fn normalise(xs: &mut [f32]) {
    let max = xs.iter().copied().fold(f32::MIN, f32::max);
    xs.iter_mut().for_each(|x| *x /= max);
}

/// As [`per_op`] for operations of up to milliseconds: the clock is read after every call
/// (`per_op` reads it every 1000 calls, seconds of them here).
fn per_call(tm: Timing, mut op: impl FnMut()) -> Figure {
    let start = Instant::now();
    while start.elapsed() < tm.warmup {
        op();
    }
    let (start, mut ops) = (Instant::now(), 0u64);
    while start.elapsed() < tm.measure || ops == 0 {
        op();
        ops += 1;
    }
    Figure::PerOp { ns: start.elapsed().as_nanos() as f64 / ops as f64, ops }
}

/// Two processes `fetch_add` one Value for the measuring time; ns per operation over both.
fn contended_fetch_add(tm: Timing) -> Figure {
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
        tm,
        || {
            child_ops.store(spin()).unwrap();
        },
        || {
            let start = Instant::now();
            std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(tm.measure);
                    stop.store(1).unwrap();
                });
                (spin(), start.elapsed())
            })
        },
    );
    let total = ops + child_ops.load();
    Figure::PerOp { ns: elapsed.as_nanos() as f64 / total as f64, ops: total }
}
