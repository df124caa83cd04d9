//! Seed 000, "queue": the parent puts 1 to 8 into a Queue; five child processes take one
//! item each; the parent takes the three that are left.
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
//! Python's `Queue()` has no bound; a shmkit queue always has one (here 8).

mod common;

use std::time::Duration;

use common::{join_all, spawn_self, unique, Unlink};
use shmkit::Queue;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let q = Queue::<u64>::open(&args[2])?;
        // `q.get()`, with a deadline so that a broken run fails instead of hanging.
        let item = q.get_timeout(Duration::from_secs(10))?;
        println!("get: {item} pid: {}", std::process::id());
        return Ok(());
    }
    let name = unique("queue-five-readers");
    let q = Queue::<u64>::create(&name, 8)?;
    let _cleanup = Unlink(name.clone());
    for i in 1..=8 {
        q.put(i)?;
    }
    println!("parent {}: put 1..=8, queue holds {}", std::process::id(), q.len());
    let children = (0..5).map(|_| spawn_self(&["child", &name])).collect::<Result<Vec<_>, _>>()?;
    join_all(children)?;
    println!("five readers joined; {} left for the parent:", q.len());
    while !q.is_empty() {
        println!("get: {} pid: {}", q.get()?, std::process::id());
    }
    Ok(())
}
