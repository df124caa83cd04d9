//! Seed 002, "producer and consumer": two processes share a Queue(10); the producer puts
//! "a" and sleeps 2 s, the consumer sleeps 2 s and then gets and prints it.
//!
//! ```text
//! cargo run --example queue_producer_consumer
//! ```
//!
//! Python:
//!
//! ```python
//! def producer(q):
//!     q.put('a')
//!     time.sleep(2)
//!
//! def consumer(q):
//!     time.sleep(2)
//!     print(q.get())
//!
//! if __name__ == '__main__':
//!     q = Queue(10)
//!     p1 = Process(target=producer, args=(q,))
//!     p2 = Process(target=consumer, args=(q,))
//!     p1.start(); p2.start()
//!     p1.join(); p2.join()
//! ```
//!
//! Both sleep at once, so the run takes about 2 s. `Queue(10)` holds 16: a shmkit
//! capacity is rounded up to a power of two. The item is a `[u8; 16]` byte string.

mod common;

use std::time::{Duration, Instant};

use common::{join_all, spawn_self, unique, Unlink};
use shmkit::Queue;

/// An item: text padded with zero bytes.
type Item = [u8; 16];

const SLEEP: Duration = Duration::from_secs(2);

fn producer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Item>::open(name)?;
    let mut item = [0; 16];
    item[..1].copy_from_slice(b"a");
    q.put(item)?;
    std::thread::sleep(SLEEP);
    Ok(())
}

fn consumer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Item>::open(name)?;
    std::thread::sleep(SLEEP);
    // `q.get()`, with a deadline so that a producer that failed cannot hang the run.
    let item = q.get_timeout(Duration::from_secs(10))?;
    let len = item.iter().position(|&b| b == 0).unwrap_or(item.len());
    println!("{}", std::str::from_utf8(&item[..len])?);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("producer") => return producer(&args[2]),
        Some("consumer") => return consumer(&args[2]),
        _ => {}
    }
    let name = unique("queue-producer-consumer");
    let q = Queue::<Item>::create(&name, 10)?;
    let _cleanup = Unlink(name.clone());
    println!("Queue(10): capacity {}", q.capacity());
    let start = Instant::now();
    let p1 = spawn_self(&["producer", &name])?;
    let p2 = spawn_self(&["consumer", &name])?;
    join_all(vec![p1, p2])?;
    println!("both joined after {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
