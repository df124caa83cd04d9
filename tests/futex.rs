//! Futex waits and event counts across real processes: deadlines under a signal storm,
//! wake-ups that cross the process boundary.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{fork, under_signal_storm, Shared, LIMIT};
use shmkit::{futex, Deadline, EventCount, WaitStrategy};

#[test]
fn futex_wait_under_signal_storm_returns_at_its_deadline() {
    let word = Shared::new();
    under_signal_storm(Duration::from_millis(200), |deadline| {
        !futex::wait_while(word.word32(0), 0, deadline)
    });
}

#[test]
fn event_count_wait_under_signal_storm_returns_at_its_deadline() {
    let ec = EventCount::new();
    for strategy in [WaitStrategy::Park, WaitStrategy::default(), WaitStrategy::Spin] {
        under_signal_storm(Duration::from_millis(200), |deadline| {
            ec.wait_until(strategy, deadline, || None::<()>).is_none()
        });
    }
}

#[test]
fn notify_wakes_a_parked_waiter_in_another_process() {
    let shared = Shared::new();
    // SAFETY: words 8..16 of the shared page are free, 8-aligned, zeroed: a valid,
    // empty EventCount (two atomics), mapped while `shared` lives.
    let ec = unsafe { &*(shared.word(8) as *const AtomicU64).cast::<EventCount>() };
    let flag = shared.word(9);
    let child = fork(|| {
        let got = ec.wait_until(WaitStrategy::Park, Deadline::after(LIMIT), || {
            let v = flag.load(Ordering::Acquire);
            (v != 0).then_some(v)
        });
        if got == Some(77) {
            0
        } else {
            2
        }
    });
    // Wait until the child is parked, so the wake must cross processes.
    let deadline = Instant::now() + LIMIT;
    while ec.waiters() == 0 {
        assert!(Instant::now() < deadline, "watchdog: the child never parked");
        std::thread::sleep(Duration::from_millis(1));
    }
    flag.store(77, Ordering::Release);
    assert!(ec.notify_all(), "a parked waiter must be seen");
    child.join_ok(LIMIT);
    assert_eq!(ec.waiters(), 0);
}

/// Ten million items (two million in a debug build; `.ci/run` runs it in release) through
/// an event count whose notifier skips its fence (see `shmkit_core::asym`), twice: kept
/// asymmetric, and switching modes as the waiter parks often and the notifier finds it
/// idle. The consumer parks whenever it catches up, with no re-check of its own, and the
/// producer, after each burst, waits for the consumer to acknowledge the burst's last
/// item. Each burst ends in a race between the last notify and a consumer about to sleep.
/// A lost wake-up leaves the consumer asleep until its sleep times out by itself
/// (`RECHECK_INTERVAL`) and finds the epoch moved: the consumer counts those, and the
/// test fails on any.
#[test]
fn no_wake_up_is_lost_in_ten_million_items_with_a_consumer_that_parks_often() {
    // First with the event count kept asymmetric (every park pays the waiter's barrier,
    // every notify skips its fence), then switching modes as it does by itself.
    for stay in [true, false] {
        shmkit_core::asym::stay_asymmetric(stay);
        ten_million_items(stay);
    }
    shmkit_core::asym::stay_asymmetric(false);
}

fn ten_million_items(stay_asymmetric: bool) {
    const ITEMS: u64 = if cfg!(debug_assertions) { 2_000_000 } else { 10_000_000 };
    const BURST: u64 = 1024;
    let shared = Shared::new();
    // SAFETY: word 8 of the shared page (bytes 64..72) is free, 8-aligned, zeroed: a valid,
    // empty EventCount (two atomics), mapped while `shared` lives.
    let ec = unsafe { &*(shared.word(8) as *const AtomicU64).cast::<EventCount>() };
    let (seq, ack, parks, switches) = (shared.word(9), shared.word(10), shared.word(11), shared.word(12));
    let missed = shared.word(13);
    let consumer = fork(|| {
        // Switches made by this process before the fork (another test's parks) are not ours.
        let before = shmkit_core::asym::switches();
        let mut seen = 0;
        while seen < ITEMS {
            let now = seq.load(Ordering::Acquire);
            if now != seen {
                if now < seen || now > seen + BURST {
                    return 2; // an item out of order, or skipped
                }
                seen = now;
                ack.store(seen, Ordering::Release);
                continue;
            }
            let key = ec.prepare_wait();
            if seq.load(Ordering::Acquire) != seen {
                ec.cancel_wait(key);
            } else {
                parks.fetch_add(1, Ordering::Relaxed);
                ec.wait(key, Deadline::never());
            }
        }
        switches.store(shmkit_core::asym::switches() - before, Ordering::Relaxed);
        missed.store(EventCount::missed_wakeups(), Ordering::Relaxed);
        0
    });
    let mut rng = common::Rng::new();
    let start = Instant::now();
    for i in 1..=ITEMS {
        seq.store(i, Ordering::Release);
        ec.notify_all();
        if i % 64 == 0 && rng.next() % 4 == 0 {
            // A pause of a few hundred ns now and then, so the consumer parks mid-burst too.
            for _ in 0..rng.range(0, 400) {
                std::hint::spin_loop();
            }
        }
        if i % BURST == 0 {
            while ack.load(Ordering::Acquire) < i {
                assert!(start.elapsed() < Duration::from_secs(300), "watchdog: item {i} never acknowledged");
                std::hint::spin_loop();
            }
        }
    }
    consumer.join_ok(LIMIT);
    let parks = parks.load(Ordering::Relaxed);
    let fence_free = shmkit_core::asym::fence_free();
    eprintln!(
        "{ITEMS} items, the consumer parked {parks} times, in {:?} (fence-free notify: {fence_free}; kept asymmetric: {stay_asymmetric})",
        start.elapsed()
    );
    assert!(parks > ITEMS / BURST / 10, "the consumer parked too seldom to test anything: {parks}");
    // A sleep ends on its own after a while (`RECHECK_INTERVAL`): a lost wake-up shows as
    // one that ended so and found the epoch moved.
    assert_eq!(missed.load(Ordering::Relaxed), 0, "sleeps that missed their wake-up");
    // Kept asymmetric, no switch; left to itself, a consumer parking this often switches.
    let switches = switches.load(Ordering::Relaxed);
    // (Where the kernel refuses membarrier, no switch is ever made.)
    assert_eq!(switches > 0, !stay_asymmetric && fence_free, "{switches} switches to symmetric mode");
}
