//! [`MessageQueue`]: Python's `multiprocessing.Queue` for messages of any size, and
//! [`SimpleQueue`].

use std::fmt;
use std::time::Duration;

use shmkit_core::{
    CreateError, Deadline, Handle, Object, OpenError, OpenOptions, OpenOrCreateError, UnlinkError,
    WaitStrategy,
};
use shmkit_sync::raw::{token, Acquired, Liveness};

use crate::error::MessageError;
use crate::layout::{MessageQueueOptions, MqLayout};
use crate::pool::{Claim, Desc, Pool, Taken, MAX_LEN};

/// Messages up to this size are copied while the lock is held, saving a second lock
/// round; larger ones are copied outside it.
const INLINE: usize = 4096;

/// How many more times a `try_` form asks for a busy lock before it gives up.
const TRY_SPINS: u32 = 1000;

/// A queue of messages of any size between processes: Python's `multiprocessing.Queue`,
/// carrying bytes, or serde values (strings, tuples, vectors, maps, your structs) with
/// the `serde` feature. Multi-producer, multi-consumer, bounded by a message count
/// (`maxsize`, exactly as Python) and by its pool of chunks; `put` waits for room, `get`
/// for a message, each with `try_`, `_timeout` and `_deadline` forms (`get_bytes_into`,
/// `loan` and `get_with` with a `_deadline` form).
///
/// Messages live in a pool of fixed-size chunks in the object: a message is a chain of
/// chunks, the queue a ring of (first chunk, length) descriptors. Changes of ownership
/// happen under one crash-aware lock (held for a few stores, or for the copy of a message
/// up to 4 KiB); larger messages are copied outside it.
///
/// **Crashes.** A producer killed before its `put` returns leaves no trace: its message is
/// not delivered and its chunks go back to the pool. A consumer killed while it reads a
/// message loses that message (it is never delivered twice). A process killed holding the
/// lock is noticed by the next one, which repairs the queue from what was committed.
///
/// ```
/// use shmkit::MessageQueue;
///
/// let q = MessageQueue::anonymous(10)?;
/// q.put_bytes(b"hello")?;
/// q.put_bytes(&vec![7u8; 100_000])?; // any size, up to the pool's
/// assert_eq!(q.qsize(), 2);
/// assert_eq!(q.get_bytes()?, b"hello");
/// assert_eq!(q.get_bytes()?.len(), 100_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MessageQueue {
    h: Handle<MqLayout>,
}

// SAFETY: the handle's parts point into the mapping its `Object` (Send + Sync) keeps alive;
// everything they reach is atomics, or bytes copied raw under the protocol in `pool`.
unsafe impl Send for MessageQueue {}
// SAFETY: as above; every shared access goes through atomics or the queue's lock.
unsafe impl Sync for MessageQueue {}

impl fmt::Debug for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageQueue")
            .field("name", &self.object().name().map(|n| n.as_str().to_owned()))
            .field("maxsize", &self.maxsize())
            .field("qsize", &self.qsize())
            .finish_non_exhaustive()
    }
}

/// A message queue's chunks by owner (see [`MessageQueue::pool_state`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolState {
    /// The pool's chunks.
    pub chunks: usize,
    /// Free.
    pub free: usize,
    /// In queued messages.
    pub queued: usize,
    /// Held by live processes (a message being written or read).
    pub held: usize,
    /// Held by dead processes, until a repair gives them back.
    pub dead: usize,
}

/// Where a received message goes.
enum Sink<'b> {
    Vec(&'b mut Vec<u8>),
    Buf(&'b mut [u8]),
}

impl MessageQueue {
    /// Creates the named queue `name` for at most `maxsize` messages (0: 65 536) in a
    /// 4 MiB pool.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::create_with`].
    pub fn create(name: &str, maxsize: usize) -> Result<Self, CreateError> {
        Self::create_with(name, maxsize, &MessageQueueOptions::new())
    }

    /// [`create`](Self::create) with options (pool size, chunk size, mode, clean-up).
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create); options out of range are [`CreateError::InvalidSize`].
    pub fn create_with(name: &str, maxsize: usize, opts: &MessageQueueOptions) -> Result<Self, CreateError> {
        Handle::create_with(MqLayout, name, opts.geometry(maxsize)?, opts.get_create()).map(|h| Self { h })
    }

    /// Opens the named queue `name`.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::open_with`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named queue `name` with options.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Handle::open_with(MqLayout, name, opts).map(|h| Self { h })
    }

    /// Opens `name`, waiting up to `timeout` for it to appear.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as [`open`](Self::open).
    pub fn open_timeout(name: &str, timeout: Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Opens `name`, or creates it for `maxsize` messages.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str, maxsize: usize) -> Result<Self, OpenOrCreateError> {
        let opts = MessageQueueOptions::new();
        let geo = opts.geometry(maxsize)?;
        Handle::open_or_create_with(MqLayout, name, geo, opts.get_create(), &OpenOptions::new())
            .map(|(h, _)| Self { h })
    }

    /// An anonymous queue for `maxsize` messages, shared with children forked afterwards.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    pub fn anonymous(maxsize: usize) -> Result<Self, CreateError> {
        Self::anonymous_with(maxsize, &MessageQueueOptions::new())
    }

    /// [`anonymous`](Self::anonymous) with options.
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with).
    pub fn anonymous_with(maxsize: usize, opts: &MessageQueueOptions) -> Result<Self, CreateError> {
        Handle::anonymous_with(MqLayout, opts.geometry(maxsize)?, opts.get_create()).map(|h| Self { h })
    }

    /// Removes the name `name`; processes that have the queue open keep using it.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<MqLayout>::unlink(name)
    }

    /// A second handle to the same queue, a participant of its own.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::try_clone`].
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        self.h.try_clone().map(|h| Self { h })
    }

    /// The underlying object.
    pub fn object(&self) -> &Object {
        self.h.object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.h.set_wait_strategy(strategy);
    }

    fn pool(&self) -> Pool<'_> {
        // SAFETY: the parts were checked in this handle's object, mapped while `self` lives.
        unsafe { self.h.geometry().pool() }
    }

    /// The most messages queued at once (Python's `maxsize`).
    pub fn maxsize(&self) -> usize {
        self.h.geometry().geo.maxsize as usize
    }

    /// The largest message the pool can hold.
    pub fn max_message(&self) -> usize {
        self.h.geometry().geo.max_message().min(MAX_LEN as usize)
    }

    /// How many messages are queued now (racy, as Python's).
    pub fn qsize(&self) -> usize {
        self.pool().len() as usize
    }

    /// [`qsize`](Self::qsize).
    pub fn len(&self) -> usize {
        self.qsize()
    }

    /// Whether no message is queued (racy): Python's `empty()`.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// [`empty`](Self::empty).
    pub fn is_empty(&self) -> bool {
        self.empty()
    }

    /// Whether `maxsize` messages are queued (racy): Python's `full()`. A `put` may also
    /// wait for chunks when the pool is full of large messages.
    pub fn full(&self) -> bool {
        self.pool().is_full()
    }

    /// [`full`](Self::full).
    pub fn is_full(&self) -> bool {
        self.full()
    }

    /// How many of the pool's chunks are free (racy).
    pub fn free_chunks(&self) -> usize {
        self.pool().free_chunks() as usize
    }

    /// The pool's chunks by owner now (racy): free, in queued messages, held by live
    /// processes (being written or read), and held by dead ones (not yet repaired).
    pub fn pool_state(&self) -> PoolState {
        let pool = self.pool();
        let live = self.live();
        let mut s = PoolState { chunks: pool.geo.chunks as usize, ..PoolState::default() };
        for w in pool.owner_words() {
            match w {
                crate::pool::FREE => s.free += 1,
                crate::pool::QUEUED => s.queued += 1,
                w if live(w) => s.held += 1,
                _ => s.dead += 1,
            }
        }
        s
    }

    /// Gives back to the pool the chunks of processes that died holding them (waiting
    /// calls do this on their own); how many chunks it freed.
    ///
    /// # Errors
    ///
    /// [`MessageError::NoSlot`].
    pub fn repair(&self) -> Result<usize, MessageError> {
        let me = self.me()?;
        self.lock(me, Deadline::never())?;
        let freed = self.pool().repair(&self.live());
        self.unlock(me);
        self.repaired();
        Ok(freed as usize)
    }

    /// Closes the queue: every `put` fails from now on; `get` delivers what is queued,
    /// then fails with [`MessageError::Closed`]. Wakes everyone waiting (a `join` goes back
    /// to waiting: what is unfinished still is).
    pub fn close(&self) {
        let pool = self.pool();
        pool.ctl.closed.store(1, shmkit_core::loom::atomic::Ordering::Release);
        self.repaired();
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.pool().is_closed()
    }

    /// This process's owner token.
    fn me(&self) -> Result<u64, MessageError> {
        self.object().participant().map(token).map_err(|_| MessageError::NoSlot)
    }

    fn live(&self) -> impl Fn(u64) -> bool + '_ {
        |w| Liveness::is_alive(self.object(), w)
    }

    /// Takes the lock until `deadline`, repairing the queue if its holder died. With a
    /// deadline already passed (the `try_` forms) it still spins a little: the lock is
    /// held for a few stores or a copy of up to 4 KiB, and "full" or "empty" must not be
    /// reported only because a peer held it at that instant.
    fn lock(&self, me: u64, deadline: Deadline) -> Result<(), MessageError> {
        let pool = self.pool();
        let strategy = self.h.wait_strategy();
        let mut got = pool.ctl.lock.lock_until(me, deadline, strategy, self.object());
        for _ in 0..TRY_SPINS {
            if got.is_some() || !deadline.has_passed() {
                break;
            }
            std::hint::spin_loop();
            got = pool.ctl.lock.lock_until(me, deadline, strategy, self.object());
        }
        match got {
            Some(Acquired::Clean) => Ok(()),
            Some(Acquired::OwnerDied) => {
                pool.repair(&self.live());
                self.repaired();
                Ok(())
            }
            None => Err(MessageError::Timeout),
        }
    }

    /// Wakes whoever a repair may have helped: room and chunks freed, messages dropped.
    fn repaired(&self) {
        let ctl = self.pool().ctl;
        ctl.not_full.notify_all();
        ctl.not_empty.notify_all();
        ctl.all_done.notify_all();
    }

    fn unlock(&self, me: u64) {
        // Fails only if a peer overwrote the owner word: nothing to release then.
        let _ = self.pool().ctl.lock.unlock(me);
    }

    /// Frees a repaired pool's chunks held by dead participants, if any (a waiter's check).
    fn reap(&self, me: u64) {
        let pool = self.pool();
        if pool.has_dead_holders(&self.live()) && self.lock(me, Deadline::never()).is_ok() {
            pool.repair(&self.live());
            self.unlock(me);
            self.repaired();
        }
    }

    /// Puts `msg` (a typed value's encoding if `typed`), waiting until `deadline`.
    fn put_raw(&self, msg: &[u8], typed: bool, deadline: Deadline) -> Result<(), MessageError> {
        let pool = self.pool();
        let (len, k) = self.chain_for(msg.len())?;
        let me = self.me()?;
        // Small messages are written and published under the first lock, when there is room.
        let inline = |first: u32| {
            if msg.len() <= INLINE && pool.has_room() {
                pool.write(first, msg);
                pool.publish(Desc { first, len, typed }, k, me);
                true
            } else {
                false
            }
        };
        let Some(first) = self.alloc_chain(me, k, deadline, inline)? else {
            pool.ctl.not_empty.notify_one();
            return Ok(());
        };
        pool.write(first, msg);
        self.publish_chain(me, Desc { first, len, typed }, k, deadline)
    }

    /// The descriptor length and chunk count of a message of `len` bytes.
    fn chain_for(&self, len: usize) -> Result<(u32, u32), MessageError> {
        let too_large = || MessageError::TooLarge { len, max: self.max_message() };
        let l = u32::try_from(len).ok().filter(|&l| l <= MAX_LEN).ok_or_else(too_large)?;
        Ok((l, self.pool().geo.chunks_for(len).ok_or_else(too_large)?))
    }

    /// Takes `k` chunks for `me`, waiting until `deadline` for them; `done(first)` runs
    /// under the lock right after and may finish the put there (then `None`).
    fn alloc_chain(
        &self,
        me: u64,
        k: u32,
        deadline: Deadline,
        done: impl FnOnce(u32) -> bool,
    ) -> Result<Option<u32>, MessageError> {
        let pool = self.pool();
        loop {
            self.lock(me, deadline)?;
            if pool.is_closed() {
                self.unlock(me);
                return Err(MessageError::Closed);
            }
            if let Some(first) = pool.alloc(k, me) {
                let finished = done(first);
                self.unlock(me);
                return Ok((!finished).then_some(first));
            }
            self.unlock(me);
            // No chunks: wait for a get (or for the chunks of the dead to be reaped).
            let k_free = || pool.free_chunks() >= k || pool.is_closed();
            pool.ctl
                .not_full
                .wait_checked(
                    self.h.wait_strategy(),
                    deadline,
                    || k_free().then_some(()),
                    || {
                        self.reap(me);
                        k_free().then_some(())
                    },
                )
                .ok_or(MessageError::Timeout)?;
        }
    }

    /// Publishes `me`'s chain `desc` of `k` chunks once the ring has room, waiting until
    /// `deadline`; on a timeout or a close the chunks go back to the pool.
    fn publish_chain(&self, me: u64, desc: Desc, k: u32, deadline: Deadline) -> Result<(), MessageError> {
        let pool = self.pool();
        loop {
            let locked = self.lock(me, deadline);
            if locked.is_ok() && !pool.is_closed() && pool.has_room() {
                pool.publish(desc, k, me);
                self.unlock(me);
                pool.ctl.not_empty.notify_one();
                return Ok(());
            }
            let closed = locked.is_ok() && pool.is_closed();
            if locked.is_ok() && !closed && !deadline.has_passed() {
                self.unlock(me);
                let room = || (!pool.is_full() || pool.is_closed()).then_some(());
                if pool.ctl.not_full.wait_until(self.h.wait_strategy(), deadline, room).is_some() {
                    continue;
                }
            } else if locked.is_ok() {
                self.unlock(me);
            }
            self.give_back(me, desc.first, k);
            return Err(if closed { MessageError::Closed } else { MessageError::Timeout });
        }
    }

    /// Frees `me`'s chain of `k` chunks from `first`.
    fn give_back(&self, me: u64, first: u32, k: u32) {
        let pool = self.pool();
        // Without a deadline the lock cannot time out; this process is registered.
        if self.lock(me, Deadline::never()).is_ok() {
            pool.release(first, k, me);
            self.unlock(me);
        }
        pool.ctl.not_full.notify_all();
    }

    /// Gets the next message into `sink`, waiting until `deadline`; whether it was typed,
    /// and its length.
    fn get_raw(&self, mut sink: Sink<'_>, deadline: Deadline) -> Result<(bool, usize), MessageError> {
        let me = self.me()?;
        let room = match &sink {
            Sink::Buf(buf) => buf.len(),
            Sink::Vec(_) => usize::MAX,
        };
        let t = self.claim_next(me, deadline, room)?;
        Ok(self.take(&self.pool(), me, t, &mut sink))
    }

    /// Takes the next message for `me`, waiting until `deadline`; returns with the lock
    /// held. A message longer than `room` stays queued ([`MessageError::BufferTooShort`]).
    fn claim_next(&self, me: u64, deadline: Deadline, room: usize) -> Result<Taken, MessageError> {
        let pool = self.pool();
        loop {
            self.lock(me, deadline)?;
            if let Some(len) = pool.peek_len().filter(|&len| len > room) {
                self.unlock(me);
                // The wake-up that brought us here may have been the only one: pass it on.
                pool.ctl.not_empty.notify_one();
                return Err(MessageError::BufferTooShort { needed: len });
            }
            match pool.claim(me, &self.live()) {
                Claim::Taken(t) => return Ok(t),
                Claim::Dropped => {
                    self.unlock(me);
                    self.repaired();
                }
                Claim::Empty => {
                    let closed = pool.is_closed();
                    self.unlock(me);
                    if closed {
                        return Err(MessageError::Closed);
                    }
                    let ready = || (!pool.is_empty() || pool.is_closed()).then_some(());
                    pool.ctl
                        .not_empty
                        .wait_until(self.h.wait_strategy(), deadline, ready)
                        .ok_or(MessageError::Timeout)?;
                }
            }
        }
    }

    /// Copies the claimed message `t` into `sink` and gives its chunks back; called with
    /// the lock held, returns with it released.
    fn take(&self, pool: &Pool<'_>, me: u64, t: Taken, sink: &mut Sink<'_>) -> (bool, usize) {
        let len = t.desc.len as usize;
        let inline = len <= INLINE;
        if !inline {
            self.unlock(me);
        }
        match sink {
            Sink::Vec(v) => {
                v.clear();
                v.resize(len, 0);
                pool.read(t.desc.first, v);
            }
            Sink::Buf(b) => {
                let n = len.min(b.len());
                pool.read(t.desc.first, &mut b[..n]);
            }
        }
        if inline {
            pool.release(t.desc.first, t.chunks, me);
            self.unlock(me);
            pool.ctl.not_full.notify_all();
        } else {
            self.give_back(me, t.desc.first, t.chunks);
        }
        (t.desc.typed, len)
    }
}

/// The four wait forms of a put and a get, over `put_raw` and `get_raw`.
impl MessageQueue {
    /// Puts the bytes `msg`, waiting for room (a free place in the queue, and chunks for
    /// it in the pool): Python's `put`.
    ///
    /// # Errors
    ///
    /// [`MessageError::TooLarge`] (it can never fit), [`MessageError::Closed`],
    /// [`MessageError::NoSlot`].
    pub fn put_bytes(&self, msg: &[u8]) -> Result<(), MessageError> {
        self.put_raw(msg, false, Deadline::never())
    }

    /// [`put_bytes`](Self::put_bytes) if there is room now: Python's `put_nowait`.
    ///
    /// # Errors
    ///
    /// [`MessageError::Timeout`] if full, and as [`put_bytes`](Self::put_bytes).
    pub fn try_put_bytes(&self, msg: &[u8]) -> Result<(), MessageError> {
        self.put_raw(msg, false, Deadline::now())
    }

    /// [`put_bytes`](Self::put_bytes), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`try_put_bytes`](Self::try_put_bytes).
    pub fn put_bytes_timeout(&self, msg: &[u8], timeout: Duration) -> Result<(), MessageError> {
        self.put_raw(msg, false, Deadline::after(timeout))
    }

    /// [`put_bytes`](Self::put_bytes), waiting until `deadline` for room.
    ///
    /// # Errors
    ///
    /// As [`try_put_bytes`](Self::try_put_bytes).
    pub fn put_bytes_deadline(&self, msg: &[u8], deadline: Deadline) -> Result<(), MessageError> {
        self.put_raw(msg, false, deadline)
    }

    /// Takes the next message, waiting for one: Python's `get`.
    ///
    /// # Errors
    ///
    /// [`MessageError::Closed`] once closed and empty, [`MessageError::NoSlot`].
    pub fn get_bytes(&self) -> Result<Vec<u8>, MessageError> {
        self.get_bytes_deadline(Deadline::never())
    }

    /// [`get_bytes`](Self::get_bytes) if a message is there now: Python's `get_nowait`.
    ///
    /// # Errors
    ///
    /// [`MessageError::Timeout`] if empty, and as [`get_bytes`](Self::get_bytes).
    pub fn try_get_bytes(&self) -> Result<Vec<u8>, MessageError> {
        self.get_bytes_deadline(Deadline::now())
    }

    /// [`get_bytes`](Self::get_bytes), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`try_get_bytes`](Self::try_get_bytes).
    pub fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, MessageError> {
        self.get_bytes_deadline(Deadline::after(timeout))
    }

    /// [`get_bytes`](Self::get_bytes), waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`try_get_bytes`](Self::try_get_bytes).
    pub fn get_bytes_deadline(&self, deadline: Deadline) -> Result<Vec<u8>, MessageError> {
        let mut v = Vec::new();
        self.get_raw(Sink::Vec(&mut v), deadline)?;
        Ok(v)
    }

    /// Takes the next message into `buf`, waiting for one; returns its length.
    ///
    /// # Errors
    ///
    /// [`MessageError::BufferTooShort`] (the message stays queued), else as
    /// [`get_bytes`](Self::get_bytes).
    pub fn get_bytes_into(&self, buf: &mut [u8]) -> Result<usize, MessageError> {
        self.get_bytes_into_deadline(buf, Deadline::never())
    }

    /// [`get_bytes_into`](Self::get_bytes_into), waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`get_bytes_into`](Self::get_bytes_into) and
    /// [`try_get_bytes`](Self::try_get_bytes).
    pub fn get_bytes_into_deadline(&self, buf: &mut [u8], deadline: Deadline) -> Result<usize, MessageError> {
        self.get_raw(Sink::Buf(buf), deadline).map(|(_, len)| len)
    }
}

#[cfg(feature = "serde")]
mod typed;

mod joinable;
mod loan;

pub use loan::{Loan, MessageView};
