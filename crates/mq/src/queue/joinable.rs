//! Python's `JoinableQueue` on every message queue: `task_done` and `join`.

use std::time::Duration;

use shmkit_core::loom::atomic::Ordering;
use shmkit_core::Deadline;

use super::MessageQueue;
use crate::error::MessageError;

/// Python's `JoinableQueue`: every message queue counts the messages put and those marked
/// done, so a producer can wait until every message it put was dealt with.
impl MessageQueue {
    /// Marks one message got earlier as dealt with: Python's `task_done()`.
    ///
    /// A consumer killed between its `get` and its `task_done` leaves that message
    /// unfinished for good, as in Python: `join` then waits for it. Make such waits
    /// timed, or count the work elsewhere, where consumers may be killed.
    ///
    /// # Errors
    ///
    /// [`MessageError::TooManyTaskDone`] if every message put is already marked done.
    pub fn task_done(&self) -> Result<(), MessageError> {
        let st = self.state();
        let misc = &st.ring.ctl.misc.0;
        let put = st.put_count();
        let done =
            misc.done.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| (d < put).then_some(d + 1));
        match done {
            Ok(_) => {
                if st.unfinished() == 0 {
                    misc.all_done.notify_all();
                }
                Ok(())
            }
            Err(_) => Err(MessageError::TooManyTaskDone),
        }
    }

    /// Messages put and not yet marked done (racy).
    pub fn unfinished(&self) -> usize {
        self.state().unfinished() as usize
    }

    /// Waits until every message put has been marked done: Python's `join()`.
    pub fn join(&self) {
        let _ = self.join_deadline(Deadline::never());
    }

    /// [`join`](Self::join) if nothing is unfinished now.
    ///
    /// # Errors
    ///
    /// [`MessageError::Timeout`] if something is.
    pub fn try_join(&self) -> Result<(), MessageError> {
        self.join_deadline(Deadline::now())
    }

    /// [`join`](Self::join), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`MessageError::Timeout`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), MessageError> {
        self.join_deadline(Deadline::after(timeout))
    }

    /// [`join`](Self::join), waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// [`MessageError::Timeout`].
    pub fn join_deadline(&self, deadline: Deadline) -> Result<(), MessageError> {
        let st = self.state();
        st.ring
            .ctl
            .misc
            .0
            .all_done
            .wait_until(self.h.wait_strategy(), deadline, || (st.unfinished() == 0).then_some(()))
            .ok_or(MessageError::Timeout)
    }
}
