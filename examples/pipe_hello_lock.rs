//! The Python tutorial's "Pipe" with a Lock: each end sends a hello to the other, then
//! prints what it received while holding a Lock, so that the two lines never mix.
//!
//! ```text
//! cargo run --example pipe_hello_lock
//! ```
//!
//! Python:
//!
//! ```python
//! def one_end_pipe(p, lock):
//!     p.send("hello from one_end_pipe")
//!     lock.acquire()
//!     print(p.recv())
//!     lock.release()
//!
//! def the_other_end_pipe(p, lock):
//!     p.send("hello from the_other_end_pipe")
//!     lock.acquire()
//!     print(p.recv())
//!     lock.release()
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!     one_end, the_other_end = Pipe()
//!     p1 = Process(target=one_end_pipe, args=(one_end, lock))
//!     p2 = Process(target=the_other_end_pipe, args=(the_other_end, lock))
//!     p1.start(); p2.start(); p1.join(); p2.join()
//! ```
//!
//! The two ends are two child processes. The pipe and the lock are anonymous and reach
//! the children by fork: each child takes the end it was given, and both share the lock
//! (an `Arc`, Python's one `lock` object given to both).

mod common;

use std::sync::Arc;

use shmkit::{Connection, Lock, Pipe, Process};

fn end(which: &str, p: &Connection, lock: &Lock) -> Result<(), Box<dyn std::error::Error>> {
    p.send_bytes(format!("hello from {which}").as_bytes())?;
    let _guard = lock.lock().map_err(|e| e.to_string())?;
    let msg = p.recv_bytes()?;
    println!("{} (printed by {which}, pid {})", String::from_utf8_lossy(&msg), std::process::id());
    Ok(())
}

fn one_end_pipe(p: &Connection, lock: &Lock) -> Result<(), Box<dyn std::error::Error>> {
    end("one_end_pipe", p, lock)
}

fn the_other_end_pipe(p: &Connection, lock: &Lock) -> Result<(), Box<dyn std::error::Error>> {
    end("the_other_end_pipe", p, lock)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lock = Arc::new(Lock::anonymous()?);
    let (one_end, the_other_end) = Pipe::new()?;
    let lock1 = Arc::clone(&lock);
    let mut p1 =
        Process::new(move || one_end_pipe(&one_end, &lock1).unwrap_or_else(|e| panic!("one_end_pipe: {e}")));
    let lock2 = Arc::clone(&lock);
    let mut p2 = Process::new(move || {
        the_other_end_pipe(&the_other_end, &lock2).unwrap_or_else(|e| panic!("the_other_end_pipe: {e}"))
    });
    p1.start()?;
    p2.start()?;
    for p in [&mut p1, &mut p2] {
        common::join_ok(p)?;
    }
    Ok(())
}
