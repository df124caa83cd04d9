//! [`TaskError`]: why a pool's task gave no result. A leaf of the crate.

use std::fmt;

/// Why a task did not give a result.
///
/// # Examples
///
/// ```
/// use shmkit::{Pool, TaskError};
///
/// fn div((a, b): (u64, u64)) -> u64 {
///     a / b // panics when `b` is 0
/// }
///
/// let pool = Pool::new(1)?;
/// match pool.apply(div, (1, 0)) {
///     Err(TaskError::Panicked(msg)) => assert!(msg.contains("divide by zero")),
///     other => panic!("expected a panic, got {other:?}"),
/// }
/// assert_eq!(pool.apply(div, (6, 3))?, 2); // the worker lives on
/// pool.close();
/// assert_eq!(pool.apply(div, (6, 3)), Err(TaskError::Closed));
/// # Ok::<(), TaskError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task's function panicked (the worker lives on); the panic message.
    Panicked(String),
    /// The worker process died while running the task (killed, aborted): its exit code
    /// (minus the signal's number). The worker is replaced. A worker that died before it
    /// took the task (killed while idle) fails nothing: the task goes to its replacement,
    /// unless three workers in a row die so.
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

/// [`Imap::try_next`], [`Imap::next_timeout`] and [`Imap::next_deadline`] (and the same
/// on [`AsCompleted`](crate::AsCompleted)): the next result was not ready in time
/// (Python's `multiprocessing.TimeoutError`). The result is not lost: a later call gives it.
///
/// [`Imap::try_next`]: crate::Imap::try_next
/// [`Imap::next_timeout`]: crate::Imap::next_timeout
/// [`Imap::next_deadline`]: crate::Imap::next_deadline
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NextTimeoutError;

impl fmt::Display for NextTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the next result was not ready in time: wait again, or longer")
    }
}

impl std::error::Error for NextTimeoutError {}
