//! An executor in the style of `concurrent.futures.ProcessPoolExecutor`.

use std::sync::mpsc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::Deadline;

use crate::error::{NextTimeoutError, TaskError};
use crate::options::PoolOptions;
use crate::pool::Pool;
use crate::results::{AsyncResult, Imap};

/// Python's `concurrent.futures.ProcessPoolExecutor`: [`submit`](Self::submit) returns a
/// future ([`AsyncResult`]); [`as_completed`] yields futures as they finish.
///
/// ```
/// use shmkit::{as_completed, ProcessPoolExecutor};
///
/// fn fib(n: u32) -> u64 {
///     if n <= 2 { 1 } else { fib(n - 1) + fib(n - 2) }
/// }
///
/// let mut ex = ProcessPoolExecutor::new(2)?;
/// let futures: Vec<_> = (20..25).map(|n| ex.submit(fib, n)).collect();
/// let mut got: Vec<u64> = as_completed(futures).map(|f| f.get().unwrap()).collect();
/// got.sort();
/// assert_eq!(got, [6765, 10946, 17711, 28657, 46368]);
/// ex.shutdown(true);
/// # Ok::<(), shmkit::TaskError>(())
/// ```
#[derive(Debug)]
pub struct ProcessPoolExecutor {
    pool: Pool,
}

impl ProcessPoolExecutor {
    /// An executor with `workers` worker processes (fork).
    ///
    /// # Errors
    ///
    /// As [`Pool::new`].
    pub fn new(workers: usize) -> Result<Self, TaskError> {
        Pool::new(workers).map(|pool| Self { pool })
    }

    /// An executor over a pool made with `opts`.
    ///
    /// # Errors
    ///
    /// As [`Pool::with_options`].
    pub fn with_options(opts: PoolOptions) -> Result<Self, TaskError> {
        Pool::with_options(opts).map(|pool| Self { pool })
    }

    /// Schedules `f(arg)`; the future gives its result.
    pub fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> AsyncResult<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.pool.apply_async(f, arg)
    }

    /// `f` over the items, results in the items' order as they become ready.
    pub fn map<A, R>(&self, f: fn(A) -> R, items: impl IntoIterator<Item = A>) -> Imap<R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.pool.imap(f, items)
    }

    /// Takes no more work; with `wait`, returns once every submitted task has finished
    /// and the workers have stopped, else stops them at once (unfinished tasks fail with
    /// [`TaskError::Terminated`]).
    pub fn shutdown(&mut self, wait: bool) {
        if wait {
            self.pool.join();
        } else {
            self.pool.terminate();
        }
    }

    /// [`shutdown(true)`](Self::shutdown), waiting at most `timeout`; whether every task
    /// has finished and the workers have stopped. `false` leaves the executor taking no
    /// more work, its tasks still running: wait again, or `shutdown(false)`.
    pub fn shutdown_timeout(&mut self, timeout: Duration) -> bool {
        self.shutdown_deadline(Deadline::after(timeout))
    }

    /// [`shutdown(true)`](Self::shutdown), waiting until `deadline` (as
    /// [`shutdown_timeout`](Self::shutdown_timeout)).
    pub fn shutdown_deadline(&mut self, deadline: Deadline) -> bool {
        self.pool.join_deadline(deadline)
    }
}

/// The futures, each yielded as soon as it has finished: `concurrent.futures.as_completed`.
pub fn as_completed<R>(futures: impl IntoIterator<Item = AsyncResult<R>>) -> AsCompleted<R> {
    let (tx, rx) = mpsc::channel();
    let futures: Vec<Option<AsyncResult<R>>> = futures
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            f.notify(tx.clone(), i);
            Some(f)
        })
        .collect();
    AsCompleted { rx, futures }
}

/// The iterator of [`as_completed`].
#[derive(Debug)]
pub struct AsCompleted<R> {
    rx: mpsc::Receiver<usize>,
    futures: Vec<Option<AsyncResult<R>>>,
}

impl<R> Iterator for AsCompleted<R> {
    type Item = AsyncResult<R>;

    fn next(&mut self) -> Option<AsyncResult<R>> {
        if self.futures.iter().all(Option::is_none) {
            return None;
        }
        let i = self.rx.recv().ok()?;
        self.futures.get_mut(i)?.take()
    }
}

impl<R> AsCompleted<R> {
    /// The next future to have finished, if one has; never waits. `Ok(None)` once every
    /// future was yielded.
    ///
    /// # Errors
    ///
    /// [`NextTimeoutError`] if none has finished yet.
    pub fn try_next(&mut self) -> Result<Option<AsyncResult<R>>, NextTimeoutError> {
        self.next_deadline(Deadline::now())
    }

    /// The next future to finish, waiting at most `timeout`: Python's
    /// `as_completed(fs, timeout)` one future at a time.
    ///
    /// # Errors
    ///
    /// [`NextTimeoutError`] if none finished in time (wait again: nothing is lost).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<AsyncResult<R>>, NextTimeoutError> {
        self.next_deadline(Deadline::after(timeout))
    }

    /// The next future to finish, waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`next_timeout`](Self::next_timeout).
    pub fn next_deadline(&mut self, deadline: Deadline) -> Result<Option<AsyncResult<R>>, NextTimeoutError> {
        if self.futures.iter().all(Option::is_none) {
            return Ok(None);
        }
        let received = match deadline.remaining() {
            None => self.rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(left) => self.rx.recv_timeout(left),
        };
        match received {
            Ok(i) => Ok(self.futures.get_mut(i).and_then(Option::take)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(NextTimeoutError),
            // Every sender is gone with its future: nothing more will finish.
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
        }
    }
}
