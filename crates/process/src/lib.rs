//! shmkit's processes: Python's `multiprocessing.Process` and `Pool`, and an executor in
//! the style of `concurrent.futures.ProcessPoolExecutor`.
//!
//! - [`Process`]: start a closure or a `fn` in a child, `join` (with or without a
//!   timeout), `is_alive`, `terminate`, `kill`, `exitcode` (minus the signal number when a
//!   signal ended it), daemon children that die with their parent, the [`Run`] trait as
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
//! Pool tasks are `fn` items with serde arguments and results (postcard), like Python's
//! picklable top-level functions: they run under both start methods.

mod executor;
mod pool;
mod process;
mod spawn;
mod worker;

pub use executor::{as_completed, AsCompleted, ProcessPoolExecutor};
pub use pool::{AsyncResult, Imap, Pool, PoolOptions, TaskError};
pub use process::{
    cpu_count, current_process, parent_pid, CurrentProcess, Process, ProcessError, Run, StartMethod,
};
pub use spawn::init;
