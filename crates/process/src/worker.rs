//! A pool's workers: how they start, what travels on their pipes, and how they end.
//!
//! Every worker serves one named duplex pipe to the parent, which is unlinked as soon as
//! the worker has opened it (so nothing stays in `/dev/shm`, even if the parent is
//! killed). Under fork, workers are forked by a *fork server*: a single-threaded child
//! forked when the pool is made, from the thread that makes it. A worker forked later
//! (replacing one that crashed, or after `max_tasks_per_child`) is then a copy of that
//! quiet process, never of the parent with its other threads, so it cannot inherit a lock
//! another thread held at that moment. Under spawn, the feeder thread starts its worker
//! by exec, which is safe from any thread.
//!
//! Frames (the first byte says which):
//! - parent → worker: `RUN` + a [`Call`] (16 bytes) + the chunk's arguments, an encoded
//!   `Vec<A>`; or `STOP`.
//! - worker → parent: `READY` once, first; then per task `DONE` + the encoded
//!   `Vec<Result<R, String>>`, or `FAILED` + why the chunk as a whole failed (its
//!   arguments did not decode, its results did not encode).
//! - parent → fork server: `FORK` + a pipe name (reply `OK` + the pid as u32); `WAIT` +
//!   pid (u32) + grace in ms (u32) + kill-after-grace (u8) (reply `OK` + the exit code
//!   as i32, or `RUNNING`). Replies to a request that fails are `FAILED` + why.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shmkit_pipe::{Connection, PipeOptions, RecvError};

use crate::pool::{PoolOptions, TaskError};
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

/// How long a new worker may take to open its pipe and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a worker told to stop may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why a new worker did not become ready.
enum Lost {
    /// The pipe ended: the worker died (or was killed). It is still to be reaped.
    Ended,
    /// The worker ended, with this exit code (already reaped).
    Exited(i32),
    /// Something else.
    Failed(TaskError),
}

/// A running worker, as its parent holds it.
enum Handle {
    /// Our own child (started by spawn).
    Own(Process),
    /// A child of the fork server.
    Served(u32),
}

/// A worker process and the parent's end of its pipe.
pub(crate) struct Worker {
    conn: Connection,
    handle: Handle,
    pid: u32,
    /// The tasks it has run.
    pub tasks: usize,
}

impl Worker {
    /// Starts a worker (forked by `server` under fork, spawned otherwise) and waits until
    /// it is ready to serve.
    pub(crate) fn start(opts: &PoolOptions, server: Option<&ForkServer>) -> Result<Self, TaskError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let start_err = |e: &dyn std::fmt::Display| TaskError::Start(e.to_string());
        let name = format!("pool-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let conn =
            Connection::create(&name, &PipeOptions::new().capacity(opts.ring)).map_err(|e| start_err(&e))?;
        // The name is needed only until the worker has opened it.
        let _unlink = Unlink(&name);
        let handle = match (opts.start_method, server) {
            (StartMethod::Fork, Some(server)) => Handle::Served(server.fork(&name)?),
            _ => {
                let mut process = Process::call(named_worker, name.clone())
                    .daemon(true)
                    .name("PoolWorker")
                    .start_method(StartMethod::Spawn);
                process.start().map_err(|e| start_err(&e))?;
                Handle::Own(process)
            }
        };
        let pid = match &handle {
            Handle::Own(p) => p.pid().unwrap_or(0),
            Handle::Served(pid) => *pid,
        };
        let mut worker = Self { conn, handle, pid, tasks: 0 };
        match worker.await_ready(server) {
            Ok(()) => Ok(worker),
            Err(lost) => {
                let e = match lost {
                    Lost::Exited(code) => TaskError::Start(format!(
                        "the worker exited with code {code} before it was ready (under spawn, does `main` call `shmkit::init()` first?)"
                    )),
                    Lost::Ended => TaskError::Start("the worker ended before it was ready".into()),
                    Lost::Failed(e) => e,
                };
                let _ = worker.end(server, true);
                Err(e)
            }
        }
    }

    /// The worker's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the worker's `READY`, watching that it still lives.
    fn await_ready(&mut self, server: Option<&ForkServer>) -> Result<(), Lost> {
        let started = Instant::now();
        loop {
            match self.conn.poll(Duration::from_millis(20)) {
                Ok(true) => {
                    return match self.conn.recv_bytes() {
                        Ok(m) if m == [READY] => Ok(()),
                        _ => Err(Lost::Ended),
                    };
                }
                Ok(false) => {}
                Err(e) => return Err(Lost::Failed(TaskError::Start(e.to_string()))),
            }
            if let Some(code) = self.wait(server, Duration::ZERO, false).map_err(Lost::Failed)? {
                return Err(Lost::Exited(code));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Lost::Failed(TaskError::Start(format!(
                    "the worker was not ready within {} s",
                    START_TIMEOUT.as_secs()
                ))));
            }
        }
    }

    /// Sends a task's frame and waits for its reply. `Err(None)` if the pipe ended (the
    /// worker died or was killed); `Err(Some(e))` if the task fails with `e` and the
    /// worker must go.
    pub(crate) fn run(&self, frame: &[u8]) -> Result<Vec<u8>, Option<TaskError>> {
        self.conn.send_bytes(frame).map_err(|_| None)?;
        self.conn.recv_bytes().map_err(|e| match e {
            RecvError::TooLarge { .. } => Some(TaskError::Codec(
                "the task's results are larger than a pipe message may be (1 GiB): use a smaller chunksize"
                    .into(),
            )),
            _ => None,
        })
    }

    /// Waits up to `grace` for the worker to exit, then kills it if `kill`: its exit code,
    /// or `None` if it still runs.
    fn wait(
        &mut self,
        server: Option<&ForkServer>,
        grace: Duration,
        kill: bool,
    ) -> Result<Option<i32>, TaskError> {
        match (&mut self.handle, server) {
            (Handle::Served(pid), Some(server)) => server.wait(*pid, grace, kill),
            (Handle::Own(p), _) => Ok(wait_for(p, grace, kill)),
            (Handle::Served(_), None) => {
                Err(TaskError::Start("a forked worker without its fork server".into()))
            }
        }
    }

    /// Ends the worker: killed at once (`kill`), or asked to stop and killed if it does
    /// not within a grace period. Its exit code.
    pub(crate) fn end(mut self, server: Option<&ForkServer>, kill: bool) -> i32 {
        let grace = if kill {
            Duration::ZERO
        } else {
            let _ = self.conn.send_bytes(&[STOP]);
            STOP_GRACE
        };
        self.wait(server, grace, true).ok().flatten().unwrap_or(-1)
    }
}

/// Waits up to `grace` for `p` to exit, then kills it if `kill`: its exit code, or `None`
/// if it still runs.
fn wait_for(p: &mut Process, grace: Duration, kill: bool) -> Option<i32> {
    match p.join_timeout(grace) {
        Ok(Some(code)) => Some(code),
        _ if kill => {
            let _ = p.kill();
            p.join().ok()
        }
        _ => None,
    }
}

/// Unlinks a name when dropped.
struct Unlink<'a>(&'a str);

impl Drop for Unlink<'_> {
    fn drop(&mut self) {
        let _ = Connection::unlink(self.0);
    }
}

/// A worker: opens the pipe named `pipe` and serves it.
fn named_worker(pipe: String) {
    match Connection::open(&pipe, &Default::default()) {
        Ok(conn) => serve_tasks(&conn),
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
        reply.clear();
        match call.run(args) {
            Ok(results) => {
                reply.push(DONE);
                reply.extend_from_slice(&results);
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
    /// Forks the server from the calling thread.
    pub(crate) fn start() -> Result<Self, TaskError> {
        let start_err = |e: &dyn std::fmt::Display| TaskError::Start(e.to_string());
        let (mine, theirs) =
            shmkit_pipe::Pipe::with_options(&PipeOptions::new().capacity(4096)).map_err(|e| start_err(&e))?;
        // Not a daemon: the kernel's parent-death signal follows the *thread* that forked,
        // and a pool may outlive the thread that made it. The server ends instead when
        // its pipe does: when the pool shuts it down, or when this process dies.
        let mut process = Process::new(move || serve_forks(&theirs)).name("PoolForkServer");
        process.start().map_err(|e| start_err(&e))?;
        Ok(Self { conn: Mutex::new(mine), process: Mutex::new(process) })
    }

    fn ask(&self, request: &[u8]) -> Result<Vec<u8>, TaskError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let lost =
            |e: &dyn std::fmt::Display| TaskError::Start(format!("the pool's fork server is gone: {e}"));
        conn.send_bytes(request).map_err(|e| lost(&e))?;
        let reply = conn.recv_bytes().map_err(|e| lost(&e))?;
        match reply.split_first() {
            Some((&FAILED, why)) => Err(TaskError::Start(String::from_utf8_lossy(why).into_owned())),
            _ => Ok(reply),
        }
    }

    /// Forks a worker that serves the pipe named `pipe`; its pid.
    fn fork(&self, pipe: &str) -> Result<u32, TaskError> {
        let mut request = vec![FORK];
        request.extend_from_slice(pipe.as_bytes());
        match self.ask(&request)?.as_slice() {
            [OK, pid @ ..] => pid
                .try_into()
                .map(u32::from_le_bytes)
                .map_err(|_| TaskError::Start("the fork server's reply is garbled".into())),
            _ => Err(TaskError::Start("the fork server's reply is garbled".into())),
        }
    }

    /// As [`Worker::wait`], for a worker the server forked.
    fn wait(&self, pid: u32, grace: Duration, kill: bool) -> Result<Option<i32>, TaskError> {
        let mut request = vec![WAIT];
        request.extend_from_slice(&pid.to_le_bytes());
        let ms = u32::try_from(grace.as_millis()).unwrap_or(u32::MAX);
        request.extend_from_slice(&ms.to_le_bytes());
        request.push(u8::from(kill));
        match self.ask(&request)?.as_slice() {
            [OK, code @ ..] => code
                .try_into()
                .map(|c| Some(i32::from_le_bytes(c)))
                .map_err(|_| TaskError::Start("the fork server's reply is garbled".into())),
            [RUNNING] => Ok(None),
            _ => Err(TaskError::Start("the fork server's reply is garbled".into())),
        }
    }

    /// Ends the server (it kills and reaps any worker left) and reaps it. Idempotent.
    pub(crate) fn shutdown(&self) {
        self.conn.lock().unwrap_or_else(|e| e.into_inner()).close();
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(process.join_timeout(STOP_GRACE), Ok(Some(_))) {
            let _ = process.kill();
            let _ = process.join();
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The fork server's life: one request at a time, until the pipe ends; then every
/// worker still there is killed and reaped.
fn serve_forks(conn: &Connection) {
    let mut workers: HashMap<u32, Process> = HashMap::new();
    while let Ok(request) = conn.recv_bytes() {
        let reply = match request.split_first() {
            Some((&FORK, name)) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let mut p = Process::new(move || named_worker(name)).daemon(true).name("PoolWorker");
                match (p.start(), p.pid()) {
                    (Ok(()), Some(pid)) => {
                        workers.insert(pid, p);
                        [&[OK][..], &pid.to_le_bytes()].concat()
                    }
                    (Err(e), _) => [&[FAILED][..], e.to_string().as_bytes()].concat(),
                    (Ok(()), None) => vec![FAILED],
                }
            }
            Some((&WAIT, args)) if args.len() == 9 => {
                let pid = u32::from_le_bytes([args[0], args[1], args[2], args[3]]);
                let grace = Duration::from_millis(u64::from(u32::from_le_bytes([
                    args[4], args[5], args[6], args[7],
                ])));
                let kill = args[8] != 0;
                match workers.get_mut(&pid) {
                    None => [&[FAILED][..], format!("no worker with pid {pid}").as_bytes()].concat(),
                    Some(p) => match wait_for(p, grace, kill) {
                        Some(code) => {
                            workers.remove(&pid);
                            [&[OK][..], &code.to_le_bytes()].concat()
                        }
                        None => vec![RUNNING],
                    },
                }
            }
            _ => vec![FAILED],
        };
        if conn.send_bytes(&reply).is_err() {
            break;
        }
    }
    for (_, mut p) in workers {
        let _ = p.kill();
        let _ = p.join();
    }
}
