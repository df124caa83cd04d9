//! [`Barrier`]: a meeting point for a fixed number of processes.

use std::time::Duration;

use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
    UnlinkError, WaitStrategy,
};

use crate::layout::{state, Handle, Single, State};
use crate::raw::{BarrierError, RawBarrier};

const LAYOUT: Single<RawBarrier> = Single::of(Kind::Barrier);

/// The most parties a barrier can have.
pub const MAX_PARTIES: u32 = shmkit_core::header::MAX_SLOTS;

/// A barrier shared between processes: Python's `multiprocessing.Barrier`.
///
/// `wait` returns once `parties` processes (or threads) have called it, each with a
/// different arrival index. If a waiter times out, the barrier is aborted, or reset while
/// parties wait, or a process attached to the barrier dies without detaching, the barrier
/// breaks: every waiter returns [`BarrierError::Broken`] promptly, and so does every later
/// `wait` until [`reset`](Self::reset).
///
/// Every process attached to the barrier counts as one of its parties for the purpose of
/// death: one that used it and ends without dropping its handle (`kill -9`, `_exit`)
/// breaks it. A child forked with an anonymous barrier holds it from the fork: if it dies
/// before it ever used it, the barrier breaks when fewer live processes hold it than it
/// has parties (the round can no longer complete), and not otherwise (the child may have
/// been forked for other work). A child that ends normally (returns from its `Process`
/// closure, or calls `exit`) without using it leaves it cleanly.
///
/// # Examples
///
/// ```
/// use shmkit::Barrier;
///
/// let barrier = Barrier::anonymous(1)?;
/// assert_eq!(barrier.wait(), Ok(0)); // one party: never waits
/// assert_eq!(barrier.parties(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Barrier {
    h: Handle<RawBarrier>,
}

/// A barrier's state holds its party count, read once by an opener and kept.
impl State for RawBarrier {
    const NAME: &'static str = "shmkit_sync::raw::RawBarrier";
    /// The number of parties.
    type Params = u32;
    /// The number of parties.
    type Checked = u32;

    fn validate(&parties: &u32) -> Result<(), CreateError> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(CreateError::InvalidSize {
                size: u64::from(parties),
                reason: "a barrier needs between 1 and shmkit_sync::MAX_PARTIES parties",
            });
        }
        Ok(())
    }

    fn build(&self, parties: u32) {
        self.init(parties);
    }

    fn check(&self) -> Result<u32, OpenError> {
        let parties = self.stored_parties();
        if parties == 0 || parties > MAX_PARTIES {
            return Err(OpenError::Corrupt { reason: "barrier party count out of range" });
        }
        Ok(parties)
    }
}

impl Barrier {
    /// Creates the named barrier `name` for `parties` parties (1 to [`MAX_PARTIES`]). Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, parties: u32) -> Result<Self, CreateError> {
        Self::create_with(name, parties, &CreateOptions::new())
    }

    /// Creates the named barrier `name` with options (file mode, participants).
    pub fn create_with(name: &str, parties: u32, opts: &CreateOptions) -> Result<Self, CreateError> {
        Handle::create_with(LAYOUT, name, parties, opts).map(|h| Self { h })
    }

    /// Opens the named barrier `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named barrier `name` with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(LAYOUT, name, opts).map(|h| Self { h })
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Opens `name`, or creates it as a new barrier for `parties` parties (1 to [`MAX_PARTIES`]).
    pub fn open_or_create(name: &str, parties: u32) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(LAYOUT, name, parties).map(|h| Self { h })
    }

    /// Creates an anonymous barrier for `parties` parties (1 to [`MAX_PARTIES`]), shared with children forked afterwards.
    pub fn anonymous(parties: u32) -> Result<Self, CreateError> {
        Self::anonymous_with(parties, &CreateOptions::new())
    }

    /// Creates an anonymous barrier with options (participants).
    pub fn anonymous_with(parties: u32, opts: &CreateOptions) -> Result<Self, CreateError> {
        let h = Handle::anonymous_with(LAYOUT, parties, opts)?;
        // A child forked with it is a party from the fork: killed before it arrives, it
        // breaks the barrier.
        h.object().watch_children();
        Ok(Self { h })
    }

    /// Removes the name `name`; processes that have the barrier open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RawBarrier>::unlink(name)
    }

    /// A second handle to the same barrier, a participant of its own (one per thread).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.h.try_clone().map(|h| Self { h })
    }

    /// The underlying object (its name, header and participants).
    pub fn object(&self) -> &Object {
        self.h.object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.h.set_wait_strategy(strategy);
    }

    /// Waits until every party has arrived; returns this party's arrival index
    /// (`0..parties`), as Python does.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is or becomes broken.
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.wait_deadline(Deadline::never())
    }

    /// Arrives without waiting: succeeds only if this arrival completes the round;
    /// otherwise it is [`BarrierError::TimedOut`] at once, which breaks the barrier for the
    /// parties already waiting (as a timed-out wait does).
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    pub fn try_wait(&self) -> Result<u32, BarrierError> {
        self.wait_deadline(Deadline::now())
    }

    /// As [`wait`](Self::wait), for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`BarrierError::TimedOut`] if the time runs out (the barrier is then broken for
    /// the others), and as [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.wait_deadline(Deadline::after(timeout))
    }

    /// As [`wait`](Self::wait), until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`wait_timeout`](Self::wait_timeout).
    pub fn wait_deadline(&self, deadline: Deadline) -> Result<u32, BarrierError> {
        let obj = self.h.object();
        // A party that waits is a participant, so its death is seen; in a child forked
        // with an anonymous barrier this is its first use. Without a free slot it still
        // waits: its death then goes unseen, as a process's that never attached.
        let _ = obj.participant();
        let parties = self.h.geometry().checked;
        // A party that used the barrier and died breaks it. A child forked with an
        // anonymous barrier and dead before it used it may have been a party, or a worker
        // forked for something else: it breaks the barrier only if too few live
        // processes hold it for a round to complete.
        let died = || obj.reap_dead() > 0 || (obj.has_dead_heirs() && obj.live_participants() < parties);
        state(&self.h).wait_until(parties, deadline, self.h.wait_strategy(), died)
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.h.geometry().checked
    }

    /// How many parties wait now (racy).
    pub fn n_waiting(&self) -> u32 {
        state(&self.h).n_waiting()
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        state(&self.h).is_broken()
    }

    /// Breaks the barrier: waiters and later arrivals get [`BarrierError::Broken`].
    pub fn abort(&self) {
        state(&self.h).abort();
    }

    /// Returns the barrier to its empty, working state; parties waiting now get
    /// [`BarrierError::Broken`].
    pub fn reset(&self) {
        state(&self.h).reset();
    }
}
