//! Process, Pool and the executor across real processes, under both start methods.
//!
//! A custom harness (`harness = false`): the spawn start method starts this binary again,
//! and `init()` must run first in `main` to hand the child its function.
#![allow(missing_docs)]

mod harness;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shmkit_core::Deadline;
use shmkit_ctypes::{Array, Value};
use shmkit_pipe::{Connection, Pipe};
use shmkit_process::{
    as_completed, current_process, parent_pid, Pool, PoolOptions, Process, ProcessError, ProcessPoolExecutor,
    Run, StartMethod, TaskError,
};
use shmkit_queue::Queue;
use shmkit_sync::{Event, Lock, Semaphore};

const METHODS: [StartMethod; 2] = [StartMethod::Fork, StartMethod::Spawn];

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("test-proc-{tag}-{}-{nanos:x}", std::process::id())
}

/// Removes named objects when dropped.
struct Names(Vec<String>);

impl Drop for Names {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = shmkit_core::segment::unlink(n);
        }
    }
}

/// Whether `pid` is gone or a zombie (`/proc/<pid>/stat` state `Z`).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z"),
    }
}

fn is_gone(pid: u32) -> bool {
    std::fs::metadata(format!("/proc/{pid}")).is_err()
}

fn eventually(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "watchdog: {what} not true after {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// --- targets (fn items, so that spawn can name them) ----------------------------------

fn exit_with(code: i32) {
    std::process::exit(code);
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn spin_forever(_: ()) {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn sleep_then_exit((ms, code): (u64, i32)) {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::exit(code);
}

fn panic_with(msg: String) {
    panic!("{msg}");
}

#[derive(Serialize, Deserialize)]
struct Shared {
    queue: String,
    pipe: String,
    value: String,
    array: String,
    lock: String,
    sem: String,
    event: String,
}

/// Uses every kind of object, opened by name (the spawn way).
fn use_named(s: Shared) {
    Queue::<u64>::open(&s.queue).unwrap().put(7).unwrap();
    Connection::open(&s.pipe).unwrap().send_bytes(b"from the child").unwrap();
    Value::<u64>::open(&s.value).unwrap().store(42).unwrap();
    Array::<i32>::open(&s.array).unwrap().set(1, -5).unwrap();
    let lock = Lock::open(&s.lock).unwrap();
    drop(lock.lock().unwrap());
    Semaphore::open(&s.sem).unwrap().release().unwrap();
    Event::open(&s.event).unwrap().set();
}

fn report_identity(value: String) {
    let me = current_process();
    let v = Value::<u64>::open(&value).unwrap();
    let ok = me.name == "identity-check" && me.daemon && me.pid == std::process::id();
    v.store(if ok { u64::from(parent_pid()) } else { 0 }).unwrap();
}

fn square(x: u64) -> u64 {
    x * x
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn my_pid(_: u64) -> u32 {
    std::process::id()
}

/// Sleeps `x` ms and returns `x`: completion order differs from input order.
fn slow_echo(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(x));
    x
}

/// Item 3 kills its own worker with SIGKILL, item 5 panics; the others square.
fn fragile(x: u64) -> u64 {
    if x == 3 {
        let _ = shmkit_core::child::send_signal(std::process::id(), shmkit_core::child::SIGKILL);
        std::thread::sleep(Duration::from_secs(10));
    }
    if x == 5 {
        panic!("item five refuses");
    }
    x * x
}

fn fib(n: u32) -> u64 {
    if n <= 2 {
        1
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

// --- Process ---------------------------------------------------------------------------

fn start_join_exitcode_pid_name() {
    for method in METHODS {
        let mut p = Process::call(exit_with, 3).name("three").start_method(method);
        assert_eq!((p.pid(), p.exitcode(), p.is_alive()), (None, None, false));
        assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
        p.start().unwrap();
        assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
        assert!(p.pid().is_some_and(|pid| pid != std::process::id()));
        assert_eq!(p.get_name(), "three");
        assert_eq!(p.join().unwrap(), 3, "{method:?}");
        assert_eq!(p.exitcode(), Some(3));
        assert!(!p.is_alive());
    }
    // A closure cannot cross an exec.
    let mut p = Process::new(|| {}).start_method(StartMethod::Spawn);
    assert!(matches!(p.start(), Err(ProcessError::SpawnNeedsFn)));
}

fn join_timeout_and_is_alive() {
    for method in METHODS {
        let mut p = Process::call(sleep_ms, 400).start_method(method);
        p.start().unwrap();
        let t = Instant::now();
        assert_eq!(p.join_timeout(Duration::from_millis(60)).unwrap(), None);
        assert!(t.elapsed() >= Duration::from_millis(60));
        assert!(p.is_alive());
        assert_eq!(p.exitcode(), None);
        assert_eq!(p.join_timeout(Duration::from_secs(20)).unwrap(), Some(0), "{method:?}");
        assert!(!p.is_alive());
    }
}

/// The four join forms: `try_join` never waits, `join_timeout` and `join_deadline` give
/// up only once their time has passed, and give the exit code once the child has ended.
fn the_four_join_forms() {
    let mut unstarted = Process::call(exit_with, 0);
    assert!(matches!(unstarted.try_join(), Err(ProcessError::NotStarted)));
    assert!(matches!(unstarted.join_deadline(Deadline::now()), Err(ProcessError::NotStarted)));
    for method in METHODS {
        let mut p = Process::call(sleep_then_exit, (300, 6)).start_method(method);
        p.start().unwrap();
        assert_eq!(p.try_join().unwrap(), None, "{method:?}");
        let timeout = Duration::from_millis(80);
        let t = Instant::now();
        assert_eq!(p.join_timeout(timeout).unwrap(), None);
        assert!(t.elapsed() >= timeout, "join_timeout returned after {:?}", t.elapsed());
        let t = Instant::now();
        assert_eq!(p.join_deadline(Deadline::after(timeout)).unwrap(), None);
        assert!(t.elapsed() >= timeout, "join_deadline returned after {:?}", t.elapsed());
        assert_eq!(p.join_deadline(Deadline::after(Duration::from_secs(20))).unwrap(), Some(6), "{method:?}");
        // Reaped once; every form keeps giving the code.
        assert_eq!(p.try_join().unwrap(), Some(6));
        assert_eq!(p.join_timeout(Duration::ZERO).unwrap(), Some(6));
        assert_eq!(p.join().unwrap(), 6);
        assert_eq!(p.exitcode(), Some(6));
    }
}

fn terminate_and_kill_a_busy_child() {
    for method in METHODS {
        let mut p = Process::call(spin_forever, ()).start_method(method);
        p.start().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(p.is_alive());
        p.terminate().unwrap();
        assert_eq!(p.join().unwrap(), -15, "{method:?}");
        let mut p = Process::call(spin_forever, ()).start_method(method);
        p.start().unwrap();
        p.kill().unwrap();
        assert_eq!(p.join().unwrap(), -9);
        assert_eq!(p.exitcode(), Some(-9));
        p.kill().unwrap(); // after reaping: nothing to signal, no error
    }
}

fn a_panic_reaches_the_parent() {
    for method in METHODS {
        let mut p = Process::call(panic_with, "boom 42".to_owned()).start_method(method);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 101, "{method:?}");
        assert!(p.panic_message().is_some_and(|m| m.contains("boom 42")), "{:?}", p.panic_message());
    }
    let mut ok = Process::new(|| {});
    ok.start().unwrap();
    ok.join().unwrap();
    assert_eq!(ok.panic_message(), None);
}

fn identity_in_the_child() {
    for method in METHODS {
        let name = unique("identity");
        let _names = Names(vec![name.clone()]);
        let v = Value::<u64>::create(&name, 1).unwrap();
        let mut p = Process::call(report_identity, name.clone())
            .name("identity-check")
            .daemon(true)
            .start_method(method);
        p.start().unwrap();
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(v.load(), u64::from(std::process::id()), "{method:?}: name, daemon, pid and parent pid");
    }
    assert_eq!(current_process().name, "MainProcess");

    struct Writer(Arc<Value<u64>>);
    impl Run for Writer {
        fn run(self) {
            self.0.store(99).unwrap();
        }
    }
    let v = Arc::new(Value::<u64>::anonymous(0).unwrap());
    let mut p = Process::from_run(Writer(Arc::clone(&v)));
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(v.load(), 99, "the Run trait's run ran in the child");
}

fn daemons_die_with_their_parent() {
    // A middle process starts a daemon and a non-daemon grandchild, reports their pids,
    // and exits; the daemon dies with it, the other lives on.
    let pids = Arc::new(Array::<u32>::anonymous_zeroed(2).unwrap());
    let p2 = Arc::clone(&pids);
    let mut middle = Process::new(move || {
        let mut d = Process::call(sleep_ms, 30_000).daemon(true);
        let mut n = Process::call(sleep_ms, 30_000);
        d.start().unwrap();
        n.start().unwrap();
        p2.set(0, d.pid().unwrap()).unwrap();
        p2.set(1, n.pid().unwrap()).unwrap();
        std::mem::forget((d, n));
    });
    middle.start().unwrap();
    assert_eq!(middle.join().unwrap(), 0);
    let (daemon, other) = (pids.get(0).unwrap(), pids.get(1).unwrap());
    eventually("the daemon died with its parent", Duration::from_secs(10), || is_dead(daemon));
    assert!(!is_dead(other), "a non-daemon child outlives its parent");
    shmkit_core::child::send_signal(other, shmkit_core::child::SIGKILL).unwrap();
}

fn no_zombie_after_dropping_handles() {
    let mut pids = Vec::new();
    for ms in [0, 150] {
        let mut p = Process::call(sleep_ms, ms);
        p.start().unwrap();
        pids.push(p.pid().unwrap());
        drop(p);
    }
    for pid in pids {
        eventually("a dropped child reaped", Duration::from_secs(10), || is_gone(pid));
    }
}

fn objects_are_shared_with_children() {
    // Fork: anonymous objects, inherited.
    let q = Queue::<u64>::anonymous(4).unwrap();
    let (mine, theirs) = Pipe::new().unwrap();
    let v = Value::<u64>::anonymous(0).unwrap();
    let a = Array::<i32>::anonymous(&[1, 2, 3]).unwrap();
    let lock = Lock::anonymous().unwrap();
    let sem = Semaphore::anonymous(0).unwrap();
    let ev = Event::anonymous().unwrap();
    // Handles move into the child as into a thread: a clone of the queue, the pipe's other
    // end, and shared references to the rest.
    let q2 = q.try_clone().unwrap();
    let shared = Arc::new((v, a, lock, sem, ev));
    let h = Arc::clone(&shared);
    let mut p = Process::new(move || {
        q2.put(7).unwrap();
        theirs.send_bytes(b"from the child").unwrap();
        h.0.store(42).unwrap();
        h.1.set(1, -5).unwrap();
        drop(h.2.lock().unwrap());
        h.3.release().unwrap();
        h.4.set();
    });
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    let (v, a, _, sem, ev) = &*shared;
    assert_eq!(q.get().unwrap(), 7);
    assert_eq!(mine.recv_bytes().unwrap(), b"from the child");
    assert_eq!((v.load(), a.get(1).unwrap()), (42, -5));
    assert!(sem.try_acquire() && ev.is_set());

    // Spawn: named objects, opened again by name in the child.
    let s = Shared {
        queue: unique("q"),
        pipe: unique("p"),
        value: unique("v"),
        array: unique("a"),
        lock: unique("l"),
        sem: unique("s"),
        event: unique("e"),
    };
    let _names = Names(vec![
        s.queue.clone(),
        s.pipe.clone(),
        s.value.clone(),
        s.array.clone(),
        s.lock.clone(),
        s.sem.clone(),
        s.event.clone(),
    ]);
    let q = Queue::<u64>::create(&s.queue, 4).unwrap();
    let pipe = Connection::create(&s.pipe).unwrap();
    let v = Value::<u64>::create(&s.value, 0).unwrap();
    let a = Array::<i32>::create(&s.array, &[1, 2, 3]).unwrap();
    let _lock = Lock::create(&s.lock).unwrap();
    let sem = Semaphore::create(&s.sem, 0).unwrap();
    let ev = Event::create(&s.event).unwrap();
    let mut p = Process::call(use_named, s).start_method(StartMethod::Spawn);
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(q.get().unwrap(), 7);
    assert_eq!(pipe.recv_bytes().unwrap(), b"from the child");
    assert_eq!((v.load(), a.get(1).unwrap()), (42, -5));
    assert!(sem.try_acquire() && ev.is_set());
}

// --- Pool --------------------------------------------------------------------------------

fn pool_map_imap_and_unordered() {
    for method in METHODS {
        let mut pool = Pool::with_options(PoolOptions::new().processes(3).start_method(method)).unwrap();
        assert_eq!(
            pool.map(square, 0..100).unwrap(),
            (0..100).map(|x| x * x).collect::<Vec<_>>(),
            "{method:?}"
        );
        assert_eq!(pool.map_chunked(square, 0..10, 4).unwrap(), (0..10).map(|x| x * x).collect::<Vec<_>>());
        assert_eq!(pool.starmap(add, [(1, 2), (3, 4)]).unwrap(), [3, 7]);
        let ordered: Vec<u64> = pool.imap(slow_echo, [60, 1, 30]).map(Result::unwrap).collect();
        assert_eq!(ordered, [60, 1, 30]);
        let mut unordered: Vec<u64> =
            pool.imap_unordered(slow_echo, [60, 1, 30]).map(Result::unwrap).collect();
        assert_eq!(unordered.first(), Some(&1), "the quickest first");
        unordered.sort();
        assert_eq!(unordered, [1, 30, 60]);
        assert!(pool.map(square, Vec::<u64>::new()).unwrap().is_empty());
        pool.join();
    }
}

fn pool_callbacks_run_in_the_parent() {
    let pool = Pool::new(2).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..5u64)
        .map(|i| {
            let s = Arc::clone(&seen);
            pool.apply_async_with(
                square,
                i,
                move |r| s.lock().unwrap().push((*r, std::process::id())),
                |_| {},
            )
        })
        .collect();
    let results: Vec<u64> = handles.into_iter().map(|h| h.get().unwrap()).collect();
    assert_eq!(results, [0, 1, 4, 9, 16]);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, (0..5).map(|i| (i * i, std::process::id())).collect::<Vec<_>>());
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = Arc::clone(&errors);
    let h = pool.apply_async_with(fragile, 5, |_| {}, move |e| e2.lock().unwrap().push(e.clone()));
    assert!(matches!(h.get(), Err(TaskError::Panicked(m)) if m.contains("item five")));
    assert_eq!(errors.lock().unwrap().len(), 1, "error_callback ran");
    let pending = pool.apply_async(slow_echo, 200);
    assert_eq!(pending.successful(), None);
    let pending = pending.get_timeout(Duration::from_millis(10)).unwrap_err();
    assert_eq!(pending.get_timeout(Duration::from_secs(20)).unwrap().unwrap(), 200);
    assert_eq!(pool.apply(square, 9).unwrap(), 81);
}

/// The four forms of `AsyncResult`'s `wait` and `get`, `Imap`'s timed `next`, and
/// `Pool`'s `join`: the timed forms give up only once their time has passed.
fn the_four_forms_of_results_and_pools() {
    let mut pool = Pool::new(2).unwrap();
    let timeout = Duration::from_millis(60);
    let pending = pool.apply_async(slow_echo, 400);
    assert!(!pending.try_wait());
    let t = Instant::now();
    assert!(!pending.wait_timeout(timeout));
    assert!(t.elapsed() >= timeout);
    let t = Instant::now();
    assert!(!pending.wait_deadline(Deadline::after(timeout)));
    assert!(t.elapsed() >= timeout);
    let pending = pending.try_get().unwrap_err();
    let t = Instant::now();
    let pending = pending.get_deadline(Deadline::after(timeout)).unwrap_err();
    assert!(t.elapsed() >= timeout);
    assert!(pending.wait_deadline(Deadline::after(Duration::from_secs(20))));
    assert!(pending.try_wait() && pending.ready());
    assert_eq!(pending.try_get().unwrap(), Ok(400));

    let mut results = pool.imap(slow_echo, [300, 1]);
    assert_eq!(results.try_next(), Err(shmkit_process::NextTimeoutError));
    let t = Instant::now();
    assert_eq!(results.next_timeout(timeout), Err(shmkit_process::NextTimeoutError));
    assert!(t.elapsed() >= timeout);
    assert_eq!(results.next_deadline(Deadline::after(Duration::from_secs(20))), Ok(Some(Ok(300))));
    assert_eq!(results.next_timeout(Duration::from_secs(20)), Ok(Some(Ok(1))));
    assert_eq!(results.try_next(), Ok(None));

    let late = pool.apply_async(slow_echo, 300);
    assert!(!pool.try_join(), "a task is running");
    let t = Instant::now();
    assert!(!pool.join_timeout(timeout));
    assert!(t.elapsed() >= timeout);
    assert_eq!(pool.apply(square, 2), Err(TaskError::Closed), "a pool being joined is closed");
    assert!(pool.join_deadline(Deadline::after(Duration::from_secs(20))));
    assert_eq!(late.try_get().unwrap(), Ok(300), "joining lets given tasks finish");
    assert!(pool.try_join(), "joined pools stay joined");
}

fn a_crashing_worker_fails_only_its_task() {
    for method in METHODS {
        let mut pool = Pool::with_options(PoolOptions::new().processes(2).start_method(method)).unwrap();
        let results: Vec<Result<u64, TaskError>> = pool.imap(fragile, 0..8).collect();
        for (i, r) in results.iter().enumerate() {
            match i {
                3 => assert_eq!(r, &Err(TaskError::WorkerDied(-9)), "{method:?}"),
                5 => assert!(matches!(r, Err(TaskError::Panicked(_))), "{r:?}"),
                _ => assert_eq!(r, &Ok((i * i) as u64)),
            }
        }
        // The replaced worker serves on.
        assert_eq!(pool.map(square, 0..20).unwrap().len(), 20);
        pool.join();
    }
}

fn terminate_leaves_no_worker_and_max_tasks_replaces_them() {
    let mut pool = Pool::new(2).unwrap();
    let pids: Vec<u32> = pool.map_chunked(my_pid, 0..8, 1).unwrap();
    let slow = pool.apply_async(slow_echo, 5_000);
    std::thread::sleep(Duration::from_millis(50));
    pool.terminate();
    assert_eq!(slow.get(), Err(TaskError::Terminated));
    for pid in pids {
        assert!(is_gone(pid), "worker {pid} still there after terminate");
    }
    assert_eq!(pool.apply(square, 1), Err(TaskError::Closed));

    let mut pool = Pool::with_options(PoolOptions::new().processes(1).max_tasks_per_child(1)).unwrap();
    let mut pids: Vec<u32> = pool.map_chunked(my_pid, 0..4, 1).unwrap();
    pids.dedup();
    assert_eq!(pids.len(), 4, "a new worker for every task");
    pool.join();
}

/// A lock that tasks take; in real programs standard output plays this part.
static HELD: Mutex<()> = Mutex::new(());

fn take_the_lock(x: u64) -> u64 {
    drop(HELD.lock().unwrap_or_else(|e| e.into_inner()));
    x
}

/// A worker that replaces a dead one is forked while another thread of the parent holds
/// a lock: it must not inherit the lock held (it is forked by the fork server, a copy of
/// the program made with the pool).
fn a_replacement_worker_inherits_no_held_lock() {
    let mut pool = Pool::new(1).unwrap();
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let guard = HELD.lock().unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
        drop(guard);
    });
    locked.recv().unwrap();
    // The only worker kills itself: the next task runs on a worker started now.
    assert_eq!(pool.apply(fragile, 3), Err(TaskError::WorkerDied(-9)));
    let got = pool.apply_async(take_the_lock, 7).get_timeout(Duration::from_secs(20));
    release.send(()).unwrap();
    holder.join().unwrap();
    assert!(matches!(got, Ok(Ok(7))), "the new worker blocked on a lock held in the parent: {got:?}");
    pool.join();
}

/// The pool's pipes' names in /dev/shm.
fn pool_names() -> Vec<String> {
    let mine = format!("shmkit.pool-{}-", std::process::id());
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&mine))
        .collect()
}

/// A pool made by a thread that then ends keeps its workers (their parent-death signal
/// must not follow that thread), and a ready pool leaves no name in /dev/shm.
fn a_pool_outlives_the_thread_that_made_it() {
    for method in METHODS {
        let opts = PoolOptions::new().processes(2).start_method(method);
        let mut pool = std::thread::spawn(move || Pool::with_options(opts).unwrap()).join().unwrap();
        assert_eq!(pool_names(), Vec::<String>::new(), "{method:?}");
        let pids: Vec<u32> = pool.map_chunked(my_pid, 0..4, 1).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            pool.map(square, 0..10).unwrap(),
            (0..10).map(|x| x * x).collect::<Vec<_>>(),
            "{method:?}"
        );
        assert!(pids.iter().all(|&p| !is_dead(p)), "{method:?}: a worker died with the thread: {pids:?}");
        pool.join();
    }
}

fn my_parent(_: u64) -> u32 {
    parent_pid()
}

/// A process that owns a pool is SIGKILLed: its fork server and workers go too.
fn the_pool_goes_with_its_owner() {
    // The workers' pids, then their parent's (the fork server).
    let pids = Arc::new((Array::<u32>::anonymous(&[0; 3]).unwrap(), Event::anonymous().unwrap()));
    let theirs = Arc::clone(&pids);
    let mut owner = Process::new(move || {
        let pool = Pool::new(2).unwrap();
        let mut workers: Vec<u32> = pool.map_chunked(my_pid, 0..40, 1).unwrap();
        workers.sort_unstable();
        workers.dedup();
        for (i, pid) in workers.iter().take(2).enumerate() {
            theirs.0.set(i, *pid).unwrap();
        }
        theirs.0.set(2, pool.apply(my_parent, 0).unwrap()).unwrap();
        theirs.1.set();
        std::thread::sleep(Duration::from_secs(60));
        drop(pool);
    });
    owner.start().unwrap();
    assert!(pids.1.wait_timeout(Duration::from_secs(30)), "watchdog: the owner's pool did not start");
    owner.kill().unwrap();
    assert_eq!(owner.join().unwrap(), -9);
    for i in 0..3 {
        let pid = pids.0.get(i).unwrap();
        assert_ne!(pid, 0, "slot {i}");
        eventually(&format!("pool process {pid} gone"), Duration::from_secs(20), || is_dead(pid));
    }
}

/// The fork server is SIGKILLed (its workers die with it): tasks fail, none hangs, and
/// the pool still joins.
fn a_dead_fork_server_fails_tasks_without_hanging() {
    let mut pool = Pool::new(1).unwrap();
    let server = pool.apply(my_parent, 0).unwrap();
    assert_ne!(server, std::process::id(), "the worker's parent is the fork server");
    let worker = pool.apply(my_pid, 0).unwrap();
    shmkit_core::child::send_signal(server, shmkit_core::child::SIGKILL).unwrap();
    eventually("the worker dies with its fork server", Duration::from_secs(20), || is_dead(worker));
    let first = pool.apply(square, 2);
    assert!(matches!(first, Err(TaskError::WorkerDied(_) | TaskError::Start(_))), "{first:?}");
    let second = pool.apply(square, 3);
    assert!(matches!(&second, Err(TaskError::Start(m)) if m.contains("fork server")), "{second:?}");
    pool.join();
}

fn executor_submit_as_completed_and_shutdown() {
    let mut ex = ProcessPoolExecutor::new(2).unwrap();
    let futures: Vec<_> = (20..26).map(|n| ex.submit(fib, n)).collect();
    let mut got: Vec<u64> = as_completed(futures).map(|f| f.get().unwrap()).collect();
    got.sort();
    assert_eq!(got, (20..26).map(fib).collect::<Vec<_>>());
    let mapped: Vec<u64> = ex.map(fib, [10, 1, 12]).map(Result::unwrap).collect();
    assert_eq!(mapped, [55, 1, 144]);
    let late = ex.submit(slow_echo, 50);
    ex.shutdown(true);
    assert_eq!(late.get(), Ok(50), "shutdown(wait) lets submitted work finish");
    assert_eq!(ex.submit(square, 2).get(), Err(TaskError::Closed));
}

fn executor_timed_forms() {
    let mut ex = ProcessPoolExecutor::new(1).unwrap();
    let mut done = as_completed([ex.submit(slow_echo, 300)]);
    // The one task sleeps 300 ms: nothing has finished yet.
    assert!(done.try_next().is_err());
    let t = Duration::from_millis(5);
    let started = Instant::now();
    let first = done.next_timeout(t);
    assert!(first.is_ok() || started.elapsed() >= t, "a timed-out next waited its time");
    let got = match first {
        Ok(Some(f)) => f,
        _ => done.next_deadline(Deadline::after(Duration::from_secs(60))).unwrap().expect("one future"),
    };
    assert_eq!(got.get(), Ok(300));
    assert!(matches!(done.try_next(), Ok(None)), "every future was yielded");
    ex.submit(slow_echo, 1);
    assert!(ex.shutdown_deadline(Deadline::after(Duration::from_secs(60))));
    assert!(ex.shutdown_timeout(Duration::ZERO), "a finished executor shuts down at once");
}

// --- harness -----------------------------------------------------------------------------

fn main() {
    shmkit_process::init();
    let tests: [(&str, fn()); 20] = [
        ("start_join_exitcode_pid_name", start_join_exitcode_pid_name),
        ("join_timeout_and_is_alive", join_timeout_and_is_alive),
        ("the_four_join_forms", the_four_join_forms),
        ("terminate_and_kill_a_busy_child", terminate_and_kill_a_busy_child),
        ("a_panic_reaches_the_parent", a_panic_reaches_the_parent),
        ("identity_in_the_child", identity_in_the_child),
        ("daemons_die_with_their_parent", daemons_die_with_their_parent),
        ("no_zombie_after_dropping_handles", no_zombie_after_dropping_handles),
        ("objects_are_shared_with_children", objects_are_shared_with_children),
        ("pool_map_imap_and_unordered", pool_map_imap_and_unordered),
        ("pool_callbacks_run_in_the_parent", pool_callbacks_run_in_the_parent),
        ("the_four_forms_of_results_and_pools", the_four_forms_of_results_and_pools),
        ("a_crashing_worker_fails_only_its_task", a_crashing_worker_fails_only_its_task),
        (
            "terminate_leaves_no_worker_and_max_tasks_replaces_them",
            terminate_leaves_no_worker_and_max_tasks_replaces_them,
        ),
        ("a_replacement_worker_inherits_no_held_lock", a_replacement_worker_inherits_no_held_lock),
        ("a_pool_outlives_the_thread_that_made_it", a_pool_outlives_the_thread_that_made_it),
        ("the_pool_goes_with_its_owner", the_pool_goes_with_its_owner),
        ("a_dead_fork_server_fails_tasks_without_hanging", a_dead_fork_server_fails_tasks_without_hanging),
        ("executor_submit_as_completed_and_shutdown", executor_submit_as_completed_and_shutdown),
        ("executor_timed_forms", executor_timed_forms),
    ];
    harness::run(&tests, Duration::from_secs(120));
}
