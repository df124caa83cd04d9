//! Where a pool's results wait: [`AsyncResult`] (one task, or a whole `map`) and
//! [`Imap`] (a stream), with the sinks that fill them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::de::DeserializeOwned;
use shmkit_core::Deadline;

use crate::error::{NextTimeoutError, TaskError};
use crate::task::{decode_results, Sink};

/// A result, if it is there, and who to tell when it comes.
struct SlotState<T> {
    result: Option<Result<T, TaskError>>,
    /// A channel and the index to send on it, for each watcher (`as_completed`).
    watchers: Vec<(mpsc::Sender<usize>, usize)>,
}

/// One item's index in its submission and its result.
pub(crate) type Delivery<R> = (usize, Result<R, TaskError>);

/// Where one result waits, with whoever watches for it.
pub(crate) struct Slot<T> {
    state: Mutex<SlotState<T>>,
    done: Condvar,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Self {
        Self { state: Mutex::new(SlotState { result: None, watchers: Vec::new() }), done: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts the result in, and tells whoever waits or watches.
    pub(crate) fn complete(&self, r: Result<T, TaskError>) {
        let mut st = self.lock();
        st.result = Some(r);
        for (tx, i) in st.watchers.drain(..) {
            let _ = tx.send(i);
        }
        drop(st);
        self.done.notify_all();
    }

    /// Waits until the result is there or `deadline` has passed; whether it is there.
    fn wait_deadline(&self, deadline: Deadline) -> bool {
        let mut st = self.lock();
        while st.result.is_none() {
            st = match deadline.remaining() {
                None => self.done.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(left) if left.is_zero() => return false,
                // Woken early (spuriously, or by another result's notify): the loop
                // waits again for what is left of the same deadline.
                Some(left) => self.done.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0,
            };
        }
        true
    }
}

/// The handle of a task given to a pool: Python's `AsyncResult` (and, in the executor,
/// a future).
///
/// Waiting comes in the four forms of every blocking call in shmkit: [`wait`],
/// [`try_wait`], [`wait_timeout`], [`wait_deadline`] (the result stays in the handle),
/// and [`get`], [`try_get`], [`get_timeout`], [`get_deadline`] (the result is moved out;
/// the timed forms give the handle back when it is not there yet).
///
/// [`wait`]: Self::wait
/// [`try_wait`]: Self::try_wait
/// [`wait_timeout`]: Self::wait_timeout
/// [`wait_deadline`]: Self::wait_deadline
/// [`get`]: Self::get
/// [`try_get`]: Self::try_get
/// [`get_timeout`]: Self::get_timeout
/// [`get_deadline`]: Self::get_deadline
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::{CreateOptions, Event, Pool};
///
/// // Waits until the parent sets the event named `go`.
/// fn square_when_told((x, go): (u64, String)) -> u64 {
///     Event::open(&go).expect("the parent's event").wait();
///     x * x
/// }
///
/// let go = format!("example-go-{}", std::process::id());
/// let event = Event::create_with(&go, &CreateOptions::new().unlink_on_drop(true))?;
/// let pool = Pool::new(1)?;
/// let pending = pool.apply_async(square_when_told, (7, go));
/// // Not there yet: the handle comes back.
/// let pending = pending.try_get().unwrap_err();
/// assert!(!pending.ready());
/// event.set();
/// assert_eq!(pending.get_timeout(Duration::from_secs(20)).unwrap()?, 49);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncResult<R> {
    pub(crate) slot: Arc<Slot<R>>,
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult").field("ready", &self.ready()).finish()
    }
}

impl<R> AsyncResult<R> {
    /// A handle whose result comes through `slot`.
    pub(crate) fn new(slot: Arc<Slot<R>>) -> Self {
        Self { slot }
    }

    /// Whether the result is there (Python's `ready()`).
    pub fn ready(&self) -> bool {
        self.slot.lock().result.is_some()
    }

    /// `None` until ready; then whether the task succeeded (Python's `successful()`,
    /// which raises until ready).
    pub fn successful(&self) -> Option<bool> {
        self.slot.lock().result.as_ref().map(Result::is_ok)
    }

    /// Waits until the result is there (Python's `wait()`).
    pub fn wait(&self) {
        self.slot.wait_deadline(Deadline::never());
    }

    /// Whether the result is there, without waiting: the same as [`ready`](Self::ready).
    pub fn try_wait(&self) -> bool {
        self.ready()
    }

    /// Waits up to `timeout`; whether the result is there (Python's `wait(timeout)`,
    /// then `ready()`). Returns `false` only once `timeout` has passed.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_deadline(Deadline::after(timeout))
    }

    /// Waits until `deadline`; whether the result is there. Returns `false` only once
    /// the deadline has passed.
    pub fn wait_deadline(&self, deadline: Deadline) -> bool {
        self.slot.wait_deadline(deadline)
    }

    /// Waits for the result and takes it (Python's `get()`).
    ///
    /// # Errors
    ///
    /// The task's [`TaskError`].
    pub fn get(self) -> Result<R, TaskError> {
        self.wait();
        self.take()
    }

    /// Takes the result if it is there, without waiting: `Err(self)` gives the handle
    /// back if it is not.
    ///
    /// # Errors
    ///
    /// The handle, if the result is not there yet. The task's own error is inside `Ok`.
    pub fn try_get(self) -> Result<Result<R, TaskError>, Self> {
        self.get_deadline(Deadline::now())
    }

    /// Waits up to `timeout` for the result (Python's `get(timeout)`): `Err(self)` gives
    /// the handle back if it is not there yet, and only once `timeout` has passed.
    ///
    /// # Errors
    ///
    /// The handle, on time-out. The task's own error is inside `Ok`.
    pub fn get_timeout(self, timeout: Duration) -> Result<Result<R, TaskError>, Self> {
        self.get_deadline(Deadline::after(timeout))
    }

    /// Waits until `deadline` for the result: `Err(self)` gives the handle back if it is
    /// not there yet, and only once the deadline has passed.
    ///
    /// # Errors
    ///
    /// The handle, on time-out. The task's own error is inside `Ok`.
    pub fn get_deadline(self, deadline: Deadline) -> Result<Result<R, TaskError>, Self> {
        if self.wait_deadline(deadline) {
            Ok(self.take())
        } else {
            Err(self)
        }
    }

    /// The result, which is there.
    fn take(&self) -> Result<R, TaskError> {
        // Only a `get` form takes it, and each consumes the handle: it is there once.
        self.slot.lock().result.take().unwrap_or(Err(TaskError::Terminated))
    }

    /// Sends `index` on `tx` when the result is there (at once if it is).
    pub(crate) fn notify(&self, tx: mpsc::Sender<usize>, index: usize) {
        let mut st = self.slot.lock();
        if st.result.is_some() {
            let _ = tx.send(index);
        } else {
            st.watchers.push((tx, index));
        }
    }
}

pub(crate) type Callbacks<R> = (Box<dyn FnOnce(&R) + Send>, Box<dyn FnOnce(&TaskError) + Send>);

/// The sink of `apply_async`: one result, and its callbacks.
pub(crate) struct One<R> {
    pub slot: Arc<Slot<R>>,
    pub callbacks: Mutex<Option<Callbacks<R>>>,
}

impl<R: DeserializeOwned + Send> Sink for One<R> {
    fn deliver(&self, _first: usize, _len: usize, reply: Result<&[u8], TaskError>) {
        let result = decode_results::<R>(1, reply).pop().unwrap_or(Err(TaskError::Terminated));
        if let Some((ok, err)) = self.callbacks.lock().unwrap_or_else(|e| e.into_inner()).take() {
            match &result {
                Ok(r) => ok(r),
                Err(e) => err(e),
            }
        }
        self.slot.complete(result);
    }
}

/// The results of a `map` so far, and how many are still missing.
pub(crate) type Parts<R> = (Vec<Option<Result<R, TaskError>>>, usize);

/// The sink of `map_async`: every result, then the list.
pub(crate) struct All<R> {
    pub slot: Arc<Slot<Vec<R>>>,
    pub parts: Mutex<Parts<R>>,
}

impl<R: DeserializeOwned + Send> Sink for All<R> {
    fn deliver(&self, first: usize, len: usize, reply: Result<&[u8], TaskError>) {
        let decoded = decode_results::<R>(len, reply);
        let mut parts = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        let (list, missing) = &mut *parts;
        for (i, r) in decoded.into_iter().enumerate() {
            if let Some(p) = list.get_mut(first + i).filter(|p| p.is_none()) {
                *p = Some(r);
                *missing -= 1;
            }
        }
        if *missing == 0 && !list.is_empty() {
            let all: Result<Vec<R>, TaskError> = list.drain(..).flatten().collect();
            drop(parts);
            self.slot.complete(all);
        }
    }
}

/// The sink of `imap`: each result as it comes.
pub(crate) struct Stream<R> {
    pub tx: mpsc::Sender<Delivery<R>>,
}

impl<R: DeserializeOwned + Send> Sink for Stream<R> {
    fn deliver(&self, first: usize, len: usize, reply: Result<&[u8], TaskError>) {
        for (i, r) in decode_results::<R>(len, reply).into_iter().enumerate() {
            let _ = self.tx.send((first + i, r));
        }
    }
}

/// The results of [`Pool::imap`] or [`Pool::imap_unordered`], as they become ready
/// (Python's `IMapIterator`).
///
/// Iterating waits for each result without limit; [`try_next`](Self::try_next),
/// [`next_timeout`](Self::next_timeout) and [`next_deadline`](Self::next_deadline) wait
/// less (Python's `next(timeout)`).
///
/// [`Pool::imap`]: crate::Pool::imap
/// [`Pool::imap_unordered`]: crate::Pool::imap_unordered
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::Pool;
///
/// fn double(x: u64) -> u64 {
///     2 * x
/// }
///
/// let pool = Pool::new(2)?;
/// let mut results = pool.imap(double, [1, 2]);
/// assert_eq!(results.next_timeout(Duration::from_secs(20)), Ok(Some(Ok(2))));
/// assert_eq!(results.next(), Some(Ok(4)));
/// assert_eq!(results.try_next(), Ok(None), "no more");
/// # Ok::<(), shmkit::TaskError>(())
/// ```
pub struct Imap<R> {
    rx: mpsc::Receiver<Delivery<R>>,
    total: usize,
    yielded: usize,
    next: usize,
    ordered: bool,
    buffer: BTreeMap<usize, Result<R, TaskError>>,
    failed: Option<TaskError>,
}

impl<R> fmt::Debug for Imap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap").field("total", &self.total).field("yielded", &self.yielded).finish()
    }
}

impl<R> Imap<R> {
    /// The results of `total` items arriving on `rx` (in the items' order if `ordered`);
    /// or, with `failed`, only that error: the submission failed as a whole.
    pub(crate) fn new(
        rx: mpsc::Receiver<Delivery<R>>,
        total: usize,
        ordered: bool,
        failed: Option<TaskError>,
    ) -> Self {
        let total = if failed.is_some() { 1 } else { total };
        Self { rx, total, yielded: 0, next: 0, ordered, buffer: BTreeMap::new(), failed }
    }

    /// The next result if it is ready, without waiting. `Ok(None)`: there are no more.
    ///
    /// # Errors
    ///
    /// [`NextTimeoutError`] if the next result is not ready.
    pub fn try_next(&mut self) -> Result<Option<Result<R, TaskError>>, NextTimeoutError> {
        self.next_deadline(Deadline::now())
    }

    /// Waits up to `timeout` for the next result (Python's `next(timeout)`). `Ok(None)`:
    /// there are no more.
    ///
    /// # Errors
    ///
    /// [`NextTimeoutError`] if the next result is not ready once `timeout` has passed
    /// (never before); a later call may still give it.
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<Result<R, TaskError>>, NextTimeoutError> {
        self.next_deadline(Deadline::after(timeout))
    }

    /// Waits until `deadline` for the next result. `Ok(None)`: there are no more.
    ///
    /// # Errors
    ///
    /// [`NextTimeoutError`] if the next result is not ready once the deadline has passed
    /// (never before); a later call may still give it.
    pub fn next_deadline(
        &mut self,
        deadline: Deadline,
    ) -> Result<Option<Result<R, TaskError>>, NextTimeoutError> {
        if let Some(e) = self.failed.take() {
            self.yielded = self.total;
            return Ok(Some(Err(e)));
        }
        if self.yielded == self.total {
            return Ok(None);
        }
        let result = loop {
            if self.ordered {
                if let Some(r) = self.buffer.remove(&self.next) {
                    self.next += 1;
                    break r;
                }
            }
            let received = match deadline.remaining() {
                None => self.rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(left) => self.rx.recv_timeout(left),
            };
            match received {
                Ok((_, r)) if !self.ordered => break r,
                Ok((i, r)) => {
                    self.buffer.insert(i, r);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(NextTimeoutError),
                // Every sender is gone: the pool was dropped with tasks unfinished.
                Err(mpsc::RecvTimeoutError::Disconnected) => break Err(TaskError::Terminated),
            }
        };
        self.yielded += 1;
        Ok(Some(result))
    }
}

impl<R> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Without a deadline there is no time-out.
        self.next_deadline(Deadline::never()).unwrap_or(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.yielded;
        (left, Some(left))
    }
}
