//! The Python tutorial's "producer and consumer": two processes share a Queue(10); the
//! producer puts "a" and sleeps 2 s, the consumer sleeps 2 s and then gets and prints it.
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
//! capacity is rounded up to a power of two. The item is a `[u8; 16]` byte string. The
//! queue is anonymous; each child is forked with a handle of its own (`try_clone`).

mod common;

use std::time::{Duration, Instant};

use shmkit::{Process, Queue};

/// An item: text padded with zero bytes.
type Item = [u8; 16];

const SLEEP: Duration = Duration::from_secs(2);

fn producer(q: &Queue<Item>) -> Result<(), Box<dyn std::error::Error>> {
    let mut item = [0; 16];
    item[..1].copy_from_slice(b"a");
    q.put(item)?;
    std::thread::sleep(SLEEP);
    Ok(())
}

fn consumer(q: &Queue<Item>) -> Result<(), Box<dyn std::error::Error>> {
    std::thread::sleep(SLEEP);
    // `q.get()`, with a deadline so that a producer that failed cannot hang the run.
    let item = q.get_timeout(Duration::from_secs(10))?;
    let len = item.iter().position(|&b| b == 0).unwrap_or(item.len());
    println!("{}", std::str::from_utf8(&item[..len])?);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Item>::anonymous(10)?;
    println!("Queue(10): capacity {}", q.capacity());
    let start = Instant::now();
    let (q1, q2) = (q.try_clone()?, q.try_clone()?);
    let mut p1 = Process::new(move || producer(&q1).unwrap_or_else(|e| panic!("producer: {e}")));
    let mut p2 = Process::new(move || consumer(&q2).unwrap_or_else(|e| panic!("consumer: {e}")));
    p1.start()?;
    p2.start()?;
    for p in [&mut p1, &mut p2] {
        common::join_ok(p)?;
    }
    println!("both joined after {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
