//! Operation sequences on the message queue's chunk pool against a model, with
//! participants killed outside the lock and part-way through a locked operation, and
//! hostile writes into the ring, the links, the owner words and the counters.
//!
//! Participants are tokens `TOKEN_BIT | generation | slot`; a killed one is replaced by a
//! new token in its slot, and the liveness closure calls every token but the current ones
//! dead. While no hostile write happened since the last clean point (the start, or a
//! resync), the model is exact: after every operation the owner words are what it says,
//! the free count is the number of free chunks, claims come out in publish order with
//! the bytes their producer wrote, a producer killed before its commit point never shows
//! its message, a consumer killed holding one loses it, and a repair frees exactly the
//! dead participants' chunks. After any repair, hostile or not: the free count is right,
//! every queued chunk is in exactly one chain that a descriptor between head and tail
//! reaches (across the counters' wrap too), and
//! every other chunk is free or held by a live participant. Whatever was written: no
//! panic, and reads (copies and zero-copy pieces) stay in bounds.
#![no_main]

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;

use libfuzzer_sys::fuzz_target;
use shmkit_mq::heap::HeapPool;
use shmkit_mq::pool::{Claim, Desc, Geometry, Pool, Taken, END, FREE, QUEUED};
use shmkit_sync::raw::TOKEN_BIT;

const PARTICIPANTS: usize = 8;

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

/// A ring word as `pool.rs` packs a [`Desc`]: the first chunk in bits 0..32, the length
/// in bits 32..63, the typed flag in bit 63.
fn unpack(w: u64) -> Desc {
    Desc { first: w as u32, len: (w >> 32) as u32 & ((1 << 31) - 1), typed: w >> 63 != 0 }
}

/// The descriptor `repair` leaves in place of one whose chain is broken.
const BROKEN: u64 = END as u64;

/// The bytes message `id` of `len` bytes holds.
fn content(id: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|j| (id.wrapping_mul(0x9E37_79B9) ^ j.wrapping_mul(0x85EB_CA6B)).rotate_right(13) as u8)
        .collect()
}

/// A chain a producer is filling.
struct Writing {
    first: u32,
    k: u32,
    chain: Vec<u32>,
    len: u32,
    typed: bool,
    id: u32,
    written: bool,
}

/// A message a consumer took: `id` is `None` when its bytes are not known (it was queued
/// before a resync).
struct Reading {
    taken: Taken,
    chain: Vec<u32>,
    id: Option<u32>,
}

enum Hold {
    Idle,
    Writing(Writing),
    Reading(Reading),
}

struct Participant {
    token: u64,
    hold: Hold,
}

/// A message in the model's ring, or a descriptor a repair marked broken.
enum Entry {
    Msg { desc: Desc, chain: Vec<u32>, id: Option<u32> },
    Broken,
}

struct Run<'a> {
    h: &'a HeapPool,
    p: Pool<'a>,
    geo: Geometry,
    who: Vec<Participant>,
    generation: u64,
    /// The owner words the model expects (meaningless while `hostile`).
    owners: Vec<u64>,
    /// The messages between head and tail, oldest first (meaningless while `hostile`).
    queue: VecDeque<Entry>,
    /// A hostile write happened since the last clean point.
    hostile: bool,
    next_id: u32,
}

impl<'a> Run<'a> {
    fn new(h: &'a HeapPool, geo: Geometry, start: u64) -> Self {
        let p = h.pool();
        p.ctl.head.store(start, Relaxed);
        p.ctl.tail.store(start, Relaxed);
        let mut run = Self {
            h,
            p,
            geo,
            who: Vec::new(),
            generation: 0,
            owners: vec![FREE; geo.chunks as usize],
            queue: VecDeque::new(),
            hostile: false,
            next_id: 0,
        };
        for i in 0..PARTICIPANTS {
            let token = run.fresh_token(i);
            run.who.push(Participant { token, hold: Hold::Idle });
        }
        run
    }

    fn fresh_token(&mut self, slot: usize) -> u64 {
        self.generation += 1;
        TOKEN_BIT | self.generation << 8 | slot as u64
    }

    /// Whether `w` is a live participant's token.
    fn live(&self) -> impl Fn(u64) -> bool {
        let tokens: [u64; PARTICIPANTS] = std::array::from_fn(|i| self.who[i].token);
        move |w| tokens.contains(&w)
    }

    fn is_dead_holder(&self, w: u64) -> bool {
        w != FREE && w != QUEUED && !self.live()(w)
    }

    fn link(&self, c: u32) -> Option<u32> {
        (c < self.geo.chunks).then(|| self.h.link(c as usize).load(Relaxed))
    }

    /// The chunks of the chain of `k` from `first`, as far as its links stay in bounds.
    fn walk(&self, first: u32, k: u32) -> Vec<u32> {
        let mut chain = Vec::new();
        let mut c = first;
        for _ in 0..k {
            let Some(next) = self.link(c) else { break };
            chain.push(c);
            c = next;
        }
        chain
    }

    /// The chain of `desc` if it is whole: in bounds, every chunk queued and in no chain
    /// of `seen` yet (which it joins).
    fn queued_chain(&self, desc: Desc, owners: &[u64], seen: &mut [bool]) -> Option<Vec<u32>> {
        let k = self.geo.chunks_for(desc.len as usize)?;
        let chain = self.walk(desc.first, k);
        let whole = chain.len() == k as usize
            && chain
                .iter()
                .enumerate()
                .all(|(i, &c)| owners[c as usize] == QUEUED && !seen[c as usize] && !chain[..i].contains(&c));
        if !whole {
            return None;
        }
        for &c in &chain {
            seen[c as usize] = true;
        }
        Some(chain)
    }

    fn set(&mut self, chain: &[u32], w: u64) {
        for &c in chain {
            self.owners[c as usize] = w;
        }
    }

    /// Writes `w` into the real owner words of `chain` (a simulated crash's state).
    fn store(&self, chain: &[u32], w: u64) {
        for &c in chain {
            self.h.owner(c as usize).store(w, Relaxed);
        }
    }

    fn free_count(&self) -> u32 {
        self.owners.iter().filter(|&&w| w == FREE).count() as u32
    }

    fn alloc(&mut self, i: usize, len: usize, typed: bool) {
        if !matches!(self.who[i].hold, Hold::Idle) {
            return;
        }
        let Some(k) = self.geo.chunks_for(len) else { return };
        let me = self.who[i].token;
        let got = self.p.alloc(k, me);
        if !self.hostile {
            assert_eq!(got.is_some(), self.free_count() >= k, "alloc of {k} with the model's free count");
        }
        let Some(first) = got else { return };
        let chain = self.walk(first, k);
        if !self.hostile {
            assert_eq!(chain.len(), k as usize, "alloc gave a chain out of bounds");
            for (j, &c) in chain.iter().enumerate() {
                assert!(!chain[..j].contains(&c), "alloc gave a chunk twice");
                assert_eq!(self.owners[c as usize], FREE, "alloc took chunk {c}, which was not free");
            }
            assert_eq!(self.link(*chain.last().unwrap_or(&first)), Some(END), "a chain ends in END");
            self.set(&chain, me);
        }
        let id = self.next_id;
        self.next_id += 1;
        let w = Writing { first, k, chain, len: len as u32, typed, id, written: false };
        self.who[i].hold = Hold::Writing(w);
    }

    fn write(&mut self, i: usize) {
        if let Hold::Writing(w) = &mut self.who[i].hold {
            self.p.write(w.first, &content(w.id, w.len as usize));
            w.written = true;
        }
    }

    fn publish(&mut self, i: usize) {
        self.write(i);
        let Hold::Writing(w) = &self.who[i].hold else { return };
        let room = self.p.has_room();
        if !self.hostile {
            assert_eq!(room, self.queue.len() < self.geo.maxsize as usize);
        }
        if !room {
            return;
        }
        let desc = Desc { first: w.first, len: w.len, typed: w.typed };
        self.p.publish(desc, w.k, self.who[i].token);
        let Hold::Writing(w) = std::mem::replace(&mut self.who[i].hold, Hold::Idle) else { unreachable!() };
        if !self.hostile {
            self.set(&w.chain, QUEUED);
            self.queue.push_back(Entry::Msg { desc, chain: w.chain, id: Some(w.id) });
        }
    }

    /// A producer gives its chain back unpublished (as a `put` on a closed queue does), or
    /// a consumer the message it took.
    fn release(&mut self, i: usize) {
        let (first, k, chain) = match std::mem::replace(&mut self.who[i].hold, Hold::Idle) {
            Hold::Idle => return,
            Hold::Writing(w) => (w.first, w.k, w.chain),
            Hold::Reading(r) => (r.taken.desc.first, r.taken.chunks, r.chain),
        };
        self.p.release(first, k, self.who[i].token);
        if !self.hostile {
            self.set(&chain, FREE);
        }
    }

    fn claim(&mut self, i: usize) {
        if !matches!(self.who[i].hold, Hold::Idle) {
            return;
        }
        let me = self.who[i].token;
        let got = self.p.claim(me, &self.live());
        if got == Claim::Dropped {
            self.check_repaired();
        }
        if self.hostile {
            if let Claim::Taken(taken) = got {
                self.who[i].hold = Hold::Reading(Reading { taken, chain: Vec::new(), id: None });
            }
            return;
        }
        match self.queue.pop_front() {
            None => assert_eq!(got, Claim::Empty),
            Some(Entry::Broken) => {
                assert_eq!(got, Claim::Dropped, "a descriptor repair marked broken is dropped");
                self.model_repair();
            }
            Some(Entry::Msg { desc, chain, id }) => {
                let taken = Taken { desc, chunks: chain.len() as u32 };
                assert_eq!(got, Claim::Taken(taken), "claims come out in publish order");
                self.set(&chain, me);
                self.who[i].hold = Hold::Reading(Reading { taken, chain, id });
            }
        }
    }

    fn read(&mut self, i: usize) {
        let Hold::Reading(r) = &self.who[i].hold else { return };
        let mut out = vec![0; r.taken.desc.len as usize];
        self.p.read(r.taken.desc.first, &mut out);
        // The zero-copy path: the same bytes, piece by piece, never past the message's end
        // (nor, under ASan, outside the pool).
        let mut pieces = Vec::new();
        for (at, n) in self.p.pieces(r.taken.desc.first, out.len()) {
            assert!(pieces.len() + n <= out.len(), "pieces go past the message's end");
            // SAFETY: `pieces` yields addresses of `n` bytes inside the pool's chunks, which
            // nothing else writes while this single-threaded run reads them.
            pieces.extend_from_slice(unsafe { std::slice::from_raw_parts(at.as_ptr(), n) });
        }
        assert!(out.starts_with(&pieces), "pieces and read disagree");
        if !self.hostile {
            assert_eq!(pieces.len(), out.len(), "a whole chain yields the whole message");
        }
        if let (false, Some(id)) = (self.hostile, r.id) {
            assert!(out == content(id, out.len()), "message {id} came out with other bytes");
        }
    }

    /// Participant `i` dies: a new one takes its slot; what it held stays its until a repair.
    fn kill(&mut self, i: usize) {
        self.who[i] = Participant { token: self.fresh_token(i), hold: Hold::Idle };
    }

    /// The model's repair: the chunks of the messages between head and tail are queued,
    /// live participants keep theirs, every other chunk is free; how many were not.
    fn model_repair(&mut self) -> u32 {
        let mut queued = vec![false; self.owners.len()];
        for e in &self.queue {
            if let Entry::Msg { chain, .. } = e {
                chain.iter().for_each(|&c| queued[c as usize] = true);
            }
        }
        let mut freed = 0;
        for (c, &queued) in queued.iter().enumerate() {
            let w = self.owners[c];
            if queued {
                self.owners[c] = QUEUED;
            } else if w == QUEUED || self.is_dead_holder(w) {
                self.owners[c] = FREE;
                freed += 1;
            }
        }
        freed
    }

    fn repair(&mut self) {
        let freed = self.p.repair(&self.live());
        self.check_repaired();
        if !self.hostile {
            assert_eq!(freed, self.model_repair(), "repair frees exactly the dead participants' chunks");
        }
    }

    /// Participant `i` dies part-way through a locked operation, after `j` of its owner
    /// stores and before its commit point; the next locker is told and repairs.
    fn crash(&mut self, i: usize, j: u8, len: usize, claim: bool) {
        if self.hostile {
            self.kill(i);
            return self.repair();
        }
        let me = self.who[i].token;
        match std::mem::replace(&mut self.who[i].hold, Hold::Idle) {
            Hold::Idle if !claim => {
                // In `alloc`: `j` chunks taken, the free count and cursor not yet stored.
                let Some(k) = self.geo.chunks_for(len).filter(|&k| self.free_count() >= k) else {
                    return self.kill(i);
                };
                let cursor = self.p.ctl.cursor.load(Relaxed);
                let first = self.p.alloc(k, me).expect("the model's free count said there was room");
                let chain = self.walk(first, k);
                let j = usize::from(j) % (chain.len() + 1);
                self.store(&chain[j..], FREE);
                self.p.ctl.free.fetch_add(k, Relaxed);
                self.p.ctl.cursor.store(cursor, Relaxed);
                self.set(&chain[..j], me);
            }
            Hold::Idle => {
                // In `claim`: `j` chunks made ours, head not yet moved: the message stays.
                let Some(Entry::Msg { desc, chain, .. }) = self.queue.front() else { return self.kill(i) };
                let taken = Taken { desc: *desc, chunks: chain.len() as u32 };
                let chain = chain.clone();
                assert_eq!(self.p.claim(me, &self.live()), Claim::Taken(taken));
                self.p.ctl.head.fetch_sub(1, Relaxed);
                let j = usize::from(j) % (chain.len() + 1);
                self.store(&chain[j..], QUEUED);
                self.set(&chain[..j], me);
            }
            Hold::Writing(w) => {
                // In `publish`: `j` chunks marked queued, the tail not yet moved.
                if !self.p.has_room() {
                    return self.kill(i);
                }
                self.p.write(w.first, &content(w.id, w.len as usize));
                self.p.publish(Desc { first: w.first, len: w.len, typed: w.typed }, w.k, me);
                self.p.ctl.tail.fetch_sub(1, Relaxed);
                let j = usize::from(j) % (w.chain.len() + 1);
                self.store(&w.chain[j..], me);
                self.set(&w.chain[..j], QUEUED);
            }
            Hold::Reading(r) => {
                // In `release`: `j` chunks freed, the free count not yet stored.
                let free = self.p.ctl.free.load(Relaxed);
                self.p.release(r.taken.desc.first, r.taken.chunks, me);
                self.p.ctl.free.store(free, Relaxed);
                let j = usize::from(j) % (r.chain.len() + 1);
                self.store(&r.chain[j..], me);
                self.set(&r.chain[..j], FREE);
            }
        }
        self.kill(i);
        self.repair();
    }

    /// A value a hostile peer writes: one that means something here, or any.
    fn hostile_value(&self, input: &mut Input) -> u64 {
        let sel = input.byte();
        let n = u64::from(self.geo.chunks);
        match sel % 8 {
            0 => FREE,
            1 => QUEUED,
            2 => self.who[usize::from(sel >> 3) % PARTICIPANTS].token,
            3 => TOKEN_BIT | u64::from(sel) << 40,
            4 => u64::from(input.byte()),
            5 => {
                let first = u64::from(input.byte()) % (n + 1);
                let len = u64::from(input.byte()) * u64::from(self.geo.chunk_size) / 16;
                first | len << 32 | u64::from(sel >> 7) << 63
            }
            6 => input.word(),
            _ => u64::MAX - u64::from(sel >> 3),
        }
    }

    fn hostile_write(&mut self, input: &mut Input) {
        let what = input.byte();
        let at = usize::from(input.byte());
        let v = self.hostile_value(input);
        let ctl = self.p.ctl;
        match what % 8 {
            0 => self.h.ring_word(at % self.geo.ring_slots() as usize).store(v, Relaxed),
            1 => self.h.link(at % self.geo.chunks as usize).store(v as u32, Relaxed),
            2 => self.h.owner(at % self.geo.chunks as usize).store(v, Relaxed),
            3 => ctl.head.store(v, Relaxed),
            4 => ctl.tail.store(v, Relaxed),
            5 => {
                // Both counters moved together: the ring's length kept, its slots not.
                ctl.head.store(ctl.head.load(Relaxed).wrapping_add(v), Relaxed);
                ctl.tail.store(ctl.tail.load(Relaxed).wrapping_add(v), Relaxed);
            }
            6 => ctl.free.store(v as u32, Relaxed),
            _ => ctl.cursor.store(v as u32, Relaxed),
        }
        self.hostile = true;
    }

    /// A clean point after hostile writes: every holder dies, a repair runs, and the model
    /// is read back from the repaired state (queued messages' bytes unknown).
    fn resync(&mut self) {
        if !self.hostile {
            return self.repair();
        }
        for i in 0..PARTICIPANTS {
            if !matches!(self.who[i].hold, Hold::Idle) {
                self.kill(i);
            }
        }
        self.repair();
        self.owners = self.h.owners();
        let mut seen = vec![false; self.owners.len()];
        let (mut pos, tail) = (self.p.ctl.head.load(Relaxed), self.p.ctl.tail.load(Relaxed));
        self.queue.clear();
        let owners = self.h.owners();
        while pos != tail {
            let desc = unpack(self.ring_at(pos));
            let entry = match self.queued_chain(desc, &owners, &mut seen) {
                Some(chain) => Entry::Msg { desc, chain, id: None },
                None => Entry::Broken,
            };
            self.queue.push_back(entry);
            pos = pos.wrapping_add(1);
        }
        self.hostile = false;
    }

    /// The ring word of position `pos`: its slot is `pos` masked by the ring's slots (a
    /// power of two), so positions keep their slots across the counters' wrap.
    fn ring_at(&self, pos: u64) -> u64 {
        self.h.ring_word((pos & u64::from(self.geo.ring_slots() - 1)) as usize).load(Relaxed)
    }

    /// What holds after every repair, whatever was written before it.
    fn check_repaired(&self) {
        let owners = self.h.owners();
        let free = owners.iter().filter(|&&w| w == FREE).count() as u32;
        assert_eq!(self.p.ctl.free.load(Relaxed), free, "after a repair the free count is right");
        let (head, tail) = (self.p.ctl.head.load(Relaxed), self.p.ctl.tail.load(Relaxed));
        assert!(
            tail.wrapping_sub(head) <= u64::from(self.geo.maxsize),
            "after a repair the ring's length is in range"
        );
        let live = self.live();
        let mut seen = vec![false; owners.len()];
        let mut pos = head;
        while pos != tail {
            let w = self.ring_at(pos);
            if self.queued_chain(unpack(w), &owners, &mut seen).is_none() {
                assert_eq!(w, BROKEN, "after a repair a descriptor is whole or marked broken");
            }
            pos = pos.wrapping_add(1);
        }
        for (c, &w) in owners.iter().enumerate() {
            match w {
                QUEUED => assert!(seen[c], "queued chunk {c} is in no message"),
                FREE => {}
                w => assert!(live(w), "chunk {c} is held by {w:#x}, which is dead"),
            }
        }
    }

    /// What holds after every operation.
    fn check(&self) {
        let max = u64::from(self.geo.maxsize);
        assert!(self.p.len() <= max && self.p.free_chunks() <= self.geo.chunks);
        if self.hostile {
            return;
        }
        assert_eq!(self.h.owners(), self.owners, "the owner words are what the model says");
        assert_eq!(self.p.ctl.free.load(Relaxed), self.free_count(), "the free count is the free chunks");
        assert_eq!(self.p.len(), self.queue.len() as u64);
        let front = self.queue.front().map(|e| match e {
            Entry::Msg { desc, .. } => desc.len as usize,
            Entry::Broken => 0,
        });
        assert_eq!(self.p.peek_len(), front);
        let dead = self.owners.iter().any(|&w| self.is_dead_holder(w));
        assert_eq!(self.p.has_dead_holders(&self.live()), dead);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data.iter());
    let (shape, start) = (input.byte(), input.byte());
    let maxsize = 1 + u32::from(shape & 7);
    let geo = Geometry { maxsize, chunk_size: 8 << (shape >> 7), chunks: 1 + u32::from(shape >> 3 & 15) };
    // Counters near the end of their range, to wrap while the run goes on: only for a
    // ring whose length divides 2^64, whose slots stay in step across the wrap.
    let start = if start & 1 != 0 && maxsize.is_power_of_two() {
        0u64.wrapping_sub(u64::from(start >> 1))
    } else {
        0
    };
    let h = HeapPool::new(geo);
    let mut run = Run::new(&h, geo, start);
    while let Some(&op) = input.0.next() {
        let i = usize::from(op >> 4) % PARTICIPANTS;
        let flag = op & 0x80 != 0;
        match op % 16 {
            0 | 1 => {
                let len = usize::from(input.byte()) * geo.chunk_size as usize / 16;
                run.alloc(i, len, flag);
            }
            2 => run.write(i),
            3 | 4 => run.publish(i),
            5 | 6 => run.claim(i),
            7 => run.read(i),
            8 | 9 => run.release(i),
            10 => run.kill(i),
            11 => {
                let (j, len) = (input.byte(), usize::from(input.byte()) * geo.chunk_size as usize / 16);
                run.crash(i, j, len, flag);
            }
            12 => run.repair(),
            13 => run.hostile_write(&mut input),
            14 => run.resync(),
            _ => {
                // A get: claim, read and give back at once.
                run.claim(i);
                run.read(i);
                run.release(i);
            }
        }
        run.check();
    }
});
