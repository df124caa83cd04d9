//! Decoding a Dict's, List's or Namespace's root for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{BodyState, Kind, Object};
use shmkit_sync::raw::describe_owner;

use crate::arena::{measure, Record, View};
use crate::store::{RootLayout, Store};
use crate::{hamt, vector};

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
    match store.current() {
        Ok(Some(g)) => match g.committed() {
            Ok((v, at, r)) => {
                let live = measure(&v, r.root, at).unwrap_or(0);
                s = s
                    .field("entries", r.len)
                    .field("arena bytes used", v.end())
                    .field("live bytes", live)
                    .field("garbage bytes", v.end().saturating_sub(live));
                for line in sample(kind, obj.info().elem.name.get().unwrap_or(""), &v, at, &r) {
                    s = s.field("entry", line);
                }
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

/// How many entries `inspect` shows.
const SAMPLE: usize = 5;

/// The first few entries, when the key and value types are plain (integers, `bool`,
/// `String`; the header names them): `key: value`, or the element. Field names only for a
/// Namespace (its values carry their own types).
fn sample(kind: Kind, types: &str, v: &View<'_>, at: u64, r: &Record) -> Vec<String> {
    let mut out = Vec::new();
    match kind {
        Kind::Dict | Kind::Namespace => {
            let (k, val) = match types.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
                Some(pair) => pair.split_once(", ").unwrap_or(("", "")),
                None => ("String", ""),
            };
            let _ = hamt::for_each(v, r.root, at, &mut |kb, vb| {
                if out.len() >= SAMPLE {
                    return Err(crate::arena::Corrupt("enough"));
                }
                match (show(k, kb), kind) {
                    (Some(key), Kind::Namespace) => out.push(key),
                    (Some(key), _) => {
                        out.push(format!("{key}: {}", show(val, vb).unwrap_or_else(|| "…".into())))
                    }
                    (None, _) => {}
                }
                Ok(())
            });
        }
        Kind::List => {
            for i in 0..(r.len as usize).min(SAMPLE) {
                if let Ok(Some(b)) = vector::get(v, r, at, i as u64) {
                    out.push(format!("[{i}] {}", show(types, b).unwrap_or_else(|| "…".into())));
                }
            }
        }
        _ => {}
    }
    out
}

/// `bytes` decoded as the plain type named `ty`, shown; `None` for other types.
fn show(ty: &str, bytes: &[u8]) -> Option<String> {
    fn d<T: serde::de::DeserializeOwned + std::fmt::Debug>(b: &[u8]) -> Option<String> {
        postcard::from_bytes::<T>(b).ok().map(|x| format!("{x:?}"))
    }
    match ty {
        "u8" => d::<u8>(bytes),
        "u16" => d::<u16>(bytes),
        "u32" => d::<u32>(bytes),
        "u64" => d::<u64>(bytes),
        "usize" => d::<usize>(bytes),
        "i8" => d::<i8>(bytes),
        "i16" => d::<i16>(bytes),
        "i32" => d::<i32>(bytes),
        "i64" => d::<i64>(bytes),
        "isize" => d::<isize>(bytes),
        "bool" => d::<bool>(bytes),
        "String" => d::<String>(bytes),
        _ => None,
    }
}
