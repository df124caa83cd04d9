//! The tag a typed message carries (`send`/`recv`): the sender's type name, so that a
//! receive of another type is refused with both names rather than decoded into garbage.
//!
//! A typed frame's payload is the tag's version byte, the name's length (one byte), the
//! name, then the value encoded with postcard. Names are compared as a header compares
//! element types — without module paths — and after one step that keeps what serde
//! encodes alike together: references are dropped, `str` is `String`, `[T]` is `Vec<T>`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::TypeDesc;

use crate::error::{RecvError, SendError};
use crate::frame;

/// The tag's format.
const VERSION: u8 = 1;

/// The longest name a tag holds; longer ones are cut (at a character boundary).
const MAX_NAME: usize = 255;

/// `T`'s name on the wire.
pub(crate) fn name_of<T: ?Sized>() -> String {
    let full = TypeDesc::name_of::<T>();
    let mut name = full.trim_start_matches('&');
    while let Some(rest) = name.strip_prefix("mut ").or_else(|| name.strip_prefix('&')) {
        name = rest;
    }
    let mut name = match name {
        "str" => "String".to_owned(),
        _ if name.starts_with('[') && name.ends_with(']') && !name.contains(';') => {
            format!("Vec<{}>", &name[1..name.len() - 1])
        }
        _ => name.to_owned(),
    };
    if name.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}

/// The payload `send` writes for `value`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, SendError> {
    let name = name_of::<T>();
    let mut out = vec![VERSION, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    postcard::to_extend(value, out).map_err(SendError::Encode)
}

/// The value in a message received with `flags`, if it was sent as a `T`.
pub(crate) fn decode<T: DeserializeOwned>(flags: u32, bytes: &[u8]) -> Result<T, RecvError> {
    let expected = || name_of::<T>();
    if flags & frame::TYPED == 0 {
        return Err(RecvError::TypeMismatch { expected: expected(), found: "raw bytes (send_bytes)".into() });
    }
    let (name, value) = match bytes {
        [VERSION, len, rest @ ..] if rest.len() >= usize::from(*len) => rest.split_at(usize::from(*len)),
        _ => return Err(RecvError::Corrupt { reason: "a typed message without a readable type tag" }),
    };
    let found = String::from_utf8_lossy(name);
    if found != expected() {
        return Err(RecvError::TypeMismatch { expected: expected(), found: found.into_owned() });
    }
    postcard::from_bytes(value).map_err(RecvError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_serde_encodes_alike_match() {
        assert_eq!(name_of::<&str>(), "String");
        assert_eq!(name_of::<String>(), "String");
        assert_eq!(name_of::<[u64]>(), "Vec<u64>");
        assert_eq!(name_of::<&[u64]>(), "Vec<u64>");
        assert_eq!(name_of::<Vec<u64>>(), "Vec<u64>");
        assert_eq!(name_of::<[u64; 3]>(), "[u64; 3]");
        assert_eq!(name_of::<&mut Vec<u8>>(), "Vec<u8>");
        assert_eq!(name_of::<std::collections::HashMap<String, u32>>(), "HashMap<String, u32>");
    }

    #[test]
    fn a_value_comes_back_only_as_its_own_type() {
        let bytes = encode("a string").unwrap();
        assert_eq!(decode::<String>(frame::TYPED, &bytes).unwrap(), "a string");
        let err = decode::<Vec<u64>>(frame::TYPED, &bytes).unwrap_err();
        assert_eq!(err, RecvError::TypeMismatch { expected: "Vec<u64>".into(), found: "String".into() });
        assert!(matches!(decode::<String>(frame::BYTES, &bytes), Err(RecvError::TypeMismatch { .. })));
        assert!(matches!(decode::<String>(frame::TYPED, &[9, 9]), Err(RecvError::Corrupt { .. })));
    }
}
