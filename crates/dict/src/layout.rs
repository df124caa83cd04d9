//! Where a store's parts lie: the root object's control block and the generation
//! objects' (a control block, then the arena), their layouts for core's generic handle,
//! and the names they carry.

use std::ptr::NonNull;

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::{
    CreateError, EventCount, Expect, InPlace, Kind, Layout, Object, OpenError, Spec, TypeDesc,
};
use shmkit_sync::raw::RawLock;

/// The longest base name: room for `.g` and a 20-digit generation within a name's 200.
pub const MAX_BASE_LEN: usize = 176;

/// The smallest arena a generation gets: 1 MiB (pages are used as the arena fills), so
/// that a small, busy object is copied into a new generation once per megabyte written,
/// not every hundred writes.
pub const MIN_ARENA: u64 = 1 << 20;

/// A field alone on its 128 bytes (two cache lines, and the prefetched neighbour).
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct Line<T>(pub T);

// SAFETY: a `#[repr(C)]` wrapper of an atomic, padded: any bit pattern is valid.
unsafe impl InPlace for Line<AtomicU64> {}

/// The root's control block. The generation word, which every read loads, has its own
/// line: commits write the lock and the version, which would otherwise take that line
/// away from every reader on every commit.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct RootControl {
    /// The current generation (0: none yet, empty).
    pub gen: Line<AtomicU64>,
    /// Held by writers.
    pub lock: RawLock,
    /// Woken after every commit.
    pub changed: EventCount,
    /// The version of the last commit.
    pub version: AtomicU64,
    /// The first arena's size.
    pub hint: AtomicU64,
    /// The generation objects' file mode.
    pub mode: AtomicU32,
    /// Non-zero for an anonymous store: the last handle to go removes its names.
    pub anonymous: AtomicU32,
    /// Padding, an atomic like the rest.
    pub _pad: AtomicU32,
    /// The base name's length.
    pub base_len: AtomicU32,
    /// The base name of the generation objects, in bytes.
    pub base: [AtomicU64; MAX_BASE_LEN / 8],
}

// SAFETY: `#[repr(C)]`, made only of atomics, a RawLock and an event count (atomics): any
// bit pattern is valid, and peers write it concurrently.
unsafe impl InPlace for RootControl {}

/// A generation's control block.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct GenControl {
    /// The offset of the committed record (0: none yet).
    pub commit: AtomicU64,
    /// This generation's number.
    pub gen: AtomicU64,
    /// The arena's size in bytes.
    pub cap: AtomicU64,
    /// The root's name's length (for `shmkit gc`: a root's current generation is kept).
    pub root_len: AtomicU64,
    /// The root's name, in bytes.
    pub root: [AtomicU64; 25],
}

// SAFETY: as for `RootControl`: atomics only.
unsafe impl InPlace for GenControl {}

/// What a root is made with.
#[derive(Clone, Debug)]
pub struct RootParams {
    /// The generation objects' base name.
    pub base: String,
    /// The first arena's size.
    pub hint: u64,
    /// The generation objects' mode.
    pub mode: u32,
}

/// The root object of one kind (Dict, List, Namespace) and element type.
#[derive(Clone, Copy, Debug)]
pub struct RootLayout {
    /// The kind.
    pub kind: Kind,
    /// What the header records as its element type (`(K, V)`, `T`, or bytes).
    pub elem: TypeDesc,
}

impl Layout for RootLayout {
    type Params<'a> = RootParams;
    type Geometry = NonNull<RootControl>;

    fn spec(&self, _: &RootParams, participants: u32) -> Result<Spec, CreateError> {
        Ok(Spec::new(self.kind, std::mem::size_of::<RootControl>() as u64)
            .elem(self.elem, 1)
            .slots(participants))
    }

    fn expect(&self) -> Expect {
        Expect::kind(self.kind).elem(self.elem)
    }

    fn init(&self, obj: &Object, p: RootParams) -> Result<(), CreateError> {
        let ctl = obj.view::<RootControl>(0).map_err(CreateError::from_layout)?;
        ctl.hint.store(p.hint, Ordering::Relaxed);
        ctl.mode.store(p.mode, Ordering::Relaxed);
        let b = p.base.as_bytes();
        ctl.base_len.store(b.len() as u32, Ordering::Relaxed);
        for (w, chunk) in ctl.base.iter().zip(b.chunks(8)) {
            w.store(word_of(chunk), Ordering::Relaxed);
        }
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<NonNull<RootControl>, OpenError> {
        Ok(NonNull::from(obj.view::<RootControl>(0)?))
    }
}

/// A generation object.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenLayout;

/// A checked generation: its control block and arena.
#[derive(Clone, Copy, Debug)]
pub struct GenParts {
    pub(crate) ctl: NonNull<GenControl>,
    pub(crate) arena: NonNull<u8>,
    pub(crate) cap: u64,
}

const ARENA_AT: usize = std::mem::size_of::<GenControl>();

impl Layout for GenLayout {
    type Params<'a> = (u64, u64, &'a str);
    type Geometry = GenParts;

    fn spec(&self, &(_, cap, _): &(u64, u64, &str), participants: u32) -> Result<Spec, CreateError> {
        Ok(Spec::new(Kind::Generation, ARENA_AT as u64 + cap).slots(participants))
    }

    fn expect(&self) -> Expect {
        Expect::kind(Kind::Generation)
    }

    fn init(&self, obj: &Object, (gen, cap, root): (u64, u64, &str)) -> Result<(), CreateError> {
        let ctl = obj.view::<GenControl>(0).map_err(CreateError::from_layout)?;
        ctl.gen.store(gen, Ordering::Relaxed);
        ctl.cap.store(cap, Ordering::Relaxed);
        store_name(&ctl.root_len, &ctl.root, root);
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<GenParts, OpenError> {
        let ctl = obj.view::<GenControl>(0)?;
        let cap = ctl.cap.load(Ordering::Relaxed);
        if (ARENA_AT as u64).checked_add(cap) != Some(obj.info().body_len) {
            return Err(OpenError::Corrupt { reason: "a generation's arena does not fill its body" });
        }
        let len =
            usize::try_from(cap).map_err(|_| OpenError::Corrupt { reason: "a generation too large" })?;
        Ok(GenParts { ctl: NonNull::from(ctl), arena: obj.region::<u8>(ARENA_AT, len)?, cap })
    }
}

/// The name of generation `gen` of `base`.
pub fn gen_name(base: &str, gen: u64) -> String {
    format!("{base}.g{gen}")
}

pub(crate) fn segment_name_ok(b: &str) -> bool {
    !b.is_empty()
        && b.len() <= MAX_BASE_LEN
        && b.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}

/// A name's bytes, eight to a word.
pub(crate) fn word_of(chunk: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word[..chunk.len()].copy_from_slice(chunk);
    u64::from_le_bytes(word)
}

/// Stores `name` into a length word and name words (cut to fit).
pub(crate) fn store_name(len: &AtomicU64, words: &[AtomicU64], name: &str) {
    let b = &name.as_bytes()[..name.len().min(words.len() * 8)];
    len.store(b.len() as u64, Ordering::Relaxed);
    for (w, chunk) in words.iter().zip(b.chunks(8)) {
        w.store(word_of(chunk), Ordering::Relaxed);
    }
}

/// The root name a generation records, if it is a valid name.
pub fn root_of(ctl: &GenControl) -> Option<String> {
    let len =
        usize::try_from(ctl.root_len.load(Ordering::Relaxed)).ok().filter(|&l| l <= ctl.root.len() * 8)?;
    let bytes: Vec<u8> =
        ctl.root.iter().flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes()).take(len).collect();
    String::from_utf8(bytes).ok().filter(|n| shmkit_core::Name::new(n).is_ok())
}

/// Whether `shmkit gc` must keep the generation object `obj` whatever its participants:
/// why, if it is the current generation of a root that exists.
pub fn keep_generation(obj: &Object) -> Option<String> {
    let ctl = obj.view::<GenControl>(0).ok()?;
    let root = root_of(ctl)?;
    let r = Object::inspect(&root, &shmkit_core::OpenOptions::new()).ok()?;
    if !matches!(r.kind(), Some(Kind::Dict | Kind::List | Kind::Namespace)) {
        return None;
    }
    let rc = r.view::<RootControl>(0).ok()?;
    (rc.gen.0.load(Ordering::Acquire) == ctl.gen.load(Ordering::Relaxed))
        .then(|| format!("the current generation of {root}"))
}
