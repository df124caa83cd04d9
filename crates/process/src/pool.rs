//! `Pool`: worker processes fed with tasks over shared-memory pipes.
//!
//! Each worker has a duplex [`Connection`] to the parent and a thread in the parent that
//! feeds it: the thread takes the next task from the pool's queue, sends it, waits for the
//! reply and hands the results to whoever waits for them (running callbacks, in the
//! parent). A worker that dies mid-task shows up as the pipe's end (the pipe watches its
//! peer's liveness), so its task fails with [`TaskError::WorkerDied`] and a new worker
//! takes its place: the pool never hangs.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shmkit_pipe::{Connection, Pipe, PipeOptions};

use crate::process::{panic_text, Process, StartMethod};
use crate::spawn::Call;

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
    processes: usize,
    start_method: StartMethod,
    max_tasks_per_child: Option<usize>,
    ring: usize,
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

/// Parent → worker.
#[derive(Serialize, Deserialize)]
enum Request {
    Run { call: Call, items: Vec<Vec<u8>> },
    Stop,
}

/// [`Request::Run`] as the parent sends it, borrowing the task (the same encoding).
#[derive(Serialize)]
enum RequestRef<'a> {
    Run { call: &'a Call, items: &'a [Vec<u8>] },
}

/// Worker → parent: one result per item.
#[derive(Serialize, Deserialize)]
struct Reply {
    results: Vec<Result<Vec<u8>, String>>,
}

/// Receives the results of a task's items (index in the submission, result bytes).
trait Sink: Send + Sync {
    fn deliver(&self, index: usize, result: Result<Vec<u8>, TaskError>);

    /// The results of items `first..`, in order.
    fn deliver_all(&self, first: usize, results: Vec<Result<Vec<u8>, TaskError>>) {
        for (i, r) in results.into_iter().enumerate() {
            self.deliver(first + i, r);
        }
    }
}

struct Task {
    call: Call,
    items: Vec<Vec<u8>>,
    first: usize,
    sink: Arc<dyn Sink>,
}

impl Task {
    fn fail(&self, e: &TaskError) {
        for i in 0..self.items.len() {
            self.sink.deliver(self.first + i, Err(e.clone()));
        }
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

    /// A pool made with `opts` (`PoolOptions::new()` gives one worker per CPU).
    ///
    /// The workers start here, in the calling thread. Under fork, a worker that replaces
    /// one that crashed or reached `max_tasks_per_child` is forked later from the pool's
    /// feeder thread: if another thread of this program holds a lock the tasks need at
    /// that moment (standard output while it prints, say), the new worker can block on
    /// it, as in Python's fork-based pools. Programs with such threads and crashing or
    /// recycled workers should use [`StartMethod::Spawn`].
    ///
    /// # Errors
    ///
    /// [`TaskError::Start`] if a worker or a feeder thread cannot be started.
    pub fn with_options(opts: PoolOptions) -> Result<Self, TaskError> {
        let n = opts.processes;
        // The workers are started here, from the caller's thread, before the pool has
        // threads of its own: a fork made now copies no lock a feeder thread holds.
        let workers = (0..n).map(|_| Worker::start(&opts)).collect::<Result<Vec<_>, _>>()?;
        let pids = workers.iter().map(|w| w.process.pid()).collect();
        let state = State { pids, ..State::default() };
        let shared = Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new(), opts });
        let feeders = workers
            .into_iter()
            .enumerate()
            .map(|(slot, worker)| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("shmkit-pool-{slot}"))
                    .spawn(move || feed(&shared, slot, Some(worker)))
                    .map_err(|e| TaskError::Start(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { shared, feeders })
    }

    /// The number of workers.
    pub fn processes(&self) -> usize {
        self.shared.opts.processes
    }

    fn submit(
        &self,
        call: Call,
        items: Vec<Vec<u8>>,
        chunksize: usize,
        sink: Arc<dyn Sink>,
    ) -> Result<(), TaskError> {
        let mut st = self.shared.lock();
        if st.closed || st.terminated {
            return Err(TaskError::Closed);
        }
        let chunksize = chunksize.max(1);
        let mut first = 0;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<Vec<u8>> = items.by_ref().take(chunksize).collect();
            let len = chunk.len();
            st.tasks.push_back(Task { call: call.clone(), items: chunk, first, sink: Arc::clone(&sink) });
            first += len;
        }
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
        let sink = Arc::new(One {
            slot: Arc::clone(&slot),
            callbacks: Mutex::new(Some((Box::new(callback), Box::new(error_callback)))),
        });
        let submitted = encode(&arg).and_then(|a| self.submit(Call::new(f), vec![a], 1, sink.clone()));
        if let Err(e) = submitted {
            sink.deliver(0, Err(e));
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
        self.map_call(Call::new(f), items.into_iter().map(|a| encode(&a)).collect(), chunksize)
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
        self.map_call(Call::new2(f), items.into_iter().map(|p| encode(&p)).collect(), None).get()
    }

    fn map_call<R>(
        &self,
        call: Call,
        encoded: Result<Vec<Vec<u8>>, TaskError>,
        chunksize: Option<usize>,
    ) -> AsyncResult<Vec<R>>
    where
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let slot = Arc::new(Slot::new());
        let items = match encoded {
            Ok(items) => items,
            Err(e) => {
                slot.complete(Err(e));
                return AsyncResult { slot };
            }
        };
        let n = items.len();
        if n == 0 {
            slot.complete(Ok(Vec::new()));
            return AsyncResult { slot };
        }
        // Python's choice: about four chunks per worker.
        let chunksize = chunksize.unwrap_or_else(|| n.div_ceil(self.processes() * 4));
        let sink =
            Arc::new(All { slot: Arc::clone(&slot), parts: Mutex::new(((0..n).map(|_| None).collect(), n)) });
        if let Err(e) = self.submit(call, items, chunksize, sink) {
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
        let sink = Arc::new(Stream { tx });
        let encoded: Result<Vec<Vec<u8>>, TaskError> = items.into_iter().map(|a| encode(&a)).collect();
        let (total, failed) = match encoded.and_then(|items| {
            let n = items.len();
            self.submit(Call::new(f), items, chunksize, sink).map(|()| n)
        }) {
            Ok(n) => (n, None),
            Err(e) => (1, Some(e)),
        };
        Imap {
            rx,
            total,
            yielded: 0,
            next: 0,
            ordered,
            buffer: BTreeMap::new(),
            failed,
            _r: std::marker::PhantomData,
        }
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
        for f in self.feeders.drain(..) {
            let _ = f.join();
        }
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
        for f in self.feeders.drain(..) {
            let _ = f.join();
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

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, TaskError> {
    postcard::to_allocvec(v).map_err(|e| TaskError::Codec(e.to_string()))
}

fn decode<R: DeserializeOwned>(bytes: &[u8]) -> Result<R, TaskError> {
    postcard::from_bytes(bytes).map_err(|e| TaskError::Codec(e.to_string()))
}

/// A worker process and the parent's end of its pipe.
struct Worker {
    process: Process,
    conn: Connection,
    /// Its pipe's name, under spawn (removed when the worker ends).
    name: Option<String>,
    tasks: usize,
}

impl Worker {
    fn start(opts: &PoolOptions) -> Result<Self, TaskError> {
        let start_err = |e: &dyn fmt::Display| TaskError::Start(e.to_string());
        let pipe_opts = PipeOptions::new().capacity(opts.ring);
        match opts.start_method {
            StartMethod::Fork => {
                let (mine, theirs) = Pipe::with_options(&pipe_opts).map_err(|e| start_err(&e))?;
                let mut process = Process::new(move || worker_loop(&theirs)).daemon(true).name("PoolWorker");
                process.start().map_err(|e| start_err(&e))?;
                Ok(Self { process, conn: mine, name: None, tasks: 0 })
            }
            StartMethod::Spawn => {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("pool-{}-{n}", std::process::id());
                let conn = Connection::create(&name, &pipe_opts).map_err(|e| start_err(&e))?;
                let mut process = Process::call(spawned_worker, name.clone())
                    .daemon(true)
                    .name("PoolWorker")
                    .start_method(StartMethod::Spawn);
                if let Err(e) = process.start() {
                    let _ = Connection::unlink(&name);
                    return Err(start_err(&e));
                }
                Ok(Self { process, conn, name: Some(name), tasks: 0 })
            }
        }
    }

    /// Asks the worker to stop and reaps it (killing it if it does not stop soon).
    fn stop(mut self) {
        if let Ok(stop) = postcard::to_allocvec(&Request::Stop) {
            let _ = self.conn.send_bytes(&stop);
        }
        if !matches!(self.process.join_timeout(Duration::from_secs(5)), Ok(Some(_))) {
            let _ = self.process.kill();
            let _ = self.process.join();
        }
        self.forget_name();
    }

    fn forget_name(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = Connection::unlink(&name);
        }
    }
}

/// A worker started by spawn: opens the pipe named `pipe` and serves it.
fn spawned_worker(pipe: String) {
    match Connection::open(&pipe, &Default::default()) {
        Ok(conn) => worker_loop(&conn),
        Err(e) => panic!("the pool's pipe {pipe:?} cannot be opened: {e}"),
    }
}

/// A worker's life: run each task's items, reply, until told to stop or the pipe ends.
fn worker_loop(conn: &Connection) {
    while let Ok(msg) = conn.recv_bytes() {
        let Ok(Request::Run { call, items }) = postcard::from_bytes::<Request>(&msg) else { return };
        let results = items
            .iter()
            .map(|item| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call.run(item)))
                    .unwrap_or_else(|p| Err(panic_text(p.as_ref())))
            })
            .collect();
        let Ok(reply) = postcard::to_allocvec(&Reply { results }) else { return };
        if conn.send_bytes(&reply).is_err() {
            return;
        }
    }
}

/// A feeder thread: keeps one worker busy with the pool's tasks.
fn feed(shared: &Shared, slot: usize, mut worker: Option<Worker>) {
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
        if worker.is_none() {
            match Worker::start(&shared.opts) {
                Ok(w) => {
                    shared.lock().pids[slot] = w.process.pid();
                    worker = Some(w);
                }
                Err(e) => {
                    task.fail(&e);
                    continue;
                }
            }
        }
        let Some(w) = worker.as_mut() else { continue };
        match run_on(w, &task) {
            Ok(results) => {
                task.sink.deliver_all(
                    task.first,
                    results.into_iter().map(|r| r.map_err(TaskError::Panicked)).collect(),
                );
                w.tasks += 1;
                if shared.opts.max_tasks_per_child.is_some_and(|max| w.tasks >= max) {
                    if let Some(w) = worker.take() {
                        w.stop();
                    }
                    shared.lock().pids[slot] = None;
                }
            }
            Err(()) => {
                let mut dead = worker.take().expect("a worker ran the task");
                let _ = dead.process.kill();
                let code = dead.process.join().unwrap_or(-1);
                dead.forget_name();
                shared.lock().pids[slot] = None;
                let e = if shared.lock().terminated {
                    TaskError::Terminated
                } else {
                    TaskError::WorkerDied(code)
                };
                task.fail(&e);
            }
        }
    }
    if let Some(w) = worker {
        if shared.lock().terminated {
            let mut w = w;
            let _ = w.process.kill();
            let _ = w.process.join();
            w.forget_name();
        } else {
            w.stop();
        }
    }
    shared.lock().pids[slot] = None;
}

/// Sends `task` to `w` and waits for its results; `Err` if the worker died.
fn run_on(w: &Worker, task: &Task) -> Result<Vec<Result<Vec<u8>, String>>, ()> {
    let req =
        postcard::to_allocvec(&RequestRef::Run { call: &task.call, items: &task.items }).map_err(|_| ())?;
    w.conn.send_bytes(&req).map_err(|_| ())?;
    let reply = w.conn.recv_bytes().map_err(|_| ())?;
    let reply: Reply = postcard::from_bytes(&reply).map_err(|_| ())?;
    if reply.results.len() == task.items.len() {
        Ok(reply.results)
    } else {
        Err(())
    }
}

/// A result, if it is there, and who to tell (a channel and an index) when it comes.
type SlotState<T> = (Option<Result<T, TaskError>>, Vec<(mpsc::Sender<usize>, usize)>);

/// One item's index in its submission and its result bytes.
type Delivery = (usize, Result<Vec<u8>, TaskError>);

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
    fn deliver(&self, _index: usize, result: Result<Vec<u8>, TaskError>) {
        let result = result.and_then(|b| decode::<R>(&b));
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
    /// The results so far, and how many are still missing.
    parts: Mutex<Parts<R>>,
}

impl<R: DeserializeOwned + Send> Sink for All<R> {
    fn deliver(&self, index: usize, result: Result<Vec<u8>, TaskError>) {
        self.deliver_all(index, vec![result]);
    }

    fn deliver_all(&self, first: usize, results: Vec<Result<Vec<u8>, TaskError>>) {
        let decoded: Vec<Result<R, TaskError>> =
            results.into_iter().map(|r| r.and_then(|b| decode::<R>(&b))).collect();
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
struct Stream {
    tx: mpsc::Sender<Delivery>,
}

impl Sink for Stream {
    fn deliver(&self, index: usize, result: Result<Vec<u8>, TaskError>) {
        let _ = self.tx.send((index, result));
    }
}

/// The results of [`Pool::imap`] or [`Pool::imap_unordered`], as they become ready.
pub struct Imap<R> {
    rx: mpsc::Receiver<Delivery>,
    total: usize,
    yielded: usize,
    next: usize,
    ordered: bool,
    buffer: BTreeMap<usize, Result<Vec<u8>, TaskError>>,
    failed: Option<TaskError>,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for Imap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap").field("total", &self.total).field("yielded", &self.yielded).finish()
    }
}

impl<R: DeserializeOwned> Iterator for Imap<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.yielded = self.total;
            return Some(Err(e));
        }
        if self.yielded == self.total {
            return None;
        }
        let bytes = loop {
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
        Some(bytes.and_then(|b| decode(&b)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.yielded;
        (left, Some(left))
    }
}
