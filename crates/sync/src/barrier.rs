//! [`Barrier`]: a meeting point for a fixed number of processes.

use std::time::Duration;

use shmkit_core::WaitStrategy;
use shmkit_core::{
    CreateError, CreateOptions, Deadline, Kind, Object, OpenError, OpenOptions, OpenOrCreateError,
};

use crate::named::Handle;
use crate::raw::{BarrierError, RawBarrier};

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
/// death: one that ends without dropping its handle (`kill -9`, `_exit`) breaks it.
///
/// # Examples
///
/// ```
/// use shmkit_sync::Barrier;
///
/// let barrier = Barrier::anonymous(1)?;
/// assert_eq!(barrier.wait(), Ok(0)); // one party: never waits
/// assert_eq!(barrier.parties(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Barrier {
    h: Handle<RawBarrier>,
    /// The number of parties, read once when attaching.
    parties: u32,
}

fn check_parties(parties: u32) -> Result<(), CreateError> {
    if parties == 0 || parties > MAX_PARTIES {
        return Err(CreateError::InvalidSize {
            size: u64::from(parties),
            reason: "a barrier needs between 1 and shmkit_sync::MAX_PARTIES parties",
        });
    }
    Ok(())
}

impl Barrier {
    fn attach(h: Handle<RawBarrier>) -> Result<Self, OpenError> {
        let parties = h.raw().stored_parties();
        if parties == 0 || parties > MAX_PARTIES {
            return Err(OpenError::Corrupt { reason: "barrier party count out of range" });
        }
        Ok(Self { h, parties })
    }

    /// Creates the named barrier `name` for `parties` parties.
    ///
    /// # Errors
    ///
    /// [`CreateError::InvalidSize`] for 0 or more than [`MAX_PARTIES`] parties; otherwise
    /// as [`Object::create`].
    pub fn create(name: &str, parties: u32) -> Result<Self, CreateError> {
        check_parties(parties)?;
        let h = Handle::create(name, Kind::Barrier, &CreateOptions::new(), |r: &RawBarrier| r.init(parties))?;
        Ok(Self { h, parties })
    }

    /// Opens the named barrier `name`.
    ///
    /// # Errors
    ///
    /// As [`Object::open`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::attach(Handle::open(name, Kind::Barrier, &OpenOptions::new())?)
    }

    /// Opens `name`, or creates it for `parties` parties.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str, parties: u32) -> Result<Self, OpenOrCreateError> {
        check_parties(parties)?;
        let h = Handle::open_or_create(name, Kind::Barrier, |r: &RawBarrier| r.init(parties))?;
        Ok(Self::attach(h)?)
    }

    /// Creates an anonymous barrier, shared with children forked afterwards.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn anonymous(parties: u32) -> Result<Self, CreateError> {
        check_parties(parties)?;
        let h = Handle::anonymous(Kind::Barrier, |r: &RawBarrier| r.init(parties))?;
        Ok(Self { h, parties })
    }

    /// Removes the name `name`.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), shmkit_core::UnlinkError> {
        shmkit_core::segment::unlink(name)
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.h.strategy = strategy;
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
        self.h.raw().wait_until(self.parties, deadline, self.h.strategy, || obj.reap_dead() > 0)
    }

    /// The number of parties.
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// How many parties wait now (racy).
    pub fn n_waiting(&self) -> u32 {
        self.h.raw().n_waiting()
    }

    /// Whether the barrier is broken.
    pub fn is_broken(&self) -> bool {
        self.h.raw().is_broken()
    }

    /// Breaks the barrier: waiters and later arrivals get [`BarrierError::Broken`].
    pub fn abort(&self) {
        self.h.raw().abort();
    }

    /// Returns the barrier to its empty, working state; parties waiting now get
    /// [`BarrierError::Broken`].
    pub fn reset(&self) {
        self.h.raw().reset();
    }

    /// The underlying object.
    pub fn object(&self) -> &Object {
        self.h.object()
    }
}
