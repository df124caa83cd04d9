//! [`Namespace`]: Python's `Manager().Namespace()` without a server.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use shmkit_core::{typed, Kind, TypeDesc};

use crate::arena::hash;
use crate::dict::{decode, update_raw};
use crate::error::DictError;
use crate::hamt;
use crate::store::{RootLayout, Store};

/// Named fields of any serde type in shared memory: Python's `Manager().Namespace()`,
/// without the manager process. Each field keeps its value's type: reading it as another
/// type is an error that names both.
///
/// ```
/// use shmkit::Namespace;
///
/// let ns = Namespace::anonymous()?;
/// ns.set("name", "Alice")?;
/// ns.set("age", &30)?;
/// assert_eq!(ns.get::<String>("name")?, Some("Alice".to_string()));
/// assert_eq!(ns.get::<i32>("age")?, Some(30));
/// assert!(ns.get::<String>("age").is_err()); // an i32, not a String
/// # Ok::<(), shmkit::DictError>(())
/// ```
pub struct Namespace {
    store: Store,
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.store.object().name().map(|n| n.as_str().to_owned()))
            .finish_non_exhaustive()
    }
}

impl Namespace {
    fn layout() -> RootLayout {
        RootLayout { kind: Kind::Namespace, elem: TypeDesc::bytes() }
    }

    fn wrap(store: Store) -> Self {
        Self { store }
    }

    crate::constructors!("namespace");

    fn key(field: &str) -> Result<Vec<u8>, DictError> {
        postcard::to_allocvec(field).map_err(DictError::Encode)
    }

    /// Sets field `field` to `value` (of any serde type): Python's `ns.x = v`.
    ///
    /// # Errors
    ///
    /// [`DictError::Encode`], [`DictError::Corrupt`].
    pub fn set<T: Serialize + ?Sized>(&self, field: &str, value: &T) -> Result<(), DictError> {
        let mut val = Some(typed::encode(value).map_err(DictError::Encode)?);
        let k = Self::key(field)?;
        // `update_raw` runs this once: the encoding moves in, no copy.
        update_raw(&self.store, &k, hash(&k), |_| Ok(val.take()))
    }

    /// Field `field` as a `T`, if it is set: Python's `ns.x`.
    ///
    /// # Errors
    ///
    /// [`DictError::Typed`] if it holds another type (both are named); [`DictError::Corrupt`].
    pub fn get<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>, DictError> {
        let k = Self::key(field)?;
        self.store.read(|v, at, r| {
            hamt::get(v, r.root, at, hash(&k), &k)?
                .map(|b| typed::decode(b).map_err(DictError::Typed))
                .transpose()
        })
    }

    /// Whether field `field` is set.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn contains(&self, field: &str) -> Result<bool, DictError> {
        let k = Self::key(field)?;
        self.store.read(|v, at, r| Ok(hamt::get(v, r.root, at, hash(&k), &k)?.is_some()))
    }

    /// Removes field `field`; whether it was set: Python's `del ns.x`.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn remove(&self, field: &str) -> Result<bool, DictError> {
        let k = Self::key(field)?;
        let mut was = false;
        update_raw(&self.store, &k, hash(&k), |old| {
            was = old.is_some();
            Ok(None)
        })?;
        Ok(was)
    }

    /// Atomically replaces field `field` by `f(old)` (`None`: unset); the new value.
    ///
    /// # Errors
    ///
    /// [`DictError::Typed`] if it holds another type, [`DictError::Encode`].
    pub fn update<T: Serialize + DeserializeOwned>(
        &self,
        field: &str,
        mut f: impl FnMut(Option<T>) -> Option<T>,
    ) -> Result<Option<T>, DictError> {
        let k = Self::key(field)?;
        let mut out = None;
        update_raw(&self.store, &k, hash(&k), |old| {
            let old = old.map(|b| typed::decode(b).map_err(DictError::Typed)).transpose()?;
            out = f(old);
            out.as_ref().map(|v| typed::encode(v).map_err(DictError::Encode)).transpose()
        })?;
        Ok(out)
    }

    /// The fields set, in no particular order.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn fields(&self) -> Result<Vec<String>, DictError> {
        self.store.read(|v, at, r| {
            let mut out = Vec::new();
            let mut bad = None;
            hamt::for_each(v, r.root, at, &mut |k, _| match decode::<String>(k) {
                Ok(s) => {
                    out.push(s);
                    Ok(())
                }
                Err(e) => {
                    bad = Some(e);
                    Err(crate::arena::Corrupt("a field name does not decode"))
                }
            })
            .map_err(|c| bad.take().unwrap_or(c.into()))?;
            Ok(out)
        })
    }

    /// How many fields are set.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn len(&self) -> Result<usize, DictError> {
        self.store.read(|_, _, r| Ok(r.len as usize))
    }

    /// Whether no field is set.
    ///
    /// # Errors
    ///
    /// [`DictError::Corrupt`].
    pub fn is_empty(&self) -> Result<bool, DictError> {
        Ok(self.len()? == 0)
    }

    crate::versions!();
}
