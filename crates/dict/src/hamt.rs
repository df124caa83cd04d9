//! The hash trie (HAMT) of a Dict: 32-way branches indexed by 5-bit fragments of the key's
//! hash, entries at the leaves, collision nodes for equal hashes. Updates copy the path
//! from the root to the change (copy-on-write); nothing committed is touched.

use crate::arena::{Appender, Corrupt, Node, View, WriteError};

/// Fragments of 5 bits: levels 0 to 12 (the last has 4 bits).
const LEVELS: u32 = 13;

fn frag(hash: u64, depth: u32) -> u32 {
    ((hash >> (5 * depth)) & 31) as u32
}

/// The index of fragment `bit` among the children of a branch with `bitmap`.
fn index(bitmap: u32, bit: u32) -> usize {
    (bitmap & (bit - 1)).count_ones() as usize
}

/// The value of `key` (hash `h`) in the trie at `root` (committed in record `parent`).
pub fn get<'a>(
    v: &View<'a>,
    root: u64,
    parent: u64,
    h: u64,
    key: &[u8],
) -> Result<Option<&'a [u8]>, Corrupt> {
    if root == 0 {
        return Ok(None);
    }
    let (mut at, mut from) = (root, parent);
    for depth in 0..=LEVELS {
        match v.node(at, from)? {
            Node::Branch { bitmap, children } => {
                let bit = 1 << frag(h, depth.min(LEVELS - 1));
                if depth >= LEVELS {
                    return Err(Corrupt("a hash trie deeper than a hash has fragments"));
                }
                if bitmap & bit == 0 {
                    return Ok(None);
                }
                from = at;
                at = children.get(index(bitmap, bit));
            }
            Node::Entry { hash, key: k, val } => return Ok((hash == h && k == key).then_some(val)),
            Node::Collision { hash, entries } => {
                if hash != h {
                    return Ok(None);
                }
                for e in entries.iter() {
                    if let Node::Entry { key: k, val, .. } = v.node(e, at)? {
                        if k == key {
                            return Ok(Some(val));
                        }
                    } else {
                        return Err(Corrupt("a collision node holds something else than entries"));
                    }
                }
                return Ok(None);
            }
            _ => return Err(Corrupt("a hash trie holds a vector node")),
        }
    }
    Err(Corrupt("a hash trie deeper than a hash has fragments"))
}

/// A new trie: `root` with `key` (hash `h`) set to `val`; whether the key is new.
pub fn insert(
    v: &View<'_>,
    a: &mut Appender<'_>,
    root: u64,
    parent: u64,
    h: u64,
    key: &[u8],
    val: &[u8],
) -> Result<(u64, bool), WriteError> {
    if root == 0 {
        return Ok((a.entry(h, key, val)?, true));
    }
    ins(v, a, root, parent, 0, h, key, val)
}

#[allow(clippy::too_many_arguments)]
fn ins(
    v: &View<'_>,
    a: &mut Appender<'_>,
    at: u64,
    parent: u64,
    depth: u32,
    h: u64,
    key: &[u8],
    val: &[u8],
) -> Result<(u64, bool), WriteError> {
    match v.node(at, parent)? {
        Node::Branch { bitmap, children } => {
            if depth >= LEVELS {
                return Err(Corrupt("a hash trie deeper than a hash has fragments").into());
            }
            let bit = 1 << frag(h, depth);
            let i = index(bitmap, bit);
            let mut kids = children.to_array();
            if bitmap & bit != 0 {
                let (child, added) = ins(v, a, kids.as_slice()[i], at, depth + 1, h, key, val)?;
                kids.as_mut_slice()[i] = child;
                Ok((a.branch(bitmap, kids.as_slice())?, added))
            } else {
                kids.insert(i, a.entry(h, key, val)?);
                Ok((a.branch(bitmap | bit, kids.as_slice())?, true))
            }
        }
        Node::Entry { hash, key: k, .. } => {
            if hash == h && k == key {
                return Ok((a.entry(h, key, val)?, false));
            }
            let new = a.entry(h, key, val)?;
            if hash == h {
                return Ok((a.collision(h, &[at, new])?, true));
            }
            Ok((split(a, at, hash, new, h, depth)?, true))
        }
        Node::Collision { hash, entries } => {
            let new = a.entry(h, key, val)?;
            if hash != h {
                return Ok((split(a, at, hash, new, h, depth)?, true));
            }
            let mut es = entries.to_vec();
            for (i, &e) in es.iter().enumerate() {
                match v.node(e, at)? {
                    Node::Entry { key: k, .. } if k == key => {
                        es[i] = new;
                        return Ok((a.collision(h, &es)?, false));
                    }
                    Node::Entry { .. } => {}
                    _ => return Err(Corrupt("a collision node holds something else than entries").into()),
                }
            }
            es.push(new);
            Ok((a.collision(h, &es)?, true))
        }
        _ => Err(Corrupt("a hash trie holds a vector node").into()),
    }
}

/// A branch at `depth` holding node `x` (hash `hx`) and node `y` (hash `hy`, different).
fn split(a: &mut Appender<'_>, x: u64, hx: u64, y: u64, hy: u64, depth: u32) -> Result<u64, WriteError> {
    if depth >= LEVELS {
        return Err(Corrupt("two different hashes agree on every fragment").into());
    }
    let (fx, fy) = (frag(hx, depth), frag(hy, depth));
    if fx == fy {
        let child = split(a, x, hx, y, hy, depth + 1)?;
        return Ok(a.branch(1 << fx, &[child])?);
    }
    let kids = if fx < fy { [x, y] } else { [y, x] };
    Ok(a.branch((1 << fx) | (1 << fy), &kids)?)
}

/// A new trie: `root` without `key`; `None` if the key is not there.
pub fn remove(
    v: &View<'_>,
    a: &mut Appender<'_>,
    root: u64,
    parent: u64,
    h: u64,
    key: &[u8],
) -> Result<Option<u64>, WriteError> {
    if root == 0 {
        return Ok(None);
    }
    Ok(rem(v, a, root, parent, 0, h, key)?.map(|c| c.at))
}

/// What a removal left of a subtree: its new root (0: nothing), and whether that is a
/// branch (a new node cannot be read back: it is above the committed end).
#[derive(Clone, Copy)]
struct Left {
    at: u64,
    branch: bool,
}

fn rem(
    v: &View<'_>,
    a: &mut Appender<'_>,
    at: u64,
    parent: u64,
    depth: u32,
    h: u64,
    key: &[u8],
) -> Result<Option<Left>, WriteError> {
    match v.node(at, parent)? {
        Node::Branch { bitmap, children } => {
            if depth >= LEVELS {
                return Err(Corrupt("a hash trie deeper than a hash has fragments").into());
            }
            let bit = 1 << frag(h, depth);
            if bitmap & bit == 0 {
                return Ok(None);
            }
            let i = index(bitmap, bit);
            let Some(child) = rem(v, a, children.get(i), at, depth + 1, h, key)? else { return Ok(None) };
            let mut kids = children.to_array();
            let (bitmap, other) = if child.at == 0 {
                kids.remove(i);
                (bitmap & !bit, None)
            } else {
                kids.as_mut_slice()[i] = child.at;
                (bitmap, Some(child))
            };
            if kids.is_empty() {
                return Ok(Some(Left { at: 0, branch: false }));
            }
            // A branch left with one entry (or collision) is replaced by it: lookups compare
            // the whole hash at a leaf, wherever it sits.
            if kids.len() == 1 {
                let only = kids.as_slice()[0];
                let branch = match other {
                    Some(c) => c.branch,
                    None => matches!(v.node(only, at)?, Node::Branch { .. }),
                };
                if !branch {
                    return Ok(Some(Left { at: only, branch: false }));
                }
            }
            Ok(Some(Left { at: a.branch(bitmap, kids.as_slice())?, branch: true }))
        }
        Node::Entry { hash, key: k, .. } => {
            Ok((hash == h && k == key).then_some(Left { at: 0, branch: false }))
        }
        Node::Collision { hash, entries } => {
            if hash != h {
                return Ok(None);
            }
            let mut es = entries.to_vec();
            let mut found = None;
            for (i, &e) in es.iter().enumerate() {
                match v.node(e, at)? {
                    Node::Entry { key: k, .. } if k == key => found = Some(i),
                    Node::Entry { .. } => {}
                    _ => return Err(Corrupt("a collision node holds something else than entries").into()),
                }
            }
            let Some(i) = found else { return Ok(None) };
            es.remove(i);
            let at = match es.len() {
                0 => 0,
                1 => es[0],
                _ => a.collision(h, &es)?,
            };
            Ok(Some(Left { at, branch: false }))
        }
        _ => Err(Corrupt("a hash trie holds a vector node").into()),
    }
}

/// Calls `f` with every entry of the trie at `root`, in trie order; stops at the first
/// error. Visits each node once (children lie below their parents: no cycle).
pub fn for_each<'a>(
    v: &View<'a>,
    root: u64,
    parent: u64,
    f: &mut dyn FnMut(&'a [u8], &'a [u8]) -> Result<(), Corrupt>,
) -> Result<(), Corrupt> {
    if root == 0 {
        return Ok(());
    }
    let mut stack = vec![(root, parent)];
    // A node met more often than the arena could hold nodes is a forgery (a shared child).
    let mut budget = v.end() / 8;
    while let Some((at, from)) = stack.pop() {
        budget = budget.checked_sub(1).ok_or(Corrupt("a node is reached from more than one parent"))?;
        match v.node(at, from)? {
            Node::Branch { children, .. } => stack.extend(children.iter().rev().map(|c| (c, at))),
            Node::Entry { key, val, .. } => f(key, val)?,
            Node::Collision { entries, .. } => stack.extend(entries.iter().rev().map(|c| (c, at))),
            _ => return Err(Corrupt("a hash trie holds a vector node")),
        }
    }
    Ok(())
}
