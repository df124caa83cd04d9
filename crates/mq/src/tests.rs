//! The queue's algorithm on the heap: messages inline and chained, deaths at every step,
//! hostile items, links and owner words, the counters' wrap (run under Miri too); and its
//! loom models.

#[cfg(shmkit_loom)]
mod loom_models;

#[cfg(not(shmkit_loom))]
mod heap_tests {
    use shmkit_core::loom::atomic::Ordering::Relaxed;

    use crate::heap::{token, Counts, Full, Got, HeapPool};
    use crate::pool::{queued, Geometry, FREE};
    use crate::state::{Item, Message, INLINE_MAX};

    const A: u32 = 0;
    const B: u32 = 1;
    const DEAD: u32 = 2;

    fn heap(maxsize: u32, chunks: u32) -> HeapPool {
        HeapPool::new(Geometry { maxsize, chunk_size: 64, chunks }, 4)
    }

    fn msg(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
    }

    fn all_free(h: &HeapPool, chunks: u32) {
        assert_eq!(h.counts(), Counts { free: chunks, ..Counts::default() });
    }

    /// Rewrites ring slot `i`'s item, as a hostile peer would.
    fn poke(h: &HeapPool, i: usize, f: impl FnOnce(&mut Item)) {
        // SAFETY: this test is the only thread; no claim is in progress on the slot.
        h.state().ring.slots[i].value.with_mut(|it| f(unsafe { &mut *it }));
    }

    #[test]
    fn small_messages_travel_in_the_ring_and_long_ones_in_chunks_that_come_back() {
        let h = heap(4, 8);
        h.put(A, b"hi", true).unwrap();
        assert_eq!(h.counts().free, 8, "an inline message takes no chunk");
        let long = msg(150, 1);
        h.put(A, &long, false).unwrap();
        assert_eq!(h.counts(), Counts { free: 5, queued: 3, ..Counts::default() });
        assert_eq!(h.pool().free_chunks(), 5);
        let edge = msg(INLINE_MAX, 2);
        h.put(A, &edge, false).unwrap();
        assert_eq!(h.get(B), Some(Got::Message(b"hi".to_vec(), true)));
        assert_eq!(h.get(B), Some(Got::Message(long, false)));
        assert_eq!(h.get(B), Some(Got::Message(edge, false)));
        assert_eq!(h.get(B), None);
        all_free(&h, 8);
        assert_eq!(h.pool().free_chunks(), 8);
    }

    #[test]
    fn the_ring_holds_maxsize_and_the_pool_its_chunks() {
        let h = heap(3, 4);
        for i in 0..3 {
            h.put(A, &[i], false).unwrap();
        }
        assert_eq!(h.put(A, &[9], false), Err(Full::Ring), "maxsize 3 on a ring of 4 slots");
        assert_eq!(h.put(A, &msg(100, 0), false), Err(Full::Ring));
        assert_eq!(h.counts().free, 4, "a chain refused by a full ring went back");
        assert_eq!(h.get(B), Some(Got::Message(vec![0], false)));
        assert_eq!(h.put(A, &msg(300, 0), false), Err(Full::TooLarge));
        assert_eq!(h.put(A, &msg(200, 0), false), Ok(()));
        assert_eq!(h.alloc(A, 1), None, "every chunk is in the queued message");
        assert_eq!(h.pool().free_chunks(), 0);
    }

    #[test]
    fn a_producer_killed_at_each_step_loses_its_message_and_its_chunks_come_back() {
        // (a) after taking its chunks.
        let h = heap(4, 8);
        assert!(h.alloc(DEAD, 2).is_some());
        h.ring.kill(DEAD);
        assert_eq!(h.counts().dead, 2);
        assert_eq!(h.sweep(A), 2);
        all_free(&h, 8);

        // (b) after claiming its position, before handing its chunks over.
        let h = heap(4, 8);
        let st = h.state();
        assert!(h.alloc(DEAD, 2).is_some());
        assert!(st.ring.claim_put(DEAD).is_some());
        h.put(A, b"after", false).unwrap();
        h.ring.kill(DEAD);
        assert_eq!(h.get(B), None, "the dead producer's position blocks the head ...");
        assert!(st.ring.repair_get(B, &h.ring), "... until it is skipped");
        assert_eq!(h.get(B), Some(Got::Message(b"after".to_vec(), false)));
        assert_eq!(h.sweep(A), 2);
        all_free(&h, 8);

        // (c) after handing over part of its chain, before publishing.
        let h = heap(4, 8);
        let st = h.state();
        let first = h.alloc(DEAD, 3).unwrap();
        let pos = st.ring.claim_put(DEAD).unwrap();
        h.owner(first as usize).store(queued(pos), Relaxed);
        h.ring.kill(DEAD);
        assert_eq!(
            h.counts(),
            Counts { free: 5, queued: 1, held: 0, dead: 2 },
            "the handed-over chunk waits"
        );
        assert!(st.ring.repair_get(B, &h.ring));
        assert_eq!(h.counts().dead, 3, "once the position is skipped, no one has it");
        assert_eq!(h.sweep(A), 3);
        all_free(&h, 8);
    }

    #[test]
    fn a_consumer_killed_holding_a_message_loses_it_and_its_chunks_and_position_come_back() {
        let h = heap(2, 4);
        let st = h.state();
        h.put(A, &msg(100, 3), false).unwrap();
        h.put(A, &msg(64, 4), false).unwrap();
        let pos = st.ring.claim_get(DEAD).unwrap();
        assert!(matches!(st.open(pos), Message::Chain { chunks: 2, .. }));
        assert_eq!(h.counts(), Counts { free: 1, queued: 1, held: 2, dead: 0 }, "a live reader holds it");
        h.ring.kill(DEAD);
        assert_eq!(h.counts().dead, 2);
        assert_eq!(h.put(A, b"x", false), Err(Full::Ring), "its position is still held");
        assert!(st.ring.repair_put(&h.ring), "a producer gives it back");
        h.put(A, b"x", false).unwrap();
        assert_eq!(h.sweep(A), 2);
        assert_eq!(h.get(B), Some(Got::Message(msg(64, 4), false)), "the next message, not the lost one");
        assert_eq!(h.get(B), Some(Got::Message(b"x".to_vec(), false)));
        all_free(&h, 4);
    }

    #[test]
    fn a_process_killed_holding_the_lock_is_swept_after() {
        let h = heap(2, 4);
        assert!(h.alloc(DEAD, 2).is_some());
        h.lock(DEAD);
        h.pool().ctl.free.store(0, Relaxed); // as if killed half-way through an allocation
        h.ring.kill(DEAD);
        h.lock(A); // displaces the dead holder and sweeps
        h.unlock(A);
        all_free(&h, 4);
        assert_eq!(h.pool().free_chunks(), 4);
    }

    #[test]
    fn hostile_items_links_and_owner_words_are_dropped_never_followed() {
        let h = heap(4, 8);
        let st = h.state();
        // Flags no producer writes, and an inline length past the slot.
        h.put(A, b"ok", false).unwrap();
        poke(&h, 0, |it| it.flags = 0x80);
        assert_eq!(h.get(B), Some(Got::Dropped));
        h.put(A, b"ok", false).unwrap();
        poke(&h, 1, |it| it.len = 1000);
        assert_eq!(h.get(B), Some(Got::Dropped));
        // A chain pointed out of bounds, then at itself: dropped, its chunks swept back.
        h.put(A, &msg(100, 0), false).unwrap();
        let first = (0..8).find(|&c| h.owner(c).load(Relaxed) != FREE).unwrap();
        h.link(first).store(1000, Relaxed);
        assert_eq!(h.get(B), Some(Got::Dropped));
        all_free(&h, 8);
        h.put(A, &msg(100, 0), false).unwrap();
        let first = (0..8).find(|&c| h.owner(c).load(Relaxed) != FREE).unwrap();
        h.link(first).store(first as u32, Relaxed);
        assert_eq!(h.get(B), Some(Got::Dropped));
        // A forged length larger than the pool.
        h.put(A, &msg(100, 0), false).unwrap();
        let at = (st.ring.ctl.head.0.load(Relaxed) & 3) as usize;
        poke(&h, at, |it| it.len = u32::MAX);
        assert_eq!(h.get(B), Some(Got::Dropped));
        all_free(&h, 8);
        // Owner words no one wrote: a position far ahead, garbage, a dead token.
        h.owner(0).store(queued(1 << 40), Relaxed);
        h.owner(1).store(0x1234, Relaxed);
        h.owner(2).store(token(DEAD), Relaxed);
        h.ring.kill(DEAD);
        assert_eq!(h.counts().dead, 3);
        assert_eq!(h.sweep(A), 3);
        all_free(&h, 8);
        assert_eq!(st.pool.ctl.dropped.load(Relaxed), 5);
    }

    #[test]
    fn positions_keep_their_chunks_across_the_counters_wraps() {
        // Across the 64-bit wrap of the ring's counters and the 62-bit wrap of the
        // positions the owner words keep.
        for start in [u64::MAX - 2, (1 << 62) - 2] {
            let h = heap(3, 8);
            let st = h.state();
            st.ring.ctl.head.0.store(start, Relaxed);
            st.ring.ctl.tail.0.store(start, Relaxed);
            for (i, s) in st.ring.slots.iter().enumerate() {
                let pos = start.wrapping_add(((i as u64).wrapping_sub(start)) & 3);
                s.seq.store(pos, Relaxed);
            }
            for i in 0..3 {
                h.put(A, &msg(100, i), false).unwrap();
            }
            assert_eq!(h.counts().queued, 6, "start {start:#x}");
            for i in 0..3 {
                assert_eq!(h.get(B), Some(Got::Message(msg(100, i), false)), "start {start:#x}");
            }
            all_free(&h, 8);
        }
    }

    #[test]
    fn pieces_never_yield_a_chunk_twice_whatever_the_links_say() {
        let h = heap(4, 8);
        let p = h.pool();
        let first = h.alloc(A, 3).unwrap();
        assert_eq!(p.pieces(first, 150).count(), 3);
        // A peer points the second chunk back at the first: the walk stops there.
        let second = h.link(first as usize).load(Relaxed);
        h.link(second as usize).store(first, Relaxed);
        let seen: Vec<_> = p.pieces(first, 150).map(|(at, _)| at).collect();
        assert_eq!(seen.len(), 2);
        assert_ne!(seen[0], seen[1]);
        h.link(second as usize).store(second, Relaxed);
        assert_eq!(p.pieces(first, 150).count(), 2);
    }
}
