//! Seed 004, "data isolation between processes": a child that changes an ordinary
//! variable changes its own copy; the parent's is untouched. A shmkit Value is the same
//! memory in both, so the parent sees the child's write.
//!
//! ```text
//! cargo run --example data_isolation
//! ```
//!
//! Python:
//!
//! ```python
//! def work():
//!     global n
//!     n = 0
//!     print('in the child:', n)
//! n = 100
//! p = Process(target=work); p.start(); p.join()
//! print('in the parent:', n)     # still 100
//! ```

mod common;

use common::{spawn_self, unique, Unlink};
use shmkit::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        // The child's own `n`: a fresh copy of the program's state.
        let mut n = 100;
        n -= 100;
        println!("in the child:  n = {n}");
        let shared = Value::<i32>::open(&args[2])?;
        shared.store(0)?;
        println!("in the child:  shared = {}", shared.load());
        return Ok(());
    }
    let n = 100;
    let name = unique("data-isolation");
    let shared = Value::<i32>::create(&name, 100)?;
    let _cleanup = Unlink(name.clone());
    let status = spawn_self(&["child", &name])?.wait()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    println!("in the parent: n = {n}        (isolated: the child changed its own copy)");
    println!("in the parent: shared = {}   (shared memory: the child's write is here)", shared.load());
    Ok(())
}
