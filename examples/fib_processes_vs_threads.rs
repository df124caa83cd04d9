//! The Python tutorial's "why multiprocessing, and how it differs from threads":
//! Fibonacci numbers fib(25) to fib(34), CPU work and nothing else, on three worker
//! processes (`ProcessPoolExecutor(3)`, `submit`, `as_completed`) and on three threads.
//!
//! ```text
//! cargo run --release --example fib_processes_vs_threads
//! ```
//!
//! Python:
//!
//! ```python
//! def fib(n):
//!     if n <= 2:
//!         return 1
//!     return fib(n-1) + fib(n-2)
//!
//! with ThreadPoolExecutor(3) as excutor:        # then again with ProcessPoolExecutor(3)
//!     all_task = [excutor.submit(fib, (num)) for num in range(25, 35)]
//!     start_time = time.time()
//!     for future in as_completed(all_task):
//!         data = future.result()
//!         print("result:{}".format(data))
//!     end_time = time.time()
//!     print("last time : {}".format(end_time - start_time))
//!
//! # threads:   result:75025 ... result:5702887   last time : 98.66604399681091
//! # processes: result:75025 ... result:5702887   last time : 14.470988988876343
//! ```
//!
//! In Python the threads lose by a factor of seven: CPython's global interpreter lock
//! (GIL) lets one thread at a time run Python code, so three threads computing take
//! turns on one core (and pay for the switching), while three processes each have an
//! interpreter and a GIL of their own and run on three cores at once. Rust has no GIL:
//! threads compute in parallel as processes do, so here the two take about the same
//! time, the processes paying a little more for starting the workers and for passing
//! each argument and result through shared memory. What the run prints is what this
//! machine measured, whichever wins; with fewer cores than workers neither gets more
//! than the cores. Each side is timed from the first submission to the last result,
//! workers' start included.
//!
//! Compiled Rust computes the tutorial's numbers in milliseconds, so starting the worker
//! processes weighs as much as the work itself; the program then runs fib(32) to fib(41),
//! about thirty times more work (φ⁷), where that start-up counts for little.

use std::ops::Range;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shmkit::{as_completed, cpu_count, ProcessPoolExecutor};

/// As many workers as the Python tutorial.
const WORKERS: usize = 3;

fn fib(n: u32) -> u64 {
    if n <= 2 {
        1
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

/// `ProcessPoolExecutor(3)`: submit, then print the results as they complete.
fn with_processes(range: Range<u32>) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut executor = ProcessPoolExecutor::new(WORKERS)?;
    let start_time = Instant::now();
    let all_task: Vec<_> = range.map(|num| executor.submit(fib, num)).collect();
    for future in as_completed(all_task) {
        let data = future.get()?;
        println!("result:{data}");
    }
    let elapsed = start_time.elapsed();
    println!("last time : {}", elapsed.as_secs_f64());
    executor.shutdown(true);
    Ok(elapsed)
}

/// The same on three threads: each takes the next number, and sends its result back as
/// soon as it has it (the order of completion, as `as_completed`).
fn with_threads(range: Range<u32>) -> Result<Duration, Box<dyn std::error::Error>> {
    let start_time = Instant::now();
    let numbers = Arc::new(Mutex::new(range));
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let numbers = Arc::clone(&numbers);
            let tx = tx.clone();
            std::thread::spawn(move || loop {
                let next = numbers.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(num) = next else { break };
                if tx.send(fib(num)).is_err() {
                    break;
                }
            })
        })
        .collect();
    drop(tx);
    for data in rx {
        println!("result:{data}");
    }
    let elapsed = start_time.elapsed();
    println!("last time : {}", elapsed.as_secs_f64());
    for w in workers {
        w.join().map_err(|_| "a thread panicked")?;
    }
    Ok(elapsed)
}

/// Both ways over `range`; prints both times and the speed-up.
fn compare(range: Range<u32>) -> Result<(), Box<dyn std::error::Error>> {
    println!("-- fib({}..{}) on ProcessPoolExecutor({WORKERS}) --", range.start, range.end);
    let processes = with_processes(range.clone())?.as_secs_f64();
    println!("\n-- fib({}..{}) on {WORKERS} threads --", range.start, range.end);
    let threads = with_threads(range)?.as_secs_f64();
    println!(
        "\nprocesses {processes:.3} s, threads {threads:.3} s: speed-up of processes over threads {:.2}x",
        threads / processes
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{WORKERS} workers on {} CPUs", cpu_count());
    println!("The Python tutorial: processes 14.5 s, threads 98.7 s: a speed-up of 6.8x (the GIL)\n");
    compare(25..35)?;
    println!("\n-- the same with more work each: fib(32) to fib(41) --\n");
    compare(32..42)?;
    Ok(())
}
