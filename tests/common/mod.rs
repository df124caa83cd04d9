//! Helpers for cross-process tests: forked children with a watchdog, unique object names
//! with a guard that removes them, and shared words to signal across processes.
#![allow(dead_code, missing_docs)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::{Deadline, Segment};
use shmkit_core::child;

/// A name no other test (or test run) uses.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("test-{tag}-{}-{nanos:x}-{n}", std::process::id())
}

/// Removes the object when dropped, whatever happened in the test.
pub struct NameGuard(pub String);

impl NameGuard {
    pub fn new(tag: &str) -> Self {
        Self(unique_name(tag))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for NameGuard {
    fn drop(&mut self) {
        let _ = shmkit::segment::unlink(&self.0);
    }
}

pub use shmkit_core::child::Exit;

/// A forked child; killed and reaped when dropped, so no test leaves a zombie or an orphan.
pub struct Child {
    pid: u32,
    reaped: bool,
}

/// Runs `f` in a forked child, which exits with `f`'s return value (101 if it panics).
pub fn fork(f: impl FnOnce() -> i32) -> Child {
    // SAFETY: the child runs only `f` and then `_exit`s without flushing standard output
    // (whose lock another test thread may hold), never returning into the test harness;
    // glibc makes malloc usable in the child of a multi-threaded parent.
    let pid = unsafe { child::fork_without_flush(f) }.unwrap_or_else(|e| panic!("fork failed: {e}"));
    Child { pid, reaped: false }
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid as i32
    }

    /// Sends `SIGKILL`.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    pub fn signal(&self, sig: i32) {
        if !self.reaped {
            // The pid is our unreaped child, so not reused.
            let _ = child::send_signal(self.pid, sig);
        }
    }

    /// Reaps the child if it has ended.
    pub fn try_wait(&mut self) -> Option<Exit> {
        let exit = child::try_wait(self.pid).ok().flatten();
        self.reaped |= exit.is_some();
        exit
    }

    /// Waits for the child to end; the watchdog fails the test after `limit` (and the drop
    /// kills the child).
    pub fn wait(mut self, limit: Duration) -> Exit {
        match child::wait_timeout(self.pid, limit) {
            Ok(Some(exit)) => {
                self.reaped = true;
                exit
            }
            Ok(None) => panic!("watchdog: child {} still running after {limit:?}", self.pid),
            Err(e) => panic!("cannot wait for child {}: {e}", self.pid),
        }
    }

    /// Waits for a successful exit.
    pub fn join_ok(self, limit: Duration) {
        let pid = self.pid;
        assert_eq!(self.wait(limit), Exit::Code(0), "child {pid} failed");
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            let _ = child::wait(self.pid);
        }
    }
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`.
pub fn watchdog<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("watchdog: still blocked after {limit:?}"))
}

/// Words in an anonymous segment, shared with forked children, for signalling.
pub struct Shared {
    seg: Segment,
}

impl Shared {
    pub fn new() -> Self {
        Self { seg: Segment::anonymous(4096).unwrap() }
    }

    /// Word `i` (0..256) as a 64-bit atomic, in the first half of the page.
    pub fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < 256);
        // SAFETY: the segment is 4096 bytes, page-aligned, mapped while `self` lives;
        // atomics are valid for any bit pattern and concurrent writes.
        unsafe { &*self.seg.as_ptr().cast::<AtomicU64>().add(i) }
    }

    /// 32-bit futex word `i` (0..512), in the second half of the page, so it never
    /// overlaps a 64-bit word.
    pub fn word32(&self, i: usize) -> &AtomicU32 {
        assert!(i < 512);
        // SAFETY: as in `word`; 2048 + 4 * 511 + 4 <= 4096, 4-aligned.
        unsafe { &*self.seg.as_ptr().add(2048).cast::<AtomicU32>().add(i) }
    }

    /// Sets word32 `i` to `v` and wakes its waiters.
    pub fn signal(&self, i: usize, v: u32) {
        self.word32(i).store(v, Ordering::Release);
        shmkit::futex::wake_all(self.word32(i));
    }

    /// Waits until word32 `i` holds `v`; panics after `limit`.
    pub fn await_value(&self, i: usize, v: u32, limit: Duration) {
        let deadline = Deadline::after(limit);
        loop {
            let cur = self.word32(i).load(Ordering::Acquire);
            if cur == v {
                return;
            }
            assert!(!deadline.has_passed(), "watchdog: word {i} never became {v}");
            shmkit::futex::wait(self.word32(i), cur, deadline);
        }
    }
}

/// A generous bound for anything that should finish at once.
pub const LIMIT: Duration = Duration::from_secs(20);

static SIGNALS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

/// Installs a SIGUSR1 handler without SA_RESTART, so every signal interrupts the futex.
fn install_handler() {
    // SAFETY: all-zero is a valid sigaction; the handler is async-signal-safe (one atomic).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

/// Runs `wait` in a child bombarded with signals; the child exits 0 if `wait` returned
/// at or after `timeout` and signals really arrived during it.
pub fn under_signal_storm(timeout: Duration, wait: impl Fn(Deadline) -> bool) {
    let shared = Shared::new();
    let mut child = fork(|| {
        install_handler();
        shared.signal(0, 1);
        let start = Instant::now();
        let timed_out = wait(Deadline::after(timeout));
        let elapsed = start.elapsed();
        let signals = SIGNALS.load(Ordering::Relaxed);
        shared.word(1).store(elapsed.as_nanos() as u64, Ordering::Relaxed);
        shared.word(2).store(signals, Ordering::Relaxed);
        match (timed_out, elapsed >= timeout, signals > 10) {
            (true, true, true) => 0,
            (false, _, _) => 2,
            (_, false, _) => 3,
            (_, _, false) => 4,
        }
    });
    shared.await_value(0, 1, LIMIT);
    let start = Instant::now();
    let exit = loop {
        child.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_micros(200));
        if let Some(exit) = child.try_wait() {
            break exit;
        }
        assert!(start.elapsed() < LIMIT, "watchdog: the wait never returned");
    };
    let elapsed = Duration::from_nanos(shared.word(1).load(Ordering::Relaxed));
    let signals = shared.word(2).load(Ordering::Relaxed);
    assert_eq!(exit, Exit::Code(0), "waited {elapsed:?} for {timeout:?} with {signals} signals");
}

/// A small xorshift generator, seeded from the clock, for kill loops.
pub struct Rng(pub u64);

impl Rng {
    pub fn new() -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        Self(t as u64 | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}
