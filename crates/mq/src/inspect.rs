//! Decoding a message queue's body for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{BodyState, Kind, Layout, Object};
use shmkit_sync::raw::{describe_owner, Liveness};

use crate::layout::MqLayout;
use crate::pool::{FREE, QUEUED};

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
    let pool = unsafe { parts.pool() };
    let (mut free, mut queued, mut held, mut dead) = (0u64, 0u64, 0u64, 0u64);
    let mut holders: Vec<u64> = Vec::new();
    for w in pool.owner_words() {
        match w {
            FREE => free += 1,
            QUEUED => queued += 1,
            w => {
                if Liveness::is_alive(obj, w) {
                    held += 1;
                } else {
                    dead += 1;
                }
                if !holders.contains(&w) && holders.len() < 8 {
                    holders.push(w);
                }
            }
        }
    }
    let geo = pool.geo;
    let n = pool.len();
    let mut s = BodyState::new()
        .fill(n, u64::from(geo.maxsize))
        .field("messages", n)
        .field("maxsize", geo.maxsize)
        .field("closed", pool.is_closed())
        .field("chunks", geo.chunks)
        .field("chunk size", geo.chunk_size)
        .field("chunks free", free)
        .field("chunks in queued messages", queued)
        .field("chunks held (being written or read)", held)
        .field("chunks held by the dead (until repaired)", dead)
        .field("lock", describe_owner(obj, pool.ctl.lock.owner()))
        .field("consumers waiting", pool.ctl.not_empty.waiters())
        .field("producers waiting", pool.ctl.not_full.waiters())
        .field("repairs", pool.ctl.repairs.load(Ordering::Relaxed))
        .field("puts so far", pool.ctl.tail.load(Ordering::Relaxed))
        .field("gets so far", pool.ctl.head.load(Ordering::Relaxed));
    for w in holders {
        s = s.field("chunks held by", describe_owner(obj, w));
    }
    Some(s)
}
