//! [`Dict`]: Python's `Manager().dict()` without a server.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::{Deadline, Kind, TypeDesc};

use crate::arena::{hash, Record};
use crate::error::DictError;
use crate::hamt;
use crate::store::{Frozen, RootLayout, Step, Store};

/// A dictionary in shared memory: Python's `Manager().dict()`, without the manager process.
/// Keys and values are any serde types (postcard-encoded); named or anonymous; its handle
/// crosses into other processes by name.
///
/// Readers take no lock and never wait: every read sees one committed state. Writers
/// serialise on a crash-aware lock; [`update`](Self::update) is an atomic
/// read-modify-write, so `d[k] += 1` from ten processes is exact. A writer killed at any
/// point leaves the last committed state.
///
/// ```
/// use shmkit::Dict;
///
/// let d: Dict<String, i64> = Dict::anonymous()?;
/// d.insert("apples".to_string(), 3)?;
/// d.update("apples", |n| Some(n.unwrap_or(0) + 1))?;
/// assert_eq!(d.get("apples")?, Some(4));
/// assert_eq!(d.len()?, 1);
/// # Ok::<(), shmkit::DictError>(())
/// ```
pub struct Dict<K, V> {
    store: Store,
    buf: RefCell<Vec<u8>>,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> fmt::Debug for Dict<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dict")
            .field("name", &self.store.object().name().map(|n| n.as_str().to_owned()))
            .finish_non_exhaustive()
    }
}

impl<K, V> Dict<K, V>
where
    K: Serialize + DeserializeOwned + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    fn layout() -> RootLayout {
        RootLayout { kind: Kind::Dict, elem: TypeDesc::of::<(K, V)>() }
    }

    fn wrap(store: Store) -> Self {
        Self { store, buf: RefCell::new(Vec::new()), _types: PhantomData }
    }

    crate::constructors!("dict");

    /// `key` encoded into this handle's buffer, then `f` with it and its hash. The buffer is
    /// taken out for the call, so that `f` may use this handle again.
    fn with_key<Q: Serialize + ?Sized, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&[u8], u64) -> Result<R, DictError>,
    ) -> Result<R, DictError> {
        let mut buf = std::mem::take(&mut *self.buf.borrow_mut());
        buf.clear();
        let buf = postcard::to_extend(key, buf).map_err(DictError::Encode)?;
        let r = f(&buf, hash(&buf));
        *self.buf.borrow_mut() = buf;
        r
    }

    /// The value of `key`, if any: Python's `d.get(k)`.
    ///
    /// # Errors
    ///
    /// [`DictError::Decode`] if the stored value is not a `V`; [`DictError::Corrupt`].
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>, DictError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.with_key(key, |k, h| {
            self.store.read(|v, at, r| hamt::get(v, r.root, at, h, k)?.map(decode).transpose())
        })
    }

    /// Whether `key` is in the dict: Python's `k in d`.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn contains_key<Q>(&self, key: &Q) -> Result<bool, DictError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.with_key(key, |k, h| self.store.read(|v, at, r| Ok(hamt::get(v, r.root, at, h, k)?.is_some())))
    }

    /// How many entries: Python's `len(d)`.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn len(&self) -> Result<usize, DictError> {
        self.store.read(|_, _, r| Ok(r.len as usize))
    }

    /// Whether the dict is empty.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn is_empty(&self) -> Result<bool, DictError> {
        Ok(self.len()? == 0)
    }

    /// Sets `key` to `value`; the value it had: Python's `d[k] = v`.
    ///
    /// # Errors
    ///
    /// [`DictError::Encode`], [`DictError::Decode`] (of the old value), and as
    /// [`update`](Self::update).
    pub fn insert(&self, key: K, value: V) -> Result<Option<V>, DictError> {
        let val = postcard::to_allocvec(&value).map_err(DictError::Encode)?;
        let (mut old, mut val) = (None, Some(val));
        self.with_key(&key, |k, h| {
            // `update_raw` runs this once: the encoding moves in, no copy.
            update_raw(&self.store, k, h, |o| {
                old = o.map(<[u8]>::to_vec);
                Ok(val.take())
            })
        })?;
        old.map(|o| decode(&o)).transpose()
    }

    /// Removes `key`; the value it had.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn remove<Q>(&self, key: &Q) -> Result<Option<V>, DictError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let mut old = None;
        self.with_key(key, |k, h| {
            update_raw(&self.store, k, h, |o| {
                old = o.map(<[u8]>::to_vec);
                Ok(None)
            })
        })?;
        old.map(|o| decode(&o)).transpose()
    }

    /// Atomically replaces the value of `key` by `f(old)` (`None`: absent, and returning
    /// `None` removes it); the new value. No other writer runs in between, so ten processes
    /// adding 1 a thousand times each add exactly 10 000. `f` runs once, under the writers'
    /// lock: keep it short, and do not write to this object from it
    /// ([`DictError::Reentrant`]).
    ///
    /// # Errors
    ///
    /// [`DictError::Encode`], [`DictError::Decode`], [`DictError::Corrupt`].
    pub fn update<Q>(
        &self,
        key: &Q,
        mut f: impl FnMut(Option<V>) -> Option<V>,
    ) -> Result<Option<V>, DictError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let mut out = None;
        self.with_key(key, |k, h| {
            update_raw(&self.store, k, h, |o| {
                out = f(o.map(decode).transpose()?);
                out.as_ref().map(|v| postcard::to_allocvec(v).map_err(DictError::Encode)).transpose()
            })
        })?;
        Ok(out)
    }

    /// The value of `key`, inserting `f()` first if it has none (atomically).
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn get_or_insert_with(&self, key: K, f: impl FnOnce() -> V) -> Result<V, DictError> {
        let mut f = Some(f);
        let got = self.update(&key, |old| old.or_else(|| f.take().map(|f| f())))?;
        got.ok_or(DictError::Corrupt { reason: "an update that inserted left no value" })
    }

    /// Inserts every pair, in one commit: readers see all of them or none.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn extend(&self, pairs: impl IntoIterator<Item = (K, V)>) -> Result<(), DictError> {
        let encoded = pairs
            .into_iter()
            .map(|(k, v)| Ok((postcard::to_allocvec(&k)?, postcard::to_allocvec(&v)?)))
            .collect::<Result<Vec<_>, postcard::Error>>()
            .map_err(DictError::Encode)?;
        self.store.write(Deadline::never(), |_, _, r, a| {
            let mut rec = *r;
            for (k, val) in &encoded {
                // Each insert reads what the previous ones appended.
                let v = a.view();
                let (root, added) = hamt::insert(&v, a, rec.root, v.end(), hash(k), k, val)?;
                rec = Record { root, len: rec.len.saturating_add(u64::from(added)), ..rec };
            }
            Ok(Step::Commit(rec, ()))
        })
    }

    /// Removes every entry.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn clear(&self) -> Result<(), DictError> {
        self.store.write(Deadline::never(), |_, _, r, _| {
            Ok(if r.len == 0 && r.root == 0 {
                Step::Keep(())
            } else {
                Step::Commit(Record { root: 0, len: 0, ..*r }, ())
            })
        })
    }

    /// A consistent view to iterate, that no writer disturbs: Python's proxies cannot
    /// offer that.
    ///
    /// # Errors
    ///
    /// [`DictError::Open`] (the current generation), [`DictError::Corrupt`].
    pub fn snapshot(&self) -> Result<Snapshot<K, V>, DictError> {
        Ok(Snapshot { state: self.store.freeze()?, _types: PhantomData })
    }

    /// The keys now (a snapshot's): Python's `d.keys()`.
    ///
    /// # Errors
    ///
    /// As [`snapshot`](Self::snapshot), and [`DictError::Decode`].
    pub fn keys(&self) -> Result<Vec<K>, DictError> {
        self.snapshot()?.keys()
    }

    /// The values now: Python's `d.values()`.
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys).
    pub fn values(&self) -> Result<Vec<V>, DictError> {
        self.snapshot()?.values()
    }

    /// The pairs now: Python's `d.items()`.
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys).
    pub fn items(&self) -> Result<Vec<(K, V)>, DictError> {
        self.snapshot()?.items()
    }

    crate::versions!();
}

/// A committed state of a [`Dict`], kept whatever writers do next.
pub struct Snapshot<K, V> {
    state: Frozen,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: DeserializeOwned> Snapshot<K, V> {
    /// How many entries.
    pub fn len(&self) -> usize {
        self.state.record.len as usize
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.state.record.len == 0
    }

    /// The version of the commit this snapshot is.
    pub fn version(&self) -> u64 {
        self.state.record.version
    }

    /// The value of `key` in this snapshot.
    ///
    /// # Errors
    ///
    /// [`DictError::Encode`], [`DictError::Decode`], [`DictError::Corrupt`].
    pub fn get<Q>(&self, key: &Q) -> Result<Option<V>, DictError>
    where
        K: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let k = postcard::to_allocvec(key).map_err(DictError::Encode)?;
        self.state.read(|v, at, r| hamt::get(v, r.root, at, hash(&k), &k)?.map(decode).transpose())
    }

    /// Calls `f` with every pair's encoded key and value.
    fn each(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<(), DictError>) -> Result<(), DictError> {
        self.state.read(|v, at, rec| {
            let mut failed = None;
            let r = hamt::for_each(v, rec.root, at, &mut |k, val| {
                f(k, val).map_err(|e| {
                    failed = Some(e);
                    crate::arena::Corrupt("stopped")
                })
            });
            match (r, failed) {
                (_, Some(e)) => Err(e),
                (r, None) => Ok(r?),
            }
        })
    }

    /// The keys.
    ///
    /// # Errors
    ///
    /// [`DictError::Decode`], [`DictError::Corrupt`].
    pub fn keys(&self) -> Result<Vec<K>, DictError> {
        let mut out = Vec::with_capacity(self.len().min(1 << 20));
        self.each(|k, _| {
            out.push(decode(k)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The values.
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys).
    pub fn values(&self) -> Result<Vec<V>, DictError> {
        let mut out = Vec::with_capacity(self.len().min(1 << 20));
        self.each(|_, v| {
            out.push(decode(v)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The pairs.
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys).
    pub fn items(&self) -> Result<Vec<(K, V)>, DictError> {
        let mut out = Vec::with_capacity(self.len().min(1 << 20));
        self.each(|k, v| {
            out.push((decode(k)?, decode(v)?));
            Ok(())
        })?;
        Ok(out)
    }

    /// The pairs as a `HashMap`.
    ///
    /// # Errors
    ///
    /// As [`keys`](Self::keys).
    pub fn to_hash_map(&self) -> Result<HashMap<K, V>, DictError>
    where
        K: Eq + Hash,
    {
        Ok(self.items()?.into_iter().collect())
    }
}

/// Atomically replaces the value of the encoded key `k` (hash `h`) by what `f` makes of
/// the old one (`None`: absent / remove), under the writers' lock; `f` runs once. An error
/// from `f` commits nothing.
pub(crate) fn update_raw(
    store: &Store,
    k: &[u8],
    h: u64,
    mut f: impl FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, DictError>,
) -> Result<(), DictError> {
    let mut err = None;
    // `f`'s answer, kept: a step run again after a growth meets the same committed state,
    // and the caller's closure runs once.
    let mut decided: Option<Option<Vec<u8>>> = None;
    let r = store.write(Deadline::never(), |v, at, r, a| {
        let old = hamt::get(v, r.root, at, h, k)?;
        let had = old.is_some();
        if decided.is_none() {
            decided = Some(f(old).map_err(|e| abort(&mut err, e))?);
        }
        match decided.as_ref().and_then(Option::as_ref) {
            Some(val) => {
                let (root, added) = hamt::insert(v, a, r.root, at, h, k, val)?;
                Ok(Step::Commit(Record { root, len: r.len.saturating_add(u64::from(added)), ..*r }, ()))
            }
            None if had => {
                let root = hamt::remove(v, a, r.root, at, h, k)?.unwrap_or(r.root);
                Ok(Step::Commit(Record { root, len: r.len.saturating_sub(1), ..*r }, ()))
            }
            None => Ok(Step::Keep(())),
        }
    });
    err.map_or(r, Err)
}

/// A stored key or value as a `T`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DictError> {
    postcard::from_bytes(bytes).map_err(DictError::Decode)
}

/// Keeps `e` in `slot` and gives up the write step (it commits nothing).
pub(crate) fn abort(slot: &mut Option<DictError>, e: DictError) -> crate::arena::WriteError {
    *slot = Some(e);
    crate::arena::WriteError::Abort
}
