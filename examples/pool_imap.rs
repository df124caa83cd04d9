//! The Python tutorial's "using a process pool": `apply_async(...).get()`, then `imap`
//! (results in the order of the arguments) against `imap_unordered` (results in the order
//! the tasks finish), for tasks that sleep 1, 5 and 3 units.
//!
//! ```text
//! cargo run --release --example pool_imap
//! ```
//!
//! Python:
//!
//! ```python
//! def get_html(n):
//!     time.sleep(n)
//!     print("sub_progress sccess")
//!     return n
//!
//! if __name__ == "__main__":
//!     pool = multiprocessing.Pool(multiprocessing.cpu_count())
//!     result = pool.apply_async(get_html, args=(3,))
//!     print(result.get())
//!     # close before join, else join raises
//!     pool.close()
//!     pool.join()
//!     print(result.get())
//!     # output: sub_progress sccess / 3 / 3
//!
//! # imap: in the order of the arguments
//! if __name__ == "__main__":
//!     pool = multiprocessing.Pool(multiprocessing.cpu_count())
//!     for result in pool.imap(get_html, [1, 5, 3]):
//!         print("sleep {} successed".format(result))
//!     # output: sleep 1, sleep 5, sleep 3
//!
//! # imap_unordered: in the order they finish
//! if __name__ == "__main__":
//!     pool = multiprocessing.Pool(multiprocessing.cpu_count())
//!     for result in pool.imap_unordered(get_html, [1, 5, 3]):
//!         print("sleep {} successed".format(result))
//!     # output: sleep 1, sleep 3, sleep 5
//! ```
//!
//! One second of the tutorial is 100 ms here, and each result is printed with the time it
//! arrived. `imap` holds back the 3 until the 5 (started before it) is done;
//! `imap_unordered` hands over each result as it comes. With two or more workers, the 1
//! and the 5 start together, the 3 starts when the 1 is done and ends before the 5.
//!
//! Differences: `AsyncResult::get` takes the handle (the result moves out), so the second
//! `print(result.get())` prints the value kept from the first. And `Pool::join` closes
//! the pool itself rather than raising when `close` was not called.

use std::time::{Duration, Instant};

use shmkit::{cpu_count, Pool};

/// One of the tutorial's seconds.
const UNIT: Duration = Duration::from_millis(100);

fn get_html(n: u32) -> u32 {
    std::thread::sleep(UNIT * n);
    println!("sub_progress success");
    n
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("Pool(cpu_count() = {})", cpu_count());

    println!("\n-- apply_async(get_html, 3).get() --");
    let mut pool = Pool::new(cpu_count())?;
    let result = pool.apply_async(get_html, 3);
    let value = result.get()?;
    println!("{value}");
    pool.close();
    pool.join();
    println!("{value}");

    for (label, ordered) in [("imap", true), ("imap_unordered", false)] {
        println!("\n-- {label}(get_html, [1, 5, 3]) --");
        let mut pool = Pool::new(cpu_count())?;
        let start = Instant::now();
        let results =
            if ordered { pool.imap(get_html, [1, 5, 3]) } else { pool.imap_unordered(get_html, [1, 5, 3]) };
        let mut order = Vec::new();
        for result in results {
            let result = result?;
            println!(
                "sleep {result} succeeded   (at {:.1} units)",
                start.elapsed().as_secs_f64() / UNIT.as_secs_f64()
            );
            order.push(result);
        }
        println!("{label} yielded {order:?}");
        pool.close();
        pool.join();
    }
    Ok(())
}
