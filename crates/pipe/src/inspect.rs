//! Decoding a pipe's body for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::{BodyState, Kind, Object};
use shmkit_queue::spsc::Port;

/// The state of `obj`'s body if it is a pipe (`None` otherwise): for each ring, the bytes
/// unread, whether it is closed, and who holds its two ends.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    let kind = obj.kind()?;
    if kind != Kind::Pipe && kind != Kind::SimplexPipe {
        return None;
    }
    let checked = crate::layout::ring_capacity(obj, kind).map_err(|e| e.to_string());
    let ring = checked.and_then(|c| {
        Port::<u8>::ring_len(c).map(|r| (c as u64, r)).ok_or_else(|| "the ring size overflows".to_owned())
    });
    let (capacity, ring) = match ring {
        Ok(r) => r,
        Err(e) => return Some(BodyState::problem(e)),
    };
    Some(if kind == Kind::Pipe {
        let s = shmkit_queue::spsc_ring(obj, 0, capacity, "A→B ", BodyState::new());
        shmkit_queue::spsc_ring(obj, ring, capacity, "B→A ", s)
    } else {
        shmkit_queue::spsc_ring(obj, 0, capacity, "", BodyState::new())
    })
}
