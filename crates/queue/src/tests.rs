//! The rings on the heap: unit tests (run under Miri), operation sequences against a
//! `VecDeque` model (proptest), hostile shared words, and loom models.

use shmkit_core::loom::atomic::Ordering;

use crate::heap::{HeapLamport, HeapRing};

#[cfg(not(shmkit_loom))]
mod heap {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use crate::lamport::Cursor;

    #[test]
    fn fifo_full_and_empty() {
        let h = HeapRing::<u32>::new(4, 2);
        for i in 0..4 {
            assert!(h.put(0, i));
        }
        assert!(!h.put(0, 9));
        assert_eq!(h.ring().claim_put(0), None);
        assert!(!h.ring().put_blocked());
        assert_eq!(h.ring().len(), 4);
        for i in 0..4 {
            assert_eq!(h.get(1), Some(i));
        }
        assert_eq!(h.get(1), None);
        assert_eq!(h.ring().claim_get(1), None);
        assert!(!h.ring().get_blocked());
    }

    #[test]
    fn wide_elements_get_a_line_for_the_sequence_and_whole_lines_for_the_value() {
        use crate::ring::{is_wide, slot_size, WideSlot};
        assert!(!is_wide::<u64>() && !is_wide::<[u8; 63]>() && is_wide::<[u8; 64]>());
        assert_eq!(slot_size::<u64>(), 16);
        assert_eq!(slot_size::<[u8; 1024]>(), 64 + 1024);
        assert_eq!(std::mem::offset_of!(WideSlot<[u8; 1024]>, value), 64);
        assert_eq!(slot_size::<[u8; 100]>() % 64, 0, "the next slot's sequence starts a line");

        let h = HeapRing::<[u64; 16]>::new(4, 2);
        assert!(h.slots.is_empty() && h.wide.len() == 4);
        for lap in 0..3u64 {
            for i in 0..4 {
                assert!(h.put(0, [lap * 10 + i; 16]));
            }
            assert!(!h.put(0, [99; 16]), "full at the capacity");
            for i in 0..4 {
                assert_eq!(h.get(1), Some([lap * 10 + i; 16]));
            }
            assert_eq!(h.get(1), None);
        }
    }

    #[test]
    fn a_dead_producers_claim_is_waited_for_while_alive_then_skipped() {
        let h = HeapRing::<u32>::new(4, 3);
        let r = h.ring();
        let claimed = r.claim_put(0).unwrap();
        assert!(h.put(1, 7));
        assert_eq!(r.claim_get(2), None);
        assert!(r.get_blocked());
        assert!(!r.repair_get(2, &h), "a live claimant is waited for");
        h.kill(0);
        assert!(r.repair_get(2, &h));
        assert!(!r.repair_get(2, &h), "one hole, skipped once");
        assert_eq!(h.get(2), Some(7));
        assert_eq!(h.ctl.misc.0.holes.load(Ordering::Relaxed), 1);
        // The ring goes on: the skipped slot is free for the next lap.
        for i in 0..4 {
            assert!(h.put(1, i));
        }
        for i in 0..4 {
            assert_eq!(h.get(2), Some(i));
        }
        let _ = claimed;
    }

    #[test]
    fn a_dead_consumers_slot_is_given_back() {
        let h = HeapRing::<u32>::new(2, 3);
        assert!(h.put(0, 1));
        assert!(h.put(0, 2));
        let r = h.ring();
        let _reading = r.claim_get(1).unwrap();
        assert_eq!(r.claim_put(0), None);
        assert!(r.put_blocked());
        assert!(!r.repair_put(&h));
        h.kill(1);
        assert!(r.repair_put(&h));
        assert!(h.put(0, 3));
        assert_eq!(h.get(2), Some(2));
        assert_eq!(h.get(2), Some(3));
        assert_eq!(h.ctl.misc.0.reclaimed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_stale_intent_in_a_reused_slot_is_forgotten() {
        let h = HeapRing::<u32>::new(4, 2);
        let r = h.ring();
        let _ = r.claim_put(0).unwrap(); // participant 0 dies holding pos 0 ...
        assert!(h.put(1, 5));
        // ... and a new process takes slot 0 (alive again) before anyone repaired.
        assert!(!r.repair_get(1, &h));
        r.forget(0);
        assert!(r.repair_get(1, &h));
        assert_eq!(h.get(1), Some(5));
    }

    #[test]
    fn spsc_fifo_batches_and_full() {
        let h = HeapLamport::<u32>::new(4);
        let r = h.ring();
        let mut p = r.producer_cursor();
        let mut c = r.consumer_cursor();
        assert_eq!(r.writable(&mut p, 8), 4);
        for i in 0..4 {
            r.write(p.own, |s| *s = i);
            p.own += 1;
        }
        r.publish(&p);
        assert_eq!(r.writable(&mut p, 1), 0);
        assert_eq!(r.readable(&mut c, 8), 4);
        for i in 0..4 {
            assert_eq!(r.read(c.own, |v| *v), i);
            c.own += 1;
        }
        r.release(&c);
        assert_eq!(r.readable(&mut c, 1), 0);
        assert_eq!(r.writable(&mut p, 1), 1);
    }

    #[test]
    fn hostile_words_never_panic_or_spin() {
        let all = [0, 1, 2, 3, 7, u64::MAX, u64::MAX - 1, 1 << 63, 1 << 62, 0xdead_beef];
        let words = if cfg!(miri) { &all[..4] } else { &all[..] };
        for &a in words {
            for &b in words {
                for &s in words {
                    let h = HeapRing::<u64>::new(4, 2);
                    h.ctl.tail.0.store(a, Ordering::Relaxed);
                    h.ctl.head.0.store(b, Ordering::Relaxed);
                    for slot in &h.slots {
                        slot.seq.store(s, Ordering::Relaxed);
                    }
                    for w in &h.intents {
                        w.0 .0.store(s, Ordering::Relaxed);
                    }
                    let r = h.ring();
                    for _ in 0..8 {
                        let _ = h.put(0, 1);
                        let _ = h.get(1);
                        let _ = r.repair_get(1, &h);
                        let _ = r.repair_put(&h);
                        assert!(r.len() <= 4);
                    }
                    let l = HeapLamport::<u64>::new(4);
                    l.ctl.tail.0.store(a, Ordering::Relaxed);
                    l.ctl.head.0.store(b, Ordering::Relaxed);
                    let lr = l.ring();
                    let (mut p, mut c) = (lr.producer_cursor(), lr.consumer_cursor());
                    for _ in 0..8 {
                        if lr.writable(&mut p, 1) == 1 {
                            lr.write(p.own, |x| *x = 1);
                            p.own = p.own.wrapping_add(1);
                            lr.publish(&p);
                        }
                        if lr.readable(&mut c, 1) == 1 {
                            let _ = lr.read(c.own, |x| *x);
                            c.own = c.own.wrapping_add(1);
                            lr.release(&c);
                        }
                        assert!(lr.len() <= 4);
                    }
                }
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Put(u16),
        Get,
        PutMany(u8),
        GetMany(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u16>().prop_map(Op::Put),
            Just(Op::Get),
            (0u8..10).prop_map(Op::PutMany),
            (0u8..10).prop_map(Op::GetMany),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn mpmc_matches_a_vecdeque(cap_log in 1u32..5, ops in proptest::collection::vec(op(), 0..200)) {
            let cap = 1usize << cap_log;
            let h = HeapRing::<u16>::new(cap, 2);
            let mut model = VecDeque::new();
            let mut next = 0u16;
            for op in ops {
                let (puts, gets) = match op {
                    Op::Put(v) => { next = v; (1, 0) }
                    Op::Get => (0, 1),
                    Op::PutMany(n) => (n as usize, 0),
                    Op::GetMany(n) => (0, n as usize),
                };
                for _ in 0..puts {
                    let ok = h.put(0, next);
                    prop_assert_eq!(ok, model.len() < cap);
                    if ok { model.push_back(next); }
                    next = next.wrapping_add(1);
                }
                for _ in 0..gets {
                    prop_assert_eq!(h.get(1), model.pop_front());
                }
                prop_assert_eq!(h.ring().len(), model.len());
            }
        }

        #[test]
        fn spsc_matches_a_vecdeque(cap_log in 0u32..5, ops in proptest::collection::vec(op(), 0..200)) {
            let cap = 1usize << cap_log;
            let h = HeapLamport::<u16>::new(cap);
            let r = h.ring();
            let (mut p, mut c): (Cursor, Cursor) = (r.producer_cursor(), r.consumer_cursor());
            let mut model = VecDeque::new();
            let mut next = 0u16;
            for op in ops {
                match op {
                    Op::Put(_) | Op::PutMany(_) => {
                        let want = if let Op::PutMany(n) = op { u64::from(n) } else { 1 };
                        let n = r.writable(&mut p, want);
                        prop_assert_eq!(n as usize, (cap - model.len()).min(want as usize));
                        for _ in 0..n {
                            r.write(p.own, |s| *s = next);
                            p.own += 1;
                            model.push_back(next);
                            next = next.wrapping_add(1);
                        }
                        r.publish(&p);
                    }
                    Op::Get | Op::GetMany(_) => {
                        let want = if let Op::GetMany(n) = op { u64::from(n) } else { 1 };
                        let n = r.readable(&mut c, want);
                        prop_assert_eq!(n as usize, model.len().min(want as usize));
                        for _ in 0..n {
                            prop_assert_eq!(Some(r.read(c.own, |v| *v)), model.pop_front());
                            c.own += 1;
                        }
                        r.release(&c);
                    }
                }
                prop_assert_eq!(r.len(), model.len());
            }
        }
    }
}

#[cfg(shmkit_loom)]
mod loom_models {
    use loom::sync::Arc;
    use loom::thread;
    use shmkit_core::{Deadline, WaitStrategy};

    use super::*;

    fn put_spin(h: &HeapRing<u32>, me: u32, v: u32) {
        while !h.put(me, v) {
            thread::yield_now();
        }
    }

    /// Two producers and two consumers race on two slots; each consumer tries once, the
    /// rest is drained afterwards: every item exactly once.
    #[test]
    fn loom_mpmc_two_producers_two_consumers() {
        loom::model(|| {
            let h = Arc::new(HeapRing::<u32>::new(2, 4));
            let producers: Vec<_> = (0..2)
                .map(|p| {
                    let h = h.clone();
                    thread::spawn(move || assert!(h.put(p, p + 1)))
                })
                .collect();
            let consumers: Vec<_> = (2..4)
                .map(|c| {
                    let h = h.clone();
                    thread::spawn(move || h.get(c))
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            let mut got: Vec<u32> = consumers.into_iter().filter_map(|c| c.join().unwrap()).collect();
            while let Some(v) = h.get(2) {
                got.push(v);
            }
            got.sort_unstable();
            assert_eq!(got, [1, 2]);
        });
    }

    /// Two producers race for the one place a limit of 1 leaves: the loser's claim ends
    /// with its intent cleared, so the winner's hole (if it died before publishing) would
    /// not look live. (The limit branch once returned with the intent of the position the
    /// loser had just lost still stored.)
    #[test]
    fn loom_a_producer_that_loses_the_last_place_keeps_no_intent() {
        loom::model(|| {
            let h = Arc::new(HeapRing::<u32>::new(2, 2));
            let racers: Vec<_> = (0..2)
                .map(|p| {
                    let h = h.clone();
                    thread::spawn(move || h.ring().with_limit(1).claim_put(p).is_some())
                })
                .collect();
            let won: Vec<bool> = racers.into_iter().map(|t| t.join().unwrap()).collect();
            assert_eq!(won.iter().filter(|&&w| w).count(), 1);
            let loser = won.iter().position(|&w| !w).unwrap();
            assert_eq!(h.intents[loser].0 .0.load(Ordering::Acquire), 0);
        });
    }

    #[test]
    fn loom_mpmc_dead_producer_is_skipped() {
        loom::model(|| {
            let h = Arc::new(HeapRing::<u32>::new(2, 3));
            let dying = {
                let h = h.clone();
                thread::spawn(move || {
                    if h.ring().claim_put(0).is_some() {
                        // Killed between claiming and publishing.
                        h.kill(0);
                    } else {
                        h.kill(0);
                    }
                })
            };
            let live = {
                let h = h.clone();
                thread::spawn(move || put_spin(&h, 1, 7))
            };
            let consumer = {
                let h = h.clone();
                thread::spawn(move || loop {
                    if let Some(v) = h.get(2) {
                        return v;
                    }
                    if !h.ring().repair_get(2, &*h) {
                        thread::yield_now();
                    }
                })
            };
            dying.join().unwrap();
            live.join().unwrap();
            assert_eq!(consumer.join().unwrap(), 7);
        });
    }

    #[test]
    fn loom_mpmc_dead_consumer_gives_the_slot_back() {
        loom::model(|| {
            let h = Arc::new(HeapRing::<u32>::new(2, 3));
            h.put(0, 1);
            h.put(0, 2);
            let dying = {
                let h = h.clone();
                thread::spawn(move || {
                    let _ = h.ring().claim_get(1);
                    h.kill(1);
                })
            };
            let producer = {
                let h = h.clone();
                thread::spawn(move || loop {
                    if h.put(0, 3) {
                        return;
                    }
                    if !h.ring().repair_put(&*h) {
                        thread::yield_now();
                    }
                })
            };
            dying.join().unwrap();
            producer.join().unwrap();
            assert_eq!(h.get(2), Some(2));
            assert_eq!(h.get(2), Some(3));
        });
    }

    /// The safety side of repair: a consumer that keeps trying to repair while a live
    /// producer claims and publishes never skips its slot.
    #[test]
    fn loom_live_producer_is_never_skipped() {
        loom::model(|| {
            let h = Arc::new(HeapRing::<u32>::new(2, 2));
            let producer = {
                let h = h.clone();
                thread::spawn(move || assert!(h.put(0, 7)))
            };
            let mut got = None;
            for _ in 0..3 {
                got = h.get(1);
                if got.is_some() {
                    break;
                }
                assert!(!h.ring().repair_get(1, &*h), "a live claimant was skipped");
                thread::yield_now();
            }
            producer.join().unwrap();
            let got = got.or_else(|| h.get(1));
            assert_eq!(got, Some(7));
            assert_eq!(h.ctl.misc.0.holes.load(Ordering::Relaxed), 0);
        });
    }

    /// Likewise a producer repairing while a live consumer reads never takes its slot.
    #[test]
    fn loom_live_consumer_is_never_reclaimed() {
        loom::model(|| {
            let h = Arc::new(HeapRing::<u32>::new(2, 2));
            h.put(0, 1);
            h.put(0, 2);
            let consumer = {
                let h = h.clone();
                thread::spawn(move || h.get(1))
            };
            for _ in 0..3 {
                assert!(!h.ring().repair_put(&*h), "a live reader's slot was taken");
                if h.put(0, 3) {
                    break;
                }
                thread::yield_now();
            }
            assert_eq!(consumer.join().unwrap(), Some(1));
            assert_eq!(h.ctl.misc.0.reclaimed.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn loom_spsc_in_order() {
        loom::model(|| {
            let h = Arc::new(HeapLamport::<u32>::new(2));
            let p = {
                let h = h.clone();
                thread::spawn(move || {
                    let r = h.ring();
                    let mut c = r.producer_cursor();
                    for i in 0..3 {
                        while r.writable(&mut c, 1) == 0 {
                            thread::yield_now();
                        }
                        r.write(c.own, |s| *s = i);
                        c.own += 1;
                        r.publish(&c);
                    }
                })
            };
            let r = h.ring();
            let mut c = r.consumer_cursor();
            for i in 0..3 {
                while r.readable(&mut c, 1) == 0 {
                    thread::yield_now();
                }
                assert_eq!(r.read(c.own, |v| *v), i);
                c.own += 1;
                r.release(&c);
            }
            p.join().unwrap();
        });
    }

    /// A consumer parked on `not_empty` is woken by the producer's notify: no lost
    /// wake-up (loom reports a deadlock otherwise).
    #[test]
    fn loom_park_and_wake() {
        loom::model(|| {
            let h = Arc::new(HeapRing::<u32>::new(2, 2));
            let consumer = {
                let h = h.clone();
                thread::spawn(move || {
                    h.ctl.misc.0.not_empty.wait_until(WaitStrategy::Park, Deadline::never(), || h.get(1))
                })
            };
            assert!(h.put(0, 9));
            h.ctl.misc.0.not_empty.notify_one();
            assert_eq!(consumer.join().unwrap(), Some(9));
        });
    }
}
