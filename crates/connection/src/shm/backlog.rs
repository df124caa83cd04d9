//! The backlog of a shared-memory [`Listener`](crate::Listener): where clients ask for
//! connections and the listener answers, as a fixed array of slots, one word of state
//! each, changed only by compare-and-swap.
//!
//! # The protocol
//!
//! A slot's state word is `FREE` (zero), or a tag and the participant id of the client
//! it belongs to:
//!
//! ```text
//!   FREE ──client: request──▶ REQUESTED(c) ──listener: offer──▶ OFFERED(c) ──client: take──▶ TAKEN(c)
//!    ▲                            │                                 │                           │
//!    └──── c withdraws, or c ─────┴──── c withdraws, or the ────────┘                           │
//!          is dead (anyone)            listener gives up on c                                   │
//!    ▲                                                                                          │
//!    └──────────────────────────────── listener: settle ────────────────────────────────────────┘
//! ```
//!
//! - A client claims a `FREE` slot for itself (`FREE → REQUESTED(c)`), and nobody else
//!   can: only `c` writes `REQUESTED(c)`.
//! - The listener creates the connection's pipe, writes its number in the slot's `conn`
//!   word, and offers it (`REQUESTED(c) → OFFERED(c)`). If the client withdrew first, the
//!   swap fails and the listener removes the pipe.
//! - The client reads the number, opens the pipe and takes its end, then says so
//!   (`OFFERED(c) → TAKEN(c)`). If the listener withdrew its offer first (the client
//!   died, or was too slow), the swap fails and the client lets the pipe go and asks
//!   again.
//! - The listener, seeing `TAKEN(c)`, frees the slot.
//!
//! Each transition is one compare-and-swap from the one state it leaves, so two parties
//! never both win: a client's withdrawal and the listener's offer, or its take and the
//! listener's withdrawal, race for one word and exactly one of them happens.
//!
//! **The number a client reads is its own.** `conn` is written only by the listener, and
//! only while the slot is `REQUESTED` by the client being answered. A client that saw
//! `OFFERED(me)` reads `conn` and then the state again: if the state is still
//! `OFFERED(me)`, no other offer was made in between, because another offer needs the
//! slot to leave `OFFERED(me)` and be requested again, and a state that left
//! `OFFERED(me)` never comes back to it while `me` is busy reading (only `me` requests for
//! `me`). `conn` is stored with `Release` after the listener read the new request with
//! `Acquire`, and loaded with `Acquire`, so the second load of a reader that saw a newer
//! `conn` sees the newer state.
//!
//! **Dead parties.** A client's death is seen through its participant id (the kernel
//! drops its lock): anyone may free `REQUESTED(c)` or `OFFERED(c)` of a dead `c`, the
//! listener while it scans for requests and while it waits for a take. `TAKEN(c)` is
//! freed only by the hand-over that offered it: a client leaves the listener's object as
//! soon as it has taken, and must not look dead to a second accepting thread then. Clients
//! watch the
//! listener's id and the `closed` flag in [`Control`] while they wait, so a listener's
//! death or close fails their connect within one re-check of their wait.
//!
//! **Hostile words.** A peer may write anything here. A word with an unknown shape is
//! junk: the listener's scan resets it to `FREE`, and an offer or take in a slot no
//! hand-over of the listener's is in is a forgery, freed by the next hand-over. Slot indexes are bounded by the array
//! the layout checked; a state naming a client that does not exist is a dead client.

use shmkit_core::loom::atomic::{AtomicU32, AtomicU64, Ordering};
use shmkit_core::EventCount;

/// Set in [`Control::listener`] once the listener's id is there.
pub const BOUND: u64 = 1 << 63;

/// The backlog's control block, at the start of the body.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Control {
    /// The accepting process's participant id, with [`BOUND`] set.
    pub listener: AtomicU64,
    /// 1 once the listener is closed: nothing more will be offered.
    pub closed: AtomicU32,
    /// The number of slots (for tools; the layout's geometry is what code trusts).
    pub backlog: AtomicU32,
    /// Clients notify here after a request, a take or a withdrawal; the listener waits.
    pub requests: EventCount,
    /// The listener notifies here after an offer, a freed slot, or its close; clients
    /// wait.
    pub answers: EventCount,
}

// SAFETY: `#[repr(C)]`, an AtomicU64, two AtomicU32 and two event counts (atomics only):
// every bit pattern is valid and peers write it concurrently.
#[cfg(not(shmkit_loom))]
unsafe impl shmkit_core::InPlace for Control {}

/// One place in the backlog.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Slot {
    /// `FREE`, or a tag and a client's participant id.
    pub state: AtomicU64,
    /// The number of the connection offered (meaningful while the state is `OFFERED`).
    pub conn: AtomicU64,
}

// SAFETY: `#[repr(C)]`, two AtomicU64: every bit pattern is valid and peers write it
// concurrently.
#[cfg(not(shmkit_loom))]
unsafe impl shmkit_core::InPlace for Slot {}

/// A slot's state, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nobody's.
    Free,
    /// Client `c` asks for a connection.
    Requested(u64),
    /// The listener offers `c` the connection in the slot's `conn` word.
    Offered(u64),
    /// `c` took it; the listener will free the slot.
    Taken(u64),
    /// A word no party writes (a hostile or corrupt peer's).
    Junk(u64),
}

const SHIFT: u32 = 62;
const ID: u64 = (1 << SHIFT) - 1;
const REQUESTED: u64 = 1;
const OFFERED: u64 = 2;
const TAKEN: u64 = 3;

impl State {
    /// The state a word holds.
    pub fn of(word: u64) -> Self {
        let c = word & ID;
        match word >> SHIFT {
            _ if word == 0 => Self::Free,
            REQUESTED => Self::Requested(c),
            OFFERED => Self::Offered(c),
            TAKEN => Self::Taken(c),
            _ => Self::Junk(word),
        }
    }

    /// The word for this state.
    pub fn word(self) -> u64 {
        match self {
            Self::Free => 0,
            Self::Requested(c) => (REQUESTED << SHIFT) | (c & ID),
            Self::Offered(c) => (OFFERED << SHIFT) | (c & ID),
            Self::Taken(c) => (TAKEN << SHIFT) | (c & ID),
            Self::Junk(w) => w,
        }
    }
}

/// Whether `id` (a participant id packed in a word) fits a slot's state word. Ids have a
/// slot below 4096 in their high half, so every real one does.
pub fn fits(id: u64) -> bool {
    id <= ID
}

/// What became of an offer, as the listener sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The client took the connection; the slot is free again.
    Taken,
    /// Offered, not yet taken.
    Pending,
    /// The offer is off: the client withdrew, or was found dead.
    Withdrawn,
}

/// What a waiting client finds in its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Still asking.
    Waiting,
    /// The connection numbered so is offered.
    Offered(u64),
    /// The slot is no longer ours (freed as if we were dead, or by a hostile peer): ask
    /// again.
    Lost,
}

/// A backlog: its control block and slots, in shared memory or on the heap.
#[derive(Clone, Copy)]
pub struct Backlog<'a> {
    /// The control block.
    pub ctl: &'a Control,
    /// The slots.
    pub slots: &'a [Slot],
}

const ACQREL: Ordering = Ordering::AcqRel;
const ACQ: Ordering = Ordering::Acquire;

impl Backlog<'_> {
    fn swap(&self, i: usize, from: State, to: State) -> bool {
        self.slots[i].state.compare_exchange(from.word(), to.word(), ACQREL, ACQ).is_ok()
    }

    /// The state of slot `i`.
    pub fn state(&self, i: usize) -> State {
        State::of(self.slots[i].state.load(ACQ))
    }

    /// Client `me` claims a free slot, looking first where `me` points so that clients
    /// spread; `None` if the backlog is full.
    pub fn request(&self, me: u64) -> Option<usize> {
        let n = self.slots.len();
        let start = usize::try_from(me % n.max(1) as u64).unwrap_or(0);
        let i = (0..n).map(|k| (start + k) % n).find(|&i| self.swap(i, State::Free, State::Requested(me)))?;
        self.ctl.requests.notify_all();
        Some(i)
    }

    /// Client `me`, waiting on slot `i`: what is there.
    pub fn answer(&self, i: usize, me: u64) -> Answer {
        match self.state(i) {
            State::Requested(c) if c == me => Answer::Waiting,
            State::Offered(c) if c == me => {
                let conn = self.slots[i].conn.load(ACQ);
                // The number is ours if the offer is still there after reading it (see
                // the module doc); a state that left `OFFERED(me)` does not come back.
                if self.state(i) == State::Offered(me) {
                    Answer::Offered(conn)
                } else {
                    Answer::Lost
                }
            }
            _ => Answer::Lost,
        }
    }

    /// Client `me` took the connection offered in slot `i`; `false` if the offer was
    /// withdrawn first (let the connection go).
    pub fn take(&self, i: usize, me: u64) -> bool {
        let took = self.swap(i, State::Offered(me), State::Taken(me));
        self.ctl.requests.notify_all();
        took
    }

    /// Client `me` gives up slot `i` (its request, or an offer it will not take).
    pub fn withdraw(&self, i: usize, me: u64) {
        if self.swap(i, State::Requested(me), State::Free) || self.swap(i, State::Offered(me), State::Free) {
            self.ctl.requests.notify_all();
            self.ctl.answers.notify_all();
        }
    }

    /// Frees slot `i` if its state is still `seen`, and wakes the clients that wait for a
    /// free slot.
    fn free(&self, i: usize, seen: State) -> bool {
        let freed = self.swap(i, seen, State::Free);
        if freed {
            self.ctl.answers.notify_all();
        }
        freed
    }

    /// Frees slot `i` if it holds a dead client's request or offer (`alive` says who
    /// lives), or junk; says whether it did.
    fn reclaim(&self, i: usize, alive: &impl Fn(u64) -> bool) -> bool {
        match self.state(i) {
            // Not `TAKEN`: that is the hand-over's to settle (see `sweep`), and a client
            // leaves the listener's object (and so looks dead) as soon as it has taken.
            s @ (State::Requested(c) | State::Offered(c)) if !alive(c) => self.free(i, s),
            s @ State::Junk(_) => self.free(i, s),
            _ => false,
        }
    }

    /// Frees the slots of dead clients and junk words; returns how many it freed. Anyone
    /// may call it.
    pub fn reap(&self, alive: impl Fn(u64) -> bool) -> usize {
        (0..self.slots.len()).filter(|&i| self.reclaim(i, &alive)).count()
    }

    /// Listener: the first request of a live client at or after slot `start` (going
    /// round), skipping the slots `busy` says a hand-over of this listener is in; frees
    /// what [`reap`](Self::reap) frees on the way. It may run while another thread of the
    /// listener hands a connection over.
    pub fn next_request(
        &self,
        start: usize,
        alive: impl Fn(u64) -> bool,
        busy: impl Fn(usize) -> bool,
    ) -> Option<(usize, u64)> {
        let n = self.slots.len();
        (0..n).map(|k| (start + k) % n).filter(|&i| !busy(i)).find_map(|i| {
            self.reclaim(i, &alive);
            match self.state(i) {
                State::Requested(c) if alive(c) => Some((i, c)),
                _ => None,
            }
        })
    }

    /// Listener, while no other thread of it can begin a hand-over: frees every offer and
    /// take in a slot that no hand-over of its is in (`busy`), which only a peer that
    /// writes the backlog can have left there. Returns how many it freed.
    pub fn sweep(&self, busy: impl Fn(usize) -> bool) -> usize {
        (0..self.slots.len())
            .filter(|&i| {
                !busy(i)
                    && match self.state(i) {
                        s @ (State::Offered(_) | State::Taken(_)) => self.free(i, s),
                        _ => false,
                    }
            })
            .count()
    }

    /// Listener: offers connection `conn` to client `c` in slot `i`; `false` if `c`
    /// withdrew first (remove the connection).
    pub fn offer(&self, i: usize, c: u64, conn: u64) -> bool {
        self.slots[i].conn.store(conn, Ordering::Release);
        let offered = self.swap(i, State::Requested(c), State::Offered(c));
        self.ctl.answers.notify_all();
        offered
    }

    /// Listener: what became of its offer to `c` in slot `i`; a taken one's slot is freed.
    pub fn settle(&self, i: usize, c: u64) -> Settled {
        match self.state(i) {
            State::Taken(x) if x == c => {
                self.free(i, State::Taken(c));
                Settled::Taken
            }
            State::Offered(x) if x == c => Settled::Pending,
            _ => Settled::Withdrawn,
        }
    }

    /// Listener: gives up its offer to `c` in slot `i` (`c` died, or was too slow); a
    /// take that came first wins ([`Settled::Taken`]).
    pub fn withdraw_offer(&self, i: usize, c: u64) -> Settled {
        if self.free(i, State::Offered(c)) {
            Settled::Withdrawn
        } else {
            self.settle(i, c)
        }
    }
}

/// A backlog on the heap, for tests, models and the fuzzer.
#[derive(Debug, Default)]
pub struct HeapBacklog {
    /// The control block.
    pub ctl: Control,
    /// The slots.
    pub slots: Vec<Slot>,
}

impl HeapBacklog {
    /// A backlog of `n` free slots.
    pub fn new(n: usize) -> Self {
        Self { ctl: Control::default(), slots: (0..n).map(|_| Slot::default()).collect() }
    }

    /// The backlog's view.
    pub fn backlog(&self) -> Backlog<'_> {
        Backlog { ctl: &self.ctl, slots: &self.slots }
    }
}

#[cfg(all(test, not(shmkit_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_connection_goes_from_request_to_take() {
        let h = HeapBacklog::new(4);
        let b = h.backlog();
        let i = b.request(7).unwrap();
        assert_eq!(b.answer(i, 7), Answer::Waiting);
        assert_eq!(b.next_request(0, |_| true, |_| false), Some((i, 7)));
        assert!(b.offer(i, 7, 99));
        assert_eq!(b.answer(i, 7), Answer::Offered(99));
        assert_eq!(b.answer(i, 8), Answer::Lost);
        assert_eq!(b.settle(i, 7), Settled::Pending);
        assert!(b.take(i, 7));
        assert_eq!(b.settle(i, 7), Settled::Taken);
        assert_eq!(b.state(i), State::Free);
    }

    #[test]
    fn a_full_backlog_refuses_and_frees_as_clients_go() {
        let h = HeapBacklog::new(2);
        let b = h.backlog();
        let i = b.request(1).unwrap();
        let j = b.request(2).unwrap();
        assert_ne!(i, j);
        assert_eq!(b.request(3), None);
        b.withdraw(i, 1);
        assert_eq!(b.request(3), Some(i));
        // A dead client's request is freed by a reap, and not offered.
        assert_eq!(b.reap(|c| c != 2), 1);
        assert_eq!(b.next_request(0, |c| c != 2, |_| false), Some((i, 3)));
        // A slot a hand-over is in is skipped.
        assert_eq!(b.next_request(0, |c| c != 2, |j| j == i), None);
    }

    #[test]
    fn a_withdrawal_and_an_offer_exclude_each_other() {
        let h = HeapBacklog::new(1);
        let b = h.backlog();
        let i = b.request(5).unwrap();
        b.withdraw(i, 5);
        assert!(!b.offer(i, 5, 1));
        let i = b.request(5).unwrap();
        assert!(b.offer(i, 5, 2));
        assert_eq!(b.withdraw_offer(i, 5), Settled::Withdrawn);
        assert!(!b.take(i, 5));
        assert_eq!(b.answer(i, 5), Answer::Lost);
    }

    #[test]
    fn a_take_before_the_listener_gives_up_wins() {
        let h = HeapBacklog::new(1);
        let b = h.backlog();
        let i = b.request(5).unwrap();
        assert!(b.offer(i, 5, 2));
        assert!(b.take(i, 5));
        assert_eq!(b.withdraw_offer(i, 5), Settled::Taken);
        assert_eq!(b.state(i), State::Free);
    }

    #[test]
    fn junk_words_are_freed_and_never_offered() {
        let h = HeapBacklog::new(3);
        let b = h.backlog();
        h.slots[0].state.store(5, Ordering::Relaxed); // tag 0, not zero
        h.slots[1].state.store(u64::MAX, Ordering::Relaxed); // a taken state, all ones
        h.slots[2].state.store(State::Offered(9).word(), Ordering::Relaxed);
        assert_eq!(b.next_request(0, |c| c == 9, |_| false), None);
        assert_eq!(b.state(0), State::Free);
        assert_eq!(b.state(1), State::Taken(u64::MAX >> 2), "a taken slot is left to its hand-over");
        assert_eq!(b.state(2), State::Offered(9), "a live client's offer stays");
        // With no hand-over in them, offers and takes are a peer's forgeries.
        assert_eq!(b.sweep(|i| i == 2), 1);
        assert_eq!(b.state(1), State::Free);
        assert_eq!(b.state(2), State::Offered(9), "a slot a hand-over is in is left alone");
        for w in [0, 1, 1 << 62, 2 << 62, 3 << 62, u64::MAX, 0xdead_beef] {
            assert_eq!(State::of(w).word(), w);
        }
    }
}

#[cfg(all(test, shmkit_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A client asking, then taking, against the listener offering and settling: the
    /// connection is taken exactly once and the slot ends free.
    #[test]
    fn loom_a_request_is_offered_and_taken_once() {
        loom::model(|| {
            let h = Arc::new(HeapBacklog::new(1));
            let i = h.backlog().request(1).unwrap();
            let client = {
                let h = Arc::clone(&h);
                loom::thread::spawn(move || loop {
                    match h.backlog().answer(i, 1) {
                        Answer::Offered(conn) => return h.backlog().take(i, 1).then_some(conn),
                        Answer::Lost => return None,
                        Answer::Waiting => loom::thread::yield_now(),
                    }
                })
            };
            let b = h.backlog();
            let (j, c) = b.next_request(0, |_| true, |_| false).unwrap();
            assert_eq!((j, c), (i, 1));
            assert!(b.offer(i, 1, 42));
            let settled = loop {
                match b.settle(i, 1) {
                    Settled::Pending => loom::thread::yield_now(),
                    s => break s,
                }
            };
            assert_eq!(settled, Settled::Taken);
            assert_eq!(client.join().unwrap(), Some(42));
            assert_eq!(b.state(i), State::Free);
        });
    }

    /// The listener gives up on a slow client and offers the slot's next client another
    /// connection, while the first reads its answer: the first never takes the second's
    /// number, and each connection is taken at most once.
    #[test]
    fn loom_a_client_never_reads_another_clients_number() {
        loom::model(|| {
            let h = Arc::new(HeapBacklog::new(1));
            let i = h.backlog().request(1).unwrap();
            assert!(h.backlog().offer(i, 1, 10));
            let slow = {
                let h = Arc::clone(&h);
                loom::thread::spawn(move || match h.backlog().answer(i, 1) {
                    Answer::Offered(conn) => {
                        assert_eq!(conn, 10, "client 1 read another offer's number");
                        h.backlog().take(i, 1)
                    }
                    _ => false,
                })
            };
            let b = h.backlog();
            let gave_up = b.withdraw_offer(i, 1) == Settled::Withdrawn;
            let second = gave_up && b.request(2) == Some(i) && b.offer(i, 2, 20);
            let took = slow.join().unwrap();
            assert!(!(took && gave_up), "a withdrawn offer was taken");
            if second {
                assert_eq!(b.answer(i, 2), Answer::Offered(20));
            }
        });
    }

    /// A client withdrawing races the listener's offer: exactly one wins, and the slot
    /// never stays offered to a client that left.
    #[test]
    fn loom_a_withdrawal_races_an_offer() {
        loom::model(|| {
            let h = Arc::new(HeapBacklog::new(1));
            let i = h.backlog().request(1).unwrap();
            let client = {
                let h = Arc::clone(&h);
                loom::thread::spawn(move || {
                    h.backlog().withdraw(i, 1);
                })
            };
            h.backlog().offer(i, 1, 7);
            client.join().unwrap();
            // Withdrawn after the offer (the withdrawal took the offer back), or before it
            // (the offer failed): either way nothing is left for a client that left.
            let b = h.backlog();
            assert_eq!(b.state(i), State::Free);
            assert_eq!(b.settle(i, 1), Settled::Withdrawn);
        });
    }
}
