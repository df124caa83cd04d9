//! How processes and pool workers start and die: a program that forgets `init()` under
//! spawn, a pool worker killed while idle, a pool worker killed while starting.
//!
//! A custom harness (`harness = false`). Some tests run this binary again as a small
//! program of their own (a *role*, chosen by the `SHMKIT_TEST_ROLE` variable), in its own
//! process group, under a watchdog that kills the group; the role programs decide in
//! `main` before anything else, and only the harness itself calls `init()` first.
#![allow(missing_docs)]

mod harness;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shmkit_process::{parent_pid, Pool, PoolOptions, Process, ProcessPoolExecutor, StartMethod, TaskError};

const METHODS: [StartMethod; 2] = [StartMethod::Fork, StartMethod::Spawn];

/// Which role program this run of the binary is (unset: the harness).
const ROLE: &str = "SHMKIT_TEST_ROLE";
/// The harness's pid: a role program whose parent it is, is the role's first process.
const HARNESS: &str = "SHMKIT_TEST_HARNESS";
/// The file in which the forgetful program's runs append their pids.
const PIDS: &str = "SHMKIT_TEST_PIDS";

/// What every refusal to start a process in a spawned child without `init()` says.
const ADVICE: &str = "call shmkit::init() first thing in main";

/// At most this many runs of the forgetful program: the fuse that bounds the fork bomb of
/// a build without the fix.
const FUSE: usize = 6;

// --- helpers -------------------------------------------------------------------------------

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("test-life-{tag}-{}-{nanos:x}", std::process::id())
}

fn eventually(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "watchdog: {what} not true after {limit:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Fields 3.. of `/proc/<pid>/stat` (state, ppid, pgrp, ...), if the process exists.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit(')').next()?.split_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` is gone or a zombie.
fn is_dead(pid: u32) -> bool {
    stat_fields(pid).is_none_or(|f| f.first().map(String::as_str) == Some("Z"))
}

/// Every process whose field `index` (of [`stat_fields`]: 1 the parent, 2 the group) is
/// `value`.
fn processes_with(index: usize, value: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_fields(pid).and_then(|f| f.get(index)?.parse::<u32>().ok()) == Some(value))
        .collect()
}

fn children_of(pid: u32) -> Vec<u32> {
    processes_with(1, pid)
}

fn signal(pid: u32, sig: i32) {
    shmkit_core::child::send_signal(pid, sig).unwrap();
}

/// Kills every process of the group `pgid`.
fn kill_group(pgid: u32) {
    // SAFETY: plain system call with integer arguments; a negative pid names the group
    // this test made for its role program.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGKILL) };
}

/// The pool pipes' names of this process in /dev/shm.
fn pool_files() -> Vec<String> {
    let mine = format!("shmkit.pool-{}-", std::process::id());
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&mine))
        .collect()
}

/// Removes a file when dropped.
struct RemoveFile(std::path::PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs this binary as the role program `role` in a new process group, with `env`;
/// its output once it has exited. Watchdog: after `limit` the group is killed and the
/// test fails. Any process of the group still there at the end is killed, and returned.
fn run_role(role: &str, env: &[(&str, &str)], limit: Duration) -> (Output, Vec<u32>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(ROLE, role)
        .env(HARNESS, std::process::id().to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd.spawn().unwrap();
    let pgid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            kill_group(pgid);
            let _ = waiter.join();
            panic!("watchdog: the {role} program did not finish within {limit:?} (its group was killed)");
        }
    };
    let _ = waiter.join();
    let left = processes_with(2, pgid);
    kill_group(pgid);
    (output, left)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// --- targets -------------------------------------------------------------------------------

fn noop(_: ()) {}

fn square(x: u64) -> u64 {
    x * x
}

fn my_pid(_: u64) -> u32 {
    std::process::id()
}

/// The worker's pid and its parent's (the fork server under fork).
fn who(_: u64) -> (u32, u32) {
    (std::process::id(), parent_pid())
}

// --- role programs -------------------------------------------------------------------------

/// A program that forgets `init()`. Its first run (the harness's child) starts a spawned
/// process; that process runs this `main` again, as the spawn start method does, and
/// tries every way of starting processes, each of which must be refused. Every run
/// appends its pid to the file named by `PIDS`, and runs beyond the [`FUSE`] exit at once.
fn forgetful() -> i32 {
    let Ok(path) = std::env::var(PIDS) else { return 2 };
    let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&path) else { return 2 };
    let _ = writeln!(file, "{}", std::process::id());
    drop(file);
    let runs = std::fs::read_to_string(&path).map_or(usize::MAX, |s| s.lines().count());
    if runs > FUSE {
        println!("FUSE: run {runs}");
        return 9;
    }
    let first = std::env::var(HARNESS).ok() == Some(parent_pid().to_string());
    if first {
        let mut p = Process::call(noop, ()).start_method(StartMethod::Spawn);
        if let Err(e) = p.start() {
            println!("FIRST RUN REFUSED: {e}");
            return 1;
        }
        return match p.join_timeout(Duration::from_secs(60)) {
            Ok(Some(code)) => {
                println!("the spawned run exited with {code}");
                0
            }
            other => {
                println!("the spawned run: {other:?}");
                1
            }
        };
    }
    let report = |what: &str, refused: Result<String, String>| match refused {
        Ok(why) => println!("refused {what}: {why}"),
        Err(how) => println!("STARTED {what}: {how}"),
    };
    let mut p = Process::call(noop, ()).start_method(StartMethod::Spawn);
    report(
        "a spawn process",
        match p.start() {
            Err(e) => Ok(e.to_string()),
            Ok(()) => Err(format!("{:?}", p.join_timeout(Duration::from_secs(60)))),
        },
    );
    let mut p = Process::new(|| {});
    report(
        "a fork process",
        match p.start() {
            Err(e) => Ok(e.to_string()),
            Ok(()) => Err(format!("{:?}", p.join_timeout(Duration::from_secs(60)))),
        },
    );
    for method in METHODS {
        let refused = Pool::with_options(PoolOptions::new().processes(1).start_method(method))
            .map(drop)
            .map_err(|e| e.to_string());
        report(&format!("a {method:?} pool"), refused.map_or_else(Ok, |()| Err("made".into())));
    }
    let refused = ProcessPoolExecutor::new(1).map(drop).map_err(|e| e.to_string());
    report("an executor", refused.map_or_else(Ok, |()| Err("made".into())));
    0
}

/// A program whose spawned pool workers die before they are ready (`die-kill`: SIGKILL;
/// `die-exit`: exit code 7), before `init()`. Its first run makes a spawn pool and prints
/// why it could not.
fn dies_at_start(kill: bool) -> i32 {
    let first = std::env::var(HARNESS).ok() == Some(parent_pid().to_string());
    if !first {
        if kill {
            let _ = shmkit_core::child::send_signal(std::process::id(), shmkit_core::child::SIGKILL);
            std::thread::sleep(Duration::from_secs(30));
        }
        return 7;
    }
    shmkit_process::init();
    match Pool::with_options(PoolOptions::new().processes(1).start_method(StartMethod::Spawn)) {
        Ok(_) => {
            println!("MADE");
            1
        }
        Err(e) => {
            println!("{e:?}");
            0
        }
    }
}

// --- tests: forgetting init ------------------------------------------------------------------

/// Issue 15, item 0: a spawned child whose `main` does not call `init()` must refuse to
/// start processes (every way: spawn, fork, pools, executor), not start itself again.
fn forgetting_init_refuses_to_start_processes() {
    let path = std::env::temp_dir().join(unique("pids"));
    std::fs::File::create(&path).unwrap();
    let _remove = RemoveFile(path.clone());
    let (out, left) = run_role("forgetful", &[(PIDS, path.to_str().unwrap())], Duration::from_secs(60));
    let stdout = text(&out.stdout);
    let runs: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(str::to_owned).collect();
    assert!(left.is_empty(), "processes left in the program's group: {left:?}\n{stdout}");
    assert_eq!(
        runs.len(),
        2,
        "the program ran {} times (fuse at {FUSE}): the spawned run started itself again\n{stdout}",
        runs.len()
    );
    assert!(!stdout.contains("STARTED"), "{stdout}");
    let refusals: Vec<&str> = stdout.lines().filter(|l| l.starts_with("refused")).collect();
    assert_eq!(refusals.len(), 5, "{stdout}\n{}", text(&out.stderr));
    for line in refusals {
        assert!(line.contains(ADVICE), "{line}");
    }
    assert!(stdout.contains("the spawned run exited with 0"), "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}

// --- tests: a worker killed while idle -------------------------------------------------------

/// Issue 15, item 10: a task given to a worker that had died idle runs on its replacement.
fn an_idle_worker_killed_does_not_fail_the_next_task() {
    for method in METHODS {
        let mut pool = Pool::with_options(PoolOptions::new().processes(1).start_method(method)).unwrap();
        assert_eq!(pool.apply(square, 1), Ok(1), "{method:?}");
        let worker = pool.apply(my_pid, 0).unwrap();
        signal(worker, shmkit_core::child::SIGKILL);
        eventually("the idle worker dead", Duration::from_secs(20), || is_dead(worker));
        assert_eq!(pool.apply(square, 7), Ok(49), "{method:?}: the task never ran on the dead worker");
        assert_ne!(pool.apply(my_pid, 0).unwrap(), worker, "{method:?}: replaced");
        pool.join();
    }
}

/// Issue 15, item 10, through the executor: ten idle workers killed, every future is Ok.
fn executor_idle_kills_fail_no_future() {
    for method in METHODS {
        let opts = PoolOptions::new().processes(1).start_method(method);
        let mut ex = ProcessPoolExecutor::with_options(opts).unwrap();
        for i in 0..10u64 {
            let worker = ex.submit(my_pid, i).get().unwrap();
            signal(worker, shmkit_core::child::SIGKILL);
            eventually("the idle worker dead", Duration::from_secs(20), || is_dead(worker));
            assert_eq!(ex.submit(square, i).get(), Ok(i * i), "{method:?}, kill {i}");
        }
        ex.shutdown(true);
    }
}

// --- tests: a worker killed while starting ---------------------------------------------------

/// Under fork: the pool's next worker is made to wait in its start (its pipe's name is
/// replaced by an empty file, which an opener waits on while its creator fills it; or is
/// removed, which makes the worker fail), and is killed there. The task it was to run fails
/// with a start error that says what happened, without the spawn advice.
fn fork_worker_dying_at_start(kill: bool) -> String {
    let opts = PoolOptions::new().processes(1).max_tasks_per_child(1);
    let mut pool = Pool::with_options(opts).unwrap();
    let (first, server) = pool.apply(who, 0).unwrap();
    // The first worker retires after its task; once it is reaped, the feeder waits for the
    // next task and starts the next worker only then.
    eventually("the first worker reaped", Duration::from_secs(20), || {
        std::fs::metadata(format!("/proc/{first}")).is_err()
    });
    signal(server, libc::SIGSTOP);
    let stopped = || stat_fields(server).and_then(|f| f.first().cloned()).as_deref() == Some("T");
    eventually("the fork server stopped", Duration::from_secs(20), stopped);
    let pending = pool.apply_async(square, 2);
    eventually("the next worker's pipe", Duration::from_secs(20), || !pool_files().is_empty());
    let mut guards = Vec::new();
    for name in pool_files() {
        let path = std::path::Path::new("/dev/shm").join(name);
        std::fs::remove_file(&path).unwrap();
        if kill {
            std::fs::File::create(&path).unwrap();
        }
        guards.push(RemoveFile(path));
    }
    signal(server, libc::SIGCONT);
    if kill {
        eventually("the next worker forked", Duration::from_secs(20), || !children_of(server).is_empty());
        for worker in children_of(server) {
            signal(worker, shmkit_core::child::SIGKILL);
        }
    }
    let got = pending.get_timeout(Duration::from_secs(30)).expect("watchdog: the task's result");
    // The pool goes on with a new worker.
    assert_eq!(pool.apply(square, 3), Ok(9));
    pool.join();
    match got {
        Err(TaskError::Start(why)) => why,
        other => panic!("expected a start error, got {other:?}"),
    }
}

/// Issue 15, item 13: the start error says how the worker ended, and gives the advice
/// about `init()` only under spawn for a worker that exited.
fn a_worker_dying_at_start_says_what_happened() {
    let why = fork_worker_dying_at_start(true);
    assert!(why.contains("killed by signal 9"), "{why}");
    assert!(!why.contains("init"), "fork has no init to forget: {why}");
    let why = fork_worker_dying_at_start(false);
    assert!(why.contains("exited with code 101"), "{why}");
    assert!(!why.contains("init"), "fork has no init to forget: {why}");

    let (out, left) = run_role("die-kill", &[], Duration::from_secs(60));
    let stdout = text(&out.stdout);
    assert!(left.is_empty(), "{left:?}");
    assert!(stdout.contains("Start(") && stdout.contains("killed by signal 9"), "{stdout}");
    assert!(!stdout.contains("init"), "a worker killed by a signal did not forget init: {stdout}");

    let (out, left) = run_role("die-exit", &[], Duration::from_secs(60));
    let stdout = text(&out.stdout);
    assert!(left.is_empty(), "{left:?}");
    assert!(stdout.contains("Start(") && stdout.contains("exited with code 7"), "{stdout}");
    assert!(stdout.contains("shmkit::init()"), "under spawn, the advice: {stdout}");
}

// --- harness -------------------------------------------------------------------------------

fn main() {
    // A role program decides before anything else (the forgetful one never calls init).
    if let Ok(role) = std::env::var(ROLE) {
        let code = match role.as_str() {
            "forgetful" => forgetful(),
            "die-kill" => dies_at_start(true),
            "die-exit" => dies_at_start(false),
            _ => 2,
        };
        std::process::exit(code);
    }
    shmkit_process::init();
    let tests: [(&str, fn()); 4] = [
        ("forgetting_init_refuses_to_start_processes", forgetting_init_refuses_to_start_processes),
        (
            "an_idle_worker_killed_does_not_fail_the_next_task",
            an_idle_worker_killed_does_not_fail_the_next_task,
        ),
        ("executor_idle_kills_fail_no_future", executor_idle_kills_fail_no_future),
        ("a_worker_dying_at_start_says_what_happened", a_worker_dying_at_start_says_what_happened),
    ];
    harness::run(&tests, Duration::from_secs(180));
}
