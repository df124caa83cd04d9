//! Kill-to-error latency: how long a process blocked on a shmkit object takes to learn
//! that the peer it waits for was SIGKILLed.
//!
//! ```text
//! cargo bench -p shmkit-bench --bench death
//! ```
//!
//! For each blocking kind, a forked peer takes its part (holds the lock, holds the other
//! end, is the barrier's other party) and then sleeps; this process blocks (default wait
//! strategy, a 10 s timeout), and a thread SIGKILLs the peer after a delay. The figure is
//! the time from the `kill` to the blocked call's error. A dead peer sends no wake-up: the
//! waiter finds the death when it re-checks, after 1 ms, then at doubling intervals up to
//! `RECHECK_INTERVAL`. So "early" kills (0-40 ms into the wait) are seen within about the
//! time waited so far, and "idle" kills (1 s into the wait) within `RECHECK_INTERVAL`.

use std::time::{Duration, Instant};

use shmkit_core::child;
use shmkit_pipe::{Pipe, PipeOptions};
use shmkit_queue::spsc;
use shmkit_sync::{Barrier, BarrierError, Lock, RLock, TryLockError};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A xorshift generator for the kill delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One trial: `start` forks the peer (returning its pid and the blocking call to make),
/// the call blocks, the peer is killed after `delay`; the time from kill to the call's
/// return, and whether it returned the expected error.
fn trial(delay: Duration, start: impl FnOnce() -> (u32, Box<dyn FnOnce() -> bool>)) -> (Duration, bool) {
    let (pid, call) = start();
    // Let the peer take its part before the clock starts.
    std::thread::sleep(Duration::from_millis(20));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(delay);
        let _ = child::send_signal(pid, libc::SIGKILL);
        Instant::now()
    });
    let ok = call();
    let returned = Instant::now();
    let killed = killer.join().expect("the killer thread");
    let _ = child::wait(pid);
    (returned.saturating_duration_since(killed), ok)
}

/// Forks a peer that runs `part` and then sleeps until killed.
fn peer(part: impl FnOnce()) -> u32 {
    // SAFETY: the child runs `part` on objects made before the fork, then sleeps; the
    // only other thread of this program (a killer) has been joined before every fork.
    unsafe {
        child::fork_without_flush(|| {
            part();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    }
    .expect("fork")
}

type Kind = (&'static str, &'static str, fn() -> (u32, Box<dyn FnOnce() -> bool>));

fn kinds() -> Vec<Kind> {
    vec![
        ("Lock::lock_timeout", "OwnerDied", || {
            let lock = Lock::anonymous().expect("lock");
            let pid = peer(|| std::mem::forget(lock.lock().expect("lock in the peer")));
            (pid, Box::new(move || matches!(lock.lock_timeout(TIMEOUT), Err(TryLockError::OwnerDied(_)))))
        }),
        ("RLock::lock_timeout", "OwnerDied", || {
            let lock = RLock::anonymous().expect("rlock");
            let pid = peer(|| std::mem::forget(lock.lock().expect("rlock in the peer")));
            (pid, Box::new(move || matches!(lock.lock_timeout(TIMEOUT), Err(TryLockError::OwnerDied(_)))))
        }),
        ("Barrier::wait_timeout (party never arrives)", "Broken", || {
            let barrier = Barrier::anonymous(2).expect("barrier");
            let pid = peer(|| {});
            (pid, Box::new(move || barrier.wait_timeout(TIMEOUT) == Err(BarrierError::Broken)))
        }),
        ("Connection::recv_bytes_timeout", "Disconnected", || {
            let (a, b) = Pipe::new().expect("pipe");
            let pid = peer(|| b.send_bytes(b"hello").expect("send in the peer"));
            drop(b);
            (
                pid,
                Box::new(move || {
                    a.recv_bytes().expect("the peer's message");
                    a.recv_bytes_timeout(TIMEOUT) == Err(shmkit_pipe::RecvError::Disconnected)
                }),
            )
        }),
        ("Connection::send_bytes_timeout (1 MiB)", "Disconnected", || {
            let (a, b) = Pipe::with_options(&PipeOptions::new().capacity(64 << 10)).expect("pipe");
            let pid = peer(|| b.send_bytes(b"hello").expect("send in the peer"));
            drop(b);
            (
                pid,
                Box::new(move || {
                    a.recv_bytes().expect("the peer's message");
                    a.send_bytes_timeout(&vec![7; 1 << 20], TIMEOUT)
                        == Err(shmkit_pipe::SendError::Disconnected)
                }),
            )
        }),
        ("Pipe end never touched: recv_bytes_timeout", "Disconnected", || {
            let (a, b) = Pipe::new().expect("pipe");
            let pid = peer(|| {});
            drop(b);
            (
                pid,
                Box::new(move || a.recv_bytes_timeout(TIMEOUT) == Err(shmkit_pipe::RecvError::Disconnected)),
            )
        }),
        ("spsc::Consumer::get_timeout", "Disconnected", || {
            let (tx, rx) = spsc::channel::<u64>(64).expect("channel");
            let pid = peer(|| tx.put(1).expect("put in the peer"));
            drop(tx);
            (
                pid,
                Box::new(move || {
                    rx.get().expect("the peer's item");
                    matches!(rx.get_timeout(TIMEOUT), Err(shmkit_queue::GetTimeoutError::Disconnected))
                }),
            )
        }),
    ]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (early, idle) = if quick { (5, 1) } else { (20, 3) };
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Rng(seed | 1);
    println!(
        "Kill-to-error latency: a peer SIGKILLed while this process blocks on it (default wait strategy)."
    );
    println!(
        "early: killed 0-40 ms into the wait ({early} kills); idle: killed 1 s into it ({idle} kills).\n"
    );
    println!("| blocked call | error | early p50 | early max | idle p50 | idle max | wrong results |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, error, start) in kinds() {
        let mut wrong = 0;
        let mut run = |n: usize, delay: &mut dyn FnMut() -> Duration| {
            let mut lat: Vec<Duration> = (0..n)
                .map(|_| {
                    let (d, ok) = trial(delay(), start);
                    wrong += usize::from(!ok);
                    d
                })
                .collect();
            lat.sort();
            (lat[lat.len() / 2], lat[lat.len() - 1])
        };
        let (e50, emax) = run(early, &mut || Duration::from_millis(rng.below(41)));
        let (i50, imax) = run(idle, &mut || Duration::from_secs(1));
        println!(
            "| {name} | {error} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {wrong} |",
            ms(e50),
            ms(emax),
            ms(i50),
            ms(imax)
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
