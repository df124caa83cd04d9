//! The Python tutorial's "queue": the parent puts 1 to 8 into a Queue; five child
//! processes take one item each; the parent takes the three that are left.
//!
//! ```text
//! cargo run --example queue_five_readers
//! ```
//!
//! Python:
//!
//! ```python
//! def reader(q):
//!     print('get:', q.get(), 'pid:', os.getpid())
//!
//! if __name__ == '__main__':
//!     q = Queue()
//!     for i in range(1, 9):
//!         q.put(i)
//!     ps = [Process(target=reader, args=(q,)) for _ in range(5)]
//!     for p in ps: p.start()
//!     for p in ps: p.join()
//!     while not q.empty():
//!         print('get:', q.get(), 'pid:', os.getpid())
//! ```
//!
//! Python's `Queue()` has no bound; a shmkit queue always has one (here 8). The queue is
//! anonymous: each child is forked with a handle of its own (`try_clone`), which is how
//! `args=(q,)` reads here.

mod common;

use std::time::Duration;

use shmkit::{Process, Queue};

fn reader(q: &Queue<u64>) -> Result<(), Box<dyn std::error::Error>> {
    // `q.get()`, with a deadline so that a broken run fails instead of hanging.
    let item = q.get_timeout(Duration::from_secs(10))?;
    println!("get: {item} pid: {}", std::process::id());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<u64>::anonymous(8)?;
    for i in 1..=8 {
        q.put(i)?;
    }
    println!("parent {}: put 1..=8, queue holds {}", std::process::id(), q.len());
    let mut ps = Vec::new();
    for _ in 0..5 {
        let q = q.try_clone()?;
        ps.push(Process::new(move || reader(&q).unwrap_or_else(|e| panic!("reader: {e}"))));
    }
    for p in &mut ps {
        p.start()?;
    }
    for p in &mut ps {
        common::join_ok(p)?;
    }
    println!("five readers joined; {} left for the parent:", q.len());
    while !q.is_empty() {
        println!("get: {} pid: {}", q.get()?, std::process::id());
    }
    Ok(())
}
