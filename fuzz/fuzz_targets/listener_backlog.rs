//! The shared-memory Listener's backlog (`shmkit_connection::shm::backlog` over
//! `HeapBacklog`) driven one step at a time by four clients and one listener against a
//! model, with clients dying between any two steps and hostile writes into the slots'
//! state and conn words.
//!
//! Input: `[shape, op..]`. `shape` gives the number of slots (1 to 8), the clients' ids
//! (small ones, ids 0 and up, the largest ids a state word holds, or ids that all start
//! their search at one slot) and where connection numbers start (0, or just below the
//! wrap). Each `op` byte is a step: a client requests, answers, takes, withdraws, or
//! answers and takes what is offered, or dies (and does nothing more); the listener looks
//! for the next request (from a start the op gives), offers it a fresh connection number,
//! settles its offer, or withdraws it, one hand-over at a time as `ShmListener` does;
//! anyone reaps; or a hostile peer writes a word. A client may try `take` before any
//! answer said it was offered, as a confused one would: it must fail. The re-check in
//! `answer` guards a race between threads that single steps cannot produce; the loom
//! tests beside the backlog cover it.
//!
//! While no hostile write has happened the model is exact, and after every step: each
//! slot's state and conn word are what it says; no word is junk; a slot `REQUESTED` or
//! `OFFERED` by a live client is the one slot that client remembers (so no client holds
//! two, and no slot is held by two); an `OFFERED` slot is the listener's outstanding
//! offer to that client with that number; a `TAKEN` one is that offer, taken once and not
//! settled yet. At each step: `request` returns the first free slot from the client's own
//! and `None` only when no slot is free; `answer` gives `Offered(n)` only with the number
//! the listener offered that client in that slot, and never a second number; `take`
//! succeeds exactly when that offer is outstanding; the listener's `settle` (or
//! `withdraw_offer`) says `Taken` exactly once per take and never `Withdrawn` for a taken
//! offer; `next_request` never returns a dead client or a slot not `REQUESTED`; after a
//! `reap` no slot holds a request or an offer of a dead client.
//!
//! After the first hostile write the parties' memories no longer match the words, so the
//! checks that tie them together stop; each step is still checked against the words it
//! started from (it is single-threaded, so what it does is determined), nothing panics and
//! every operation returns.
#![no_main]

use std::sync::atomic::Ordering::Relaxed;

use libfuzzer_sys::fuzz_target;
use shmkit_connection::shm::backlog::{fits, Answer, Backlog, HeapBacklog, Settled, State};

const CLIENTS: usize = 4;

/// The largest id a state word holds.
const ID: u64 = (1 << 62) - 1;

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

/// A client, as it remembers itself.
struct Client {
    id: u64,
    alive: bool,
    /// The slot it requested and has not given up.
    slot: Option<usize>,
    /// The connection number its answer gave.
    offered: Option<u64>,
}

/// The listener's offer that it has not settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Offer {
    slot: usize,
    client: u64,
    conn: u64,
}

/// Whether `c` is a live client's id; the alive oracle every party uses.
fn alive(clients: &[Client], c: u64) -> bool {
    clients.iter().any(|k| k.id == c && k.alive)
}

struct Run<'a> {
    b: Backlog<'a>,
    clients: Vec<Client>,
    /// An id no client has.
    stranger: u64,
    /// The request the listener found and has not offered a connection yet.
    found: Option<(usize, u64)>,
    offer: Option<Offer>,
    next_conn: u64,
    /// A take that succeeded and the listener has not settled: by whom, which number.
    took: Option<(u64, u64)>,
    /// No hostile write has happened: the model is exact.
    exact: bool,
    /// The slots' states and conn words: the model's, or (once not exact) those the step
    /// starts from.
    states: Vec<State>,
    conns: Vec<u64>,
}

impl<'a> Run<'a> {
    fn new(b: Backlog<'a>, ids: [u64; CLIENTS], next_conn: u64) -> Self {
        let n = b.slots.len();
        Self {
            b,
            clients: ids.iter().map(|&id| Client { id, alive: true, slot: None, offered: None }).collect(),
            stranger: (0..=CLIENTS as u64).find(|x| !ids.contains(x)).unwrap_or(0),
            found: None,
            offer: None,
            next_conn,
            took: None,
            exact: true,
            states: vec![State::Free; n],
            conns: vec![0; n],
        }
    }

    fn n(&self) -> usize {
        self.b.slots.len()
    }

    /// Client `k`'s id, if it lives.
    fn live(&self, k: usize) -> Option<u64> {
        let c = &self.clients[k];
        c.alive.then_some(c.id)
    }

    /// Before each step: once the model is not exact, it starts from the words.
    fn begin(&mut self) {
        if !self.exact {
            for (i, s) in self.b.slots.iter().enumerate() {
                self.states[i] = State::of(s.state.load(Relaxed));
                self.conns[i] = s.conn.load(Relaxed);
            }
        }
    }

    fn forget(&mut self, k: usize) {
        self.clients[k].slot = None;
        self.clients[k].offered = None;
    }

    fn request(&mut self, k: usize) {
        let Some(me) = self.live(k) else { return };
        if self.clients[k].slot.is_some() {
            return;
        }
        let n = self.n();
        let start = (me % n as u64) as usize;
        let want = (0..n).map(|j| (start + j) % n).find(|&i| self.states[i] == State::Free);
        let got = self.b.request(me);
        assert_eq!(got, want, "{me} gets the first free slot from its own, or None if none is");
        if let Some(i) = got {
            self.states[i] = State::Requested(me);
            self.clients[k].slot = Some(i);
            self.clients[k].offered = None;
        }
    }

    /// Client `k` looks at its slot; the number offered, if any.
    fn answer(&mut self, k: usize) -> Option<u64> {
        let me = self.live(k)?;
        let i = self.clients[k].slot?;
        let want = match self.states[i] {
            State::Requested(c) if c == me => Answer::Waiting,
            State::Offered(c) if c == me => Answer::Offered(self.conns[i]),
            _ => Answer::Lost,
        };
        let got = self.b.answer(i, me);
        assert_eq!(got, want, "client {me}'s answer in slot {i}");
        match got {
            Answer::Waiting => None,
            Answer::Lost => {
                self.forget(k);
                None
            }
            Answer::Offered(conn) => {
                if self.exact {
                    let offer = Offer { slot: i, client: me, conn };
                    assert_eq!(self.offer, Some(offer), "{me} reads only the listener's offer to it");
                    let before = self.clients[k].offered.unwrap_or(conn);
                    assert_eq!(before, conn, "client {me} is never offered a second number in one request");
                }
                self.clients[k].offered = Some(conn);
                Some(conn)
            }
        }
    }

    fn take(&mut self, k: usize) {
        let Some(me) = self.live(k) else { return };
        let Some(i) = self.clients[k].slot else { return };
        let want = self.states[i] == State::Offered(me);
        let took = self.b.take(i, me);
        assert_eq!(took, want, "client {me}'s take in slot {i} succeeds exactly when offered to it");
        if took {
            let conn = self.conns[i];
            if self.exact {
                let offer = Offer { slot: i, client: me, conn };
                assert_eq!(self.offer, Some(offer), "a take succeeds only on an offer outstanding");
                assert_eq!(self.clients[k].offered.unwrap_or(conn), conn, "{me} took what it read");
                assert_eq!(self.took, None, "one take at a time: the listener makes one offer at a time");
            }
            self.states[i] = State::Taken(me);
            self.took = Some((me, conn));
        }
        // Taken, or the offer went first: done with the slot. Still asking (a take before
        // any offer): the slot is still its own.
        if self.states[i] != State::Requested(me) {
            self.forget(k);
        }
    }

    fn withdraw(&mut self, k: usize) {
        let Some(me) = self.live(k) else { return };
        let Some(i) = self.clients[k].slot else { return };
        if matches!(self.states[i], State::Requested(c) | State::Offered(c) if c == me) {
            self.states[i] = State::Free;
        }
        self.b.withdraw(i, me);
        self.forget(k);
    }

    fn next_request(&mut self, start: usize) {
        if self.offer.is_some() {
            return; // one hand-over at a time, as `ShmListener` does
        }
        let n = self.n();
        let start = start % n;
        let mut want = None;
        for i in (0..n).map(|j| (start + j) % n) {
            match self.states[i] {
                State::Requested(c) if alive(&self.clients, c) => {
                    want = Some((i, c));
                    break;
                }
                State::Requested(c) | State::Offered(c) if !alive(&self.clients, c) => {
                    self.states[i] = State::Free;
                }
                State::Junk(_) => self.states[i] = State::Free,
                _ => {}
            }
        }
        let got = self.b.next_request(start, |c| alive(&self.clients, c), |_| false);
        assert_eq!(got, want, "next_request from slot {start}");
        if let Some((i, c)) = got {
            assert!(alive(&self.clients, c), "next_request returned dead client {c}");
            assert_eq!(self.b.state(i), State::Requested(c), "next_request returned a slot not requested");
        }
        self.found = got;
    }

    fn offer(&mut self) {
        let Some((i, c)) = self.found.take() else { return };
        let conn = self.next_conn;
        self.next_conn = conn.wrapping_add(1);
        let want = self.states[i] == State::Requested(c);
        let offered = self.b.offer(i, c, conn);
        assert_eq!(offered, want, "the offer to {c} in slot {i} succeeds exactly when it still asks");
        self.conns[i] = conn;
        if offered {
            self.states[i] = State::Offered(c);
            self.offer = Some(Offer { slot: i, client: c, conn });
        }
    }

    /// The listener settles its offer, or (`withdraw`) gives it up.
    fn settle(&mut self, withdraw: bool) {
        let Some(o) = self.offer else { return };
        let (i, c) = (o.slot, o.client);
        let want = match self.states[i] {
            State::Taken(x) if x == c => Settled::Taken,
            State::Offered(x) if x == c && !withdraw => Settled::Pending,
            _ => Settled::Withdrawn,
        };
        let got = if withdraw { self.b.withdraw_offer(i, c) } else { self.b.settle(i, c) };
        assert_eq!(got, want, "{o:?} settled (withdrawing: {withdraw})");
        match got {
            Settled::Pending => return,
            Settled::Taken if self.exact => {
                assert_eq!(self.took, Some((c, o.conn)), "Taken once, for the take of {o:?}")
            }
            Settled::Withdrawn if self.exact => {
                assert_eq!(self.took, None, "a taken offer is never settled as withdrawn: {o:?}")
            }
            _ => {}
        }
        if matches!(self.states[i], State::Offered(x) | State::Taken(x) if x == c) {
            self.states[i] = State::Free;
        }
        if got == Settled::Taken {
            self.took = None;
        }
        self.offer = None;
    }

    fn reap(&mut self) {
        let mut want = 0;
        for s in &mut self.states {
            if matches!(*s, State::Requested(c) | State::Offered(c) if !alive(&self.clients, c))
                || matches!(*s, State::Junk(_))
            {
                *s = State::Free;
                want += 1;
            }
        }
        let got = self.b.reap(|c| alive(&self.clients, c));
        assert_eq!(got, want, "reap frees the dead clients' requests and offers, and junk");
        for i in 0..self.n() {
            let s = self.b.state(i);
            let dead = matches!(s, State::Requested(c) | State::Offered(c) if !alive(&self.clients, c));
            assert!(!dead, "after a reap slot {i} still holds {s:?}");
        }
    }

    /// A hostile peer writes a slot's state or conn word: a state naming a client (or a
    /// stranger), junk, or any word.
    fn hostile(&mut self, input: &mut Input) {
        let (what, sel) = (input.byte(), input.byte());
        let i = usize::from(what >> 1) % self.n();
        let small = u64::from(sel >> 3);
        let who = self.clients.get(usize::from(sel >> 3) % (CLIENTS + 1)).map_or(self.stranger, |k| k.id);
        let v = match sel % 8 {
            0 => 0,
            1 => State::Requested(who).word(),
            2 => State::Offered(who).word(),
            3 => State::Taken(who).word(),
            4 => small + 1, // no tag, not zero
            5 => u64::MAX - small,
            _ => input.word(),
        };
        assert_eq!(State::of(v).word(), v, "every word decodes and encodes back to itself");
        let slot = &self.b.slots[i];
        let word = if what & 1 == 0 { &slot.state } else { &slot.conn };
        word.store(v, Relaxed);
        self.exact = false;
        self.begin();
    }

    /// What holds after every step.
    fn check(&self) {
        for (i, s) in self.b.slots.iter().enumerate() {
            assert_eq!(State::of(s.state.load(Relaxed)), self.states[i], "slot {i}'s state");
            assert_eq!(s.conn.load(Relaxed), self.conns[i], "slot {i}'s conn word");
        }
        if !self.exact {
            return;
        }
        for (i, &s) in self.states.iter().enumerate() {
            let owner = |c: u64| self.clients.iter().find(|k| k.id == c);
            match s {
                State::Free => {}
                State::Requested(c) | State::Offered(c) => {
                    let k = owner(c).expect("only clients write their ids");
                    if k.alive {
                        assert_eq!(k.slot, Some(i), "client {c} holds slot {i} and only it");
                    }
                    if let State::Offered(_) = s {
                        let offer = Offer { slot: i, client: c, conn: self.conns[i] };
                        assert_eq!(self.offer, Some(offer), "an offered slot is the listener's offer");
                    }
                }
                State::Taken(c) => {
                    let Some(o) = self.offer else { panic!("slot {i} is taken with no offer outstanding") };
                    assert_eq!((o.slot, o.client), (i, c), "a taken slot is the listener's offer");
                    assert_eq!(self.took, Some((c, o.conn)), "a taken slot is a take not settled");
                }
                State::Junk(w) => panic!("slot {i} holds junk {w:#x} with no hostile write"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data.iter());
    let shape = input.byte();
    let n = 1 + usize::from(shape & 7);
    let ids: [u64; CLIENTS] = match shape >> 3 & 3 {
        0 => [1, 2, 3, 4],
        1 => [0, 1, 2, 3],
        2 => [ID, ID - 1, ID - 2, ID - 3],
        // One start slot for all four in a backlog of 1, 2, 4 or 8.
        _ => [5, 13, 21, 29],
    };
    assert!(ids.iter().all(|&id| fits(id)) && !fits(ID + 1), "ids up to 2^62 - 1 fit");
    let next_conn = if shape & 0x20 == 0 { 0 } else { u64::MAX - 2 };
    let h = HeapBacklog::new(n);
    let mut run = Run::new(h.backlog(), ids, next_conn);
    while let Some(&op) = input.0.next() {
        run.begin();
        let k = usize::from(op >> 4) % CLIENTS;
        match op % 16 {
            0 | 1 => run.request(k),
            2 | 3 => {
                run.answer(k);
            }
            4 => run.take(k),
            5 => run.withdraw(k),
            6 => run.clients[k].alive = false,
            7 | 8 => run.next_request(usize::from(op >> 4)),
            9 => run.offer(),
            10 | 11 => run.settle(false),
            12 => run.settle(true),
            13 => run.reap(),
            // A client's turn as `Client::connect` takes it: answer, take what is offered.
            14 => {
                if run.answer(k).is_some() {
                    run.take(k);
                }
            }
            _ => run.hostile(&mut input),
        }
        run.check();
    }
});
