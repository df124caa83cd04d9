//! Seed 000, "Pipe" with a Lock: each end sends a hello to the other, then prints what it
//! received while holding a Lock, so that the two lines never mix.
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
//! The two ends are two child processes; the pipe and the lock are named: the first
//! child creates the pipe (and holds one end), the second opens the other end.

mod common;

use std::time::Duration;

use common::{join_all, spawn_self, unique, Unlink};
use shmkit::{Connection, Lock, OpenError, OpenOptions, PipeOptions};

fn end(which: &str, pipe: &str, lock: &str) -> Result<(), Box<dyn std::error::Error>> {
    let lock = Lock::open(lock)?;
    let p = if which == "one_end_pipe" {
        Connection::create(pipe, &PipeOptions::new())?
    } else {
        // Wait for the first child to create the pipe.
        let opts = OpenOptions::new();
        let mut tries = 0;
        loop {
            match Connection::open(pipe, &opts) {
                Err(OpenError::NotFound { .. }) if tries < 1000 => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                other => break other?,
            }
            tries += 1;
        }
    };
    p.send_bytes(format!("hello from {which}").as_bytes())?;
    let msg = p.recv_bytes()?;
    let _guard = lock.lock().map_err(|e| e.to_string())?;
    println!("{} (printed by {which}, pid {})", String::from_utf8_lossy(&msg), std::process::id());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let (Some(which), Some(pipe), Some(lock)) = (args.get(1), args.get(2), args.get(3)) {
        return end(which, pipe, lock);
    }
    let (pipe, lock) = (unique("pipe-hello"), unique("pipe-hello-lock"));
    let _cleanup = (Unlink(pipe.clone()), Unlink(lock.clone()));
    let _lock = Lock::create(&lock)?;
    let p1 = spawn_self(&["one_end_pipe", &pipe, &lock])?;
    let p2 = spawn_self(&["the_other_end_pipe", &pipe, &lock])?;
    join_all(vec![p1, p2])
}
