//! Futex wait and wake on a 32-bit word that may live in shared memory.
//!
//! These are the bare kernel operations; most code wants [`EventCount`](crate::EventCount),
//! which makes a wake syscall only when someone is parked. The futex is never
//! `FUTEX_PRIVATE_FLAG`: the word may be mapped by several processes, and the kernel keys
//! the wait queue by the underlying page, so a wake in one process reaches a waiter in
//! another.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::deadline::Deadline;
use crate::sys::{self, FutexWait};

/// How one [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// Woken by [`wake`], or spuriously: check the word again.
    Woken,
    /// The word did not hold the expected value.
    Changed,
    /// A signal handler ran.
    Interrupted,
    /// The deadline passed.
    TimedOut,
    /// The kernel refused the wait; callers that loop should back off.
    Failed,
}

/// One `FUTEX_WAIT` on `word` while it holds `expected`, until `deadline` (absolute,
/// `CLOCK_MONOTONIC`). May return early for a signal or spuriously; [`wait_while`] loops.
pub fn wait(word: &AtomicU32, expected: u32, deadline: Deadline) -> WaitResult {
    match sys::futex_wait(word, expected, deadline.as_monotonic_nanos()) {
        FutexWait::Woken => WaitResult::Woken,
        FutexWait::Changed => WaitResult::Changed,
        FutexWait::Interrupted => WaitResult::Interrupted,
        FutexWait::TimedOut => WaitResult::TimedOut,
        FutexWait::Failed => WaitResult::Failed,
    }
}

/// Waits until `word` no longer holds `expected`, or `deadline` passes. Signals and
/// spurious wake-ups are absorbed: the deadline is absolute, so retrying never extends it.
///
/// Returns `true` if the word changed, `false` on time-out.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::AtomicU32;
/// use std::time::Duration;
/// use shmkit::{futex, Deadline};
///
/// let word = AtomicU32::new(0);
/// assert!(!futex::wait_while(&word, 0, Deadline::after(Duration::from_millis(10))));
/// assert!(futex::wait_while(&word, 1, Deadline::never()));
/// ```
pub fn wait_while(word: &AtomicU32, expected: u32, deadline: Deadline) -> bool {
    loop {
        if word.load(Ordering::Acquire) != expected {
            return true;
        }
        match wait(word, expected, deadline) {
            WaitResult::TimedOut => return word.load(Ordering::Acquire) != expected,
            // Without a working futex, poll gently instead of spinning on the error.
            WaitResult::Failed => std::thread::sleep(std::time::Duration::from_millis(1)),
            _ => {}
        }
    }
}

/// Wakes up to `n` waiters on `word`; returns how many woke.
pub fn wake(word: &AtomicU32, n: u32) -> u32 {
    #[cfg(test)]
    tests::WAKE_SYSCALLS.with(|c| c.set(c.get() + 1));
    sys::futex_wake(word, n)
}

/// Wakes every waiter on `word`.
pub fn wake_all(word: &AtomicU32) -> u32 {
    wake(word, u32::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// Wake syscalls made by this thread (test builds only).
        pub(crate) static WAKE_SYSCALLS: Cell<u64> = const { Cell::new(0) };
    }

    /// The wake syscalls this thread has made so far (the tests that count them are not
    /// loom models).
    #[cfg_attr(shmkit_loom, allow(dead_code))]
    pub(crate) fn wake_syscalls() -> u64 {
        WAKE_SYSCALLS.with(Cell::get)
    }

    #[test]
    fn wait_on_a_changed_word_returns_at_once() {
        let word = AtomicU32::new(5);
        assert_eq!(wait(&word, 4, Deadline::never()), WaitResult::Changed);
    }

    #[test]
    fn past_deadlines_time_out() {
        let word = AtomicU32::new(0);
        assert_eq!(wait(&word, 0, Deadline::now()), WaitResult::TimedOut);
        assert!(!wait_while(&word, 0, Deadline::now()));
    }

    #[test]
    fn wake_reaches_a_waiter_in_another_thread() {
        let word = std::sync::Arc::new(AtomicU32::new(0));
        let w = word.clone();
        let t = std::thread::spawn(move || {
            wait_while(&w, 0, Deadline::after(std::time::Duration::from_secs(30)))
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        word.store(1, Ordering::Release);
        wake_all(&word);
        assert!(t.join().unwrap());
    }
}
