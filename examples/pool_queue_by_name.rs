//! The Python tutorial's "Manager (to use with a process pool)": a producer and a
//! consumer given to a `Pool(3)` share a queue. Python needs `Manager().Queue()` there, a
//! proxy to a queue held by a server process, because a `multiprocessing.Queue` cannot be
//! passed to pool tasks. A shmkit MessageQueue is passed by its name: each task opens it.
//!
//! ```text
//! cargo run --release --example pool_queue_by_name              # workers forked
//! cargo run --release --example pool_queue_by_name -- --spawn   # workers spawned
//! ```
//!
//! Python:
//!
//! ```python
//! def producer(queue):
//!     queue.put("a")
//!     time.sleep(2)
//!
//! def consumer(queue):
//!     time.sleep(2)
//!     data = queue.get()
//!     print(data)
//!
//! if __name__ == "__main__":
//!     queue = Manager().Queue()
//!     pool = Pool(3)
//!     pool.apply_async(producer, args=(queue,))
//!     pool.apply_async(consumer, args=(queue,))
//!     pool.close()
//!     pool.join()
//! # output: a
//! ```
//!
//! Pool tasks are `fn` items with serde arguments: the argument is the queue's name, a
//! `String`, and the task opens the queue, so the same program works with workers that
//! are forked or spawned (started afresh, inheriting nothing). A task returns its error
//! as a `Result` value, which reaches the parent. The tasks sleep 200 ms, not 2 s.
//! The queue is a `MessageQueue`: the item is the string "a", as Python puts it.

mod common;

use std::time::{Duration, Instant};

use common::unique;
use shmkit::segment::UnlinkGuard;
use shmkit::{MessageQueue, Pool, PoolOptions, StartMethod};

const SLEEP: Duration = Duration::from_millis(200);

fn producer(queue: String) -> Result<(), String> {
    let queue = MessageQueue::open(&queue).map_err(|e| e.to_string())?;
    queue.put("a").map_err(|e| e.to_string())?;
    std::thread::sleep(SLEEP);
    Ok(())
}

fn consumer(queue: String) -> Result<(), String> {
    let queue = MessageQueue::open(&queue).map_err(|e| e.to_string())?;
    std::thread::sleep(SLEEP);
    // `queue.get()`, with a deadline so that a producer that failed cannot hang the run.
    let item: String = queue.get_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    println!("{item}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Spawned workers are this program started again: `init` makes them workers.
    shmkit::init();
    let method =
        if std::env::args().any(|a| a == "--spawn") { StartMethod::Spawn } else { StartMethod::Fork };
    let name = unique("pool-queue-by-name");
    let _queue = MessageQueue::create(&name, 10)?;
    let _cleanup = UnlinkGuard::new(&name);

    let start = Instant::now();
    let mut pool = Pool::with_options(PoolOptions::new().processes(3).start_method(method))?;
    let produced = pool.apply_async(producer, name.clone());
    let consumed = pool.apply_async(consumer, name);
    pool.close();
    pool.join();
    // The outer `?`: the task did not run (a worker died, ...); the inner: it failed.
    produced.get()??;
    consumed.get()??;
    println!("workers {method:?}: both tasks done after {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
