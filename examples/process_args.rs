//! The Python tutorial's "a simple example": ten processes, each given its name as an
//! argument, print that name and their pid, sleep, and end; the parent joins them all.
//!
//! ```text
//! cargo run --release --example process_args              # fork (the default)
//! cargo run --release --example process_args -- --spawn   # spawn: this program started again
//! ```
//!
//! Python:
//!
//! ```python
//! def P_func(name):
//!     print(name, os.getpid())    # the process's id
//!     time.sleep(2)
//!
//! p_list = []
//! if __name__ == '__main__':
//!     for i in range(10):
//!         p = Process(target=P_func, args=('process' + str(i),))
//!         p.start()
//!         p_list.append(p)
//!     for p in p_list:
//!         p.join()
//! ```
//!
//! `Process(target=f, args=(x,))` is `Process::call(f, x)`: a `fn` and its argument, a
//! serde value, so the same program runs under both start methods. The children sleep
//! 200 ms instead of 2 s, all at once: the run takes about 0.2 s, not 2 s. The order of
//! the lines is the order the children got to run in, as in Python.

use std::time::{Duration, Instant};

use shmkit::{Process, StartMethod};

const SLEEP: Duration = Duration::from_millis(200);

fn p_func(name: String) {
    println!("{name} {}", std::process::id());
    std::thread::sleep(SLEEP);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Under spawn, a child is this program started again: `init` runs its function
    // instead of the rest of `main`. Under fork it returns at once.
    shmkit::init();
    let method =
        if std::env::args().any(|a| a == "--spawn") { StartMethod::Spawn } else { StartMethod::Fork };
    println!("parent {}, start method {method:?}", std::process::id());

    let start = Instant::now();
    let mut p_list = Vec::new();
    for i in 0..10 {
        let mut p = Process::call(p_func, format!("process{i}")).start_method(method);
        p.start()?;
        p_list.push(p);
    }
    for mut p in p_list {
        let code = p.join()?;
        if code != 0 {
            return Err(format!("{} ended with exit code {code}", p.get_name()).into());
        }
    }
    println!("all 10 joined after {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
