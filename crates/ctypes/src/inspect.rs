//! Decoding a Value's or an Array's body for tools (`shmkit ls`, `shmkit inspect`).

use shmkit_core::{BodyState, Kind, Object};
use shmkit_sync::raw::describe_owner;

use crate::block::{value_body_len, Control, DATA_OFFSET};
use crate::seqlock::{copy_load, ReadOutcome};
use crate::twin;

/// How many elements of an Array are shown.
const SHOWN: usize = 16;
/// How many bytes of a `c` (char) array are shown as text.
const SHOWN_CHARS: usize = 64;
/// How many bytes of the elements are read at most (a non-primitive element can be large:
/// only its start is shown).
const SHOWN_BYTES: usize = 256;
/// How many times a read racing writers is tried before giving up.
const TRIES: u32 = 10_000;

/// The state of `obj`'s body if it is a Value or an Array (`None` otherwise): the value, or
/// the first elements, read consistently without the lock and decoded by their ctypes
/// type code; the lock's owner; whether a write was repaired after its writer died.
pub fn inspect(obj: &Object) -> Option<BodyState> {
    let kind = obj.kind()?;
    if kind != Kind::Value && kind != Kind::Array {
        return None;
    }
    let info = obj.info();
    let (code, size) = (info.elem.code, info.elem.size);
    let (count, size_n) = (usize::try_from(info.elem_count).ok(), usize::try_from(size).ok());
    if kind == Kind::Value {
        // A Value has exactly one element in two copies (see `twin`); the whole body is
        // that, or it was made by another version.
        if count != Some(1) {
            return Some(BodyState::problem("a Value's element count is not 1"));
        }
        if size_n.and_then(value_body_len) != Some(obj.body_len()) {
            return Some(BodyState::problem(
                "the body is not this version's two-copy Value layout (an older shmkit may have made it): \
                 remove it and create it again",
            ));
        }
    }
    // The bytes of the elements: an Array's count × size, a Value's two copies.
    let span = |n: usize, s: usize| match kind {
        Kind::Value => twin::stride(s)?.checked_mul(2),
        _ => n.checked_mul(s),
    };
    let fits =
        count.zip(size_n).and_then(|(n, s)| Some((n, s, obj.region::<u8>(DATA_OFFSET, span(n, s)?).ok()?)));
    let (Some((count, size, data)), Ok(ctl)) = (fits, obj.view::<Control>(0)) else {
        return Some(BodyState::problem("the body is too small for its elements"));
    };
    if size == 0 {
        // Validation refuses it; a decoder divides by no header's numbers all the same.
        return Some(BodyState::problem("the element size is 0"));
    }
    // Whole elements while they fit in SHOWN_BYTES; else the start of the first one.
    let shown = if code == b'c' { count.min(SHOWN_CHARS) } else { count.min(SHOWN) };
    let shown = shown.min(SHOWN_BYTES / size).min(count);
    let truncated = shown == 0 && count > 0;
    let len = if truncated { SHOWN_BYTES } else { shown * size };
    let mut bytes = vec![0u8; len];
    let mut read = false;
    // A Value's copy `i` starts `i * stride` bytes into `data` (copy 1 only for a Value
    // larger than a word, whose `data` holds two strides).
    let stride = twin::stride(size).unwrap_or(0);
    for _ in 0..TRIES {
        // `data` holds `count * size` bytes of the body (a checked region) for an Array,
        // `2 * stride` for a Value; from the start of either copy that is at least
        // `bytes.len()`: `shown <= count` whole elements, or, when `truncated`,
        // SHOWN_BYTES < size bytes of the first.
        let mut copy = |i: usize| {
            let (src, dst, n) = (data.as_ptr().wrapping_add(i * stride), bytes.as_mut_ptr(), bytes.len());
            // SAFETY: `src` starts a copy inside `data`, which holds `n` bytes from there
            // (above); `dst` is private memory of `n` bytes.
            unsafe { copy_load(src, dst, n) }
        };
        let outcome = match kind {
            Kind::Value if twin::is_word(size) => {
                copy(0);
                ReadOutcome::Done
            }
            Kind::Value => ctl.twin().try_read(copy),
            _ => ctl.seq().try_read(|| copy(0)),
        };
        if outcome == ReadOutcome::Done {
            read = true;
            break;
        }
        std::hint::spin_loop();
    }
    let shmkit_sync::raw::LockSnapshot { owner, waiters } = ctl.lock.snapshot();
    let mut state = BodyState::new();
    let value = if !read {
        "(being written: no consistent read)".to_owned()
    } else if code == b'c' {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        format!("{:?}", String::from_utf8_lossy(&bytes[..end]))
    } else if truncated {
        format!("{}… ({size} bytes{})", decode(code, &bytes), if count > 1 { ", each" } else { "" })
    } else {
        let items: Vec<String> = bytes.chunks_exact(size).map(|e| decode(code, e)).collect();
        match kind {
            Kind::Value => items.join(""),
            _ if count > shown => format!("[{}, … {} more]", items.join(", "), count - shown),
            _ => format!("[{}]", items.join(", ")),
        }
    };
    if kind == Kind::Array {
        state = state.field("length", count as u64);
    }
    let type_name = if code == 0 { "non-primitive".to_owned() } else { (code as char).to_string() };
    Some(
        state
            .value(&value)
            .field("type code", type_name)
            .field("element size", size as u64)
            .field("value", value)
            .field("lock", describe_owner(obj, owner))
            .field("lock waiters", waiters)
            .field(
                "write repaired after its writer died",
                ctl.recovered.load(std::sync::atomic::Ordering::Relaxed) != 0,
            ),
    )
}

/// One element's bytes, decoded by its ctypes type code (native byte order); hex when the
/// code is unknown or does not match the size.
fn decode(code: u8, e: &[u8]) -> String {
    macro_rules! num {
        ($t:ty) => {
            <[u8; std::mem::size_of::<$t>()]>::try_from(e).map(|b| <$t>::from_ne_bytes(b).to_string()).ok()
        };
    }
    let text = match code {
        b'b' => num!(i8),
        b'B' => num!(u8),
        b'h' => num!(i16),
        b'H' => num!(u16),
        b'i' => num!(i32),
        b'I' => num!(u32),
        b'q' | b'l' | b'n' => num!(i64),
        b'Q' | b'L' | b'N' => num!(u64),
        b'f' => num!(f32),
        b'd' => num!(f64),
        b'?' => (e.len() == 1).then(|| (if e[0] != 0 { "True" } else { "False" }).to_owned()),
        _ => None,
    };
    text.unwrap_or_else(|| format!("0x{}", e.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}
