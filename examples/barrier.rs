//! A Barrier: four processes meet at the end of each of three rounds; each `wait`
//! returns a different arrival index, as in Python.
//!
//! ```text
//! cargo run --example barrier
//! ```

mod common;

use std::sync::Arc;
use std::time::Duration;

use shmkit::{Barrier, Process};

fn rounds(barrier: &Barrier, who: &str) -> Result<(), Box<dyn std::error::Error>> {
    for round in 1..=3 {
        // Uneven work, so arrival order changes from round to round.
        std::thread::sleep(Duration::from_millis(u64::from(std::process::id() % 7) * 10 * round));
        let index = barrier.wait_timeout(Duration::from_secs(10))?;
        println!("round {round}: {who} passed as arrival {index}");
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Anonymous, so the children get it by fork; an `Arc` gives each child the same one.
    let barrier = Arc::new(Barrier::anonymous(4)?);
    let mut ps = Vec::new();
    for _ in 0..3 {
        let barrier = Arc::clone(&barrier);
        let mut p = Process::new(move || {
            rounds(&barrier, &format!("child {}", std::process::id()))
                .unwrap_or_else(|e| panic!("child: {e}"))
        });
        p.start()?;
        ps.push(p);
    }
    rounds(&barrier, "parent")?;
    for p in &mut ps {
        common::join_ok(p)?;
    }
    Ok(())
}
