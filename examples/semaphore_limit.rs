//! Seed 003, "semaphore": a Semaphore(3) lets at most three of eight processes work at
//! once; `value()` is Python's `get_value()`.
//!
//! ```text
//! cargo run --example semaphore_limit
//! ```
//!
//! Python:
//!
//! ```python
//! sem = Semaphore(3)
//! def worker(sem):
//!     sem.acquire()      # blocks while the value is 0
//!     ...                # work
//!     sem.release()
//! print(sem.get_value())
//! ```

mod common;

use std::time::{Duration, Instant};

use common::{join_all, spawn_self, unique, Unlink};
use shmkit::Semaphore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let sem = Semaphore::open(&args[2])?;
        let start = Instant::now();
        sem.acquire();
        println!(
            "pid {} starts work after waiting {:>4} ms (value now {})",
            std::process::id(),
            start.elapsed().as_millis(),
            sem.value()
        );
        std::thread::sleep(Duration::from_millis(300));
        sem.release()?;
        return Ok(());
    }
    let name = unique("semaphore-limit");
    let sem = Semaphore::create(&name, 3)?;
    let _cleanup = Unlink(name.clone());
    println!("Semaphore(3): value {}", sem.value());
    let children = (0..8).map(|_| spawn_self(&["child", &name])).collect::<Result<Vec<_>, _>>()?;
    join_all(children)?;
    println!("all done: value {} (every unit came back)", sem.value());
    Ok(())
}
