//! [`JoinableQueue<T>`]: a [`Queue`] whose items are counted until marked done.

use std::ops::Deref;
use std::time::Duration;

use bytemuck::Pod;
use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{
    CreateError, Deadline, Handle, Kind, Object, OpenError, OpenOptions, OpenOrCreateError, UnlinkError,
    WaitStrategy,
};

use crate::error::{JoinTimeoutError, TaskDoneError};
use crate::options::{QueueOptions, RingLayout};
use crate::queue::{Queue, Table};

/// A [`Queue`] whose items are counted until a consumer marks each done: Python's
/// `multiprocessing.JoinableQueue`. Dereferences to the queue for `put` and `get`.
///
/// # Examples
///
/// ```
/// use shmkit::JoinableQueue;
///
/// let q = JoinableQueue::<u32>::anonymous(8)?;
/// q.put(1)?;
/// q.put(2)?;
/// while let Ok(_job) = q.try_get() {
///     q.task_done()?;
/// }
/// q.join(); // returns at once: every item is done
/// assert!(q.task_done().is_err()); // one call too many
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JoinableQueue<T: Pod> {
    q: Queue<T>,
}

impl<T: Pod> Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.q
    }
}

impl<T: Pod> JoinableQueue<T> {
    /// Creates the named joinable queue `name` holding at least `capacity` items (see [`Queue::create`]). Errors as [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
        Self::create_with(name, capacity, &QueueOptions::new())
    }

    /// Creates the named joinable queue `name` with options (file mode, participants).
    pub fn create_with(name: &str, capacity: usize, opts: &QueueOptions) -> Result<Self, CreateError> {
        Handle::create_with(
            RingLayout::of(Kind::JoinableQueue),
            name,
            opts.shape(capacity),
            opts.get_create(),
        )
        .map(|h| Self { q: Queue::wrap(h) })
    }

    /// Opens the named joinable queue `name`. Errors as [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named joinable queue `name` with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(RingLayout::of(Kind::JoinableQueue), name, opts).map(|h| Self { q: Queue::wrap(h) })
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

    /// Opens `name`, or creates it as a new joinable queue holding at least `capacity` items (see [`Queue::create`]).
    pub fn open_or_create(name: &str, capacity: usize) -> Result<Self, OpenOrCreateError> {
        Handle::open_or_create(RingLayout::of(Kind::JoinableQueue), name, QueueOptions::new().shape(capacity))
            .map(|h| Self { q: Queue::wrap(h) })
    }

    /// Creates an anonymous joinable queue holding at least `capacity` items (see [`Queue::create`]), shared with children forked afterwards.
    pub fn anonymous(capacity: usize) -> Result<Self, CreateError> {
        Self::anonymous_with(capacity, &QueueOptions::new())
    }

    /// Creates an anonymous joinable queue with options (participants).
    pub fn anonymous_with(capacity: usize, opts: &QueueOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(RingLayout::of(Kind::JoinableQueue), opts.shape(capacity), opts.get_create())
            .map(|h| Self { q: Queue::wrap(h) })
    }

    /// Removes the name `name`; processes that have the joinable queue open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<RingLayout<T>>::unlink(name)
    }

    /// A second handle to the same joinable queue, a participant of its own (one per thread).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.q.try_clone().map(|q| Self { q })
    }

    /// The underlying object (its name, header and participants).
    pub fn object(&self) -> &Object {
        self.q.object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.q.set_wait_strategy(strategy);
    }

    /// Marks one item got from the queue as done.
    ///
    /// A consumer killed between getting an item and marking it done leaves it
    /// unfinished, as in Python: `join` then waits for it. Mark it done from another
    /// process (one `task_done` per lost item) once you know it was lost.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError::TooManyCalls`] if every item put is done already.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let misc = &self.q.ring().ctl.misc.0;
        let mut cur = misc.done.load(Ordering::Relaxed);
        loop {
            let started = self.started();
            if cur >= started {
                return Err(TaskDoneError::TooManyCalls);
            }
            match misc.done.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if cur + 1 == started {
                        misc.all_done.notify_all();
                    }
                    return Ok(());
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Items put (or being put), less the holes that dead producers left: every one of
    /// them is unfinished until marked done.
    fn started(&self) -> u64 {
        let ctl = self.q.ring().ctl;
        // Holes are read before the tail: both only grow, and every hole is a claimed
        // position, so the difference is never negative for honest peers.
        let holes = ctl.misc.0.holes.load(Ordering::Acquire);
        ctl.tail.0.load(Ordering::Acquire).saturating_sub(holes)
    }

    /// Items put and not yet marked done (racy), puts in progress included. A producer
    /// killed half-way counts once its hole is skipped (by a consumer, or by `join`).
    pub fn unfinished(&self) -> u64 {
        // `done` first: it only grows, and never passes `started`.
        let done = self.q.ring().ctl.misc.0.done.load(Ordering::Acquire);
        self.started().saturating_sub(done)
    }

    /// Blocks until every item put has been marked done.
    pub fn join(&self) {
        let _ = self.join_deadline(Deadline::never());
    }

    /// Whether every item put has been marked done, without waiting: the non-blocking
    /// form of [`join`](Self::join).
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if items are still unfinished.
    pub fn try_join(&self) -> Result<(), JoinTimeoutError> {
        self.join_deadline(Deadline::now())
    }

    /// [`join`](Self::join), for at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if items were still unfinished.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), JoinTimeoutError> {
        self.join_deadline(Deadline::after(timeout))
    }

    /// [`join`](Self::join), until `deadline`.
    ///
    /// # Errors
    ///
    /// [`JoinTimeoutError::Timeout`] if items were still unfinished.
    pub fn join_deadline(&self, deadline: Deadline) -> Result<(), JoinTimeoutError> {
        let ring = self.q.ring();
        let table = Table(self.q.handle().object());
        ring.ctl
            .misc
            .0
            .all_done
            .wait_checked(
                self.q.handle().wait_strategy(),
                deadline,
                || (self.unfinished() == 0).then_some(()),
                // A dead producer's hole at the head is skipped here too, so a join with
                // no consumer left still sees it end.
                || match self.q.me() {
                    Ok(me) if ring.repair_get(me, &table) => (self.unfinished() == 0).then_some(()),
                    _ => None,
                },
            )
            .ok_or(JoinTimeoutError::Timeout)
    }
}
