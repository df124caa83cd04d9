//! The Python tutorial's "the uses of join", and its pid before and after `start`: a
//! child's pid is `None` until it is started; `join` waits for it (with a timeout, it may
//! give up first); children started together run together, joined one by one they run one
//! after the other; `is_alive` is true while the child runs.
//!
//! ```text
//! cargo run --release --example process_join
//! ```
//!
//! Python (the pid before and after start, then the join uses 1, 2, 2 improved, 3, and
//! is_alive):
//!
//! ```python
//! progress = multiprocessing.Process(target=get_html, args=(3,))
//! print(progress.pid)            # None
//! progress.start()
//! print(progress.pid)            # 12864
//! progress.join()                # sub_progress sccess
//!
//! # 1. the parent sleeps 5 s, then joins a child that slept 2 s
//! p = Process(target=foo); p.start(); time.sleep(5); p.join(); print('主进程')
//!
//! # 2. three children sleep 1, 2 and 3 s: started together, then joined: 3.1 s
//! p1 = Process(target=foo, args=(1,)); p2 = ...; p3 = ...
//! p1.start(); p2.start(); p3.start(); p1.join(); p2.join(); p3.join()
//!
//! # 2, improved: a list of processes
//! for i in range(1, 4):
//!     p = Process(target=foo, args=(i,)); p.start(); p_list.append(p)
//! print(p_list)    # [<Process(Process-1, started)>, <Process(Process-2, started)>, ...]
//! for p in p_list: p.join()
//!
//! # 3. each started and joined before the next: 6.3 s
//! p1.start(); p1.join(); p2.start(); p2.join(); p3.start(); p3.join()
//!
//! # is_alive
//! p.start(); print(p.is_alive())   # True
//! time.sleep(5); print(p.is_alive())   # False
//!
//! # and join with a timeout: p.join([timeout])
//! ```
//!
//! A second of Python is 100 ms here. `print(p_list)` has no Rust twin (a `Process` has
//! `Debug`, not Python's repr), so [`repr`] writes Python's form from `get_name` and
//! `is_alive`.

use std::time::{Duration, Instant};

use shmkit::Process;

/// One of the tutorial's seconds.
const UNIT: Duration = Duration::from_millis(100);

/// The pid example's child: sleeps `n` units.
fn get_html(n: u32) {
    std::thread::sleep(UNIT * n);
    println!("sub_progress success");
}

/// The join examples' first child: sleeps 2 units.
fn foo() {
    println!("process start");
    std::thread::sleep(UNIT * 2);
    println!("process end");
}

/// The join examples' other children: sleep `x` units.
fn foo_x(x: u32) {
    println!("process{x},start");
    std::thread::sleep(UNIT * x);
    println!("process{x},end");
}

/// Python's `print(p.pid)`: the number, or `None` before `start`.
fn pid(p: &Process) -> String {
    p.pid().map_or_else(|| "None".to_owned(), |pid| pid.to_string())
}

/// Python's `repr(p)`, as the tutorial prints it: `<Process(Process-1, started)>`.
fn repr(p: &Process) -> String {
    let state = match (p.pid(), p.exitcode()) {
        (None, _) => "initial".to_owned(),
        (Some(_), None) => "started".to_owned(),
        (Some(_), Some(code)) => format!("stopped[{code}]"),
    };
    format!("<Process({}, {state})>", p.get_name())
}

/// `p.join()`, and an error if the child failed.
fn join(p: &mut Process) -> Result<(), Box<dyn std::error::Error>> {
    match p.join()? {
        0 => Ok(()),
        code => Err(format!("{} ended with exit code {code}", p.get_name()).into()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("-- the pid before and after start --");
    let mut progress = Process::call(get_html, 3);
    println!("{}", pid(&progress));
    progress.start()?;
    println!("{}", pid(&progress));
    join(&mut progress)?;

    println!("\n-- join 1: the parent sleeps 5 units, the child 2; join returns at once --");
    let mut p = Process::new(foo);
    p.start()?;
    std::thread::sleep(UNIT * 5);
    let t = Instant::now();
    join(&mut p)?;
    println!("main process (join waited {:.3} s: the child had ended)", t.elapsed().as_secs_f64());

    println!("\n-- join 2: three children started together, then joined --");
    let (mut p1, mut p2, mut p3) =
        (Process::call(foo_x, 1), Process::call(foo_x, 2), Process::call(foo_x, 3));
    let start = Instant::now();
    p1.start()?;
    p2.start()?;
    p3.start()?;
    join(&mut p1)?;
    join(&mut p2)?;
    join(&mut p3)?;
    println!("{:.3}", start.elapsed().as_secs_f64());
    println!("main process (about 3 units: the longest child)");

    println!("\n-- join 2, improved: a list of processes --");
    let start = Instant::now();
    let mut p_list = Vec::new();
    for i in 1..4 {
        let mut p = Process::call(foo_x, i);
        p.start()?;
        p_list.push(p);
    }
    println!("[{}]", p_list.iter().map(repr).collect::<Vec<_>>().join(", "));
    for p in &mut p_list {
        join(p)?;
    }
    println!("{:.3}", start.elapsed().as_secs_f64());
    println!("main process");

    println!("\n-- join 3: each started and joined before the next --");
    let (mut p1, mut p2, mut p3) =
        (Process::call(foo_x, 1), Process::call(foo_x, 2), Process::call(foo_x, 3));
    let start = Instant::now();
    p1.start()?;
    join(&mut p1)?;
    p2.start()?;
    join(&mut p2)?;
    p3.start()?;
    join(&mut p3)?;
    println!("{:.3}", start.elapsed().as_secs_f64());
    println!("main process ended (about 1 + 2 + 3 = 6 units: one after the other)");

    println!("\n-- is_alive before and after the child ends --");
    let mut p = Process::new(foo);
    println!("before start: {}", p.is_alive());
    p.start()?;
    println!("{}", p.is_alive());
    std::thread::sleep(UNIT * 5);
    println!("{}", p.is_alive());
    println!("main process");
    join(&mut p)?;

    println!("\n-- join with a timeout --");
    let mut p = Process::call(foo_x, 3);
    p.start()?;
    let code = p.join_timeout(UNIT)?;
    println!("join(timeout=1 unit) -> {code:?}; is_alive {}; exitcode {:?}", p.is_alive(), p.exitcode());
    let code = p.join_timeout(UNIT * 50)?;
    println!("join(timeout=50 units) -> {code:?}; is_alive {}; exitcode {:?}", p.is_alive(), p.exitcode());
    println!("{}", repr(&p));
    Ok(())
}
