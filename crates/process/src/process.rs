//! `Process`: start a function in a child process, join it, signal it.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::child::{self, Exit, SIGKILL, SIGTERM};
use shmkit_core::Deadline;

use crate::bootstrap::{run_child, Report};
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
    /// This program was started by the spawn start method and its `main` starts a
    /// process before calling [`init`](crate::init): call `init` first thing in `main`.
    /// (Starting one would run `main` again in the child, which would start another.)
    NotInitialized,
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
            Self::NotInitialized => f.write_str(crate::spawn::FORGOT_INIT),
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
/// use shmkit::{Process, Run};
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
/// # Ok::<(), shmkit::ProcessError>(())
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
/// use shmkit::Process;
///
/// let mut p = Process::new(|| println!("hello from a child")).name("greeter");
/// assert_eq!(p.pid(), None);
/// p.start()?;
/// assert!(p.pid().is_some());
/// assert_eq!(p.join()?, 0);
/// assert_eq!(p.exitcode(), Some(0));
/// # Ok::<(), shmkit::ProcessError>(())
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
    /// under spawn; [`ProcessError::NotInitialized`] in a spawned child whose `main` did
    /// not call [`init`](crate::init) first (whatever the start method);
    /// [`ProcessError::Os`] if the system cannot start it.
    pub fn start(&mut self) -> Result<(), ProcessError> {
        if matches!(self.target, Target::Started) {
            return Err(ProcessError::AlreadyStarted);
        }
        if !crate::spawn::may_start() {
            return Err(ProcessError::NotInitialized);
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

    /// Reaps the child if it has ended, without waiting; its exit. `None` while it runs,
    /// before start, or if it cannot be waited for.
    fn poll(&self) -> Option<Exit> {
        let mut exit = self.exit.lock().unwrap_or_else(|e| e.into_inner());
        if exit.is_none() {
            if let Some(pid) = self.pid {
                *exit = child::try_wait(pid).ok().flatten();
            }
        }
        *exit
    }

    /// Waits for the child to end; its [`exitcode`](Self::exitcode) (Python's `join()`).
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotStarted`]; [`ProcessError::Os`] if the child cannot be waited
    /// for (it was reaped by someone else, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmkit::Process;
    ///
    /// let mut p = Process::new(|| std::process::exit(4));
    /// p.start()?;
    /// assert_eq!(p.join()?, 4);
    /// # Ok::<(), shmkit::ProcessError>(())
    /// ```
    pub fn join(&mut self) -> Result<i32, ProcessError> {
        // Without a deadline the wait returns only once the child has ended.
        Ok(self.join_deadline(Deadline::never())?.unwrap_or(0))
    }

    /// The child's [`exitcode`](Self::exitcode) if it has ended, reaping it; `None` if it
    /// still runs. Never waits (Python's `join(0)`).
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn try_join(&mut self) -> Result<Option<i32>, ProcessError> {
        self.join_deadline(Deadline::now())
    }

    /// Waits up to `timeout` for the child to end: `Some(exitcode)` if it did, `None` if
    /// it is still running (Python's `join(timeout)`). Returns `None` only once `timeout`
    /// has passed.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use shmkit::Process;
    ///
    /// let mut p = Process::new(|| std::thread::sleep(Duration::from_secs(10)));
    /// p.start()?;
    /// assert_eq!(p.join_timeout(Duration::from_millis(10))?, None);
    /// p.kill()?;
    /// assert_eq!(p.join_timeout(Duration::from_secs(10))?, Some(-9));
    /// # Ok::<(), shmkit::ProcessError>(())
    /// ```
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<Option<i32>, ProcessError> {
        self.join_deadline(Deadline::after(timeout))
    }

    /// Waits until `deadline` for the child to end: `Some(exitcode)` if it did, `None` if
    /// it is still running once the deadline has passed.
    ///
    /// The wait sleeps on a pidfd of the child (see [`shmkit_core::child::wait_deadline`]),
    /// restarted after signals with the time that is left.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn join_deadline(&mut self, deadline: Deadline) -> Result<Option<i32>, ProcessError> {
        let pid = self.pid.ok_or(ProcessError::NotStarted)?;
        let exit = self.exit.get_mut().unwrap_or_else(|e| e.into_inner());
        if exit.is_none() {
            *exit = child::wait_deadline(pid, deadline)?;
        }
        Ok(exit.map(Exit::exitcode))
    }

    /// Whether the child has started and not yet ended.
    pub fn is_alive(&self) -> bool {
        self.pid.is_some() && self.poll().is_none()
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
        self.poll().map(Exit::exitcode)
    }

    /// The panic message of a child that panicked (exit status 101).
    pub fn panic_message(&self) -> Option<String> {
        self.poll()?;
        self.report.as_ref()?.read()
    }

    fn signal(&self, signal: i32) -> Result<(), ProcessError> {
        let pid = self.pid.ok_or(ProcessError::NotStarted)?;
        if self.poll().is_some() {
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
                pending.retain(|&pid| matches!(child::try_wait(pid), Ok(None)));
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
            if self.poll().is_none() && std::process::id() != pid {
                let _ = reaper().send(pid);
            }
        }
    }
}
