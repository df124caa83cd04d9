//! The queue's state on the heap, for unit tests, loom, Miri and the fuzzer: the same
//! [`State`] over vectors.

use std::cell::UnsafeCell;
use std::ptr::NonNull;

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_queue::heap::HeapRing;

use crate::pool::{Control, Geometry, Pool, FREE};
use crate::state::{Item, State};

/// A queue's parts, owned.
pub struct HeapPool {
    ctl: Box<Control>,
    /// The ring, with the liveness of each participant slot (all alive at first).
    pub ring: HeapRing<Item>,
    owner: Vec<AtomicU64>,
    next: Vec<AtomicU32>,
    data: Box<[UnsafeCell<u8>]>,
    geo: Geometry,
}

impl HeapPool {
    /// A fresh queue of this geometry for `participants` participant slots, every chunk
    /// free.
    pub fn new(geo: Geometry, participants: usize) -> Self {
        let ctl = Box::<Control>::default();
        ctl.free.store(geo.chunks, Ordering::Relaxed);
        Self {
            ctl,
            ring: HeapRing::new(geo.ring_slots() as usize, participants),
            owner: (0..geo.chunks).map(|_| AtomicU64::new(FREE)).collect(),
            next: (0..geo.chunks).map(|_| AtomicU32::new(0)).collect(),
            data: (0..geo.chunks as usize * geo.chunk_size as usize).map(|_| UnsafeCell::new(0)).collect(),
            geo,
        }
    }

    /// The pool view.
    pub fn pool(&self) -> Pool<'_> {
        // SAFETY: the vectors have the lengths `geo` says and live as long as `self`; the
        // data is cells, written only through raw pointers.
        unsafe {
            Pool::new(
                &self.ctl,
                &self.owner,
                &self.next,
                NonNull::new(UnsafeCell::raw_get(self.data.as_ptr())).unwrap_or(NonNull::dangling()),
                self.geo,
            )
        }
    }

    /// The ring and the pool.
    pub fn state(&self) -> State<'_> {
        State::new(self.ring.ring(), self.pool())
    }

    /// The owner words, for checks.
    pub fn owners(&self) -> Vec<u64> {
        self.owner.iter().map(|o| o.load(Ordering::Relaxed)).collect()
    }

    /// A link, for hostile tests.
    pub fn link(&self, i: usize) -> &AtomicU32 {
        &self.next[i]
    }

    /// Chunk `i`'s owner word, for hostile tests and for leaving the state a process
    /// killed part-way through leaves.
    ///
    /// # Panics
    ///
    /// If `i` is not below the geometry's chunk count.
    pub fn owner(&self, i: usize) -> &AtomicU64 {
        &self.owner[i]
    }
}

/// The owner token of participant slot `slot` on the heap (generation 0).
pub fn token(slot: u32) -> u64 {
    shmkit_sync::raw::TOKEN_BIT | (u64::from(slot) << 32)
}

/// The participant slot of token `w`.
fn slot_of(w: u64) -> u32 {
    ((w & !shmkit_sync::raw::TOKEN_BIT) >> 32) as u32
}

/// Why a heap put did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// `maxsize` messages are queued.
    Ring,
    /// Not enough free chunks.
    Pool,
    /// The message is larger than the pool.
    TooLarge,
}

/// A message a heap get took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    /// The message and whether it was typed.
    Message(Vec<u8>, bool),
    /// A broken message, dropped.
    Dropped,
}

/// Pool-wide chunk counts by owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Free.
    pub free: u32,
    /// In a queued message.
    pub queued: u32,
    /// Held by a live participant.
    pub held: u32,
    /// No one alive's.
    pub dead: u32,
}

impl shmkit_sync::raw::Liveness for HeapPool {
    fn is_alive(&self, w: u64) -> bool {
        use shmkit_queue::ring::Peers;
        self.ring.alive(slot_of(w))
    }
}

/// The whole put and get, as the handles do them but without waiting: for tests, loom
/// and the fuzzer, which also call the steps one by one to die between them.
impl HeapPool {
    /// Takes the pool's lock for participant `slot`, sweeping if its holder died.
    pub fn lock(&self, slot: u32) {
        let got = self.ctl.lock.lock_until(
            token(slot),
            shmkit_core::Deadline::never(),
            shmkit_core::WaitStrategy::Park,
            self,
        );
        if got == Some(shmkit_sync::raw::Acquired::OwnerDied) {
            self.sweep_locked();
        }
    }

    /// Releases the pool's lock held by participant `slot`.
    pub fn unlock(&self, slot: u32) {
        let _ = self.ctl.lock.unlock(token(slot));
    }

    /// Locked: frees what no one alive has; how many chunks.
    pub fn sweep_locked(&self) -> u32 {
        use shmkit_sync::raw::Liveness;
        self.state().sweep(&|w| self.is_alive(w), &self.ring)
    }

    /// Takes the lock, sweeps, releases it (as participant `slot`); how many chunks freed.
    pub fn sweep(&self, slot: u32) -> u32 {
        self.lock(slot);
        let n = self.sweep_locked();
        self.unlock(slot);
        n
    }

    /// Takes `k` chunks for participant `slot` under the lock.
    pub fn alloc(&self, slot: u32, k: u32) -> Option<u32> {
        self.lock(slot);
        let got = self.pool().alloc(k, token(slot));
        self.unlock(slot);
        got
    }

    /// Puts `msg` as participant `slot`, if there is room now (a chain's chunks go back
    /// when the ring is full).
    pub fn put(&self, slot: u32, msg: &[u8], typed: bool) -> Result<(), Full> {
        let st = self.state();
        if msg.len() <= crate::state::INLINE_MAX {
            let pos = st.ring.claim_put(slot).ok_or(Full::Ring)?;
            st.send_inline(slot, pos, msg, typed);
            return Ok(());
        }
        let k = self.geo.chunks_for(msg.len()).ok_or(Full::TooLarge)?;
        let first = self.alloc(slot, k).ok_or(Full::Pool)?;
        st.pool.write(first, msg);
        let Some(pos) = st.ring.claim_put(slot) else {
            self.lock(slot);
            st.pool.release(first, k, token(slot));
            self.unlock(slot);
            return Err(Full::Ring);
        };
        let desc = crate::state::Desc { first, len: msg.len() as u32, typed };
        st.send_chain(slot, token(slot), pos, desc, k);
        Ok(())
    }

    /// Gets the next message as participant `slot`, if one is published now.
    pub fn get(&self, slot: u32) -> Option<Got> {
        use crate::state::Message;
        let st = self.state();
        let pos = st.ring.claim_get(slot)?;
        let got = match st.open(pos) {
            Message::Inline { body, len, typed } => Got::Message(body[..len].to_vec(), typed),
            Message::Chain { desc, chunks } => {
                let mut v = vec![0; desc.len as usize];
                st.pool.read(desc.first, &mut v);
                self.lock(slot);
                st.free_chain(pos, desc, chunks);
                self.unlock(slot);
                Got::Message(v, desc.typed)
            }
            Message::Broken => {
                st.count_dropped();
                st.ring.release(slot, pos);
                self.sweep(slot);
                return Some(Got::Dropped);
            }
        };
        st.ring.release(slot, pos);
        Some(got)
    }

    /// The chunks by owner now.
    pub fn counts(&self) -> Counts {
        use crate::state::Owner;
        use shmkit_sync::raw::Liveness;
        let st = self.state();
        let mut c = Counts::default();
        for w in st.pool.owner_words() {
            match st.owner(w, &|w| self.is_alive(w), &self.ring) {
                Owner::Free => c.free += 1,
                Owner::Queued => c.queued += 1,
                Owner::Held => c.held += 1,
                Owner::Dead => c.dead += 1,
            }
        }
        c
    }
}
