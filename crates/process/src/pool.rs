//! `Pool`: worker processes fed with tasks over shared-memory pipes.
//!
//! Each worker has a duplex shmkit pipe to the parent and a thread in the parent that
//! feeds it: the thread takes the next task (a chunk of items) from the pool's queue,
//! sends it, waits for the reply and hands the results to whoever waits for them (running
//! callbacks, in the parent). A chunk's arguments travel as one encoded `Vec`, and its
//! results as one encoded `Vec` of per-item results. A worker that dies mid-task shows up
//! as the pipe's end (the pipe watches its peer's liveness), so its task fails with
//! [`TaskError::WorkerDied`] and a new worker takes its place: the pool never hangs.
//! How workers start (a fork server under fork) is in `worker.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::process::StartMethod;
use crate::spawn::Call;
use crate::worker::{ForkServer, Worker, DONE, FAILED, RUN};

/// Why a task did not give a result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task's function panicked (the worker lives on); the panic message.
    Panicked(String),
    /// The worker process died while running the task (killed, aborted): its exit code
    /// (minus the signal's number). The worker is replaced.
    WorkerDied(i32),
    /// The pool was terminated before the task finished.
    Terminated,
    /// The pool was closed: it takes no new tasks.
    Closed,
    /// A worker could not be started.
    Start(String),
    /// The argument or the result could not be encoded or decoded (serde).
    Codec(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(m) => write!(f, "the task panicked: {m}"),
            Self::WorkerDied(code) => write!(
                f,
                "the worker process died running the task (exit code {code}); the pool replaced it and runs the other tasks"
            ),
            Self::Terminated => f.write_str("the pool was terminated before the task finished"),
            Self::Closed => f.write_str("the pool is closed: it takes no new tasks (make a new Pool)"),
            Self::Start(e) => write!(f, "a worker process could not be started: {e}"),
            Self::Codec(e) => write!(f, "the task's data could not be encoded or decoded: {e}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// How a pool is made.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub(crate) processes: usize,
    pub(crate) start_method: StartMethod,
    pub(crate) max_tasks_per_child: Option<usize>,
    pub(crate) ring: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            processes: crate::cpu_count(),
            start_method: StartMethod::Fork,
            max_tasks_per_child: None,
            ring: 64 << 10,
        }
    }
}

impl PoolOptions {
    /// Default options: one worker per CPU, fork, workers live as long as the pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of workers (at least 1).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = n.max(1);
        self
    }

    /// How workers are started.
    pub fn start_method(mut self, m: StartMethod) -> Self {
        self.start_method = m;
        self
    }

    /// Replace a worker after it has run this many tasks (chunks).
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n.max(1));
        self
    }

    /// The size of each worker's pipe rings in bytes (larger messages stream through).
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring = bytes;
        self
    }
}

/// Receives the results of a task's items.
trait Sink: Send + Sync {
    /// The results of items `first..first + len` of the submission: the worker's reply
    /// (see [`decode_results`]), or the error they all failed with.
    fn deliver(&self, first: usize, len: usize, reply: Result<&[u8], TaskError>);
}

/// A chunk of items on its way to a worker.
struct Task {
    /// `RUN`, the call, the encoded arguments.
    frame: Vec<u8>,
    first: usize,
    len: usize,
    sink: Arc<dyn Sink>,
}

impl Task {
    fn fail(&self, e: &TaskError) {
        self.sink.deliver(self.first, self.len, Err(e.clone()));
    }
}

/// A task's frame: `RUN`, the call, then `chunk` encoded as a `Vec`.
fn task_frame<T: Serialize>(call: Call, chunk: &[T]) -> Result<Vec<u8>, TaskError> {
    let mut frame = Vec::with_capacity(64);
    frame.push(RUN);
    frame.extend_from_slice(&call.to_bytes());
    let frame = postcard::to_extend(chunk, frame).map_err(|e| TaskError::Codec(e.to_string()))?;
    if frame.len() > shmkit_pipe::DEFAULT_MAX_MESSAGE {
        return Err(TaskError::Codec(format!(
            "a chunk of {} bytes is larger than a pipe message may be (1 GiB): use a smaller chunksize",
            frame.len()
        )));
    }
    Ok(frame)
}

/// The `len` results in a worker's reply: `DONE` and an encoded `Vec<Result<R, String>>`
/// (the `String` a panic's message), or `FAILED` and why the whole chunk failed.
fn decode_results<R: DeserializeOwned>(
    len: usize,
    reply: Result<&[u8], TaskError>,
) -> Vec<Result<R, TaskError>> {
    let all = |e: TaskError| (0..len).map(|_| Err(e.clone())).collect();
    let codec = |why: String| all(TaskError::Codec(why));
    match reply {
        Err(e) => all(e),
        Ok([DONE, results @ ..]) => match postcard::from_bytes::<Vec<Result<R, String>>>(results) {
            Ok(v) if v.len() == len => v.into_iter().map(|r| r.map_err(TaskError::Panicked)).collect(),
            Ok(v) => codec(format!("the worker gave {} results for {len} items", v.len())),
            Err(e) => codec(format!("the task's results do not decode: {e}")),
        },
        Ok([FAILED, why @ ..]) => codec(String::from_utf8_lossy(why).into_owned()),
        Ok(_) => codec("the worker's reply is garbled".into()),
    }
}

#[derive(Default)]
struct State {
    tasks: VecDeque<Task>,
    closed: bool,
    terminated: bool,
    /// Each feeder's current worker pid, for `terminate`.
    pids: Vec<Option<u32>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    opts: PoolOptions,
    /// Forks the workers, under fork.
    server: Option<ForkServer>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pool of worker processes: Python's `multiprocessing.Pool`.
///
/// Tasks are `fn` items whose arguments and results are serde types (encoded with
/// postcard), as Python's are picklable top-level functions.
///
/// ```
/// use shmkit_process::Pool;
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
    /// started.
    pub fn with_options(opts: PoolOptions) -> Result<Self, TaskError> {
        let n = opts.processes;
        let server = match opts.start_method {
            StartMethod::Fork => Some(ForkServer::start()?),
            StartMethod::Spawn => None,
        };
        let state = State { pids: vec![None; n], ..State::default() };
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
        AsyncResult { slot }
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
            return AsyncResult { slot };
        }
        // Python's choice: about four chunks per worker.
        let chunksize = chunksize.unwrap_or_else(|| n.div_ceil(self.processes() * 4));
        let sink: Arc<dyn Sink> =
            Arc::new(All { slot: Arc::clone(&slot), parts: Mutex::new(((0..n).map(|_| None).collect(), n)) });
        if let Err(e) = self.submit(call, items, chunksize, &sink) {
            slot.complete(Err(e));
        }
        AsyncResult { slot }
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
        Imap { rx, total, yielded: 0, next: 0, ordered, buffer: BTreeMap::new(), failed }
    }

    /// Takes no more tasks (Python's `close`); the workers finish what was given.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }

    /// Closes the pool, waits until every task given has finished, and stops the
    /// workers (Python's `join`, which wants `close` first; here `join` closes).
    pub fn join(&mut self) {
        self.close();
        self.join_feeders();
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

/// A feeder thread: starts a worker (telling `ready` how it went), then keeps it busy
/// with the pool's tasks, replacing it when it dies or has run `max_tasks_per_child`.
fn feed(shared: &Shared, slot: usize, ready: mpsc::Sender<Result<(), TaskError>>) {
    let server = shared.server.as_ref();
    let set_pid = |pid| shared.lock().pids[slot] = pid;
    // A worker's pid is published as soon as it exists, so that `terminate` can kill one
    // that is still starting; and withdrawn before the worker is reaped, so that it never
    // kills a pid the system has given to another process since.
    let start = || {
        let mut w = Worker::launch(&shared.opts, server)?;
        set_pid(Some(w.pid()));
        match w.await_ready(server, || shared.lock().terminated) {
            Ok(()) => Ok(w),
            Err(e) => {
                set_pid(None);
                w.end(server, true);
                Err(e)
            }
        }
    };
    let end = |w: Worker, kill: bool| {
        set_pid(None);
        w.end(server, kill)
    };
    let mut worker = match start() {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);
    loop {
        let task = {
            let mut st = shared.lock();
            loop {
                if st.terminated {
                    break None;
                }
                if let Some(t) = st.tasks.pop_front() {
                    break Some(t);
                }
                if st.closed {
                    break None;
                }
                st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(task) = task else { break };
        let w = match worker.take().map_or_else(start, Ok) {
            Ok(w) => worker.insert(w),
            Err(e) => {
                task.fail(&e);
                continue;
            }
        };
        if let Some(reply) = w.run(&task.frame) {
            task.sink.deliver(task.first, task.len, Ok(&reply));
            w.tasks += 1;
            if shared.opts.max_tasks_per_child.is_some_and(|max| w.tasks >= max) {
                if let Some(w) = worker.take() {
                    end(w, false);
                }
            }
        } else {
            let code = worker.take().map_or(-1, |w| end(w, true));
            let e =
                if shared.lock().terminated { TaskError::Terminated } else { TaskError::WorkerDied(code) };
            task.fail(&e);
        }
    }
    if let Some(w) = worker {
        let kill = shared.lock().terminated;
        end(w, kill);
    }
}

/// A result, if it is there, and who to tell (a channel and an index) when it comes.
type SlotState<T> = (Option<Result<T, TaskError>>, Vec<(mpsc::Sender<usize>, usize)>);

/// One item's index in its submission and its result.
type Delivery<R> = (usize, Result<R, TaskError>);

/// Where one result waits, with whoever watches for it.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    done: Condvar,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self { state: Mutex::new((None, Vec::new())), done: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(&self, r: Result<T, TaskError>) {
        let mut st = self.lock();
        st.0 = Some(r);
        for (tx, i) in st.1.drain(..) {
            let _ = tx.send(i);
        }
        drop(st);
        self.done.notify_all();
    }
}

/// The handle of a task given to a pool: Python's `AsyncResult` (and, in the executor,
/// a future).
pub struct AsyncResult<R> {
    slot: Arc<Slot<R>>,
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult").field("ready", &self.ready()).finish()
    }
}

impl<R> AsyncResult<R> {
    /// Whether the result is there.
    pub fn ready(&self) -> bool {
        self.slot.lock().0.is_some()
    }

    /// `None` until ready; then whether the task succeeded.
    pub fn successful(&self) -> Option<bool> {
        self.slot.lock().0.as_ref().map(Result::is_ok)
    }

    /// Waits until the result is there.
    pub fn wait(&self) {
        let mut st = self.slot.lock();
        while st.0.is_none() {
            st = self.slot.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits up to `timeout`; whether the result is there.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let st = self.slot.lock();
        let (st, _) = self
            .slot
            .done
            .wait_timeout_while(st, timeout, |s| s.0.is_none())
            .unwrap_or_else(|e| e.into_inner());
        st.0.is_some()
    }

    /// Waits for the result and takes it.
    ///
    /// # Errors
    ///
    /// The task's [`TaskError`].
    pub fn get(self) -> Result<R, TaskError> {
        self.wait();
        self.slot.lock().0.take().unwrap_or(Err(TaskError::Terminated))
    }

    /// Waits up to `timeout` for the result: `Err(self)` gives the handle back if it is
    /// not there yet.
    ///
    /// # Errors
    ///
    /// The handle, on time-out.
    pub fn get_timeout(self, timeout: Duration) -> Result<Result<R, TaskError>, Self> {
        if self.wait_timeout(timeout) {
            Ok(self.get())
        } else {
            Err(self)
        }
    }

    /// Sends `index` on `tx` when the result is there (at once if it is).
    pub(crate) fn notify(&self, tx: mpsc::Sender<usize>, index: usize) {
        let mut st = self.slot.lock();
        if st.0.is_some() {
            let _ = tx.send(index);
        } else {
            st.1.push((tx, index));
        }
    }
}

type Callbacks<R> = (Box<dyn FnOnce(&R) + Send>, Box<dyn FnOnce(&TaskError) + Send>);

/// The sink of `apply_async`: one result, and its callbacks.
struct One<R> {
    slot: Arc<Slot<R>>,
    callbacks: Mutex<Option<Callbacks<R>>>,
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
type Parts<R> = (Vec<Option<Result<R, TaskError>>>, usize);

/// The sink of `map_async`: every result, then the list.
struct All<R> {
    slot: Arc<Slot<Vec<R>>>,
    parts: Mutex<Parts<R>>,
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
struct Stream<R> {
    tx: mpsc::Sender<Delivery<R>>,
}

impl<R: DeserializeOwned + Send> Sink for Stream<R> {
    fn deliver(&self, first: usize, len: usize, reply: Result<&[u8], TaskError>) {
        for (i, r) in decode_results::<R>(len, reply).into_iter().enumerate() {
            let _ = self.tx.send((first + i, r));
        }
    }
}

/// The results of [`Pool::imap`] or [`Pool::imap_unordered`], as they become ready.
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

impl<R> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.yielded = self.total;
            return Some(Err(e));
        }
        if self.yielded == self.total {
            return None;
        }
        let result = loop {
            if self.ordered {
                if let Some(r) = self.buffer.remove(&self.next) {
                    self.next += 1;
                    break r;
                }
            }
            match self.rx.recv() {
                Ok((_, r)) if !self.ordered => break r,
                Ok((i, r)) => {
                    self.buffer.insert(i, r);
                }
                // Every sender is gone: the pool was dropped with tasks unfinished.
                Err(_) => break Err(TaskError::Terminated),
            }
        };
        self.yielded += 1;
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.yielded;
        (left, Some(left))
    }
}
