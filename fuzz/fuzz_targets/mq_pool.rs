//! Operation sequences on the message queue's ring and pool (`shmkit_mq::state` over
//! `HeapPool`) against a model, with participants killed between any two steps of a put
//! or a get and inside the pool's lock, and hostile writes into the owner words, the
//! links, the ring's items, sequences, intents and counters, and the pool's free count and
//! cursor.
//!
//! Eight participant slots, whose tokens are `heap::token(slot)`. Participants go through
//! their operations one step at a time, so steps of different participants interleave and
//! any participant can die between two: a producer (a) after taking and writing its
//! chunks, (b) after claiming its ring position, (c) after handing over some or all of its
//! chain, before publishing; a consumer (d) after claiming its position, (e) after freeing
//! the chain, before releasing the position; and a process inside the pool's lock, holding
//! nothing, half-way through an allocation, or half-way through freeing a chain. A killed
//! slot is taken over by a newcomer only after a sweep (its token is the dead one's, so
//! what the dead held must be gone first) and `ring.forget`, as `MessageQueue::me` does.
//!
//! While no hostile write has happened the model is exact, and after every operation: the
//! owner words, head, tail and the hole and reclaim counters are what it says; the free
//! count is the free chunks (but between a death in the lock and the next locker's sweep);
//! `counts` classifies every chunk as the model does (free, a live producer's, a chain
//! handed to a position not consumed yet, a live consumer's, or dead); gets return the
//! messages in the order their positions were claimed, with their bytes and typed flag,
//! skipping the holes producers killed before publishing left; a consumer killed holding a
//! message loses exactly that one; nothing comes twice; a put succeeds exactly when the
//! model has room, after giving back a dead consumer's slot if that is what blocks it; a
//! sweep frees exactly the dead chunks, leaves none dead, the free count right, and as many
//! queued chunks as the queued messages have.
//!
//! After the first hostile write the model is dropped: no panic, every operation returns
//! (every loop here is bounded), reads and pieces stay inside the pool and never visit a
//! chunk twice, and a sweep leaves the free count equal to the free owner words.
#![no_main]

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

use libfuzzer_sys::fuzz_target;
use shmkit_mq::heap::{token, Counts, Full, Got, HeapPool};
use shmkit_mq::pool::{queued, Geometry, END, FREE, QUEUED_BIT};
use shmkit_mq::state::{Desc, Message, Owner, State, INLINE_MAX};
use shmkit_sync::raw::{Liveness, TOKEN_BIT};

const PARTICIPANTS: usize = 8;

/// Deaths stop when this few participants live: one to sweep, one more to take turns.
const MIN_LIVE: usize = 2;

/// The fuzz input as a stream of bytes and words, zeros once it runs out.
struct Input<'a>(std::slice::Iter<'a, u8>);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }

    fn word(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }
}

/// The bytes message `id` of `len` bytes holds.
fn content(id: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|j| (id.wrapping_mul(0x9E37_79B9) ^ j.wrapping_mul(0x85EB_CA6B)).rotate_right(13) as u8)
        .collect()
}

/// A message: its bytes are `content(id, len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Msg {
    id: u32,
    len: usize,
    typed: bool,
}

/// A message and its chain (empty when inline), as the model expects a consumer to find it.
type Expect = (Msg, Vec<u32>);

/// A ring position between head and tail, as the model sees it.
enum Entry {
    /// Claimed by the live producer `by`, not published yet (its `Act::Claimed` says how
    /// much of its chain it handed over).
    Pending { by: usize },
    /// Claimed by a producer that died before publishing, after handing `handed` chunks
    /// of its chain over: consumers skip it.
    Hole { handed: usize },
    /// Published.
    Published { msg: Msg, chain: Vec<u32> },
}

/// What a live participant is in the middle of.
#[derive(Clone)]
enum Act {
    Idle,
    /// A producer with its chain taken and written, and no position yet.
    Filled {
        msg: Msg,
        first: u32,
        chain: Vec<u32>,
    },
    /// A producer that claimed `pos` and turned the first `handed` chunks of its chain
    /// into `queued(pos)` (an inline message has no chain).
    Claimed {
        msg: Msg,
        pos: u64,
        first: u32,
        chain: Vec<u32>,
        handed: usize,
    },
    /// A consumer that claimed `pos` and has not read it; what the model says is there
    /// (`None` if it was claimed after a hostile write).
    Taken {
        pos: u64,
        expect: Option<Expect>,
    },
    /// A consumer that read the chain at `pos` and freed it, and has not released `pos`.
    Freed {
        pos: u64,
    },
}

/// Whether a producer's claim succeeds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Room {
    Yes,
    /// Once the slot of a consumer that died holding it is given back.
    AfterRepair,
    No,
}

struct Run<'a> {
    h: &'a HeapPool,
    st: State<'a>,
    geo: Geometry,
    /// The ring's slots.
    cap: u64,
    /// The address of chunk 0, to check where pieces point.
    base: usize,
    acts: Vec<Act>,
    next_id: u32,
    /// No hostile write has happened: the model below is exact.
    exact: bool,
    head: u64,
    tail: u64,
    /// Positions `head..tail`, oldest first.
    entries: VecDeque<Entry>,
    /// Positions a consumer claimed and has not released: by whom (`None`: it died).
    held: Vec<(u64, Option<usize>)>,
    /// The owner words.
    owners: Vec<u64>,
    /// The pool's lock is held by a dead participant: the next locker sweeps.
    lock_dead: bool,
    /// A death in the lock left the free count wrong until that sweep.
    free_stale: bool,
    holes: u64,
    reclaimed: u64,
}

impl<'a> Run<'a> {
    fn new(h: &'a HeapPool, geo: Geometry, start: u64) -> Self {
        let st = h.state();
        let cap = st.ring.slots.len() as u64;
        // Counters from `start`: each slot holds the sequence of the position it serves
        // first. (The ring's length is a power of two, so slots keep their positions
        // across the counters' 64-bit wrap.)
        st.ring.ctl.head.0.store(start, Relaxed);
        st.ring.ctl.tail.0.store(start, Relaxed);
        for j in 0..cap {
            let pos = start.wrapping_add(j);
            st.ring.slots[(pos & (cap - 1)) as usize].seq.store(pos, Relaxed);
        }
        let base = st.pool.pieces(0, 1).next().map_or(0, |(at, _)| at.as_ptr() as usize);
        Self {
            h,
            st,
            geo,
            cap,
            base,
            acts: vec![Act::Idle; PARTICIPANTS],
            next_id: 0,
            exact: true,
            head: start,
            tail: start,
            entries: VecDeque::new(),
            held: Vec::new(),
            owners: vec![FREE; geo.chunks as usize],
            lock_dead: false,
            free_stale: false,
            holes: 0,
            reclaimed: 0,
        }
    }

    // ---- the model ----

    fn alive(&self, i: usize) -> bool {
        self.h.ring.alive[i].load(SeqCst)
    }

    fn idle(&self, i: usize) -> bool {
        self.alive(i) && matches!(self.acts[i], Act::Idle)
    }

    fn live_count(&self) -> usize {
        (0..PARTICIPANTS).filter(|&i| self.alive(i)).count()
    }

    fn model_free(&self) -> u32 {
        self.owners.iter().filter(|&&w| w == FREE).count() as u32
    }

    fn set(&mut self, chain: &[u32], w: u64) {
        for &c in chain {
            self.owners[c as usize] = w;
        }
    }

    /// Who has a chunk with owner word `w`, by the model.
    fn class(&self, w: u64) -> Owner {
        if w == FREE {
            return Owner::Free;
        }
        if w & TOKEN_BIT != 0 {
            let slot = ((w & !TOKEN_BIT) >> 32) as usize;
            let live = slot < PARTICIPANTS && w == token(slot as u32) && self.alive(slot);
            return if live { Owner::Held } else { Owner::Dead };
        }
        if w & QUEUED_BIT == 0 {
            return Owner::Dead;
        }
        if (0..self.entries.len() as u64).any(|d| queued(self.head.wrapping_add(d)) == w) {
            Owner::Queued
        } else if self.held.iter().any(|&(pos, by)| queued(pos) == w && by.is_some()) {
            Owner::Held
        } else {
            Owner::Dead
        }
    }

    fn model_counts(&self) -> Counts {
        let mut c = Counts::default();
        for &w in &self.owners {
            match self.class(w) {
                Owner::Free => c.free += 1,
                Owner::Queued => c.queued += 1,
                Owner::Held => c.held += 1,
                Owner::Dead => c.dead += 1,
            }
        }
        c
    }

    /// The chunks of the positions not consumed yet: published chains and what their
    /// producers (live or dead) handed over before publishing.
    fn model_queued(&self) -> u32 {
        let n: usize = self
            .entries
            .iter()
            .map(|e| match e {
                Entry::Pending { by } => match &self.acts[*by] {
                    Act::Claimed { handed, .. } => *handed,
                    _ => unreachable!("a pending position's producer has claimed it"),
                },
                Entry::Hole { handed } => *handed,
                Entry::Published { chain, .. } => chain.len(),
            })
            .sum();
        n as u32
    }

    /// The model's sweep: frees the dead chunks; how many.
    fn model_sweep(&mut self) -> u32 {
        let mut freed = 0;
        for c in 0..self.owners.len() {
            if self.class(self.owners[c]) == Owner::Dead {
                self.owners[c] = FREE;
                freed += 1;
            }
        }
        self.free_stale = false;
        freed
    }

    /// A live participant is about to take the pool's lock: if a dead one holds it, the
    /// lock sweeps.
    fn on_lock(&mut self) {
        if self.exact && self.lock_dead {
            self.model_sweep();
        }
        self.lock_dead = false;
        self.free_stale = false;
    }

    fn room(&self) -> Room {
        if self.tail.wrapping_sub(self.head) >= u64::from(self.geo.maxsize) {
            return Room::No;
        }
        let old = self.tail.wrapping_sub(self.cap);
        match self.held.iter().find(|&&(pos, _)| pos == old) {
            None => Room::Yes,
            Some((_, Some(_))) => Room::No,
            Some((_, None)) => Room::AfterRepair,
        }
    }

    /// A producer's claim of the model's tail.
    fn model_claimed(&mut self, i: usize, pos: u64) {
        assert_eq!(pos, self.tail, "a producer claims the tail");
        self.tail = self.tail.wrapping_add(1);
        self.entries.push_back(Entry::Pending { by: i });
    }

    /// A consumer's claim of the model's head: the message there.
    fn model_taken(&mut self, i: usize, pos: u64) -> Expect {
        assert_eq!(pos, self.head, "a consumer claims the head");
        let Some(Entry::Published { msg, chain }) = self.entries.pop_front() else {
            panic!("a consumer claimed position {pos}, which is not published");
        };
        self.head = self.head.wrapping_add(1);
        self.held.push((pos, Some(i)));
        (msg, chain)
    }

    /// A repair skipped the hole at the head.
    fn model_skipped(&mut self) {
        self.entries.pop_front();
        self.head = self.head.wrapping_add(1);
        self.holes += 1;
    }

    fn model_released(&mut self, i: usize, pos: u64) {
        let at = self.held.iter().position(|&h| h == (pos, Some(i)));
        let at = at.expect("a consumer releases the position it holds");
        self.held.swap_remove(at);
    }

    fn model_reclaimed(&mut self) {
        let old = self.tail.wrapping_sub(self.cap);
        self.held.retain(|&(pos, _)| pos != old);
        self.reclaimed += 1;
    }

    // ---- reading the pool ----

    /// The chunks of the chain of `k` from `first`, as far as its links stay in bounds.
    fn walk(&self, first: u32, k: u32) -> Vec<u32> {
        let mut chain = Vec::new();
        let mut c = first;
        for _ in 0..k {
            if c >= self.geo.chunks {
                break;
            }
            chain.push(c);
            c = self.h.link(c as usize).load(Relaxed);
        }
        chain
    }

    /// Reads `len` bytes from the chain at `first`, checking the pieces: inside the pool,
    /// each at a chunk's start, no chunk twice, never past `len`, the same bytes `read`
    /// copies.
    fn read_chain(&self, first: u32, len: usize) -> Vec<u8> {
        let pool = self.st.pool;
        let (size, chunks) = (self.geo.chunk_size as usize, self.geo.chunks as usize);
        let mut out = vec![0; len];
        pool.read(first, &mut out);
        let mut seen = vec![false; chunks];
        let mut bytes = Vec::with_capacity(len);
        for (at, n) in pool.pieces(first, len) {
            let off = (at.as_ptr() as usize).wrapping_sub(self.base);
            let c = off / size;
            assert!(off.is_multiple_of(size) && c < chunks, "a piece at offset {off:#x}, outside the chunks");
            assert!(!seen[c], "pieces yield chunk {c} twice");
            seen[c] = true;
            assert!(n > 0 && n <= size && bytes.len() + n <= len, "a piece of {n} bytes");
            // SAFETY: `at` is the start of chunk `c` of the pool (checked just above), and
            // `n` is at most a chunk; this run is single-threaded, so nothing writes the
            // bytes while they are copied.
            bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(at.as_ptr(), n) });
        }
        assert!(out.starts_with(&bytes), "read and pieces disagree");
        assert!(out[bytes.len()..].iter().all(|&b| b == 0), "read wrote past the pieces");
        out
    }

    // ---- a put, step by step ----

    /// A producer's claim, giving back a dead consumer's slot if that is what blocks it.
    fn claim_put(&mut self, i: usize) -> Option<u64> {
        let ring = self.st.ring;
        let room = self.room();
        let mut got = ring.claim_put(i as u32);
        let mut repaired = false;
        if got.is_none() && !ring.is_full() {
            repaired = ring.repair_put(&self.h.ring);
            if repaired {
                if self.exact {
                    self.model_reclaimed();
                }
                got = ring.claim_put(i as u32);
            }
        }
        if self.exact {
            assert_eq!(
                repaired,
                room == Room::AfterRepair,
                "repair_put gives back a dead consumer's slot only"
            );
            assert_eq!(got.is_some(), room != Room::No, "a claim succeeds when there is room ({room:?})");
            if let Some(pos) = got {
                self.model_claimed(i, pos);
            }
        }
        got
    }

    /// Participant `i` starts a put: an inline message claims its position; a longer one
    /// takes its chunks and writes them.
    fn start_put(&mut self, i: usize, len: usize, typed: bool) {
        if !self.idle(i) {
            return;
        }
        let msg = Msg { id: self.next_id, len, typed };
        self.next_id += 1;
        if len <= INLINE_MAX {
            if let Some(pos) = self.claim_put(i) {
                self.acts[i] = Act::Claimed { msg, pos, first: END, chain: Vec::new(), handed: 0 };
            }
            return;
        }
        let Some(k) = self.geo.chunks_for(len) else { return };
        self.on_lock();
        let free = self.model_free();
        let got = self.h.alloc(i as u32, k);
        if self.exact {
            assert_eq!(got.is_some(), free >= k, "an allocation of {k} with {free} free");
        }
        let Some(first) = got else { return };
        let chain = self.walk(first, k);
        if self.exact {
            assert_eq!(chain.len(), k as usize, "alloc gives a chain of {k} in bounds");
            for (j, &c) in chain.iter().enumerate() {
                assert!(!chain[..j].contains(&c), "alloc gives chunk {c} twice");
                assert_eq!(self.owners[c as usize], FREE, "alloc takes chunk {c}, which is not free");
            }
            assert_eq!(self.h.link(chain[k as usize - 1] as usize).load(Relaxed), END, "a chain ends in END");
            self.set(&chain, token(i as u32));
        }
        self.st.pool.write(first, &content(msg.id, len));
        self.acts[i] = Act::Filled { msg, first, chain };
    }

    /// Producer `i` publishes the message it claimed `pos` for, handing over the rest of
    /// its chain first.
    fn publish(&mut self, i: usize, msg: Msg, pos: u64, first: u32, chain: Vec<u32>) {
        let me = i as u32;
        if msg.len <= INLINE_MAX {
            self.st.send_inline(me, pos, &content(msg.id, msg.len), msg.typed);
        } else {
            let desc = Desc { first, len: msg.len as u32, typed: msg.typed };
            let k = self.geo.chunks_for(msg.len).unwrap_or(0);
            self.st.send_chain(me, token(me), pos, desc, k);
        }
        if self.exact {
            self.set(&chain, queued(pos));
            let at = pos.wrapping_sub(self.head) as usize;
            assert!(matches!(self.entries[at], Entry::Pending { by } if by == i));
            self.entries[at] = Entry::Published { msg, chain };
        }
        self.acts[i] = Act::Idle;
    }

    // ---- a get, step by step ----

    /// A consumer's claim, skipping the holes of producers that died before publishing;
    /// the position and what the model says is there.
    fn claim_get(&mut self, i: usize) -> Option<(u64, Option<Expect>)> {
        let ring = self.st.ring;
        for _ in 0..self.cap + 2 {
            if let Some(pos) = ring.claim_get(i as u32) {
                let expect = self.exact.then(|| self.model_taken(i, pos));
                return Some((pos, expect));
            }
            if !self.nothing_to_get(i) {
                return None;
            }
        }
        None
    }

    /// After a get found nothing: whether a hole was skipped (so the get tries again).
    fn nothing_to_get(&mut self, i: usize) -> bool {
        let ring = self.st.ring;
        if self.exact {
            let published = matches!(self.entries.front(), Some(Entry::Published { .. }));
            assert!(!published, "a get finds nothing while position {} is published", self.head);
        }
        if ring.is_empty() {
            assert!(!self.exact || self.entries.is_empty(), "the ring looks empty with positions in it");
            return false;
        }
        let skipped = ring.repair_get(i as u32, &self.h.ring);
        if self.exact {
            let hole = matches!(self.entries.front(), Some(Entry::Hole { .. }));
            assert_eq!(skipped, hole, "repair_get skips a dead producer's position, and only that");
            if skipped {
                self.model_skipped();
            }
        }
        skipped
    }

    /// Consumer `i` opens and reads the message at `pos` it claimed, and checks it: a
    /// chain's descriptor and chunks (for the caller to free), or `None` once it is done
    /// with it (an inline message: released; a broken one: dropped).
    fn open(&mut self, i: usize, pos: u64, expect: Option<Expect>) -> Option<(Desc, u32)> {
        let me = i as u32;
        let expect = expect.filter(|_| self.exact);
        match self.st.open(pos) {
            Message::Inline { body, len, typed } => {
                if let Some((msg, chain)) = expect {
                    assert!(chain.is_empty(), "message {} came out inline, not chained", msg.id);
                    assert_eq!((len, typed), (msg.len, msg.typed), "message {}'s length and flag", msg.id);
                    assert!(
                        body[..len] == content(msg.id, len)[..],
                        "message {} came out with other bytes",
                        msg.id
                    );
                }
                self.st.ring.release(me, pos);
                if self.exact {
                    self.model_released(i, pos);
                }
                self.acts[i] = Act::Idle;
                None
            }
            Message::Chain { desc, chunks } => {
                let bytes = self.read_chain(desc.first, desc.len as usize);
                if let Some((msg, chain)) = expect {
                    let want = Desc {
                        first: chain.first().copied().unwrap_or(END),
                        len: msg.len as u32,
                        typed: msg.typed,
                    };
                    assert_eq!(desc, want, "message {}'s descriptor", msg.id);
                    assert_eq!(chunks as usize, chain.len(), "message {}'s chunks", msg.id);
                    assert!(
                        bytes == content(msg.id, msg.len),
                        "message {} came out with other bytes",
                        msg.id
                    );
                }
                Some((desc, chunks))
            }
            Message::Broken => {
                assert!(!self.exact, "message at {pos} came out broken with no hostile write");
                self.st.count_dropped();
                self.st.ring.release(me, pos);
                self.h.sweep(me);
                self.acts[i] = Act::Idle;
                None
            }
        }
    }

    // ---- the operations ----

    /// Participant `i` takes one more step of what it is doing; `b` chooses, for a
    /// producer holding its position, between handing over part of its chain and
    /// publishing.
    fn step(&mut self, i: usize, b: u8) {
        if !self.alive(i) {
            return;
        }
        let me = i as u32;
        match self.acts[i].clone() {
            Act::Idle => {}
            Act::Filled { msg, first, chain } => match self.claim_put(i) {
                Some(pos) => self.acts[i] = Act::Claimed { msg, pos, first, chain, handed: 0 },
                None => {
                    // The ring is full: the chain goes back, as `HeapPool::put` does.
                    let k = self.geo.chunks_for(msg.len).unwrap_or(0);
                    self.on_lock();
                    self.h.lock(me);
                    self.st.pool.release(first, k, token(me));
                    self.h.unlock(me);
                    if self.exact {
                        self.set(&chain, FREE);
                    }
                    self.acts[i] = Act::Idle;
                }
            },
            Act::Claimed { msg, pos, first, chain, handed } => {
                let left = chain.len() - handed;
                if left == 0 || b & 1 == 0 {
                    return self.publish(i, msg, pos, first, chain);
                }
                // Part of the hand-over (all of it, possibly), as `hand_over` goes.
                let more = 1 + usize::from(b >> 1) % left;
                for &c in &chain[handed..handed + more] {
                    let _ = self.h.owner(c as usize).compare_exchange(token(me), queued(pos), SeqCst, SeqCst);
                }
                if self.exact {
                    self.set(&chain[handed..handed + more], queued(pos));
                }
                self.acts[i] = Act::Claimed { msg, pos, first, chain, handed: handed + more };
            }
            Act::Taken { pos, expect } => {
                let chain = expect.as_ref().map(|(_, chain)| chain.clone());
                if let Some((desc, chunks)) = self.open(i, pos, expect) {
                    self.on_lock();
                    self.h.lock(me);
                    self.st.free_chain(pos, desc, chunks);
                    self.h.unlock(me);
                    if let (true, Some(chain)) = (self.exact, chain) {
                        self.set(&chain, FREE);
                    }
                    self.acts[i] = Act::Freed { pos };
                }
            }
            Act::Freed { pos } => {
                self.st.ring.release(me, pos);
                if self.exact {
                    self.model_released(i, pos);
                }
                self.acts[i] = Act::Idle;
            }
        }
    }

    /// Participant `i` finishes what it is doing (publishing at once).
    fn finish(&mut self, i: usize) {
        for _ in 0..4 {
            if matches!(self.acts[i], Act::Idle) {
                return;
            }
            self.step(i, 0);
        }
    }

    /// A whole put through `HeapPool::put`, giving back a dead consumer's slot once if
    /// that is what blocks it.
    fn put_heap(&mut self, i: usize, len: usize, typed: bool) {
        if !self.idle(i) {
            return;
        }
        let me = i as u32;
        let msg = Msg { id: self.next_id, len, typed };
        self.next_id += 1;
        let bytes = content(msg.id, len);
        let k = self.geo.chunks_for(len);
        let chained = len > INLINE_MAX;
        for attempt in 0..2 {
            if chained && k.is_some() {
                self.on_lock();
            }
            let room = match self.room() {
                Room::Yes => Ok(()),
                _ => Err(Full::Ring),
            };
            let want = match k {
                _ if !chained => room,
                None => Err(Full::TooLarge),
                Some(k) if self.model_free() < k => Err(Full::Pool),
                Some(_) => room,
            };
            let got = self.h.put(me, &bytes, typed);
            if self.exact {
                assert_eq!(got, want, "put of {len} bytes");
            }
            match got {
                Ok(()) => {
                    if self.exact {
                        let pos = self.tail;
                        let mut chain = Vec::new();
                        if chained {
                            let first = self.st.ring.read(pos, |it| {
                                u32::from_le_bytes([it.body[0], it.body[1], it.body[2], it.body[3]])
                            });
                            chain = self.walk(first, k.unwrap_or(0));
                            let mine = self.h.owners().iter().filter(|&&w| w == queued(pos)).count();
                            assert_eq!(
                                mine,
                                chain.len(),
                                "the chain's chunks, and only they, are queued at {pos}"
                            );
                            for &c in &chain {
                                assert_eq!(
                                    self.owners[c as usize], FREE,
                                    "put took chunk {c}, which was not free"
                                );
                                assert_eq!(self.h.owner(c as usize).load(Relaxed), queued(pos));
                            }
                            self.set(&chain, queued(pos));
                        }
                        self.model_claimed(i, pos);
                        *self.entries.back_mut().unwrap() = Entry::Published { msg, chain };
                    }
                    return;
                }
                Err(Full::Ring) if attempt == 0 && !self.st.ring.is_full() => {
                    let given = self.st.ring.repair_put(&self.h.ring);
                    if self.exact {
                        assert_eq!(
                            given,
                            self.room() == Room::AfterRepair,
                            "repair_put gives back a dead consumer's slot only"
                        );
                        if given {
                            self.model_reclaimed();
                        }
                    }
                    if !given {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// A whole get through `HeapPool::get`, skipping holes.
    fn get_heap(&mut self, i: usize) {
        if !self.idle(i) {
            return;
        }
        for _ in 0..self.cap + 2 {
            let head = self.head;
            let got = self.h.get(i as u32);
            let Some(got) = got else {
                if self.nothing_to_get(i) {
                    continue;
                }
                return;
            };
            if self.exact {
                let (msg, chain) = self.model_taken(i, head);
                if !chain.is_empty() {
                    self.on_lock();
                    self.set(&chain, FREE);
                }
                self.model_released(i, head);
                assert_eq!(got, Got::Message(content(msg.id, msg.len), msg.typed), "message {}", msg.id);
            }
            return;
        }
    }

    /// Participant `i` dies. With `v & 1` it dies inside the pool's lock: idle, half-way
    /// through an allocation (`j` chunks taken, the free count not yet); holding a chained
    /// message (with `v & 2`), half-way through freeing it (`j` chunks freed, the free
    /// count not yet); or anything else it held the lock over.
    fn kill(&mut self, i: usize, v: u8, j: u8) {
        if !self.alive(i) || self.live_count() <= MIN_LIVE {
            return;
        }
        let me = i as u32;
        let in_lock = v & 1 != 0;
        // A consumer about to free its chain reads it first, outside the lock (dropping a
        // broken one sweeps, which takes the lock).
        let opened = match self.acts[i].clone() {
            Act::Taken { pos, expect } if in_lock && v & 2 != 0 => {
                self.open(i, pos, expect).map(|(desc, chunks)| (pos, desc, chunks))
            }
            _ => None,
        };
        if in_lock {
            self.on_lock();
            self.h.lock(me);
        }
        match self.acts[i].clone() {
            Act::Idle if in_lock => {
                let (n, pool) = (self.geo.chunks, self.st.pool);
                let start = pool.ctl.cursor.load(Relaxed) % n;
                let want = u32::from(j) % (n + 1);
                let (mut got, mut prev) = (0, END);
                for x in 0..n {
                    let c = (start + x) % n;
                    if got == want {
                        break;
                    }
                    if self.h.owner(c as usize).load(Relaxed) != FREE {
                        continue;
                    }
                    self.h.owner(c as usize).store(token(me), Relaxed);
                    self.h.link(c as usize).store(END, Relaxed);
                    if prev != END {
                        self.h.link(prev as usize).store(c, Relaxed);
                    }
                    prev = c;
                    got += 1;
                    if self.exact {
                        self.set(&[c], token(me));
                        self.free_stale = true;
                    }
                }
            }
            _ => {}
        }
        if let Some((pos, desc, chunks)) = opened {
            let chain = self.walk(desc.first, chunks);
            let j = usize::from(j) % (chain.len() + 1);
            for &c in &chain[..j] {
                let _ = self.h.owner(c as usize).compare_exchange(queued(pos), FREE, SeqCst, SeqCst);
            }
            if self.exact {
                self.set(&chain[..j], FREE);
                self.free_stale = true;
            }
        }
        self.lock_dead |= in_lock;
        self.h.ring.kill(me);
        if self.exact {
            match self.acts[i] {
                Act::Claimed { pos, handed, .. } => {
                    let at = pos.wrapping_sub(self.head) as usize;
                    self.entries[at] = Entry::Hole { handed };
                }
                Act::Taken { pos, .. } | Act::Freed { pos } => {
                    for h in &mut self.held {
                        if h.0 == pos {
                            h.1 = None;
                        }
                    }
                }
                Act::Idle | Act::Filled { .. } => {}
            }
        }
        self.acts[i] = Act::Idle;
    }

    /// A newcomer takes dead slot `i`: a sweep first (its token is the dead one's), then
    /// its intent word is cleared before it counts as alive, as `MessageQueue::me` does.
    fn respawn(&mut self, i: usize) {
        if self.alive(i) {
            return;
        }
        let Some(s) = (0..PARTICIPANTS).find(|&s| self.alive(s)) else { return };
        self.sweep(s);
        if self.exact {
            assert!(!self.h.owners().contains(&token(i as u32)), "a sweep leaves no chunk of a dead token");
        }
        self.st.ring.forget(i as u32);
        self.h.ring.alive[i].store(true, SeqCst);
        self.acts[i] = Act::Idle;
    }

    /// Live participant `s` sweeps the pool.
    fn sweep(&mut self, s: usize) {
        if !self.alive(s) {
            return;
        }
        let want = if self.exact {
            if self.lock_dead {
                self.model_sweep();
            }
            Some(self.model_sweep())
        } else {
            None
        };
        self.lock_dead = false;
        self.free_stale = false;
        let freed = self.h.sweep(s as u32);
        let free = self.h.owners().iter().filter(|&&w| w == FREE).count() as u32;
        assert_eq!(
            self.st.pool.ctl.free.load(Relaxed),
            free,
            "after a sweep the free count is the free chunks"
        );
        let Some(want) = want else { return };
        assert_eq!(freed, want, "a sweep frees the dead chunks");
        let c = self.h.counts();
        assert_eq!(c.dead, 0, "a sweep leaves no dead chunk: {c:?}");
        assert_eq!(c.free + c.queued + c.held, self.geo.chunks);
        assert_eq!(self.st.pool.free_chunks(), c.free);
        assert_eq!(c.queued, self.model_queued(), "the queued chunks are the queued messages'");
    }

    /// A value a hostile peer writes: one that means something here, or any.
    fn hostile_value(&self, input: &mut Input) -> u64 {
        let sel = input.byte();
        let small = u64::from(sel >> 3);
        let ring = self.st.ring;
        let head = ring.ctl.head.0.load(Relaxed);
        let tail = ring.ctl.tail.0.load(Relaxed);
        match sel % 8 {
            0 => FREE,
            1 => queued(head.wrapping_add(small).wrapping_sub(8)),
            2 => token((sel >> 3) as u32 % (PARTICIPANTS as u32 + 1)),
            3 => small,
            4 => head.wrapping_add(small).wrapping_sub(8),
            5 => tail.wrapping_add(small).wrapping_sub(8),
            6 => input.word(),
            _ => u64::MAX - small,
        }
    }

    fn hostile_write(&mut self, input: &mut Input) {
        let what = input.byte();
        let at = usize::from(input.byte());
        let v = self.hostile_value(input);
        let (ring, ctl, chunks) = (self.st.ring, self.st.pool.ctl, self.geo.chunks as usize);
        match what % 10 {
            0 => self.h.owner(at % chunks).store(v, Relaxed),
            1 => self.h.link(at % chunks).store(v as u32, Relaxed),
            2 => {
                let pos =
                    if what & 0x10 != 0 { v } else { ring.ctl.head.0.load(Relaxed).wrapping_add(at as u64) };
                ring.write(pos, |it| match what >> 5 & 3 {
                    0 => it.len = v as u32,
                    1 => it.flags = v as u32,
                    2 => it.body[..4].copy_from_slice(&(v as u32).to_le_bytes()),
                    _ => it.body[at % INLINE_MAX] = v as u8,
                });
            }
            3 => ring.slots[at % ring.slots.len()].seq.store(v, Relaxed),
            4 => ring.intents[at % PARTICIPANTS].0 .0.store(v, Relaxed),
            5 => ring.ctl.head.0.store(v, Relaxed),
            6 => ring.ctl.tail.0.store(v, Relaxed),
            7 => {
                // Both counters moved together: the ring's length kept, its slots not.
                ring.ctl.head.0.fetch_add(v, Relaxed);
                ring.ctl.tail.0.fetch_add(v, Relaxed);
            }
            8 => ctl.free.store(v as u32, Relaxed),
            _ => ctl.cursor.store(v as u32, Relaxed),
        }
        self.exact = false;
        // Whatever the links say now, pieces from any chunk stay in the pool.
        let first = (at as u32) % (self.geo.chunks + 1);
        self.read_chain(first, self.geo.max_message() + self.geo.chunk_size as usize);
    }

    /// A message length from the input: inline, or chained up to a chunk more than the
    /// pool holds (refused as too large).
    fn len(&self, input: &mut Input) -> usize {
        let b = input.byte();
        if b & 1 == 0 {
            return usize::from(b >> 1) % (INLINE_MAX + 1);
        }
        let span = self.geo.max_message() + self.geo.chunk_size as usize - INLINE_MAX;
        INLINE_MAX + 1 + (usize::from(b >> 1) | usize::from(input.byte()) << 7) % span
    }

    /// What holds after every operation.
    fn check(&self) {
        let st = self.st;
        assert!(st.len() <= self.geo.maxsize as usize);
        assert!(st.pool.free_chunks() <= self.geo.chunks);
        let live = |w| self.h.is_alive(w);
        let counts = self.h.counts();
        let garbage = st.has_garbage(&live, &self.h.ring);
        if !self.exact {
            return;
        }
        assert_eq!(self.h.owners(), self.owners, "the owner words are what the model says");
        assert_eq!(st.ring.ctl.head.0.load(Relaxed), self.head, "head");
        assert_eq!(st.ring.ctl.tail.0.load(Relaxed), self.tail, "tail");
        assert_eq!(st.ring.ctl.misc.0.holes.load(Relaxed), self.holes, "holes skipped");
        assert_eq!(st.ring.ctl.misc.0.reclaimed.load(Relaxed), self.reclaimed, "slots given back");
        if !self.free_stale {
            assert_eq!(
                st.pool.ctl.free.load(Relaxed),
                self.model_free(),
                "the free count is the free chunks"
            );
        }
        let want = self.model_counts();
        assert_eq!(counts, want, "who has the chunks: {:x?}", self.owners);
        assert_eq!(garbage, want.dead > 0, "has_garbage");
        let len = self.tail.wrapping_sub(self.head);
        assert_eq!(st.len() as u64, len.min(u64::from(self.geo.maxsize)));
        assert_eq!(st.is_full(), len >= u64::from(self.geo.maxsize));
        assert_eq!(st.is_empty(), len == 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data.iter());
    let (shape, start) = (input.byte(), input.byte());
    let geo = Geometry {
        maxsize: 1 + u32::from(shape & 7),
        chunk_size: 64 << (shape >> 7),
        chunks: 1 + u32::from(shape >> 3 & 15),
    };
    // Counters near the ends of their ranges, to wrap while the run goes on: the 64 bits
    // of head and tail, and the 62 bits of the positions in the owner words.
    let back = u64::from(start >> 2);
    let start = match start & 3 {
        0 => 0,
        1 => 0u64.wrapping_sub(back),
        2 => (1 << 62) - back,
        _ => (1 << 63) - back,
    };
    let h = HeapPool::new(geo, PARTICIPANTS);
    let mut run = Run::new(&h, geo, start);
    while let Some(&op) = input.0.next() {
        let i = usize::from(op >> 4) % PARTICIPANTS;
        let flag = op & 0x80 != 0;
        match op % 16 {
            0 | 1 => {
                let len = run.len(&mut input);
                run.start_put(i, len, flag);
                run.finish(i);
            }
            2 | 3 => {
                let len = run.len(&mut input);
                run.put_heap(i, len, flag);
            }
            4 => {
                let len = run.len(&mut input);
                run.start_put(i, len, flag);
            }
            5 | 6 => {
                if run.idle(i) {
                    if let Some((pos, expect)) = run.claim_get(i) {
                        run.acts[i] = Act::Taken { pos, expect };
                        run.finish(i);
                    }
                }
            }
            7 | 8 => run.get_heap(i),
            9 => {
                if run.idle(i) {
                    if let Some((pos, expect)) = run.claim_get(i) {
                        run.acts[i] = Act::Taken { pos, expect };
                    }
                }
            }
            10 | 11 => run.step(i, input.byte()),
            12 => {
                let (v, j) = (input.byte(), input.byte());
                run.kill(i, v, j);
            }
            13 => run.respawn(i),
            14 => run.sweep(i),
            _ => run.hostile_write(&mut input),
        }
        run.check();
    }
});
