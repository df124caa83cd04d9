//! [`EventCount`] and [`WaitStrategy`]: how every blocking call in shmkit waits.
//!
//! An event count turns "wait until this condition holds" into a futex sleep without lost
//! wake-ups, and keeps notifiers off the kernel unless someone actually sleeps:
//!
//! ```text
//! waiter                                notifier
//! key = prepare_wait()   (waiters += 1) make the condition true
//! if condition { cancel_wait(key) }     notify(n):
//! else { wait(key, deadline):             if waiters > 0 {
//!     SLEEPING = 1                            epoch += 1
//!     FUTEX_WAIT(epoch == key) }              if SLEEPING {
//!                                               if count <= n { SLEEPING = 0; epoch += 1 }
//!                                               FUTEX_WAKE(n) } }
//! ```
//!
//! Both sides put a fence between their write and their read, so either the notifier sees
//! the waiter counted, or the waiter sees the condition. The fences are
//! [asymmetric](crate::asym): the waiter, about to sleep anyway, pays for both, and a
//! notify that finds nobody waiting is a plain load, with no locked instruction. If the notifier
//! bumps the epoch after the waiter read its key, the futex wait sees a changed word and
//! returns at once.
//!
//! **One wake-up per sleep, not one per notify.** A waiter is counted from `prepare_wait`
//! until it has woken *and run*. A notifier that woke it, and then the next notifier, and
//! the next, would all find it counted and each make a `FUTEX_WAKE` that finds nobody in
//! the kernel, until the woken thread gets a core: on a busy core, a system call per
//! message for nothing. So a waiter sets a `SLEEPING` bit in the waiter word each time
//! just before it enters the kernel, and a notifier enters the kernel only when the bit is
//! set. A notifier that will wake every counted waiter (`n` at least the count) clears the
//! bit, and the notifiers after it, until someone sleeps again, only bump the epoch. A
//! notifier that may leave sleepers behind (`notify_one` with two counted) leaves the bit
//! set for the next.
//!
//! Why no wake-up is lost. Every write to the waiter word is a read-modify-write, so each
//! one reads the one before it. A waiter reads its key, then sets the bit, then the
//! kernel reads the epoch; a notifier bumps the epoch, then reads the word.
//!
//! - If the notifier's read comes first in the word's order, the waiter's bit-setting
//!   reads from it (or from a later one), so the waiter's futex sees the bump and does not
//!   sleep.
//! - Else the notifier finds the bit set, unless another notifier cleared it since. A
//!   notifier clears the bit (a compare-and-swap on the whole word, so a waiter counted
//!   since its read makes it read again) only when it wakes every counted waiter, and it
//!   bumps the epoch *again* after the swap and before its `FUTEX_WAKE`. A waiter whose
//!   bit it cleared had read its key before setting the bit, hence before that second
//!   bump: its futex sees the bump, or it is in the kernel's queue before the wake.
//! - A waiter woken with the epoch still at its key (by a notifier from before its key)
//!   sets the bit again before it goes back to sleep.
//!
//! What it costs. A waiter that times out leaves the bit set: the next notifier makes one
//! wake-up for nobody. With more waiters counted than a notifier wakes (a dead waiter,
//! counted for good, beside a live one), every `notify_one` enters the kernel, as every
//! notify did before this scheme. A notifier killed between clearing the bit and its
//! wake-up leaves its sleepers unwoken and the bit clear: so no sleep lasts longer than
//! [`RECHECK_INTERVAL`], after which a sleeper that finds the epoch moved returns (and is
//! counted in [`EventCount::missed_wakeups`]). The same holds for a sleeper that a
//! `notify_one` did not choose: it returns within that interval, to check its condition
//! again, where before it slept on.

use std::time::Duration;

use crate::deadline::Deadline;
use crate::loom::atomic::{fence, AtomicU32, Ordering};

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
    /// notified, `false` on time-out. Signals and spurious wake-ups are absorbed. A waiter
    /// that a `notify_one` did not choose (another was woken) may also return `true`,
    /// within [`RECHECK_INTERVAL`]: check the condition again. Withdraws the waiter either
    /// way.
    #[cold]
    pub fn wait(&self, key: WaitKey, deadline: Deadline) -> bool {
        let notified = self.sleep(key.0, deadline);
        self.waiters.fetch_sub(1, Ordering::Release);
        notified
    }

    /// Sleeps in the kernel while the epoch is `key`, until `deadline`; whether it moved.
    /// Each sleep lasts at most [`RECHECK_INTERVAL`]: a notifier killed between clearing
    /// the `SLEEPING` bit and its wake-up (see the module doc) costs its sleepers that
    /// long, not their whole wait. (So does a `notify_one` that woke another: the epoch
    /// moved, and this one returns.)
    fn sleep(&self, key: u32, deadline: Deadline) -> bool {
        loop {
            // Every time into the kernel, tells notifiers first that one may sleep there
            // (see the module doc). Again after a wake-up that left the epoch as it was:
            // that was a notifier from before our key, which may have cleared the bit, and
            // the next notifier must not find it clear while we sleep on.
            self.waiters.fetch_or(crate::asym::SLEEPING, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let woken = self.futex_wait(key, park_until(deadline, RECHECK_INTERVAL));
            if self.epoch.load(Ordering::SeqCst) != key {
                if !woken {
                    // The epoch moved and no wake-up came: one was lost (or is a moment
                    // late). Counted for the tests that look for lost wake-ups.
                    MISSED_WAKEUPS.with(|m| m.set(m.get() + 1));
                }
                return true;
            }
            if deadline.has_passed() {
                return false;
            }
        }
    }

    /// How many times this thread, asleep in an event count, found the epoch moved when
    /// its sleep timed out: a notify whose wake-up never came (its notifier killed between
    /// clearing the bit and waking), one that came a moment after the time-out, or a
    /// `notify_one` that woke another waiter. For tests that look for lost wake-ups with
    /// `notify_all`, or with one waiter.
    pub fn missed_wakeups() -> u64 {
        MISSED_WAKEUPS.with(std::cell::Cell::get)
    }

    /// One futex wait while the epoch is `expected`, until `deadline`; `false` if it
    /// timed out.
    #[cfg(not(shmkit_loom))]
    fn futex_wait(&self, expected: u32, deadline: Deadline) -> bool {
        match crate::futex::wait(&self.epoch, expected, deadline) {
            crate::futex::WaitResult::TimedOut => false,
            // Without a working futex, poll gently instead of spinning on the error.
            crate::futex::WaitResult::Failed => {
                std::thread::sleep(Duration::from_millis(1));
                true
            }
            _ => true,
        }
    }

    /// Under loom, deadlines are not modelled: the wait ends only on a wake-up.
    #[cfg(shmkit_loom)]
    fn futex_wait(&self, expected: u32, _deadline: Deadline) -> bool {
        self.sim.wait(&self.epoch, expected);
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
        // Into the kernel only if someone may sleep there (see the module doc). A
        // read-modify-write, not a load: it reads the latest word, and a waiter's `SLEEPING`
        // that comes after it in the word's order reads from it, so that waiter's futex
        // sees the new epoch (the pairing holds with acquire and release alone).
        let mut w = self.waiters.fetch_or(0, Ordering::SeqCst);
        loop {
            if w & crate::asym::SLEEPING == 0 {
                return true;
            }
            if w & crate::asym::COUNT > n {
                // Some may sleep on after this wake: the bit stays for the next notifier.
                break;
            }
            match self.waiters.compare_exchange_weak(
                w,
                w & !crate::asym::SLEEPING,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    // A waiter whose bit this cleared may have read its key after our
                    // first bump, and not be in the kernel yet: this bump comes after its
                    // key (see the module doc), so its futex sees it or our wake finds it.
                    self.epoch.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Err(now) => w = now,
            }
        }
        self.wake(n);
        true
    }

    #[cfg(not(shmkit_loom))]
    fn wake(&self, n: u32) {
        crate::futex::wake(&self.epoch, n);
    }

    #[cfg(shmkit_loom)]
    fn wake(&self, n: u32) {
        self.sim.wake(n);
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

thread_local! {
    /// This thread's sleeps that found the epoch moved when they timed out (see
    /// [`EventCount::missed_wakeups`]).
    static MISSED_WAKEUPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
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

    /// A model of a futex: `wait` checks the word and sleeps atomically with respect
    /// to `wake`, which is what the kernel guarantees, and `wake(n)` wakes the `n` oldest
    /// sleepers (the others sleep on, whatever the word holds now), as the kernel does.
    #[derive(Debug, Default)]
    pub(super) struct Futex {
        lock: Mutex<Queue>,
        cv: Condvar,
    }

    /// Sleepers in order of arrival: those numbered below `woken` may leave, those from
    /// `woken` to `next` sleep.
    #[derive(Debug, Default)]
    struct Queue {
        next: u32,
        woken: u32,
    }

    impl Futex {
        /// Returns at once if `word` is not `expected`; else sleeps until woken.
        pub(super) fn wait(&self, word: &AtomicU32, expected: u32) {
            let mut q = self.lock.lock().unwrap();
            if word.load(Ordering::SeqCst) != expected {
                return;
            }
            let me = q.next;
            q.next += 1;
            while q.woken <= me {
                q = self.cv.wait(q).unwrap();
            }
        }

        pub(super) fn wake(&self, n: u32) {
            let mut q = self.lock.lock().unwrap();
            q.woken = q.woken.saturating_add(n).min(q.next);
            self.cv.notify_all();
        }
    }
}

#[cfg(all(test, not(shmkit_loom)))]
mod tests;

#[cfg(all(test, shmkit_loom))]
mod loom_tests;
