//! The `shared_memory` + `raw_sync` crates: the same 8-byte handoff between two processes,
//! a word in a `shared_memory` mapping handed over with a pair of `raw_sync` events.
//!
//! Two handoffs: `BusyEvent` (an atomic flag both sides spin on) and the regular `Event`
//! (a process-shared pthread mutex and condition variable; the waiter sleeps in the
//! kernel). The regular `Event` stands for the "Mutex based handoff": a `raw_sync` `Mutex`
//! alone cannot hand a turn to another process without polling — a pthread mutex may only
//! be unlocked by the thread that locked it, so the only mutex-only ping-pong is a loop
//! that locks, looks and unlocks, a busy-wait `BusyEvent` already covers — and the
//! `Event` is that mutex with the condition variable that makes the handoff sleep.

use std::error::Error;
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use raw_sync::events::{BusyEvent, Event, EventImpl, EventInit, EventState};
use raw_sync::Timeout;
use shared_memory::{Shmem, ShmemConf};

use crate::harness::Endpoint;

/// Which `raw_sync` event hands the turn over.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Handoff {
    /// `BusyEvent`: spin on an atomic flag.
    Busy,
    /// `Event`: pthread mutex and condition variable.
    Condvar,
}

/// Where things are in the mapping.
const EVENT_A: usize = 0;
const EVENT_B: usize = 1024;
const VALUE: usize = 2048;
const LEN: usize = 4096;

/// One side of the ping-pong: set the other side's event, wait on ours.
pub(crate) struct RawSyncPing {
    // Fields drop in order: the events before the mapping they live in.
    mine: Box<dyn EventImpl>,
    theirs: Box<dyn EventImpl>,
    value: *const AtomicU64,
    _shmem: Rc<Shmem>,
}

impl RawSyncPing {
    /// Both sides over a new mapping: the first creates the events (auto-reset, so a wait
    /// consumes the signal), the second attaches to them as another process would.
    pub fn pair(handoff: Handoff) -> Result<(Self, Self), Box<dyn Error>> {
        let shmem = Rc::new(ShmemConf::new().size(LEN).create()?);
        let base = shmem.as_ptr();
        // SAFETY: the offsets are inside the LEN-byte mapping.
        let (a, b, value) = unsafe { (base.add(EVENT_A), base.add(EVENT_B), base.add(VALUE)) };
        let size = match handoff {
            Handoff::Busy => BusyEvent::size_of(Some(a)),
            Handoff::Condvar => Event::size_of(Some(a)),
        };
        assert!(size <= EVENT_B - EVENT_A && size <= VALUE - EVENT_B, "a raw_sync event needs {size} bytes");
        let value = value.cast::<AtomicU64>() as *const AtomicU64;
        // `a` and `b` point at `size` bytes each of a live, page-aligned shared mapping
        // that nothing else uses, kept mapped (`_shmem`) for as long as the events live.
        // SAFETY: as just said; `new` initialises each event before `from_existing`
        // reads it.
        let (a1, b1, a2, b2) = unsafe {
            let (a1, b1) = match handoff {
                Handoff::Busy => (BusyEvent::new(a, true)?.0, BusyEvent::new(b, true)?.0),
                Handoff::Condvar => (Event::new(a, true)?.0, Event::new(b, true)?.0),
            };
            let (a2, b2) = match handoff {
                Handoff::Busy => (BusyEvent::from_existing(a)?.0, BusyEvent::from_existing(b)?.0),
                Handoff::Condvar => (Event::from_existing(a)?.0, Event::from_existing(b)?.0),
            };
            (a1, b1, a2, b2)
        };
        let first = Self { mine: a1, theirs: b1, value, _shmem: shmem.clone() };
        let second = Self { mine: b2, theirs: a2, value, _shmem: shmem };
        Ok((first, second))
    }

    fn value(&self) -> &AtomicU64 {
        // SAFETY: 8-aligned, inside the mapping that `_shmem` keeps (and that a forked
        // child inherits).
        unsafe { &*self.value }
    }
}

impl Endpoint for RawSyncPing {
    fn send(&mut self, v: u64) {
        self.value().store(v, Ordering::Relaxed);
        // BusyEvent sets and takes its flag with Relaxed atomics: the fences order the
        // value with them (the Event's mutex already does).
        fence(Ordering::Release);
        self.theirs.set(EventState::Signaled).unwrap();
    }

    fn recv(&mut self) -> u64 {
        self.mine.wait(Timeout::Infinite).unwrap();
        fence(Ordering::Acquire);
        self.value().load(Ordering::Relaxed)
    }
}
