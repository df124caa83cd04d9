//! An Event: three processes wait until the parent says "go".
//!
//! ```text
//! cargo run --example event
//! ```

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmkit::{Event, Process};

fn waiter(go: &Event) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    if !go.wait_timeout(Duration::from_secs(10)) {
        return Err("nobody said go".into());
    }
    println!("pid {} went after {} ms", std::process::id(), start.elapsed().as_millis());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Anonymous, so the children get it by fork; an `Arc` gives each child the same one.
    let go = Arc::new(Event::anonymous()?);
    let mut ps = Vec::new();
    for _ in 0..3 {
        let go = Arc::clone(&go);
        let mut p = Process::new(move || waiter(&go).unwrap_or_else(|e| panic!("waiter: {e}")));
        p.start()?;
        ps.push(p);
    }
    std::thread::sleep(Duration::from_millis(300));
    println!("parent: go!");
    go.set();
    for p in &mut ps {
        common::join_ok(p)?;
    }
    Ok(())
}
