//! The Python tutorial's "process synchronisation": ten processes print under a Lock, so
//! lines never mix. Run without the lock first, to see why it is there.
//!
//! ```text
//! cargo run --example lock_print              # both runs: without, then with the lock
//! cargo run --example lock_print -- --no-lock # only the run without
//! ```
//!
//! Python:
//!
//! ```python
//! def f(l, i):
//!     l.acquire()
//!     try:
//!         print('hello world', i)
//!     finally:
//!         l.release()
//!
//! if __name__ == '__main__':
//!     lock = Lock()
//!     for num in range(10):
//!         Process(target=f, args=(lock, num)).start()
//! ```

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use shmkit::{Lock, Process};

/// Prints `hello world i` a few characters at a time, as a slow terminal would.
fn print_slowly(i: u32) -> std::io::Result<()> {
    let line = format!("('hello world', {i})\n");
    let mut out = std::io::stdout().lock();
    for chunk in line.as_bytes().chunks(4) {
        out.write_all(chunk)?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Python's `f(l, i)`: the line is printed under the lock.
fn f(l: &Lock, i: u32) -> Result<(), Box<dyn std::error::Error>> {
    let _guard = match l.lock() {
        Ok(guard) => guard,
        // A previous holder died holding the lock: we hold it now, and print anyway.
        Err(e) => e.into_guard().ok_or("no participant slot left in the lock")?,
    };
    print_slowly(i)?;
    Ok(())
}

fn run(with_lock: bool) -> Result<(), Box<dyn std::error::Error>> {
    // Anonymous, so the children get it by fork; an `Arc` gives each child the same one.
    let lock = if with_lock { Some(Arc::new(Lock::anonymous()?)) } else { None };
    let mut ps = Vec::new();
    for num in 0..10 {
        let lock = lock.clone();
        let mut p = Process::new(move || {
            let printed = match lock {
                Some(lock) => f(&lock, num),
                None => print_slowly(num).map_err(Into::into),
            };
            printed.unwrap_or_else(|e| panic!("child {num}: {e}"))
        });
        p.start()?;
        ps.push(p);
    }
    for p in &mut ps {
        common::join_ok(p)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("-- without the lock: lines may mix --");
    run(false)?;
    if std::env::args().nth(1).as_deref() != Some("--no-lock") {
        println!("\n-- with the lock: one whole line at a time --");
        run(true)?;
    }
    Ok(())
}
