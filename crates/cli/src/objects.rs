//! What the command knows about one named object: its header, participants and body
//! state, gathered without registering as a participant (so looking never keeps an
//! object alive) and without mapping its file (so its owner cannot kill us with
//! `SIGBUS` by truncating it): every object is read as a private snapshot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use shmkit_core::segment::Listing;
use shmkit_core::{BodyState, HeaderSnapshot, Object, OpenError, OpenOptions, ParticipantInfo};

/// How long `ls`, `inspect` and `gc` wait for an object that is still being created.
pub const READY_WAIT: Duration = Duration::from_millis(200);

/// One named object as found in `/dev/shm`.
pub struct Entry {
    pub listing: Listing,
    /// The attached object, or why it could not be attached.
    pub object: Result<Object, OpenError>,
}

impl Entry {
    /// Looks at `listing`'s object: a snapshot read into private memory, the file opened
    /// read-only. Objects of other users are looked at too, never written.
    pub fn load(listing: Listing) -> Self {
        let opts = OpenOptions::new().allow_foreign(true).ready_timeout(READY_WAIT);
        let object = Object::snapshot(listing.name.as_str(), &opts);
        Self { listing, object }
    }

    pub fn name(&self) -> &str {
        self.listing.name.as_str()
    }

    /// The decoded body, when the object could be attached.
    pub fn body(&self) -> Option<BodyState> {
        self.object.as_ref().ok().map(body_state)
    }
}

/// The body state of `obj`, decoded by the crate that owns its kind; not decoded when
/// the snapshot holds only the header (a file over the snapshot limit).
pub fn body_state(obj: &Object) -> BodyState {
    let size = obj.info().total_size;
    if obj.segment().snapshot_len().is_some_and(|copied| copied < size) {
        let limit = show_size(shmkit_core::segment::SNAPSHOT_LIMIT);
        return BodyState::new().value(format!("(not read: over {limit})")).field(
            "not decoded",
            format!("the object is {}, over the {limit} that shmkit copies to look at", show_size(size)),
        );
    }
    shmkit_sync::inspect(obj)
        .or_else(|| shmkit_ctypes::inspect(obj))
        .or_else(|| shmkit_queue::inspect(obj))
        .or_else(|| shmkit_pipe::inspect(obj))
        .or_else(|| shmkit_mq::inspect(obj))
        .or_else(|| shmkit_dict::inspect(obj))
        .or_else(|| shmkit_connection::inspect(obj))
        .unwrap_or_default()
}

/// The element type as shown: a ctypes code, bytes, the type's name (with its size), or
/// `-` for objects whose element is their own state (locks, events, ...).
pub fn elem_type(info: &HeaderSnapshot) -> String {
    use shmkit_core::Kind;
    match (info.kind(), info.elem.code) {
        (Some(Kind::Pipe | Kind::SimplexPipe), _) => "bytes".to_owned(),
        (
            Some(
                Kind::Value
                | Kind::Array
                | Kind::Queue
                | Kind::JoinableQueue
                | Kind::SpscQueue
                | Kind::Dict
                | Kind::List,
            ),
            0,
        ) => match info.elem.name.get() {
            Some(_) => format!("{} ({} B)", info.elem.name, info.elem.size),
            None => format!("{} B", info.elem.size),
        },
        (Some(Kind::Bytes), _) => "bytes".to_owned(),
        (_, 0) => "-".to_owned(),
        (_, code) => format!("'{}'", code as char),
    }
}

/// Alive and dead participants.
pub fn counts(parts: &[ParticipantInfo]) -> (usize, usize) {
    let alive = parts.iter().filter(|p| p.alive).count();
    (alive, parts.len() - alive)
}

/// Seconds since the object was created, from its header's wall-clock time.
pub fn age(info: &HeaderSnapshot) -> Option<Duration> {
    let created = UNIX_EPOCH + Duration::from_nanos(info.created_ns);
    SystemTime::now().duration_since(created).ok()
}

/// `1h02m`, `3m12s`, `42s`, `0.3s`.
pub fn show_age(d: Option<Duration>) -> String {
    let Some(d) = d else { return "-".to_owned() };
    let s = d.as_secs();
    match s {
        0..=9 => format!("{:.1}s", d.as_secs_f64()),
        10..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// `512 B`, `4.0 KiB`, `1.5 MiB`.
pub fn show_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The body state as JSON: the summary and every field.
pub fn body_json(b: &BodyState) -> Value {
    let fields: serde_json::Map<String, Value> = b
        .fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                shmkit_core::FieldValue::U64(n) => json!(n),
                shmkit_core::FieldValue::I64(n) => json!(n),
                shmkit_core::FieldValue::F64(n) => json!(n),
                shmkit_core::FieldValue::Bool(b) => json!(b),
                shmkit_core::FieldValue::Text(t) => json!(t),
            };
            (k.clone(), v)
        })
        .collect();
    json!({
        "capacity": b.capacity,
        "fill": b.fill,
        "value": b.value,
        "problem": b.problem,
        "fields": fields,
    })
}

/// One participant as JSON.
pub fn participant_json(p: &ParticipantInfo) -> Value {
    json!({
        "slot": p.id.slot,
        "generation": p.id.generation,
        "role": p.role.as_str(),
        "pid": p.pid,
        "alive": p.alive,
    })
}
