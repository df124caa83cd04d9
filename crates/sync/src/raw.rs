//! The in-place forms: `#[repr(C)]` states made of atomics, for embedding in any segment
//! (a Value's lock, a queue's condition) or on the heap (loom, Miri).
//!
//! All-zero bytes are a valid state for each of them in production builds: an unlocked
//! lock, a cleared event, a semaphore at 0, an empty barrier (whose `parties` the creator
//! then sets). They take no references to anything but their own atomics, and every value
//! a peer could have written is either a count or an owner token that is checked before
//! use, so a corrupt state can make a call fail or wait, never misbehave.

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::{Deadline, EventCount, WaitStrategy};

/// Tells whether the owner of a lock is alive.
pub trait Liveness {
    /// Whether the holder of token `owner` is alive.
    fn is_alive(&self, owner: u64) -> bool;
}

/// Every owner is alive: for locks shared between threads of one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysAlive;

impl Liveness for AlwaysAlive {
    fn is_alive(&self, _owner: u64) -> bool {
        true
    }
}

/// The bit that makes every owner token non-zero (0 means "unlocked").
pub const TOKEN_BIT: u64 = 1 << 63;

/// The owner token of participant `id`.
#[inline]
pub fn token(id: shmkit_core::ParticipantId) -> u64 {
    id.to_u64() | TOKEN_BIT
}

/// Who owner token `owner` is, for display: `free`, `held by pid 4242 (alive)`, ...
pub fn describe_owner(obj: &shmkit_core::Object, owner: u64) -> String {
    match owner {
        0 => "free".to_owned(),
        w if w & TOKEN_BIT == 0 => format!("garbage owner word {w:#x}"),
        w => format!(
            "held by {}",
            shmkit_core::state::holder(obj, shmkit_core::ParticipantId::from_u64(w & !TOKEN_BIT))
        ),
    }
}

impl Liveness for shmkit_core::Object {
    fn is_alive(&self, owner: u64) -> bool {
        owner & TOKEN_BIT != 0
            && shmkit_core::Object::is_alive(self, shmkit_core::ParticipantId::from_u64(owner & !TOKEN_BIT))
    }
}

/// How a lock was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// From a live owner, or free.
    Clean,
    /// Taken over from an owner that died holding it: the data it protects may be
    /// half-updated.
    OwnerDied,
}

/// The caller does not hold the lock it tried to release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotOwner;

impl std::fmt::Display for NotOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this process (or thread) does not hold the lock: only its owner can release it")
    }
}

impl std::error::Error for NotOwner {}

/// A lock whose state is its owner's token: 0 when free. One word, so a holder can never
/// die "between" taking the lock and recording itself.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawLock {
    owner: AtomicU64,
    waiters: EventCount,
}

impl RawLock {
    /// A free lock.
    pub fn new() -> Self {
        Self::default()
    }

    /// The owner token (0 when free) and the number of waiters, for display (racy).
    pub fn snapshot(&self) -> (u64, u32) {
        (self.owner.load(Ordering::Relaxed), self.waiters.waiters())
    }

    /// Takes the lock for `me` if it is free. No system call.
    #[inline]
    pub fn try_lock(&self, me: u64) -> bool {
        self.owner.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Takes the lock for `me` (a non-zero token), waiting until `deadline`. An owner that
    /// `live` says is dead is displaced, and the result says so. `None` on time-out.
    pub fn lock_until(
        &self,
        me: u64,
        deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Option<Acquired> {
        if self.try_lock(me) {
            return Some(Acquired::Clean);
        }
        if deadline.has_passed() {
            // A try: no spinning, but a dead owner is still displaced.
            return self.take_from_dead(me, live).then_some(Acquired::OwnerDied);
        }
        let got = self.waiters.wait_checked(
            strategy,
            deadline,
            || self.try_lock(me).then_some(Acquired::Clean),
            || self.take_from_dead(me, live).then_some(Acquired::OwnerDied),
        );
        if got.is_none() {
            // We may have taken a wake-up meant for the next waiter: pass it on.
            self.waiters.notify_one();
        }
        got
    }

    fn take_from_dead(&self, me: u64, live: &impl Liveness) -> bool {
        let owner = self.owner.load(Ordering::Relaxed);
        owner != 0
            && !live.is_alive(owner)
            && self.owner.compare_exchange(owner, me, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Releases the lock held by `me` and wakes a waiter if one sleeps.
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if `me` does not hold it.
    #[inline]
    pub fn unlock(&self, me: u64) -> Result<(), NotOwner> {
        self.owner.compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed).map_err(|_| NotOwner)?;
        self.waiters.notify_one();
        Ok(())
    }

    /// The owner's token, 0 if free (racy).
    #[inline]
    pub fn owner(&self) -> u64 {
        self.owner.load(Ordering::Relaxed)
    }
}

/// A recursive lock: [`RawLock`] plus the owning thread and a recursion count.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawRLock {
    lock: RawLock,
    /// The owning thread (a per-process thread id), 0 if none. Only the owner writes it.
    thread: AtomicU64,
    /// Recursion depth. Only the owner touches it.
    count: AtomicU64,
}

impl RawRLock {
    /// A free lock.
    pub fn new() -> Self {
        Self::default()
    }

    /// The inner lock's [`snapshot`](RawLock::snapshot) and the recursion depth, for
    /// display (racy).
    pub fn snapshot(&self) -> ((u64, u32), u64) {
        (self.lock.snapshot(), self.count.load(Ordering::Relaxed))
    }

    fn held_by(&self, me: u64, thread: u64) -> bool {
        self.lock.owner() == me && self.thread.load(Ordering::Relaxed) == thread
    }

    /// Takes the lock for thread `thread` of participant `me`, or enters it again if that
    /// thread holds it. `None` on time-out.
    pub fn lock_until(
        &self,
        me: u64,
        thread: u64,
        deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Option<Acquired> {
        if self.held_by(me, thread) {
            self.count.fetch_add(1, Ordering::Relaxed);
            return Some(Acquired::Clean);
        }
        let got = self.lock.lock_until(me, deadline, strategy, live)?;
        self.thread.store(thread, Ordering::Relaxed);
        self.count.store(1, Ordering::Relaxed);
        Some(got)
    }

    /// Leaves the lock once; releases it when the count reaches zero.
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if that thread of `me` does not hold it.
    pub fn unlock(&self, me: u64, thread: u64) -> Result<(), NotOwner> {
        if !self.held_by(me, thread) {
            return Err(NotOwner);
        }
        let depth = self.count.load(Ordering::Relaxed);
        if depth > 1 {
            self.count.store(depth - 1, Ordering::Relaxed);
            return Ok(());
        }
        self.count.store(0, Ordering::Relaxed);
        self.thread.store(0, Ordering::Relaxed);
        self.lock.unlock(me)
    }

    /// The recursion depth of the current holding (racy unless you hold it).
    pub fn depth(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The underlying lock.
    pub fn raw(&self) -> &RawLock {
        &self.lock
    }
}

/// Why a semaphore release was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A bounded semaphore is at its initial value: more releases than acquires.
    AboveMaximum {
        /// The semaphore's maximum.
        max: u32,
    },
}

impl std::fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AboveMaximum { max } => write!(
                f,
                "released too many times: the semaphore is already at its maximum of {max}; release only what you acquired"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// A counting semaphore.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawSemaphore {
    value: AtomicU32,
    /// The maximum value (set once by the creator).
    max: AtomicU32,
    waiters: EventCount,
}

impl RawSemaphore {
    /// A semaphore holding `value`, releasable up to `max`.
    pub fn new(value: u32, max: u32) -> Self {
        let s = Self::default();
        s.init(value, max);
        s
    }

    /// Sets the value and maximum (for creators of an in-place semaphore).
    pub fn init(&self, value: u32, max: u32) {
        self.max.store(max, Ordering::Relaxed);
        self.value.store(value, Ordering::Release);
    }

    /// The maximum stored by the creator (read it once, when attaching).
    pub fn stored_max(&self) -> u32 {
        self.max.load(Ordering::Relaxed)
    }

    /// Takes one unit if there is one. No system call.
    #[inline]
    pub fn try_acquire(&self) -> bool {
        let mut v = self.value.load(Ordering::Relaxed);
        while v > 0 {
            match self.value.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    /// Takes one unit, waiting until `deadline`. `false` on time-out.
    #[inline]
    pub fn acquire_until(&self, deadline: Deadline, strategy: WaitStrategy) -> bool {
        if self.try_acquire() {
            return true;
        }
        let got = self.waiters.wait_until(strategy, deadline, || self.try_acquire().then_some(())).is_some();
        if !got {
            self.waiters.notify_one();
        }
        got
    }

    /// Gives one unit back, up to `max` (the caller's copy of the maximum), and wakes a
    /// waiter if one sleeps.
    ///
    /// # Errors
    ///
    /// [`ReleaseError::AboveMaximum`] if the value is already `max`.
    #[inline]
    pub fn release(&self, max: u32) -> Result<(), ReleaseError> {
        let mut v = self.value.load(Ordering::Relaxed);
        loop {
            if v >= max {
                return Err(ReleaseError::AboveMaximum { max });
            }
            match self.value.compare_exchange_weak(v, v + 1, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        self.waiters.notify_one();
        Ok(())
    }

    /// The current value (racy).
    #[inline]
    pub fn value(&self) -> u32 {
        self.value.load(Ordering::Relaxed)
    }

    /// The value, the maximum and the number of waiters, for display (racy).
    pub fn snapshot(&self) -> (u32, u32, u32) {
        (self.value(), self.max.load(Ordering::Relaxed), self.waiters.waiters())
    }
}

/// A flag that can be waited for.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawEvent {
    flag: AtomicU32,
    _pad: u32,
    waiters: EventCount,
}

impl RawEvent {
    /// A cleared event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter (no system call if nobody sleeps).
    #[inline]
    pub fn set(&self) {
        self.flag.store(1, Ordering::Release);
        self.waiters.notify_all();
    }

    /// Clears the flag.
    #[inline]
    pub fn clear(&self) {
        self.flag.store(0, Ordering::Release);
    }

    /// Whether the flag is set. No system call.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire) != 0
    }

    /// Whether the flag is set, and the number of waiters, for display (racy).
    pub fn snapshot(&self) -> (bool, u32) {
        (self.is_set(), self.waiters.waiters())
    }

    /// Waits until the flag is set or `deadline`; returns the flag.
    pub fn wait_until(&self, deadline: Deadline, strategy: WaitStrategy) -> bool {
        self.waiters.wait_until(strategy, deadline, || self.is_set().then_some(())).is_some()
    }
}

/// A condition variable used with a [`RawLock`].
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawCondition {
    waiters: EventCount,
}

impl RawCondition {
    /// The number of waiters, for display (racy).
    pub fn waiters(&self) -> u32 {
        self.waiters.waiters()
    }

    /// A condition nobody waits on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Releases `lock` (held by `me`), waits for a notify or `deadline`, and takes the lock
    /// again (displacing a dead owner if need be). Returns whether it was notified (it may
    /// also wake spuriously) and how the lock was taken back.
    ///
    /// # Errors
    ///
    /// [`NotOwner`] if `me` does not hold `lock`; nothing is waited for then.
    pub fn wait_until(
        &self,
        lock: &RawLock,
        me: u64,
        deadline: Deadline,
        strategy: WaitStrategy,
        live: &impl Liveness,
    ) -> Result<(bool, Acquired), NotOwner> {
        // Counted as a waiter before the lock is released: a notify sent by the next
        // holder cannot be missed.
        let key = self.waiters.prepare_wait();
        if let Err(e) = lock.unlock(me) {
            self.waiters.cancel_wait();
            return Err(e);
        }
        let notified = self.waiters.wait(key, deadline);
        let acquired = loop {
            if let Some(a) = lock.lock_until(me, Deadline::never(), strategy, live) {
                break a;
            }
        };
        Ok((notified, acquired))
    }

    /// Wakes up to one waiter (no system call if nobody waits).
    pub fn notify_one(&self) {
        self.waiters.notify_one();
    }

    /// Wakes up to `n` waiters.
    pub fn notify(&self, n: u32) {
        self.waiters.notify(n);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.waiters.notify_all();
    }
}

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

/// A barrier for a fixed number of parties.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RawBarrier {
    state: AtomicU64,
    /// The number of parties (set once by the creator).
    parties: AtomicU32,
    _pad: u32,
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
    pub fn snapshot(&self) -> (u16, u32, bool, u32) {
        let s = self.state.load(Ordering::Relaxed);
        (gen_of(s), (s & COUNT_MASK) as u32, s & BROKEN != 0, self.waiters.waiters())
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
        let result = self.waiters.wait_checked(
            strategy,
            deadline,
            || ended(self.state.load(Ordering::Acquire)),
            || check().then(|| settle(self.break_generation(gen), BarrierError::Broken)),
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
