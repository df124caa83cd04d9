//! [`List`]: Python's `Manager().list()` without a server.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::{Deadline, Kind, TypeDesc};

use crate::arena::Record;
use crate::dict::{abort, decode};
use crate::error::DictError;
use crate::store::{Frozen, RootLayout, Step, Store};
use crate::vector;

/// A list in shared memory: Python's `Manager().list()`, without the manager process.
/// Elements are any serde type (postcard-encoded); named or anonymous; its handle crosses
/// into other processes by name.
///
/// Readers take no lock and never wait; writers serialise on a crash-aware lock, and every
/// change is one commit (a writer killed part-way leaves the last committed list).
/// `get`, `set`, `push` and `pop` cost a path of at most 13 nodes; `insert` and `remove`
/// in the middle rebuild the list's nodes over the same elements, as Python moves them.
///
/// ```
/// use shmkit::List;
///
/// let l: List<u32> = List::anonymous()?;
/// l.extend(0..5)?;
/// l.append(&5)?;
/// assert_eq!(l.to_vec()?, [0, 1, 2, 3, 4, 5]);
/// assert_eq!(l.pop()?, Some(5));
/// l.update(0, |x| x + 10)?;
/// assert_eq!(l.get(0)?, Some(10));
/// # Ok::<(), shmkit::DictError>(())
/// ```
pub struct List<T> {
    store: Store,
    _types: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List")
            .field("name", &self.store.object().name().map(|n| n.as_str().to_owned()))
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned + 'static> List<T> {
    fn layout() -> RootLayout {
        RootLayout { kind: Kind::List, elem: TypeDesc::of::<T>() }
    }

    fn wrap(store: Store) -> Self {
        Self { store, _types: PhantomData }
    }

    crate::constructors!("list");

    /// How many elements: Python's `len(l)`.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn len(&self) -> Result<usize, DictError> {
        self.store.read(|_, _, r| Ok(r.len as usize))
    }

    /// Whether the list is empty.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn is_empty(&self) -> Result<bool, DictError> {
        Ok(self.len()? == 0)
    }

    /// Element `i`, if `i < len`: Python's `l[i]`.
    ///
    /// # Errors
    ///
    /// [`DictError::Decode`], [`DictError::Corrupt`].
    pub fn get(&self, i: usize) -> Result<Option<T>, DictError> {
        self.store.read(|v, at, r| vector::get(v, r, at, i as u64)?.map(decode).transpose())
    }

    /// Appends `value`: Python's `l.append(v)`.
    ///
    /// # Errors
    ///
    /// [`DictError::Encode`], [`DictError::Corrupt`].
    pub fn append(&self, value: &T) -> Result<(), DictError> {
        let bytes = postcard::to_allocvec(value).map_err(DictError::Encode)?;
        self.store
            .write(Deadline::never(), |v, at, r, a| Ok(Step::Commit(vector::push(v, a, r, at, &bytes)?, ())))
    }

    /// [`append`](Self::append).
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append).
    pub fn push(&self, value: &T) -> Result<(), DictError> {
        self.append(value)
    }

    /// Appends every value, in one commit: readers see all of them or none.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append).
    pub fn extend(&self, values: impl IntoIterator<Item = T>) -> Result<(), DictError> {
        let encoded = values
            .into_iter()
            .map(|x| postcard::to_allocvec(&x))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DictError::Encode)?;
        self.store.write(Deadline::never(), |_, _, r, a| {
            let mut rec = *r;
            for bytes in &encoded {
                // Each push reads what the previous ones appended.
                let v = a.view();
                rec = vector::push(&v, a, &rec, v.end(), bytes)?;
            }
            Ok(Step::Commit(rec, ()))
        })
    }

    /// Sets element `i` (< len): Python's `l[i] = v`.
    ///
    /// # Errors
    ///
    /// [`DictError::IndexOutOfRange`], and as [`append`](Self::append).
    pub fn set(&self, i: usize, value: &T) -> Result<(), DictError> {
        let bytes = postcard::to_allocvec(value).map_err(DictError::Encode)?;
        let mut err = None;
        let r = self.store.write(Deadline::never(), |v, at, r, a| {
            if i as u64 >= r.len {
                return Err(abort(&mut err, DictError::IndexOutOfRange { index: i, len: r.len as usize }));
            }
            Ok(Step::Commit(vector::set(v, a, r, at, i as u64, &bytes)?, ()))
        });
        err.map_or(r, Err)
    }

    /// Atomically replaces element `i` (< len) by `f(old)`; the new value. `f` runs once,
    /// under the writers' lock: keep it short, and do not write to this list from it
    /// ([`DictError::Reentrant`]).
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set), and [`DictError::Decode`].
    pub fn update(&self, i: usize, f: impl FnOnce(T) -> T) -> Result<T, DictError> {
        let (mut err, mut f, mut new) = (None, Some(f), None);
        // The new value and its encoding, kept: a step run again after a growth meets the
        // same committed state, and `f` runs once.
        let mut bytes: Option<Vec<u8>> = None;
        let r = self.store.write(Deadline::never(), |v, at, r, a| {
            if bytes.is_none() {
                let old = match vector::get(v, r, at, i as u64)? {
                    None => {
                        return Err(abort(
                            &mut err,
                            DictError::IndexOutOfRange { index: i, len: r.len as usize },
                        ))
                    }
                    Some(b) => decode(b).map_err(|e| abort(&mut err, e))?,
                };
                let value = f.take().map(|f| f(old)).ok_or_else(|| abort(&mut err, DictError::Busy))?;
                bytes =
                    Some(postcard::to_allocvec(&value).map_err(|e| abort(&mut err, DictError::Encode(e)))?);
                new = Some(value);
            }
            let b = bytes.as_deref().unwrap_or_default();
            Ok(Step::Commit(vector::set(v, a, r, at, i as u64, b)?, ()))
        });
        err.map_or(r, Err)?;
        new.ok_or(DictError::Busy)
    }

    /// Removes and returns the last element: Python's `l.pop()` (`None` if empty).
    ///
    /// # Errors
    ///
    /// [`DictError::Decode`], [`DictError::Corrupt`].
    pub fn pop(&self) -> Result<Option<T>, DictError> {
        let bytes = self.store.write(Deadline::never(), |v, at, r, a| {
            if r.len == 0 {
                return Ok(Step::Keep(None));
            }
            let last = vector::get(v, r, at, r.len - 1)?.map(<[u8]>::to_vec);
            Ok(Step::Commit(vector::pop(v, a, r, at)?, last))
        })?;
        bytes.map(|b| decode(&b)).transpose()
    }

    /// Inserts `value` before element `i` (at the end if `i >= len`): Python's
    /// `l.insert(i, v)`.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append).
    pub fn insert(&self, i: usize, value: &T) -> Result<(), DictError> {
        let bytes = postcard::to_allocvec(value).map_err(DictError::Encode)?;
        self.store.write(Deadline::never(), |v, at, r, a| {
            let mut elems = vector::elements(v, r, at)?;
            let e = a.elem(&bytes)?;
            elems.insert(i.min(elems.len()), e);
            let (root, shift) = vector::build(a, &elems)?;
            Ok(Step::Commit(Record { root, shift, len: elems.len() as u64, ..*r }, ()))
        })
    }

    /// Removes and returns element `i` (< len): Python's `l.pop(i)`.
    ///
    /// # Errors
    ///
    /// [`DictError::IndexOutOfRange`], [`DictError::Decode`], [`DictError::Corrupt`].
    pub fn remove(&self, i: usize) -> Result<T, DictError> {
        let mut err = None;
        let r = self.store.write(Deadline::never(), |v, at, r, a| {
            let Some(old) = vector::get(v, r, at, i as u64)?.map(<[u8]>::to_vec) else {
                return Err(abort(&mut err, DictError::IndexOutOfRange { index: i, len: r.len as usize }));
            };
            let mut elems = vector::elements(v, r, at)?;
            elems.remove(i);
            let (root, shift) = vector::build(a, &elems)?;
            Ok(Step::Commit(Record { root, shift, len: elems.len() as u64, ..*r }, old))
        });
        decode(&err.map_or(r, Err)?)
    }

    /// Removes every element.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn clear(&self) -> Result<(), DictError> {
        self.store.write(Deadline::never(), |_, _, r, _| {
            Ok(if r.len == 0 {
                Step::Keep(())
            } else {
                Step::Commit(Record { root: 0, len: 0, shift: 0, ..*r }, ())
            })
        })
    }

    /// A consistent view that no writer disturbs.
    ///
    /// # Errors
    ///
    /// [`DictError::Open`], [`DictError::Corrupt`].
    pub fn snapshot(&self) -> Result<ListSnapshot<T>, DictError> {
        Ok(ListSnapshot { state: self.store.freeze()?, _types: PhantomData })
    }

    /// The elements now (a snapshot's): Python's `list(l)`.
    ///
    /// # Errors
    ///
    /// As [`snapshot`](Self::snapshot), and [`DictError::Decode`].
    pub fn to_vec(&self) -> Result<Vec<T>, DictError> {
        self.snapshot()?.to_vec()
    }

    crate::versions!();
}

/// A committed state of a [`List`], kept whatever writers do next.
pub struct ListSnapshot<T> {
    state: Frozen,
    _types: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> ListSnapshot<T> {
    /// How many elements.
    pub fn len(&self) -> usize {
        self.state.record.len as usize
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.state.record.len == 0
    }

    /// Element `i`.
    ///
    /// # Errors
    ///
    /// [`DictError::Decode`], [`DictError::Corrupt`].
    pub fn get(&self, i: usize) -> Result<Option<T>, DictError> {
        self.state.read(|v, at, r| vector::get(v, r, at, i as u64)?.map(decode).transpose())
    }

    /// Every element, in order.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn to_vec(&self) -> Result<Vec<T>, DictError> {
        self.state.read(|v, at, r| {
            vector::elements(v, r, at)?
                .into_iter()
                .map(|e| match v.node(e, at)? {
                    crate::arena::Node::Elem(b) => decode(b),
                    _ => Err(crate::arena::Corrupt("a vector leaf points at something else than an element")
                        .into()),
                })
                .collect()
        })
    }
}
