//! Decoding a message queue's body for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{BodyState, Kind, Layout, Object};
use shmkit_sync::raw::{describe_owner, Liveness, TOKEN_BIT};

use crate::layout::MqLayout;
use crate::state::{Owner, PeersFn};

/// The state of `obj`'s body if it is a message queue (`None` otherwise): messages and
/// maxsize, the pool's chunks by owner (free, queued, held, held by the dead), who holds
/// the lock and chunks, waiters, repairs.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    if obj.kind()? != Kind::MessageQueue {
        return None;
    }
    let parts = match MqLayout.check(obj) {
        Ok(parts) => parts,
        Err(e) => return Some(BodyState::problem(e.to_string())),
    };
    // SAFETY: `check` proved the parts inside `obj`, which outlives this function.
    let st = unsafe { parts.state() };
    let live = |w| Liveness::is_alive(obj, w);
    let peers = PeersFn(|slot| obj.is_slot_alive(slot));
    let (mut free, mut queued, mut held, mut dead) = (0u64, 0u64, 0u64, 0u64);
    let mut holders: Vec<u64> = Vec::new();
    for w in st.pool.owner_words() {
        match st.owner(w, &live, &peers) {
            Owner::Free => free += 1,
            Owner::Queued => queued += 1,
            Owner::Held => held += 1,
            Owner::Dead => dead += 1,
        }
        if w & TOKEN_BIT != 0 && !holders.contains(&w) && holders.len() < 8 {
            holders.push(w);
        }
    }
    let geo = st.pool.geo;
    let n = st.len() as u64;
    let (ring, misc) = (st.ring.ctl, &st.ring.ctl.misc.0);
    let mut s = BodyState::new()
        .fill(n, u64::from(geo.maxsize))
        .field("messages", n)
        .field("maxsize", geo.maxsize)
        .field("closed", st.is_closed())
        .field("chunks", geo.chunks)
        .field("chunk size", geo.chunk_size)
        .field("chunks free", free)
        .field("chunks in queued messages", queued)
        .field("chunks held (being written or read)", held)
        .field("chunks held by the dead (until repaired)", dead)
        .field("lock", describe_owner(obj, st.pool.ctl.lock.owner()))
        .field("consumers waiting", misc.not_empty.waiters())
        .field("producers waiting", misc.not_full.waiters() + st.pool.ctl.freed.waiters())
        .field("repairs", st.pool.ctl.repairs.load(Ordering::Relaxed))
        .field("holes (producers killed before publishing)", misc.holes.load(Ordering::Relaxed))
        .field("dropped (broken messages)", st.pool.ctl.dropped.load(Ordering::Relaxed))
        .field("puts so far", ring.tail.0.load(Ordering::Relaxed))
        .field("gets so far", ring.head.0.load(Ordering::Relaxed));
    for w in holders {
        s = s.field("chunks held by", describe_owner(obj, w));
    }
    Some(s)
}
