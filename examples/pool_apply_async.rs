//! The Python tutorial's "the process pool" (and its `Pool` / `apply_async` / `close` /
//! `join`): four worker processes run ten tasks, at most four at a time; the parent
//! closes the pool and joins it.
//!
//! ```text
//! cargo run --release --example pool_apply_async
//! ```
//!
//! Python:
//!
//! ```python
//! def first_func(name):
//!     print('in first func:', name, os.getpid())
//!     time.sleep(2)
//!
//! if __name__ == '__main__':
//!     pool = Pool(4)
//!     print('main process id:', os.getpid())
//!     for i in range(10):
//!         # pool.apply(first_func, (i,))         # the same, one after the other
//!         pool.apply_async(first_func, args=('process' + str(i),))  # in parallel
//!     pool.close()
//!     pool.join()
//! ```
//!
//! A task is a `fn` item with a serde argument, as Python's is a picklable top-level
//! function. The tasks sleep 200 ms instead of 2 s: ten of them on four workers take
//! three rounds, about 0.6 s, and only four pids appear, each worker running several
//! tasks. Then the same with `apply`, the commented-out line: each call waits for its
//! result, so the tasks run one after the other (about 2 s).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use shmkit::Pool;

const SLEEP: Duration = Duration::from_millis(200);

/// The task: says where it runs; its result is the worker's pid.
fn first_func(name: String) -> u32 {
    println!("in first func: {name} {}", std::process::id());
    std::thread::sleep(SLEEP);
    std::process::id()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut pool = Pool::new(4)?;
    println!("main process id: {}", std::process::id());
    let start = Instant::now();
    let handles: Vec<_> = (0..10).map(|i| pool.apply_async(first_func, format!("process{i}"))).collect();
    pool.close();
    pool.join();
    let elapsed = start.elapsed();
    // Every task's result is there after `join`; a task that failed says why here.
    let pids = handles.into_iter().map(|h| h.get()).collect::<Result<BTreeSet<u32>, _>>()?;
    println!(
        "apply_async: 10 tasks in {:.2} s on {} worker processes {pids:?}",
        elapsed.as_secs_f64(),
        pids.len()
    );

    println!("\n-- pool.apply: one task at a time --");
    let mut pool = Pool::new(4)?;
    let start = Instant::now();
    for i in 0..10 {
        pool.apply(first_func, format!("process{i}"))?;
    }
    pool.close();
    pool.join();
    println!("apply: 10 tasks in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
