//! [`PoolOptions`]: how a pool is made.

use crate::process::StartMethod;

/// How a pool is made, for [`Pool::with_options`](crate::Pool::with_options).
///
/// # Examples
///
/// ```
/// use shmkit::{Pool, PoolOptions, StartMethod};
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// // Pool(processes=2, maxtasksperchild=100)
/// let opts = PoolOptions::new()
///     .processes(2)
///     .start_method(StartMethod::Fork) // the default; `Spawn` needs `shmkit::init()` in `main`
///     .max_tasks_per_child(100)
///     .ring_capacity(16 << 10);
/// let pool = Pool::with_options(opts)?;
/// assert_eq!(pool.processes(), 2);
/// assert_eq!(pool.map(square, 1..=4)?, [1, 4, 9, 16]);
/// # Ok::<(), shmkit::TaskError>(())
/// ```
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
            processes: crate::bootstrap::cpu_count(),
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
