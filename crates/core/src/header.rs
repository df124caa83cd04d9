//! The object header: the first bytes of every shmkit object, and their validation.
//!
//! ```text
//! offset  0  magic           u64   b"SHMKIT\0\x01" read as little-endian
//!         8  version         u32   FORMAT_VERSION
//!        12  kind            u32   Kind code
//!        16  state           u32   0 initialising, 1 ready (futex word; published last)
//!        20  slots           u32   participant table entries
//!        24  total_size      u64   must equal the file size
//!        32  body_offset     u64   = body_offset(slots), a multiple of CACHE_LINE
//!        40  body_len        u64   body_offset + body_len = total_size
//!        48  elem_size       u64   \
//!        56  elem_count      u64    | element layout
//!        64  elem_align      u32    |
//!        68  type_code       u32    | ctypes code ('i', 'd', ...) or 0
//!        72  type_hash       u64   /  FNV-1a of the Rust type name
//!        80  creator_pid     u32
//!        84  creator_uid     u32
//!        88  creator_start   u64   creator's start time, clock ticks after boot
//!        96  created_ns      u64   creation time, ns after the Unix epoch
//!       104  flags           u64   kind-specific
//!       112  type name       16 bytes: the element type's name, for display (zero: unknown)
//!       128  participants    slots × 16 bytes: state u32, role u32, pid u32, generation u32
//!   body_offset  body
//! ```
//!
//! Every field is an atomic: peers may write any byte at any time, and the header is read
//! once into a [`HeaderSnapshot`] that is then validated as plain data.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::OpenError;
pub use crate::kind::{Kind, KindCode, TypeDesc, TypeName};

/// The magic number that starts every shmkit object.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHMKIT\0\x01");

/// The format version this library writes and accepts. Version 2: an event count's waiter
/// word carries the fence mode in its top two bits (see [`asym`](crate::asym)), and its
/// notifiers may skip their fence, which a version-1 waiter does not expect. Version 3: a
/// queue of elements of 64 bytes or more gives each slot's sequence a cache line of its
/// own and starts the value on the next. Version 4: a waiter sets a bit in the waiter word
/// before it sleeps, and notifiers enter the kernel only when it is set (see
/// [`EventCount`](crate::EventCount)), which a version-3 waiter does not do.
pub const FORMAT_VERSION: u32 = 4;

/// `state` while the creator is building the object.
pub const STATE_INIT: u32 = 0;
/// `state` once the object is complete (stored with `Release` after everything else).
pub const STATE_READY: u32 = 1;

/// The alignment of the body, and the unit that keeps hot fields apart (128 bytes: two
/// x86-64 lines, which its adjacent-line prefetcher pulls together, or one line on some
/// arm64 cores).
pub const CACHE_LINE: u64 = 128;

/// The size of the fixed part of the header.
pub const HEADER_SIZE: u64 = 128;

/// The size of one participant table entry.
pub const PARTICIPANT_SIZE: u64 = 16;

/// The most participant slots an object can have.
pub const MAX_SLOTS: u32 = 4096;

/// The default number of participant slots.
pub const DEFAULT_SLOTS: u32 = 64;

/// The element type's name as the header keeps it, in `reserved` (16 bytes).
fn type_name_of(h: &Header) -> TypeName {
    let mut b = [0; TypeName::LEN];
    b[..8].copy_from_slice(&h.reserved[0].load(Ordering::Relaxed).to_le_bytes());
    b[8..].copy_from_slice(&h.reserved[1].load(Ordering::Relaxed).to_le_bytes());
    TypeName(b)
}

/// Stores the element type's name in the header's `reserved` words.
pub(crate) fn store_type_name(h: &Header, name: TypeName) {
    let (a, b) = name.0.split_at(8);
    h.reserved[0].store(u64::from_le_bytes(a.try_into().unwrap_or_default()), Ordering::Relaxed);
    h.reserved[1].store(u64::from_le_bytes(b.try_into().unwrap_or_default()), Ordering::Relaxed);
}

/// The fixed part of the header, as laid out in shared memory.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)] // the module docs describe each field
pub struct Header {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub kind: AtomicU32,
    pub state: AtomicU32,
    pub slots: AtomicU32,
    pub total_size: AtomicU64,
    pub body_offset: AtomicU64,
    pub body_len: AtomicU64,
    pub elem_size: AtomicU64,
    pub elem_count: AtomicU64,
    pub elem_align: AtomicU32,
    pub type_code: AtomicU32,
    pub type_hash: AtomicU64,
    pub creator_pid: AtomicU32,
    pub creator_uid: AtomicU32,
    pub creator_start: AtomicU64,
    pub created_ns: AtomicU64,
    pub flags: AtomicU64,
    pub reserved: [AtomicU64; 2],
}

const _: () = assert!(std::mem::size_of::<Header>() as u64 == HEADER_SIZE);

/// One entry of the participant table, as laid out in shared memory.
///
/// The entry is only a label: who holds the slot is decided by the open-file-description
/// lock on byte `slot` of the file, which the kernel drops when the holder dies.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct ParticipantEntry {
    /// 0 free, 1 in use (a hint for display; the lock is the truth).
    pub state: AtomicU32,
    pub role: AtomicU32,
    pub pid: AtomicU32,
    /// Bumped by every process that takes the slot, so a stale holder id is told apart.
    pub generation: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<ParticipantEntry>() as u64 == PARTICIPANT_SIZE);

/// Where the body starts for a table of `slots` entries.
pub const fn body_offset(slots: u32) -> u64 {
    let end = HEADER_SIZE + slots as u64 * PARTICIPANT_SIZE;
    end.div_ceil(CACHE_LINE) * CACHE_LINE
}

/// A copy of the header's fields, read once from shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct HeaderSnapshot {
    pub magic: u64,
    pub version: u32,
    pub kind: u32,
    pub state: u32,
    pub slots: u32,
    pub total_size: u64,
    pub body_offset: u64,
    pub body_len: u64,
    pub elem: TypeDesc,
    pub elem_count: u64,
    pub creator_pid: u32,
    pub creator_uid: u32,
    pub creator_start: u64,
    pub created_ns: u64,
    pub flags: u64,
}

impl HeaderSnapshot {
    /// Reads every field once. `state` is read first, with `Acquire`, so that when it says
    /// ready the other fields are the creator's.
    pub fn read(h: &Header) -> Self {
        let state = h.state.load(Ordering::Acquire);
        let r = Ordering::Relaxed;
        Self {
            state,
            magic: h.magic.load(r),
            version: h.version.load(r),
            kind: h.kind.load(r),
            slots: h.slots.load(r),
            total_size: h.total_size.load(r),
            body_offset: h.body_offset.load(r),
            body_len: h.body_len.load(r),
            elem: TypeDesc {
                size: h.elem_size.load(r),
                align: h.elem_align.load(r),
                code: u8::try_from(h.type_code.load(r)).unwrap_or(0),
                name_hash: h.type_hash.load(r),
                name: type_name_of(h),
            },
            elem_count: h.elem_count.load(r),
            creator_pid: h.creator_pid.load(r),
            creator_uid: h.creator_uid.load(r),
            creator_start: h.creator_start.load(r),
            created_ns: h.created_ns.load(r),
            flags: h.flags.load(r),
        }
    }

    /// The kind, if the code is known.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_code(self.kind)
    }

    /// Checks that the element layout is one a Rust type can have and that the elements
    /// fit in the body: what every decoder and handle may then rely on (a size of 0 would
    /// make element-wise arithmetic divide by zero, an alignment over [`CACHE_LINE`] cannot
    /// be honoured by a body aligned to it).
    fn elem_layout(&self) -> Result<(), OpenError> {
        let corrupt = |reason| Err(OpenError::Corrupt { reason });
        let TypeDesc { size, align, code, .. } = self.elem;
        if size == 0 {
            return corrupt("the element size is 0");
        }
        if !align.is_power_of_two() {
            return corrupt("the element alignment is not a power of two");
        }
        if u64::from(align) > CACHE_LINE {
            return corrupt("the element alignment is over 128 bytes");
        }
        if size % u64::from(align) != 0 {
            return corrupt("the element size is not a multiple of its alignment");
        }
        if code_size(code).is_some_and(|expected| expected != size) {
            return corrupt("the element size does not match its type code");
        }
        if size.checked_mul(self.elem_count).is_none_or(|bytes| bytes > self.body_len) {
            return corrupt("the elements do not fit in the body");
        }
        Ok(())
    }

    /// Checks that the header is a complete, self-consistent shmkit header for a file of
    /// `file_size` bytes, and that it matches `expect`.
    ///
    /// # Errors
    ///
    /// The first mismatch found, in this order: magic, version, readiness, size, shape,
    /// kind, type, count.
    pub fn validate(&self, file_size: u64, expect: &Expect) -> Result<(), OpenError> {
        if self.magic != MAGIC {
            return Err(OpenError::BadMagic { found: self.magic });
        }
        if self.version != FORMAT_VERSION {
            return Err(OpenError::VersionMismatch { expected: FORMAT_VERSION, found: self.version });
        }
        if self.state != STATE_READY {
            return Err(OpenError::Corrupt { reason: "state is neither initialising nor ready" });
        }
        if self.total_size != file_size {
            return Err(OpenError::SizeMismatch { expected: self.total_size, found: file_size });
        }
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(OpenError::Corrupt { reason: "participant slot count out of range" });
        }
        if self.body_offset != body_offset(self.slots) {
            return Err(OpenError::Corrupt { reason: "body offset does not follow the participant table" });
        }
        if self.body_offset.checked_add(self.body_len) != Some(self.total_size) {
            return Err(OpenError::Corrupt { reason: "body does not end at the end of the file" });
        }
        self.elem_layout()?;
        if let Some(kind) = expect.kind {
            if self.kind != kind.code() {
                return Err(OpenError::KindMismatch { expected: kind, found: KindCode(self.kind) });
            }
        }
        if let Some(elem) = expect.elem {
            if self.elem != elem {
                return Err(OpenError::TypeMismatch { expected: elem, found: self.elem });
            }
        }
        if let Some(count) = expect.count {
            if self.elem_count != count {
                return Err(OpenError::CountMismatch { expected: count, found: self.elem_count });
            }
        }
        Ok(())
    }
}

/// The size of the elements of ctypes type code `code`, for the codes shmkit writes
/// (`None` for 0, a non-primitive type, and for codes it does not know).
fn code_size(code: u8) -> Option<u64> {
    let size = match code {
        b'b' | b'B' | b'c' | b'?' => 1,
        b'h' | b'H' => 2,
        b'i' | b'I' | b'f' => 4,
        b'q' | b'Q' | b'd' => 8,
        b'n' | b'N' => std::mem::size_of::<usize>(),
        _ => return None,
    };
    Some(size as u64)
}

/// What an opener expects of an object; `None` fields accept anything.
///
/// # Examples
///
/// ```
/// use shmkit::{Expect, Kind, TypeDesc};
///
/// let e = Expect::kind(Kind::Array).elem(TypeDesc::of::<f64>()).count(10);
/// assert_eq!(e.count, Some(10));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// The kind of primitive.
    pub kind: Option<Kind>,
    /// The element type.
    pub elem: Option<TypeDesc>,
    /// The element count or capacity.
    pub count: Option<u64>,
}

impl Expect {
    /// Accept any valid object (what `shmkit inspect` does).
    pub fn any() -> Self {
        Self::default()
    }

    /// Expect kind `kind`.
    pub fn kind(kind: Kind) -> Self {
        Self { kind: Some(kind), ..Self::default() }
    }

    /// Also expect element type `elem`.
    pub fn elem(mut self, elem: TypeDesc) -> Self {
        self.elem = Some(elem);
        self
    }

    /// Also expect element count `count`.
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap buffer aligned and sized like a small object, for Miri.
    fn heap_object(slots: u32, body_len: u64) -> (Vec<AtomicU64>, u64) {
        let total = body_offset(slots) + body_len;
        ((0..total.div_ceil(8)).map(|_| AtomicU64::new(0)).collect(), total)
    }

    fn header(buf: &[AtomicU64]) -> &Header {
        // SAFETY: the buffer is at least HEADER_SIZE bytes, 8-aligned, interior-mutable,
        // and `Header` is made of atomics, for which any bit pattern is valid.
        unsafe { &*buf.as_ptr().cast::<Header>() }
    }

    fn write_valid(h: &Header, slots: u32, total: u64) {
        let r = Ordering::Relaxed;
        h.magic.store(MAGIC, r);
        h.version.store(FORMAT_VERSION, r);
        h.kind.store(Kind::Array.code(), r);
        h.slots.store(slots, r);
        h.total_size.store(total, r);
        h.body_offset.store(body_offset(slots), r);
        h.body_len.store(total - body_offset(slots), r);
        let t = TypeDesc::of::<i32>();
        h.elem_size.store(t.size, r);
        h.elem_align.store(t.align, r);
        h.type_code.store(u32::from(t.code), r);
        h.type_hash.store(t.name_hash, r);
        h.elem_count.store(10, r);
        h.state.store(STATE_READY, Ordering::Release);
    }

    #[test]
    fn body_offsets_are_aligned_past_the_table() {
        for slots in [1, 2, 7, 8, 64, MAX_SLOTS] {
            let off = body_offset(slots);
            assert_eq!(off % CACHE_LINE, 0);
            assert!(off >= HEADER_SIZE + u64::from(slots) * PARTICIPANT_SIZE);
            assert!(off < HEADER_SIZE + u64::from(slots) * PARTICIPANT_SIZE + CACHE_LINE);
        }
    }

    #[test]
    fn a_valid_header_validates() {
        let (buf, total) = heap_object(4, 40);
        let h = header(&buf);
        write_valid(h, 4, total);
        let snap = HeaderSnapshot::read(h);
        let expect = Expect::kind(Kind::Array).elem(TypeDesc::of::<i32>()).count(10);
        snap.validate(total, &expect).unwrap();
        snap.validate(total, &Expect::any()).unwrap();
    }

    #[test]
    fn each_mismatch_has_its_own_error() {
        let (buf, total) = heap_object(4, 40);
        let h = header(&buf);
        let check = |expect: Expect, size: u64| HeaderSnapshot::read(h).validate(size, &expect);

        write_valid(h, 4, total);
        assert!(matches!(check(Expect::any(), total + 1), Err(OpenError::SizeMismatch { .. })));
        assert!(matches!(
            check(Expect::kind(Kind::Queue), total),
            Err(OpenError::KindMismatch { expected: Kind::Queue, found: KindCode(10) })
        ));
        assert!(matches!(
            check(Expect::any().elem(TypeDesc::of::<u32>()), total),
            Err(OpenError::TypeMismatch { .. })
        ));
        assert!(matches!(
            check(Expect::any().count(11), total),
            Err(OpenError::CountMismatch { expected: 11, found: 10 })
        ));

        h.version.store(FORMAT_VERSION + 1, Ordering::Relaxed);
        assert!(matches!(check(Expect::any(), total), Err(OpenError::VersionMismatch { .. })));

        write_valid(h, 4, total);
        h.magic.store(0x1234, Ordering::Relaxed);
        assert!(matches!(check(Expect::any(), total), Err(OpenError::BadMagic { found: 0x1234 })));

        write_valid(h, 4, total);
        h.slots.store(0, Ordering::Relaxed);
        assert!(matches!(check(Expect::any(), total), Err(OpenError::Corrupt { .. })));

        write_valid(h, 4, total);
        h.body_len.store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(check(Expect::any(), total), Err(OpenError::Corrupt { .. })));

        write_valid(h, 4, total);
        h.body_offset.store(8, Ordering::Relaxed);
        assert!(matches!(check(Expect::any(), total), Err(OpenError::Corrupt { .. })));
    }

    #[test]
    fn impossible_element_layouts_are_corrupt() {
        let (buf, total) = heap_object(4, 40);
        let h = header(&buf);
        const R: Ordering = Ordering::Relaxed;
        type Forge = fn(&Header);
        let cases: [(&str, Forge); 9] = [
            ("size 0", |h| h.elem_size.store(0, R)),
            ("size 0, count 0", |h| {
                h.elem_size.store(0, R);
                h.elem_count.store(0, R);
            }),
            ("align 0", |h| h.elem_align.store(0, R)),
            ("align 3", |h| h.elem_align.store(3, R)),
            ("align 256", |h| {
                h.elem_align.store(256, R);
                h.elem_size.store(256, R);
                h.elem_count.store(0, R);
            }),
            ("size not a multiple of align", |h| h.elem_size.store(6, R)),
            ("size not the type code's", |h| h.elem_size.store(8, R)),
            ("size times count overflows", |h| h.elem_count.store(u64::MAX / 2, R)),
            ("elements past the body", |h| h.elem_count.store(11, R)),
        ];
        for (what, forge) in cases {
            write_valid(h, 4, total);
            forge(h);
            let got = HeaderSnapshot::read(h).validate(total, &Expect::any());
            assert!(matches!(got, Err(OpenError::Corrupt { .. })), "{what}: {got:?}");
        }
        // A non-primitive element of any size that is a multiple of its alignment is fine.
        write_valid(h, 4, total);
        h.type_code.store(0, R);
        h.elem_size.store(24, R);
        h.elem_align.store(8, R);
        h.elem_count.store(1, R);
        HeaderSnapshot::read(h).validate(total, &Expect::any()).unwrap();
    }

    #[test]
    fn type_codes_follow_ctypes() {
        assert_eq!(TypeDesc::of::<f64>().code, b'd');
        assert_eq!(TypeDesc::of::<u8>().code, b'B');
        assert_eq!(TypeDesc::of::<[u8; 3]>().code, 0);
        assert_eq!(TypeDesc::of::<i64>().size, 8);
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::describe(999), "unknown kind 999");
    }
}
