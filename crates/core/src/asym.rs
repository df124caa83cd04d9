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
//! - [`light`], on the notifier's path, is a compiler fence only: it keeps the compiler
//!   from moving the load above the store, and costs nothing at run time.
//! - [`heavy`], on the waiter's path (just before it re-checks the condition and sleeps),
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
//! **Who is registered.** Every process registers
//! (`MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`) when shmkit first attaches an object in it,
//! or at its first notify, before it ever takes the light path; a registration is kept
//! across fork and dropped at exec, and a process started by exec registers again.
//! Where the kernel refuses (before Linux 4.16, or a seccomp filter), [`light`] is a full
//! fence in that process, which pairs with any waiter. A waiter whose own membarrier call
//! is refused while its notifiers skip their fence could miss a wake-up; every shmkit wait
//! also wakes to re-check now and then ([`RECHECK_INTERVAL`](crate::RECHECK_INTERVAL)), so
//! that would cost a delay, never a hang.

use std::sync::atomic::{compiler_fence, AtomicU32};

use crate::loom::atomic::{fence, Ordering};

/// Not asked yet.
const UNKNOWN: u32 = 0;
/// Registered: the light side is a compiler fence.
const REGISTERED: u32 = 1;
/// The kernel refused: the light side is a full fence.
const REFUSED: u32 = 2;

static STATE: AtomicU32 = AtomicU32::new(UNKNOWN);

/// The notifier's side: orders the caller's earlier stores before its later loads, paired
/// with a waiter's [`heavy`].
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
/// registered process.
pub(crate) fn heavy() {
    fence(Ordering::SeqCst);
    if !cfg!(shmkit_loom) && STATE.load(Ordering::Relaxed) != REFUSED {
        // Refused here though allowed elsewhere (a seccomp filter on this process
        // alone): the periodic re-check of every wait covers it (see the module doc).
        let _ = crate::sys::membarrier(crate::sys::MEMBARRIER_GLOBAL_EXPEDITED);
    }
}

/// Registers this process for the waiters' barriers, once; says whether it is.
pub(crate) fn register() -> bool {
    match STATE.load(Ordering::Relaxed) {
        REGISTERED => return true,
        REFUSED => return false,
        _ => {}
    }
    let ok = crate::sys::membarrier(crate::sys::MEMBARRIER_REGISTER_GLOBAL_EXPEDITED).is_ok();
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
