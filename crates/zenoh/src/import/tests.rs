//! The importer's numbering and resume points, on the heap: no Zenoh, no other process.

use std::time::{Duration, Instant};

use super::order::{resume_slot, Order, MAX_SOURCES};
use super::*;

fn state() -> State {
    State::claim(None, Kind::Import).unwrap()
}

fn pair(st: &State, slot: usize) -> (u64, u64) {
    (st.get(w::RESUME + 2 * slot), st.get(w::RESUME + 2 * slot + 1))
}

#[test]
fn resume_points_go_to_a_source_s_own_pair_then_a_free_one_then_a_stale_one() {
    let st = state();
    let mut run = Vec::new();
    assert_eq!(resume_slot(&st, 0, &mut run), None, "source 0 would read as a free pair");
    let source = |i: usize| 0xA0 + i as u64;
    for i in 0..w::RESUME_SLOTS {
        let o = Order::first(source(i), 5 + i as u64, None, resume_slot(&st, source(i), &mut run), &st);
        assert_eq!(o.slot, Some(i));
        assert_eq!(pair(&st, i), (source(i), 5 + i as u64));
    }
    assert_eq!(resume_slot(&st, 0xC, &mut run), None, "every pair belongs to this importer's sources");
    assert_eq!(resume_slot(&st, source(1), &mut run), Some(1), "a source keeps its pair");

    // The next importer on the state: source 1 comes back to its own pair; C takes
    // source 0's, which no source of this importer's holds; source 0 then takes source
    // 2's, and so on until every pair is this importer's again.
    let mut run = Vec::new();
    assert_eq!(resume_slot(&st, source(1), &mut run), Some(1));
    let c = Order::first(0xC, 1, None, resume_slot(&st, 0xC, &mut run), &st);
    assert_eq!((c.slot, pair(&st, 0)), (Some(0), (0xC, 1)));
    let a = Order::first(source(0), 9, None, resume_slot(&st, source(0), &mut run), &st);
    assert_eq!((a.slot, pair(&st, 2)), (Some(2), (source(0), 9)));
    for i in 3..w::RESUME_SLOTS {
        let d = Order::first(0xD0 + i as u64, 1, None, resume_slot(&st, 0xD0 + i as u64, &mut run), &st);
        assert_eq!(d.slot, Some(i));
    }
    assert_eq!(resume_slot(&st, source(2), &mut run), None);
}

#[test]
fn a_restart_counts_what_a_source_skipped_and_a_late_one_is_taken_out_once_put() {
    let q = shmkit_mq::MessageQueue::anonymous(4).unwrap();
    let sh = Shared::new(q.try_clone().unwrap(), Arc::new(state()), Backpressure::Block);
    let st = &sh.st;
    let mut o = Order::first(0xA, 15, Some(10), Some(0), st);
    assert_eq!((st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (5, 5));
    assert_eq!((o.expected, pair(st, 0)), (15, (0xA, 15)));
    let mut ready = Vec::new();
    o.offer(12, Message::bytes(vec![12]), st, &mut ready);
    assert_eq!(st.get(w::OUT_OF_ORDER), 1);
    assert!(ready[0].save.is_none(), "a late message moves no resume point");
    assert_eq!(st.get(w::GAPS), 5, "not taken out before it is put");
    sh.deliver_all(&mut sh.inner.lock().unwrap(), ready);
    assert_eq!(q.get_bytes().unwrap(), [12]);
    assert_eq!((st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (4, 4));
    // A late message that cannot be put (the target ended) stays counted as lost.
    let mut ready = Vec::new();
    o.offer(13, Message::bytes(vec![13]), st, &mut ready);
    q.close();
    sh.deliver_all(&mut sh.inner.lock().unwrap(), ready);
    assert_eq!((st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (4, 4));
    // A numbering that started again is not counted.
    let st = state();
    let o = Order::first(0xA, 3, Some(10), Some(0), &st);
    assert_eq!((o.expected, st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (3, 0, 0));
}

#[test]
fn a_skipped_hole_moves_the_resume_point_with_the_message_put_before_it() {
    let st = state();
    let mut o = Order::first(0xA, 0, None, Some(0), &st);
    let mut ready = Vec::new();
    o.offer(0, Message::bytes(vec![0]), &st, &mut ready);
    o.offer(3, Message::bytes(vec![3]), &st, &mut ready);
    o.skip_hole(&st, &mut ready);
    assert_eq!(st.get(w::GAPS), 2);
    let saves: Vec<_> = ready.iter().map(|r| r.save).collect();
    assert_eq!(saves, [Some((0, 3)), Some((0, 4))], "message 0 carries the point past the hole");
    assert_eq!(pair(&st, 0), (0xA, 0), "nothing written before a message is put");
    // With no message before the hole waiting to be put, the point moves at once.
    let mut ready = Vec::new();
    o.offer(6, Message::bytes(vec![6]), &st, &mut ready);
    o.skip_hole(&st, &mut ready);
    assert_eq!(pair(&st, 0), (0xA, 6));
    assert_eq!(ready.iter().map(|r| r.save).collect::<Vec<_>>(), [Some((0, 7))]);
}

/// A sample's attachment as an exporter writes it: source, number, and a flags byte if
/// `flags` is given.
fn stamp(source: u64, seq: u64, flags: Option<u8>) -> Vec<u8> {
    let mut a = [source.to_le_bytes(), seq.to_le_bytes()].concat();
    a.extend(flags);
    a
}

#[test]
fn a_stamp_is_read_as_a_peer_wrote_it_and_a_typed_value_stays_typed() {
    let q = shmkit_mq::MessageQueue::anonymous(16).unwrap();
    let sh = Shared::new(q.try_clone().unwrap(), Arc::new(state()), Backpressure::Block);
    let got = || q.get_message_deadline(shmkit_core::Deadline::PASSED).unwrap();
    let value = shmkit_core::typed::encode(&"a value").unwrap();
    sh.on_sample(b"a", Some(&stamp(0xA, 0, None)));
    sh.on_sample(&value, Some(&stamp(0xA, 1, Some(TYPED))));
    // Reserved flag bits are ignored: stamped, in order, plain bytes.
    sh.on_sample(b"c", Some(&stamp(0xA, 2, Some(0x80))));
    assert_eq!(
        (got(), got(), got()),
        ((b"a".to_vec(), false), (value.clone(), true), (b"c".to_vec(), false))
    );
    // A typed value behind a hole stays typed when the hole fills.
    sh.on_sample(&value, Some(&stamp(0xA, 4, Some(TYPED))));
    assert!(q.is_empty(), "held behind number 3");
    sh.on_sample(b"d", Some(&stamp(0xA, 3, None)));
    assert_eq!((got(), got()), ((b"d".to_vec(), false), (value.clone(), true)));
    // Any other length is no stamp: delivered as bytes, counted.
    for attachment in [None, Some(&[0u8; 15][..]), Some(&[1u8; 18][..])] {
        sh.on_sample(b"e", attachment);
        assert_eq!(got(), (b"e".to_vec(), false));
    }
    let st = &sh.st;
    assert_eq!((st.get(w::UNSTAMPED), st.get(w::PUT), st.get(w::GAPS)), (3, 8, 0));

    // A Pod queue takes no typed value, even one of the item's size.
    let pod = shmkit_queue::Queue::<u64>::anonymous(4).unwrap();
    let sh = Shared::new(pod.try_clone().unwrap(), Arc::new(state()), Backpressure::Block);
    sh.on_sample(&[7; 8], Some(&stamp(0xB, 0, Some(TYPED))));
    sh.on_sample(&9u64.to_le_bytes(), Some(&stamp(0xB, 1, None)));
    assert_eq!((sh.st.get(w::MALFORMED), sh.st.get(w::PUT)), (1, 1));
    assert_eq!(pod.try_get().unwrap(), 9);
}

// The numbering against what a network (or a broken peer) can do to a source's samples:
// lose some, swap neighbours, hold one back past its hole's timeout, send one twice.

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn every_number_is_put_once_in_order_or_counted_lost() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let n = 1 + rng.below(300);
        // What the network hands on: some numbers lost, some out of order.
        let mut arrivals: Vec<u64> = (0..n).filter(|_| rng.below(10) != 0).collect();
        for i in 1..arrivals.len() {
            if rng.below(8) == 0 {
                arrivals.swap(i - 1, i);
            }
            if rng.below(40) == 0 {
                // Far behind: it comes after its hole was given up.
                let j = i.saturating_sub(1 + rng.below(20) as usize);
                arrivals.swap(j, i);
            }
        }
        let Some(&first) = arrivals.first() else { continue };
        // Repeats of numbers that came before, from the first on.
        for i in (1..arrivals.len()).rev() {
            if rng.below(30) == 0 {
                let again = arrivals[rng.below(i as u64) as usize];
                if again >= first {
                    arrivals.insert(i, again);
                }
            }
        }

        let st = State::claim(None, Kind::Import).unwrap();
        let mut o = Order::first(0xA, first, None, Some(0), &st);
        let mut put: Vec<u64> = Vec::new();
        let take = |ready: Vec<Ready>, put: &mut Vec<u64>| {
            for r in ready {
                let seq = u64::from_le_bytes(r.msg.bytes.try_into().unwrap());
                if let Some((slot, next)) = r.save {
                    save(&st, slot, next);
                }
                if r.late.is_some() {
                    st.sub_one_unless_zero(w::GAPS);
                }
                put.push(seq);
            }
        };
        for &seq in &arrivals {
            let mut ready = Vec::new();
            if o.in_turn(seq) {
                put.push(seq);
                save(&st, 0, o.expected);
            } else {
                o.offer(seq, Message::bytes(seq.to_le_bytes().to_vec()), &st, &mut ready);
            }
            if rng.below(16) == 0 {
                // The hole went stale: given up.
                o.skip_hole(&st, &mut ready);
            }
            take(ready, &mut put);
        }
        // Nothing more comes: every hole is given up.
        while !o.stash.is_empty() {
            let mut ready = Vec::new();
            o.skip_hole(&st, &mut ready);
            take(ready, &mut put);
        }

        // Numbers from `first` on: each one that came is put; the ones that never came
        // are the gaps. Numbers before `first` came late and were put late.
        let came: std::collections::BTreeSet<u64> = arrivals.iter().copied().collect();
        let put_set: std::collections::BTreeSet<u64> = put.iter().copied().collect();
        assert_eq!(put_set, came, "seed {seed}: every number that came is put");
        let last = *came.iter().next_back().unwrap();
        let never = (first..=last).filter(|s| !came.contains(s)).count() as u64;
        assert_eq!(st.get(w::GAPS), never, "seed {seed}: the gaps are the numbers that never came");
        assert_eq!(pair(&st, 0).1, last + 1, "seed {seed}: the resume point is past the last");
        assert_eq!(put.len(), came.len(), "seed {seed}: none put twice");
        assert_eq!(
            st.get(w::DROPPED_NEWEST) as usize,
            arrivals.len() - came.len(),
            "seed {seed}: every repeat is dropped, and counted"
        );
        // In order, apart from late ones, which come after their hole was given up.
        let late = st.get(w::OUT_OF_ORDER) as usize;
        let descents = put.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(descents <= late, "seed {seed}: {put:?}");
    }
}

/// What a hostile or broken peer can send: attachments of any length and bytes, stamps
/// with numbers anywhere (back, far ahead, `u64::MAX`), flags of any value, from a few
/// sources and from many. The importer never panics, counts every sample, and puts only
/// what was sent.
#[test]
fn hostile_samples_never_panic_and_every_put_was_sent() {
    let q = shmkit_mq::MessageQueue::anonymous(64).unwrap();
    let sh = Shared::new(q.try_clone().unwrap(), Arc::new(state()), Backpressure::DropNewest);
    let mut rng = Rng(0x05EE_D0FB_1D6E);
    let mut next = [0u64; 3];
    let total = 20_000u64;
    let mut got = 0u64;
    for i in 0..total {
        let payload = i.to_le_bytes();
        let attachment: Option<Vec<u8>> = match rng.below(10) {
            0 => None,
            1 => Some((0..rng.below(25)).map(|_| rng.below(256) as u8).collect()),
            2 => {
                // Many sources, beyond the most followed.
                Some(stamp(rng.below(5_000) + 10, rng.below(4), None))
            }
            _ => {
                let s = rng.below(3) as usize;
                let seq = match rng.below(20) {
                    0 => u64::MAX,
                    1 => u64::MAX - rng.below(3),
                    2 => next[s] + rng.below(1 << 40),
                    3 => next[s].saturating_sub(rng.below(50)),
                    _ => next[s],
                };
                next[s] = next[s].max(seq.saturating_add(1)).min(1 << 50);
                let flags = (rng.below(3) == 0).then(|| rng.below(256) as u8);
                Some(stamp(s as u64 + 1, seq, flags))
            }
        };
        sh.on_sample(&payload, attachment.as_deref());
        if rng.below(4) == 0 {
            while let Ok((m, _)) = q.get_message_deadline(shmkit_core::Deadline::PASSED) {
                // Only what was sent, and nothing sent after this sample.
                let n = u64::from_le_bytes(m[..].try_into().expect("an 8-byte payload"));
                assert!(n <= i, "a message that was never sent: {n}");
                got += 1;
            }
        }
    }
    let st = &sh.st;
    assert_eq!(st.get(w::RECEIVED), total);
    let stashed: u64 = sh.inner.lock().unwrap().sources.orders().map(|o| o.stash.len() as u64).sum();
    let handled = st.get(w::PUT) + st.get(w::DROPPED_NEWEST) + st.get(w::MALFORMED) + stashed;
    assert!(handled <= total, "more handled ({handled}) than received");
    assert!(got > 0 && got <= st.get(w::PUT));
    // Bounded, whatever the peers claim: the sources followed, and what waits behind holes.
    let mut inner = sh.inner.lock().unwrap();
    assert!(inner.sources.len() <= MAX_SOURCES, "{} sources followed", inner.sources.len());
    assert!(inner.sources.orders().all(|o| o.stash.len() <= 65_536));
}

/// A long-running importer meets ever new sources (each exporter restarted on an anonymous
/// state is one). With every resume pair taken, a new one takes the pair of the source
/// silent longest, once it has been silent a while; at the most sources followed, a new
/// one takes the place of the one heard from least recently with nothing waiting.
#[test]
fn a_new_source_takes_the_place_of_the_one_heard_from_least_recently() {
    let st = state();
    let mut sources = Sources::new(&st);
    let mut ready = Vec::new();
    for id in 1..=w::RESUME_SLOTS as u64 {
        assert!(sources.follow(id, 0, &st).unwrap().slot.is_some());
    }
    assert!(sources.follow(100, 0, &st).unwrap().slot.is_none(), "every pair's source was heard just now");
    sources.age(5, Duration::from_secs(20));
    assert_eq!(sources.follow(101, 3, &st).unwrap().slot, Some(4), "source 5's, silent for 20 s");
    assert_eq!(pair(&st, 4), (101, 3));
    assert!(sources.follow(5, 1, &st).unwrap().slot.is_none(), "source 5 goes on without");

    // Up to the most followed: source 1 waits behind a hole and is the oldest; 3 is the
    // next oldest.
    for id in 1_000..1_000 + (MAX_SOURCES - sources.len()) as u64 {
        sources.follow(id, 0, &st).unwrap();
    }
    sources.follow(1, 5, &st).unwrap().offer(5, Message::bytes(vec![5]), &st, &mut ready);
    sources.age(1, Duration::from_secs(60));
    sources.age(3, Duration::from_secs(30));
    let new = sources.follow(9_999, 7, &st).expect("a new source is followed");
    assert!(new.in_turn(7));
    assert_eq!(sources.len(), MAX_SOURCES);
    // Source 3 went (1 has samples waiting), and its pair with it.
    assert_eq!(pair(&st, 2), (9_999, 7));
    assert_eq!(sources.follow(1, 6, &st).unwrap().stash.len(), 1, "source 1 keeps its samples");
    // Should it come back, source 3 starts afresh where it is.
    assert_eq!(sources.follow(3, 40, &st).unwrap().expected, 40);
    assert_eq!(sources.len(), MAX_SOURCES);
    assert_eq!(st.get(w::GAPS), 0, "nothing counted for a source that was only idle");
}

/// Samples held behind holes are bounded in bytes over all sources, whatever the peers
/// send: past the bound, the holes of the source that holds the most are given up.
#[test]
fn what_waits_behind_holes_is_bounded_in_bytes() {
    let st = state();
    let mut sources = Sources::new(&st);
    let mut ready = Vec::new();
    assert!(sources.follow(1, 0, &st).unwrap().in_turn(0));
    assert!(sources.follow(2, 0, &st).unwrap().in_turn(0));
    // Source 2 holds a little, source 1 a lot, each behind a hole of one.
    sources.follow(2, 2, &st).unwrap();
    sources.offer(2, 2, Message::bytes(vec![2; 1000]), &st, &mut ready);
    let mib = 1 << 20;
    let mut n = 2;
    while ready.is_empty() {
        sources.follow(1, n, &st).unwrap();
        sources.offer(1, n, Message::bytes(vec![1; mib]), &st, &mut ready);
        n += 1;
        assert!(n < 100, "never bounded");
    }
    assert_eq!(n - 2, 64, "given up once past 64 MiB, with source 2's");
    assert_eq!(ready.len(), 64, "everything source 1 held goes on");
    assert!(ready.iter().all(|r| r.msg.bytes.len() == mib));
    assert_eq!(st.get(w::GAPS), 1);
    assert_eq!(sources.follow(2, 3, &st).unwrap().stash.len(), 1, "the smaller holder keeps its samples");
}

/// Time the importer spends waiting for room in its target is no hole's: the samples
/// that would fill it cannot come in meanwhile. The hole's wait is pushed back by that
/// time, not started again.
#[test]
fn a_hole_does_not_age_while_the_importer_waits_for_room() {
    let st = state();
    let mut sources = Sources::new(&st);
    let mut ready = Vec::new();
    assert!(sources.follow(1, 0, &st).unwrap().in_turn(0));
    sources.follow(1, 2, &st).unwrap();
    let before = Instant::now();
    sources.offer(1, 2, Message::bytes(vec![2]), &st, &mut ready);
    let after = Instant::now();
    std::thread::sleep(Duration::from_millis(400));
    // A wait for room of 100 ms: the hole has waited 300 ms of its own by `before` +
    // 400 ms at most, and at least by `after` + 400 ms.
    sources.held_up(Duration::from_millis(100));
    sources.give_up_stale_at(before + Duration::from_millis(390), &st, &mut ready);
    assert!(ready.is_empty() && sources.any_waiting(), "the time waited for room is not counted");
    sources.give_up_stale_at(after + Duration::from_millis(410), &st, &mut ready);
    assert_eq!((ready.len(), st.get(w::GAPS)), (1, 1), "the time before the wait is");
}

/// A put into a full queue says how long it waited for room.
#[test]
fn a_put_that_waits_for_room_says_how_long() {
    let q = shmkit_mq::MessageQueue::anonymous(1).unwrap();
    let mut target = q.try_clone().unwrap();
    let (st, stop) = (state(), AtomicBool::new(false));
    assert_eq!(deliver(&mut target, &[1], false, Backpressure::Block, &st, &stop), Ok(None));
    let pause = Duration::from_millis(150);
    let reader = std::thread::spawn(move || {
        std::thread::sleep(pause);
        q.get_bytes().unwrap()
    });
    let waited = deliver(&mut target, &[2], false, Backpressure::Block, &st, &stop).unwrap();
    assert!(waited.is_some_and(|w| w >= pause - Duration::from_millis(5)), "{waited:?}");
    assert_eq!(reader.join().unwrap(), [1]);
    assert_eq!(st.get(w::PUT), 2);
}

/// A stop hands on what waits behind holes as far as the queue has room, counts the holes
/// in `gaps` and the rest in `dropped_newest`: every sample received is accounted for,
/// including one blocked in a put when the stop comes and one waiting for the lock then
/// (numbered as any other: it fills its source's hole).
#[test]
fn a_stop_hands_on_what_waits_behind_holes_and_counts_the_rest() {
    let q = shmkit_mq::MessageQueue::anonymous(3).unwrap();
    let sh = Arc::new(Shared::new(q.try_clone().unwrap(), Arc::new(state()), Backpressure::Block));
    let st = sh.st.clone();
    let sample = |source: u64, seq: u64| {
        let sh = sh.clone();
        std::thread::spawn(move || {
            sh.on_sample(&[(source * 10 + seq) as u8], Some(&stamp(source, seq, None)))
        })
    };
    let received = |n: u64| {
        let t = Instant::now();
        while st.get(w::RECEIVED) < n {
            std::thread::yield_now();
            assert!(t.elapsed() < Duration::from_secs(5), "received {} of {n}", st.get(w::RECEIVED));
        }
    };
    // Source 1: 0, then 2 and 3 behind a hole; source 2: 0, 1, 2 (the queue holds 3).
    for (source, seq) in [(1, 0), (1, 2), (1, 3), (2, 0), (2, 1)] {
        sample(source, seq).join().unwrap();
    }
    // The queue is full: 2.2 waits for room, holding the lock; 1.1 waits for the lock.
    let blocked = sample(2, 2);
    received(6);
    let late = sample(1, 1);
    received(7);
    std::thread::sleep(Duration::from_millis(20));
    sh.stop.store(true, Ordering::Relaxed);
    blocked.join().unwrap();
    late.join().unwrap();
    assert!(sh.keep().is_ok());
    let got: Vec<Vec<u8>> = std::iter::from_fn(|| q.try_get_bytes().ok()).collect();
    assert_eq!(got, [vec![10], vec![20], vec![21]]);
    assert_eq!(st.get(w::GAPS), 0, "1.1 filled the hole: nothing was lost upstream");
    // 2.2, then 1.1, 1.2, 1.3 found no room.
    assert_eq!((st.get(w::RECEIVED), st.get(w::PUT), st.get(w::DROPPED_NEWEST)), (7, 3, 4));

    // With a hole left at the stop: counted, and what waits behind it goes on.
    sh.stop.store(false, Ordering::Relaxed);
    sh.inner.lock().unwrap().flushed = false;
    sample(1, 5).join().unwrap();
    sh.stop.store(true, Ordering::Relaxed);
    assert!(sh.keep().is_ok());
    assert_eq!(q.try_get_bytes().unwrap(), [15]);
    assert_eq!((st.get(w::GAPS), st.get(w::PUT)), (1, 4));
    // After the hand-on: dropped, counted; after the stop is seen first: not received.
    sh.stop.store(false, Ordering::Relaxed);
    sample(1, 6).join().unwrap();
    assert_eq!((st.get(w::RECEIVED), st.get(w::DROPPED_NEWEST)), (9, 5));
    sh.stop.store(true, Ordering::Relaxed);
    sample(1, 7).join().unwrap();
    assert_eq!(st.get(w::RECEIVED), 9);
}

/// When the subscription ends first (its session closed), what waits behind holes is
/// handed on the same way.
#[test]
fn the_end_of_the_subscription_hands_on_what_waits() {
    let q = shmkit_mq::MessageQueue::anonymous(8).unwrap();
    let sh = Shared::new(q.try_clone().unwrap(), Arc::new(state()), Backpressure::Block);
    sh.on_sample(&[0], Some(&stamp(1, 0, None)));
    sh.on_sample(&[2], Some(&stamp(1, 2, None)));
    sh.done.store(true, Ordering::Release);
    assert!(sh.keep().is_ok());
    let got: Vec<Vec<u8>> = std::iter::from_fn(|| q.try_get_bytes().ok()).collect();
    assert_eq!(got, [vec![0], vec![2]]);
    assert_eq!((sh.st.get(w::GAPS), sh.st.get(w::PUT)), (1, 2));
}

/// A late sample is told from a repeat by the numbers given up, kept as up to 256 ranges
/// per source: below the oldest kept, a sample is delivered late and counts nothing.
#[test]
fn a_repeat_is_dropped_and_only_the_newest_given_up_ranges_are_kept() {
    let st = state();
    let mut o = Order::first(0xA, 0, None, None, &st);
    let mut ready = Vec::new();
    // 300 holes of one number each: 0, 2, 4, ...
    for k in 0..300u64 {
        o.offer(2 * k + 1, Message::bytes(vec![1]), &st, &mut ready);
        o.skip_hole(&st, &mut ready);
    }
    assert_eq!((ready.len(), st.get(w::GAPS)), (300, 300));
    let mut late = Vec::new();
    // Number 88 is in a range kept: late, taken out of the gaps once put; then a repeat.
    o.offer(88, Message::bytes(vec![88]), &st, &mut late);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].late, Some(false));
    o.offer(88, Message::bytes(vec![88]), &st, &mut late);
    o.offer(89, Message::bytes(vec![89]), &st, &mut late);
    assert_eq!((late.len(), st.get(w::DROPPED_NEWEST)), (1, 2), "88 again and 89 were delivered already");
    // Number 0's range was forgotten (the oldest 44): delivered late, uncounted, each time.
    o.offer(0, Message::bytes(vec![0]), &st, &mut late);
    o.offer(0, Message::bytes(vec![0]), &st, &mut late);
    assert_eq!(late.len(), 3);
    assert!(late[1..].iter().all(|r| r.late.is_none()));
    assert_eq!(st.get(w::OUT_OF_ORDER), 5);
}
