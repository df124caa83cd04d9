//! Decoding a Dict's, List's or Namespace's root for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{BodyState, Kind, Object};
use shmkit_sync::raw::describe_owner;

use crate::arena::measure;
use crate::store::{RootLayout, Store};

/// The state of `obj`'s body if it is a Dict, List or Namespace (`None` otherwise): entries,
/// generation, arena size, live and garbage bytes, who holds the writers' lock.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    let kind = obj.kind()?;
    if kind == Kind::Generation {
        return Some(generation(obj));
    }
    if !matches!(kind, Kind::Dict | Kind::List | Kind::Namespace) {
        return None;
    }
    let name = obj.name()?.as_str().to_owned();
    // The header's own element type, so that any Dict opens here whatever its types.
    let layout = RootLayout { kind, elem: obj.info().elem };
    let store = match Store::open(layout, &name, &shmkit_core::OpenOptions::new()) {
        Ok(s) => s,
        Err(e) => return Some(BodyState::problem(e.to_string())),
    };
    let ctl = store.ctl();
    let mut s = BodyState::new()
        .field("generation", ctl.gen.0.load(Ordering::Acquire))
        .field("version", ctl.version.load(Ordering::Acquire))
        .field("lock", describe_owner(obj, ctl.lock.owner()))
        .field("waiting for a change", ctl.changed.waiters());
    match store.current_as(false) {
        Ok(Some(g)) => match g.committed() {
            Ok((v, at, r)) => {
                let live = measure(&v, r.root, at).unwrap_or(0);
                s = s
                    .field("entries", r.len)
                    .field("arena bytes used", v.end())
                    .field("live bytes", live)
                    .field("garbage bytes", v.end().saturating_sub(live));
            }
            Err(e) => s = s.field("problem", e.0),
        },
        Ok(None) => s = s.field("entries", 0),
        Err(e) => s = s.field("problem", e.to_string()),
    }
    Some(s)
}

/// A generation object: its number, arena size and committed end.
fn generation(obj: &Object) -> BodyState {
    match obj.view::<crate::store::GenControl>(0) {
        Ok(ctl) => BodyState::new()
            .field("generation", ctl.gen.load(Ordering::Relaxed))
            .field("arena bytes", ctl.cap.load(Ordering::Relaxed))
            .field("committed record at", ctl.commit.load(Ordering::Relaxed)),
        Err(e) => BodyState::problem(e.to_string()),
    }
}
