//! Decoding a synchronisation object's body for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::{BodyState, InPlace, Kind, Object};

use crate::layout::LockAndCondition;
use crate::raw::{describe_owner, LockSnapshot, RawBarrier, RawEvent, RawLock, RawRLock, RawSemaphore};

/// The state of `obj`'s body if it is one of this crate's kinds (`None` otherwise): lock
/// owners (with their pid and liveness), semaphore values, event flags, barrier counts,
/// waiters. A body too small for its kind is reported as a problem, never read.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    let state = match obj.kind()? {
        Kind::Lock => body::<RawLock>(obj).map(|l| lock(obj, l.snapshot())),
        Kind::RLock => body::<RawRLock>(obj).map(|l| {
            let s = l.snapshot();
            lock(obj, s.lock).field("depth", s.depth)
        }),
        Kind::Semaphore | Kind::BoundedSemaphore => body::<RawSemaphore>(obj).map(|s| {
            let s = s.snapshot();
            BodyState::new()
                .value(s.value)
                .field("value", s.value)
                .field("maximum", s.max)
                .field("waiters", s.waiters)
        }),
        Kind::Event => body::<RawEvent>(obj).map(|e| {
            let s = e.snapshot();
            BodyState::new()
                .value(if s.set { "set" } else { "clear" })
                .field("set", s.set)
                .field("waiters", s.waiters)
        }),
        Kind::Condition => body::<LockAndCondition>(obj)
            .map(|c| lock(obj, c.lock.snapshot()).field("condition waiters", c.cond.waiters())),
        Kind::Barrier => body::<RawBarrier>(obj).map(|b| {
            let s = b.snapshot();
            let parties = b.stored_parties();
            BodyState::new()
                .value(if s.broken { "broken".to_owned() } else { format!("{}/{parties}", s.arrived) })
                .field("parties", parties)
                .field("arrived", s.arrived)
                .field("broken", s.broken)
                .field("generation", s.generation)
                .field("waiters", s.waiters)
        }),
        _ => return None,
    };
    Some(state.unwrap_or_else(|| BodyState::problem("the body is too small for its kind")))
}

/// The body as an `R`, if it is large enough (a checked view).
fn body<R: InPlace>(obj: &Object) -> Option<&R> {
    obj.view::<R>(0).ok()
}

/// A lock's owner and waiters.
fn lock(obj: &Object, s: LockSnapshot) -> BodyState {
    let shown = describe_owner(obj, s.owner);
    BodyState::new().value(&shown).field("owner", shown).field("waiters", s.waiters)
}
