//! Decoding a shared-memory listener's backlog for tools (`shmkit ls`, `shmkit inspect`).

use std::sync::atomic::Ordering;

use shmkit_core::{BodyState, Kind, Layout, Object, ParticipantId};

use super::backlog::{State, BOUND};
use super::{Board, ListenerLayout};

/// The state of `obj`'s body if it is a listener (`None` otherwise): who listens, whether
/// it is closed, and what each backlog slot holds.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    if obj.kind()? != Kind::Listener {
        return None;
    }
    let backlog = match ListenerLayout.check(obj) {
        Ok(n) => n,
        Err(e) => return Some(BodyState::problem(e.to_string())),
    };
    let board = Board { obj, backlog };
    let b = board.backlog();
    let id = b.ctl.listener.load(Ordering::Acquire);
    let closed = b.ctl.closed.load(Ordering::Acquire) != 0;
    let listener = if id & BOUND == 0 {
        "none yet".to_owned()
    } else {
        shmkit_core::state::holder(obj, ParticipantId::from_u64(id & !BOUND))
    };
    let mut counts = [0u64; 5];
    for i in 0..backlog {
        counts[match b.state(i) {
            State::Free => 0,
            State::Requested(_) => 1,
            State::Offered(_) => 2,
            State::Taken(_) => 3,
            State::Junk(_) => 4,
        }] += 1;
    }
    let busy = backlog as u64 - counts[0];
    let value = match (closed, board.listening()) {
        (true, _) => "closed".to_owned(),
        (false, false) => "listener gone".to_owned(),
        (false, true) => format!("listening, {} waiting", counts[1]),
    };
    Some(
        BodyState::new()
            .value(value)
            .fill(busy, backlog as u64)
            .field("listener", listener)
            .field("closed", closed)
            .field("clients waiting", counts[1])
            .field("connections being handed over", counts[2] + counts[3])
            .field("slots with junk", counts[4])
            .field("clients waiting for room", u64::from(b.ctl.answers.waiters())),
    )
}
