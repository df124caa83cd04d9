//! The Python tutorial's "exchanging objects between processes": a child puts a message
//! into a Queue; the parent gets it and prints it.
//!
//! ```text
//! cargo run --example queue_parent_child
//! ```
//!
//! Python:
//!
//! ```python
//! def f(q):
//!     q.put([42, None, 'hello'])
//!
//! if __name__ == '__main__':
//!     q = Queue()
//!     p = Process(target=f, args=(q,))
//!     p.start()
//!     print(q.get())    # prints "[42, None, 'hello']"
//!     p.join()
//! ```
//!
//! Python pickles the list; shmkit's `MessageQueue` carries serde values, so the list of
//! mixed types travels as a tuple `(i64, Option<i64>, String)` and comes back as one (a
//! `get` of another type is refused, naming both). The queue is anonymous; the child is
//! forked with a handle of its own (`try_clone`).

mod common;

use std::time::Duration;

use shmkit::{MessageQueue, Process};

/// Python's `[42, None, 'hello']`.
type Message = (i64, Option<i64>, String);

fn f(q: &MessageQueue) -> Result<(), Box<dyn std::error::Error>> {
    q.put(&(42i64, None::<i64>, "hello"))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = MessageQueue::anonymous(8)?;
    let child_q = q.try_clone()?;
    let mut p = Process::new(move || f(&child_q).unwrap_or_else(|e| panic!("f: {e}")));
    p.start()?;
    // `q.get()`, with a deadline so that a child that failed cannot hang the parent.
    let (n, none, text): Message = q.get_timeout(Duration::from_secs(10))?;
    let none = none.map_or_else(|| "None".to_owned(), |v| v.to_string());
    println!("[{n}, {none}, '{text}']");
    common::join_ok(&mut p)
}
