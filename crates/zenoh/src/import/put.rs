//! One message into the local target, as the importer's [`Backpressure`] policy says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shmkit_core::Deadline;

use super::{Backpressure, POLL};
use crate::local::{PutFail, Target};
use crate::state::{import as w, State};

/// How many times `DropOldest` makes room for one message before it drops that one.
const MAX_EVICTIONS: u32 = 1000;

/// Puts one message (a typed value's encoding if `typed`) as `policy` says, counting
/// what it drops; `Ok(Some(how long))` if it had to wait for room.
pub(super) fn deliver<T: Target>(
    target: &mut T,
    msg: &[u8],
    typed: bool,
    policy: Backpressure,
    st: &State,
    stop: &AtomicBool,
) -> Result<Option<Duration>, PutFail> {
    let counted = |r: Result<(), PutFail>| {
        match &r {
            Ok(()) => {
                st.add(w::PUT, 1);
            }
            Err(PutFail::Malformed) => {
                st.add(w::MALFORMED, 1);
            }
            Err(_) => {}
        }
        r
    };
    match policy {
        Backpressure::Block => {
            // At once if there is room (no clock read), else in waits of `POLL`.
            let mut deadline = Deadline::PASSED;
            let mut full_since: Option<Instant> = None;
            loop {
                let r = target.put(msg, typed, deadline);
                let waited = full_since.map(|t| t.elapsed());
                match r {
                    Err(PutFail::Full) if !stop.load(Ordering::Relaxed) => {
                        full_since.get_or_insert_with(Instant::now);
                        deadline = Deadline::after(POLL);
                    }
                    Err(PutFail::Full) => {
                        // Stopped (before, or while it waited for room).
                        st.add(w::DROPPED_NEWEST, 1);
                        return Ok(waited);
                    }
                    r => return counted(r).map(|()| waited),
                }
            }
        }
        Backpressure::DropNewest => match target.put(msg, typed, Deadline::PASSED) {
            Err(PutFail::Full) => {
                st.add(w::DROPPED_NEWEST, 1);
                Ok(None)
            }
            r => counted(r).map(|()| None),
        },
        Backpressure::DropOldest => {
            for _ in 0..MAX_EVICTIONS {
                match target.put(msg, typed, Deadline::PASSED) {
                    Err(PutFail::Full) => {
                        if target.discard_oldest()? {
                            st.add(w::DROPPED_OLDEST, 1);
                        }
                    }
                    r => return counted(r).map(|()| None),
                }
            }
            // Others keep filling the queue faster than room is made: drop this one.
            st.add(w::DROPPED_NEWEST, 1);
            Ok(None)
        }
    }
}
