//! The Python tutorial's "data isolation between processes": a child that changes a
//! global variable changes its own copy; the parent's is untouched. A shmkit Value is the
//! same memory in both, so the parent sees the child's write.
//!
//! ```text
//! cargo run --release --example data_isolation
//! ```
//!
//! Python:
//!
//! ```python
//! def work():
//!     global n
//!     n = 0
//!     print('子进程内：', n)       # in the child: 0
//!
//! if __name__ == '__main__':
//!     n = 100
//!     p = Process(target=work)
//!     p.start()
//!     print('主进程内：', n)       # in the parent: 100
//! ```
//!
//! `n` is a `static`, a global that a thread started here would share: a thread's
//! `N.store(0)` would be seen by the parent. The child is a copy of this process (fork),
//! so its store changes only its copy. `shared` is an anonymous Value, which the child
//! inherits: one memory, mapped in both. The parent joins the child before it looks, so
//! the answer does not depend on who runs first.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use shmkit::{Process, Value};

/// Python's global `n`.
static N: AtomicI32 = AtomicI32::new(0);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    N.store(100, Ordering::Relaxed);
    let shared = Arc::new(Value::<i32>::anonymous(100)?);

    let in_child = Arc::clone(&shared);
    let mut p = Process::new(move || {
        N.store(0, Ordering::Relaxed);
        println!("in the child:  n = {}", N.load(Ordering::Relaxed));
        if let Err(e) = in_child.store(0) {
            panic!("the child cannot write the Value: {e}");
        }
        println!("in the child:  shared = {}", in_child.load());
    });
    p.start()?;
    let code = p.join()?;
    if code != 0 {
        return Err(format!("the child ended with exit code {code}: {:?}", p.panic_message()).into());
    }
    println!(
        "in the parent: n = {}        (isolated: the child changed its own copy)",
        N.load(Ordering::Relaxed)
    );
    println!("in the parent: shared = {}   (shared memory: the child's write is here)", shared.load());
    Ok(())
}
