//! Dict, List and Namespace across real processes: exact atomic updates from ten
//! processes, a writer killed 500 times at random points (readers only ever see committed
//! states, no generation object is left behind), readers beside a writer growing a dict to
//! a million keys, waits for changes, and type checks on open.

mod common;

use std::time::{Duration, Instant};

use common::{fork, Exit, Rng, LIMIT};
use shmkit::{Dict, DictError, List, Namespace, OpenError};

/// Removes a dict's name and its arenas' names when dropped.
struct DictGuard(String);

impl DictGuard {
    fn new(tag: &str) -> Self {
        Self(common::unique_name(tag))
    }
}

impl Drop for DictGuard {
    fn drop(&mut self) {
        let _ = shmkit::segment::unlink(&self.0);
        for name in generations(&self.0) {
            let _ = shmkit::segment::unlink(&name);
        }
    }
}

/// The names of the generation objects of the store named `name` present now (named
/// `<name>.<nonce>.g<number>`).
fn generations(name: &str) -> Vec<String> {
    let prefix = format!("shmkit.{name}.");
    let mut out: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.strip_prefix(&prefix).is_some_and(|rest| rest.contains(".g")))
                .map(|n| n["shmkit.".len()..].to_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn ten_processes_updating_one_key_add_exactly() {
    const PER_CHILD: u64 = 10_000;
    let g = DictGuard::new("dict-update");
    let d: Dict<String, u64> = Dict::create(&g.0).unwrap();
    let children: Vec<_> = (0..10)
        .map(|_| {
            let name = g.0.clone();
            fork(move || {
                let d: Dict<String, u64> = Dict::open(&name).unwrap();
                for _ in 0..PER_CHILD {
                    d.update("n", |n| Some(n.unwrap_or(0) + 1)).unwrap();
                }
                0
            })
        })
        .collect();
    for c in children {
        c.join_ok(LIMIT * 4);
    }
    assert_eq!(d.get("n").unwrap(), Some(10 * PER_CHILD));
    // A hundred thousand commits outgrew the first arena many times over: each growth
    // left one generation behind it, removed.
    assert!(d.object().name().is_some());
    assert_eq!(generations(&g.0).len(), 1, "only the current generation remains");
}

/// Sixteen accounts holding 1000 each: every commit moves an amount between two of them.
/// Each account carries 4 KiB of ballast, so that writers fill arenas fast and are often
/// killed while they grow the dict into a new generation.
const ACCOUNTS: u32 = 16;
const TOTAL: i64 = 16_000;

type Accounts = Dict<u32, (i64, Vec<u8>)>;

fn account(v: i64) -> (i64, Vec<u8>) {
    (v, vec![v as u8; 4096])
}

fn total(d: &Accounts) -> (i64, usize) {
    let items = d.snapshot().unwrap().items().unwrap();
    (items.iter().map(|(_, (v, _))| v).sum(), items.len())
}

#[test]
fn a_writer_killed_500_times_leaves_only_committed_states_and_no_stray_generation() {
    let g = DictGuard::new("dict-kill");
    let d: Accounts = Dict::create(&g.0).unwrap();
    d.extend((0..ACCOUNTS).map(|a| (a, account(1000)))).unwrap();
    // A reader checking the invariant on every snapshot while writers are killed.
    let name = g.0.clone();
    let reader = fork(move || {
        let d: Accounts = Dict::open(&name).unwrap();
        loop {
            let items = d.snapshot().unwrap().items().unwrap();
            // The parent's marker (a 17th key): the end.
            if items.iter().any(|(k, _)| *k == ACCOUNTS) {
                return 0;
            }
            let sum: i64 = items.iter().map(|(_, (v, _))| v).sum();
            if sum != TOTAL || items.len() != ACCOUNTS as usize {
                return 1;
            }
        }
    });
    let mut rng = Rng::new();
    let mut left_behind = 0;
    for round in 0..500u32 {
        let seed = rng.next();
        let name = g.0.clone();
        let writer = fork(move || {
            let d: Accounts = Dict::open(&name).unwrap();
            let mut rng = Rng(seed | 1);
            loop {
                let (a, b) = (rng.range(0, 15) as u32, rng.range(0, 15) as u32);
                let x = rng.range(0, 50) as i64;
                let snap = d.snapshot().unwrap();
                let (va, vb) = (snap.get(&a).unwrap().unwrap().0, snap.get(&b).unwrap().unwrap().0);
                if a != b {
                    d.extend([(a, account(va - x)), (b, account(vb + x))]).unwrap();
                }
            }
        });
        std::thread::sleep(Duration::from_micros(rng.range(0, 3000)));
        writer.kill();
        assert_eq!(writer.wait(LIMIT), Exit::Signal(libc::SIGKILL));
        left_behind += usize::from(generations(&g.0).len() > 1);
        // The next write (here a no-op on an absent key) cleans up after a writer that
        // died in the lock.
        d.remove(&999).unwrap();
        let (sum, n) = total(&d);
        assert_eq!((sum, n), (TOTAL, ACCOUNTS as usize), "round {round}");
        assert_eq!(generations(&g.0).len(), 1, "round {round}: {:?}", generations(&g.0));
    }
    eprintln!("kill loop: 500 writers killed, {left_behind} left a generation behind until the next write");
    d.insert(ACCOUNTS, account(-1)).unwrap();
    assert_eq!(reader.wait(LIMIT), Exit::Code(0), "the reader saw a state no commit made");
    d.remove(&ACCOUNTS).unwrap();
    d.update(&0, |v| v.map(|(v, _)| account(v + 1))).unwrap();
    assert_eq!(total(&d).0, TOTAL + 1, "the dict keeps working");
}

#[test]
fn readers_beside_a_writer_growing_a_dict_to_a_million_keys() {
    const KEYS: u64 = 1_000_000;
    let d: Dict<u64, u64> = Dict::anonymous().unwrap();
    let started = Instant::now();
    let reader = fork(|| {
        let mut rng = Rng::new();
        let (mut last, mut reads) = (0usize, 0u64);
        loop {
            let snap = d.snapshot().unwrap();
            let n = snap.len();
            if n < last {
                return 1;
            }
            last = n;
            if n > 0 {
                // Keys go in in order: a snapshot of n keys holds exactly 0..n.
                let k = rng.range(0, n as u64 - 1);
                if snap.get(&k).unwrap() != Some(k * 2) || snap.get(&(n as u64)).unwrap().is_some() {
                    return 2;
                }
            }
            reads += 1;
            if n as u64 == KEYS {
                return if reads > 10 { 0 } else { 3 };
            }
        }
    });
    for batch in 0..KEYS / 1000 {
        d.extend((batch * 1000..(batch + 1) * 1000).map(|k| (k, k * 2))).unwrap();
    }
    assert_eq!(d.len().unwrap(), KEYS as usize);
    assert_eq!(reader.wait(LIMIT * 4), Exit::Code(0));
    eprintln!("a million keys in {:?}", started.elapsed());
    assert_eq!(d.get(&123_456).unwrap(), Some(246_912));
}

#[test]
fn a_waiter_wakes_when_another_process_commits() {
    let d: Dict<String, u32> = Dict::anonymous().unwrap();
    let seen = d.version();
    let waiter = fork(|| {
        let start = Instant::now();
        let v = d.wait_changed_timeout(seen, LIMIT).unwrap();
        i32::from(v == seen || start.elapsed() >= LIMIT || d.get("x").unwrap() != Some(1))
    });
    std::thread::sleep(Duration::from_millis(50));
    d.insert("x".to_string(), 1).unwrap();
    assert_eq!(waiter.wait(LIMIT), Exit::Code(0));
    let start = Instant::now();
    let timeout = Duration::from_millis(30);
    assert!(matches!(d.wait_changed_timeout(d.version(), timeout), Err(DictError::Timeout)));
    assert!(start.elapsed() >= timeout);
}

#[test]
fn opening_with_other_types_or_another_kind_is_an_error_that_names_them() {
    let g = DictGuard::new("dict-types");
    let _d: Dict<String, i32> = Dict::create(&g.0).unwrap();
    let err = Dict::<u32, String>::open(&g.0).unwrap_err();
    assert!(matches!(err, DictError::Open(OpenError::TypeMismatch { .. })), "{err}");
    assert!(err.to_string().contains("String"), "{err}");
    assert!(matches!(List::<i32>::open(&g.0), Err(DictError::Open(OpenError::KindMismatch { .. }))));
    assert!(matches!(Namespace::open(&g.0), Err(DictError::Open(OpenError::KindMismatch { .. }))));
    assert!(matches!(Dict::<String, i32>::create(&g.0), Err(DictError::Create(_))));
    let long = "x".repeat(190);
    assert!(matches!(Dict::<u8, u8>::create(&long), Err(DictError::NameTooLong { .. })));
}

#[test]
fn a_list_and_a_namespace_shared_by_forked_children() {
    let l: List<u32> = List::anonymous().unwrap();
    let ns = Namespace::anonymous().unwrap();
    let (l, ns) = (&l, &ns);
    let children: Vec<_> = (0..10u32)
        .map(|i| {
            fork(move || {
                l.append(&i).unwrap();
                ns.update::<u32>("count", |c| Some(c.unwrap_or(0) + 1)).unwrap();
                0
            })
        })
        .collect();
    for c in children {
        c.join_ok(LIMIT);
    }
    let mut got = l.to_vec().unwrap();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert_eq!(ns.get::<u32>("count").unwrap(), Some(10));
    assert!(matches!(ns.get::<String>("count"), Err(DictError::Typed(_))));
    let first = l.get(0).unwrap().unwrap();
    assert_eq!(l.remove(0).unwrap(), first);
    assert_eq!(l.len().unwrap(), 9);
    assert!(matches!(l.set(100, &1), Err(DictError::IndexOutOfRange { index: 100, len: 9 })));
}

#[test]
fn get_or_insert_with_works_on_a_fresh_dict_and_runs_its_closure_once() {
    let d: Dict<String, i64> = Dict::anonymous().unwrap();
    let mut calls = 0;
    assert_eq!(
        d.get_or_insert_with("k".into(), || {
            calls += 1;
            7
        })
        .unwrap(),
        7
    );
    assert_eq!(d.get_or_insert_with("k".into(), || 9).unwrap(), 7);
    assert_eq!(calls, 1, "the first write grows the empty dict into its first arena: no second call");
}

#[test]
fn a_clone_outlives_the_handle_that_made_an_anonymous_dict() {
    let d: Dict<u32, u32> = Dict::anonymous().unwrap();
    d.insert(1, 10).unwrap();
    let d2 = d.try_clone().unwrap();
    let name = d.object().name().unwrap().as_str().to_owned();
    drop(d);
    assert_eq!(d2.get(&1).unwrap(), Some(10));
    d2.insert(2, 20).unwrap();
    drop(d2);
    // The last handle of the maker's process gone: nothing of it stays.
    assert!(
        generations(&name).is_empty() && !std::path::Path::new(&format!("/dev/shm/shmkit.{name}")).exists()
    );
}

#[test]
fn a_panicking_update_releases_the_lock_and_a_reentrant_one_is_an_error() {
    let d: Dict<u32, u32> = Dict::anonymous().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        d.update(&1, |_| panic!("the caller's closure fails")).unwrap();
    }));
    assert!(r.is_err());
    d.insert(1, 1).unwrap();
    let r = d.update(&1, |v| {
        assert!(matches!(d.insert(2, 2), Err(DictError::Reentrant)));
        assert_eq!(d.get(&1).unwrap(), v, "reads inside an update see the committed state");
        v.map(|v| v + 1)
    });
    assert_eq!(r.unwrap(), Some(2));
}

#[test]
fn a_dict_made_again_under_the_same_name_never_meets_the_old_ones_generations() {
    let g = DictGuard::new("dict-again");
    let old: Dict<u32, u32> = Dict::create(&g.0).unwrap();
    old.insert(1, 1).unwrap();
    Dict::<u32, u32>::unlink(&g.0).unwrap();
    let new: Dict<u32, u32> = Dict::create(&g.0).unwrap();
    new.insert(1, 2).unwrap();
    // The old one grows (many commits), the new one is untouched.
    for i in 0..20_000 {
        old.insert(i % 10, i).unwrap();
    }
    assert_eq!(new.get(&1).unwrap(), Some(2));
    assert_eq!(new.len().unwrap(), 1);
    drop(old);
}
