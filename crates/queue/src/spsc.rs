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
//! use shmkit_queue::spsc;
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

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use bytemuck::Pod;
use shmkit_core::loom::atomic::{AtomicU64, Ordering};
use shmkit_core::loom::cell::UnsafeCell;
use shmkit_core::process::{current_pid, forks_made};
use shmkit_core::{
    CreateError, CreateOptions, Deadline, Expect, Kind, Object, OpenError, OpenOptions, ParticipantId, Role,
    Spec, TypeDesc, WaitStrategy,
};

use crate::api::{get_api, put_api, Wait};
pub use crate::error::Fail;
use crate::lamport::{Control, Cursor, Lamport, GONE};
use crate::ring::state;

pub(crate) const TOKEN_BIT: u64 = 1 << 63;

fn token(id: ParticipantId) -> u64 {
    id.to_u64() | TOKEN_BIT
}

/// Where the slots start in the body.
const SLOTS: usize = std::mem::size_of::<Control>();

/// Which end of a ring a [`Port`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The end that writes.
    Producer,
    /// The end that reads.
    Consumer,
}

impl Side {
    /// The role a participant holding this end plays.
    pub fn role(self) -> Role {
        match self {
            Side::Producer => Role::PRODUCER,
            Side::Consumer => Role::CONSUMER,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Producer => "producer",
            Side::Consumer => "consumer",
        }
    }
}

/// One end of an SPSC ring that lies in an object: the building block of [`Producer`],
/// [`Consumer`] and shmkit-pipe's connections (whose objects hold two rings).
///
/// A port holds its end for one participant at a time (see the module docs), waits with
/// the object's wait strategy, and tells when the other end is gone. Its raw interface
/// works in slot positions: [`reserve`](Self::reserve) and [`commit`](Self::commit) on
/// the producer side, [`ready`](Self::ready) and [`consume`](Self::consume) on the
/// consumer side, with [`copy_in`](Self::copy_in)/[`copy_out`](Self::copy_out) between.
pub struct Port<T: Pod> {
    obj: Arc<Object>,
    ctl: NonNull<Control>,
    slots: NonNull<UnsafeCell<T>>,
    capacity: usize,
    side: Side,
    strategy: WaitStrategy,
    cursor: Cell<Cursor>,
    /// The participant this handle holds its end as, in which process, and how many
    /// children that process had forked by then.
    known: Cell<(u64, u32, u32)>,
    _t: PhantomData<T>,
}

impl<T: Pod> Port<T> {
    fn spec(capacity: usize) -> Result<Spec, CreateError> {
        let bad = |reason| CreateError::InvalidSize { size: capacity as u64, reason };
        if capacity == 0 {
            return Err(bad("a queue needs a capacity of at least 1"));
        }
        if capacity > crate::MAX_CAPACITY {
            return Err(bad("a queue holds at most 2^32 items"));
        }
        if std::mem::align_of::<T>() > 128 {
            return Err(bad("elements aligned to more than 128 bytes are not supported"));
        }
        let capacity = capacity.next_power_of_two();
        let len = capacity
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(SLOTS))
            .ok_or(bad("larger than the address space"))?;
        Ok(Spec::new(Kind::SpscQueue, len as u64).elem(TypeDesc::of::<T>(), capacity as u64).slots(8))
    }

    fn check(obj: &Object) -> Result<usize, OpenError> {
        let info = obj.info();
        let corrupt = |reason| OpenError::Corrupt { reason };
        let capacity = usize::try_from(info.elem_count).map_err(|_| corrupt("capacity out of range"))?;
        if !capacity.is_power_of_two() || capacity > crate::MAX_CAPACITY {
            return Err(corrupt("the capacity is not a power of two up to 2^32"));
        }
        let len = capacity.checked_mul(std::mem::size_of::<T>()).and_then(|b| b.checked_add(SLOTS));
        if len.is_none_or(|l| l as u64 != info.body_len || obj.body_len() < l) {
            return Err(corrupt("the body does not match the queue's layout"));
        }
        Ok(capacity)
    }

    /// Wraps the ring at byte `offset` of `obj`'s body, of `capacity` slots, as end
    /// `side`, and takes the end now if `take` (else on first use).
    ///
    /// # Errors
    ///
    /// When `take`: [`OpenError::EndTaken`] if a live process holds the end, or the
    /// object has no free participant slot.
    ///
    /// # Safety
    ///
    /// The body must hold, from `offset` (a multiple of 128), a [`Control`] followed by
    /// `capacity` slots of `T` (a power of two): checked against the object's layout by
    /// the caller.
    pub unsafe fn attach(
        obj: Arc<Object>,
        offset: usize,
        capacity: usize,
        side: Side,
        take: bool,
    ) -> Result<Self, OpenError> {
        debug_assert!(capacity.is_power_of_two() && offset % 128 == 0);
        // SAFETY: the caller promises the control block and `capacity` slots from
        // `offset` (128-aligned in a 128-aligned body; SLOTS is a multiple of 128).
        let (ctl, slots) = unsafe {
            let base = obj.body().add(offset);
            (NonNull::new_unchecked(base.cast::<Control>()), NonNull::new_unchecked(base.add(SLOTS).cast()))
        };
        let e = Self {
            obj,
            ctl,
            slots,
            capacity,
            side,
            strategy: WaitStrategy::default(),
            cursor: Cell::new(Cursor::default()),
            known: Cell::new((0, current_pid(), forks_made())),
            _t: PhantomData,
        };
        if take {
            e.take_end()?;
        } else {
            e.adopt(0);
        }
        Ok(e)
    }

    /// The bytes a ring of `capacity` slots takes in a body (control block included).
    pub fn ring_len(capacity: usize) -> Option<usize> {
        capacity.checked_mul(std::mem::size_of::<T>())?.checked_add(SLOTS)
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.strategy = strategy;
    }

    /// The number of slots.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Producer: waits until `deadline` (`None`: not at all) for `min` free slots (at
    /// most the capacity); returns the position of the first free slot and how many are
    /// free from there, at most `want` (which is at least `min`).
    ///
    /// # Errors
    ///
    /// [`Fail::Nothing`] (full, no deadline), [`Fail::Timeout`], [`Fail::Disconnected`]
    /// (closed, or the consumer is gone), [`Fail::NoSlot`].
    pub fn reserve(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail> {
        let min = min.clamp(1, self.capacity as u64);
        let want = want.max(min);
        self.me()?;
        if self.closed() {
            return Err(Fail::Disconnected);
        }
        let ring = self.ring();
        let mut c = self.cursor.get();
        let mut n = ring.writable(&mut c, want);
        if n < min {
            let Some(deadline) = deadline else {
                self.cursor.set(c);
                return Err(Fail::Nothing);
            };
            let waited = self.wait(deadline, || ring.writable(&mut { c }, min) >= min);
            self.cursor.set(c);
            waited?;
            n = ring.writable(&mut c, want);
        }
        self.cursor.set(c);
        Ok((c.own, n))
    }

    /// Producer: publishes the next `n` slots (written after a [`reserve`](Self::reserve)
    /// that returned at least `n`) and wakes a parked consumer.
    pub fn commit(&self, n: u64) {
        let ring = self.ring();
        let mut c = self.cursor.get();
        c.own = c.own.wrapping_add(n);
        ring.publish(&c);
        self.cursor.set(c);
        ring.ctl.misc.0.not_empty.notify_one();
    }

    /// Consumer: waits until `deadline` (`None`: not at all) for `min` published slots
    /// (at most the capacity); returns the position of the first and how many are
    /// readable, at most `want` (which is at least `min`). Fewer than `min` left by a
    /// producer that is gone, or in a closed ring, are `Disconnected` once nothing more
    /// comes.
    ///
    /// # Errors
    ///
    /// [`Fail::Nothing`] (empty, no deadline), [`Fail::Timeout`], [`Fail::Disconnected`]
    /// (empty and closed, or the producer is gone), [`Fail::NoSlot`].
    pub fn ready(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail> {
        let min = min.clamp(1, self.capacity as u64);
        let want = want.max(min);
        self.me()?;
        let ring = self.ring();
        let mut c = self.cursor.get();
        let mut n = ring.readable(&mut c, want);
        if n < min {
            let Some(deadline) = deadline else {
                self.cursor.set(c);
                return Err(self.empty_now(min));
            };
            let waited = self.wait(deadline, || ring.readable(&mut { c }, min) >= min);
            self.cursor.set(c);
            waited?;
            n = ring.readable(&mut c, want);
        }
        self.cursor.set(c);
        Ok((c.own, n))
    }

    /// Consumer: gives the next `n` slots (read after a [`ready`](Self::ready) that
    /// returned at least `n`) back to the producer and wakes it if parked.
    pub fn consume(&self, n: u64) {
        let ring = self.ring();
        let mut c = self.cursor.get();
        c.own = c.own.wrapping_add(n);
        ring.release(&c);
        self.cursor.set(c);
        ring.ctl.misc.0.not_full.notify_one();
    }

    /// Copies `src` into the slots from position `pos` (wrapping around the ring).
    ///
    /// # Panics
    ///
    /// If `src` is longer than the ring.
    pub fn copy_in(&self, pos: u64, src: &[T]) {
        let (first, rest) = self.split(pos, src.len());
        // SAFETY: `split` keeps both ranges inside the ring's `capacity` slots, which lie
        // in the mapping; `T: Pod`, and the producer owns reserved slots until `commit`.
        unsafe {
            let base = self.slots.as_ptr().cast::<T>();
            std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(first.0), first.1);
            if rest > 0 {
                std::ptr::copy_nonoverlapping(src.as_ptr().add(first.1), base, rest);
            }
        }
    }

    /// Copies the slots from position `pos` (wrapping around the ring) into `dst`.
    ///
    /// # Panics
    ///
    /// If `dst` is longer than the ring.
    pub fn copy_out(&self, pos: u64, dst: &mut [T]) {
        let (first, rest) = self.split(pos, dst.len());
        // SAFETY: as in `copy_in`; the consumer owns ready slots until `consume`, and any
        // bits a peer left are a valid `T`.
        unsafe {
            let base = self.slots.as_ptr().cast::<T>();
            std::ptr::copy_nonoverlapping(base.add(first.0), dst.as_mut_ptr(), first.1);
            if rest > 0 {
                std::ptr::copy_nonoverlapping(base, dst.as_mut_ptr().add(first.1), rest);
            }
        }
    }

    /// `len` slots from `pos` as (start index, count) up to the ring's end, then a count
    /// from index 0.
    fn split(&self, pos: u64, len: usize) -> ((usize, usize), usize) {
        assert!(len <= self.capacity, "a copy of {len} slots exceeds the ring's {}", self.capacity);
        let start = (pos & (self.capacity as u64 - 1)) as usize;
        let first = len.min(self.capacity - start);
        ((start, first), len - first)
    }

    #[inline]
    fn ring(&self) -> Lamport<'_, T> {
        // SAFETY: `attach` checked that the control block and `capacity` slots lie in the
        // body, mapped while `self.obj` lives; atomics and `UnsafeCell<T: Pod>` are valid
        // for any bits and for writes by other processes.
        unsafe {
            Lamport::new(self.ctl.as_ref(), std::slice::from_raw_parts(self.slots.as_ptr(), self.capacity))
        }
    }

    fn word(&self, side: Side) -> &AtomicU64 {
        let misc = &self.ring().ctl.misc.0;
        match side {
            Side::Producer => &misc.producer,
            Side::Consumer => &misc.consumer,
        }
    }

    fn other(&self) -> Side {
        match self.side {
            Side::Producer => Side::Consumer,
            Side::Consumer => Side::Producer,
        }
    }

    /// Takes this handle's end for its participant, unless a live process holds it.
    ///
    /// # Errors
    ///
    /// [`OpenError::EndTaken`]; no free participant slot.
    pub fn take_end(&self) -> Result<(), OpenError> {
        let me = token(self.obj.participant()?);
        let word = self.word(self.side);
        let mut cur = word.load(Ordering::Acquire);
        loop {
            if cur & TOKEN_BIT != 0 && cur != me && self.holder_alive(cur) {
                let id = ParticipantId::from_u64(cur & !TOKEN_BIT);
                let pid = self.obj.participants().iter().find(|p| p.id == id).map_or(0, |p| p.pid);
                return Err(OpenError::EndTaken { end: self.side.name(), pid });
            }
            match word.compare_exchange(cur, me, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.adopt(me);
        Ok(())
    }

    /// Starts from the shared indices as participant `me`.
    fn adopt(&self, me: u64) {
        let ring = self.ring();
        self.cursor.set(match self.side {
            Side::Producer => ring.producer_cursor(),
            Side::Consumer => ring.consumer_cursor(),
        });
        self.known.set((me, current_pid(), forks_made()));
    }

    fn holder_alive(&self, word: u64) -> bool {
        word & TOKEN_BIT != 0 && self.obj.is_alive(ParticipantId::from_u64(word & !TOKEN_BIT))
    }

    /// Takes the end on first use (in a forked child: over from the parent), as every
    /// operation does; for an owner of several ports that must be held together.
    ///
    /// # Errors
    ///
    /// [`Fail::NoSlot`] if the object has no free participant slot.
    #[inline]
    pub fn hold(&self) -> Result<(), Fail> {
        self.me()
    }

    #[inline]
    fn me(&self) -> Result<(), Fail> {
        let id = self.obj.participant().map_err(|_| Fail::NoSlot)?;
        if token(id) != self.known.get().0 {
            self.take_over(id);
        }
        Ok(())
    }

    #[cold]
    fn take_over(&self, id: ParticipantId) {
        self.word(self.side).store(token(id), Ordering::Release);
        self.adopt(token(id));
    }

    /// Whether the ring was closed.
    pub fn closed(&self) -> bool {
        self.ring().ctl.misc.0.state.load(Ordering::Acquire) & state::CLOSED != 0
    }

    /// Whether the other end was dropped (a load; no system call).
    pub fn peer_dropped(&self) -> bool {
        self.word(self.other()).load(Ordering::Acquire) == GONE
    }

    /// Producer: whether the consumer had taken everything up to our last publish when
    /// we last read its index (no shared read: it may have since).
    pub fn seen_drained(&self) -> bool {
        let c = self.cursor.get();
        c.own == c.cached
    }

    /// Whether the other end was held and is now dropped or dead.
    pub fn peer_gone(&self) -> bool {
        let w = self.word(self.other()).load(Ordering::Acquire);
        w == GONE || (w & TOKEN_BIT != 0 && !self.holder_alive(w))
    }

    /// Why a non-blocking get found fewer than `min` items: `Disconnected` if the queue is
    /// closed or the producer dropped its end (no system call: a dead producer is noticed
    /// by blocking gets), else empty.
    fn empty_now(&self, min: u64) -> Fail {
        if (self.closed() || self.peer_dropped()) && (self.ring().len() as u64) < min {
            Fail::Disconnected
        } else {
            Fail::Nothing
        }
    }

    /// Closes the ring for both ends: the producer's reserves fail, the consumer drains
    /// what is left and then gets `Disconnected`.
    pub fn close(&self) {
        let misc = &self.ring().ctl.misc.0;
        misc.state.fetch_or(state::CLOSED, Ordering::AcqRel);
        misc.not_empty.notify_all();
        misc.not_full.notify_all();
    }

    /// Waits on `ec` until `ready` finds room (or items): `Disconnected` when closed or
    /// the peer is gone (for a get: and `ready` still finds too little).
    #[cold]
    fn wait(&self, deadline: Deadline, ready: impl Fn() -> bool) -> Result<(), Fail> {
        let misc = &self.ring().ctl.misc.0;
        let producing = self.side == Side::Producer;
        let ec = if producing { &misc.not_full } else { &misc.not_empty };
        // A consumer looks again after seeing the end: what came before it is drained.
        let ended = |gone: bool| gone && (producing || !ready());
        let r = ec.wait_checked(
            self.strategy,
            deadline,
            || {
                if ready() {
                    Some(Ok(()))
                } else {
                    ended(self.closed()).then_some(Err(Fail::Disconnected))
                }
            },
            || ended(self.peer_gone()).then_some(Err(Fail::Disconnected)),
        );
        r.unwrap_or(Err(Fail::Timeout))
    }

    #[inline]
    fn put_inner<R>(&self, wait: Wait, f: impl FnOnce(&mut T) -> R) -> Result<R, Fail> {
        let (pos, _) = self.reserve(1, 1, wait.deadline())?;
        let r = self.ring().write(pos, f);
        self.commit(1);
        Ok(r)
    }

    fn put_many(&self, items: &[T], wait: Wait) -> (usize, Option<Fail>) {
        let mut done = 0;
        while done < items.len() {
            let (pos, n) = match self.reserve(1, (items.len() - done) as u64, wait.deadline()) {
                Ok(got) => got,
                Err(Fail::Nothing) => break,
                Err(e) => return (done, Some(e)),
            };
            let n = n as usize;
            self.copy_in(pos, &items[done..done + n]);
            self.commit(n as u64);
            done += n;
        }
        (done, None)
    }

    #[inline]
    fn get_inner<R>(&self, wait: Wait, f: impl FnOnce(&T) -> R) -> Result<R, Fail> {
        let (pos, _) = self.ready(1, 1, wait.deadline())?;
        let r = self.ring().read(pos, f);
        self.consume(1);
        Ok(r)
    }

    fn get_many(&self, out: &mut [T], wait: Wait) -> Result<usize, Fail> {
        if out.is_empty() {
            return Ok(0);
        }
        let (pos, n) = self.ready(1, out.len() as u64, wait.deadline())?;
        let n = n as usize;
        self.copy_out(pos, &mut out[..n]);
        self.consume(n as u64);
        Ok(n)
    }
}

// SAFETY: the pointers point into the mapping that the port's `Arc<Object>` keeps alive
// (and `Object` is `Send + Sync`: checked below); `T: Pod` values are plain bytes. The
// `Cell`s keep a port `!Sync`: one user at a time, in whichever thread.
unsafe impl<T: Pod> Send for Port<T> {}

const _: () = {
    const fn send_sync<O: Send + Sync>() {}
    send_sync::<Object>();
};

impl<T: Pod> Drop for Port<T> {
    fn drop(&mut self) {
        // Only the process that holds the end (or would take it on first use) lets it go,
        // not a forked child that never used its copy; and only if it forked no child
        // since (that child may be about to take the end over: its death will tell).
        let (me, pid, forks) = self.known.get();
        if pid == current_pid() && forks == forks_made() {
            let _ = self.word(self.side).compare_exchange(me, GONE, Ordering::AcqRel, Ordering::Relaxed);
            let misc = &self.ring().ctl.misc.0;
            misc.not_empty.notify_all();
            misc.not_full.notify_all();
        }
    }
}

/// Creates an anonymous SPSC queue of at least `capacity` items (rounded up to a power
/// of two) and returns both ends; fork, and keep one end in each process.
///
/// # Errors
///
/// As [`Object::anonymous`]; a zero capacity is [`CreateError::InvalidSize`].
pub fn channel<T: Pod>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CreateError> {
    let spec = Port::<T>::spec(capacity)?;
    let obj = Object::anonymous(&spec, |_, _| {})?;
    obj.set_role(Role::PRODUCER_CONSUMER);
    let obj = Arc::new(obj);
    let cap = spec.count as usize;
    // Each end is taken by the process that uses it first, so a child forked with it
    // holds it from its first call.
    // SAFETY: the object was made from `spec`: one ring of `cap` slots at 0.
    let p = unsafe { Port::attach(obj.clone(), 0, cap, Side::Producer, false) };
    // SAFETY: as above.
    let c = unsafe { Port::attach(obj, 0, cap, Side::Consumer, false) };
    let (p, c) = (p.map_err(open_to_create)?, c.map_err(open_to_create)?);
    Ok((Producer { e: p }, Consumer { e: c }))
}

fn open_to_create(e: OpenError) -> CreateError {
    CreateError::Io { op: "attaching to the new queue", source: std::io::Error::other(e.to_string()) }
}

fn create_end<T: Pod>(
    name: &str,
    capacity: usize,
    opts: &CreateOptions,
    side: Side,
) -> Result<Port<T>, CreateError> {
    let spec = Port::<T>::spec(capacity)?;
    let obj = Object::create(name, &spec, opts, |_, _| {})?;
    obj.set_role(side.role());
    // SAFETY: the object was made from `spec`: one ring of `spec.count` slots at 0.
    unsafe { Port::attach(Arc::new(obj), 0, spec.count as usize, side, true) }.map_err(open_to_create)
}

fn open_end<T: Pod>(name: &str, opts: &OpenOptions, side: Side) -> Result<Port<T>, OpenError> {
    let obj = Object::open(name, &Expect::kind(Kind::SpscQueue).elem(TypeDesc::of::<T>()), opts)?;
    let capacity = Port::<T>::check(&obj)?;
    obj.set_role(side.role());
    // SAFETY: `check` found one ring of `capacity` slots at 0 in the body.
    unsafe { Port::attach(Arc::new(obj), 0, capacity, side, true) }
}

macro_rules! end_common {
    ($what:literal) => {
        #[doc = concat!("Creates the named SPSC queue `name` and holds its ", $what, " end.")]
        ///
        /// # Errors
        ///
        /// As [`Object::create`]; a zero capacity is [`CreateError::InvalidSize`].
        pub fn create(name: &str, capacity: usize) -> Result<Self, CreateError> {
            Self::create_with(name, capacity, &CreateOptions::new())
        }

        /// [`create`](Self::create) with options (the file mode).
        ///
        /// # Errors
        ///
        /// As [`create`](Self::create).
        pub fn create_with(name: &str, capacity: usize, opts: &CreateOptions) -> Result<Self, CreateError> {
            create_end(name, capacity, opts, Self::SIDE).map(|e| Self { e })
        }

        #[doc = concat!("Opens the named SPSC queue `name` and takes its ", $what, " end.")]
        ///
        /// # Errors
        ///
        /// As [`Object::open`]; [`OpenError::EndTaken`] if a live process holds the end.
        pub fn open(name: &str) -> Result<Self, OpenError> {
            Self::open_with(name, &OpenOptions::new())
        }

        /// [`open`](Self::open) with options.
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open).
        pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
            open_end(name, opts, Self::SIDE).map(|e| Self { e })
        }

        /// Removes the name `name` (attached processes keep using the queue).
        ///
        /// # Errors
        ///
        /// As [`shmkit_core::segment::unlink`].
        pub fn unlink(name: &str) -> Result<(), shmkit_core::UnlinkError> {
            shmkit_core::segment::unlink(name)
        }

        /// Sets how blocked calls wait (spin, spin then sleep, or sleep).
        pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
            self.e.strategy = strategy;
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
            self.len() >= self.e.capacity
        }

        /// How many items it holds at most (a power of two).
        pub fn capacity(&self) -> usize {
            self.e.capacity
        }

        /// The underlying object.
        pub fn object(&self) -> &Object {
            &self.e.obj
        }
    };
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
        f.debug_struct("spsc::Producer").field("capacity", &self.e.capacity).finish_non_exhaustive()
    }
}

impl<T: Pod> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("spsc::Consumer").field("capacity", &self.e.capacity).finish_non_exhaustive()
    }
}

impl<T: Pod> Producer<T> {
    const SIDE: Side = Side::Producer;

    end_common!("producer");

    fn put_inner<R>(&self, wait: Wait, f: impl FnOnce(&mut T) -> R) -> Result<R, Fail> {
        self.e.put_inner(wait, f)
    }

    fn put_many(&self, items: &[T], wait: Wait) -> (usize, Option<Fail>) {
        self.e.put_many(items, wait)
    }

    put_api!();
}

impl<T: Pod> Consumer<T> {
    const SIDE: Side = Side::Consumer;

    end_common!("consumer");

    fn get_inner<R>(&self, wait: Wait, f: impl FnOnce(&T) -> R) -> Result<R, Fail> {
        self.e.get_inner(wait, f)
    }

    fn get_many(&self, out: &mut [T], wait: Wait) -> Result<usize, Fail> {
        self.e.get_many(out, wait)
    }

    get_api!();
}
