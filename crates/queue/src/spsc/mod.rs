//! One producer, one consumer: [`Producer`] and [`Consumer`] over a Lamport ring, the
//! fastest path between two processes.
//!
//! Each end is held by one participant at a time: opening an end held by a live process
//! fails with [`OpenError::EndTaken`]. The ends of an anonymous [`channel`] are taken by
//! the process that uses each first, so a forked child holds the end it uses, and its
//! death is seen by the other side. An end whose holder died can be opened again (the
//! new producer carries on from the last published item, a new consumer from the last
//! released one, so an item being read when its consumer died is delivered again).
//!
//! A blocked `get` reports `Disconnected` once the queue is empty and the producer is
//! gone (dropped or dead); a blocked `put` likewise once the consumer is gone.
//!
//! ```
//! use shmkit::spsc;
//!
//! let (tx, rx) = spsc::channel::<u64>(1024)?;
//! // fork here: the child keeps `tx`, the parent `rx`
//! tx.put_slice(&[1, 2, 3])?; // one publish, one wake-up
//! let mut out = [0; 8];
//! assert_eq!(rx.get_slice(&mut out)?, 3);
//! drop(tx);
//! assert!(rx.get().is_err()); // the producer is gone
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use bytemuck::Pod;
use shmkit_core::{
    CreateError, CreateOptions, Expect, Handle, Kind, Layout, Object, OpenError, OpenOptions, Role, Spec,
    TypeDesc, UnlinkError, WaitStrategy,
};

use crate::api::{get_api, put_api, Wait};
pub use crate::error::Fail;
use crate::options::check_capacity;

mod port;

pub(crate) use port::TOKEN_BIT;
pub use port::{Port, Side};

/// The layout of an SPSC queue of `T`: one ring (control block, then the slots).
#[derive(Debug)]
struct SpscLayout<T>(PhantomData<fn() -> T>);

impl<T> Clone for SpscLayout<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> SpscLayout<T> {
    const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: Pod> Layout for SpscLayout<T> {
    /// At least this many slots.
    type Params<'a> = usize;
    /// The number of slots (a power of two).
    type Geometry = usize;

    fn spec(&self, &capacity: &usize, participants: u32) -> Result<Spec, CreateError> {
        check_capacity::<T>(capacity)?;
        let bad = |reason| CreateError::InvalidSize { size: capacity as u64, reason };
        let capacity = capacity.next_power_of_two();
        let len = Port::<T>::ring_len(capacity).ok_or(bad("larger than the address space"))?;
        Ok(Spec::new(Kind::SpscQueue, len as u64)
            .elem(TypeDesc::of::<T>(), capacity as u64)
            .slots(participants))
    }

    fn expect(&self) -> Expect {
        Expect::kind(Kind::SpscQueue).elem(TypeDesc::of::<T>())
    }

    fn init(&self, _obj: &Object, _capacity: usize) -> Result<(), CreateError> {
        // All zeroes is an empty ring with neither end held.
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<usize, OpenError> {
        let info = obj.info();
        let corrupt = |reason| OpenError::Corrupt { reason };
        let capacity = usize::try_from(info.elem_count).map_err(|_| corrupt("capacity out of range"))?;
        if !capacity.is_power_of_two() || capacity > crate::MAX_CAPACITY {
            return Err(corrupt("the capacity is not a power of two up to 2^32"));
        }
        if Port::<T>::ring_len(capacity).is_none_or(|l| l as u64 != info.body_len) {
            return Err(corrupt("the body does not match the queue's layout"));
        }
        Ok(capacity)
    }
}

/// End `side` of the queue behind `h`, taken now.
fn end<T: Pod>(h: Handle<SpscLayout<T>>, side: Side) -> Result<Port<T>, OpenError> {
    h.object().set_role(side.role());
    let (obj, capacity) = h.into_parts();
    Port::attach(Arc::new(obj), 0, capacity, side, true)
}

/// Creates an anonymous SPSC queue of at least `capacity` items (rounded up to a power
/// of two) and returns both ends; fork, and keep one end in each process. Each end is
/// taken by the process that uses it first, so a child forked with it holds it from its
/// first call.
///
/// # Errors
///
/// As [`shmkit_core::Handle::anonymous_with`]; a zero capacity is
/// [`CreateError::InvalidSize`].
pub fn channel<T: Pod>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CreateError> {
    let h = Handle::anonymous(SpscLayout::<T>::new(), capacity)?;
    h.object().set_role(Role::PRODUCER_CONSUMER);
    // A child forked with an end and dead before it used it is then a gone peer.
    h.object().watch_children();
    let (obj, capacity) = h.into_parts();
    let obj = Arc::new(obj);
    let p = Port::attach(Arc::clone(&obj), 0, capacity, Side::Producer, false);
    let c = Port::attach(obj, 0, capacity, Side::Consumer, false);
    let (p, c) = (p.map_err(CreateError::from_layout)?, c.map_err(CreateError::from_layout)?);
    Ok((Producer { e: p }, Consumer { e: c }))
}

/// The producer end of an SPSC queue.
pub struct Producer<T: Pod> {
    e: Port<T>,
}

/// The consumer end of an SPSC queue.
pub struct Consumer<T: Pod> {
    e: Port<T>,
}

impl<T: Pod> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("spsc::Producer").field("capacity", &self.e.capacity()).finish_non_exhaustive()
    }
}

impl<T: Pod> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("spsc::Consumer").field("capacity", &self.e.capacity()).finish_non_exhaustive()
    }
}

impl<T: Pod> Producer<T> {
    /// Creates the named SPSC queue `name` of at least `capacity` items (rounded up to a
    /// power of two) and holds its producer end. Errors as
    /// [`shmkit_core::Handle::create_with`]; a zero capacity is [`CreateError::InvalidSize`].
    pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
        Self::create_with(name, capacity, &CreateOptions::new())
    }

    /// [`create`](Self::create) with options (file mode, participants).
    pub fn create_with(name: &str, capacity: usize, opts: &CreateOptions) -> Result<Self, CreateError> {
        let h = Handle::create_with(SpscLayout::new(), name, capacity, opts)?;
        end(h, Side::Producer).map_err(CreateError::from_layout).map(|e| Self { e })
    }

    /// Opens the named SPSC queue `name` and takes its producer end. Errors as
    /// [`shmkit_core::Handle::open_with`]; [`OpenError::EndTaken`] if a live process holds it.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// [`open`](Self::open) with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        end(Handle::open_with(SpscLayout::new(), name, opts)?, Side::Producer).map(|e| Self { e })
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Removes the name `name`; processes that have the queue open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<SpscLayout<T>>::unlink(name)
    }

    /// Sets how blocked calls wait (spin, spin then sleep, or sleep).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.e.set_wait_strategy(strategy);
    }

    /// Closes the queue for both ends: puts fail, gets drain what is left and then
    /// report `Disconnected`.
    pub fn close(&self) {
        self.e.close();
    }

    /// The number of items (racy).
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.e.ring().len()
    }

    /// Whether the queue looks empty (racy).
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue looks full (racy).
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        self.len() >= self.e.capacity()
    }

    /// How many items it holds at most (a power of two).
    pub fn capacity(&self) -> usize {
        self.e.capacity()
    }

    /// The underlying object.
    pub fn object(&self) -> &Object {
        self.e.object()
    }

    fn put_inner<R>(&self, wait: Wait, f: impl FnOnce(&mut T) -> R) -> Result<R, Fail> {
        self.e.put_inner(wait, f)
    }

    fn put_many(&self, items: &[T], wait: Wait) -> (usize, Option<Fail>) {
        self.e.put_many(items, wait)
    }

    put_api!();
}

impl<T: Pod> Consumer<T> {
    /// Creates the named SPSC queue `name` of at least `capacity` items (rounded up to a
    /// power of two) and holds its consumer end. Errors as
    /// [`shmkit_core::Handle::create_with`]; a zero capacity is [`CreateError::InvalidSize`].
    pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
        Self::create_with(name, capacity, &CreateOptions::new())
    }

    /// [`create`](Self::create) with options (file mode, participants).
    pub fn create_with(name: &str, capacity: usize, opts: &CreateOptions) -> Result<Self, CreateError> {
        let h = Handle::create_with(SpscLayout::new(), name, capacity, opts)?;
        end(h, Side::Consumer).map_err(CreateError::from_layout).map(|e| Self { e })
    }

    /// Opens the named SPSC queue `name` and takes its consumer end. Errors as
    /// [`shmkit_core::Handle::open_with`]; [`OpenError::EndTaken`] if a live process holds it.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// [`open`](Self::open) with options.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        end(Handle::open_with(SpscLayout::new(), name, opts)?, Side::Consumer).map(|e| Self { e })
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Removes the name `name`; processes that have the queue open keep using it.
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<SpscLayout<T>>::unlink(name)
    }

    /// Sets how blocked calls wait (spin, spin then sleep, or sleep).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.e.set_wait_strategy(strategy);
    }

    /// Closes the queue for both ends: puts fail, gets drain what is left and then
    /// report `Disconnected`.
    pub fn close(&self) {
        self.e.close();
    }

    /// The number of items (racy).
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.e.ring().len()
    }

    /// Whether the queue looks empty (racy).
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue looks full (racy).
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        self.len() >= self.e.capacity()
    }

    /// How many items it holds at most (a power of two).
    pub fn capacity(&self) -> usize {
        self.e.capacity()
    }

    /// The underlying object.
    pub fn object(&self) -> &Object {
        self.e.object()
    }

    fn get_inner<R>(&self, wait: Wait, f: impl FnOnce(&T) -> R) -> Result<R, Fail> {
        self.e.get_inner(wait, f)
    }

    fn get_many(&self, out: &mut [T], wait: Wait) -> Result<usize, Fail> {
        self.e.get_many(out, wait)
    }

    get_api!();
}
