//! A Barrier: four processes meet at the end of each of three rounds; each `wait`
//! returns a different arrival index, as in Python.
//!
//! ```text
//! cargo run --example barrier
//! ```

mod common;

use std::time::Duration;

use common::{join_all, spawn_self, unique, Unlink};
use shmkit::Barrier;

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
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let barrier = Barrier::open(&args[2])?;
        return rounds(&barrier, &format!("child {}", std::process::id()));
    }
    let name = unique("barrier-rounds");
    let barrier = Barrier::create(&name, 4)?;
    let _cleanup = Unlink(name.clone());
    let children = (0..3).map(|_| spawn_self(&["child", &name])).collect::<Result<Vec<_>, _>>()?;
    rounds(&barrier, "parent")?;
    join_all(children)
}
