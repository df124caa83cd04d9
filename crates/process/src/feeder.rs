//! A pool's shared state and its feeder threads: one per worker, each taking the next
//! task from the pool's queue, sending it to its worker, waiting for the reply and
//! handing the results on; and replacing its worker when it dies or has run
//! `max_tasks_per_child` tasks.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::TaskError;
use crate::options::PoolOptions;
use crate::task::Task;
use crate::worker::{ForkServer, Sent, Worker};

/// How many workers in a row may end before taking the same task, which then fails: each
/// is replaced and the task given to the next.
const UNTAKEN_TRIES: usize = 3;

/// What the pool and its feeders share, under one mutex.
#[derive(Default)]
pub(crate) struct State {
    /// Tasks not yet taken by a feeder.
    pub tasks: VecDeque<Task>,
    /// No new tasks (`close`).
    pub closed: bool,
    /// Stop at once (`terminate`).
    pub terminated: bool,
    /// Each feeder's current worker pid, for `terminate`.
    pub pids: Vec<Option<u32>>,
    /// Feeder threads that have not finished yet (each ends its worker first).
    pub feeding: usize,
}

/// A pool's state, shared by the handle and its feeder threads.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Notified on every change of `state`.
    pub changed: Condvar,
    pub opts: PoolOptions,
    /// Forks the workers, under fork.
    pub server: Option<ForkServer>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A feeder thread: starts a worker (telling `ready` how it went), then keeps it busy
/// with the pool's tasks, replacing it when it dies or has run `max_tasks_per_child`.
pub(crate) fn feed(shared: &Shared, slot: usize, ready: mpsc::Sender<Result<(), TaskError>>) {
    // However this thread ends, it says so (for `Pool::join_deadline`).
    let _finished = Finished(shared);
    let server = shared.server.as_ref();
    let set_pid = |pid| shared.lock().pids[slot] = pid;
    // A worker's pid is published as soon as it exists, so that `terminate` can kill one
    // that is still starting; and withdrawn before the worker is reaped, so that it never
    // kills a pid the system has given to another process since.
    let start = || {
        let mut w = Worker::launch(&shared.opts, server)?;
        set_pid(Some(w.pid()));
        match w.await_ready(server, || shared.lock().terminated) {
            Ok(()) => Ok(w),
            Err(e) => {
                set_pid(None);
                w.end(server, true);
                Err(e)
            }
        }
    };
    let end = |w: Worker, kill: bool| {
        set_pid(None);
        w.end(server, kill)
    };
    let mut worker = match start() {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);
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
        let mut untaken = 0;
        loop {
            let w = match worker.take().map_or_else(start, Ok) {
                Ok(w) => worker.insert(w),
                Err(e) => {
                    task.fail(&e);
                    break;
                }
            };
            let sent = w.run(&task.frame);
            if let Sent::Reply(reply) = sent {
                task.sink.deliver(task.first, task.len, Ok(&reply));
                w.tasks += 1;
                if shared.opts.max_tasks_per_child.is_some_and(|max| w.tasks >= max) {
                    if let Some(w) = worker.take() {
                        end(w, false);
                    }
                }
                break;
            }
            let code = worker.take().map_or(-1, |w| end(w, true));
            if shared.lock().terminated {
                task.fail(&TaskError::Terminated);
                break;
            }
            untaken += 1;
            // A worker that ended before taking the task (killed while idle, say) never ran
            // it: the task goes to its replacement. Only one that took it fails it.
            if matches!(sent, Sent::Lost) || untaken >= UNTAKEN_TRIES {
                task.fail(&TaskError::WorkerDied(code));
                break;
            }
        }
    }
    if let Some(w) = worker {
        let kill = shared.lock().terminated;
        end(w, kill);
    }
}

/// Counts a feeder out of [`State::feeding`] when dropped.
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.feeding = st.feeding.saturating_sub(1);
        drop(st);
        self.0.changed.notify_all();
    }
}
