//! A pool's workers: how they start, what travels on their pipes, and how they end.
//!
//! Every worker serves one named duplex pipe to the parent; the worker unlinks the name
//! as soon as it has opened it (the parent too, should the worker fail to), so nothing
//! stays in `/dev/shm`. Under fork, workers are forked by a *fork server*: a
//! single-threaded child forked when the pool is made, from the thread that makes it. A
//! worker forked later (replacing one that crashed, or after `max_tasks_per_child`) is
//! then a copy of that quiet process, never of the parent with its other threads, so it
//! cannot inherit a lock another thread held at that moment. Under spawn, the feeder
//! thread starts its worker by exec, which is safe from any thread.
//!
//! Frames (the first byte says which):
//! - parent → worker: `RUN` + a [`Call`] (16 bytes) + the chunk's arguments, an encoded
//!   `Vec<A>`; or `STOP`.
//! - worker → parent: `READY` once, first; then per task `TAKEN` as soon as it has
//!   received the task, before running anything of it, then `DONE` + the encoded
//!   `Vec<Result<R, String>>`, or `FAILED` + why the chunk as a whole failed. A worker
//!   that ends before its `TAKEN` never ran the task (it had died idle, say): the parent
//!   gives the task to its replacement. Only a worker that ends after `TAKEN` fails it.
//! - fork server → parent: `READY` once, first. Parent → fork server: `FORK` + a pipe
//!   name (reply `OK` + the pid as u32); `WAIT` + pid (u32) + kill (u8): has the worker
//!   exited (after SIGKILL if `kill`)? (reply `OK` + the exit code as i32, or `RUNNING`;
//!   the server never waits for a live worker unless it killed it). A request that fails
//!   gets `FAILED` + why.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shmkit_core::CreateError;
use shmkit_pipe::{Connection, PipeOptions};

use crate::bootstrap::panic_text;
use crate::error::TaskError;
use crate::options::PoolOptions;
use crate::process::{Process, StartMethod};
use crate::spawn::Call;

pub(crate) const RUN: u8 = 1;
const STOP: u8 = 2;
const READY: u8 = 3;
pub(crate) const DONE: u8 = 4;
pub(crate) const FAILED: u8 = 5;
const FORK: u8 = 6;
const WAIT: u8 = 7;
const OK: u8 = 8;
const RUNNING: u8 = 9;
const TAKEN: u8 = 10;

/// How long a new worker, or the fork server, may take to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a worker told to stop may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

fn start_err(e: impl Display) -> TaskError {
    TaskError::Start(e.to_string())
}

fn garbled() -> TaskError {
    TaskError::Start("the fork server's reply is garbled".into())
}

/// Waits for `conn`'s first message, which must be `READY`, for up to [`START_TIMEOUT`];
/// every 20 ms, `gone` says whether to give up (the peer died, or we were cancelled).
fn await_ready(conn: &Connection, mut gone: impl FnMut() -> Result<(), TaskError>) -> Result<(), TaskError> {
    let started = Instant::now();
    loop {
        if conn.poll(Duration::from_millis(20)).map_err(start_err)? {
            return match conn.recv_bytes() {
                Ok(m) if m == [READY] => Ok(()),
                _ => Err(start_err("it ended before it was ready")),
            };
        }
        gone()?;
        if started.elapsed() > START_TIMEOUT {
            return Err(start_err(format!("it was not ready within {} s", START_TIMEOUT.as_secs())));
        }
    }
}

/// What became of a task sent to a worker.
pub(crate) enum Sent {
    /// The worker's reply.
    Reply(Vec<u8>),
    /// The worker ended before it took the task: the task never ran there.
    Untaken,
    /// The worker ended after it took the task: it died running it.
    Lost,
}

/// A running worker, as its parent holds it.
enum Handle {
    /// Our own child (started by spawn).
    Own(Process),
    /// A child of the fork server.
    Served,
}

/// A worker process and the parent's end of its pipe.
pub(crate) struct Worker {
    conn: Connection,
    /// The pipe's name, until the worker is ready.
    name: String,
    handle: Handle,
    pid: u32,
    /// The tasks it has run.
    pub tasks: usize,
}

impl Worker {
    /// Starts a worker: forked by `server` if there is one (the fork start method),
    /// spawned otherwise. It is not ready yet: see [`await_ready`](Self::await_ready).
    pub(crate) fn launch(opts: &PoolOptions, server: Option<&ForkServer>) -> Result<Self, TaskError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let pipe_opts = PipeOptions::new().capacity(opts.ring);
        // A name left by a process killed mid-start that had our pid: take the next.
        let mut tries = 0;
        let (name, conn) = loop {
            let name = format!("pool-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            match Connection::create_with(&name, &pipe_opts) {
                Ok(conn) => break (name, conn),
                Err(CreateError::AlreadyExists { .. }) if tries < 16 => tries += 1,
                Err(e) => return Err(start_err(e)),
            }
        };
        // The worker unlinks the name once it has opened it; `await_ready` unlinks it too,
        // for when the worker failed to, and so does a failure here.
        let failed = |e: TaskError| {
            let _ = Connection::unlink(&name);
            e
        };
        let (handle, pid) = match server {
            Some(server) => (Handle::Served, server.fork(&name).map_err(failed)?),
            None => {
                let mut process = Process::call(named_worker, name.clone())
                    .daemon(true)
                    .name("PoolWorker")
                    .start_method(StartMethod::Spawn);
                process.start().map_err(|e| failed(start_err(e)))?;
                let pid = process.pid().ok_or_else(|| failed(start_err("the worker has no pid")))?;
                (Handle::Own(process), pid)
            }
        };
        Ok(Self { conn, name, handle, pid, tasks: 0 })
    }

    /// The worker's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the worker says it is ready, while it lives and `cancelled` is false.
    pub(crate) fn await_ready(
        &mut self,
        server: Option<&ForkServer>,
        cancelled: impl Fn() -> bool,
    ) -> Result<(), TaskError> {
        let (conn, handle, pid) = (&self.conn, &mut self.handle, self.pid);
        let _unlink = Unlink(&self.name);
        await_ready(conn, || {
            if cancelled() {
                return Err(TaskError::Terminated);
            }
            match handle.try_wait(server, pid, false)? {
                Some(code) => Err(start_err(handle.ended_before_ready(code))),
                None => Ok(()),
            }
        })
        .map_err(|e| match e {
            TaskError::Start(why) => TaskError::Start(format!("a pool worker did not start: {why}")),
            e => e,
        })
    }

    /// Sends a task's frame and waits for its reply.
    pub(crate) fn run(&self, frame: &[u8]) -> Sent {
        // A worker that died before it took the frame leaves the send or the wait for
        // `TAKEN` failing (the pipe watches its peer's liveness).
        if self.conn.send_bytes(frame).is_err() {
            return Sent::Untaken;
        }
        match self.conn.recv_bytes() {
            Ok(m) if m == [TAKEN] => {}
            // Not the protocol: the reply decodes as garbled.
            Ok(m) => return Sent::Reply(m),
            Err(_) => return Sent::Untaken,
        }
        self.conn.recv_bytes().map_or(Sent::Lost, Sent::Reply)
    }

    /// Ends the worker: killed at once (`kill`), or asked to stop and killed if it has
    /// not within a grace period. Its exit code.
    pub(crate) fn end(mut self, server: Option<&ForkServer>, kill: bool) -> i32 {
        if !kill {
            let _ = self.conn.send_bytes(&[STOP]);
            let started = Instant::now();
            let mut nap = Duration::from_micros(100);
            while started.elapsed() < STOP_GRACE {
                match self.handle.try_wait(server, self.pid, false) {
                    Ok(Some(code)) => return code,
                    Ok(None) => {}
                    Err(_) => break,
                }
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(10));
            }
        }
        self.handle.try_wait(server, self.pid, true).ok().flatten().unwrap_or(-1)
    }
}

impl Handle {
    /// What happened to a worker that ended with `code` (its exit code, or minus a
    /// signal's number) before it was ready, said as the start method makes it likely.
    fn ended_before_ready(&self, code: i32) -> String {
        if code < 0 {
            return format!(
                "the worker was killed by signal {}{} before it was ready",
                -code,
                signal_name(-code)
            );
        }
        let mut why = format!("the worker exited with code {code} before it was ready");
        if let Handle::Own(process) = self {
            if let Some(message) = process.panic_message() {
                why.push_str(&format!(" (it panicked: {message})"));
            }
            // A spawned worker is this program started again: if `main` does not call
            // `init` first, it runs the program instead of serving the pool.
            why.push_str(
                "; a spawned worker runs this program again: does its `main` call shmkit::init() first thing?",
            );
        }
        why
    }

    /// The exit code if the worker has exited (killing it first if `kill`), `None` if it
    /// still runs. Never waits for a live worker it did not kill.
    fn try_wait(
        &mut self,
        server: Option<&ForkServer>,
        pid: u32,
        kill: bool,
    ) -> Result<Option<i32>, TaskError> {
        match (self, server) {
            (Handle::Own(p), _) => Ok(try_wait(p, kill)),
            (Handle::Served, Some(server)) => server.try_wait(pid, kill),
            (Handle::Served, None) => Err(start_err("a forked worker without its fork server")),
        }
    }
}

/// The name of a common signal, as " (SIGKILL)"; empty for others.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

/// `p`'s exit code if it has exited (after SIGKILL if `kill`), `None` if it still runs.
fn try_wait(p: &mut Process, kill: bool) -> Option<i32> {
    if kill {
        let _ = p.kill();
        return p.join().ok();
    }
    p.try_join().ok().flatten()
}

/// Unlinks a name when dropped.
struct Unlink<'a>(&'a str);

impl Drop for Unlink<'_> {
    fn drop(&mut self) {
        let _ = Connection::unlink(self.0);
    }
}

/// A worker: opens the pipe named `pipe`, unlinks the name, and serves the pipe.
fn named_worker(pipe: String) {
    match Connection::open(&pipe) {
        Ok(conn) => {
            drop(Unlink(&pipe));
            serve_tasks(&conn);
        }
        Err(e) => panic!("the pool's pipe {pipe:?} cannot be opened: {e}"),
    }
}

/// A worker's life: `READY`, then run each task's chunk and reply, until told to stop or
/// the pipe ends.
fn serve_tasks(conn: &Connection) {
    if conn.send_bytes(&[READY]).is_err() {
        return;
    }
    let mut reply = Vec::new();
    while let Ok(msg) = conn.recv_bytes() {
        let Some((&RUN, rest)) = msg.split_first() else { return };
        let Some((call, args)) = Call::from_bytes(rest) else { return };
        // From here on the task is ours: should we die, it fails.
        if conn.send_bytes(&[TAKEN]).is_err() {
            return;
        }
        // Items' panics are caught per item; this catches one in a serde impl.
        let outcome =
            std::panic::catch_unwind(|| call.run(args)).unwrap_or_else(|p| Err(panic_text(p.as_ref())));
        reply.clear();
        match outcome {
            Ok(results) if results.len() < shmkit_pipe::DEFAULT_MAX_MESSAGE => {
                reply.push(DONE);
                reply.extend_from_slice(&results);
            }
            Ok(results) => {
                reply.push(FAILED);
                reply.extend_from_slice(
                    format!(
                        "the chunk's results take {} bytes, more than a pipe message may (1 GiB): use a smaller chunksize",
                        results.len()
                    )
                    .as_bytes(),
                );
            }
            Err(why) => {
                reply.push(FAILED);
                reply.extend_from_slice(why.as_bytes());
            }
        }
        if conn.send_bytes(&reply).is_err() {
            return;
        }
    }
}

/// The fork server: a single-threaded child that forks the pool's workers on request,
/// and reaps them.
pub(crate) struct ForkServer {
    conn: Mutex<Connection>,
    process: Mutex<Process>,
}

impl ForkServer {
    /// Forks the server from the calling thread and waits until it is ready.
    pub(crate) fn start() -> Result<Self, TaskError> {
        let (mine, theirs) =
            shmkit_pipe::Pipe::with_options(&PipeOptions::new().capacity(4096)).map_err(start_err)?;
        // Take our end now, so that the server sees this process's death from the start.
        mine.poll(Duration::ZERO).map_err(start_err)?;
        // Not a daemon: the kernel's parent-death signal follows the *thread* that forked,
        // and a pool may outlive the thread that made it. The server ends instead when
        // its pipe does: when the pool shuts it down, or when this process dies.
        let mut process = Process::new(move || serve_forks(&theirs)).name("PoolForkServer");
        process.start().map_err(start_err)?;
        let server = Self { conn: Mutex::new(mine), process: Mutex::new(process) };
        let ready = await_ready(&server.conn.lock().unwrap_or_else(|e| e.into_inner()), || {
            match server.process.lock().unwrap_or_else(|e| e.into_inner()).exitcode() {
                Some(code) => Err(start_err(format!("it exited with code {code}"))),
                None => Ok(()),
            }
        });
        // On an error, dropping the server kills it.
        ready.map_err(|e| start_err(format!("the pool's fork server did not start: {e}")))?;
        Ok(server)
    }

    fn ask(&self, request: &[u8]) -> Result<Vec<u8>, TaskError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let lost = |e: &dyn Display| start_err(format!("the pool's fork server is gone: {e}"));
        conn.send_bytes(request).map_err(|e| lost(&e))?;
        let reply = conn.recv_bytes().map_err(|e| lost(&e))?;
        match reply.split_first() {
            Some((&FAILED, why)) => Err(start_err(String::from_utf8_lossy(why))),
            _ => Ok(reply),
        }
    }

    /// Forks a worker that serves the pipe named `pipe`; its pid.
    fn fork(&self, pipe: &str) -> Result<u32, TaskError> {
        let request = [&[FORK][..], pipe.as_bytes()].concat();
        match self.ask(&request)?.as_slice() {
            [OK, pid @ ..] => pid.try_into().map(u32::from_le_bytes).map_err(|_| garbled()),
            _ => Err(garbled()),
        }
    }

    /// As [`Handle::try_wait`], for a worker the server forked.
    fn try_wait(&self, pid: u32, kill: bool) -> Result<Option<i32>, TaskError> {
        let request = [&[WAIT][..], &pid.to_le_bytes(), &[u8::from(kill)]].concat();
        match self.ask(&request)?.as_slice() {
            [OK, code @ ..] => code.try_into().map(|c| Some(i32::from_le_bytes(c))).map_err(|_| garbled()),
            [RUNNING] => Ok(None),
            _ => Err(garbled()),
        }
    }

    /// Ends the server (it kills and reaps any worker left) and reaps it. Idempotent.
    pub(crate) fn shutdown(&self) {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).close();
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(process.join_timeout(STOP_GRACE), Ok(Some(_))) {
            try_wait(&mut process, true);
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The fork server's life: `READY`, then one request at a time until the pipe ends; then
/// every worker still there is killed and reaped.
fn serve_forks(conn: &Connection) {
    let mut workers: HashMap<u32, Process> = HashMap::new();
    if conn.send_bytes(&[READY]).is_err() {
        return;
    }
    while let Ok(request) = conn.recv_bytes() {
        let failed = |why: &dyn Display| [&[FAILED][..], why.to_string().as_bytes()].concat();
        let reply = match request.split_first() {
            Some((&FORK, name)) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let mut p = Process::new(move || named_worker(name)).daemon(true).name("PoolWorker");
                match p.start().map(|()| p.pid()) {
                    Ok(Some(pid)) => {
                        workers.insert(pid, p);
                        [&[OK][..], &pid.to_le_bytes()].concat()
                    }
                    Ok(None) => failed(&"the worker has no pid"),
                    Err(e) => failed(&e),
                }
            }
            Some((&WAIT, &[a, b, c, d, kill])) => {
                let pid = u32::from_le_bytes([a, b, c, d]);
                match workers.get_mut(&pid).map(|p| try_wait(p, kill != 0)) {
                    None => failed(&format!("no worker with pid {pid}")),
                    Some(Some(code)) => {
                        workers.remove(&pid);
                        [&[OK][..], &code.to_le_bytes()].concat()
                    }
                    Some(None) => vec![RUNNING],
                }
            }
            _ => failed(&"an unknown request"),
        };
        if conn.send_bytes(&reply).is_err() {
            break;
        }
    }
    for (_, mut p) in workers {
        try_wait(&mut p, true);
    }
}
