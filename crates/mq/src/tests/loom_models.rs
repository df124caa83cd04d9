//! Loom models of the pool: a put and a get racing through the lock, a dead holder's
//! chunks repaired by a producer that needs them, and a producer parked on a full pool
//! woken by a consumer that frees it.

use loom::sync::Arc;
use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{Deadline, WaitStrategy};
use shmkit_sync::raw::{Acquired, AlwaysAlive, TOKEN_BIT};

use crate::heap::HeapPool;
use crate::pool::{Claim, Desc, Geometry};

const A: u64 = TOKEN_BIT | 1;
const B: u64 = TOKEN_BIT | 2;
const DEAD: u64 = TOKEN_BIT | 3;

fn lock(h: &HeapPool, me: u64) {
    let got = h.pool().ctl.lock.lock_until(me, Deadline::never(), WaitStrategy::Park, &AlwaysAlive);
    assert_eq!(got, Some(Acquired::Clean));
}

fn unlock(h: &HeapPool, me: u64) {
    h.pool().ctl.lock.unlock(me).unwrap();
}

/// Puts `msg` as `me`: chunks under the lock, the bytes outside it, publish under it.
fn put(h: &HeapPool, me: u64, msg: &[u8]) {
    let p = h.pool();
    let k = p.geo.chunks_for(msg.len()).unwrap();
    lock(h, me);
    let first = p.alloc(k, me).expect("room in the pool");
    unlock(h, me);
    p.write(first, msg);
    lock(h, me);
    p.publish(Desc { first, len: msg.len() as u32, typed: false }, k, me);
    unlock(h, me);
    p.ctl.not_empty.notify_one();
}

/// Gets a message as `me`, waiting for one.
fn get(h: &HeapPool, me: u64) -> Vec<u8> {
    let p = h.pool();
    loop {
        lock(h, me);
        match p.claim(me, &|_| true) {
            Claim::Taken(t) => {
                unlock(h, me);
                let mut out = vec![0; t.desc.len as usize];
                p.read(t.desc.first, &mut out);
                lock(h, me);
                p.release(t.desc.first, t.chunks, me);
                unlock(h, me);
                p.ctl.not_full.notify_all();
                return out;
            }
            Claim::Dropped => unlock(h, me),
            Claim::Empty => {
                unlock(h, me);
                p.ctl
                    .not_empty
                    .wait_until(WaitStrategy::Park, Deadline::never(), || (!p.is_empty()).then_some(()));
            }
        }
    }
}

#[test]
fn loom_put_and_get_race_through_the_lock() {
    loom::model(|| {
        let h = Arc::new(HeapPool::new(Geometry { maxsize: 2, chunk_size: 64, chunks: 3 }));
        let h2 = h.clone();
        let producer = loom::thread::spawn(move || put(&h2, A, &[7; 100]));
        assert_eq!(get(&h, B), vec![7; 100]);
        producer.join().unwrap();
        assert_eq!(h.pool().free_chunks(), 3);
    });
}

#[test]
fn loom_a_dead_holders_chunks_are_repaired_for_a_producer_that_needs_them() {
    loom::model(|| {
        let h = Arc::new(HeapPool::new(Geometry { maxsize: 2, chunk_size: 64, chunks: 2 }));
        let h2 = h.clone();
        // A process takes both chunks and dies before it publishes.
        let dying = loom::thread::spawn(move || {
            lock(&h2, DEAD);
            assert!(h2.pool().alloc(2, DEAD).is_some());
            unlock(&h2, DEAD);
        });
        dying.join().unwrap();
        let p = h.pool();
        let live = |w: u64| w != DEAD;
        lock(&h, A);
        assert!(p.alloc(1, A).is_none());
        unlock(&h, A);
        assert!(p.has_dead_holders(&live));
        lock(&h, A);
        assert_eq!(p.repair(&live), 2);
        let first = p.alloc(2, A).expect("the dead holder's chunks");
        unlock(&h, A);
        lock(&h, A);
        p.release(first, 2, A);
        unlock(&h, A);
        assert_eq!(p.free_chunks(), 2);
    });
}

#[test]
fn loom_a_producer_parked_on_a_full_pool_is_woken_by_a_get() {
    loom::model(|| {
        let h = Arc::new(HeapPool::new(Geometry { maxsize: 2, chunk_size: 64, chunks: 1 }));
        put(&h, A, b"first");
        let h2 = h.clone();
        let producer = loom::thread::spawn(move || {
            let p = h2.pool();
            loop {
                lock(&h2, B);
                if let Some(first) = p.alloc(1, B) {
                    p.write(first, b"second");
                    p.publish(Desc { first, len: 6, typed: false }, 1, B);
                    unlock(&h2, B);
                    p.ctl.not_empty.notify_one();
                    return;
                }
                unlock(&h2, B);
                p.ctl.not_full.wait_until(WaitStrategy::Park, Deadline::never(), || {
                    (p.ctl.free.load(Ordering::Acquire) >= 1).then_some(())
                });
            }
        });
        assert_eq!(get(&h, A), b"first");
        assert_eq!(get(&h, A), b"second");
        producer.join().unwrap();
    });
}
