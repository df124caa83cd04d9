//! Futex waits and event counts across real processes: deadlines under a signal storm,
//! wake-ups that cross the process boundary.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{fork, Exit, Shared, LIMIT};
use shmkit::{futex, Deadline, EventCount, WaitStrategy};

static SIGNALS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

/// Installs a SIGUSR1 handler without SA_RESTART, so every signal interrupts the futex.
fn install_handler() {
    // SAFETY: all-zero is a valid sigaction; the handler is async-signal-safe (one atomic).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

/// Runs `wait` in a child bombarded with signals; the child exits 0 if `wait` returned
/// at or after `timeout` and signals really arrived during it.
fn under_signal_storm(timeout: Duration, wait: impl Fn(Deadline) -> bool) {
    let shared = Shared::new();
    let mut child = fork(|| {
        install_handler();
        shared.signal(0, 1);
        let start = Instant::now();
        let timed_out = wait(Deadline::after(timeout));
        let elapsed = start.elapsed();
        let signals = SIGNALS.load(Ordering::Relaxed);
        shared.word(1).store(elapsed.as_nanos() as u64, Ordering::Relaxed);
        shared.word(2).store(signals, Ordering::Relaxed);
        match (timed_out, elapsed >= timeout, signals > 10) {
            (true, true, true) => 0,
            (false, _, _) => 2,
            (_, false, _) => 3,
            (_, _, false) => 4,
        }
    });
    shared.await_value(0, 1, LIMIT);
    let start = Instant::now();
    let exit = loop {
        child.signal(libc::SIGUSR1);
        std::thread::sleep(Duration::from_micros(200));
        if let Some(exit) = child.try_wait() {
            break exit;
        }
        assert!(start.elapsed() < LIMIT, "watchdog: the wait never returned");
    };
    let elapsed = Duration::from_nanos(shared.word(1).load(Ordering::Relaxed));
    let signals = shared.word(2).load(Ordering::Relaxed);
    assert_eq!(exit, Exit::Code(0), "waited {elapsed:?} for {timeout:?} with {signals} signals");
}

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
