//! [`MessageQueue`]: Python's `multiprocessing.Queue` for messages of any size, and
//! [`SimpleQueue`].

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use shmkit_core::{
    CreateError, Deadline, Handle, Object, OpenError, OpenOptions, OpenOrCreateError, UnlinkError,
    WaitStrategy,
};
use shmkit_sync::raw::{token, Liveness};

use crate::error::MessageError;
use crate::layout::{MessageQueueOptions, MqLayout};
use crate::pool::MAX_LEN;
use crate::state::{Desc, Message, Owner, PeersFn, State, INLINE_MAX};

/// How many more times a `try_` form asks for a busy lock before it gives up.
const TRY_SPINS: u32 = 1000;

/// A queue of messages of any size between processes: Python's `multiprocessing.Queue`,
/// carrying bytes, or serde values (strings, tuples, vectors, maps, your structs) with
/// the `serde` feature. Multi-producer, multi-consumer, bounded by a message count
/// (`maxsize`, exactly as Python) and by its pool of chunks; `put` waits for room, `get`
/// for a message, each with `try_`, `_timeout` and `_deadline` forms (`get_bytes_into`,
/// `loan` and `get_with` with a `_deadline` form).
///
/// The queue is a lock-free ring of one-line slots. A message of up to 48 bytes travels
/// in its slot, with no lock; a longer one is a chain of chunks from the object's pool,
/// taken and given back under a crash-aware lock and copied outside it, and its slot
/// carries the chain.
///
/// **Crashes.** A producer killed before its `put` returns leaves no trace: its message is
/// not delivered and its chunks go back to the pool. A consumer killed while it reads a
/// message loses that message (it is never delivered twice). A process killed holding the
/// lock is noticed by the next one, which gives back what the dead held.
///
/// **Threads.** A handle is a participant of the queue; give each thread its own
/// ([`try_clone`](Self::try_clone)): it can be sent, not shared.
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
    /// The participant whose intent word this handle last cleared (see `me`).
    known: Cell<u64>,
}

// SAFETY: the handle's parts point into the mapping its `Object` (Send + Sync) keeps alive;
// everything they reach is atomics, or bytes copied raw under the protocol in `state`. Not
// `Sync`: two threads claiming through one participant would share its intent word.
unsafe impl Send for MessageQueue {}

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

/// Who this handle is: its participant slot (for the ring's intents) and token (for the
/// pool's owner words and lock).
#[derive(Clone, Copy)]
struct Me {
    slot: u32,
    token: u64,
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
        Handle::create_with(MqLayout, name, opts.geometry(maxsize)?, opts.get_create()).map(Self::wrap)
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
        Handle::open_with(MqLayout, name, opts).map(Self::wrap)
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
            .map(|(h, _)| Self::wrap(h))
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
        Handle::anonymous_with(MqLayout, opts.geometry(maxsize)?, opts.get_create()).map(Self::wrap)
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
        self.h.try_clone().map(Self::wrap)
    }

    /// The underlying object.
    pub fn object(&self) -> &Object {
        self.h.object()
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.h.set_wait_strategy(strategy);
    }

    fn state(&self) -> State<'_> {
        // SAFETY: the parts were checked in this handle's object, mapped while `self` lives.
        unsafe { self.h.geometry().state() }
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
        self.state().len()
    }

    /// [`qsize`](Self::qsize).
    pub fn len(&self) -> usize {
        self.qsize()
    }

    /// Whether no message is queued (racy): Python's `empty()`.
    pub fn empty(&self) -> bool {
        self.state().is_empty()
    }

    /// [`empty`](Self::empty).
    pub fn is_empty(&self) -> bool {
        self.empty()
    }

    /// Whether `maxsize` messages are queued (racy): Python's `full()`. A `put` of more
    /// than 48 bytes may also wait for chunks when the pool is full of large messages.
    pub fn full(&self) -> bool {
        self.state().is_full()
    }

    /// [`full`](Self::full).
    pub fn is_full(&self) -> bool {
        self.full()
    }

    /// How many of the pool's chunks are free (racy).
    pub fn free_chunks(&self) -> usize {
        self.state().pool.free_chunks() as usize
    }

    /// The pool's chunks by owner now (racy): free, in queued messages, held by live
    /// processes (being written or read), and held by dead ones (not yet repaired).
    pub fn pool_state(&self) -> PoolState {
        let st = self.state();
        let live = self.live();
        let mut s = PoolState { chunks: st.pool.geo.chunks as usize, ..PoolState::default() };
        for w in st.pool.owner_words() {
            match st.owner(w, &live, &self.peers()) {
                Owner::Free => s.free += 1,
                Owner::Queued => s.queued += 1,
                Owner::Held => s.held += 1,
                Owner::Dead => s.dead += 1,
            }
        }
        s
    }

    /// Gives back what processes that died left: the chunks they held, the ring positions
    /// they claimed (waiting calls do this on their own); how many chunks it freed.
    ///
    /// # Errors
    ///
    /// [`MessageError::NoSlot`].
    pub fn repair(&self) -> Result<usize, MessageError> {
        let me = self.me()?;
        // Positions the dead left claimed: a producer's unpublished one is skipped (if it is
        // next), a consumer's unreleased one given back.
        let (ring, peers) = (self.state().ring, self.peers());
        while ring.repair_get(me.slot, &peers) {}
        ring.repair_put(&peers);
        self.lock(me, Deadline::never())?;
        let freed = self.sweep();
        self.unlock(me);
        self.wake_all();
        Ok(freed as usize)
    }

    /// Closes the queue: every `put` fails from now on; `get` delivers what is queued,
    /// then fails with [`MessageError::Closed`]. Wakes everyone waiting (a `join` goes back
    /// to waiting: what is unfinished still is).
    pub fn close(&self) {
        self.state().close();
        self.wake_all();
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.state().is_closed()
    }

    /// This handle's participant; a new registration first clears the intent word the
    /// slot's previous holder may have left.
    fn me(&self) -> Result<Me, MessageError> {
        let id = self.object().participant().map_err(|_| MessageError::NoSlot)?;
        if id.to_u64() != self.known.get() {
            self.state().ring.forget(id.slot);
            self.known.set(id.to_u64());
        }
        Ok(Me { slot: id.slot, token: token(id) })
    }

    fn live(&self) -> impl Fn(u64) -> bool + '_ {
        |w| Liveness::is_alive(self.object(), w)
    }

    fn peers(&self) -> PeersFn<impl Fn(u32) -> bool + '_> {
        PeersFn(|slot| self.object().is_slot_alive(slot))
    }

    /// Puts `msg` (a typed value's encoding if `typed`), waiting until `deadline`.
    fn put_raw(&self, msg: &[u8], typed: bool, deadline: Deadline) -> Result<(), MessageError> {
        let me = self.me()?;
        if msg.len() <= INLINE_MAX {
            let pos = self.claim_put(me, deadline)?;
            let st = self.state();
            st.send_inline(me.slot, pos, msg, typed);
            st.ring.ctl.misc.0.not_empty.notify_one();
            return Ok(());
        }
        let (len, k) = self.chain_for(msg.len())?;
        let first = self.alloc_chain(me, k, deadline)?;
        self.state().pool.write(first, msg);
        self.publish_chain(me, Desc { first, len, typed }, k, deadline)
    }

    /// The descriptor length and chunk count of a message of `len` bytes.
    fn chain_for(&self, len: usize) -> Result<(u32, u32), MessageError> {
        let too_large = || MessageError::TooLarge { len, max: self.max_message() };
        let l = u32::try_from(len).ok().filter(|&l| l <= MAX_LEN).ok_or_else(too_large)?;
        Ok((l, self.state().pool.geo.chunks_for(len).ok_or_else(too_large)?))
    }

    /// Takes `k` chunks for `me`, waiting until `deadline` for them; the chain's first.
    fn alloc_chain(&self, me: Me, k: u32, deadline: Deadline) -> Result<u32, MessageError> {
        let st = self.state();
        loop {
            self.lock(me, deadline)?;
            if st.is_closed() {
                self.unlock(me);
                return Err(MessageError::Closed);
            }
            let got = st.pool.alloc(k, me.token);
            self.unlock(me);
            if let Some(first) = got {
                return Ok(first);
            }
            // No chunks: wait for a get (or for the chunks of the dead to be reaped).
            let k_free = || (st.pool.free_chunks() >= k || st.is_closed()).then_some(());
            st.pool
                .ctl
                .freed
                .wait_checked(self.h.wait_strategy(), deadline, k_free, || {
                    self.reap(me);
                    k_free()
                })
                .ok_or(MessageError::Timeout)?;
        }
    }

    /// Publishes `me`'s chain `desc` of `k` chunks once the ring has room, waiting until
    /// `deadline`; on a timeout or a close the chunks go back to the pool.
    fn publish_chain(&self, me: Me, desc: Desc, k: u32, deadline: Deadline) -> Result<(), MessageError> {
        match self.claim_put(me, deadline) {
            Ok(pos) => {
                let st = self.state();
                st.send_chain(me.slot, me.token, pos, desc, k);
                st.ring.ctl.misc.0.not_empty.notify_one();
                Ok(())
            }
            Err(e) => {
                self.give_back(me, desc.first, k);
                Err(e)
            }
        }
    }

    /// Frees `me`'s chain of `k` chunks from `first`.
    fn give_back(&self, me: Me, first: u32, k: u32) {
        let st = self.state();
        // Without a deadline the lock cannot time out.
        if self.lock(me, Deadline::never()).is_ok() {
            st.pool.release(first, k, me.token);
            self.unlock(me);
        }
        st.pool.ctl.freed.notify_all();
    }

    /// Takes the next message for `me`, waiting until `deadline`: its position and what
    /// is there (never [`Message::Broken`]: those are dropped on the way).
    fn next_message(&self, me: Me, deadline: Deadline) -> Result<(u64, Message), MessageError> {
        let st = self.state();
        loop {
            let pos = self.claim_get(me, deadline)?;
            match st.open(pos) {
                Message::Broken => self.drop_broken(me, pos),
                m => return Ok((pos, m)),
            }
        }
    }

    /// Done with the message `m` at `pos`: frees its chunks, releases its position.
    fn finish(&self, me: Me, pos: u64, m: &Message) {
        let st = self.state();
        if let Message::Chain { desc, chunks } = *m {
            // The position is released after the chunks are freed (see `state`). Without a
            // deadline the lock cannot time out.
            if self.lock(me, Deadline::never()).is_ok() {
                st.free_chain(pos, desc, chunks);
                self.unlock(me);
            }
            st.ring.release(me.slot, pos);
            st.ring.ctl.misc.0.not_full.notify_one();
            st.pool.ctl.freed.notify_all();
        } else {
            st.ring.release(me.slot, pos);
            st.ring.ctl.misc.0.not_full.notify_one();
        }
    }

    /// Drops the broken message at `pos` (a hostile peer's), and frees what it held.
    #[cold]
    fn drop_broken(&self, me: Me, pos: u64) {
        let st = self.state();
        st.count_dropped();
        st.ring.release(me.slot, pos);
        st.ring.ctl.misc.0.not_full.notify_one();
        if self.lock(me, Deadline::never()).is_ok() {
            self.sweep();
            self.unlock(me);
        }
        st.pool.ctl.freed.notify_all();
    }

    /// Gets the next message into `sink`, waiting until `deadline`; whether it was typed,
    /// and its length.
    fn get_raw(&self, sink: Sink<'_>, deadline: Deadline) -> Result<(bool, usize), MessageError> {
        let me = self.me()?;
        let (pos, m) = self.next_message(me, deadline)?;
        let st = self.state();
        let len = m.len();
        let mut short = None;
        match (&m, sink) {
            (Message::Inline { body, .. }, Sink::Vec(v)) => {
                v.clear();
                v.extend_from_slice(&body[..len]);
            }
            (Message::Inline { body, .. }, Sink::Buf(b)) if b.len() >= len => {
                b[..len].copy_from_slice(&body[..len])
            }
            (Message::Inline { body, .. }, Sink::Buf(_)) => short = Some(body[..len].to_vec()),
            (Message::Chain { desc, .. }, Sink::Vec(v)) => {
                v.clear();
                v.resize(len, 0);
                st.pool.read(desc.first, v);
            }
            (Message::Chain { desc, .. }, Sink::Buf(b)) if b.len() >= len => {
                st.pool.read(desc.first, &mut b[..len])
            }
            (Message::Chain { desc, .. }, Sink::Buf(_)) => {
                let mut v = vec![0; len];
                st.pool.read(desc.first, &mut v);
                short = Some(v);
            }
            (Message::Broken, _) => {}
        }
        self.finish(me, pos, &m);
        match short {
            Some(message) => Err(MessageError::BufferTooShort { needed: len, message }),
            None => Ok((m.typed(), len)),
        }
    }
}

impl MessageQueue {
    fn wrap(h: Handle<MqLayout>) -> Self {
        Self { h, known: Cell::new(0) }
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
    /// [`MessageError::BufferTooShort`] (as Python's `recv_bytes_into`, the message is taken
    /// all the same, and handed back in the error), else as
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
mod relay;
mod wait;

pub use loan::{Loan, MessageView};
