//! The Python tutorial's "semaphore": a Semaphore(3) lets at most three of eight
//! processes work at once; `value()` is Python's `get_value()`.
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmkit::{Process, Semaphore};

fn worker(sem: &Semaphore) -> Result<(), Box<dyn std::error::Error>> {
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
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Anonymous, so the children get it by fork; an `Arc` gives each child the same one.
    let sem = Arc::new(Semaphore::anonymous(3)?);
    println!("Semaphore(3): value {}", sem.value());
    let mut ps = Vec::new();
    for _ in 0..8 {
        let sem = Arc::clone(&sem);
        let mut p = Process::new(move || worker(&sem).unwrap_or_else(|e| panic!("worker: {e}")));
        p.start()?;
        ps.push(p);
    }
    for p in &mut ps {
        common::join_ok(p)?;
    }
    println!("all done: value {} (every unit came back)", sem.value());
    Ok(())
}
