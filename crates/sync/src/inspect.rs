//! Decoding a synchronisation object's body for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::{BodyState, Kind, Object};

use crate::named::{InPlace, LockAndCondition};
use crate::raw::{describe_owner, RawBarrier, RawEvent, RawLock, RawRLock, RawSemaphore};

/// The state of `obj`'s body if it is one of this crate's kinds (`None` otherwise): lock
/// owners (with their pid and liveness), semaphore values, event flags, barrier counts,
/// waiters. A body too small for its kind is reported as a problem, never read.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    let state = match obj.kind()? {
        Kind::Lock => body::<RawLock>(obj).map(|l| lock(obj, l.snapshot())),
        Kind::RLock => body::<RawRLock>(obj).map(|l| {
            let (inner, depth) = l.snapshot();
            lock(obj, inner).field("depth", depth)
        }),
        Kind::Semaphore | Kind::BoundedSemaphore => body::<RawSemaphore>(obj).map(|s| {
            let (value, max, waiters) = s.snapshot();
            BodyState::new()
                .value(value)
                .field("value", value)
                .field("maximum", max)
                .field("waiters", waiters)
        }),
        Kind::Event => body::<RawEvent>(obj).map(|e| {
            let (set, waiters) = e.snapshot();
            BodyState::new()
                .value(if set { "set" } else { "clear" })
                .field("set", set)
                .field("waiters", waiters)
        }),
        Kind::Condition => body::<LockAndCondition>(obj)
            .map(|c| lock(obj, c.lock.snapshot()).field("condition waiters", c.cond.waiters())),
        Kind::Barrier => body::<RawBarrier>(obj).map(|b| {
            let (generation, arrived, broken, waiters) = b.snapshot();
            let parties = b.stored_parties();
            BodyState::new()
                .value(if broken { "broken".to_owned() } else { format!("{arrived}/{parties}") })
                .field("parties", parties)
                .field("arrived", arrived)
                .field("broken", broken)
                .field("generation", generation)
                .field("waiters", waiters)
        }),
        _ => return None,
    };
    Some(state.unwrap_or_else(|| BodyState::problem("the body is too small for its kind")))
}

/// The body as an `R`, if it is large enough.
fn body<R: InPlace>(obj: &Object) -> Option<&R> {
    // SAFETY: the body is 128-aligned and at least size_of::<R>() bytes (checked), mapped
    // while `obj` lives; R is InPlace, so any bytes a peer wrote are a valid R and it may
    // be written concurrently (it is all atomics).
    (obj.body_len() >= std::mem::size_of::<R>()).then(|| unsafe { &*obj.body().cast::<R>() })
}

/// A lock's owner and waiters.
fn lock(obj: &Object, (owner, waiters): (u64, u32)) -> BodyState {
    let shown = describe_owner(obj, owner);
    BodyState::new().value(&shown).field("owner", shown).field("waiters", waiters)
}
