//! `Process`: start a function in a child process, join it, signal it.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::child::{self, Exit, SIGKILL, SIGTERM};
use shmkit_core::Segment;

use crate::spawn::{Call, Orders, ENV};

/// How a child process is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// `fork()`: the child is a copy of this process and runs the target at once; every
    /// object, anonymous ones included, is inherited. Fast. Safe while this process has
    /// one thread; with other threads running, a lock one of them held at the fork stays
    /// locked in the child (as in Python), so prefer [`Spawn`](Self::Spawn) there.
    #[default]
    Fork,
    /// This program is started again and [`init`](crate::init) runs the target in it:
    /// a clean process, safe whatever threads this one has. Only `fn` targets
    /// ([`Process::call`]) with serde arguments; shared objects are passed by name and
    /// opened again in the child.
    Spawn,
}

/// What went wrong with a process.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// `start` was called twice.
    AlreadyStarted,
    /// `join`, `terminate` or `kill` before `start`.
    NotStarted,
    /// The spawn start method needs a `fn` target: [`Process::call`].
    SpawnNeedsFn,
    /// The system refused (fork, exec, wait, kill, or the report segment).
    Os(std::io::Error),
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyStarted => f.write_str("the process was already started: make a new Process to run it again"),
            Self::NotStarted => f.write_str("the process has not been started: call start() first"),
            Self::SpawnNeedsFn => f.write_str(
                "the spawn start method runs a `fn` with serde arguments: build the process with Process::call",
            ),
            Self::Os(e) => write!(f, "the system refused: {e}"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ProcessError {
    fn from(e: std::io::Error) -> Self {
        Self::Os(e)
    }
}

/// The Rust form of subclassing `multiprocessing.Process`: a value whose `run` is the
/// child's work.
///
/// ```no_run
/// use shmkit_process::{Process, Run};
///
/// struct Sleeper(u64);
///
/// impl Run for Sleeper {
///     fn run(self) {
///         std::thread::sleep(std::time::Duration::from_millis(self.0));
///     }
/// }
///
/// let mut p = Process::from_run(Sleeper(10));
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), shmkit_process::ProcessError>(())
/// ```
pub trait Run: Send + 'static {
    /// The child's work.
    fn run(self);
}

enum Target {
    Closure(Box<dyn FnOnce() + Send + 'static>),
    Call { call: Call, arg: Vec<u8>, local: Box<dyn FnOnce() + Send + 'static> },
    Started,
}

/// Bytes for a child's panic message, shared with it.
const REPORT_SIZE: usize = 4096;

/// A small anonymous segment in which a child leaves its panic message: a u32 length
/// (stored last, with Release), then the bytes.
pub(crate) struct Report(Segment);

impl Report {
    fn new() -> Result<Self, ProcessError> {
        Segment::anonymous(REPORT_SIZE as u64)
            .map(Self)
            .map_err(|e| ProcessError::Os(std::io::Error::other(e.to_string())))
    }

    /// The report segment whose descriptor a spawned child inherited.
    pub(crate) fn inherited(fd: i32) -> Option<Self> {
        if fd < 0 {
            return None;
        }
        // SAFETY: the parent passed this descriptor number for us to own (it cleared
        // CLOEXEC on its report segment for this exec, and nothing else here uses it).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Segment::from_fd(fd).ok().map(Self)
    }

    fn len_word(&self) -> &AtomicU32 {
        // SAFETY: the mapping is REPORT_SIZE bytes, page-aligned, alive while `self` is;
        // offset 0 holds an atomic that any process may write.
        unsafe { &*self.0.as_ptr().cast::<AtomicU32>() }
    }

    fn write(&self, message: &str) {
        let bytes = &message.as_bytes()[..message.len().min(REPORT_SIZE - 4)];
        // SAFETY: 4 + bytes.len() <= REPORT_SIZE; only this child writes the bytes, and
        // the parent reads them only after it has reaped the child.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0.as_ptr().add(4), bytes.len()) };
        self.len_word().store(bytes.len() as u32, Ordering::Release);
    }

    fn read(&self) -> Option<String> {
        let len = (self.len_word().load(Ordering::Acquire) as usize).min(REPORT_SIZE - 4);
        if len == 0 {
            return None;
        }
        let mut out = vec![0u8; len];
        // SAFETY: in bounds (clamped above); the child that wrote them has exited.
        unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr().add(4), out.as_mut_ptr(), len) };
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

/// This process's identity, as [`current_process`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentProcess {
    /// `MainProcess`, or the name the parent gave.
    pub name: String,
    /// Our pid.
    pub pid: u32,
    /// Whether we are a daemon child.
    pub daemon: bool,
}

static CURRENT: Mutex<Option<(String, bool)>> = Mutex::new(None);

/// Who this process is: Python's `multiprocessing.current_process()`.
pub fn current_process() -> CurrentProcess {
    let (name, daemon) = CURRENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| ("MainProcess".to_owned(), false));
    CurrentProcess { name, pid: std::process::id(), daemon }
}

/// The parent's pid: Python's `os.getppid()`.
pub fn parent_pid() -> u32 {
    child::parent_pid()
}

/// The number of CPUs this process may use: Python's `os.cpu_count()` (affinity-aware).
pub fn cpu_count() -> usize {
    child::cpu_count()
}

/// In a new child: take its identity, arrange to die with the parent if a daemon, run
/// `work`, and return the exit status (101 with the panic message reported if it panics).
pub(crate) fn run_child(
    name: &str,
    daemon: bool,
    parent: u32,
    report: Option<&Report>,
    work: impl FnOnce(),
) -> i32 {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some((name.to_owned(), daemon));
    if daemon && child::die_with_parent(SIGKILL, parent).is_err() {
        return 3;
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(()) => 0,
        Err(payload) => {
            if let Some(r) = report {
                r.write(&panic_text(payload.as_ref()));
            }
            101
        }
    }
}

/// A panic's message.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned())
}

/// Counts processes for default names: `Process-1`, `Process-2`, ...
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A child process: Python's `multiprocessing.Process`.
///
/// Build it with a target ([`new`](Self::new) for a closure, [`call`](Self::call) for a
/// `fn` with serde arguments, [`from_run`](Self::from_run) for a [`Run`] value), name it,
/// make it a daemon, choose the [`StartMethod`], then [`start`](Self::start) and
/// [`join`](Self::join).
///
/// A child that panics exits with status 101 and its panic message reaches the parent
/// ([`panic_message`](Self::panic_message)). A daemon child dies with its parent (the
/// kernel sends it SIGKILL: strictly, when the thread that started it ends). Dropping a
/// handle does not stop the child; a background thread reaps it when it ends, so no
/// zombie is left behind.
///
/// ```
/// use shmkit_process::Process;
///
/// let mut p = Process::new(|| println!("hello from a child")).name("greeter");
/// assert_eq!(p.pid(), None);
/// p.start()?;
/// assert!(p.pid().is_some());
/// assert_eq!(p.join()?, 0);
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok::<(), shmkit_process::ProcessError>(())
/// ```
pub struct Process {
    name: String,
    daemon: bool,
    method: StartMethod,
    target: Target,
    pid: Option<u32>,
    exit: Mutex<Option<Exit>>,
    report: Option<Report>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("daemon", &self.daemon)
            .field("method", &self.method)
            .field("exitcode", &self.exitcode())
            .finish()
    }
}

impl Process {
    fn with_target(target: Target) -> Self {
        Self {
            name: format!("Process-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            daemon: false,
            method: StartMethod::Fork,
            target,
            pid: None,
            exit: Mutex::new(None),
            report: None,
        }
    }

    /// A process that runs `target` (fork start method only).
    pub fn new(target: impl FnOnce() + Send + 'static) -> Self {
        Self::with_target(Target::Closure(Box::new(target)))
    }

    /// A process that runs `target(args)`: Python's `Process(target=f, args=(...))`.
    /// Works under both start methods (under spawn, `args` are encoded with postcard).
    pub fn call<A>(target: fn(A), args: A) -> Self
    where
        A: Serialize + DeserializeOwned + Send + 'static,
    {
        let arg = postcard::to_allocvec(&args).unwrap_or_default();
        Self::with_target(Target::Call {
            call: Call::once(target),
            arg,
            local: Box::new(move || target(args)),
        })
    }

    /// A process that runs `work.run()` (fork start method only).
    pub fn from_run(work: impl Run) -> Self {
        Self::new(move || work.run())
    }

    /// Sets the name (default `Process-N`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Makes the child a daemon: it dies with its parent.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// Chooses how the child is started (default: fork).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.method = method;
        self
    }

    /// Starts the child.
    ///
    /// # Errors
    ///
    /// [`ProcessError::AlreadyStarted`]; [`ProcessError::SpawnNeedsFn`] for a closure
    /// under spawn; [`ProcessError::Os`] if the system cannot start it.
    pub fn start(&mut self) -> Result<(), ProcessError> {
        if matches!(self.target, Target::Started) {
            return Err(ProcessError::AlreadyStarted);
        }
        if self.method == StartMethod::Spawn && !matches!(self.target, Target::Call { .. }) {
            return Err(ProcessError::SpawnNeedsFn);
        }
        let report = Report::new()?;
        let (name, daemon, parent) = (self.name.clone(), self.daemon, std::process::id());
        let pid = match std::mem::replace(&mut self.target, Target::Started) {
            Target::Closure(work) | Target::Call { local: work, .. } if self.method == StartMethod::Fork => {
                // SAFETY: the child runs the target and exits. With other threads in this
                // process a lock they held stays locked in the child: documented on
                // `StartMethod::Fork`, as in Python; a deadlock, never memory unsafety.
                unsafe { child::fork(|| run_child(&name, daemon, parent, Some(&report), work)) }?
            }
            Target::Call { call, arg, .. } => {
                let orders = Orders {
                    canary: crate::spawn::canary(),
                    call,
                    arg,
                    name,
                    daemon,
                    parent,
                    report_fd: report.0.as_fd().as_raw_fd(),
                };
                let mut cmd = std::process::Command::new(std::env::current_exe()?);
                cmd.args(std::env::args_os().skip(1)).env(ENV, orders.encode());
                child::spawn(cmd, &[report.0.as_fd()])?
            }
            Target::Closure(_) | Target::Started => unreachable!("checked above"),
        };
        self.pid = Some(pid);
        self.report = Some(report);
        Ok(())
    }

    /// Reaps the child if it has ended; its exit.
    fn poll(&self, block: bool) -> Option<Exit> {
        let mut exit = self.exit.lock().unwrap_or_else(|e| e.into_inner());
        if exit.is_none() {
            if let Some(pid) = self.pid {
                *exit = child::wait(pid, block).ok().flatten();
            }
        }
        *exit
    }

    /// Waits for the child to end; its [`exitcode`](Self::exitcode).
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`].
    pub fn join(&mut self) -> Result<i32, ProcessError> {
        self.pid.ok_or(ProcessError::NotStarted)?;
        Ok(self.poll(true).map_or(0, Exit::exitcode))
    }

    /// Waits up to `timeout` for the child to end: `Some(exitcode)` if it did, `None` if
    /// it is still running (Python's `join(timeout)`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`].
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<i32>, ProcessError> {
        self.pid.ok_or(ProcessError::NotStarted)?;
        let start = Instant::now();
        let mut nap = Duration::from_micros(50);
        loop {
            if let Some(exit) = self.poll(false) {
                return Ok(Some(exit.exitcode()));
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(nap.min(left));
            nap = (nap * 2).min(Duration::from_millis(10));
        }
    }

    /// Whether the child has started and not yet ended.
    pub fn is_alive(&self) -> bool {
        self.pid.is_some() && self.poll(false).is_none()
    }

    /// The child's pid, once started.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The process's name.
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Whether the child is a daemon.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// `None` while running or before start; then the exit status, or minus the signal
    /// that ended it (`-15` after [`terminate`](Self::terminate)), as in Python.
    pub fn exitcode(&self) -> Option<i32> {
        self.pid?;
        self.poll(false).map(Exit::exitcode)
    }

    /// The panic message of a child that panicked (exit status 101).
    pub fn panic_message(&self) -> Option<String> {
        self.poll(false)?;
        self.report.as_ref()?.read()
    }

    fn signal(&self, signal: i32) -> Result<(), ProcessError> {
        let pid = self.pid.ok_or(ProcessError::NotStarted)?;
        if self.poll(false).is_some() {
            return Ok(()); // ended and reaped: the pid may belong to someone else now
        }
        child::send_signal(pid, signal).map_err(ProcessError::Os)
    }

    /// Sends SIGTERM (Python's `terminate`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`].
    pub fn terminate(&self) -> Result<(), ProcessError> {
        self.signal(SIGTERM)
    }

    /// Sends SIGKILL (Python's `kill`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`].
    pub fn kill(&self) -> Result<(), ProcessError> {
        self.signal(SIGKILL)
    }
}

/// Reaps children whose handles were dropped while they ran.
fn reaper() -> &'static std::sync::mpsc::Sender<u32> {
    static REAPER: OnceLock<std::sync::mpsc::Sender<u32>> = OnceLock::new();
    REAPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let spawned = std::thread::Builder::new().name("shmkit-reaper".into()).spawn(move || {
            let mut pending: Vec<u32> = Vec::new();
            loop {
                // Idle (nothing to reap): sleep until a pid comes, with no periodic wake-up.
                let next = if pending.is_empty() {
                    rx.recv().map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected)
                } else {
                    rx.recv_timeout(Duration::from_millis(50))
                };
                match next {
                    Ok(pid) => pending.push(pid),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
                pending.retain(|&pid| matches!(child::wait(pid, false), Ok(None)));
            }
        });
        if spawned.is_err() {
            eprintln!("shmkit: cannot start the reaper thread: dropped children may stay zombies");
        }
        tx
    })
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            if self.poll(false).is_none() && std::process::id() != pid {
                let _ = reaper().send(pid);
            }
        }
    }
}
