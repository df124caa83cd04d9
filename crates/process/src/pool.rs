//! `Pool`: worker processes fed with tasks over shared-memory pipes.
//!
//! Each worker has a duplex shmkit pipe to the parent and a thread in the parent that
//! feeds it: the thread takes the next task (a chunk of items) from the pool's queue,
//! sends it, waits for the reply and hands the results to whoever waits for them (running
//! callbacks, in the parent). A chunk's arguments travel as one encoded `Vec`, and its
//! results as one encoded `Vec` of per-item results. A worker that dies mid-task shows up
//! as the pipe's end (the pipe watches its peer's liveness), so its task fails with
//! [`TaskError::WorkerDied`] and a new worker takes its place: the pool never hangs. A
//! worker found dead when a task is sent to it (killed while idle) had not taken the task,
//! which goes to its replacement instead of failing.
//! How workers start (a fork server under fork) is in `worker.rs`.

use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::Deadline;

use crate::error::TaskError;
use crate::feeder::{feed, Shared, State};
use crate::options::PoolOptions;
use crate::process::StartMethod;
use crate::results::{All, AsyncResult, Imap, One, Slot, Stream};
use crate::spawn::Call;
use crate::task::{task_frame, Sink, Task};
use crate::worker::ForkServer;

/// A pool of worker processes: Python's `multiprocessing.Pool`.
///
/// Tasks are `fn` items whose arguments and results are serde types (encoded with
/// postcard), as Python's are picklable top-level functions.
///
/// ```
/// use shmkit::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let pool = Pool::new(2)?;
/// assert_eq!(pool.map(square, 1..=5)?, [1, 4, 9, 16, 25]);
/// assert_eq!(pool.apply(square, 12)?, 144);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    feeders: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("processes", &self.shared.opts.processes).finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool of `processes` workers (Python's `Pool(n)`), started with fork.
    ///
    /// # Errors
    ///
    /// As [`with_options`](Self::with_options).
    pub fn new(processes: usize) -> Result<Self, TaskError> {
        Self::with_options(PoolOptions::new().processes(processes))
    }

    /// A pool made with `opts` (`PoolOptions::new()` gives one worker per CPU). Returns
    /// once every worker is ready.
    ///
    /// Under fork, the workers are forked by a single-threaded *fork server*, itself
    /// forked here from the calling thread: every worker, including one that later
    /// replaces a worker that crashed or reached `max_tasks_per_child`, is a copy of this
    /// program as it was at this call, never of a moment when another thread held a lock
    /// (standard output while it prints, say). So make the pool before starting threads
    /// that hold locks the tasks need. Under spawn, workers are fresh programs.
    ///
    /// # Errors
    ///
    /// [`TaskError::Start`] if the fork server, a worker or a feeder thread cannot be
    /// started, or in a spawned child whose `main` did not call [`init`](crate::init)
    /// first (whatever the start method).
    pub fn with_options(opts: PoolOptions) -> Result<Self, TaskError> {
        if !crate::spawn::may_start() {
            return Err(TaskError::Start(crate::spawn::FORGOT_INIT.into()));
        }
        let n = opts.processes;
        let server = match opts.start_method {
            StartMethod::Fork => Some(ForkServer::start()?),
            StartMethod::Spawn => None,
        };
        let state = State { pids: vec![None; n], feeding: n, ..State::default() };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new(), opts, server });
        let mut pool = Self { shared, feeders: Vec::with_capacity(n) };
        let (ready_tx, ready) = mpsc::channel();
        for slot in 0..n {
            let (shared, ready_tx) = (Arc::clone(&pool.shared), ready_tx.clone());
            let feeder = std::thread::Builder::new()
                .name(format!("shmkit-pool-{slot}"))
                .spawn(move || feed(&shared, slot, ready_tx))
                .map_err(|e| TaskError::Start(e.to_string()))?;
            pool.feeders.push(feeder);
        }
        drop(ready_tx);
        // Each feeder starts its worker (so that a daemon worker's parent-death signal
        // follows a thread that lives as long as the pool) and says how it went. On an
        // error, dropping the pool stops the others.
        for _ in 0..n {
            ready.recv().unwrap_or_else(|_| Err(TaskError::Start("a feeder thread ended".into())))?;
        }
        Ok(pool)
    }

    /// The number of workers.
    pub fn processes(&self) -> usize {
        self.shared.opts.processes
    }

    /// Queues `items` in chunks of `chunksize`; their results go to `sink`. Nothing is
    /// queued if a chunk cannot be encoded.
    fn submit<T: Serialize>(
        &self,
        call: Call,
        items: &[T],
        chunksize: usize,
        sink: &Arc<dyn Sink>,
    ) -> Result<(), TaskError> {
        let chunksize = chunksize.max(1);
        let tasks = items
            .chunks(chunksize)
            .enumerate()
            .map(|(i, chunk)| {
                let frame = task_frame(call, chunk)?;
                Ok(Task { frame, first: i * chunksize, len: chunk.len(), sink: Arc::clone(sink) })
            })
            .collect::<Result<Vec<_>, TaskError>>()?;
        let mut st = self.shared.lock();
        if st.closed || st.terminated {
            return Err(TaskError::Closed);
        }
        st.tasks.extend(tasks);
        drop(st);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Runs `f(arg)` in a worker and waits for the result (Python's `apply`).
    ///
    /// # Errors
    ///
    /// As [`AsyncResult::get`].
    pub fn apply<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<R, TaskError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, arg).get()
    }

    /// Starts `f(arg)` in a worker; the handle gives the result (Python's `apply_async`).
    pub fn apply_async<A, R>(&self, f: fn(A) -> R, arg: A) -> AsyncResult<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.apply_async_with(f, arg, |_| {}, |_| {})
    }

    /// As [`apply_async`](Self::apply_async), with a `callback` run in this (the
    /// parent) process with the result, or an `error_callback` with the error.
    pub fn apply_async_with<A, R>(
        &self,
        f: fn(A) -> R,
        arg: A,
        callback: impl FnOnce(&R) + Send + 'static,
        error_callback: impl FnOnce(&TaskError) + Send + 'static,
    ) -> AsyncResult<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let slot = Arc::new(Slot::new());
        let sink: Arc<dyn Sink> = Arc::new(One {
            slot: Arc::clone(&slot),
            callbacks: Mutex::new(Some((Box::new(callback), Box::new(error_callback)))),
        });
        if let Err(e) = self.submit(Call::each(f), &[arg], 1, &sink) {
            sink.deliver(0, 1, Err(e));
        }
        AsyncResult::new(slot)
    }

    /// `f` applied to every item, in order (Python's `map`); the chunk size is chosen as
    /// Python does (about four chunks per worker).
    ///
    /// # Errors
    ///
    /// The first item's error, if any failed.
    pub fn map<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Result<Vec<R>, TaskError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(f, items, None).get()
    }

    /// As [`map`](Self::map) with `chunksize` items sent to a worker at a time.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn map_chunked<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
    ) -> Result<Vec<R>, TaskError>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_async(f, items, Some(chunksize)).get()
    }

    /// Starts `map`; the handle gives the whole list (Python's `map_async`).
    pub fn map_async<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> AsyncResult<Vec<R>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_call(Call::each(f), &items.into_iter().collect::<Vec<_>>(), chunksize)
    }

    /// `f(a, b)` for every pair, in order (Python's `starmap`).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    pub fn starmap<A, B, R>(
        &self,
        f: fn(A, B) -> R,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<R>, TaskError>
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_call(Call::each2(f), &items.into_iter().collect::<Vec<_>>(), None).get()
    }

    fn map_call<T, R>(&self, call: Call, items: &[T], chunksize: Option<usize>) -> AsyncResult<Vec<R>>
    where
        T: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let slot = Arc::new(Slot::new());
        let n = items.len();
        if n == 0 {
            slot.complete(Ok(Vec::new()));
            return AsyncResult::new(slot);
        }
        // Python's choice: about four chunks per worker.
        let chunksize = chunksize.unwrap_or_else(|| n.div_ceil(self.processes() * 4));
        let sink: Arc<dyn Sink> =
            Arc::new(All { slot: Arc::clone(&slot), parts: Mutex::new(((0..n).map(|_| None).collect(), n)) });
        if let Err(e) = self.submit(call, items, chunksize, &sink) {
            slot.complete(Err(e));
        }
        AsyncResult::new(slot)
    }

    /// `f` applied to every item, the results yielded in the items' order as they
    /// become ready (Python's `imap`).
    pub fn imap<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Imap<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.imap_chunked(f, items, 1, true)
    }

    /// `f` applied to every item, the results yielded as they complete (Python's
    /// `imap_unordered`).
    pub fn imap_unordered<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Imap<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.imap_chunked(f, items, 1, false)
    }

    /// `imap` (`ordered`) or `imap_unordered` with `chunksize` items per task.
    pub fn imap_chunked<A, R>(
        &self,
        f: fn(A) -> R,
        items: impl IntoIterator<Item = A>,
        chunksize: usize,
        ordered: bool,
    ) -> Imap<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let sink: Arc<dyn Sink> = Arc::new(Stream { tx });
        let items: Vec<A> = items.into_iter().collect();
        let (total, failed) = match self.submit(Call::each(f), &items, chunksize, &sink) {
            Ok(()) => (items.len(), None),
            Err(e) => (1, Some(e)),
        };
        Imap::new(rx, total, ordered, failed)
    }

    /// Takes no more tasks (Python's `close`); the workers finish what was given.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }

    /// Closes the pool, waits until every task given has finished, and stops the
    /// workers (Python's `join`, which wants `close` first; here `join` closes).
    pub fn join(&mut self) {
        // Without a deadline, the wait ends only when the pool has finished.
        self.join_deadline(Deadline::never());
    }

    /// Closes the pool and, if every task given has finished and the workers have
    /// stopped, finishes the join; never waits. Whether the pool has finished.
    pub fn try_join(&mut self) -> bool {
        self.join_deadline(Deadline::now())
    }

    /// As [`join`](Self::join), waiting up to `timeout`; whether the pool has finished.
    /// `false` (only once `timeout` has passed) leaves the pool closed, its tasks
    /// running: join again, or drop it to terminate them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::Pool;
    ///
    /// fn nap(ms: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// let mut pool = Pool::new(1)?;
    /// let pending = pool.apply_async(nap, 300);
    /// assert!(!pool.join_timeout(Duration::from_millis(10)), "the task is still running");
    /// assert!(pool.join_timeout(Duration::from_secs(20)));
    /// assert_eq!(pending.get()?, 300);
    /// # Ok::<(), shmkit::TaskError>(())
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> bool {
        self.join_deadline(Deadline::after(timeout))
    }

    /// As [`join`](Self::join), waiting until `deadline`; whether the pool has finished.
    /// `false` (only once the deadline has passed) leaves the pool closed, its tasks
    /// running.
    pub fn join_deadline(&mut self, deadline: Deadline) -> bool {
        self.close();
        let mut st = self.shared.lock();
        while st.feeding > 0 {
            st = match deadline.remaining() {
                None => self.shared.changed.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(left) if left.is_zero() => return false,
                Some(left) => self.shared.changed.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0,
            };
        }
        drop(st);
        // Every feeder has ended its worker and is returning: this does not block.
        self.join_feeders();
        true
    }

    /// Stops at once: every worker is killed, unfinished tasks fail with
    /// [`TaskError::Terminated`] (Python's `terminate`). Returns when no worker is left.
    pub fn terminate(&mut self) {
        let (pids, dropped) = {
            let mut st = self.shared.lock();
            st.terminated = true;
            st.closed = true;
            (st.pids.clone(), st.tasks.drain(..).collect::<Vec<_>>())
        };
        self.shared.changed.notify_all();
        // Outside the lock: callbacks may run.
        for t in dropped {
            t.fail(&TaskError::Terminated);
        }
        for pid in pids.into_iter().flatten() {
            let _ = shmkit_core::child::send_signal(pid, shmkit_core::child::SIGKILL);
        }
        self.join_feeders();
    }

    /// Waits for the feeders (each ends its worker), then ends the fork server.
    fn join_feeders(&mut self) {
        for f in self.feeders.drain(..) {
            let _ = f.join();
        }
        if let Some(server) = &self.shared.server {
            server.shutdown();
        }
    }
}

impl Drop for Pool {
    /// Terminates the pool, as Python's does when it is collected: call
    /// [`join`](Pool::join) first to let the tasks finish.
    fn drop(&mut self) {
        if !self.feeders.is_empty() {
            self.terminate();
        }
    }
}
