//! Value, beside Python's `multiprocessing.Value` under its lock.

use std::time::Instant;

use shmkit_ctypes::Value;

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
