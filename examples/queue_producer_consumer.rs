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
//! Both sleep at once, so the run takes about 2 s. The queue is a `MessageQueue`, which
//! carries what Python puts ("a", tuples, lists, dicts: serde values) and holds exactly
//! `maxsize` messages. It is anonymous; each child is forked with a handle of its own
//! (`try_clone`).

mod common;

use std::time::{Duration, Instant};

use shmkit::{MessageQueue, Process};

const SLEEP: Duration = Duration::from_secs(2);

fn producer(q: &MessageQueue) -> Result<(), Box<dyn std::error::Error>> {
    q.put("a")?;
    std::thread::sleep(SLEEP);
    Ok(())
}

fn consumer(q: &MessageQueue) -> Result<(), Box<dyn std::error::Error>> {
    std::thread::sleep(SLEEP);
    // `q.get()`, with a deadline so that a producer that failed cannot hang the run.
    let item: String = q.get_timeout(Duration::from_secs(10))?;
    println!("{item}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = MessageQueue::anonymous(10)?;
    println!("Queue(10): maxsize {}", q.maxsize());
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
