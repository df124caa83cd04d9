//! Queue, JoinableQueue and the SPSC pair across real processes: every item exactly once
//! under stress, and the three crash cases (a producer killed between claiming and
//! publishing, a consumer killed mid-read, a blocked get whose producer dies).

mod common;

use std::time::{Duration, Instant};

use common::{fork, watchdog, NameGuard, Shared, LIMIT};
use shmkit::{
    spsc, CreateError, GetError, GetTimeoutError, JoinableQueue, OpenError, PutError, PutTimeoutError, Queue,
    QueueOptions, TryGetError, TryPutError, WaitStrategy,
};

/// A checksum that a lost, duplicated or invented item changes.
fn mix(v: u64) -> u64 {
    (v ^ (v >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

#[test]
fn queue_by_name_is_fifo_across_processes() {
    let g = NameGuard::new("q-fifo");
    let q = Queue::<u64>::create(g.name(), 10).unwrap();
    assert_eq!(q.capacity(), 10);
    let name = g.name().to_string();
    let child = fork(move || {
        let q = Queue::<u64>::open(&name).unwrap();
        for i in 0..1000 {
            q.put(i).unwrap();
        }
        0
    });
    for i in 0..1000 {
        assert_eq!(q.get_timeout(LIMIT).unwrap(), i);
    }
    child.join_ok(LIMIT);
    assert!(matches!(q.try_get(), Err(TryGetError::Empty)));
}

/// Elements of a cache line or more have the wide slot layout: every byte of each 1 KiB
/// value crosses intact and in order, laps after laps of a small ring, with a producer and
/// a consumer in different processes, and a handle opened by name agrees on the layout.
#[test]
fn wide_elements_cross_processes_intact() {
    const N: u64 = 20_000;
    let g = NameGuard::new("q-wide");
    let q = Queue::<[u64; 128]>::create(g.name(), 8).unwrap();
    let name = g.name().to_string();
    let child = fork(move || {
        let q = Queue::<[u64; 128]>::open(&name).unwrap();
        for i in 0..N {
            let v: [u64; 128] = std::array::from_fn(|k| mix(i * 128 + k as u64));
            q.put(v).unwrap();
        }
        0
    });
    watchdog(LIMIT, move || {
        for i in 0..N {
            let v = q.get_timeout(LIMIT).unwrap();
            assert!(v.iter().enumerate().all(|(k, &x)| x == mix(i * 128 + k as u64)), "item {i} garbled");
        }
    });
    child.join_ok(LIMIT);
}

#[test]
fn full_empty_close_and_bad_input_are_errors() {
    let q = Queue::<u32>::anonymous(2).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert!(q.is_full());
    assert_eq!(q.try_put(3), Err(TryPutError::Full(3)));
    let start = Instant::now();
    assert_eq!(q.put_timeout(3, Duration::from_millis(50)), Err(PutTimeoutError::Timeout(3)));
    assert!(start.elapsed() >= Duration::from_millis(50));
    q.close();
    assert_eq!(q.put(4), Err(PutError::Disconnected(4)));
    assert_eq!(q.get().unwrap(), 1);
    assert_eq!(q.get().unwrap(), 2);
    assert_eq!(q.get(), Err(GetError::Disconnected));
    assert_eq!(q.try_get(), Err(TryGetError::Disconnected));

    let empty = Queue::<u32>::anonymous(4).unwrap();
    let start = Instant::now();
    assert_eq!(empty.get_timeout(Duration::from_millis(50)), Err(GetTimeoutError::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(50));

    assert!(matches!(Queue::<u32>::anonymous(0), Err(CreateError::InvalidSize { .. })));
    assert!(matches!(spsc::channel::<u32>(0), Err(CreateError::InvalidSize { .. })));
    let g = NameGuard::new("q-types");
    let _q = Queue::<u64>::create(g.name(), 4).unwrap();
    assert!(matches!(Queue::<u32>::open(g.name()), Err(OpenError::TypeMismatch { .. })));
    assert!(matches!(JoinableQueue::<u64>::open(g.name()), Err(OpenError::KindMismatch { .. })));
    assert!(matches!(spsc::Consumer::<u64>::open(g.name()), Err(OpenError::KindMismatch { .. })));
    assert!(matches!(Queue::<u64>::open("no-such-queue-here"), Err(OpenError::NotFound { .. })));
}

#[test]
fn in_place_and_batch_forms() {
    let q = Queue::<[u64; 512]>::anonymous(4).unwrap();
    q.put_with(|slot| slot.iter_mut().enumerate().for_each(|(i, x)| *x = i as u64)).unwrap();
    let sum = q.get_with(|v| v.iter().sum::<u64>()).unwrap();
    assert_eq!(sum, (0..512).sum::<u64>());

    let q = Queue::<u32>::anonymous(8).unwrap();
    assert_eq!(q.try_put_slice(&(0..10).collect::<Vec<_>>()).unwrap(), 8);
    let mut out = [0; 5];
    assert_eq!(q.try_get_slice(&mut out).unwrap(), 5);
    assert_eq!(out, [0, 1, 2, 3, 4]);
    assert_eq!(q.get_slice(&mut out).unwrap(), 3);
    assert_eq!(out[..3], [5, 6, 7]);
    assert_eq!(q.try_get_slice(&mut out), Err(TryGetError::Empty));
}

/// 2 producers × 2 consumers × a million items each, blocking calls, a small ring: every
/// item arrives exactly once, each producer's items in order.
#[test]
fn queue_stress_two_by_two_every_item_exactly_once() {
    const PER: u64 = 1_000_000;
    let q = Queue::<u64>::anonymous(64).unwrap();
    let shared = Shared::new();
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let (q, shared) = (&q, &shared);
            fork(move || {
                q.declare_producer();
                shared.word(10 + p as usize).store(1, std::sync::atomic::Ordering::Release);
                shared.await_value(0, 1, LIMIT);
                for i in 0..PER {
                    q.put(p << 32 | i).unwrap();
                }
                0
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2usize)
        .map(|c| {
            let (q, shared) = (&q, &shared);
            fork(move || {
                let mut last = [None::<u64>; 2];
                let (mut count, mut sum) = (0u64, 0u64);
                while let Ok(v) = q.get() {
                    let (p, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                    if p > 1 || last[p].is_some_and(|l| l >= i) {
                        return 3; // out of order or invented
                    }
                    last[p] = Some(i);
                    count += 1;
                    sum = sum.wrapping_add(mix(v));
                }
                shared.word(2 + 2 * c).store(count, std::sync::atomic::Ordering::Release);
                shared.word(3 + 2 * c).store(sum, std::sync::atomic::Ordering::Release);
                0
            })
        })
        .collect();
    // Both producers have declared themselves before any puts, so no consumer can see
    // "every producer gone" before the last item.
    let start = Instant::now();
    while (10..12).any(|i| shared.word(i).load(std::sync::atomic::Ordering::Acquire) == 0) {
        assert!(start.elapsed() < LIMIT, "producers did not start");
        std::thread::sleep(Duration::from_millis(1));
    }
    shared.signal(0, 1);
    for p in producers {
        p.join_ok(LIMIT * 6);
    }
    for c in consumers {
        c.join_ok(LIMIT * 6);
    }
    let w = |i| shared.word(i).load(std::sync::atomic::Ordering::Acquire);
    let expected: u64 =
        (0..2u64).flat_map(|p| (0..PER).map(move |i| mix(p << 32 | i))).fold(0, u64::wrapping_add);
    assert_eq!(w(2) + w(4), 2 * PER, "every item exactly once");
    assert_eq!(w(3).wrapping_add(w(5)), expected, "checksum");
}

/// SIGKILL between claiming a slot and publishing it: consumers skip the hole once the
/// claimant is dead, get every other item, and never see the half-written one.
#[test]
fn queue_producer_killed_between_claim_and_publish() {
    let q = Queue::<u64>::anonymous(8).unwrap();
    let shared = Shared::new();
    let victim = fork(|| {
        q.put(1).unwrap();
        q.put_with(|slot| {
            *slot = 999;
            shared.signal(0, 1);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .unwrap();
        0
    });
    shared.await_value(0, 1, LIMIT);
    let other = fork(|| {
        q.put(2).unwrap();
        q.put(3).unwrap();
        0
    });
    other.join_ok(LIMIT);
    assert_eq!(q.get_timeout(LIMIT).unwrap(), 1);
    // The claimant is alive: its slot is waited for, not skipped.
    assert_eq!(q.get_timeout(Duration::from_millis(50)), Err(GetTimeoutError::Timeout));
    victim.kill();
    drop(victim);
    let got = watchdog(LIMIT, move || {
        let got = (q.get_timeout(LIMIT).unwrap(), q.get_timeout(LIMIT).unwrap());
        (got, q.repairs(), q.try_get())
    });
    assert_eq!(got.0, (2, 3));
    assert_eq!(got.1, shmkit::Repairs { holes: 1, reclaimed: 0 }, "one hole skipped");
    assert_eq!(got.2, Err(TryGetError::Empty));
}

/// SIGKILL while reading: the slot comes back to producers once the death is seen.
#[test]
fn queue_consumer_killed_mid_read_gives_its_slot_back() {
    let q = Queue::<u64>::anonymous(2).unwrap();
    q.put(10).unwrap();
    q.put(11).unwrap();
    let shared = Shared::new();
    let victim = fork(|| {
        q.get_with(|_| {
            shared.signal(0, 1);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .unwrap();
        0
    });
    shared.await_value(0, 1, LIMIT);
    // The reader is alive: its slot stays taken.
    assert_eq!(q.try_put(12), Err(TryPutError::Full(12)));
    victim.kill();
    drop(victim);
    let r = watchdog(LIMIT, move || {
        q.put_timeout(12, LIMIT).unwrap();
        (q.get().unwrap(), q.get().unwrap(), q.repairs())
    });
    assert_eq!(r, (11, 12, shmkit::Repairs { holes: 0, reclaimed: 1 }));
}

/// A get blocked on an empty queue whose only producer dies returns `Disconnected`.
#[test]
fn queue_blocked_get_sees_its_producer_die() {
    let q = Queue::<u64>::anonymous(4).unwrap();
    let shared = Shared::new();
    let producer = fork(|| {
        q.put(7).unwrap();
        shared.signal(0, 1);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    let pid = producer.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: plain system call; `producer` below keeps the pid unreaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let r = watchdog(LIMIT, move || (q.get().unwrap(), q.get()));
    assert_eq!(r, (7, Err(GetError::Disconnected)));
    killer.join().unwrap();
    drop(producer);
}

/// With `report_no_consumers`, a put blocked on a full queue whose consumer died returns
/// `Disconnected`; without it, it waits (here: times out).
#[test]
fn queue_blocked_put_sees_its_consumer_die_when_asked_to() {
    for report in [true, false] {
        let q = Queue::<u64>::anonymous_with(1, &QueueOptions::new().report_no_consumers(report)).unwrap();
        let consumer = fork(|| {
            q.declare_consumer();
            0
        });
        consumer.join_ok(LIMIT);
        q.put_slice(&[1, 2]).unwrap();
        let r = watchdog(LIMIT, move || q.put_timeout(3, Duration::from_millis(300)));
        if report {
            assert_eq!(r, Err(PutTimeoutError::Disconnected(3)));
        } else {
            assert_eq!(r, Err(PutTimeoutError::Timeout(3)));
        }
    }
}

#[test]
fn queue_clones_serve_threads() {
    let q = Queue::<u64>::anonymous(16).unwrap();
    let handles: Vec<_> = (0..2u64)
        .map(|t| {
            let q = q.try_clone().unwrap();
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    q.put(t << 32 | i).unwrap();
                }
            })
        })
        .collect();
    let mut sum = 0u64;
    for _ in 0..20_000 {
        sum = sum.wrapping_add(mix(q.get_timeout(LIMIT).unwrap()));
    }
    for h in handles {
        h.join().unwrap();
    }
    let expected =
        (0..2u64).flat_map(|t| (0..10_000).map(move |i| mix(t << 32 | i))).fold(0, u64::wrapping_add);
    assert_eq!(sum, expected);
}

#[test]
fn joinable_queue_join_waits_for_task_done_in_another_process() {
    let q = JoinableQueue::<u32>::anonymous(8).unwrap();
    for i in 0..5 {
        q.put(i).unwrap();
    }
    assert_eq!(q.unfinished(), 5);
    let start = Instant::now();
    assert!(q.join_timeout(Duration::from_millis(30)).is_err());
    assert!(start.elapsed() >= Duration::from_millis(30));
    let worker = fork(|| {
        for _ in 0..5 {
            q.get().unwrap();
            std::thread::sleep(Duration::from_millis(5));
            q.task_done().unwrap();
        }
        i32::from(q.task_done().is_ok())
    });
    watchdog(LIMIT, {
        let q = q.try_clone().unwrap();
        move || q.join()
    });
    assert_eq!(q.unfinished(), 0);
    worker.join_ok(LIMIT);
}

/// One producer, one consumer, five million items through a small ring.
#[test]
fn spsc_stress_every_item_in_order() {
    const N: u64 = 5_000_000;
    let (tx, rx) = spsc::channel::<u64>(256).unwrap();
    let producer = fork(move || {
        let mut batch = [0u64; 32];
        let mut i = 0;
        while i < N {
            if i % 3 == 0 {
                tx.put(i).unwrap();
                i += 1;
            } else {
                let n = (N - i).min(32) as usize;
                for (k, b) in batch[..n].iter_mut().enumerate() {
                    *b = i + k as u64;
                }
                tx.put_slice(&batch[..n]).unwrap();
                i += n as u64;
            }
        }
        0
    });
    let r = watchdog(LIMIT * 6, move || {
        let mut next = 0u64;
        let mut buf = [0u64; 64];
        loop {
            match rx.get_slice(&mut buf) {
                Ok(n) => {
                    for &v in &buf[..n] {
                        if v != next {
                            return Err(format!("expected {next}, got {v}"));
                        }
                        next += 1;
                    }
                }
                Err(GetError::Disconnected) => return Ok(next),
                Err(e) => return Err(e.to_string()),
            }
        }
    });
    assert_eq!(r, Ok(N));
    producer.join_ok(LIMIT);
}

/// Each end has one holder; a dead holder's end can be taken over, and the consumer of a
/// dead producer drains and then sees `Disconnected`.
#[test]
fn spsc_ends_are_exclusive_and_survive_a_dead_producer() {
    let g = NameGuard::new("spsc-ends");
    let rx = spsc::Consumer::<u64>::create(g.name(), 8).unwrap();
    assert!(matches!(
        spsc::Consumer::<u64>::open(g.name()),
        Err(OpenError::EndTaken { end: "consumer", .. })
    ));
    let name = g.name().to_string();
    let shared = Shared::new();
    let producer = fork(|| {
        let tx = spsc::Producer::<u64>::open(&name).unwrap();
        tx.put(1).unwrap();
        tx.put(2).unwrap();
        shared.signal(0, 1);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    assert!(matches!(
        spsc::Producer::<u64>::open(g.name()),
        Err(OpenError::EndTaken { end: "producer", .. })
    ));
    producer.kill();
    drop(producer);
    let r = watchdog(LIMIT, move || (rx.get(), rx.get(), rx.get(), rx));
    assert_eq!((r.0, r.1, r.2), (Ok(1), Ok(2), Err(GetError::Disconnected)));
    // A new producer takes the dead one's end and carries on.
    let tx = spsc::Producer::<u64>::open(g.name()).unwrap();
    tx.put(3).unwrap();
    assert_eq!(r.3.get_timeout(LIMIT), Ok(3));
}

/// An anonymous pair's producer end used first in a forked child, then (the child gone)
/// in the parent that made it: the parent takes the end over from where the child left
/// the ring, so nothing is overwritten and the consumer reads every item in order.
#[test]
fn spsc_end_used_by_a_child_then_by_its_parent_carries_on_from_the_child() {
    let (tx, rx) = spsc::channel::<u64>(8).unwrap();
    let child = fork(|| {
        for i in 1..=3 {
            tx.put(i).unwrap();
        }
        0
    });
    child.join_ok(LIMIT);
    tx.put(4).unwrap();
    let got = watchdog(LIMIT, move || (1..=4).map(|_| rx.get_timeout(LIMIT)).collect::<Vec<_>>());
    assert_eq!(got, vec![Ok(1), Ok(2), Ok(3), Ok(4)]);
}

#[test]
fn spsc_parked_consumer_is_woken_by_a_put_in_another_process() {
    let (tx, mut rx) = spsc::channel::<u64>(4).unwrap();
    rx.set_wait_strategy(WaitStrategy::Park);
    let producer = fork(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.put(5).unwrap();
        0
    });
    let start = Instant::now();
    assert_eq!(watchdog(LIMIT, move || rx.get()), Ok(5));
    assert!(start.elapsed() >= Duration::from_millis(40));
    producer.join_ok(LIMIT);
}

/// A forked child that finds every participant slot taken gets `NoSlot`, with its value.
#[test]
fn queue_without_a_free_slot_says_so() {
    let q = Queue::<u64>::anonymous_with(4, &QueueOptions::new().participants(1)).unwrap();
    let child = fork(|| match q.try_put(5) {
        Err(TryPutError::NoSlot(5)) => 0,
        _ => 1,
    });
    child.join_ok(LIMIT);
    assert!(q.is_empty());
}

/// An object of the queue's kind and type whose layout this code would never make is
/// refused as corrupt, not trusted.
#[test]
fn queue_with_a_foreign_layout_is_corrupt() {
    use shmkit::{CreateOptions, Kind, Object, Spec, TypeDesc};
    let g = NameGuard::new("q-corrupt");
    let spec = Spec::new(Kind::Queue, 4096).elem(TypeDesc::of::<u64>(), 3);
    let _obj = Object::create(g.name(), &spec, &CreateOptions::new(), |_, _| {}).unwrap();
    assert!(matches!(Queue::<u64>::open(g.name()), Err(OpenError::Corrupt { .. })));
}

#[test]
fn joinable_join_has_its_four_forms() {
    let q = JoinableQueue::<u32>::anonymous(4).unwrap();
    q.put(1).unwrap();
    assert!(q.try_join().is_err());
    let t = Duration::from_millis(20);
    let started = std::time::Instant::now();
    assert!(q.join_timeout(t).is_err());
    assert!(started.elapsed() >= t);
    let worker = q.try_clone().unwrap();
    let child = fork(move || {
        let job = worker.get().unwrap();
        worker.task_done().map_or(1, |()| i32::from(job != 1))
    });
    // Another process marks the item done: the parent's join returns.
    assert!(q.join_deadline(shmkit::Deadline::after(LIMIT)).is_ok());
    child.join_ok(LIMIT);
    assert!(q.try_join().is_ok());
    q.join();
}

#[test]
fn producers_killed_mid_put_leave_a_joinable_queue_that_joins() {
    // Producers put as fast as they can and are SIGKILLed at random moments, some between
    // claiming a slot and publishing it; a consumer gets and marks done everything that
    // arrives. Once they are all gone, join must return: a killed producer's half-put
    // must not stay counted as unfinished (it used to, after a few dozen kills).
    // Room for everything, so that producers are killed while putting, not while waiting.
    let q = JoinableQueue::<u64>::anonymous(1 << 20).unwrap();
    let shared = common::Shared::new();
    let shared = &shared;
    let consumer = {
        let q = q.try_clone().unwrap();
        fork(move || loop {
            match q.get_timeout(Duration::from_millis(20)) {
                Ok(_) => {
                    if q.task_done().is_err() {
                        return 1;
                    }
                }
                Err(_)
                    if shared.word32(0).load(std::sync::atomic::Ordering::Acquire) == 1 && q.is_empty() =>
                {
                    return 0
                }
                Err(_) => {}
            }
        })
    };
    let mut x =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    for i in 0..300u64 {
        let producer = {
            let q = q.try_clone().unwrap();
            fork(move || loop {
                if q.put(i).is_err() {
                    return 1;
                }
            })
        };
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        std::thread::sleep(Duration::from_micros(x % 1500));
        producer.kill();
        let _ = producer.wait(LIMIT);
    }
    shared.signal(0, 1);
    consumer.join_ok(LIMIT);
    assert!(q.join_timeout(LIMIT).is_ok(), "unfinished: {}", q.unfinished());
    assert_eq!(q.unfinished(), 0);
}

#[test]
fn elements_of_size_zero_are_refused_at_creation() {
    // An opener's header check refuses them, so the creator must too, saying why.
    let err = Queue::<()>::anonymous(4).unwrap_err();
    assert!(matches!(err, CreateError::InvalidSize { size: 0, .. }), "{err}");
    assert!(spsc::channel::<()>(4).is_err());
}

#[test]
fn an_spsc_producer_that_dies_before_touching_its_end_is_gone() {
    let (tx, rx) = spsc::channel::<u64>(64).unwrap();
    let child = fork(move || {
        let _tx = tx;
        0
    });
    child.join_ok(LIMIT);
    let got = watchdog(LIMIT, move || rx.get());
    assert!(got.is_err(), "the producer is gone: {got:?}");
}

#[test]
fn a_queue_made_for_ten_holds_ten_even_with_producers_racing() {
    // Python's Queue(10). The ring has 16 slots; the limit holds however many producers
    // race for the last places (each checks its claimed position against the head).
    let q = Queue::<u64>::anonymous(10).unwrap();
    assert_eq!(q.capacity(), 10);
    for i in 0..10 {
        q.try_put(i).unwrap();
    }
    assert!(q.is_full());
    assert!(q.try_put(10).is_err(), "an eleventh item");
    assert_eq!(q.get().unwrap(), 0);
    q.try_put(10).unwrap();
    while q.try_get().is_ok() {}
    // Four processes put as fast as they can while nobody gets: at most ten go in.
    let children: Vec<_> = (0..4)
        .map(|_| {
            let q = q.try_clone().unwrap();
            fork(move || {
                for i in 0..100 {
                    let _ = q.try_put(i);
                }
                0
            })
        })
        .collect();
    for c in children {
        c.join_ok(LIMIT);
    }
    assert_eq!(q.len(), 10, "exactly ten held");
    // The limit is the creator's: an opener of a named queue made for 10 sees 10 too.
    let g = NameGuard::new("q-ten");
    let _made = Queue::<u64>::create(g.name(), 10).unwrap();
    assert_eq!(Queue::<u64>::open(g.name()).unwrap().capacity(), 10);
}
