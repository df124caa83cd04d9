//! The dict crate's arena algorithms (`shmkit_dict::{arena, hamt, vector}`) on the heap,
//! in two halves chosen by the first byte's low bit.
//!
//! **Model** (bit clear): a dict's hash trie and a list's radix vector, each in an arena of
//! its own, go through operations decoded from the input: inserts and removes of small
//! keys (under the real hash, or weakened ones that force deep splits and collision nodes),
//! pushes, pops, sets, inserts, removes, chained pushes (as `List::extend` makes them) and
//! bulk rebuilds of the vector (past 1024 elements: three levels), and compactions (`copy`
//! into a fresh arena, as a growth does). A write that finds the arena full compacts into
//! one twice the size (up to [`MAX_ARENA`]) and tries again, as the store does. Checked
//! against a `HashMap` and a `Vec` exactly: every insert says whether the key was new and
//! every remove whether it was there; after every operation the touched key or index and
//! the length; after a compaction and at the end, every key present and a sample of absent
//! ones, `for_each`'s entries (each once), `elements` and their bytes, and `get` at the
//! ends, at the edges of leaves and branches and at a sample of indices; a copy appends
//! exactly the bytes `measure` counts, and `measure` finds them again in the copy; and no
//! write step changes a committed byte.
//!
//! **Hostile** (bit set): the same arenas built from the input's tail, then a few
//! overwrites anywhere in their committed parts (words, bytes, counts, offsets pointing
//! elsewhere in the arena, a record's fields, the commit word itself: anywhere, or back at
//! an older record; or everything below the record rewritten as one long chain of nodes,
//! or a lattice whose paths multiply at every level), then every read entry point (`node`
//! and `record` at every offset, `hamt::get`, `for_each`, `vector::get`, `elements`,
//! `measure`, `copy` into a fresh arena and reads of the copy) and a run of write steps
//! (`hamt::insert`, `remove`, `vector::push`, `set`, `pop`, `build`, chained as the
//! handles chain them) on both arenas, so a trie is also read as a vector and the other
//! way round. Only the safety property is checked: nothing panics, nothing reads outside
//! the committed bytes (the address sanitizer watches the buffers), a write step leaves
//! every committed byte as it was, and every input ends (every loop here is bounded, so
//! an input that hangs, or runs out of memory, does so in the library).
//!
//! The seeds `regress-*` are inputs that found bugs of `vector`'s writes on forged records
//! (a full leaf given a 33rd item, shift and length overflows, a shift not a multiple of
//! 5); they now return errors.
//!
//! Input: `[mode]` (bit 0: hostile; bits 1-2: the hash; bits 3-5: the arena's first size,
//! 512 bytes to 64 KiB), then for the hostile half `[forgeries: n][seed: 8][n × 12 bytes]`,
//! then operations, one byte each with their arguments.
#![no_main]

use std::collections::HashMap;
use std::ptr::NonNull;

use libfuzzer_sys::fuzz_target;
use shmkit_dict::arena::{
    copy, hash, measure, tag, Appender, Corrupt, Node, Record, View, WriteError, RECORD_SIZE, START,
};
use shmkit_dict::{hamt, vector};

/// The largest arena a run grows to.
const MAX_ARENA: u64 = 64 << 10;

/// Operations per input.
const MAX_OPS: usize = 128;

/// Full checks (every key and index) and compactions asked for per input, besides the
/// final check and the compactions a full arena makes.
const MAX_FULL_CHECKS: usize = 3;

/// The fuzz input as a stream of bytes, zeros once it runs out.
struct Input<'a>(std::slice::Iter<'a, u8>);

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        self.0.next().copied()
    }

    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn word(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }
}

/// A key of 1 to 4 bytes: 256 of them.
fn key_of(b: u8) -> Vec<u8> {
    vec![b & 0x3f; 1 + usize::from(b >> 6)]
}

/// The hash a run gives `key`: the real one, or one that keeps few bits of it.
fn hash_with(kind: u8, key: &[u8]) -> u64 {
    let h = hash(key);
    match kind % 4 {
        0 => h,
        // Two fragments: collision nodes under a branch of branches.
        1 => h & 0x3ff,
        // Only the last (4-bit) fragment differs: splits down to the deepest level.
        2 => h & (0xf << 60),
        // Every key collides: one collision node at the root.
        _ => 5,
    }
}

/// An arena on the heap with its commit word, as a generation keeps them.
struct Heap {
    words: Vec<u64>,
    commit: u64,
    /// Every record committed, oldest first (a hostile peer may point the commit word back).
    history: Vec<u64>,
    /// The committed words before a write step, kept to compare with after it.
    before: Vec<u64>,
}

impl Heap {
    /// `cap` bytes, nothing committed.
    fn blank(cap: u64) -> Self {
        Self { words: vec![0; (cap / 8) as usize], commit: 0, history: Vec::new(), before: Vec::new() }
    }

    /// `cap` bytes holding an empty state.
    fn new(cap: u64) -> Self {
        let mut h = Self::blank(cap);
        h.commit_record(START, &Record::default()).expect("an empty record fits");
        h
    }

    fn cap(&self) -> u64 {
        self.words.len() as u64 * 8
    }

    /// The committed end, if the commit word leaves room for a record below the cap (what
    /// `Gen::at` checks before it reads).
    fn end(&self) -> Option<u64> {
        self.commit.checked_add(RECORD_SIZE).filter(|&e| e <= self.cap())
    }

    /// Appends `r` at `top` and commits it.
    fn commit_record(&mut self, top: u64, r: &Record) -> Result<(), WriteError> {
        let cap = self.cap();
        let base = NonNull::new(self.words.as_mut_ptr().cast::<u8>()).expect("a Vec's buffer");
        // SAFETY: `base` is this heap's buffer of `cap` bytes, borrowed mutably here and
        // read by no one while the appender lives.
        let mut a = unsafe { Appender::new(base, cap, top) };
        self.commit = a.record(r)?;
        self.history.push(self.commit);
        Ok(())
    }

    /// Runs `f` over the committed state (the view, the record's offset and the record).
    fn read<R>(&self, f: impl FnOnce(&View<'_>, u64, &Record) -> R) -> Result<R, Corrupt> {
        let end = self.end().ok_or(Corrupt("the commit word points past the arena"))?;
        let base = NonNull::from(&self.words[..]).cast::<u8>();
        // SAFETY: `[0, end)` lies in this heap's buffer (`end <= cap`), which stays
        // borrowed, and so unchanged, while the view lives (it does not outlive `f`).
        let v = unsafe { View::new(base, end) };
        let r = v.record(self.commit)?;
        Ok(f(&v, self.commit, &r))
    }

    /// One write step, as the store makes it: `op` over the committed state appends above
    /// it, and its record is committed. Whatever happens, no committed byte changes.
    fn write(
        &mut self,
        op: impl FnOnce(&View<'_>, u64, &Record, &mut Appender<'_>) -> Result<Record, WriteError>,
    ) -> Result<(), WriteError> {
        let end = self.end().ok_or(Corrupt("the commit word points past the arena"))?;
        let (cap, commit) = (self.cap(), self.commit);
        let base = NonNull::new(self.words.as_mut_ptr().cast::<u8>()).expect("a Vec's buffer");
        // SAFETY: `[0, end)` lies in this heap's buffer, borrowed mutably for this call; the
        // view only reads it, and the appender below writes only `[end, cap)`.
        let v = unsafe { View::new(base, end) };
        let r = v.record(commit)?;
        // The record is aligned, so the committed part is whole words.
        let n = (end / 8) as usize;
        self.before.clear();
        self.before.extend_from_slice(&self.words[..n]);
        // SAFETY: `[end, cap)` of the same buffer: above the committed part the view reads,
        // and nothing else reads or writes it while the appender lives (this call).
        let mut a = unsafe { Appender::new(base, cap, end) };
        let result = op(&v, commit, &r, &mut a).and_then(|next| Ok(a.record(&next)?));
        assert!(self.words[..n] == self.before[..], "a write step changed committed bytes");
        let at = result?;
        self.commit = at;
        self.history.push(at);
        Ok(())
    }
}

/// What a compaction gives: the new heap, the bytes `copy` appended and what `measure`
/// counted in the old one.
struct Copied {
    heap: Heap,
    appended: u64,
    live: Result<u64, Corrupt>,
}

/// The live nodes of `h` copied into a fresh heap of `cap` bytes, as a growth does.
fn compact(h: &Heap, cap: u64) -> Result<Copied, WriteError> {
    let mut fresh = Heap::blank(cap);
    let fcap = fresh.cap();
    let fbase = NonNull::new(fresh.words.as_mut_ptr().cast::<u8>()).expect("a Vec's buffer");
    let (rec, top, live) = h.read(|v, at, r| -> Result<_, WriteError> {
        // SAFETY: `fresh`'s buffer of `fcap` bytes, distinct from `h`'s and not touched
        // through `fresh` while the appender lives (this closure).
        let mut a = unsafe { Appender::new(fbase, fcap, START) };
        let root = if r.root == 0 { 0 } else { copy(v, &mut a, r.root, at)? };
        Ok((Record { root, ..*r }, a.top(), measure(v, r.root, at)))
    })??;
    fresh.commit_record(top, &rec)?;
    Ok(Copied { heap: fresh, appended: top - START, live })
}

// ---------------------------------------------------------------------------------------
// The model half.

struct Model {
    dict: Heap,
    map: HashMap<Vec<u8>, Vec<u8>>,
    hash_kind: u8,
    list: Heap,
    vec: Vec<Vec<u8>>,
    /// Values made so far (their contents differ).
    made: u32,
    full_checks: usize,
}

/// Runs a write step on `heap`; when the arena is full, compacts into one twice the size
/// (at most `MAX_ARENA`) and tries once more, as the store grows. Whether it committed
/// (`false`: no room even then, or the live nodes fill half of the largest arena, where
/// every step would compact again: the run ends). A valid arena never reads as corrupt.
fn write_or_grow(
    heap: &mut Heap,
    mut op: impl FnMut(&View<'_>, u64, &Record, &mut Appender<'_>) -> Result<Record, WriteError>,
) -> bool {
    match heap.write(&mut op) {
        Ok(()) => return true,
        Err(WriteError::Full(_)) => {}
        Err(e) => panic!("a write on a valid arena failed: {e:?}"),
    }
    let cap = (heap.cap() * 2).min(MAX_ARENA);
    *heap = compacted(heap, cap);
    if cap == MAX_ARENA && heap.end().expect("a compacted arena reads") > MAX_ARENA / 2 {
        return false;
    }
    match heap.write(&mut op) {
        Ok(()) => true,
        Err(WriteError::Full(_)) => false,
        Err(e) => panic!("a write on a valid arena failed: {e:?}"),
    }
}

/// `compact`, checked: the copy fits (it is no larger than the arena it comes from) and
/// holds exactly the live bytes `measure` counts, in the old arena and in the new one.
fn compacted(h: &Heap, cap: u64) -> Heap {
    assert!(cap >= h.cap());
    let c = compact(h, cap).expect("a copy of a valid arena fits in one as large");
    let live = c.live.expect("a valid arena measures");
    assert_eq!(c.appended, live, "a copy appends exactly the live bytes");
    let again = c.heap.read(|v, at, r| measure(v, r.root, at)).expect("a copy reads");
    assert_eq!(again, Ok(live), "a copy measures as its original");
    c.heap
}

impl Model {
    fn value(&mut self, len: u8) -> Vec<u8> {
        let id = self.made;
        self.made += 1;
        (0..u32::from(len))
            .map(|j| (id.wrapping_mul(0x9E37_79B9) ^ j.wrapping_mul(0x85EB_CA6B)).rotate_right(13) as u8)
            .collect()
    }

    fn check_key(&self, key: &[u8]) {
        let h = hash_with(self.hash_kind, key);
        let (got, len) = self
            .dict
            .read(|v, at, r| (hamt::get(v, r.root, at, h, key).map(|o| o.map(<[u8]>::to_vec)), r.len))
            .expect("the dict's record reads");
        assert_eq!(got, Ok(self.map.get(key).cloned()), "get {key:?}");
        assert_eq!(len, self.map.len() as u64, "the dict's length");
    }

    fn check_index(&self, i: u64) {
        let (got, len) = self
            .list
            .read(|v, at, r| (vector::get(v, r, at, i).map(|o| o.map(<[u8]>::to_vec)), r.len))
            .expect("the list's record reads");
        assert_eq!(got, Ok(self.vec.get(i as usize).cloned()), "element {i}");
        assert_eq!(len, self.vec.len() as u64, "the list's length");
    }

    /// Everything: every key present and some absent, `for_each`'s entries, `elements`'
    /// bytes, and `get` at the ends, at the leaves' and branches' edges and at a sample.
    fn check_all(&self) {
        for key in self.map.keys() {
            self.check_key(key);
        }
        for b in (0..=255u8).step_by(17) {
            self.check_key(&key_of(b));
        }
        let mut seen = HashMap::new();
        let mut calls = 0;
        let r = self
            .dict
            .read(|v, at, r| {
                hamt::for_each(v, r.root, at, &mut |k, val| {
                    calls += 1;
                    seen.insert(k.to_vec(), val.to_vec());
                    Ok(())
                })
            })
            .expect("the dict's record reads");
        assert_eq!(r, Ok(()));
        assert_eq!(calls, self.map.len(), "for_each visits each entry once");
        assert!(seen == self.map, "for_each gives the entries");

        let len = self.vec.len() as u64;
        let edges = [0, 1, 31, 32, 33, 1023, 1024, 1025, len / 2, len.wrapping_sub(1), len, len + 1];
        for i in edges.into_iter().chain((0..len).step_by(37)) {
            self.check_index(i);
        }
        let elems = self
            .list
            .read(|v, at, r| {
                vector::elements(v, r, at).map(|es| {
                    es.iter()
                        .map(|&e| match v.node(e, at) {
                            Ok(Node::Elem(b)) => b.to_vec(),
                            other => panic!("element {e} reads as {other:?}"),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .expect("the list's record reads");
        assert_eq!(elems, Ok(self.vec.clone()), "elements");
    }

    /// One operation; `false` when the arenas are out of room (the run ends).
    fn step(&mut self, op: u8, input: &mut Input<'_>) -> bool {
        match op % 16 {
            0..=3 => {
                let key = key_of(input.byte());
                let val = self.value(input.byte() % 13);
                let h = hash_with(self.hash_kind, &key);
                let mut added = false;
                let ok = write_or_grow(&mut self.dict, |v, at, r, a| {
                    let (root, new) = hamt::insert(v, a, r.root, at, h, &key, &val)?;
                    added = new;
                    Ok(Record { root, len: r.len + u64::from(new), ..*r })
                });
                if !ok {
                    return false;
                }
                assert_eq!(added, !self.map.contains_key(&key), "insert says whether {key:?} is new");
                self.map.insert(key.clone(), val);
                self.check_key(&key);
            }
            4 | 5 => {
                let key = key_of(input.byte());
                let h = hash_with(self.hash_kind, &key);
                let mut found = false;
                let ok = write_or_grow(&mut self.dict, |v, at, r, a| {
                    let left = hamt::remove(v, a, r.root, at, h, &key)?;
                    found = left.is_some();
                    Ok(match left {
                        Some(root) => Record { root, len: r.len - 1, ..*r },
                        None => *r,
                    })
                });
                if !ok {
                    return false;
                }
                assert_eq!(found, self.map.remove(&key).is_some(), "remove says whether {key:?} was there");
                self.check_key(&key);
            }
            6 => self.check_key(&key_of(input.byte())),
            7 | 8 => {
                let val = self.value(input.byte() % 13);
                if !write_or_grow(&mut self.list, |v, at, r, a| vector::push(v, a, r, at, &val)) {
                    return false;
                }
                self.vec.push(val);
                self.check_index(self.vec.len() as u64 - 1);
            }
            9 => {
                // Pushes chained in one step, each reading what the previous appended.
                let n = input.byte() % 48;
                let vals: Vec<_> = (0..n).map(|_| self.value(n % 5)).collect();
                let ok = write_or_grow(&mut self.list, |_, _, r, a| {
                    let mut rec = *r;
                    for val in &vals {
                        let v = a.view();
                        rec = vector::push(&v, a, &rec, v.end(), val)?;
                    }
                    Ok(rec)
                });
                if !ok {
                    return false;
                }
                self.vec.extend(vals);
                self.check_index(self.vec.len().saturating_sub(1) as u64);
            }
            10 => {
                // Up to 1280 elements appended and the vector rebuilt over them all: deep
                // vectors, whose pushes and pops then change the root's height.
                let n = (usize::from(input.byte()) + 1) * 5;
                let len = input.byte() % 5;
                let vals: Vec<_> = (0..n).map(|_| self.value(len)).collect();
                let ok = write_or_grow(&mut self.list, |v, at, r, a| {
                    let mut elems = vector::elements(v, r, at)?;
                    for val in &vals {
                        elems.push(a.elem(val)?);
                    }
                    let (root, shift) = vector::build(a, &elems)?;
                    Ok(Record { root, shift, len: elems.len() as u64, ..*r })
                });
                if !ok {
                    return false;
                }
                self.vec.extend(vals);
                self.check_index(self.vec.len() as u64 - 1);
            }
            11 => {
                let Some(last) = self.vec.len().checked_sub(1) else { return true };
                self.check_index(last as u64);
                if !write_or_grow(&mut self.list, |v, at, r, a| vector::pop(v, a, r, at)) {
                    return false;
                }
                self.vec.pop();
                self.check_index(self.vec.len().saturating_sub(1) as u64);
            }
            12 => {
                let i = usize::from(input.u16());
                let val = self.value(input.byte() % 13);
                if self.vec.is_empty() {
                    return true;
                }
                let i = i % self.vec.len();
                if !write_or_grow(&mut self.list, |v, at, r, a| vector::set(v, a, r, at, i as u64, &val)) {
                    return false;
                }
                self.vec[i] = val;
                self.check_index(i as u64);
            }
            13 => {
                let i = usize::from(input.u16()) % (self.vec.len() + 1);
                let val = self.value(input.byte() % 13);
                let ok = write_or_grow(&mut self.list, |v, at, r, a| {
                    let mut elems = vector::elements(v, r, at)?;
                    elems.insert(i, a.elem(&val)?);
                    let (root, shift) = vector::build(a, &elems)?;
                    Ok(Record { root, shift, len: r.len + 1, ..*r })
                });
                if !ok {
                    return false;
                }
                self.vec.insert(i, val);
                self.check_index(i as u64);
            }
            14 => {
                let i = usize::from(input.u16());
                if self.vec.is_empty() {
                    return true;
                }
                let i = i % self.vec.len();
                let ok = write_or_grow(&mut self.list, |v, at, r, a| {
                    let mut elems = vector::elements(v, r, at)?;
                    elems.remove(i);
                    let (root, shift) = vector::build(a, &elems)?;
                    Ok(Record { root, shift, len: r.len - 1, ..*r })
                });
                if !ok {
                    return false;
                }
                self.vec.remove(i);
                self.check_index(i as u64);
            }
            _ => {
                let compact = input.byte() & 1 == 0;
                if self.full_checks < MAX_FULL_CHECKS {
                    self.full_checks += 1;
                    if compact {
                        self.dict = compacted(&self.dict, self.dict.cap());
                        self.list = compacted(&self.list, self.list.cap());
                    }
                    self.check_all();
                }
            }
        }
        true
    }
}

/// Builds the two arenas from the operations in `input`, checking them against the model
/// (everything at the end if `check_all`).
fn build(mode: u8, input: &mut Input<'_>, check_all: bool) -> Model {
    let cap = 512u64 << ((mode >> 3) % 8);
    let mut m = Model {
        dict: Heap::new(cap),
        map: HashMap::new(),
        hash_kind: mode >> 1,
        list: Heap::new(cap),
        vec: Vec::new(),
        made: 0,
        full_checks: 0,
    };
    for _ in 0..MAX_OPS {
        let Some(op) = input.next() else { break };
        if !m.step(op, input) {
            break;
        }
    }
    if check_all {
        m.check_all();
    }
    m
}

// ---------------------------------------------------------------------------------------
// The hostile half.

/// One overwrite of an arena's committed part (or of its commit word).
struct Forgery {
    kind: u8,
    pos: u16,
    val: u64,
    extra: u8,
}

/// Values that sit on the edges of the checks: counts, shifts, lengths, offsets.
const INTERESTING: [u64; 24] = [
    0,
    1,
    4,
    5,
    7,
    8,
    10,
    31,
    32,
    33,
    55,
    59,
    60,
    61,
    63,
    64,
    65,
    0xffff_ffff,
    1 << 32,
    1 << 63,
    u64::MAX - 5,
    u64::MAX - 4,
    u64::MAX - 1,
    u64::MAX,
];

impl Forgery {
    fn read(input: &mut Input<'_>) -> Self {
        Self { kind: input.byte(), pos: input.u16(), val: input.word(), extra: input.byte() }
    }

    fn value(&self) -> u64 {
        if self.extra & 0x80 != 0 {
            INTERESTING[(self.val % INTERESTING.len() as u64) as usize]
        } else {
            self.val
        }
    }

    fn apply(&self, h: &mut Heap) {
        let end = h.end().unwrap_or(h.cap());
        let words = (end / 8) as usize;
        if words == 0 {
            return;
        }
        let w = usize::from(self.pos) % words;
        match self.kind % 12 {
            0 => h.words[w] = self.value(),
            1 => {
                let b = usize::from(self.pos) % (words * 8);
                let shift = (b % 8) * 8;
                let word = &mut h.words[b / 8];
                *word = (*word & !(0xff << shift)) | ((self.val & 0xff) << shift);
            }
            2 => {
                // A tag or a count (the low half) or a count, a length, a bitmap (the high).
                let shift = if self.extra & 1 == 0 { 0 } else { 32 };
                let v = if self.extra & 2 == 0 { self.val % 40 } else { self.val & 0xffff_ffff };
                let word = &mut h.words[w];
                *word = (*word & !(0xffff_ffff << shift)) | (v << shift);
            }
            3 => h.words[w] = (self.val % words as u64) * 8,
            4 => h.words[w] = h.words[(self.val % words as u64) as usize],
            5 => h.commit = (self.val % (h.cap() / 8)) * 8,
            6 => h.commit = self.value(),
            7 => {
                if !h.history.is_empty() {
                    h.commit = h.history[(self.val % h.history.len() as u64) as usize];
                }
            }
            10 | 11 => self.rewrite(h),
            _ => {
                // One of the record's fields: root, len, version, shift.
                let at = (h.commit / 8) as usize + 1 + usize::from(self.pos % 4);
                if h.commit.is_multiple_of(8) && at < words {
                    h.words[at] = self.value();
                }
            }
        }
    }
}

impl Forgery {
    /// Rewrites everything below the record as one long path (kind 10: a chain of
    /// one-child nodes, as deep as the bytes allow) or a lattice (kind 11: every node's
    /// 2 to 32 children are all the node before it, so paths multiply at every level),
    /// of trie branches, vector branches or collision nodes, over an entry or a
    /// one-element leaf; the record's root is its top.
    fn rewrite(&self, h: &mut Heap) {
        fn put(words: &mut [u64], at: u64, w: u64) {
            words[(at / 8) as usize] = w;
        }
        fn head(tag: u32, n: u64) -> u64 {
            u64::from(tag) | (n << 32)
        }
        let commit = h.commit;
        if !commit.is_multiple_of(8) || commit < START + 64 || commit.saturating_add(RECORD_SIZE) > h.cap() {
            return;
        }
        let fan: u64 = if self.kind % 12 == 10 { 1 } else { 2 + self.val % 31 };
        let shape = (self.val >> 8) % 3;
        let limit = 1 + (self.val >> 16) % 8192;
        let w = &mut h.words[..];
        let mut at = START;
        let mut prev = at;
        if shape == 1 {
            put(w, at, head(tag::ELEM, 0));
            put(w, at + 8, head(tag::VLEAF, 1));
            put(w, at + 16, at);
            prev = at + 8;
        } else {
            put(w, at, head(tag::ENTRY, 0));
            put(w, at + 8, 0);
            put(w, at + 16, self.val);
        }
        at += 24;
        let size = if shape == 2 { 16 + 8 * fan } else { 8 + 8 * fan };
        let mut n = 0;
        while at + size <= commit && n < limit {
            match shape {
                0 => put(w, at, head(tag::BRANCH, if fan >= 32 { 0xffff_ffff } else { (1 << fan) - 1 })),
                1 => put(w, at, head(tag::VBRANCH, fan)),
                _ => {
                    put(w, at, head(tag::COLLISION, fan));
                    put(w, at + 8, self.val);
                }
            }
            let first = at + size - 8 * fan;
            for j in 0..fan {
                put(w, first + 8 * j, prev);
            }
            (prev, at, n) = (at, at + size, n + 1);
        }
        put(w, commit + 8, prev);
    }
}

/// Every read entry point over `h`'s committed state (`sweep`: `node` and `record` at
/// every offset too); the results do not matter.
fn hostile_reads(h: &Heap, hash_kind: u8, seed: u64, sweep: bool) {
    let Some(end) = h.end() else { return };
    let base = NonNull::from(&h.words[..]).cast::<u8>();
    // SAFETY: `[0, end)` lies in `h`'s buffer (`end <= cap`), borrowed and so unchanged
    // while the view lives (this function).
    let v = unsafe { View::new(base, end) };
    let offsets = if sweep { 0..end + 16 } else { 0..0 };
    for at in offsets.step_by(8).chain([1, 4, end, seed, u64::MAX - 7]) {
        let _ = v.node(at, end);
        let _ = v.node(at, u64::MAX);
        let _ = v.record(at);
    }
    let Ok(r) = v.record(h.commit) else { return };
    let commit = h.commit;
    // Read from the record, and from the view's end as a chained step does.
    for parent in [commit, end] {
        for b in (0..=255u8).step_by(if parent == commit { 3 } else { 64 }) {
            let key = key_of(b.wrapping_add(seed as u8));
            let _ = hamt::get(&v, r.root, parent, hash_with(hash_kind, &key), &key);
        }
        let _ = hamt::get(&v, r.root, parent, seed, &seed.to_le_bytes());
        let mut calls = 0u64;
        let _ = hamt::for_each(&v, r.root, parent, &mut |_, _| {
            calls += 1;
            Ok(())
        });
        let stop = seed % 8;
        let _ = hamt::for_each(&v, r.root, parent, &mut |_, _| {
            calls += 1;
            if calls % 8 == stop {
                Err(Corrupt("the caller stops"))
            } else {
                Ok(())
            }
        });
        let len = r.len;
        for i in [0, 1, 2, 31, 32, 33, 1023, 1024, 1025, len.wrapping_sub(1), len, len / 2, seed, u64::MAX] {
            let _ = vector::get(&v, &r, parent, i);
        }
        if let Ok(es) = vector::elements(&v, &r, parent) {
            for e in es {
                let _ = v.node(e, parent);
            }
        }
        let _ = measure(&v, r.root, parent);
    }
    // A compaction: copy into a fresh arena (twice as large: a forged arena's shared nodes
    // copy more than once), then every read of the copy.
    if let Ok(c) = compact(h, (end * 2).next_multiple_of(8)) {
        let _ = c.heap.read(|v, at, r| {
            let _ = measure(v, r.root, at);
            let _ = hamt::for_each(v, r.root, at, &mut |_, _| Ok(()));
            let _ = vector::elements(v, r, at);
            let _ = vector::get(v, r, at, r.len.wrapping_sub(1));
        });
    }
}

/// Write steps over `h`'s (forged) committed state, each committed when it succeeds, as
/// the store's writers make them, starting at a step the seed chooses (so that each meets
/// the forged state first in some runs); `Heap::write` checks that none changes a
/// committed byte.
fn hostile_writes(h: &mut Heap, hash_kind: u8, seed: u64) {
    let keys = [key_of(seed as u8), key_of((seed >> 8) as u8), key_of(0)];
    let val = seed.to_le_bytes();
    let val = &val[..(seed >> 16) as usize % 9];
    let i = seed >> 24;
    for k in 0..14u8 {
        let step = (k + (seed >> 56) as u8 % 14) % 14;
        let key = &keys[usize::from(step) % keys.len()];
        let hk = hash_with(hash_kind, key);
        let _ = match step {
            0 | 1 => h.write(|v, at, r, a| {
                let (root, added) = hamt::insert(v, a, r.root, at, hk, key, val)?;
                Ok(Record { root, len: r.len.wrapping_add(u64::from(added)), ..*r })
            }),
            2 => h.write(|v, at, r, a| {
                let (root, _) = hamt::insert(v, a, r.root, at, seed, key, val)?;
                Ok(Record { root, ..*r })
            }),
            3 | 4 => h.write(|v, at, r, a| {
                let root = hamt::remove(v, a, r.root, at, hk, key)?.unwrap_or(r.root);
                Ok(Record { root, len: r.len.saturating_sub(1), ..*r })
            }),
            5 => h.write(|_, _, r, a| {
                // Chained inserts, each reading what the previous appended.
                let mut rec = *r;
                for k in &keys {
                    let v = a.view();
                    let (root, _) = hamt::insert(&v, a, rec.root, v.end(), hash_with(hash_kind, k), k, val)?;
                    rec = Record { root, ..rec };
                }
                Ok(rec)
            }),
            6 => h.write(|v, at, r, a| vector::push(v, a, r, at, val)),
            7 => h.write(|_, _, r, a| {
                let mut rec = *r;
                for _ in 0..3 {
                    let v = a.view();
                    rec = vector::push(&v, a, &rec, v.end(), val)?;
                }
                Ok(rec)
            }),
            8 => h.write(|v, at, r, a| {
                // `List::set`: an index below the length.
                if r.len == 0 {
                    return Err(WriteError::Abort);
                }
                vector::set(v, a, r, at, i % r.len, val)
            }),
            // Even from an empty vector (an error).
            9 => h.write(|v, at, r, a| vector::pop(v, a, r, at)),
            10 => h.write(|v, at, r, a| {
                // `List::insert`.
                let mut elems = vector::elements(v, r, at)?;
                let e = a.elem(val)?;
                elems.insert((i as usize).min(elems.len()), e);
                let (root, shift) = vector::build(a, &elems)?;
                Ok(Record { root, shift, len: elems.len() as u64, ..*r })
            }),
            11 => h.write(|v, at, r, a| {
                // `List::remove`.
                let i = i % r.len.max(1);
                if vector::get(v, r, at, i)?.is_none() {
                    return Err(WriteError::Abort);
                }
                let mut elems = vector::elements(v, r, at)?;
                if (i as usize) < elems.len() {
                    elems.remove(i as usize);
                }
                let (root, shift) = vector::build(a, &elems)?;
                Ok(Record { root, shift, len: elems.len() as u64, ..*r })
            }),
            12 => h.write(|v, _, r, a| {
                // A vector over offsets that need not be elements (`build` reads nothing).
                let n = (seed % 100) as usize;
                let elems: Vec<u64> =
                    (0..n as u64).map(|j| (seed.rotate_left(j as u32) % v.end()) & !7).collect();
                let (root, shift) = vector::build(a, &elems)?;
                Ok(Record { root, shift, len: n as u64, ..*r })
            }),
            _ => h.write(|v, at, r, a| {
                // `List::pop`: only when the length says there is something, after reading
                // the last element.
                if r.len == 0 {
                    return Err(WriteError::Abort);
                }
                let _ = vector::get(v, r, at, r.len - 1)?;
                vector::pop(v, a, r, at)
            }),
        };
    }
}

fn hostile(mode: u8, input: &mut Input<'_>) {
    let n = input.byte() % 9;
    let seed = input.word();
    let forgeries: Vec<(bool, Forgery)> = (0..n)
        .map(|_| {
            let f = Forgery::read(input);
            (f.extra & 0x40 != 0, f)
        })
        .collect();
    let mut m = build(mode, input, false);
    for (list, f) in &forgeries {
        f.apply(if *list { &mut m.list } else { &mut m.dict });
    }
    for h in [&mut m.dict, &mut m.list] {
        hostile_reads(h, m.hash_kind, seed, true);
        hostile_writes(h, m.hash_kind, seed);
        hostile_reads(h, m.hash_kind, seed.rotate_left(17), false);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data.iter());
    let mode = input.byte();
    if mode & 1 == 0 {
        build(mode, &mut input, true);
    } else {
        hostile(mode, &mut input);
    }
});
