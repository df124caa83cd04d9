//! [`Port`]: one end of an SPSC ring in an object, the building block of the SPSC
//! queue's ends and of shmkit-pipe's connections.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use bytemuck::Pod;
use shmkit_core::loom::atomic::{AtomicU64, Ordering};
use shmkit_core::loom::cell::UnsafeCell;
use shmkit_core::process::{current_pid, fork_generation, forks_made};
use shmkit_core::{Deadline, InPlace, Object, OpenError, ParticipantId, Role, WaitStrategy};

use crate::api::Wait;
use crate::error::Fail;
use crate::lamport::{Control, Cursor, Lamport, GONE};
use crate::ring::state;

// SAFETY: `#[repr(C)]` lines of atomics and event counts (AtomicU32/AtomicU64 only, with
// u32 padding), aligned to 128: any bit pattern is valid, peers write them concurrently.
unsafe impl InPlace for Control {}

pub(crate) const TOKEN_BIT: u64 = 1 << 63;

fn token(id: ParticipantId) -> u64 {
    id.to_u64() | TOKEN_BIT
}

/// Where the slots start, from the start of a ring.
pub(crate) const SLOTS: usize = std::mem::size_of::<Control>();

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

/// The participant a port holds its end as, in which process, and how many children
/// that process had forked by then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holding {
    token: u64,
    pid: u32,
    forks: u32,
    /// The fork generation in which `token` was found to be this process's
    /// ([`u32::MAX`] before the first use): while it is current, no other check is needed.
    generation: u32,
}

/// One end of an SPSC ring that lies in an object: the building block of [`Producer`](crate::spsc::Producer),
/// [`Consumer`](crate::spsc::Consumer) and shmkit-pipe's connections (whose objects hold two rings).
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
    /// Who holds this end through this port.
    known: Cell<Holding>,
    /// Which ring of the object this is (its offset over the ring's length).
    ring_index: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> Port<T> {
    /// Wraps the ring at byte `offset` of `obj`'s body, of `capacity` slots (a power of
    /// two), as end `side`, and takes the end now if `take` (else on first use).
    ///
    /// # Errors
    ///
    /// [`OpenError::Corrupt`] if the body does not hold a control block at `offset` and
    /// `capacity` slots after it (checked views); when `take`: [`OpenError::EndTaken`] if
    /// a live process holds the end, or the object has no free participant slot.
    pub fn attach(
        obj: Arc<Object>,
        offset: usize,
        capacity: usize,
        side: Side,
        take: bool,
    ) -> Result<Self, OpenError> {
        if !capacity.is_power_of_two() {
            return Err(OpenError::Corrupt { reason: "a ring's capacity is not a power of two" });
        }
        let ctl = NonNull::from(obj.view::<Control>(offset)?);
        let slots = obj.region::<UnsafeCell<T>>(offset + SLOTS, capacity)?;
        let ring_index = Self::ring_len(capacity).map_or(usize::MAX, |len| offset / len);
        let e = Self {
            obj,
            ctl,
            slots,
            capacity,
            side,
            strategy: WaitStrategy::default(),
            cursor: Cell::new(Cursor::default()),
            known: Cell::new(Holding {
                token: 0,
                pid: current_pid(),
                forks: forks_made(),
                generation: u32::MAX,
            }),
            ring_index,
            _t: PhantomData,
        };
        e.obj.hold_end(e.end_index(side));
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

    /// The object the ring lies in.
    pub fn object(&self) -> &Object {
        &self.obj
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
    pub(crate) fn ring(&self) -> Lamport<'_, T> {
        // SAFETY: `attach` proved (checked views) the control block and `capacity` slots in
        // the body, mapped while `self.obj` lives; atomics and `UnsafeCell<T: Pod>` are valid
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
        self.known.set(Holding {
            token: me,
            pid: current_pid(),
            forks: forks_made(),
            // Token 0 holds nothing: the first use must still take the end.
            generation: if me == 0 { u32::MAX } else { fork_generation() },
        });
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
        if token(id) != self.known.get().token {
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

    /// End `side` of this ring, as [`Object::hold_end`] counts ends.
    fn end_index(&self, side: Side) -> usize {
        self.ring_index.saturating_mul(2).saturating_add(usize::from(side == Side::Consumer))
    }

    /// Whether the other end is gone: held and now dropped or dead; or, in an anonymous
    /// object whose children are watched, never held and with nobody left to take it (no
    /// handle to it in this process, no other live participant: a child forked with the
    /// end is a participant from the fork, see [`Object::watch_children`]).
    pub fn peer_gone(&self) -> bool {
        let w = self.word(self.other()).load(Ordering::Acquire);
        w == GONE || (w & TOKEN_BIT != 0 && !self.holder_alive(w)) || (w == 0 && self.unheld_peer_gone())
    }

    #[cold]
    fn unheld_peer_gone(&self) -> bool {
        // A named object's other end may be opened by name at any time.
        if self.obj.name().is_some()
            || !self.obj.children_watched()
            || self.obj.end_held_here(self.end_index(self.other()))
        {
            return false;
        }
        let Ok(me) = self.obj.participant() else { return false };
        !self.obj.has_other_live_participants(me)
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

    /// Whether this process held the end when it last looked, and has not forked since
    /// (two loads): then [`me`](Self::me) has nothing to do.
    #[inline]
    fn held_now(&self) -> bool {
        self.known.get().generation == fork_generation()
    }

    /// The fast path of a one-slot [`reserve`](Self::reserve): the end is held here, the
    /// ring is open, and the view of `head` shows room (the cached one, else one fresh
    /// load, as [`Lamport::writable`] does). `None`: take the general path.
    #[inline]
    fn room_now(&self) -> Option<u64> {
        if !self.held_now() || self.closed() {
            return None;
        }
        let mut c = self.cursor.get();
        let n = self.ring().writable(&mut c, 1);
        self.cursor.set(c);
        (n == 1).then_some(c.own)
    }

    /// The fast path of a one-slot [`ready`](Self::ready): the end is held here and the
    /// view of `tail` shows an item (the cached one, else one fresh load). `None`: take
    /// the general path.
    #[inline]
    fn item_now(&self) -> Option<u64> {
        if !self.held_now() {
            return None;
        }
        let mut c = self.cursor.get();
        let n = self.ring().readable(&mut c, 1);
        self.cursor.set(c);
        (n == 1).then_some(c.own)
    }

    #[inline]
    pub(crate) fn put_inner<R>(&self, wait: Wait, f: impl FnOnce(&mut T) -> R) -> Result<R, Fail> {
        let pos = match self.room_now() {
            Some(pos) => pos,
            None => self.reserve(1, 1, wait.deadline())?.0,
        };
        let r = self.ring().write(pos, f);
        self.commit(1);
        Ok(r)
    }

    pub(crate) fn put_many(&self, items: &[T], wait: Wait) -> (usize, Option<Fail>) {
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
    pub(crate) fn get_inner<R>(&self, wait: Wait, f: impl FnOnce(&T) -> R) -> Result<R, Fail> {
        let pos = match self.item_now() {
            Some(pos) => pos,
            None => self.ready(1, 1, wait.deadline())?.0,
        };
        let r = self.ring().read(pos, f);
        self.consume(1);
        Ok(r)
    }

    pub(crate) fn get_many(&self, out: &mut [T], wait: Wait) -> Result<usize, Fail> {
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
        self.obj.release_end(self.end_index(self.side));
        // Only the process that holds the end (or would take it on first use) lets it go,
        // not a forked child that never used its copy; and only if it forked no child
        // since (that child may be about to take the end over: its death will tell).
        let Holding { token: me, pid, forks, .. } = self.known.get();
        if pid == current_pid() && forks == forks_made() {
            let _ = self.word(self.side).compare_exchange(me, GONE, Ordering::AcqRel, Ordering::Relaxed);
            let misc = &self.ring().ctl.misc.0;
            misc.not_empty.notify_all();
            misc.not_full.notify_all();
        }
    }
}
