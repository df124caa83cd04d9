//! shmkit's processes: Python's `multiprocessing.Process` and `Pool`, and an executor in
//! the style of `concurrent.futures.ProcessPoolExecutor`.
//!
//! - [`Process`]: start a closure or a `fn` in a child, `join` in the four forms of
//!   every blocking call in shmkit (`join`, `try_join`, `join_timeout(Duration)`,
//!   `join_deadline(Deadline)`, the waits sleeping on a pidfd), `is_alive`,
//!   `terminate`, `kill`, `exitcode` (minus the signal number when a signal ended it),
//!   daemon children that die with their parent, the [`Run`] trait as
//!   the Rust form of subclassing, [`current_process`]; a child's panic message reaches
//!   the parent, and no zombie is left behind.
//! - [`StartMethod`]: **fork** (the default on Linux, as in Python up to 3.13) or
//!   **spawn** (this program started again; call [`init`] first thing in `main`).
//! - [`Pool`]: worker processes fed over shared-memory pipes; `apply`, `apply_async` with
//!   callbacks that run in the parent, `map`, `imap` (input order), `imap_unordered`
//!   (completion order), `starmap`, `chunksize`, `close`/`join`/`terminate`,
//!   `max_tasks_per_child`. A worker that crashes fails only its task and is replaced.
//! - [`ProcessPoolExecutor`]: `submit` → a handle, [`as_completed`], `map`, `shutdown`.
//!
//! Everything else that blocks has the same four forms: [`AsyncResult`]'s `get` and
//! `wait`, [`Pool::join`], and [`Imap`]'s `next` (`try_next`, `next_timeout`,
//! `next_deadline`). A `_timeout` form computes a [`Deadline`] and calls its `_deadline`
//! twin, and gives up only once the time has passed.
//!
//! Pool tasks are `fn` items with serde arguments and results (postcard), like Python's
//! picklable top-level functions: they run under both start methods.
//!
//! # Where this differs from Python
//!
//! - **Non-daemon children are not joined when `main` returns.** Python joins them at
//!   interpreter exit; a Rust program just exits and they run on. Join what you start.
//! - **A daemon child's parent-death signal follows the thread that started it**
//!   (`PR_SET_PDEATHSIG`): start daemons from a thread that lives as long as they should.
//!   Pools are not affected: their workers' starts are arranged so that they live as long
//!   as the pool.
//! - **A pool worker's parent is the pool's fork server** under fork (a single-threaded
//!   copy of the program made with the pool), so its `parent_pid()` is the server's.
//! - **[`AsyncResult::get`] takes the handle**: the result is moved out, not copied.
//! - **Callbacks run on the pool's threads, possibly several at once** (Python runs them
//!   one at a time on one thread). They are `Send`, so the compiler makes them share
//!   state safely; don't block in them for long, since a worker waits meanwhile.
//! - **Arguments are positional**: one value, or a tuple (`starmap` takes pairs); there
//!   are no keyword arguments.
//! - **There is no `Manager` process.** Shared containers are shmkit objects (Queue,
//!   Value, Array, ...) opened by name or inherited, which need no server.
//! - **A pool never hangs on a dead worker**: its task fails with
//!   [`TaskError::WorkerDied`] and the worker is replaced (Python's pool waits forever).

mod bootstrap;
mod error;
mod executor;
mod feeder;
mod options;
mod pool;
mod process;
mod results;
mod spawn;
mod task;
mod worker;

pub use bootstrap::{cpu_count, current_process, parent_pid, CurrentProcess};
pub use error::{NextTimeoutError, TaskError};
pub use executor::{as_completed, AsCompleted, ProcessPoolExecutor};
pub use options::PoolOptions;
pub use pool::Pool;
pub use process::{Process, ProcessError, Run, StartMethod};
pub use results::{AsyncResult, Imap};
/// The point in time the `_deadline` forms take (from `shmkit-core`).
pub use shmkit_core::Deadline;
pub use spawn::init;
