//! Value and Array across real processes: exact counters, never-torn reads, type checks,
//! bounds, and a SIGKILLed lock holder.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{fork, NameGuard, Shared, LIMIT};
use shmkit::{Array, ArrayError, CChar, Kind, LockError, OpenError, Value};

const PROCS: usize = 4;

#[test]
fn value_locked_increments_are_exact() {
    let v = Value::<i64>::anonymous(0).unwrap();
    let per = 50_000;
    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            fork(|| {
                for _ in 0..per {
                    let mut guard = v.get_lock().unwrap();
                    let x = guard.get();
                    guard.set(x + 1);
                }
                0
            })
        })
        .collect();
    for c in children {
        c.join_ok(LIMIT * 6);
    }
    assert_eq!(v.load(), (PROCS * per) as i64);
}

#[test]
fn value_fetch_add_is_exact() {
    let v = Value::<u64>::anonymous(0).unwrap();
    let arr = Array::<u32>::anonymous_zeroed(3).unwrap();
    let per = 250_000;
    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            fork(|| {
                for _ in 0..per {
                    v.fetch_add(1);
                    arr.fetch_add(1, 2).unwrap();
                }
                0
            })
        })
        .collect();
    for c in children {
        c.join_ok(LIMIT * 6);
    }
    assert_eq!(v.load(), (PROCS * per) as u64);
    assert_eq!(arr.to_vec(), vec![0, (2 * PROCS * per) as u32, 0]);
    assert_eq!(v.swap(7), (PROCS * per) as u64);
    assert_eq!(v.compare_exchange(7, 8), Ok(7));
    assert_eq!(v.compare_exchange(7, 9), Err(8));
    assert_eq!(v.fetch_sub(8), 8);
}

/// A 64-byte struct whose eight fields a writer keeps equal.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
struct Wide([u64; 8]);

// SAFETY: eight u64s: no padding, every bit pattern valid.
unsafe impl bytemuck::Zeroable for Wide {}
// SAFETY: as above; Copy and 'static.
unsafe impl bytemuck::Pod for Wide {}

#[test]
fn value_load_is_never_torn() {
    let v = Value::<Wide>::anonymous(Wide::default()).unwrap();
    let shared = Shared::new();
    let stop = shared.word(0);
    let writer = fork(|| {
        let mut i = 0u64;
        while stop.load(Ordering::Relaxed) == 0 {
            i += 1;
            if i % 2 == 0 {
                v.store(Wide([i; 8])).unwrap();
            } else {
                v.get_lock().unwrap().set(Wide([i; 8]));
            }
        }
        0
    });
    let reader = fork(|| {
        let mut last = 0;
        let mut changes = 0u64;
        for _ in 0..2_000_000 {
            let w = v.load();
            if w.0.iter().any(|&x| x != w.0[0]) {
                return 2; // torn
            }
            if w.0[0] < last {
                return 3; // went backwards
            }
            changes += u64::from(w.0[0] != last);
            last = w.0[0];
        }
        shared.word(1).store(changes, Ordering::Relaxed);
        0
    });
    reader.join_ok(LIMIT * 6);
    stop.store(1, Ordering::Relaxed);
    writer.join_ok(LIMIT);
    assert!(shared.word(1).load(Ordering::Relaxed) > 0, "the reader never saw a write land");
}

#[test]
fn open_with_the_wrong_type_is_refused() {
    let g = NameGuard::new("ctypes-type");
    let _v = Value::<i32>::create(g.name(), 5).unwrap();
    assert!(matches!(Value::<u32>::open(g.name()), Err(OpenError::TypeMismatch { .. })));
    assert!(matches!(Value::<f32>::open(g.name()), Err(OpenError::TypeMismatch { .. })));
    assert!(matches!(Value::<i64>::open(g.name()), Err(OpenError::TypeMismatch { .. })));
    assert!(matches!(
        Array::<i32>::open(g.name()),
        Err(OpenError::KindMismatch { expected: Kind::Array, .. })
    ));
    assert_eq!(Value::<i32>::open(g.name()).unwrap().load(), 5);

    let ga = NameGuard::new("ctypes-array-type");
    let _a = Array::<f64>::create_zeroed(ga.name(), 4).unwrap();
    assert!(matches!(Array::<u64>::open(ga.name()), Err(OpenError::TypeMismatch { .. })));
    assert_eq!(Array::<f64>::open(ga.name()).unwrap().len(), 4);
}

#[test]
fn out_of_range_and_wrong_lengths_are_errors() {
    let a = Array::<i32>::anonymous(&[1, 2, 3]).unwrap();
    assert!(matches!(a.get(3), Err(ArrayError::OutOfRange { index: 3, len: 3 })));
    assert!(matches!(a.set(usize::MAX, 0), Err(ArrayError::OutOfRange { .. })));
    assert!(matches!(a.fetch_add(3, 1), Err(ArrayError::OutOfRange { .. })));
    assert!(matches!(a.copy_from_slice(&[1, 2]), Err(ArrayError::LengthMismatch { expected: 3, found: 2 })));
    {
        let mut g = a.get_lock().unwrap();
        assert!(g.set(3, 0).is_err());
        g.copy_from_slice(&[7, 8, 9]).unwrap();
    }
    assert_eq!(a.to_vec(), vec![7, 8, 9]);
    let empty = Array::<u8>::anonymous(&[]).unwrap();
    assert!(empty.is_empty() && empty.get(0).is_err());

    let s = Array::<CChar>::anonymous_bytes(b"hello").unwrap();
    assert_eq!(s.value(), b"hello");
    s.set_value(b"hi").unwrap();
    assert_eq!(s.value(), b"hi");
    assert!(matches!(s.set_value(b"too long"), Err(ArrayError::TooLong { capacity: 5, found: 8 })));
}

#[test]
fn value_lock_holder_sigkilled_next_get_lock_reports_owner_died() {
    let v = Value::<u64>::anonymous(1).unwrap();
    let shared = Shared::new();
    let holder = fork(|| {
        // Die holding the lock (a one-word store is one instruction: nothing is half
        // written).
        std::mem::forget(v.get_lock().unwrap());
        shared.signal(0, 1);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    holder.kill();
    holder.wait(LIMIT);
    // A reader (another process, under the watchdog) does not hang on the dead writer's
    // half-done write.
    fork(|| i32::from(v.load() != 1)).join_ok(LIMIT);
    assert_eq!(v.load(), 1);
    // The next get_lock reports the death, once.
    match v.get_lock() {
        Err(LockError::OwnerDied(mut guard)) => guard.set(2),
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    assert!(v.get_lock().is_ok());
    assert_eq!(v.load(), 2);
}

#[test]
#[allow(clippy::approx_constant)] // the Python tutorial's own number
fn tutorial_003_children_write_the_parent_reads() {
    // num = Value('d', 0.0); arr = Array('i', range(10)); a child negates and stores.
    let num = Value::<f64>::anonymous(0.0).unwrap();
    let arr = Array::<i32>::anonymous(&(0..10).collect::<Vec<_>>()).unwrap();
    let child = fork(|| {
        num.store(3.1415927).unwrap();
        arr.get_lock().unwrap().update(|a| a.iter_mut().for_each(|x| *x = -*x));
        0
    });
    child.join_ok(LIMIT);
    assert_eq!(num.load(), 3.1415927);
    assert_eq!(arr.to_vec(), (0..10).map(|x: i32| -x).collect::<Vec<_>>());
}

#[test]
fn array_write_after_a_holder_died_keeps_the_death_for_get_lock() {
    let a = Array::<u32>::anonymous(&[1, 2, 3]).unwrap();
    let child = fork(|| {
        std::mem::forget(a.get_lock().unwrap());
        0
    });
    child.join_ok(LIMIT);
    // A single-element write takes the dead holder's lock but repairs only one element:
    a.set(0, 10).unwrap();
    // so the next get_lock still hears of the death.
    assert!(matches!(a.get_lock(), Err(LockError::OwnerDied(_))));
    assert!(a.get_lock().is_ok());
}

#[test]
fn a_sequence_left_odd_without_the_lock_does_not_hang_readers() {
    let a = Array::<u32>::anonymous(&[5, 6]).unwrap();
    // What a hostile or broken peer could leave: a write "in flight" with nobody holding
    // the lock. The control block's sequence is the u64 at body + 16.
    let seq = a.object().view::<AtomicU64>(16).unwrap();
    seq.store(41, Ordering::SeqCst);
    let child = fork(|| i32::from(a.to_vec() != [5, 6]));
    child.join_ok(LIMIT);
    assert_eq!(a.to_vec(), [5, 6]);
    assert_eq!(seq.load(Ordering::SeqCst) % 2, 0);
}

#[test]
fn a_hostile_version_word_does_not_hang_value_readers() {
    let v = Value::<Wide>::anonymous(Wide([5; 8])).unwrap();
    // A Value's control word is its version: any number names a copy (its low bit), so
    // readers read that copy and never spin on it.
    let version = v.object().view::<AtomicU64>(16).unwrap();
    v.store(Wide([6; 8])).unwrap(); // copy 1 published, copy 0 holds the old value
    version.store(u64::MAX - 1, Ordering::SeqCst);
    fork(|| i32::from(v.load() != Wide([5; 8]))).join_ok(LIMIT);
    version.store(41, Ordering::SeqCst);
    fork(|| i32::from(v.load() != Wide([6; 8]))).join_ok(LIMIT);
    // Stores go on from there (the version wraps).
    v.store(Wide([7; 8])).unwrap();
    assert_eq!((v.load(), version.load(Ordering::SeqCst)), (Wide([7; 8]), 42));
}

#[test]
fn a_value_with_the_one_copy_layout_of_an_older_version_is_refused() {
    // Before the two copies, a Value<u64>'s body was 128 bytes of control and one copy.
    let g = NameGuard::new("value-old-layout");
    let spec = shmkit::Spec::new(Kind::Value, 136).elem(shmkit::TypeDesc::of::<u64>(), 1);
    let _obj = shmkit::Object::create(g.name(), &spec, &shmkit::CreateOptions::new(), |_, _| {}).unwrap();
    let err = Value::<u64>::open(g.name()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("create it again"), "{err}");
    // The same for a Value larger than a word.
    let g = NameGuard::new("value-old-layout-wide");
    let spec = shmkit::Spec::new(Kind::Value, 128 + 64).elem(shmkit::TypeDesc::of::<Wide>(), 1);
    let _obj = shmkit::Object::create(g.name(), &spec, &shmkit::CreateOptions::new(), |_, _| {}).unwrap();
    assert!(matches!(Value::<Wide>::open(g.name()), Err(OpenError::Corrupt { .. })));
}

#[test]
fn fetch_add_and_store_on_one_value_are_linearizable() {
    // Children add 1 at a time while the parent stores BASE once, under the lock: every
    // add counted after the store is the one that found BASE or more.
    const BASE: u64 = 1 << 40;
    let v = Value::<u64>::anonymous(0).unwrap();
    let shared = Shared::new();
    let per = 100_000;
    let children: Vec<_> = (0..PROCS)
        .map(|c| {
            let (v, shared) = (&v, &shared);
            fork(move || {
                let after = (0..per).filter(|_| v.fetch_add(1) >= BASE).count();
                shared.word(c + 1).store(after as u64, Ordering::SeqCst);
                0
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(2));
    v.store(BASE).unwrap();
    for c in children {
        c.join_ok(LIMIT * 6);
    }
    let after: u64 = (0..PROCS).map(|c| shared.word(c + 1).load(Ordering::SeqCst)).sum();
    assert_eq!(v.load(), BASE + after);
}

#[test]
fn array_reads_have_their_try_timeout_and_deadline_forms_for_a_stopped_writer() {
    let len = 1 << 16;
    let arr = Array::<u64>::anonymous_zeroed(len).unwrap();
    let shared = Shared::new();
    let stop = shared.word(0);
    let writer = fork(|| {
        let mut i = 0u64;
        while stop.load(Ordering::Relaxed) == 0 {
            i += 1;
            arr.copy_from_slice(&vec![i; len]).unwrap();
        }
        0
    });
    // The control block's sequence is the u64 at body + 16: odd while a write is in flight.
    let seq = arr.object().view::<AtomicU64>(16).unwrap();
    let mut caught = false;
    for _ in 0..100_000 {
        writer.signal(libc::SIGSTOP);
        while !matches!(proc_state(writer.pid()), Some('T') | Some('t')) {
            std::thread::yield_now();
        }
        if seq.load(Ordering::SeqCst) % 2 == 1 {
            caught = true;
            break;
        }
        writer.signal(libc::SIGCONT);
    }
    assert!(caught, "the writer was never stopped in the middle of a write");
    let t = std::time::Duration::from_millis(20);
    let started = std::time::Instant::now();
    assert!(matches!(arr.to_vec_timeout(t), Err(ArrayError::ReadTimeout)));
    assert!(started.elapsed() >= t);
    let started = std::time::Instant::now();
    assert!(matches!(arr.get_timeout(3, t), Err(ArrayError::ReadTimeout)));
    assert!(started.elapsed() >= t);
    assert!(matches!(arr.try_get(3), Err(ArrayError::ReadTimeout)));
    assert!(matches!(arr.try_to_vec(), Err(ArrayError::ReadTimeout)));
    assert!(matches!(arr.get_deadline(len, shmkit::Deadline::now()), Err(ArrayError::OutOfRange { .. })));
    writer.signal(libc::SIGCONT);
    // Resumed, the writer finishes its write: the deadline forms read.
    let all = arr.to_vec_deadline(shmkit::Deadline::after(LIMIT)).unwrap();
    assert!(all.iter().all(|&w| w == all[0]));
    let _ = arr.get_deadline(0, shmkit::Deadline::after(LIMIT)).unwrap();
    stop.store(1, Ordering::Relaxed);
    writer.join_ok(LIMIT);
}

#[test]
fn get_lock_and_the_writes_have_their_try_timeout_and_deadline_forms() {
    let v = Value::<u64>::anonymous(1).unwrap();
    let arr = Array::<u32>::anonymous(&[1, 2, 3]).unwrap();
    let shared = Shared::new();
    let holder = fork(|| {
        let _v = v.get_lock().unwrap();
        let _a = arr.get_lock().unwrap();
        shared.signal(0, 1);
        shared.await_value(1, 1, LIMIT);
        0
    });
    shared.await_value(0, 1, LIMIT);
    let t = std::time::Duration::from_millis(20);
    assert!(matches!(v.try_get_lock(), Err(shmkit::TryLockError::WouldBlock)));
    let started = std::time::Instant::now();
    assert!(matches!(v.get_lock_timeout(t), Err(shmkit::TryLockError::WouldBlock)));
    assert!(started.elapsed() >= t);
    assert!(matches!(arr.try_get_lock(), Err(shmkit::TryLockError::WouldBlock)));
    let started = std::time::Instant::now();
    assert!(matches!(arr.get_lock_timeout(t), Err(shmkit::TryLockError::WouldBlock)));
    assert!(started.elapsed() >= t);
    // The writes that take the lock have the same forms, and write nothing when refused.
    assert!(matches!(v.try_store(9), Err(shmkit::TryLockError::WouldBlock)));
    let started = std::time::Instant::now();
    assert!(matches!(v.store_timeout(9, t), Err(shmkit::TryLockError::WouldBlock)));
    assert!(started.elapsed() >= t);
    assert!(matches!(arr.try_set(0, 9), Err(ArrayError::Timeout)));
    let started = std::time::Instant::now();
    assert!(matches!(arr.set_timeout(0, 9, t), Err(ArrayError::Timeout)));
    assert!(started.elapsed() >= t);
    assert!(matches!(arr.try_copy_from_slice(&[9, 9, 9]), Err(ArrayError::Timeout)));
    assert!(matches!(arr.copy_from_slice_timeout(&[9, 9, 9], t), Err(ArrayError::Timeout)));
    assert_eq!((v.load(), arr.to_vec()), (1, vec![1, 2, 3]));
    // Released by the holder: the deadline forms take the locks.
    shared.signal(1, 1);
    holder.join_ok(LIMIT);
    arr.set_deadline(0, 7, shmkit::Deadline::after(LIMIT)).unwrap();
    arr.copy_from_slice_deadline(&[4, 5, 6], shmkit::Deadline::after(LIMIT)).unwrap();
    assert_eq!(arr.to_vec(), vec![4, 5, 6]);
    v.store_deadline(3, shmkit::Deadline::after(LIMIT)).unwrap();
    assert_eq!(v.load(), 3);
    let mut g = v.get_lock_deadline(shmkit::Deadline::after(LIMIT)).unwrap();
    g.set(2);
    drop(g);
    assert_eq!(v.load(), 2);
    assert!(v.try_store(8).is_ok() && arr.try_set(1, 8).is_ok());
    assert!(arr.get_lock_deadline(shmkit::Deadline::after(LIMIT)).is_ok());
}

#[test]
fn a_value_with_other_than_one_element_is_refused() {
    // A peer (or a bug) made a "Value" of no elements: every access would be past its end.
    let g = NameGuard::new("value-count");
    let spec = shmkit::Spec::new(Kind::Value, 128).elem(shmkit::TypeDesc::of::<u64>(), 0);
    let _obj = shmkit::Object::create(g.name(), &spec, &shmkit::CreateOptions::new(), |_, _| {}).unwrap();
    assert!(matches!(Value::<u64>::open(g.name()), Err(OpenError::CountMismatch { expected: 1, found: 0 })));
}

/// A value of 512 words whose writer keeps them all equal: a store takes long enough to
/// be stopped in the middle.
type Big = [u64; 512];

/// Where a Value's or an Array's elements start in its body.
const DATA_OFFSET: usize = 128;

/// Whether one of the copies of a `Big` value (one or two, by the body's size) is half
/// written: with its writer stopped, that proves a store was in flight. It looks at memory
/// only, whatever the protocol.
fn big_store_in_flight(v: &Value<Big>) -> bool {
    let obj = v.object();
    let copies = (obj.body_len() - DATA_OFFSET) / std::mem::size_of::<Big>();
    (0..copies).any(|c| {
        let words = obj.region::<u64>(DATA_OFFSET + c * std::mem::size_of::<Big>(), 512).unwrap();
        let word = |i: usize| {
            // SAFETY: `region` checked the 512 words inside the body; the word is read
            // atomically, as peers access it.
            unsafe { AtomicU64::from_ptr(words.as_ptr().add(i)) }.load(Ordering::Relaxed)
        };
        (1..512).any(|i| word(i) != word(0))
    })
}

#[test]
fn a_load_returns_while_its_writer_is_stopped_in_the_middle_of_a_store() {
    let v = Value::<Big>::anonymous([0; 512]).unwrap();
    let shared = Shared::new();
    let stop = shared.word(0);
    let writer = fork(|| {
        let mut i = 0u64;
        while stop.load(Ordering::Relaxed) == 0 {
            i += 1;
            v.store([i; 512]).unwrap();
        }
        0
    });
    let mut caught = 0;
    for _ in 0..100_000 {
        if caught == 5 {
            break;
        }
        writer.signal(libc::SIGSTOP);
        // Wait until the stop has taken effect (the child shows as stopped).
        while !matches!(proc_state(writer.pid()), Some('T') | Some('t')) {
            std::thread::yield_now();
        }
        if v.is_locked() && big_store_in_flight(&v) {
            caught += 1;
            // Another process's load returns a complete value while the store is stopped.
            let reader = fork(|| {
                let got = v.load();
                i32::from(got.iter().any(|&w| w != got[0]))
            });
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                reader.join_ok(std::time::Duration::from_secs(5))
            }));
            if result.is_err() {
                writer.signal(libc::SIGCONT);
                panic!("a load waited on a writer stopped in the middle of a store");
            }
        }
        writer.signal(libc::SIGCONT);
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
    assert_eq!(caught, 5, "the writer was never stopped in the middle of a store");
    writer.signal(libc::SIGCONT);
    stop.store(1, Ordering::Relaxed);
    writer.join_ok(LIMIT);
    let last = v.load();
    assert!(last.iter().all(|&w| w == last[0]));
}

/// The state letter of process `pid` in /proc (`T` when stopped).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[test]
fn inspect_decodes_both_value_shapes_and_refuses_the_old_layout() {
    let word = Value::<u64>::anonymous(41).unwrap();
    word.store(42).unwrap();
    assert_eq!(shmkit_ctypes::inspect(word.object()).unwrap().value.as_deref(), Some("42"));
    let wide = Value::<Wide>::anonymous(Wide([5; 8])).unwrap();
    wide.store(Wide([7; 8])).unwrap(); // copy 1 published
    let shown = shmkit_ctypes::inspect(wide.object()).unwrap().value.unwrap();
    assert!(shown.starts_with(&format!("0x{}", "0700000000000000".repeat(8))), "{shown}");
    // Any version word decodes, without a panic or a hang.
    let version = wide.object().view::<AtomicU64>(16).unwrap();
    for v in [u64::MAX, 0, 1 << 63] {
        version.store(v, Ordering::SeqCst);
        assert!(shmkit_ctypes::inspect(wide.object()).unwrap().value.is_some());
    }
    let g = NameGuard::new("inspect-old-value");
    let spec = shmkit::Spec::new(Kind::Value, 136).elem(shmkit::TypeDesc::of::<u64>(), 1);
    let obj = shmkit::Object::create(g.name(), &spec, &shmkit::CreateOptions::new(), |_, _| {}).unwrap();
    let problem = shmkit_ctypes::inspect(&obj).unwrap().problem.unwrap();
    assert!(problem.contains("create it again"), "{problem}");
}

#[test]
fn a_load_outlasts_a_storm_of_completed_flips() {
    // A peer bumps the version word by two as fast as it can (what a stream of completed
    // stores looks like to a reader, with the published copy unchanged): any optimistic
    // read can lose, but loads go on returning the committed value (retrying, or reading
    // under the lock, which is free, after 64 lost races; on this machine the retries
    // alone usually win).
    let v = Value::<Wide>::anonymous(Wide([9; 8])).unwrap();
    let shared = Shared::new();
    let stop = shared.word(0);
    let version = v.object().view::<AtomicU64>(16).unwrap();
    let bumper = fork(|| {
        shared.signal(1, 1);
        while stop.load(Ordering::Relaxed) == 0 {
            version.fetch_add(2, Ordering::Release);
        }
        0
    });
    shared.await_value(1, 1, LIMIT);
    fork(|| i32::from((0..10_000).any(|_| v.load() != Wide([9; 8])))).join_ok(LIMIT);
    stop.store(1, Ordering::Relaxed);
    bumper.join_ok(LIMIT);
    assert!(!v.is_locked());
}

// ---------------------------------------------------------------------------------------
// Ranges and chunks (#16)

/// The pattern the chunk tests start from: small integers, exact in f32 after additions.
fn chunk_base(j: usize) -> f32 {
    (j % 13) as f32
}

/// Whether `xs` (elements `start..` of the array) shows one state of its chunk: every
/// element `rounds` above its base for one `rounds`, or every element at its final
/// normalised value.
fn chunk_is_whole(start: usize, xs: &[f32], finals: &[f32]) -> bool {
    let rounds = xs[0] - chunk_base(start);
    let at_round = xs.iter().enumerate().all(|(i, &x)| x - chunk_base(start + i) == rounds);
    at_round || xs == finals
}

#[test]
fn four_workers_update_their_own_chunks_concurrently_and_readers_see_whole_chunks() {
    const LEN: usize = 1 << 18;
    const ROUNDS: u32 = 40;
    let arr = Array::<f32>::anonymous(&(0..LEN).map(chunk_base).collect::<Vec<_>>()).unwrap();
    let chunks = arr.split(PROCS).unwrap();
    // What each chunk holds at the end: its elements after ROUNDS increments, divided by
    // the chunk's largest (the normalisation the workers do last).
    let finals: Vec<Vec<f32>> = chunks
        .iter()
        .map(|c| {
            let raised: Vec<f32> = c.range().map(|j| chunk_base(j) + ROUNDS as f32).collect();
            let max = raised.iter().copied().fold(f32::MIN, f32::max);
            raised.iter().map(|x| x / max).collect()
        })
        .collect();
    let shared = Shared::new();
    let done = shared.word(0);
    let workers: Vec<_> = chunks
        .iter()
        .map(|chunk| {
            fork(move || {
                for _ in 0..ROUNDS {
                    chunk.update(|xs| xs.iter_mut().for_each(|x| *x += 1.0)).unwrap();
                }
                chunk
                    .update(|xs| {
                        let max = xs.iter().copied().fold(f32::MIN, f32::max);
                        xs.iter_mut().for_each(|x| *x /= max);
                    })
                    .unwrap();
                done.fetch_add(1, Ordering::SeqCst);
                0
            })
        })
        .collect();
    // Another process reads the whole array and single chunks meanwhile: each chunk is
    // always at one round (or final), never half of an update.
    let reader = fork(|| {
        let mut buf = vec![0.0f32; chunks[1].len()];
        loop {
            let finished = done.load(Ordering::SeqCst) == PROCS as u64;
            let all = arr.to_vec();
            for (chunk, finals) in chunks.iter().zip(&finals) {
                let r = chunk.range();
                if !chunk_is_whole(r.start, &all[r.clone()], finals) {
                    return 2;
                }
            }
            chunks[1].read(&mut buf).unwrap();
            if !chunk_is_whole(chunks[1].range().start, &buf, &finals[1]) {
                return 3;
            }
            if finished {
                return 0;
            }
        }
    });
    for w in workers {
        w.join_ok(LIMIT * 3);
    }
    reader.join_ok(LIMIT * 3);
    // Every element, checked.
    let all = arr.to_vec();
    for (chunk, finals) in chunks.iter().zip(&finals) {
        assert_eq!(&all[chunk.range()], &finals[..], "chunk {:?}", chunk.range());
    }
    assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), LEN);
}

#[test]
fn read_range_and_update_range_refuse_bad_ranges_and_say_what_to_do() {
    let a = Array::<i32>::anonymous(&[1, 2, 3, 4]).unwrap();
    let mut two = [0; 2];
    let e = a.read_range(3..5, &mut two).unwrap_err();
    assert!(matches!(e, ArrayError::RangeOutOfBounds { start: 3, end: 5, len: 4 }), "{e:?}");
    assert!(e.to_string().contains("keep both ends at 4 or below"), "{e}");
    let e = a.read_range(0..3, &mut two).unwrap_err();
    assert!(matches!(e, ArrayError::RangeLengthMismatch { expected: 3, found: 2 }), "{e:?}");
    assert!(e.to_string().contains("pass a buffer of 3"), "{e}");
    let (hi, lo) = (std::hint::black_box(3), std::hint::black_box(1));
    let e = a.update_range(hi..lo, |_| panic!("f ran for a reversed range")).unwrap_err();
    assert!(matches!(e, ArrayError::RangeReversed { start: 3, end: 1 }), "{e:?}");
    assert!(e.to_string().contains("put the smaller index first (1..3)"), "{e}");
    assert!(matches!(a.update_range(2..=4, |_| panic!("f ran")), Err(ArrayError::RangeOutOfBounds { .. })));
    assert!(matches!(a.update_range(..=usize::MAX, |_| ()), Err(ArrayError::RangeOutOfBounds { .. })));
    assert!(matches!(a.update_range(5.., |_| ()), Err(ArrayError::RangeOutOfBounds { start: 5, .. })));
    assert!(matches!(a.try_update_range(hi..lo, |_| ()), Err(ArrayError::RangeReversed { .. })));
    assert!(matches!(a.update_range_timeout(0..9, LIMIT, |_| ()), Err(ArrayError::RangeOutOfBounds { .. })));
    assert!(matches!(a.try_read_range(hi..lo, &mut two), Err(ArrayError::RangeReversed { .. })));
    assert!(matches!(a.read_range_timeout(4..6, &mut two, LIMIT), Err(ArrayError::RangeOutOfBounds { .. })));
    assert!(matches!(
        a.read_range_deadline(.., &mut two, shmkit::Deadline::now()),
        Err(ArrayError::RangeLengthMismatch { expected: 4, found: 2 })
    ));
    assert!(matches!(a.chunk(2..5), Err(ArrayError::RangeOutOfBounds { .. })));
    assert!(matches!(a.chunk(hi..lo), Err(ArrayError::RangeReversed { .. })));
    let e = a.split(0).unwrap_err();
    assert!(matches!(e, ArrayError::NoParts) && e.to_string().contains("1 or more"), "{e}");
    assert!(matches!(a.chunk(1..3).unwrap().read(&mut [0; 3]), Err(ArrayError::RangeLengthMismatch { .. })));
    {
        let mut g = a.get_lock().unwrap();
        assert!(matches!(g.update_range(3..7, |_| ()), Err(ArrayError::RangeOutOfBounds { .. })));
    }
    // Nothing was written, and the edges are ranges like any other.
    assert_eq!(a.to_vec(), [1, 2, 3, 4]);
    a.read_range(4.., &mut []).unwrap();
    a.update_range(4..4, |xs| assert!(xs.is_empty())).unwrap();
    a.update_range(.., |xs| xs.reverse()).unwrap();
    a.read_range(1..=2, &mut two).unwrap();
    assert_eq!(two, [3, 2]);
    let parts = a.split(6).unwrap();
    assert_eq!(parts.iter().map(|c| c.range()).collect::<Vec<_>>(), [0..1, 1..2, 2..3, 3..4, 4..4, 4..4]);
    assert_eq!(a.get_lock().unwrap().update_range(1..3, |xs| xs.iter().sum::<i32>()).unwrap(), 5);
    // A closure that panics writes nothing and leaves the lock free.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.update_range(.., |xs| {
            xs.fill(0);
            panic!("the closure gives up");
        })
    }));
    assert!(panicked.is_err());
    a.try_update_range(..1, |xs| xs[0] += 1).unwrap();
    assert_eq!(a.to_vec(), [5, 3, 2, 1]);
}

#[test]
fn range_writes_and_reads_have_their_try_timeout_and_deadline_forms_across_processes() {
    let a = Array::<u32>::anonymous(&[1, 2, 3, 4]).unwrap();
    let seq = a.object().view::<AtomicU64>(16).unwrap();
    let shared = Shared::new();
    // Another process holds the lock, then makes the sequence odd as if stopped in the
    // middle of a write, then ends the "write" and lets go.
    let holder = fork(|| {
        let _g = a.get_lock().unwrap();
        shared.signal(0, 1);
        shared.await_value(1, 1, LIMIT);
        let s = seq.load(Ordering::SeqCst);
        seq.store(s + 1, Ordering::SeqCst);
        shared.signal(0, 2);
        shared.await_value(1, 2, LIMIT);
        seq.store(s + 2, Ordering::SeqCst);
        0
    });
    shared.await_value(0, 1, LIMIT);
    let t = std::time::Duration::from_millis(20);
    let chunk = a.chunk(1..3).unwrap();
    // Writes wait for the lock: refused at the deadline, with nothing written and `f` not run.
    assert!(matches!(a.try_update_range(.., |_| panic!("f ran")), Err(ArrayError::Timeout)));
    let started = std::time::Instant::now();
    assert!(matches!(a.update_range_timeout(0..1, t, |_| panic!("f ran")), Err(ArrayError::Timeout)));
    assert!(started.elapsed() >= t);
    assert!(matches!(chunk.try_update(|_| panic!("f ran")), Err(ArrayError::Timeout)));
    let started = std::time::Instant::now();
    assert!(matches!(chunk.update_timeout(t, |_| panic!("f ran")), Err(ArrayError::Timeout)));
    assert!(started.elapsed() >= t);
    // Reads take no lock: they go on while the holder does not write.
    let mut two = [0; 2];
    a.try_read_range(2.., &mut two).unwrap();
    assert_eq!(two, [3, 4]);
    // With its write "in flight", reads wait, and the timed forms give up.
    shared.signal(1, 1);
    shared.await_value(0, 2, LIMIT);
    assert!(matches!(a.try_read_range(..2, &mut two), Err(ArrayError::ReadTimeout)));
    let started = std::time::Instant::now();
    assert!(matches!(a.read_range_timeout(..2, &mut two, t), Err(ArrayError::ReadTimeout)));
    assert!(started.elapsed() >= t);
    let started = std::time::Instant::now();
    assert!(matches!(chunk.read_timeout(&mut two, t), Err(ArrayError::ReadTimeout)));
    assert!(started.elapsed() >= t);
    assert!(matches!(chunk.try_read(&mut two), Err(ArrayError::ReadTimeout)));
    // The holder finishes and lets go: the deadline forms read and write.
    shared.signal(1, 2);
    a.read_range_deadline(1..3, &mut two, shmkit::Deadline::after(LIMIT)).unwrap();
    assert_eq!(two, [2, 3]);
    holder.join_ok(LIMIT);
    a.update_range_deadline(..2, shmkit::Deadline::after(LIMIT), |xs| xs.fill(7)).unwrap();
    chunk.update_deadline(shmkit::Deadline::after(LIMIT), |xs| xs[1] = 8).unwrap();
    chunk.read_deadline(&mut two, shmkit::Deadline::after(LIMIT)).unwrap();
    assert_eq!((two, a.to_vec()), ([7, 8], vec![7, 7, 8, 4]));
}

#[test]
fn a_range_reader_in_another_process_never_sees_a_torn_range() {
    const LEN: usize = 12_000;
    let range = 1000..1000 + (1 << 13);
    let arr = Array::<u64>::anonymous_zeroed(LEN).unwrap();
    let shared = Shared::new();
    let stop = shared.word(0);
    // The writer fills the range with one number per write, by each of the range writes,
    // and pauses between writes: a read longer than the gaps between writes would retry
    // for as long as the writer never pauses (the sequence lock's price).
    let writer = fork(|| {
        let chunk = arr.chunk(range.clone()).unwrap();
        let mut i = 0u64;
        while stop.load(Ordering::Relaxed) == 0 {
            i += 1;
            match i % 3 {
                0 => arr.update_range(range.clone(), |xs| xs.fill(i)).unwrap(),
                1 => chunk.update(|xs| xs.fill(i)).unwrap(),
                _ => arr.get_lock().unwrap().update_range(range.clone(), |xs| xs.fill(i)).unwrap(),
            }
            let paused = std::time::Instant::now();
            while paused.elapsed() < std::time::Duration::from_micros(20) {
                std::hint::spin_loop();
            }
        }
        0
    });
    let reader = fork(|| {
        let mut buf = vec![0u64; range.len()];
        let (mut last, mut changes) = (0, 0u64);
        for n in 0..10_000 {
            if n % 2 == 0 {
                arr.read_range(range.clone(), &mut buf).unwrap();
            } else {
                let all = arr.to_vec();
                if all[..range.start].iter().chain(&all[range.end..]).any(|&x| x != 0) {
                    return 4; // written outside the range
                }
                buf.copy_from_slice(&all[range.clone()]);
            }
            if buf.iter().any(|&x| x != buf[0]) {
                return 2; // torn
            }
            if buf[0] < last {
                return 3; // went backwards
            }
            changes += u64::from(buf[0] != last);
            last = buf[0];
        }
        shared.word(1).store(changes, Ordering::Relaxed);
        0
    });
    reader.join_ok(LIMIT * 3);
    stop.store(1, Ordering::Relaxed);
    writer.join_ok(LIMIT);
    assert!(shared.word(1).load(Ordering::Relaxed) > 0, "the reader never saw a write land");
}

#[test]
fn range_updates_after_a_writer_died_in_the_middle_of_a_write_do_not_hang() {
    let a = Array::<u32>::anonymous(&[1, 2, 3, 4]).unwrap();
    let seq = a.object().view::<AtomicU64>(16).unwrap();
    // A writer that dies holding the lock with its write in flight (the sequence odd).
    let die_mid_write = || {
        fork(|| {
            match a.get_lock() {
                Ok(g) | Err(LockError::OwnerDied(g)) => std::mem::forget(g),
                Err(_) => return 1,
            }
            seq.fetch_add(1, Ordering::SeqCst);
            0
        })
        .join_ok(LIMIT);
    };
    die_mid_write();
    // An update takes the dead writer's lock over; it must not wait for the sequence the
    // dead writer left odd (another process, under the watchdog).
    fork(|| {
        a.update_range(1..3, |xs| xs.iter_mut().for_each(|x| *x *= 10)).unwrap();
        i32::from(a.to_vec() != [1, 20, 30, 4])
    })
    .join_ok(LIMIT);
    assert_eq!(seq.load(Ordering::SeqCst) % 2, 0);
    // The death stays on record for get_lock, whose guard reads and updates too.
    die_mid_write();
    fork(|| match a.get_lock() {
        Err(LockError::OwnerDied(mut guard)) => {
            let before = guard.to_vec();
            guard.update_range(..1, |xs| xs[0] = 5).unwrap();
            guard.update(|xs| xs[3] += 1);
            drop(guard);
            i32::from(before != [1, 20, 30, 4] || a.to_vec() != [5, 20, 30, 5])
        }
        _ => 2,
    })
    .join_ok(LIMIT);
}

/// `read_snapshot`: another process's array read by name from a private copy, checked as
/// an open checks it, without registering (the writer's participant count stays 1).
#[test]
fn an_array_is_read_from_a_snapshot_without_taking_part() {
    let g = NameGuard::new("arr-snap");
    let shared = Shared::new();
    let child = fork(|| {
        let a = Array::<u64>::create(g.name(), &[1, 2, 3]).unwrap();
        a.fetch_add(2, 40).unwrap();
        shared.signal(0, 1);
        // Held open until the parent has read.
        shared.await_value(1, 1, LIMIT);
        0
    });
    shared.await_value(0, 1, LIMIT);
    assert_eq!(Array::<u64>::read_snapshot(g.name()).unwrap(), [1, 2, 43]);
    let looked = shmkit::Object::inspect(g.name(), &shmkit::OpenOptions::new()).unwrap();
    assert_eq!(looked.participants().len(), 1, "the snapshot did not register");
    assert!(matches!(Array::<u32>::read_snapshot(g.name()), Err(OpenError::TypeMismatch { .. })));
    let v = NameGuard::new("arr-snap-value");
    let _value = Value::<u64>::create(v.name(), 7).unwrap();
    assert!(matches!(Array::<u64>::read_snapshot(v.name()), Err(OpenError::KindMismatch { .. })));
    assert!(matches!(Array::<u64>::read_snapshot("no-such-array-here"), Err(OpenError::NotFound { .. })));
    shared.signal(1, 1);
    child.join_ok(LIMIT);
}
