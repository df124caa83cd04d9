//! The Python tutorial's "the pid", "the name" and `daemon`: what a process can ask about
//! itself and about its children.
//!
//! ```text
//! cargo run --release --example process_queries
//! ```
//!
//! Python:
//!
//! ```python
//! # the name: Process-N unless one is given
//! def foo():
//!     print('process start')
//!     print('子进程的名字', current_process().name)     # the child's name
//!     time.sleep(2)
//!     print('process end')
//! p = Process(target=foo); p2 = Process(target=foo); p3 = Process(target=foo, name='ocean')
//! p.start(); p2.start(); p3.start()
//! print(p.name); print(p2.name); print(p3.name); print('主进程')
//!
//! # the pid, seen from the child and from the parent
//! def task():
//!     print('子进程 start')
//!     print('在子进程中查询自己的pid>', current_process().pid)   # the child's own pid
//!     print('在子进程中查询父进程的pid>', os.getppid())          # its parent's
//!     time.sleep(200)
//!     print('子进程end')
//! p = Process(target=task); p.start()
//! print('在主进程中查看子进程的pid>', p.pid)     # the child's pid, seen by the parent
//! print('主进程的pid>', os.getpid())             # the parent's own
//! print('主进程的父进程的pid>', os.getppid())    # the parent's parent's
//! print('主进程')
//!
//! # p.daemon = True (before start): the child ends when its parent ends
//! ```
//!
//! Python joins the children a program left running when it exits; shmkit does not (a
//! dropped `Process` is only reaped), so this program joins them itself. The children
//! sleep 200 ms, not 2 s (or 200 s).
//!
//! The daemon part needs a parent that ends before its child: a middle process starts a
//! daemon child (that would sleep 10 s) and a normal one (500 ms), tells us their pids
//! through a shared `Array`, and exits without joining them. The daemon dies with it at
//! once; the normal one lives on and ends on its own. (Python would join the normal one
//! before the middle process exits, and would terminate the daemon then.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmkit::{current_process, parent_pid, Array, Process};

const SLEEP: Duration = Duration::from_millis(200);

fn foo() {
    println!("process start");
    println!("the child's name {}", current_process().name);
    std::thread::sleep(SLEEP);
    println!("process end");
}

fn task() {
    println!("child start");
    println!("in the child, its own pid> {}", current_process().pid);
    println!("in the child, its parent's pid> {}", parent_pid());
    std::thread::sleep(SLEEP);
    println!("child end");
}

/// A grandchild: says who it is, sleeps `ms`, says it ended.
fn sleeper((tag, ms): (String, u64)) {
    let me = current_process();
    println!("{tag} child {} started: daemon {}, sleeps {ms} ms", me.pid, me.daemon);
    std::thread::sleep(Duration::from_millis(ms));
    println!("{tag} child {} ended", me.pid);
}

/// `p.join()`, and an error if the child failed.
fn join(p: &mut Process) -> Result<(), Box<dyn std::error::Error>> {
    match p.join()? {
        0 => Ok(()),
        code => Err(format!("{} ended with exit code {code}: {:?}", p.get_name(), p.panic_message()).into()),
    }
}

/// Whether `pid` has ended: gone, or a zombie nobody reaped yet.
fn has_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) == Some("Z"),
    }
}

/// Waits up to `limit` for `pid` to end.
fn ends_within(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if has_ended(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("-- the name --");
    let mut p = Process::new(foo);
    let mut p2 = Process::new(foo);
    let mut p3 = Process::new(foo).name("ocean");
    p.start()?;
    p2.start()?;
    p3.start()?;
    println!("{}", p.get_name());
    println!("{}", p2.get_name());
    println!("{}", p3.get_name());
    println!("main process ({})", current_process().name);
    for p in [&mut p, &mut p2, &mut p3] {
        join(p)?;
    }

    println!("\n-- the pid --");
    let mut p = Process::new(task);
    p.start()?;
    let child = p.pid().ok_or("a started process has a pid")?;
    println!("in the parent, the child's pid> {child}");
    println!("the parent's pid> {}", std::process::id());
    println!("the parent's parent's pid> {}", parent_pid());
    println!("main process");
    join(&mut p)?;

    println!("\n-- daemon --");
    let p = Process::new(|| {}).daemon(true);
    println!("Process::new(..).daemon(true): is_daemon {}", p.is_daemon());
    let pids = Arc::new(Array::<u32>::anonymous_zeroed(2)?);
    let pids_in_middle = Arc::clone(&pids);
    let mut middle = Process::new(move || {
        let mut daemon = Process::call(sleeper, ("daemon".to_owned(), 10_000)).daemon(true);
        let mut normal = Process::call(sleeper, ("normal".to_owned(), 500));
        for (i, p) in [&mut daemon, &mut normal].into_iter().enumerate() {
            if let Err(e) = p.start() {
                panic!("cannot start a child: {e}");
            }
            if let Err(e) = pids_in_middle.set(i, p.pid().unwrap_or(0)) {
                panic!("cannot report a pid: {e}");
            }
        }
        std::thread::sleep(Duration::from_millis(50)); // let them say hello
        println!("middle process {} ends, not joining its children", std::process::id());
    })
    .name("middle");
    middle.start()?;
    join(&mut middle)?;
    let (daemon, normal) = (pids.get(0)?, pids.get(1)?);
    println!("daemon child {daemon}: ended with its parent: {}", ends_within(daemon, Duration::from_secs(2)));
    println!("normal child {normal}: still running: {}", !has_ended(normal));
    // Not our child (its parent was `middle`), so we cannot join it: we watch it end.
    let ended = ends_within(normal, Duration::from_secs(5));
    println!("normal child {normal}: ended on its own: {ended}");
    Ok(())
}
