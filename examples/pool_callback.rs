//! The Python tutorial's "the process pool": `apply_async(func=Foo, args=(i,),
//! callback=Bar)` on a pool of five; `Foo` runs in a worker process, `Bar` gets its
//! result in the parent.
//!
//! ```text
//! cargo run --release --example pool_callback
//! ```
//!
//! Python:
//!
//! ```python
//! def Foo(i):
//!     time.sleep(2)
//!     print("in process", os.getpid())
//!     return i + 100
//!
//! def Bar(arg):
//!     print('-->exec done:', arg)
//!
//! if __name__ == '__main__':
//!     pool = Pool(processes=5)     # at most five processes at a time
//!     print("主进程", os.getpid())   # the main process
//!     for i in range(10):
//!         pool.apply_async(func=Foo, args=(i,), callback=Bar)
//!     print('end')
//!     pool.close()
//!     pool.join()     # wait for the pool's tasks; without it the program ends at once
//! ```
//!
//! The tutorial's output shows `Bar` printing the main process's pid: "the callback is run by
//! the parent process", so that (say) one database connection in the parent serves every
//! result. Here `bar` prints its pid beside the parent's and the run checks they are the
//! same for all ten. `Foo` sleeps 200 ms instead of 2 s: two rounds of five, about 0.4 s.
//! `apply_async` returns at once, so "end" comes before any result.
//!
//! One difference: Python runs every callback on one result-handler thread, one at a
//! time; shmkit runs each on the parent thread that feeds the task's worker, so
//! callbacks may run at the same time (the closure is `Send`, and shared state needs a
//! lock or an atomic, as `in_parent` here), and a slow callback holds up that worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shmkit::Pool;

const SLEEP: Duration = Duration::from_millis(200);

fn foo(i: u64) -> u64 {
    std::thread::sleep(SLEEP);
    println!("in process {}", std::process::id());
    i + 100
}

/// The callback: runs in the parent (on one of the pool's threads there).
fn bar(arg: u64) {
    println!("-->exec done: {arg} {}", std::process::id());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let parent = std::process::id();
    let mut pool = Pool::new(5)?;
    println!("main process {parent}");
    let start = Instant::now();
    let in_parent = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let in_parent = Arc::clone(&in_parent);
            pool.apply_async_with(
                foo,
                i,
                move |&r| {
                    bar(r);
                    if std::process::id() == parent {
                        in_parent.fetch_add(1, Ordering::Relaxed);
                    }
                },
                |e| eprintln!("-->failed: {e}"),
            )
        })
        .collect();
    println!("end");
    pool.close();
    pool.join();
    for h in handles {
        h.get()?; // a task that failed says why
    }
    println!(
        "10 results in {:.2} s; callbacks run in the parent ({parent}): {}/10",
        start.elapsed().as_secs_f64(),
        in_parent.load(Ordering::Relaxed)
    );
    Ok(())
}
