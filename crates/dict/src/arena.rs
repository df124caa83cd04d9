//! The arena: an append-only run of nodes in one generation object, read through bounds
//! checks and written above the committed end only.
//!
//! # Format
//!
//! Offsets are from the arena's start, multiples of 8; 0 is "none" and the first node is
//! at [`START`]. Every node starts with a `u32` tag, all integers little-endian:
//!
//! | tag | node | layout after the tag |
//! | --- | --- | --- |
//! | 1 | hash-trie branch | `bitmap: u32`, one `u64` child per bit set |
//! | 2 | entry | `key_len: u32`, `val_len: u32`, `_: u32`, `hash: u64`, key, value |
//! | 3 | collision | `count: u32`, `hash: u64`, `count` entry offsets |
//! | 4 | vector branch | `count: u32`, `count` child offsets |
//! | 5 | vector leaf | `count: u32`, `count` element offsets |
//! | 6 | element | `len: u32`, the bytes |
//! | 7 | record | `_: u32`, `root, len, version, shift: u64` |
//!
//! A record is the state a commit points at: the root node, the entry count, the version,
//! and (for a vector) the root's shift.
//!
//! # Trust
//!
//! Nothing below the committed end is ever written again, and a node only points at nodes
//! written before it: every child's offset is below its parent's. A reader checks exactly
//! that, with every length against the committed end, so a forged arena cannot send it
//! out of bounds or round a cycle, and a traversal visits at most one node per 8 bytes.

use std::marker::PhantomData;
use std::ptr::NonNull;

/// The first node's offset.
pub const START: u64 = 8;

/// Node tags.
pub mod tag {
    /// Hash-trie branch.
    pub const BRANCH: u32 = 1;
    /// Dictionary entry.
    pub const ENTRY: u32 = 2;
    /// Entries whose keys' hashes are equal.
    pub const COLLISION: u32 = 3;
    /// Vector branch.
    pub const VBRANCH: u32 = 4;
    /// Vector leaf.
    pub const VLEAF: u32 = 5;
    /// A list element.
    pub const ELEM: u32 = 6;
    /// A commit record.
    pub const RECORD: u32 = 7;
}

/// A record's size in bytes.
pub const RECORD_SIZE: u64 = 40;

/// What makes an arena unreadable: a node that no correct writer wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

/// The arena has no room for what a writer appends: `need` bytes more at least.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full {
    /// How many bytes the failed append needed.
    pub need: u64,
}

/// What a writer's step can fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// No room: grow and try again.
    Full(Full),
    /// The committed state made no sense.
    Corrupt(Corrupt),
    /// The caller's step gave up (it keeps the reason).
    Abort,
}

impl From<Full> for WriteError {
    fn from(f: Full) -> Self {
        Self::Full(f)
    }
}

impl From<Corrupt> for WriteError {
    fn from(c: Corrupt) -> Self {
        Self::Corrupt(c)
    }
}

/// A committed state: what a commit word points at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The root node (0: empty).
    pub root: u64,
    /// How many entries or elements.
    pub len: u64,
    /// Bumped by every commit.
    pub version: u64,
    /// A vector's root shift (5 per level); 0 for a hash trie.
    pub shift: u64,
}

/// One node, as read.
#[derive(Clone, Copy, Debug)]
pub enum Node<'a> {
    /// A hash-trie branch: a bitmap of the 32 fragments present, and their children.
    Branch {
        /// Which fragments have a child.
        bitmap: u32,
        /// The children, in fragment order.
        children: Offsets<'a>,
    },
    /// A key and its value.
    Entry {
        /// The key's hash.
        hash: u64,
        /// The encoded key.
        key: &'a [u8],
        /// The encoded value.
        val: &'a [u8],
    },
    /// Entries with equal hashes.
    Collision {
        /// Their hash.
        hash: u64,
        /// The entries.
        entries: Offsets<'a>,
    },
    /// A vector branch or leaf (`leaf`): its children or elements.
    Vector {
        /// Whether the offsets are elements.
        leaf: bool,
        /// The children or elements.
        items: Offsets<'a>,
    },
    /// A list element.
    Elem(&'a [u8]),
}

/// A run of `u64` offsets in the arena.
#[derive(Clone, Copy, Debug)]
pub struct Offsets<'a>(&'a [u8]);

impl<'a> Offsets<'a> {
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len() / 8
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `i`th (`i < len`).
    pub fn get(&self, i: usize) -> u64 {
        u64_at(self.0, i * 8)
    }

    /// All of them.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u64> + 'a {
        self.0.chunks_exact(8).map(|c| u64_at(c, 0))
    }

    /// All of them, copied.
    pub fn to_vec(&self) -> Vec<u64> {
        self.iter().collect()
    }

    /// Up to 32 of them, copied onto the stack (a branch's children: no allocation).
    pub fn to_array(&self) -> Kids {
        let mut k = Kids { ids: [0; 32], len: 0 };
        for w in self.iter().take(32) {
            k.ids[k.len] = w;
            k.len += 1;
        }
        k
    }
}

/// Up to 32 offsets on the stack: a branch's children being rewritten.
#[derive(Clone, Copy, Debug)]
pub struct Kids {
    ids: [u64; 32],
    len: usize,
}

impl Kids {
    /// The offsets.
    pub fn as_slice(&self) -> &[u64] {
        &self.ids[..self.len]
    }

    /// The offsets, to change.
    pub fn as_mut_slice(&mut self) -> &mut [u64] {
        &mut self.ids[..self.len]
    }

    /// Inserts `w` at `i` (there is room: a branch has at most 31 children before).
    pub fn insert(&mut self, i: usize, w: u64) {
        self.ids.copy_within(i..self.len, i + 1);
        self.ids[i] = w;
        self.len += 1;
    }

    /// Removes the offset at `i`.
    pub fn remove(&mut self, i: usize) {
        self.ids.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }

    /// Appends `w` (there is room).
    pub fn push(&mut self, w: u64) {
        self.ids[self.len] = w;
        self.len += 1;
    }

    /// Removes the last offset.
    pub fn pop(&mut self) {
        self.len -= 1;
    }
}

impl std::ops::Deref for Kids {
    type Target = [u64];

    fn deref(&self) -> &[u64] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for Kids {
    fn deref_mut(&mut self) -> &mut [u64] {
        self.as_mut_slice()
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The committed part of an arena, `[0, end)`, read with bounds checks.
#[derive(Clone, Copy)]
pub struct View<'a> {
    base: NonNull<u8>,
    end: u64,
    _arena: PhantomData<&'a [u8]>,
}

impl<'a> View<'a> {
    /// A view of the `end` committed bytes at `base`.
    ///
    /// # Safety
    ///
    /// `base` points at `end` bytes that stay mapped for `'a` and that no correct process
    /// writes again (they are below a commit).
    pub unsafe fn new(base: NonNull<u8>, end: u64) -> Self {
        Self { base, end, _arena: PhantomData }
    }

    /// The committed bytes' length.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// `len` bytes at `at`, if they lie below the end.
    fn bytes(&self, at: u64, len: u64) -> Result<&'a [u8], Corrupt> {
        let stop = at.checked_add(len).ok_or(Corrupt("a length past the address space"))?;
        if stop > self.end {
            return Err(Corrupt("a node reaches past the committed end"));
        }
        // SAFETY: `[at, stop)` lies in the committed bytes, mapped for `'a` and never written
        // again by a correct process (see `new`); a usize holds it since the mapping does.
        Ok(unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(at as usize), len as usize) })
    }

    /// Checks that `at` may hold a node pointed at from `parent` (a node's offset, or a
    /// record's): aligned, not the null offset, below its parent.
    fn place(at: u64, parent: u64) -> Result<(), Corrupt> {
        if at < START || at % 8 != 0 {
            return Err(Corrupt("a node offset is misaligned or null"));
        }
        if at >= parent {
            return Err(Corrupt("a node points at one written after it"));
        }
        Ok(())
    }

    /// The record a commit word `at` points at.
    pub fn record(&self, at: u64) -> Result<Record, Corrupt> {
        Self::place(at, u64::MAX)?;
        let b = self.bytes(at, RECORD_SIZE)?;
        if u32_at(b, 0) != tag::RECORD {
            return Err(Corrupt("the commit word points at no record"));
        }
        let r =
            Record { root: u64_at(b, 8), len: u64_at(b, 16), version: u64_at(b, 24), shift: u64_at(b, 32) };
        if r.root != 0 {
            Self::place(r.root, at)?;
        }
        Ok(r)
    }

    /// The node at `at`, pointed at from `parent`.
    pub fn node(&self, at: u64, parent: u64) -> Result<Node<'a>, Corrupt> {
        Self::place(at, parent)?;
        let head = self.bytes(at, 8)?;
        let (tag, n) = (u32_at(head, 0), u32_at(head, 4));
        let after = at + 8;
        match tag {
            tag::BRANCH => {
                let count = u64::from(n.count_ones());
                Ok(Node::Branch { bitmap: n, children: Offsets(self.bytes(after, count * 8)?) })
            }
            tag::ENTRY => {
                let more = self.bytes(after, 16)?;
                let (klen, vlen) = (u64::from(n), u64::from(u32_at(more, 0)));
                let hash = u64_at(more, 8);
                let body = self.bytes(after + 16, klen + vlen)?;
                let (key, val) = body.split_at(klen as usize);
                Ok(Node::Entry { hash, key, val })
            }
            tag::COLLISION => {
                let hash = u64_at(self.bytes(after, 8)?, 0);
                Ok(Node::Collision { hash, entries: Offsets(self.bytes(after + 8, u64::from(n) * 8)?) })
            }
            tag::VBRANCH | tag::VLEAF => {
                if n == 0 || n > 32 {
                    return Err(Corrupt("a vector node's count is out of range"));
                }
                Ok(Node::Vector {
                    leaf: tag == tag::VLEAF,
                    items: Offsets(self.bytes(after, u64::from(n) * 8)?),
                })
            }
            tag::ELEM => Ok(Node::Elem(self.bytes(after, u64::from(n))?)),
            _ => Err(Corrupt("a node has an unknown tag")),
        }
    }
}

/// Appends nodes above the committed end of an arena of `cap` bytes.
pub struct Appender<'a> {
    base: NonNull<u8>,
    cap: u64,
    top: u64,
    _arena: PhantomData<&'a mut [u8]>,
}

impl<'a> Appender<'a> {
    /// An appender writing from `top` (the committed end) up to `cap`.
    ///
    /// # Safety
    ///
    /// `base` points at `cap` bytes mapped for `'a`; no one reads or writes `[top, cap)`
    /// meanwhile (the caller holds the writers' lock, and readers stop at the commit).
    pub unsafe fn new(base: NonNull<u8>, cap: u64, top: u64) -> Self {
        Self { base, cap, top: top.next_multiple_of(8), _arena: PhantomData }
    }

    /// Where the next node goes.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// A view of everything below [`top`](Self::top): the committed state and what this
    /// writer appended since (read back by a step that makes several changes; a root it
    /// appended is below `top`, so `top` is the parent to read it from).
    pub fn view(&self) -> View<'a> {
        // SAFETY: `[0, top)` is the committed part (never written again) and what this
        // writer appended (never written again either: it only appends above `top`).
        unsafe { View::new(self.base, self.top) }
    }

    /// Reserves `len` bytes (rounded up to 8) for one node; its offset.
    fn reserve(&mut self, len: u64) -> Result<u64, Full> {
        let at = self.top;
        let stop = at.checked_add(len.next_multiple_of(8)).ok_or(Full { need: len })?;
        if stop > self.cap {
            return Err(Full { need: len });
        }
        self.top = stop;
        Ok(at)
    }

    /// Writes `bytes` at `at`, inside a reservation.
    fn write(&mut self, at: u64, bytes: &[u8]) {
        debug_assert!(at + bytes.len() as u64 <= self.top);
        // SAFETY: `[at, at + len)` lies in a reservation: inside the `cap` mapped bytes,
        // above the commit, touched only by this writer (see `new`); `bytes` is a distinct,
        // readable slice.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.as_ptr().add(at as usize), bytes.len())
        };
    }

    /// A node of a tag, a `u32`, then `words`.
    fn words(&mut self, tag: u32, n: u32, words: &[u64]) -> Result<u64, Full> {
        let at = self.reserve(8 + 8 * words.len() as u64)?;
        self.write(at, &tag.to_le_bytes());
        self.write(at + 4, &n.to_le_bytes());
        for (i, w) in words.iter().enumerate() {
            self.write(at + 8 + 8 * i as u64, &w.to_le_bytes());
        }
        Ok(at)
    }

    /// A hash-trie branch.
    pub fn branch(&mut self, bitmap: u32, children: &[u64]) -> Result<u64, Full> {
        debug_assert_eq!(bitmap.count_ones() as usize, children.len());
        self.words(tag::BRANCH, bitmap, children)
    }

    /// An entry.
    pub fn entry(&mut self, hash: u64, key: &[u8], val: &[u8]) -> Result<u64, Full> {
        let too_long = Full { need: u64::MAX };
        let klen = u32::try_from(key.len()).map_err(|_| too_long)?;
        let vlen = u32::try_from(val.len()).map_err(|_| too_long)?;
        let at = self.reserve(24 + u64::from(klen) + u64::from(vlen))?;
        self.write(at, &tag::ENTRY.to_le_bytes());
        self.write(at + 4, &klen.to_le_bytes());
        self.write(at + 8, &vlen.to_le_bytes());
        self.write(at + 12, &[0; 4]);
        self.write(at + 16, &hash.to_le_bytes());
        self.write(at + 24, key);
        self.write(at + 24 + u64::from(klen), val);
        Ok(at)
    }

    /// A collision node.
    pub fn collision(&mut self, hash: u64, entries: &[u64]) -> Result<u64, Full> {
        let n = u32::try_from(entries.len()).map_err(|_| Full { need: u64::MAX })?;
        let at = self.reserve(16 + 8 * entries.len() as u64)?;
        self.write(at, &tag::COLLISION.to_le_bytes());
        self.write(at + 4, &n.to_le_bytes());
        self.write(at + 8, &hash.to_le_bytes());
        for (i, e) in entries.iter().enumerate() {
            self.write(at + 16 + 8 * i as u64, &e.to_le_bytes());
        }
        Ok(at)
    }

    /// A vector branch or leaf of 1 to 32 offsets.
    pub fn vector(&mut self, leaf: bool, items: &[u64]) -> Result<u64, Full> {
        debug_assert!((1..=32).contains(&items.len()));
        self.words(if leaf { tag::VLEAF } else { tag::VBRANCH }, items.len() as u32, items)
    }

    /// A list element.
    pub fn elem(&mut self, bytes: &[u8]) -> Result<u64, Full> {
        let len = u32::try_from(bytes.len()).map_err(|_| Full { need: u64::MAX })?;
        let at = self.reserve(8 + u64::from(len))?;
        self.write(at, &tag::ELEM.to_le_bytes());
        self.write(at + 4, &len.to_le_bytes());
        self.write(at + 8, bytes);
        Ok(at)
    }

    /// A record.
    pub fn record(&mut self, r: &Record) -> Result<u64, Full> {
        self.words(tag::RECORD, 0, &[r.root, r.len, r.version, r.shift])
    }
}

/// How deep a copy goes: a valid trie or vector is at most 14 levels deep; a forged chain
/// of single children must not exhaust the stack.
const MAX_DEPTH: u32 = 64;

/// Copies the subtree at `at` (below `parent`) into `a`, children first; its new offset.
pub fn copy(v: &View<'_>, a: &mut Appender<'_>, at: u64, parent: u64) -> Result<u64, WriteError> {
    copy_at(v, a, at, parent, 0)
}

fn copy_at(v: &View<'_>, a: &mut Appender<'_>, at: u64, parent: u64, depth: u32) -> Result<u64, WriteError> {
    if depth > MAX_DEPTH {
        return Err(Corrupt("a tree deeper than any correct writer makes").into());
    }
    let kids = |a: &mut Appender<'_>, items: Offsets<'_>| {
        items.iter().map(|c| copy_at(v, a, c, at, depth + 1)).collect::<Result<Vec<_>, _>>()
    };
    Ok(match v.node(at, parent)? {
        Node::Branch { bitmap, children } => {
            let k = kids(a, children)?;
            a.branch(bitmap, &k)?
        }
        Node::Entry { hash, key, val } => a.entry(hash, key, val)?,
        Node::Collision { hash, entries } => {
            let k = kids(a, entries)?;
            a.collision(hash, &k)?
        }
        // A leaf's elements lie below it like any child.
        Node::Vector { leaf, items } => {
            let k = kids(a, items)?;
            a.vector(leaf, &k)?
        }
        Node::Elem(bytes) => a.elem(bytes)?,
    })
}

/// The bytes of the live nodes under `root` (committed at `parent`), bounded by the
/// view: a node met more often than the arena could hold copies is a forgery.
pub fn measure(v: &View<'_>, root: u64, parent: u64) -> Result<u64, Corrupt> {
    if root == 0 {
        return Ok(0);
    }
    let mut total = 0u64;
    let mut stack = vec![(root, parent)];
    while let Some((at, from)) = stack.pop() {
        let node = v.node(at, from)?;
        let (size, kids) = match node {
            Node::Branch { children, .. } => (8 + 8 * children.len() as u64, Some(children)),
            Node::Entry { key, val, .. } => (24 + (key.len() + val.len()) as u64, None),
            Node::Collision { entries, .. } => (16 + 8 * entries.len() as u64, Some(entries)),
            Node::Vector { items, .. } => (8 + 8 * items.len() as u64, Some(items)),
            Node::Elem(b) => (8 + b.len() as u64, None),
        };
        total += size.next_multiple_of(8);
        if total > v.end() {
            return Err(Corrupt("nodes reached more often than the arena holds them"));
        }
        if let Some(k) = kids {
            stack.extend(k.iter().map(|c| (c, at)));
        }
    }
    Ok(total)
}

/// The hash of an encoded key: FNV-1a, then a 64-bit finaliser so every 5-bit fragment
/// depends on every byte. Fixed, so every build and every process agrees.
pub fn hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}
