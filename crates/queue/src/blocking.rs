//! The waiting side of [`Queue`]: claiming slots (spinning, then sleeping, while checking
//! for dead peers), the put and get bodies, and the four forms of each through
//! [`put_api`]/[`get_api`].

use std::time::Instant;

use bytemuck::Pod;
use shmkit_core::Deadline;

use crate::api::{get_api, put_api, Wait};
use crate::error::Fail;
use crate::queue::{is_consumer, is_producer, Queue, Table, CONSUMES, PEER_SCAN_INTERVAL, PRODUCES};
use crate::ring::{state, Ring};

/// Publishes a claimed slot even if the caller's closure panics.
struct Publish<'a, T: Pod> {
    ring: Ring<'a, T>,
    me: u32,
    pos: u64,
}

impl<T: Pod> Drop for Publish<'_, T> {
    fn drop(&mut self) {
        self.ring.publish(self.me, self.pos);
    }
}

/// Releases a claimed slot even if the caller's closure panics.
struct Release<'a, T: Pod> {
    ring: Ring<'a, T>,
    me: u32,
    pos: u64,
}

impl<T: Pod> Drop for Release<'_, T> {
    fn drop(&mut self) {
        self.ring.release(self.me, self.pos);
    }
}

impl<T: Pod> Queue<T> {
    /// Claims a slot to produce into, waiting as `wait` allows.
    #[inline]
    fn claim_put(&self, me: u32, wait: Wait) -> Result<u64, Fail> {
        let ring = self.ring();
        if self.closed() {
            return Err(Fail::Disconnected);
        }
        match ring.claim_put(me) {
            Some(pos) => return Ok(pos),
            None if wait.deadline().is_none() => {
                // Not blocking: a slot held by a dead consumer is still given back.
                return if ring.repair_put(&Table(self.handle().object())) {
                    ring.claim_put(me).ok_or(Fail::Nothing)
                } else {
                    Err(Fail::Nothing)
                };
            }
            None => {}
        }
        self.wait_put(me, wait.deadline().unwrap_or_else(Deadline::never))
    }

    #[cold]
    fn wait_put(&self, me: u32, deadline: Deadline) -> Result<u64, Fail> {
        let ring = self.ring();
        let misc = &ring.ctl.misc.0;
        let table = Table(self.handle().object());
        let mut last_scan = Instant::now();
        let r = misc.not_full.wait_checked(
            self.handle().wait_strategy(),
            deadline,
            || {
                if self.closed() {
                    return Some(Err(Fail::Disconnected));
                }
                ring.claim_put(me).map(Ok)
            },
            || {
                if ring.repair_put(&table) {
                    return None;
                }
                if self.handle().geometry().report_no_consumers && last_scan.elapsed() >= PEER_SCAN_INTERVAL {
                    last_scan = Instant::now();
                    if self.peers_gone(me, state::CONSUMER_SEEN, is_consumer) {
                        return Some(Err(Fail::Disconnected));
                    }
                }
                None
            },
        );
        let r = r.unwrap_or(Err(Fail::Timeout));
        if r.is_err() && ring.len() < self.capacity() {
            // A wake-up meant for a producer that gives up goes to another.
            misc.not_full.notify_one();
        }
        r
    }

    #[inline]
    fn put_inner<R>(&self, wait: Wait, f: impl FnOnce(&mut T) -> R) -> Result<R, Fail> {
        let me = self.me()?;
        self.acts_as(PRODUCES);
        let pos = self.claim_put(me, wait)?;
        let ring = self.ring();
        let r = {
            let _publish = Publish { ring, me, pos };
            ring.write(pos, f)
        };
        ring.ctl.misc.0.not_empty.notify_one();
        Ok(r)
    }

    fn put_many(&self, items: &[T], wait: Wait) -> (usize, Option<Fail>) {
        let me = match self.me() {
            Ok(me) => me,
            Err(e) => return (0, Some(e)),
        };
        self.acts_as(PRODUCES);
        let ring = self.ring();
        let mut done = 0;
        let mut fail = None;
        for item in items {
            // Wait only when nothing put so far is waiting to be seen.
            let pos = match self.claim_put(me, if done == 0 { wait } else { Wait::Now }) {
                Ok(pos) => pos,
                Err(Fail::Nothing) if done > 0 && wait.deadline().is_some() => {
                    ring.ctl.misc.0.not_empty.notify_all();
                    match self.claim_put(me, wait) {
                        Ok(pos) => pos,
                        Err(e) => {
                            fail = Some(e);
                            break;
                        }
                    }
                }
                Err(e) => {
                    fail = Some(e);
                    break;
                }
            };
            let _publish = Publish { ring, me, pos };
            ring.write(pos, |slot| *slot = *item);
            done += 1;
        }
        if done > 0 {
            ring.ctl.misc.0.not_empty.notify_all();
        }
        (done, fail)
    }

    /// Claims a slot to consume from, waiting as `wait` allows.
    #[inline]
    fn claim_get(&self, me: u32, wait: Wait) -> Result<u64, Fail> {
        let ring = self.ring();
        match ring.claim_get(me) {
            Some(pos) => return Ok(pos),
            None if wait.deadline().is_none() => {
                // Not blocking: still skip a dead producer's hole.
                while ring.repair_get(me, &Table(self.handle().object())) {
                    if let Some(pos) = ring.claim_get(me) {
                        return Ok(pos);
                    }
                }
                return Err(if self.closed() && ring.is_empty() {
                    Fail::Disconnected
                } else {
                    Fail::Nothing
                });
            }
            None => {}
        }
        self.wait_get(me, wait.deadline().unwrap_or_else(Deadline::never))
    }

    #[cold]
    fn wait_get(&self, me: u32, deadline: Deadline) -> Result<u64, Fail> {
        let ring = self.ring();
        let misc = &ring.ctl.misc.0;
        let table = Table(self.handle().object());
        let mut last_scan = Instant::now();
        let r = misc.not_empty.wait_checked(
            self.handle().wait_strategy(),
            deadline,
            || match ring.claim_get(me) {
                Some(pos) => Some(Ok(pos)),
                None if self.closed() && ring.is_empty() => Some(Err(Fail::Disconnected)),
                None => None,
            },
            || {
                if ring.repair_get(me, &table) {
                    return ring.claim_get(me).map(Ok);
                }
                if ring.is_empty() && last_scan.elapsed() >= PEER_SCAN_INTERVAL {
                    last_scan = Instant::now();
                    if self.peers_gone(me, state::PRODUCER_SEEN, is_producer) && ring.is_empty() {
                        return Some(Err(Fail::Disconnected));
                    }
                }
                None
            },
        );
        let r = r.unwrap_or(Err(Fail::Timeout));
        if r.is_err() && !ring.is_empty() {
            misc.not_empty.notify_one();
        }
        r
    }

    #[inline]
    fn get_inner<R>(&self, wait: Wait, f: impl FnOnce(&T) -> R) -> Result<R, Fail> {
        let me = self.me()?;
        self.acts_as(CONSUMES);
        let pos = self.claim_get(me, wait)?;
        let ring = self.ring();
        let r = {
            let _release = Release { ring, me, pos };
            ring.read(pos, f)
        };
        ring.ctl.misc.0.not_full.notify_one();
        Ok(r)
    }

    fn get_many(&self, out: &mut [T], wait: Wait) -> Result<usize, Fail> {
        let me = self.me()?;
        self.acts_as(CONSUMES);
        let ring = self.ring();
        let mut done = 0;
        for slot in out.iter_mut() {
            let pos = match self.claim_get(me, if done == 0 { wait } else { Wait::Now }) {
                Ok(pos) => pos,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            let _release = Release { ring, me, pos };
            *slot = ring.read(pos, |v| *v);
            done += 1;
        }
        if done > 0 {
            ring.ctl.misc.0.not_full.notify_all();
        }
        Ok(done)
    }

    put_api!();
    get_api!();
}
