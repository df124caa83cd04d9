//! [`EventCount`] and [`WaitStrategy`]: how every blocking call in shmkit waits.
//!
//! An event count turns "wait until this condition holds" into a futex sleep without lost
//! wake-ups, and keeps notifiers off the kernel unless someone actually sleeps:
//!
//! ```text
//! waiter                              notifier
//! key = prepare_wait()  (waiters += 1) make the condition true
//! if condition { cancel_wait(key) }   notify_all():
//! else { wait(key, deadline) }          if waiters > 0 { epoch += 1; FUTEX_WAKE }
//! ```
//!
//! Both sides put a fence between their write and their read, so either the notifier sees
//! the waiter counted, or the waiter sees the condition. The fences are
//! [asymmetric](crate::asym): the waiter, about to sleep anyway, pays for both, and a
//! notify that finds nobody waiting is a plain load, with no locked instruction. If the notifier
//! bumps the epoch after the waiter read its key, the futex wait sees a changed word and
//! returns at once.

use std::time::Duration;

use crate::deadline::Deadline;
use crate::loom::atomic::{AtomicU32, Ordering};

/// How a blocking call waits.
///
/// # Examples
///
/// ```
/// use shmkit::WaitStrategy;
///
/// assert_eq!(WaitStrategy::default(), WaitStrategy::SpinThenPark { spins: WaitStrategy::DEFAULT_SPINS });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitStrategy {
    /// Busy-spin until the condition holds or the deadline passes; never sleeps. The
    /// lowest latency (a cache-line transfer), at the price of a whole core.
    Spin,
    /// Poll `spins` times with a spin hint, then sleep in the kernel. The default.
    SpinThenPark {
        /// How many polls before sleeping.
        spins: u32,
    },
    /// Sleep in the kernel at once (after one check).
    Park,
}

impl WaitStrategy {
    /// The polls made by the default strategy before it sleeps (a few microseconds).
    pub const DEFAULT_SPINS: u32 = 200;
}

impl Default for WaitStrategy {
    fn default() -> Self {
        Self::SpinThenPark { spins: Self::DEFAULT_SPINS }
    }
}

/// The longest a parked waiter sleeps before it re-checks its condition even without a
/// notify, so that a peer's death (which sends no notify) is noticed promptly. A waiter
/// re-checks after [`FIRST_RECHECK`], then at doubling intervals up to this one: a death
/// soon after a wait began (a peer that crashes while it works on the request we wait
/// for) is seen within about the time waited so far, a long-idle waiter wakes 20 times a
/// second. None of it touches the path where nobody sleeps.
pub const RECHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The first re-check interval of a parked waiter (see [`RECHECK_INTERVAL`]).
pub const FIRST_RECHECK: Duration = Duration::from_millis(1);

/// A ticket from [`EventCount::prepare_wait`], to pass to [`EventCount::wait`] or
/// [`EventCount::cancel_wait`], once: neither `Copy` nor `Clone`, so that every counted
/// waiter is withdrawn exactly once (a count off by one would hide a waiter from its
/// notifiers for good).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "pass the key to `wait`, or to `cancel_wait`"]
pub struct WaitKey(u32);

/// A waiter count plus an epoch, in shared memory: sleeps on the epoch with a futex, and
/// wakes only when someone sleeps.
///
/// All-zero bytes are a valid, empty event count, so it can be embedded in any
/// `#[repr(C)]` state in a freshly allocated segment.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use shmkit::{Deadline, EventCount, WaitStrategy};
///
/// let ec = Arc::new(EventCount::new());
/// let flag = Arc::new(AtomicBool::new(false));
/// let (ec2, flag2) = (ec.clone(), flag.clone());
/// let waiter = std::thread::spawn(move || {
///     ec2.wait_until(WaitStrategy::Park, Deadline::never(), || flag2.load(Ordering::Acquire).then_some(()))
/// });
/// flag.store(true, Ordering::Release);
/// ec.notify_all();
/// assert_eq!(waiter.join().unwrap(), Some(()));
/// ```
#[repr(C)]
#[derive(Debug, Default)]
pub struct EventCount {
    /// The futex word: bumped by every notify that finds a waiter.
    epoch: AtomicU32,
    /// Waiters between `prepare_wait` and the end of `wait`/`cancel_wait`.
    waiters: AtomicU32,
    /// Under loom, the futex is simulated with a mutex and condition variable.
    #[cfg(shmkit_loom)]
    sim: sim::Futex,
}

impl EventCount {
    /// A new event count (all zero).
    #[cfg(not(shmkit_loom))]
    pub const fn new() -> Self {
        Self { epoch: AtomicU32::new(0), waiters: AtomicU32::new(0) }
    }

    /// A new event count.
    #[cfg(shmkit_loom)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces a waiter. Check the condition afterwards; then either [`wait`](Self::wait)
    /// with the key or [`cancel_wait`](Self::cancel_wait).
    #[inline]
    pub fn prepare_wait(&self) -> WaitKey {
        let before = self.waiters.fetch_add(1, Ordering::SeqCst);
        // Orders our count before the caller's condition check, here and in every
        // notifier (pairs with `notify`'s fence: see `asym`).
        crate::asym::waiter_fence(&self.waiters, before);
        WaitKey(self.epoch.load(Ordering::SeqCst))
    }

    /// Withdraws the waiter announced by the [`prepare_wait`](Self::prepare_wait) that
    /// gave `key`.
    #[inline]
    pub fn cancel_wait(&self, key: WaitKey) {
        let _ = key;
        self.waiters.fetch_sub(1, Ordering::Release);
    }

    /// Sleeps until a notify after `key` was taken, or `deadline`. Returns `true` if
    /// notified, `false` on time-out. Signals and spurious wake-ups are absorbed.
    /// Withdraws the waiter either way.
    #[cold]
    pub fn wait(&self, key: WaitKey, deadline: Deadline) -> bool {
        let notified = self.sleep(key, deadline);
        self.waiters.fetch_sub(1, Ordering::Release);
        notified
    }

    #[cfg(not(shmkit_loom))]
    fn sleep(&self, key: WaitKey, deadline: Deadline) -> bool {
        crate::futex::wait_while(&self.epoch, key.0, deadline)
    }

    /// Under loom, deadlines are not modelled: the wait ends only on a notify.
    #[cfg(shmkit_loom)]
    fn sleep(&self, key: WaitKey, _deadline: Deadline) -> bool {
        self.sim.wait_while(&self.epoch, key.0);
        true
    }

    /// Wakes every waiter. Makes no system call when nobody waits. Call it after making
    /// the condition true.
    #[inline]
    pub fn notify_all(&self) -> bool {
        self.notify(u32::MAX)
    }

    /// Wakes one waiter (if any sleeps). Makes no system call when nobody waits.
    #[inline]
    pub fn notify_one(&self) -> bool {
        self.notify(1)
    }

    /// Wakes up to `n` sleepers; returns whether anyone was waiting.
    #[inline]
    pub fn notify(&self, n: u32) -> bool {
        // Orders the caller's condition write before our read of the count (pairs with
        // the waiter's fence in `prepare_wait`: see `asym`).
        let symmetric = crate::asym::notifier_fence(&self.waiters);
        if self.waiters.load(Ordering::Relaxed) & crate::asym::COUNT == 0 {
            if symmetric {
                crate::asym::idle_symmetric(&self.waiters);
            }
            return false;
        }
        if symmetric {
            crate::asym::busy_symmetric();
        }
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.wake(n);
        true
    }

    #[cfg(not(shmkit_loom))]
    fn wake(&self, n: u32) {
        crate::futex::wake(&self.epoch, n);
    }

    #[cfg(shmkit_loom)]
    fn wake(&self, _n: u32) {
        self.sim.wake_all();
    }

    /// The number of announced waiters (racy: for display and tests).
    #[inline]
    pub fn waiters(&self) -> u32 {
        self.waiters.load(Ordering::Relaxed) & crate::asym::COUNT
    }

    /// Waits until `poll` returns `Some`, following `strategy`, or until `deadline`.
    ///
    /// `poll` is called once at once, then while spinning, then after each wake-up; a
    /// parked waiter also wakes now and then to call it (see [`RECHECK_INTERVAL`]). Returns `None` on
    /// time-out, after a last call to `poll`.
    pub fn wait_until<T>(
        &self,
        strategy: WaitStrategy,
        deadline: Deadline,
        poll: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        self.wait_checked(strategy, deadline, poll, || None)
    }

    /// [`wait_until`](Self::wait_until) with a second, slower check: `check` runs before
    /// the first sleep, after every wake-up (including the periodic ones, see [`RECHECK_INTERVAL`]
    /// ones) and every [`CHECK_SPINS`] spins, never on the hot path. It is the place for
    /// system calls such as asking whether a peer is still alive: a dead peer sends no
    /// notify, and this is how a waiter notices.
    pub fn wait_checked<T>(
        &self,
        strategy: WaitStrategy,
        deadline: Deadline,
        mut poll: impl FnMut() -> Option<T>,
        mut check: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        if let Some(v) = poll() {
            return Some(v);
        }
        let spins = match strategy {
            WaitStrategy::Spin => None,
            WaitStrategy::SpinThenPark { spins } => Some(spins),
            WaitStrategy::Park => Some(0),
        };
        let mut i: u32 = 0;
        while spins.is_none_or(|s| i < s) {
            crate::loom::hint::spin_loop();
            if let Some(v) = poll() {
                return Some(v);
            }
            i = i.wrapping_add(1);
            if i % CHECK_SPINS == 0 {
                if let Some(v) = check() {
                    return Some(v);
                }
            }
            if i % CLOCK_SPINS == 0 && deadline.has_passed() {
                return poll();
            }
        }
        let mut interval = FIRST_RECHECK;
        loop {
            let key = self.prepare_wait();
            if let Some(v) = poll().or_else(&mut check) {
                self.cancel_wait(key);
                return Some(v);
            }
            if deadline.has_passed() {
                self.cancel_wait(key);
                return None;
            }
            self.wait(key, park_until(deadline, interval));
            interval = (interval * 2).min(RECHECK_INTERVAL);
        }
    }
}

/// How many spins pass between two calls of the slow check in
/// [`EventCount::wait_checked`] (a system call, typically).
pub const CHECK_SPINS: u32 = 1024;

/// How many spins pass between two looks at the clock (a vDSO call, no system call).
const CLOCK_SPINS: u32 = 64;

#[cfg(not(shmkit_loom))]
fn park_until(deadline: Deadline, interval: Duration) -> Deadline {
    deadline.min(Deadline::after(interval))
}

#[cfg(shmkit_loom)]
fn park_until(deadline: Deadline, _interval: Duration) -> Deadline {
    deadline
}

#[cfg(shmkit_loom)]
mod sim {
    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::{Condvar, Mutex};

    /// A model of a futex: `wait_while` checks the word and sleeps atomically with respect
    /// to `wake_all`, which is what the kernel guarantees.
    #[derive(Debug, Default)]
    pub(super) struct Futex {
        lock: Mutex<()>,
        cv: Condvar,
    }

    impl Futex {
        pub(super) fn wait_while(&self, word: &AtomicU32, expected: u32) {
            let mut guard = self.lock.lock().unwrap();
            while word.load(Ordering::SeqCst) == expected {
                guard = self.cv.wait(guard).unwrap();
            }
        }

        pub(super) fn wake_all(&self) {
            let _guard = self.lock.lock().unwrap();
            self.cv.notify_all();
        }
    }
}

#[cfg(all(test, not(shmkit_loom)))]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;
    use crate::futex::tests::wake_syscalls;

    #[test]
    fn notify_without_waiters_makes_no_syscall() {
        let ec = EventCount::new();
        let before = wake_syscalls();
        for _ in 0..1000 {
            assert!(!ec.notify_all());
            assert!(!ec.notify_one());
        }
        assert_eq!(wake_syscalls(), before);
    }

    #[test]
    fn notify_with_a_parked_waiter_makes_a_syscall_and_wakes_it() {
        let ec = Arc::new(EventCount::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (ec2, flag2) = (ec.clone(), flag.clone());
        let waiter = std::thread::spawn(move || {
            ec2.wait_until(WaitStrategy::Park, Deadline::after(Duration::from_secs(30)), || {
                flag2.load(Ordering::Acquire).then_some(())
            })
        });
        while ec.waiters() == 0 {
            std::thread::yield_now();
        }
        let before = wake_syscalls();
        flag.store(true, Ordering::Release);
        assert!(ec.notify_all());
        assert_eq!(wake_syscalls(), before + 1);
        assert_eq!(waiter.join().unwrap(), Some(()));
        assert_eq!(ec.waiters(), 0);
    }

    #[test]
    fn wait_until_times_out_no_earlier_than_the_deadline() {
        let ec = EventCount::new();
        for strategy in [WaitStrategy::Spin, WaitStrategy::default(), WaitStrategy::Park] {
            let start = std::time::Instant::now();
            let r: Option<()> = ec.wait_until(strategy, Deadline::after(Duration::from_millis(30)), || None);
            assert_eq!(r, None);
            assert!(start.elapsed() >= Duration::from_millis(30), "{strategy:?}");
        }
        assert_eq!(ec.waiters(), 0);
    }

    #[test]
    fn zeroed_memory_is_a_valid_event_count() {
        let words = [std::sync::atomic::AtomicU64::new(0)];
        // SAFETY: 8 zero bytes, 8-aligned, interior-mutable; `EventCount` is two
        // `AtomicU32`s here, valid for any bit pattern.
        let ec = unsafe { &*words.as_ptr().cast::<EventCount>() };
        assert_eq!(ec.waiters(), 0);
        assert!(!ec.notify_all());
    }
}

#[cfg(all(test, shmkit_loom))]
mod loom_tests {
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;

    use super::*;

    /// One waiter, one notifier: the waiter always wakes (no lost wake-up).
    #[test]
    fn loom_no_lost_wakeup() {
        loom::model(|| {
            let ec = Arc::new(EventCount::new());
            let flag = Arc::new(AtomicBool::new(false));
            let (ec2, flag2) = (ec.clone(), flag.clone());
            let waiter = loom::thread::spawn(move || {
                ec2.wait_until(WaitStrategy::Park, Deadline::never(), || {
                    flag2.load(Ordering::Acquire).then_some(())
                })
            });
            flag.store(true, Ordering::Release);
            ec.notify_all();
            assert_eq!(waiter.join().unwrap(), Some(()));
        });
    }

    /// Two waiters on two conditions, one notifier for each: both wake.
    #[test]
    fn loom_two_waiters() {
        loom::model(|| {
            let ec = Arc::new(EventCount::new());
            let count = Arc::new(AtomicU32::new(0));
            let waiters: Vec<_> = (1..=2)
                .map(|need| {
                    let (ec, count) = (ec.clone(), count.clone());
                    loom::thread::spawn(move || {
                        ec.wait_until(WaitStrategy::Park, Deadline::never(), || {
                            (count.load(Ordering::Acquire) >= need).then_some(())
                        })
                    })
                })
                .collect();
            for _ in 0..2 {
                count.fetch_add(1, Ordering::Release);
                ec.notify_one();
            }
            ec.notify_all();
            for w in waiters {
                assert_eq!(w.join().unwrap(), Some(()));
            }
        });
    }
}
