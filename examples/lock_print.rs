//! Seed 001, "process synchronisation": ten processes print under a Lock, so lines never
//! mix. Run without the lock first, to see why it is there.
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
use std::time::Duration;

use common::{join_all, spawn_self, unique, Unlink};
use shmkit::Lock;

/// Prints `hello world i` a few characters at a time, as a slow terminal would.
fn print_slowly(i: &str) -> std::io::Result<()> {
    let line = format!("('hello world', {i})\n");
    let mut out = std::io::stdout().lock();
    for chunk in line.as_bytes().chunks(4) {
        out.write_all(chunk)?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn run(with_lock: bool) -> Result<(), Box<dyn std::error::Error>> {
    let name = unique("lock-print");
    let _lock = Lock::create(&name)?;
    let _cleanup = Unlink(name.clone());
    let mode = if with_lock { "lock" } else { "no-lock" };
    let children = (0..10)
        .map(|i| spawn_self(&["child", mode, &name, &i.to_string()]))
        .collect::<Result<Vec<_>, _>>()?;
    join_all(children)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let (mode, name, i) = (&args[2], &args[3], &args[4]);
        if mode == "lock" {
            let lock = Lock::open(name)?;
            let _guard = lock.lock().unwrap_or_else(|e| e.into_guard().expect("a participant slot"));
            print_slowly(i)?;
        } else {
            print_slowly(i)?;
        }
        return Ok(());
    }
    println!("-- without the lock: lines may mix --");
    run(false)?;
    if args.get(1).map(String::as_str) != Some("--no-lock") {
        println!("\n-- with the lock: one whole line at a time --");
        run(true)?;
    }
    Ok(())
}
