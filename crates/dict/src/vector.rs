//! The radix vector of a List: 32-way branches over leaves of 32 elements, the index's
//! 5-bit groups choosing the way down. Pushes, pops and sets copy the path to the change;
//! an insert or a removal in the middle rebuilds the vector over the same elements.

use crate::arena::{Appender, Corrupt, Kids, Node, Record, View, WriteError};

/// The deepest shift a vector of up to 2^64 elements needs.
const MAX_SHIFT: u64 = 60;

/// The offset of element `i` of the vector `r` (committed at `parent`).
fn elem_at(v: &View<'_>, r: &Record, parent: u64, i: u64) -> Result<u64, Corrupt> {
    check_shift(r)?;
    let (mut at, mut from, mut s) = (r.root, parent, r.shift);
    loop {
        let Node::Vector { leaf, items } = v.node(at, from)? else {
            return Err(Corrupt("a vector holds a hash-trie node"));
        };
        let idx = ((i >> s) & 31) as usize;
        if leaf != (s == 0) || idx >= items.len() {
            return Err(Corrupt("a vector's shape does not match its length"));
        }
        if s == 0 {
            return Ok(items.get(idx));
        }
        (from, at, s) = (at, items.get(idx), s - 5);
    }
}

/// The vector node at `at` on the level of shift `s`, on the way to index `i`: whether it
/// is a leaf, its offsets (copied, to rewrite), and the one `i` goes through. A node of the
/// wrong kind for its level is an error; the index is the caller's to check.
fn level(v: &View<'_>, at: u64, from: u64, s: u64, i: u64) -> Result<(bool, Kids, usize), WriteError> {
    let Node::Vector { leaf, items } = v.node(at, from)? else {
        return Err(Corrupt("a vector holds a hash-trie node").into());
    };
    if leaf != (s == 0) || s > MAX_SHIFT {
        return Err(Corrupt("a vector's shape does not match its length").into());
    }
    Ok((leaf, items.to_array(), ((i >> s) & 31) as usize))
}

/// Checks a record's shift: a multiple of 5, at most [`MAX_SHIFT`].
fn check_shift(r: &Record) -> Result<(), Corrupt> {
    if r.shift > MAX_SHIFT || r.shift % 5 != 0 {
        return Err(Corrupt("a vector's shift is out of range"));
    }
    Ok(())
}

/// The error of an index a vector's shape does not have room for.
fn misshapen() -> WriteError {
    Corrupt("a vector's shape does not match its length").into()
}

/// Element `i`'s bytes, if `i < len`.
pub fn get<'a>(v: &View<'a>, r: &Record, parent: u64, i: u64) -> Result<Option<&'a [u8]>, Corrupt> {
    if i >= r.len {
        return Ok(None);
    }
    // An element is below the leaf that points at it, itself below the record.
    match v.node(elem_at(v, r, parent, i)?, parent)? {
        Node::Elem(b) => Ok(Some(b)),
        _ => Err(Corrupt("a vector leaf points at something else than an element")),
    }
}

/// `r` with `bytes` appended.
pub fn push(
    v: &View<'_>,
    a: &mut Appender<'_>,
    r: &Record,
    parent: u64,
    bytes: &[u8],
) -> Result<Record, WriteError> {
    check_shift(r)?;
    let len = r.len.checked_add(1).ok_or(Corrupt("a vector as long as an index can count"))?;
    let e = a.elem(bytes)?;
    if r.len == 0 {
        return Ok(Record { root: a.vector(true, &[e])?, len: 1, shift: 0, ..*r });
    }
    let full = r.shift + 5 >= 64 || r.len >= 1u64 << (r.shift + 5);
    if full {
        if r.shift + 5 > MAX_SHIFT {
            return Err(Corrupt("a vector as long as an index can count").into());
        }
        let side = path(a, r.shift, e)?;
        let root = a.vector(false, &[r.root, side])?;
        return Ok(Record { root, len, shift: r.shift + 5, ..*r });
    }
    let root = push_into(v, a, r.root, parent, r.shift, r.len, e)?;
    Ok(Record { root, len, ..*r })
}

fn push_into(
    v: &View<'_>,
    a: &mut Appender<'_>,
    at: u64,
    from: u64,
    s: u64,
    i: u64,
    e: u64,
) -> Result<u64, WriteError> {
    let (leaf, mut kids, idx) = level(v, at, from, s, i)?;
    // The new element goes at the end of a leaf, or down the last child or a new one; a
    // node never gets a 33rd.
    let new_child = idx == kids.len();
    if idx > kids.len() || (leaf && !new_child) || (new_child && kids.len() == 32) {
        return Err(misshapen());
    }
    if leaf {
        kids.push(e);
    } else if idx < kids.len() {
        kids[idx] = push_into(v, a, kids[idx], at, s - 5, i, e)?;
    } else {
        kids.push(path(a, s - 5, e)?);
    }
    Ok(a.vector(leaf, &kids)?)
}

/// A path of branches from shift `s` down to a leaf holding `e`.
fn path(a: &mut Appender<'_>, s: u64, e: u64) -> Result<u64, WriteError> {
    let mut at = a.vector(true, &[e])?;
    let mut level = 0;
    while level < s {
        at = a.vector(false, &[at])?;
        level += 5;
    }
    Ok(at)
}

/// `r` with element `i` (< len) set to `bytes`.
pub fn set(
    v: &View<'_>,
    a: &mut Appender<'_>,
    r: &Record,
    parent: u64,
    i: u64,
    bytes: &[u8],
) -> Result<Record, WriteError> {
    check_shift(r)?;
    let e = a.elem(bytes)?;
    let root = set_in(v, a, r.root, parent, r.shift, i, e)?;
    Ok(Record { root, ..*r })
}

fn set_in(
    v: &View<'_>,
    a: &mut Appender<'_>,
    at: u64,
    from: u64,
    s: u64,
    i: u64,
    e: u64,
) -> Result<u64, WriteError> {
    let (leaf, mut kids, idx) = level(v, at, from, s, i)?;
    if idx >= kids.len() {
        return Err(misshapen());
    }
    kids[idx] = if leaf { e } else { set_in(v, a, kids[idx], at, s - 5, i, e)? };
    Ok(a.vector(leaf, &kids)?)
}

/// `r` without its last element (len > 0).
pub fn pop(v: &View<'_>, a: &mut Appender<'_>, r: &Record, parent: u64) -> Result<Record, WriteError> {
    check_shift(r)?;
    let i = r.len.checked_sub(1).ok_or(Corrupt("a pop from an empty vector"))?;
    if r.shift == 0 {
        let root = pop_from(v, a, r.root, parent, 0, i)?.unwrap_or(0);
        return Ok(Record { root, len: i, ..*r });
    }
    // At the root: a branch left with one child gives way to it (a new node cannot be
    // read back, so this is decided here, where its children are known).
    let (_, mut kids, idx) = level(v, r.root, parent, r.shift, i)?;
    if idx + 1 != kids.len() {
        return Err(misshapen());
    }
    match pop_from(v, a, kids[idx], r.root, r.shift - 5, i)? {
        Some(c) => kids[idx] = c,
        None => {
            kids.pop();
        }
    }
    Ok(match kids.len() {
        0 => Record { root: 0, len: i, shift: 0, ..*r },
        1 => Record { root: kids[0], len: i, shift: r.shift - 5, ..*r },
        _ => Record { root: a.vector(false, &kids)?, len: i, ..*r },
    })
}

fn pop_from(
    v: &View<'_>,
    a: &mut Appender<'_>,
    at: u64,
    from: u64,
    s: u64,
    i: u64,
) -> Result<Option<u64>, WriteError> {
    let (leaf, mut kids, idx) = level(v, at, from, s, i)?;
    if idx + 1 != kids.len() {
        return Err(misshapen());
    }
    if leaf {
        kids.pop();
    } else {
        match pop_from(v, a, kids[idx], at, s - 5, i)? {
            Some(c) => kids[idx] = c,
            None => kids.pop(),
        }
    }
    if kids.is_empty() {
        return Ok(None);
    }
    Ok(Some(a.vector(leaf, &kids)?))
}

/// The element offsets of the vector `r`, in order.
pub fn elements(v: &View<'_>, r: &Record, parent: u64) -> Result<Vec<u64>, Corrupt> {
    let mut out = Vec::new();
    if r.root == 0 {
        return Ok(out);
    }
    let mut stack = vec![(r.root, parent)];
    // A node met more often than the arena could hold nodes is a forgery (a shared child).
    let mut budget = v.end() / 8;
    while let Some((at, from)) = stack.pop() {
        budget = budget.checked_sub(1).ok_or(Corrupt("a node is reached from more than one parent"))?;
        match v.node(at, from)? {
            Node::Vector { leaf: true, items } => out.extend(items.iter()),
            Node::Vector { leaf: false, items } => stack.extend(items.iter().rev().map(|c| (c, at))),
            _ => return Err(Corrupt("a vector holds a hash-trie node")),
        }
        if out.len() as u64 > r.len {
            return Err(Corrupt("a vector holds more elements than its length"));
        }
    }
    if out.len() as u64 != r.len {
        return Err(Corrupt("a vector holds fewer elements than its length"));
    }
    Ok(out)
}

/// A vector over the element offsets `elems` (already in the arena); its root and shift.
pub fn build(a: &mut Appender<'_>, elems: &[u64]) -> Result<(u64, u64), WriteError> {
    if elems.is_empty() {
        return Ok((0, 0));
    }
    let mut level: Vec<u64> = elems.chunks(32).map(|c| a.vector(true, c)).collect::<Result<_, _>>()?;
    let mut shift = 0;
    while level.len() > 1 {
        level = level.chunks(32).map(|c| a.vector(false, c)).collect::<Result<_, _>>()?;
        shift += 5;
    }
    Ok((level[0], shift))
}
