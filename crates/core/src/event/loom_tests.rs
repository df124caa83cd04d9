//! The event count's loom models (with the futex modelled in `sim`).

use loom::sync::atomic::AtomicBool;
use loom::sync::Arc;

use super::*;

/// One waiter, one notifier: the waiter always wakes (no lost wake-up).
#[test]
fn loom_no_lost_wakeup() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (ec2, flag2) = (ec.clone(), flag.clone());
        let waiter = loom::thread::spawn(move || {
            ec2.wait_until(WaitStrategy::Park, Deadline::never(), || {
                flag2.load(Ordering::Acquire).then_some(())
            })
        });
        flag.store(true, Ordering::Release);
        ec.notify_all();
        assert_eq!(waiter.join().unwrap(), Some(()));
    });
}

/// One waiter for two notifiers: the first one's wake-up can reach the waiter after
/// the waiter read its key (the epoch that notifier made), and the waiter sleeps on;
/// the second must still find it asleep and wake it.
#[test]
fn loom_a_late_wake_up_does_not_hide_the_sleeper_from_the_next() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let count = Arc::new(AtomicU32::new(0));
        let notifiers: Vec<_> = (0..2)
            .map(|_| {
                let (ec, count) = (ec.clone(), count.clone());
                loom::thread::spawn(move || {
                    count.fetch_add(1, Ordering::Release);
                    ec.notify_all();
                })
            })
            .collect();
        let got = ec.wait_until(WaitStrategy::Park, Deadline::never(), || {
            (count.load(Ordering::Acquire) >= 2).then_some(())
        });
        assert_eq!(got, Some(()));
        for n in notifiers {
            n.join().unwrap();
        }
    });
}

/// Two waiters each take a token, two notifiers each add one and `notify_one`, with
/// nothing else to wake them: both wake (the wake-up of the first cannot swallow the
/// second's).
#[test]
fn loom_notify_one_per_token() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let tokens = Arc::new(AtomicU32::new(0));
        let take = |tokens: &AtomicU32| {
            tokens
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(1))
                .is_ok()
                .then_some(())
        };
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (ec, tokens) = (ec.clone(), tokens.clone());
                loom::thread::spawn(move || {
                    ec.wait_until(WaitStrategy::Park, Deadline::never(), || take(&tokens))
                })
            })
            .collect();
        let (ec2, tokens2) = (ec.clone(), tokens.clone());
        let notifier = loom::thread::spawn(move || {
            tokens2.fetch_add(1, Ordering::Release);
            ec2.notify_one();
        });
        tokens.fetch_add(1, Ordering::Release);
        ec.notify_one();
        notifier.join().unwrap();
        for w in waiters {
            assert_eq!(w.join().unwrap(), Some(()));
        }
    });
}

/// Two waiters on two conditions, one notifier for each: both wake.
#[test]
fn loom_two_waiters() {
    loom::model(|| {
        let ec = Arc::new(EventCount::new());
        let count = Arc::new(AtomicU32::new(0));
        let waiters: Vec<_> = (1..=2)
            .map(|need| {
                let (ec, count) = (ec.clone(), count.clone());
                loom::thread::spawn(move || {
                    ec.wait_until(WaitStrategy::Park, Deadline::never(), || {
                        (count.load(Ordering::Acquire) >= need).then_some(())
                    })
                })
            })
            .collect();
        for _ in 0..2 {
            count.fetch_add(1, Ordering::Release);
            ec.notify_one();
        }
        ec.notify_all();
        for w in waiters {
            assert_eq!(w.join().unwrap(), Some(()));
        }
    });
}
