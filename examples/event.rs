//! An Event: three processes wait until the parent says "go".
//!
//! ```text
//! cargo run --example event
//! ```

mod common;

use std::time::{Duration, Instant};

use common::{join_all, spawn_self, unique, Unlink};
use shmkit::Event;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let go = Event::open(&args[2])?;
        let start = Instant::now();
        if !go.wait_timeout(Duration::from_secs(10)) {
            return Err("nobody said go".into());
        }
        println!("pid {} went after {} ms", std::process::id(), start.elapsed().as_millis());
        return Ok(());
    }
    let name = unique("event-go");
    let go = Event::create(&name)?;
    let _cleanup = Unlink(name.clone());
    let children = (0..3).map(|_| spawn_self(&["child", &name])).collect::<Result<Vec<_>, _>>()?;
    std::thread::sleep(Duration::from_millis(300));
    println!("parent: go!");
    go.set();
    join_all(children)
}
