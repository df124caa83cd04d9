//! Decoding a queue's body for tools (`shmkit ls`, `shmkit inspect`).

use std::sync::atomic::Ordering;

use shmkit_core::state::holder;
use shmkit_core::{BodyState, Kind, Object, ParticipantId};

use crate::lamport::GONE;
use crate::ring::state;
use crate::spsc::TOKEN_BIT;

/// The state of `obj`'s body if it is a Queue, JoinableQueue or SPSC queue (`None`
/// otherwise): fill and capacity, flags, waiters, crash repairs, the SPSC ends' holders.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    let kind = obj.kind()?;
    let capacity = obj.info().elem_count;
    match kind {
        Kind::Queue | Kind::JoinableQueue => Some(mpmc(obj, kind, capacity)),
        Kind::SpscQueue => Some(spsc_ring(obj, 0, capacity, "", BodyState::new())),
        _ => None,
    }
}

/// The part of a fill that a correct peer can produce: at most `capacity`.
fn fill(tail: u64, head: u64, capacity: u64, what: &str, s: BodyState) -> (u64, BodyState) {
    match tail.wrapping_sub(head) {
        n if n <= capacity => (n, s),
        n => (
            capacity,
            s.field(format!("{what}inconsistent indices"), format!("tail {tail} is {n} past head {head}")),
        ),
    }
}

fn mpmc(obj: &Object, kind: Kind, capacity: u64) -> BodyState {
    let Ok(ctl) = obj.view::<crate::ring::Control>(0) else {
        return BodyState::problem("the body is smaller than a queue's control block");
    };
    let (tail, head) = (ctl.tail.0.load(Ordering::Relaxed), ctl.head.0.load(Ordering::Relaxed));
    let m = &ctl.misc.0;
    let flags = m.state.load(Ordering::Relaxed);
    let (n, s) = fill(tail, head, capacity, "", BodyState::new());
    let mut s = s
        .fill(n, capacity)
        .field("items", n)
        .field("capacity", capacity)
        .field("closed", flags & state::CLOSED != 0)
        .field("puts so far", tail)
        .field("gets so far", head)
        .field("a producer has put", flags & state::PRODUCER_SEEN != 0)
        .field("a consumer has got", flags & state::CONSUMER_SEEN != 0)
        .field("consumers waiting", m.not_empty.waiters())
        .field("producers waiting", m.not_full.waiters())
        .field("slots skipped (producer died)", m.holes.load(Ordering::Relaxed))
        .field("slots given back (consumer died)", m.reclaimed.load(Ordering::Relaxed));
    if kind == Kind::JoinableQueue {
        s = s
            // As `JoinableQueue::unfinished` derives it: claimed, less holes, less done.
            .field(
                "unfinished tasks",
                tail.saturating_sub(m.holes.load(Ordering::Relaxed))
                    .saturating_sub(m.done.load(Ordering::Relaxed)),
            )
            .field("joiners waiting", m.all_done.waiters());
    }
    s
}

/// Adds the state of the SPSC ring at byte `offset` of `obj`'s body (of `capacity` slots)
/// to `s`, its field names starting with `label`. The ring's fill is added to `s`'s.
pub fn spsc_ring(obj: &Object, offset: usize, capacity: u64, label: &str, s: BodyState) -> BodyState {
    use crate::lamport::Control;
    let Ok(ctl) = obj.view::<Control>(offset) else {
        return BodyState { problem: Some("the body does not hold its rings".to_owned()), ..s };
    };
    let (tail, head) = (ctl.tail.0.load(Ordering::Relaxed), ctl.head.0.load(Ordering::Relaxed));
    let m = &ctl.misc.0;
    let (n, s) = fill(tail, head, capacity, label, s);
    let end = |w: u64| match w {
        0 => "never taken".to_owned(),
        GONE => "dropped".to_owned(),
        w if w & TOKEN_BIT == 0 => format!("garbage word {w:#x}"),
        w => holder(obj, ParticipantId::from_u64(w & !TOKEN_BIT)),
    };
    // Two rings' worth of a peer's numbers: saturate rather than overflow.
    let total = s.fill.unwrap_or(0).saturating_add(n);
    let cap = s.capacity.unwrap_or(0).saturating_add(capacity);
    s.fill(total, cap)
        .field(format!("{label}unread"), n)
        .field(format!("{label}capacity"), capacity)
        .field(format!("{label}closed"), m.state.load(Ordering::Relaxed) & state::CLOSED != 0)
        .field(format!("{label}written so far"), tail)
        .field(format!("{label}producer end"), end(m.producer.load(Ordering::Relaxed)))
        .field(format!("{label}consumer end"), end(m.consumer.load(Ordering::Relaxed)))
        .field(format!("{label}consumer waiting"), m.not_empty.waiters())
        .field(format!("{label}producer waiting"), m.not_full.waiters())
}
