//! The event count's tests in one process: system calls counted, wake-ups checked.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::*;
use crate::futex::tests::wake_syscalls;

#[test]
fn notify_without_waiters_makes_no_syscall() {
    let ec = EventCount::new();
    let before = wake_syscalls();
    for _ in 0..1000 {
        assert!(!ec.notify_all());
        assert!(!ec.notify_one());
    }
    assert_eq!(wake_syscalls(), before);
}

#[test]
fn notify_with_a_parked_waiter_makes_a_syscall_and_wakes_it() {
    let ec = Arc::new(EventCount::new());
    let flag = Arc::new(AtomicBool::new(false));
    let (ec2, flag2) = (ec.clone(), flag.clone());
    let waiter = std::thread::spawn(move || sleep_until(&ec2, &flag2));
    until_one_sleeps(&ec);
    let before = wake_syscalls();
    flag.store(true, Ordering::Release);
    assert!(ec.notify_all());
    assert_eq!(wake_syscalls(), before + 1);
    assert!(waiter.join().unwrap(), "woken, not timed out");
    assert_eq!(ec.waiters(), 0);
}

/// Waits for `flag` with the bare protocol, which re-checks no condition on its own;
/// `true` if it was woken every time it slept, `false` if a sleep ended on a time-out
/// that found the epoch moved (a lost wake-up), or on the 30 s deadline.
fn sleep_until(ec: &EventCount, flag: &AtomicBool) -> bool {
    let missed = EventCount::missed_wakeups();
    loop {
        let key = ec.prepare_wait();
        if flag.load(Ordering::Acquire) {
            ec.cancel_wait(key);
            return EventCount::missed_wakeups() == missed;
        }
        if !ec.wait(key, Deadline::after(Duration::from_secs(30))) {
            return false;
        }
    }
}

/// Until a counted waiter has set the `SLEEPING` bit (the bit alone may be left by
/// one gone).
fn until_one_sleeps(ec: &EventCount) {
    while ec.waiters.load(Ordering::SeqCst) & crate::asym::SLEEPING == 0 || ec.waiters() == 0 {
        std::thread::yield_now();
    }
}

#[test]
fn a_woken_waiter_costs_later_notifies_no_syscall_until_one_sleeps_again() {
    let ec = Arc::new(EventCount::new());
    // Its first flag, when it may sleep again, its second flag.
    let flags = Arc::new([AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)]);
    let (ec2, flags2) = (ec.clone(), flags.clone());
    let sleeper = std::thread::spawn(move || {
        let first = sleep_until(&ec2, &flags2[0]);
        while !flags2[1].load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        first && sleep_until(&ec2, &flags2[2])
    });
    until_one_sleeps(&ec);
    // A waiter counted but not asleep (as a woken one is until it runs), all along.
    let held = ec.prepare_wait();
    let before = wake_syscalls();
    flags[0].store(true, Ordering::Release);
    for _ in 0..1000 {
        assert!(ec.notify_all());
    }
    assert_eq!(wake_syscalls(), before + 1, "one wake-up for the one sleep");
    // It sleeps again, on its second flag: the next notify wakes it.
    flags[1].store(true, Ordering::Release);
    until_one_sleeps(&ec);
    flags[2].store(true, Ordering::Release);
    assert!(ec.notify_all());
    assert_eq!(wake_syscalls(), before + 2);
    assert!(sleeper.join().unwrap(), "woken, not timed out");
    ec.cancel_wait(held);
    assert_eq!(ec.waiters(), 0);
}

#[test]
fn notify_one_twice_wakes_each_of_two_sleepers() {
    let ec = Arc::new(EventCount::new());
    let tokens = Arc::new(AtomicU32::new(0));
    let (done_tx, done) = std::sync::mpsc::channel();
    for _ in 0..2 {
        let (ec, tokens, done_tx) = (ec.clone(), tokens.clone(), done_tx.clone());
        // The bare protocol: only a notify, or a sleep's periodic time-out (counted as a
        // missed wake-up when the epoch moved), wakes a sleeper.
        std::thread::spawn(move || loop {
            let key = ec.prepare_wait();
            if tokens.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(1)).is_ok() {
                ec.cancel_wait(key);
                let _ = done_tx.send(EventCount::missed_wakeups());
                return;
            }
            ec.wait(key, Deadline::never());
        });
    }
    while ec.waiters() < 2 || ec.waiters.load(Ordering::SeqCst) & crate::asym::SLEEPING == 0 {
        std::thread::yield_now();
    }
    // Both in the kernel, most likely.
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..2 {
        tokens.fetch_add(1, Ordering::Release);
        ec.notify_one();
    }
    for _ in 0..2 {
        let missed = done.recv_timeout(Duration::from_secs(20)).expect("watchdog: a sleeper never returned");
        assert_eq!(missed, 0, "a sleeper was not woken, and found the epoch moved on its time-out");
    }
}

#[test]
fn wait_until_times_out_no_earlier_than_the_deadline() {
    let ec = EventCount::new();
    for strategy in [WaitStrategy::Spin, WaitStrategy::default(), WaitStrategy::Park] {
        let start = std::time::Instant::now();
        let r: Option<()> = ec.wait_until(strategy, Deadline::after(Duration::from_millis(30)), || None);
        assert_eq!(r, None);
        assert!(start.elapsed() >= Duration::from_millis(30), "{strategy:?}");
    }
    assert_eq!(ec.waiters(), 0);
}

#[test]
fn zeroed_memory_is_a_valid_event_count() {
    let words = [std::sync::atomic::AtomicU64::new(0)];
    // SAFETY: 8 zero bytes, 8-aligned, interior-mutable; `EventCount` is two
    // `AtomicU32`s here, valid for any bit pattern.
    let ec = unsafe { &*words.as_ptr().cast::<EventCount>() };
    assert_eq!(ec.waiters(), 0);
    assert!(!ec.notify_all());
}
