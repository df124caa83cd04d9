//! Loom models of the queue: a chained put and a get racing through the ring and the
//! pool's lock, an inline put racing with a get, a dead holder's chunks swept while a
//! live producer takes chunks, a sweep racing with a consumer reading a chain, and a
//! producer parked on a full pool woken by a get.

use loom::sync::Arc;
use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{Deadline, WaitStrategy};

use crate::heap::{Got, HeapPool};
use crate::pool::Geometry;

const A: u32 = 0;
const B: u32 = 1;
const DEAD: u32 = 2;

fn heap(maxsize: u32, chunks: u32) -> Arc<HeapPool> {
    Arc::new(HeapPool::new(Geometry { maxsize, chunk_size: 64, chunks }, 3))
}

/// Puts `msg` as `slot` and wakes a consumer.
fn put(h: &HeapPool, slot: u32, msg: &[u8]) {
    h.put(slot, msg, false).expect("room");
    h.state().ring.ctl.misc.0.not_empty.notify_one();
}

/// Gets a message as `slot`, parked until one is there; wakes producers.
fn get(h: &HeapPool, slot: u32) -> Vec<u8> {
    let st = h.state();
    let m = st.ring.ctl.misc.0.not_empty.wait_until(WaitStrategy::Park, Deadline::never(), || {
        match h.get(slot) {
            Some(Got::Message(m, _)) => Some(m),
            _ => None,
        }
    });
    st.ring.ctl.misc.0.not_full.notify_one();
    st.pool.ctl.freed.notify_all();
    m.expect("no deadline")
}

#[test]
fn loom_a_chained_put_and_a_get_race_through_the_ring_and_the_lock() {
    loom::model(|| {
        let h = heap(2, 2);
        let h2 = h.clone();
        let producer = loom::thread::spawn(move || put(&h2, A, &[7; 100]));
        assert_eq!(get(&h, B), vec![7; 100]);
        producer.join().unwrap();
        assert_eq!(h.pool().free_chunks(), 2);
        assert_eq!(h.counts().free, 2);
    });
}

#[test]
fn loom_an_inline_put_and_a_get_race_through_the_ring() {
    loom::model(|| {
        let h = heap(2, 1);
        let h2 = h.clone();
        let producer = loom::thread::spawn(move || put(&h2, A, b"hello"));
        assert_eq!(get(&h, B), b"hello");
        producer.join().unwrap();
        assert!(h.state().ring.is_empty());
    });
}

#[test]
fn loom_a_dead_holders_chunks_are_swept_while_a_live_producer_takes_chunks() {
    loom::model(|| {
        let h = heap(2, 2);
        // A process takes a chunk and dies before it publishes.
        assert!(h.alloc(DEAD, 1).is_some());
        h.ring.kill(DEAD);
        // A live producer takes the other chunk while a waiter sweeps.
        let h2 = h.clone();
        let producer = loom::thread::spawn(move || h2.alloc(A, 1).is_some());
        h.sweep(B);
        let took = producer.join().unwrap();
        let c = h.counts();
        assert_eq!(c.dead, 0, "the dead's chunk was swept");
        assert_eq!(c.held, u32::from(took), "the live producer's chunk was not");
        assert_eq!(h.pool().free_chunks(), 2 - u32::from(took));
    });
}

#[test]
fn loom_a_producer_parked_on_a_full_pool_is_woken_by_a_get() {
    loom::model(|| {
        let h = heap(2, 1);
        put(&h, A, &[1; 64]);
        let h2 = h.clone();
        let producer = loom::thread::spawn(move || {
            let st = h2.state();
            loop {
                match h2.put(A, &[2; 64], false) {
                    Ok(()) => break,
                    Err(_) => {
                        st.pool.ctl.freed.wait_until(WaitStrategy::Park, Deadline::never(), || {
                            (st.pool.ctl.free.load(Ordering::Acquire) >= 1).then_some(())
                        });
                    }
                }
            }
            st.ring.ctl.misc.0.not_empty.notify_one();
        });
        assert_eq!(get(&h, B), vec![1; 64]);
        assert_eq!(get(&h, B), vec![2; 64]);
        producer.join().unwrap();
    });
}

#[test]
fn loom_a_sweep_never_frees_a_message_a_live_consumer_is_reading() {
    loom::model(|| {
        let h = heap(2, 2);
        put(&h, A, &[5; 100]);
        let h2 = h.clone();
        let consumer = loom::thread::spawn(move || get(&h2, B));
        // A waiter sweeps, then takes whatever is free and writes over it.
        h.sweep(A);
        if let Some(first) = h.alloc(A, 2) {
            h.pool().write(first, &[9; 100]);
            h.lock(A);
            h.pool().release(first, 2, crate::heap::token(A));
            h.unlock(A);
        }
        assert_eq!(consumer.join().unwrap(), vec![5; 100], "the message was not overwritten");
        assert_eq!(h.counts().free, 2);
        assert_eq!(h.pool().free_chunks(), 2);
    });
}
