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
