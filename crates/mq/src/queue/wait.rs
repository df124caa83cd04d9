//! The queue's waits: the pool's crash-aware lock (and the sweep a dead holder calls for),
//! and the ring's claims, which wait for room or a message while skipping what dead
//! producers and consumers left.

use shmkit_core::Deadline;
use shmkit_sync::raw::Acquired;

use super::{Me, MessageQueue, TRY_SPINS};
use crate::error::MessageError;

impl MessageQueue {
    /// Locked: frees the chunks no one wants any more; how many.
    pub(super) fn sweep(&self) -> u32 {
        self.state().sweep(&self.live(), &self.peers())
    }

    /// Takes the pool's lock until `deadline`, sweeping the pool if its holder died. With a
    /// deadline already passed (the `try_` forms) it still spins a little: the lock is
    /// held for a few stores, and "no chunks" must not be reported only because a peer
    /// held it at that instant.
    pub(super) fn lock(&self, me: Me, deadline: Deadline) -> Result<(), MessageError> {
        let lock = &self.state().pool.ctl.lock;
        let strategy = self.h.wait_strategy();
        let mut got = lock.lock_until(me.token, deadline, strategy, self.object());
        for _ in 0..TRY_SPINS {
            if got.is_some() || !deadline.has_passed() {
                break;
            }
            std::hint::spin_loop();
            got = lock.lock_until(me.token, deadline, strategy, self.object());
        }
        match got {
            Some(Acquired::Clean) => Ok(()),
            Some(Acquired::OwnerDied) => {
                self.sweep();
                self.wake_all();
                Ok(())
            }
            None => Err(MessageError::Timeout),
        }
    }

    pub(super) fn unlock(&self, me: Me) {
        // Fails only if a peer overwrote the owner word: nothing to release then.
        let _ = self.state().pool.ctl.lock.unlock(me.token);
    }

    /// Wakes every waiter: after a close, or a repair that may have helped anyone.
    pub(super) fn wake_all(&self) {
        let st = self.state();
        let misc = &st.ring.ctl.misc.0;
        misc.not_full.notify_all();
        misc.not_empty.notify_all();
        misc.all_done.notify_all();
        st.pool.ctl.freed.notify_all();
    }

    /// Frees the chunks of the dead, if there are any (a waiter's check).
    pub(super) fn reap(&self, me: Me) {
        if self.state().has_garbage(&self.live(), &self.peers()) && self.lock(me, Deadline::never()).is_ok() {
            self.sweep();
            self.unlock(me);
            self.state().pool.ctl.freed.notify_all();
        }
    }

    /// Claims a ring position to put at, waiting until `deadline` for room.
    #[inline]
    pub(super) fn claim_put(&self, me: Me, deadline: Deadline) -> Result<u64, MessageError> {
        let ring = self.state().ring;
        if self.is_closed() {
            return Err(MessageError::Closed);
        }
        if let Some(pos) = ring.claim_put(me.slot) {
            return Ok(pos);
        }
        self.wait_put(me, deadline)
    }

    #[cold]
    pub(super) fn wait_put(&self, me: Me, deadline: Deadline) -> Result<u64, MessageError> {
        let st = self.state();
        let not_full = &st.ring.ctl.misc.0.not_full;
        let peers = self.peers();
        let claim = || {
            if st.is_closed() {
                return Some(Err(MessageError::Closed));
            }
            st.ring.claim_put(me.slot).map(Ok)
        };
        let r = if deadline.has_passed() {
            // Not waiting: a slot held by a dead consumer is still given back.
            claim().or_else(|| if st.ring.repair_put(&peers) { claim() } else { None })
        } else {
            not_full.wait_checked(self.h.wait_strategy(), deadline, claim, || {
                st.ring.repair_put(&peers);
                claim()
            })
        };
        let r = r.unwrap_or(Err(MessageError::Timeout));
        if r.is_err() && !st.is_full() {
            // A wake-up meant for a producer that gives up goes to another.
            not_full.notify_one();
        }
        r
    }

    /// Claims the ring position of the next message, waiting until `deadline` for one.
    #[inline]
    pub(super) fn claim_get(&self, me: Me, deadline: Deadline) -> Result<u64, MessageError> {
        match self.state().ring.claim_get(me.slot) {
            Some(pos) => Ok(pos),
            None => self.wait_get(me, deadline),
        }
    }

    #[cold]
    pub(super) fn wait_get(&self, me: Me, deadline: Deadline) -> Result<u64, MessageError> {
        let st = self.state();
        let not_empty = &st.ring.ctl.misc.0.not_empty;
        let peers = self.peers();
        let claim = || match st.ring.claim_get(me.slot) {
            Some(pos) => Some(Ok(pos)),
            None if st.is_closed() && st.is_empty() => Some(Err(MessageError::Closed)),
            None => None,
        };
        // A position whose producer died before publishing is skipped, and the chunks it
        // had handed over are given back.
        let skip_holes = || {
            let mut skipped = false;
            while st.ring.repair_get(me.slot, &peers) {
                skipped = true;
                if let Some(r) = claim() {
                    self.reap(me);
                    return Some(r);
                }
            }
            if skipped {
                self.reap(me);
            }
            claim()
        };
        let r = if deadline.has_passed() {
            claim().or_else(skip_holes)
        } else {
            not_empty.wait_checked(self.h.wait_strategy(), deadline, claim, skip_holes)
        };
        let r = r.unwrap_or(Err(MessageError::Timeout));
        if r.is_err() && !st.is_empty() {
            not_empty.notify_one();
        }
        r
    }
}
