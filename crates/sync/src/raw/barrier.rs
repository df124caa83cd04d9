//! [`RawBarrier`]: a meeting point for a fixed number of parties, broken by a death.

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::{Deadline, EventCount, WaitStrategy};

/// Why a barrier wait failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier is broken: aborted, reset while we waited, a party timed out, or a
    /// party died. [`reset`](RawBarrier::reset) makes it usable again.
    Broken,
    /// Our own wait timed out; that broke the barrier for the others.
    TimedOut,
}

impl std::fmt::Display for BarrierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Broken => f.write_str(
                "the barrier is broken (aborted, reset, a party timed out or died): reset it before using it again",
            ),
            Self::TimedOut => f.write_str("timed out waiting at the barrier, which is now broken for the others"),
        }
    }
}

impl std::error::Error for BarrierError {}

// Barrier state word: generation (16 bits) | outcomes of the last 16 generations (16 bits,
// bit i = 1 if generation `gen - 1 - i` was released, 0 if it was reset) | broken (1 bit)
// | arrived (31 bits). One word, so every transition is one CAS.
const GEN_SHIFT: u32 = 48;
const HIST_SHIFT: u32 = 32;
const BROKEN: u64 = 1 << 31;
const COUNT_MASK: u64 = BROKEN - 1;

fn gen_of(s: u64) -> u16 {
    (s >> GEN_SHIFT) as u16
}

/// The state after generation `s` ends, released (`true`) or reset.
fn next_generation(s: u64, released: bool) -> u64 {
    let hist = ((s >> HIST_SHIFT) as u16) << 1 | u16::from(released);
    (u64::from(gen_of(s).wrapping_add(1)) << GEN_SHIFT) | (u64::from(hist) << HIST_SHIFT)
}

/// How generation `gen` ended, seen from state `s` of a later generation; `None` if more
/// than 16 generations have passed (too many to remember).
fn outcome(s: u64, gen: u16) -> Option<bool> {
    let ago = gen_of(s).wrapping_sub(gen);
    (1..=16).contains(&ago).then(|| (s >> (HIST_SHIFT + u32::from(ago) - 1)) & 1 == 1)
}

/// A barrier as [`RawBarrier::snapshot`] saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierSnapshot {
    /// The generation (round), modulo 2^16.
    pub generation: u16,
    /// The parties arrived in it.
    pub arrived: u32,
    /// Whether it is broken.
    pub broken: bool,
    /// How many wait.
    pub waiters: u32,
}

/// A barrier for a fixed number of parties.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawBarrier {
    state: AtomicU64,
    /// The number of parties (set once by the creator).
    parties: AtomicU32,
    /// Padding, an atomic like the rest: peers may write any byte of the state.
    _pad: AtomicU32,
    waiters: EventCount,
}

impl RawBarrier {
    /// A barrier for `parties` parties.
    pub fn new(parties: u32) -> Self {
        let b = Self::default();
        b.init(parties);
        b
    }

    /// Sets the number of parties (for creators of an in-place barrier).
    pub fn init(&self, parties: u32) {
        self.parties.store(parties, Ordering::Release);
    }

    /// The parties stored by the creator (read it once, when attaching).
    pub fn stored_parties(&self) -> u32 {
        self.parties.load(Ordering::Relaxed)
    }

    /// The generation, the parties arrived in it, whether it is broken, and the number
    /// of waiters, for display (racy).
    pub fn snapshot(&self) -> BarrierSnapshot {
        let s = self.state.load(Ordering::Relaxed);
        BarrierSnapshot {
            generation: gen_of(s),
            arrived: (s & COUNT_MASK) as u32,
            broken: s & BROKEN != 0,
            waiters: self.waiters.waiters(),
        }
    }

    /// Waits until `parties` parties (the caller's copy) have arrived; returns this
    /// party's arrival index, `0..parties`. `check` runs while waiting, off the hot path:
    /// returning `true` (a party died) breaks the barrier.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is or becomes broken,
    /// [`BarrierError::TimedOut`] if `deadline` passes (which breaks it).
    pub fn wait_until(
        &self,
        parties: u32,
        deadline: Deadline,
        strategy: WaitStrategy,
        mut check: impl FnMut() -> bool,
    ) -> Result<u32, BarrierError> {
        let parties = u64::from(parties.clamp(1, COUNT_MASK as u32));
        let mut s = self.state.load(Ordering::Acquire);
        let (gen, index) = loop {
            if s & BROKEN != 0 {
                return Err(BarrierError::Broken);
            }
            // Clamped: a corrupt count must not overflow into the broken bit.
            let index = (s & COUNT_MASK).min(parties - 1);
            let next = if index + 1 == parties { next_generation(s, true) } else { s + 1 };
            match self.state.compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if index + 1 == parties => {
                    self.waiters.notify_all();
                    return Ok(index as u32);
                }
                Ok(_) => break (gen_of(s), index as u32),
                Err(now) => s = now,
            }
        };
        let ended = |s: u64| -> Option<Result<u32, BarrierError>> {
            if gen_of(s) != gen {
                Some(if outcome(s, gen).unwrap_or(false) { Ok(index) } else { Err(BarrierError::Broken) })
            } else if s & BROKEN != 0 {
                Some(Err(BarrierError::Broken))
            } else {
                None
            }
        };
        // How the generation ended for us, if it ended before we could break it.
        let settle = |ended: Option<bool>, ours: BarrierError| match ended {
            None => Err(ours),
            Some(true) => Ok(index),
            Some(false) => Err(BarrierError::Broken),
        };
        // A death breaks our round; if the round ended first (the dead party had arrived
        // in it), the death must not be lost with it: the dead party can arrive in no later
        // round, so the barrier breaks now, whatever round it is in.
        let died = || {
            let ended = self.break_generation(gen);
            if ended.is_some() {
                self.abort();
            }
            settle(ended, BarrierError::Broken)
        };
        let result = self.waiters.wait_checked(
            strategy,
            deadline,
            || ended(self.state.load(Ordering::Acquire)),
            || check().then(died),
        );
        result.unwrap_or_else(|| settle(self.break_generation(gen), BarrierError::TimedOut))
    }

    /// Breaks generation `gen` if it is still current (`None`); otherwise says how it
    /// ended: `Some(true)` released, `Some(false)` reset or forgotten.
    fn break_generation(&self, gen: u16) -> Option<bool> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if gen_of(s) != gen {
                return Some(outcome(s, gen).unwrap_or(false));
            }
            match self.state.compare_exchange_weak(s, s | BROKEN, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    self.waiters.notify_all();
                    return None;
                }
                Err(now) => s = now,
            }
        }
    }

    /// Breaks the barrier: every waiter, and every later arrival until
    /// [`reset`](Self::reset), gets [`BarrierError::Broken`].
    pub fn abort(&self) {
        self.state.fetch_or(BROKEN, Ordering::AcqRel);
        self.waiters.notify_all();
    }

    /// Returns the barrier to its empty, working state; parties waiting now get
    /// [`BarrierError::Broken`].
    pub fn reset(&self) {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            match self.state.compare_exchange_weak(
                s,
                next_generation(s, false),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        self.waiters.notify_all();
    }

    /// How many parties wait now (racy).
    pub fn n_waiting(&self) -> u32 {
        let s = self.state.load(Ordering::Relaxed);
        if s & BROKEN != 0 {
            0
        } else {
            (s & COUNT_MASK) as u32
        }
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.state.load(Ordering::Acquire) & BROKEN != 0
    }
}
