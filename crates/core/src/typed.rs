//! The tag a typed message carries (a pipe's `send`/`recv`, a message queue's `put`/`get`):
//! the sender's type name, so that a receive of another type is refused with both names
//! rather than decoded into garbage. Built with the `serde` feature.
//!
//! A typed message is the tag's version byte, the name's length (one byte), the name,
//! then the value encoded with postcard. Names are compared as a header compares
//! element types — without module paths — and after one step that keeps what serde
//! encodes alike together: references are dropped, `str` is `String`, `[T]` is `Vec<T>`.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::TypeDesc;

/// Why a typed message could not be made or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypedError {
    /// The message was sent as another type (or as raw bytes).
    Mismatch {
        /// The type asked for.
        expected: String,
        /// The type it was sent as.
        found: String,
    },
    /// The message has no readable tag: a foreign or corrupt peer.
    Corrupt,
    /// The message was sent as the type asked for but does not decode.
    Decode(postcard::Error),
}

impl fmt::Display for TypedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mismatch { expected, found } => write!(
                f,
                "asked for a {expected}, but the message was sent as {found}; it is consumed: receive the type \
                 the other side sends"
            ),
            Self::Corrupt => f.write_str("a typed message without a readable type tag: a foreign or corrupt peer"),
            Self::Decode(e) => write!(
                f,
                "the message was sent as the type asked for but does not decode (did the type change between the \
                 two programs?): {e}"
            ),
        }
    }
}

impl std::error::Error for TypedError {}

/// How a message sent as raw bytes (not typed) is named in a [`TypedError::Mismatch`].
pub const RAW_BYTES: &str = "raw bytes (send_bytes)";

/// The tag's format.
const VERSION: u8 = 1;

/// The longest name a tag holds; longer ones are cut (at a character boundary).
const MAX_NAME: usize = 255;

/// `T`'s name on the wire.
pub fn name_of<T: ?Sized>() -> String {
    let mut name = serde_form(&TypeDesc::name_of::<T>());
    if name.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}

/// `name` with what serde encodes alike made alike, at every depth: references and
/// lifetimes dropped, `str` as `String`, a slice `[T]` as `Vec<T>` (an array `[T; N]`
/// stays: serde encodes it without a length).
fn serde_form(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    // The output position of each open '[', and whether a ';' came at its depth.
    let mut brackets: Vec<(usize, bool)> = Vec::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => {
                // A lifetime ('a ) or `mut ` after it goes too.
                if chars.peek() == Some(&'\'') {
                    while chars.next().is_some_and(|c| c != ' ') {}
                }
                if chars.clone().take(4).collect::<String>() == "mut " {
                    chars.nth(3);
                }
            }
            '[' => {
                brackets.push((out.len(), false));
                out.push('[');
            }
            ';' => {
                if let Some(last) = brackets.last_mut() {
                    last.1 = true;
                }
                out.push(';');
            }
            ']' => match brackets.pop() {
                Some((at, false)) => {
                    out.replace_range(at..at + 1, "Vec<");
                    out.push('>');
                }
                _ => out.push(']'),
            },
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                    word.push(n);
                    chars.next();
                }
                out.push_str(if word == "str" { "String" } else { &word });
            }
            c => out.push(c),
        }
    }
    out
}

/// The bytes of a typed message carrying `value`.
///
/// # Errors
///
/// If serde cannot encode the value (postcard's error).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    let name = name_of::<T>();
    let mut out = vec![VERSION, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    postcard::to_extend(value, out)
}

/// The value in typed message `bytes`, if it was sent as a `T`.
///
/// # Errors
///
/// [`TypedError::Mismatch`], [`TypedError::Corrupt`], [`TypedError::Decode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, TypedError> {
    let (name, value) = match bytes {
        [VERSION, len, rest @ ..] if rest.len() >= usize::from(*len) => rest.split_at(usize::from(*len)),
        _ => return Err(TypedError::Corrupt),
    };
    let found = String::from_utf8_lossy(name);
    let expected = name_of::<T>();
    if found != expected {
        return Err(TypedError::Mismatch { expected, found: found.into_owned() });
    }
    postcard::from_bytes(value).map_err(TypedError::Decode)
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
        assert_eq!(name_of::<(i32, &str)>(), "(i32, String)");
        assert_eq!(name_of::<Vec<&'static str>>(), "Vec<String>");
        assert_eq!(name_of::<&[&[u8]]>(), "Vec<Vec<u8>>");
        assert_eq!(name_of::<[&str; 2]>(), "[String; 2]");
        assert_eq!(name_of::<Option<&mut [u16]>>(), "Option<Vec<u16>>");
    }

    #[test]
    fn a_value_comes_back_only_as_its_own_type() {
        let bytes = encode("a string").unwrap();
        assert_eq!(decode::<String>(&bytes).unwrap(), "a string");
        let err = decode::<Vec<u64>>(&bytes).unwrap_err();
        assert_eq!(err, TypedError::Mismatch { expected: "Vec<u64>".into(), found: "String".into() });
        assert_eq!(decode::<String>(&[9, 9]), Err(TypedError::Corrupt));
    }
}
