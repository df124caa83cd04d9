//! Handles that cross into other processes by name: [`ByName`].

use std::fmt;
use std::marker::PhantomData;

use bytemuck::Pod;

use crate::{
    Array, Barrier, BoundedSemaphore, Condition, Dict, DictError, Event, JoinableQueue, List, Lock,
    MessageQueue, Namespace, Object, OpenError, Queue, RLock, Semaphore, Value,
};

/// A named object's handle, as an argument for a [`Process`](crate::Process), a
/// [`Pool`](crate::Pool) task or a [`ProcessPoolExecutor`](crate::ProcessPoolExecutor)
/// task: its name (serde), opened again on the other side as the same kind and element
/// type (checked against the object's header there). Python's `Manager().Queue()` handed
/// to a pool, without a manager process.
///
/// ```
/// use shmkit::{ByName, MessageQueue, Pool};
///
/// fn worker(q: ByName<MessageQueue>) -> bool {
///     q.open().is_ok_and(|q| q.put("done").is_ok())
/// }
///
/// let name = format!("example-by-name-{}", std::process::id());
/// let q = MessageQueue::create(&name, 8)?;
/// let pool = Pool::new(1)?;
/// assert!(pool.apply(worker, ByName::of(&q).expect("a named queue"))?);
/// assert_eq!(q.get::<String>()?, "done");
/// MessageQueue::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "")]
pub struct ByName<K> {
    name: String,
    #[serde(skip)]
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for ByName<K> {
    fn clone(&self) -> Self {
        Self { name: self.name.clone(), _kind: PhantomData }
    }
}

impl<K> fmt::Debug for ByName<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByName<{}>({:?})", std::any::type_name::<K>(), self.name)
    }
}

impl<K: Named> ByName<K> {
    /// The name of `handle`'s object; `None` if it is anonymous (an anonymous object
    /// reaches a forked child by inheritance instead).
    pub fn of(handle: &K) -> Option<Self> {
        Some(Self { name: handle.object_of().name()?.as_str().to_owned(), _kind: PhantomData })
    }

    /// The handle for `name` (whether it exists is seen when it is opened).
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), _kind: PhantomData }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens the object again, in this process.
    ///
    /// # Errors
    ///
    /// As the kind's `open`: not found, another kind or element type, ...
    pub fn open(&self) -> Result<K, OpenError> {
        K::open_named(&self.name)
    }
}

/// A kind of named object that [`ByName`] can carry.
pub trait Named: Sized {
    /// Opens the object `name` as this kind.
    ///
    /// # Errors
    ///
    /// As the kind's `open`.
    fn open_named(name: &str) -> Result<Self, OpenError>;

    /// The handle's object.
    fn object_of(&self) -> &Object;
}

macro_rules! named {
    ($($kind:ty),* $(,)?) => {$(
        impl Named for $kind {
            fn open_named(name: &str) -> Result<Self, OpenError> {
                <$kind>::open(name)
            }

            fn object_of(&self) -> &Object {
                self.object()
            }
        }
    )*};
}

named!(MessageQueue, Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier);

macro_rules! named_pod {
    ($($kind:ident),* $(,)?) => {$(
        impl<T: Pod> Named for $kind<T> {
            fn open_named(name: &str) -> Result<Self, OpenError> {
                $kind::<T>::open(name)
            }

            fn object_of(&self) -> &Object {
                self.object()
            }
        }
    )*};
}

named_pod!(Value, Array, Queue, JoinableQueue);

/// A Dict's, List's or Namespace's open error as an [`OpenError`].
fn open_error(e: DictError) -> OpenError {
    match e {
        DictError::Open(e) => e,
        DictError::Corrupt { reason } => OpenError::Corrupt { reason },
        _ => OpenError::Corrupt { reason: "the object could not be opened" },
    }
}

impl<K, V> Named for Dict<K, V>
where
    K: serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn open_named(name: &str) -> Result<Self, OpenError> {
        Self::open(name).map_err(open_error)
    }

    fn object_of(&self) -> &Object {
        self.object()
    }
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> Named for List<T> {
    fn open_named(name: &str) -> Result<Self, OpenError> {
        Self::open(name).map_err(open_error)
    }

    fn object_of(&self) -> &Object {
        self.object()
    }
}

impl Named for Namespace {
    fn open_named(name: &str) -> Result<Self, OpenError> {
        Self::open(name).map_err(open_error)
    }

    fn object_of(&self) -> &Object {
        self.object()
    }
}
