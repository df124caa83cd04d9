//! What tools are told about an object's body: the decoded state of a queue, pipe,
//! semaphore, value, as `shmkit ls` and `shmkit inspect` show it.
//!
//! Each primitive's crate decodes its own body (it alone knows the layout) into a
//! [`BodyState`]; the decoding reads shared memory once per field, bounds-checks what it
//! reads and never trusts a peer's numbers beyond displaying them.

use std::fmt;

use crate::{Object, ParticipantId};

/// One decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// An unsigned number.
    U64(u64),
    /// A signed number.
    I64(i64),
    /// A floating-point number.
    F64(f64),
    /// Yes or no.
    Bool(bool),
    /// Anything else, already formatted.
    Text(String),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::U64(v) => write!(f, "{v}"),
            FieldValue::I64(v) => write!(f, "{v}"),
            FieldValue::F64(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{}", if *v { "yes" } else { "no" }),
            FieldValue::Text(v) => f.write_str(v),
        }
    }
}

macro_rules! from_number {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for FieldValue {
            fn from(v: $t) -> Self {
                FieldValue::$v(v.into())
            }
        }
    )*};
}
from_number!(u64 => U64, u32 => U64, u16 => U64, u8 => U64, i64 => I64, i32 => I64, i16 => I64, i8 => I64, f64 => F64, f32 => F64, bool => Bool, String => Text, &str => Text);

/// The decoded state of an object's body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyState {
    /// How many items (queues) or bytes (pipes) it holds at most.
    pub capacity: Option<u64>,
    /// How many it holds now: a snapshot, stale as soon as it is read.
    pub fill: Option<u64>,
    /// The value, for semaphores, events, values and locks, formatted.
    pub value: Option<String>,
    /// What is wrong with the body, if its layout is not one shmkit makes.
    pub problem: Option<String>,
    /// Every decoded field, in order.
    pub fields: Vec<(String, FieldValue)>,
}

impl BodyState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// A body that could not be decoded, and why.
    pub fn problem(reason: impl Into<String>) -> Self {
        Self { problem: Some(reason.into()), ..Self::default() }
    }

    /// Adds a field.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<FieldValue>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// Sets the capacity and fill.
    pub fn fill(mut self, fill: u64, capacity: u64) -> Self {
        self.fill = Some(fill);
        self.capacity = Some(capacity);
        self
    }

    /// Sets the value shown in listings.
    pub fn value(mut self, value: impl fmt::Display) -> Self {
        self.value = Some(value.to_string());
        self
    }
}

/// Who participant `id` of `obj` is, for display: `pid 4242 (alive)`, `pid 4242 (dead)`,
/// or `a participant that has left` when its slot is free or holds someone else now.
pub fn holder(obj: &Object, id: ParticipantId) -> String {
    match obj.participants().into_iter().find(|p| p.id == id) {
        Some(p) => format!("pid {} ({})", p.pid, if p.alive { "alive" } else { "dead" }),
        None => "a participant that has left".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_formats() {
        let s = BodyState::new().fill(3, 8).value("set").field("closed", false).field("waiters", 2u32);
        assert_eq!((s.fill, s.capacity, s.value.as_deref()), (Some(3), Some(8), Some("set")));
        let shown: Vec<String> = s.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(shown, ["closed=no", "waiters=2"]);
        assert_eq!(BodyState::problem("short").problem.as_deref(), Some("short"));
    }
}
