//! Asymmetric fences: the store-then-load ordering an [`EventCount`](crate::EventCount)
//! needs between a notifier and a waiter, paid almost entirely by the waiter.
//!
//! A notifier stores its condition and then loads the waiter count; a waiter stores the
//! count and then loads the condition. Each side needs a full fence between its store and
//! its load (Dekker), or a notify can miss a waiter that is about to sleep. A full fence
//! is a locked instruction on x86 (tens of cycles, and it waits for the store buffer to
//! drain), and notifiers run on every put and get.
//!
//! So the two sides are made unequal, as user-space RCU and Folly do:
//!
//! - `light`, on the notifier's path, is a compiler fence only: it keeps the compiler
//!   from moving the load above the store, and costs nothing at run time.
//! - `heavy`, on the waiter's path (just before it re-checks the condition and sleeps),
//!   is a full fence and then `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`. When that
//!   returns, every running thread of every process registered for it has executed a
//!   full memory barrier (the kernel interrupts their CPUs; a thread not running passed
//!   one when it was switched out).
//!
//! **Why that is enough.** Take a notifier N (store `c`, light, load `w`) and a waiter W
//! (store `w`, heavy, load `c`), and the point P where N's thread ran a barrier during
//! W's membarrier. If P falls after N's load of `w`, N's store of `c` was visible before P,
//! hence before W's membarrier returned and W loads `c`: W sees the condition. If P falls
//! before N's store of `c` (or between its store and its load), N's load of `w` comes after
//! a barrier that came after W's store of `w` was visible (W's own full fence, before the
//! membarrier began): N sees the waiter and wakes it. Either way no wake-up is lost, as
//! with a full fence on both sides. Loom cannot express the kernel's half, so its models
//! run with a full fence on both sides (the symmetric scheme this one is equivalent to).
//!
//! **When waiters park often, the fences go back to symmetric.** The waiter's barrier
//! interrupts every CPU running a registered process, a few microseconds each time:
//! nothing next to a sleep that comes now and then, but a machine full of processes that
//! park on every message (many clients on few cores) would spend its time in them. So an
//! event count's waiter word carries a mode in its top bits:
//!
//! - *asymmetric* (0): notifiers use `light`, waiters `heavy`;
//! - *symmetric*: both use a full fence, as before this module;
//! - *pending*, on the way from the first to the second: notifiers use a full fence,
//!   waiters still `heavy`.
//!
//! A waiter that parks again within [`OFTEN`] of its thread's last park switches the
//! count to symmetric: it sets *pending*, runs `heavy`, then sets *symmetric*. Every
//! notifier that read *asymmetric* did so before *pending* was set, so that barrier
//! orders it (the argument above); every waiter that reads *symmetric* (in the same
//! read-modify-write that counts it) comes after that barrier, and pairs with notifiers
//! that read *pending* or *symmetric* and fence. A notifier that finds nobody waiting
//! [`IDLE_NOTIFIES`] times in a row in symmetric mode switches back to asymmetric, in one
//! step: the mode shares the word with the count, so a notifier that reads the new mode
//! also reads every waiter counted before the switch.
//!
//! **Who is registered.** Every process registers
//! (`MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`) when shmkit first attaches an object in it,
//! or at its first notify, before it ever takes the light path; a registration is kept
//! across fork and dropped at exec, and a process started by exec registers again.
//! Where the kernel refuses (before Linux 4.16, or a seccomp filter), `light` is a full
//! fence in that process, which pairs with any waiter. A waiter whose own membarrier call
//! is refused (a seccomp filter on that process alone) while its notifiers skip their
//! fence could miss a wake-up, and starts no switch to symmetric. Every blocking call of
//! shmkit's wakes to re-check now and then
//! ([`RECHECK_INTERVAL`](crate::RECHECK_INTERVAL)), so there that costs a delay; a bare
//! [`EventCount::wait`](crate::EventCount::wait) without a deadline could sleep on.
//!
//! **Registering** may wait for the kernel (an RCU grace period, milliseconds) in a
//! process with many threads; it is done once, when shmkit first attaches an object.

use std::sync::atomic::{compiler_fence, AtomicU32};

use crate::loom::atomic::{fence, Ordering};

/// The count of an event count's waiter word.
pub(crate) const COUNT: u32 = (1 << 29) - 1;
/// Set in an event count's waiter word by a waiter about to sleep in the kernel (see
/// [`EventCount`](crate::EventCount)); not part of the count, nor of the mode.
pub(crate) const SLEEPING: u32 = 1 << 29;
/// Mode: switching to symmetric (notifiers fence; waiters still pay the heavy barrier).
const PENDING: u32 = 1 << 30;
/// Mode: symmetric (both sides fence).
const SYMMETRIC: u32 = 1 << 31;

/// Two parks of one thread closer than this switch their event count to symmetric.
pub const OFTEN: std::time::Duration = std::time::Duration::from_millis(1);

/// Notifies that find nobody waiting, in a row on one thread, before a symmetric count
/// goes back to asymmetric.
pub const IDLE_NOTIFIES: u32 = 1 << 16;

/// Not asked yet.
const UNKNOWN: u32 = 0;
/// Registered: the light side is a compiler fence.
const REGISTERED: u32 = 1;
/// The kernel refused: the light side is a full fence.
const REFUSED: u32 = 2;

static STATE: AtomicU32 = AtomicU32::new(UNKNOWN);

/// The notifier's side: orders the caller's earlier stores before its later loads, paired
/// with a waiter's `heavy`.
#[inline]
pub(crate) fn light() {
    if cfg!(shmkit_loom) || STATE.load(Ordering::Relaxed) != REGISTERED {
        light_slow();
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

#[cold]
#[inline(never)]
fn light_slow() {
    if !cfg!(shmkit_loom) && STATE.load(Ordering::Relaxed) == UNKNOWN {
        register();
    }
    // Registered only now, or refused: this once (or always), a full fence.
    fence(Ordering::SeqCst);
}

/// The waiter's side: a full fence here, and one on every running thread of every
/// registered process. Says whether the second part was done (under loom, where
/// notifiers fence fully, it need not be).
pub(crate) fn heavy() -> bool {
    fence(Ordering::SeqCst);
    if cfg!(shmkit_loom) {
        return true;
    }
    // Refused here though allowed elsewhere (a seccomp filter on this process alone, or
    // one installed after registering): see the module doc.
    !cfg!(miri)
        && STATE.load(Ordering::Relaxed) != REFUSED
        && crate::sys::membarrier(crate::sys::MEMBARRIER_GLOBAL_EXPEDITED).is_ok()
}

/// A notifier's fence before it reads the waiter count in `word`; says whether the count
/// is in a symmetric mode.
#[inline]
pub(crate) fn notifier_fence(word: &crate::loom::atomic::AtomicU32) -> bool {
    // First of all: the caller's stores stay above the mode's load too, not only above
    // the count's (the barrier of a switch to symmetric may land anywhere after them).
    compiler_fence(Ordering::SeqCst);
    if word.load(Ordering::Relaxed) & (PENDING | SYMMETRIC) != 0 {
        fence(Ordering::SeqCst);
        true
    } else {
        light();
        false
    }
}

/// A waiter's fence after it counted itself in `word`, which held `before`: switches the
/// count to symmetric if this thread parks often, or finishes a switch another waiter
/// began (and may have died in).
pub(crate) fn waiter_fence(word: &crate::loom::atomic::AtomicU32, before: u32) {
    if before & SYMMETRIC != 0 {
        fence(Ordering::SeqCst);
        return;
    }
    if !heavy() {
        // Without our barrier, no switch may rest on it.
        return;
    }
    // Our barrier came after `before` was read: if that showed the switch pending, it
    // orders every notifier that read the count asymmetric, and the switch can be
    // finished. Else this thread may begin one, with a barrier of its own.
    let begun = before & PENDING != 0
        || (parks_often()
            && word
                .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| {
                    (w & (PENDING | SYMMETRIC) == 0).then_some(w | PENDING)
                })
                .is_ok()
            && heavy());
    if begun
        && word
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| {
                (w & PENDING != 0).then_some((w & !PENDING) | SYMMETRIC)
            })
            .is_ok()
    {
        SWITCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Switches to symmetric mode this process made or finished (for tests).
static SWITCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many switches to symmetric mode this process made or finished (for tests and
/// tools).
pub fn switches() -> u64 {
    SWITCHES.load(std::sync::atomic::Ordering::Relaxed)
}

/// A notifier found nobody waiting on a count in symmetric mode: after
/// [`IDLE_NOTIFIES`] in a row on this thread (a notify that finds a waiter starts the
/// count again), the count goes back to asymmetric, if nobody waits then.
#[cold]
pub(crate) fn idle_symmetric(word: &crate::loom::atomic::AtomicU32) {
    if cfg!(shmkit_loom) {
        return;
    }
    let due = IDLE.with(|n| {
        let v = n.get().wrapping_add(1);
        n.set(if v >= IDLE_NOTIFIES { 0 } else { v });
        v >= IDLE_NOTIFIES
    });
    if due {
        let _ = word.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| {
            (w & SYMMETRIC != 0 && w & (PENDING | COUNT) == 0).then_some(w & !SYMMETRIC)
        });
    }
}

/// A notifier found a waiter on a count in symmetric mode: the idle streak starts again.
pub(crate) fn busy_symmetric() {
    if !cfg!(shmkit_loom) {
        IDLE.with(|n| n.set(0));
    }
}

thread_local! {
    /// This thread's last park, monotonic nanoseconds.
    static LAST_PARK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Notifies in a row that found a symmetric count idle.
    static IDLE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Set by [`stay_asymmetric`].
static STAY_ASYMMETRIC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Keeps every event count this process switches in asymmetric mode, however often its
/// waiters park (for tests of the asymmetric scheme, and benchmarks of it). Children
/// forked afterwards inherit the setting.
pub fn stay_asymmetric(stay: bool) {
    STAY_ASYMMETRIC.store(stay, std::sync::atomic::Ordering::Relaxed);
}

/// Whether this thread parked within [`OFTEN`] before now (never under loom: its models
/// stay asymmetric, where both sides are full fences there).
fn parks_often() -> bool {
    if cfg!(shmkit_loom) || STAY_ASYMMETRIC.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let now = crate::sys::monotonic_ns();
    let last = LAST_PARK.with(|l| l.replace(now));
    last != 0 && now.saturating_sub(last) < OFTEN.as_nanos() as u64
}

/// Registers this process for the waiters' barriers, once; says whether it is.
pub(crate) fn register() -> bool {
    match STATE.load(Ordering::Relaxed) {
        REGISTERED => return true,
        REFUSED => return false,
        _ => {}
    }
    // Miri has no membarrier: there, as on a kernel that refuses, both sides fence.
    let ok = !cfg!(miri) && crate::sys::membarrier(crate::sys::MEMBARRIER_REGISTER_GLOBAL_EXPEDITED).is_ok();
    STATE.store(if ok { REGISTERED } else { REFUSED }, Ordering::Relaxed);
    ok
}

/// Whether this process's notifiers skip their fence (for tests and tools).
pub fn fence_free() -> bool {
    STATE.load(Ordering::Relaxed) == REGISTERED
}

#[cfg(all(test, not(shmkit_loom)))]
mod tests {
    use super::*;

    #[test]
    fn this_machine_registers_and_the_waiters_barrier_returns() {
        // Linux 4.16 and later, without a filter: registered; elsewhere refused, and the
        // light side stays a full fence.
        let ok = register();
        assert_eq!(fence_free(), ok);
        light();
        heavy();
        assert_eq!(register(), ok, "asked once, the answer stays");
    }
}
