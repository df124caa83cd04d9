//! Unit tests of the raw forms on the heap (run under Miri), and their loom models.

#[cfg(not(shmkit_loom))]
mod heap {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use shmkit_core::{Deadline, WaitStrategy};

    use crate::raw::*;

    const ME: u64 = TOKEN_BIT | 1;
    const OTHER: u64 = TOKEN_BIT | 2;

    struct DeadSet(u64);

    impl Liveness for DeadSet {
        fn is_alive(&self, owner: u64) -> bool {
            owner != self.0
        }
    }

    #[test]
    fn lock_refuses_a_second_owner_and_non_owner_unlock() {
        let l = RawLock::new();
        assert!(l.try_lock(ME));
        assert!(!l.try_lock(OTHER));
        assert_eq!(l.lock_until(OTHER, Deadline::now(), WaitStrategy::Park, &AlwaysAlive), None);
        assert_eq!(l.unlock(OTHER), Err(NotOwner));
        assert_eq!(l.unlock(ME), Ok(()));
        assert_eq!(l.unlock(ME), Err(NotOwner));
    }

    #[test]
    fn lock_of_a_dead_owner_is_taken_over_once() {
        let l = RawLock::new();
        assert!(l.try_lock(OTHER));
        let dead = DeadSet(OTHER);
        assert_eq!(l.lock_until(ME, Deadline::never(), WaitStrategy::Park, &dead), Some(Acquired::OwnerDied));
        assert_eq!(l.owner(), ME);
        l.unlock(ME).unwrap();
        assert_eq!(l.lock_until(ME, Deadline::never(), WaitStrategy::Park, &dead), Some(Acquired::Clean));
    }

    #[test]
    #[cfg_attr(miri, ignore = "needs memfd_create")]
    fn lock_of_a_garbage_owner_is_taken_over() {
        let l = RawLock::new();
        assert!(l.try_lock(0x1234));
        let live =
            shmkit_core::Object::anonymous(&shmkit_core::Spec::new(shmkit_core::Kind::Lock, 64), |_, _| {});
        if let Ok(obj) = live {
            let got = l.lock_until(ME, Deadline::never(), WaitStrategy::Park, &obj);
            assert_eq!(got, Some(Acquired::OwnerDied));
        }
    }

    #[test]
    fn rlock_recurses_per_thread() {
        let l = RawRLock::new();
        let never = Deadline::never();
        assert_eq!(l.lock_until(ME, 1, never, WaitStrategy::Park, &AlwaysAlive), Some(Acquired::Clean));
        assert_eq!(l.lock_until(ME, 1, never, WaitStrategy::Park, &AlwaysAlive), Some(Acquired::Clean));
        assert_eq!(l.depth(), 2);
        // Another thread of the same process waits.
        assert_eq!(l.lock_until(ME, 2, Deadline::now(), WaitStrategy::Park, &AlwaysAlive), None);
        assert_eq!(l.unlock(ME, 2), Err(NotOwner));
        l.unlock(ME, 1).unwrap();
        assert_eq!(l.raw().owner(), ME);
        l.unlock(ME, 1).unwrap();
        assert_eq!(l.raw().owner(), 0);
        assert_eq!(l.unlock(ME, 1), Err(NotOwner));
    }

    #[test]
    fn bounded_semaphore_refuses_extra_releases() {
        let s = RawSemaphore::new(1, 1);
        assert_eq!(s.release(1), Err(ReleaseError::AboveMaximum { max: 1 }));
        assert!(s.try_acquire());
        assert!(!s.try_acquire());
        assert!(!s.acquire_until(Deadline::now(), WaitStrategy::Park));
        s.release(1).unwrap();
        assert_eq!(s.value(), 1);
    }

    #[test]
    fn semaphore_wakes_a_blocked_thread() {
        let s = Arc::new(RawSemaphore::new(0, 10));
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            s2.acquire_until(Deadline::after(Duration::from_secs(30)), WaitStrategy::Park)
        });
        std::thread::sleep(Duration::from_millis(10));
        s.release(10).unwrap();
        assert!(t.join().unwrap());
        assert_eq!(s.value(), 0);
    }

    #[test]
    fn event_set_clear_wait() {
        let e = RawEvent::new();
        assert!(!e.wait_until(Deadline::now(), WaitStrategy::Park));
        e.set();
        assert!(e.is_set() && e.wait_until(Deadline::never(), WaitStrategy::Park));
        e.clear();
        assert!(!e.is_set());
    }

    #[test]
    fn condition_wait_times_out_holding_the_lock() {
        let l = RawLock::new();
        let c = RawCondition::new();
        assert!(l.try_lock(ME));
        let r =
            c.wait_until(&l, ME, Deadline::after(Duration::from_millis(5)), WaitStrategy::Park, &AlwaysAlive);
        assert_eq!(r, Ok((false, Acquired::Clean)));
        assert_eq!(l.owner(), ME);
        assert_eq!(c.wait_until(&l, OTHER, Deadline::now(), WaitStrategy::Park, &AlwaysAlive), Err(NotOwner));
    }

    #[test]
    fn barrier_releases_with_distinct_indices() {
        let b = Arc::new(RawBarrier::new(3));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || b.wait_until(3, Deadline::never(), WaitStrategy::Park, || false))
            })
            .collect();
        let mut idx: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
        idx.sort_unstable();
        assert_eq!(idx, vec![0, 1, 2]);
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.is_broken());
    }

    #[test]
    fn barrier_timeout_breaks_it_until_reset() {
        let b = RawBarrier::new(2);
        let r = b.wait_until(2, Deadline::after(Duration::from_millis(5)), WaitStrategy::Park, || false);
        assert_eq!(r, Err(BarrierError::TimedOut));
        assert!(b.is_broken());
        assert_eq!(
            b.wait_until(2, Deadline::never(), WaitStrategy::Park, || false),
            Err(BarrierError::Broken)
        );
        b.reset();
        assert!(!b.is_broken());
        assert_eq!(b.wait_until(1, Deadline::never(), WaitStrategy::Park, || false), Ok(0));
    }

    #[test]
    fn barrier_reset_breaks_current_waiters_and_a_death_breaks_the_barrier() {
        let b = Arc::new(RawBarrier::new(2));
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.wait_until(2, Deadline::never(), WaitStrategy::Park, || false));
        while b.n_waiting() == 0 {
            std::thread::yield_now();
        }
        b.reset();
        assert_eq!(t.join().unwrap(), Err(BarrierError::Broken));
        let died = AtomicU64::new(0);
        let r = b.wait_until(2, Deadline::never(), WaitStrategy::Park, || {
            died.fetch_add(1, Ordering::Relaxed) >= 2
        });
        assert_eq!(r, Err(BarrierError::Broken));
    }

    #[test]
    fn a_death_seen_as_the_round_completes_still_breaks_the_barrier() {
        // Party A arrived and (we pretend) died; B waits; while B's check looks for deaths,
        // C arrives and completes the round. B's round ended well, so B returns Ok, but
        // the death must not be used up with it: the next round can never complete.
        let b = Arc::new(RawBarrier::new(3));
        let a = {
            let b = b.clone();
            std::thread::spawn(move || b.wait_until(3, Deadline::never(), WaitStrategy::Park, || false))
        };
        while b.n_waiting() == 0 {
            std::thread::yield_now();
        }
        let mut c = None;
        let r = b.wait_until(3, Deadline::never(), WaitStrategy::Park, || {
            if c.is_none() {
                // C's arrival is the last of the round: it returns at once.
                c = Some(b.wait_until(3, Deadline::never(), WaitStrategy::Park, || false));
            }
            true
        });
        assert_eq!(r, Ok(1));
        assert_eq!(c, Some(Ok(2)));
        assert_eq!(a.join().unwrap(), Ok(0));
        assert!(b.is_broken(), "the death breaks the next round");
        let next = b.wait_until(3, Deadline::after(Duration::from_secs(5)), WaitStrategy::Park, || false);
        assert_eq!(next, Err(BarrierError::Broken));
    }
}

/// Garbage a peer could write into the shared words: every call still returns (with a
/// deadline), and nothing panics.
#[cfg(not(shmkit_loom))]
mod hostile {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::time::Duration;

    use shmkit_core::{Deadline, WaitStrategy};

    use crate::raw::*;

    const PATTERNS: [u64; 6] = [0, 1, u64::MAX, u64::MAX >> 1, 0x8000_0000_8000_0000, 0xDEAD_BEEF_0000_FFFF];

    fn soon() -> Deadline {
        Deadline::after(Duration::from_millis(2))
    }

    /// Overwrites the first `words` 64-bit words of `state` with `w`.
    fn scribble<T>(state: &T, words: usize, w: u64) {
        assert!(std::mem::size_of::<T>() >= words * 8 && std::mem::align_of::<T>() >= 8);
        let p = state as *const T as *const AtomicU64;
        for i in 0..words {
            // SAFETY: `T` is a raw state of atomics whose first `words` words are 64-bit
            // atomics (8-aligned, in bounds: asserted); we write through atomics, as a
            // peer would.
            unsafe { &*p.add(i) }.store(w, Ordering::Relaxed);
        }
    }

    /// Overwrites the first `words` 32-bit words of `state` with `w`.
    fn scribble32<T>(state: &T, words: usize, w: u32) {
        assert!(std::mem::size_of::<T>() >= words * 4 && std::mem::align_of::<T>() >= 4);
        let p = state as *const T as *const AtomicU32;
        for i in 0..words {
            // SAFETY: as in `scribble`, for 32-bit atomics.
            unsafe { &*p.add(i) }.store(w, Ordering::Relaxed);
        }
    }

    #[test]
    fn garbage_in_a_barrier_breaks_or_times_out_never_panics() {
        for w in PATTERNS {
            let b = RawBarrier::new(3);
            scribble(&b, 1, w);
            let r = b.wait_until(3, soon(), WaitStrategy::Park, || false);
            assert!(r.is_err() || r.is_ok_and(|i| i < 3), "{w:#x}: {r:?}");
            let _ = (b.n_waiting(), b.is_broken());
            b.reset();
            assert!(!b.is_broken());
        }
    }

    #[test]
    fn garbage_in_a_semaphore_never_panics() {
        for w in PATTERNS {
            let s = RawSemaphore::new(1, 5);
            scribble32(&s, 2, w as u32);
            let _ = s.acquire_until(soon(), WaitStrategy::Park);
            let _ = s.release(5);
            let _ = (s.value(), s.try_acquire());
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "needs memfd_create")]
    fn garbage_in_a_lock_is_displaced_or_waited_for_until_the_deadline() {
        let me = TOKEN_BIT | 7;
        let obj =
            shmkit_core::Object::anonymous(&shmkit_core::Spec::new(shmkit_core::Kind::Lock, 64), |_, _| {});
        let Ok(obj) = obj else { return };
        for w in PATTERNS {
            let l = RawLock::new();
            scribble(&l, 1, w);
            // A garbage owner is never a live participant: it is displaced.
            match l.lock_until(me, soon(), WaitStrategy::Park, &obj) {
                Some(_) => assert_eq!(l.owner(), me, "{w:#x}"),
                None => panic!("{w:#x}: a garbage owner kept the lock"),
            }
            l.unlock(me).unwrap();
        }
    }
}

#[cfg(shmkit_loom)]
mod loom_models {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use shmkit_core::{Deadline, WaitStrategy};

    use crate::raw::*;

    fn token(i: u64) -> u64 {
        TOKEN_BIT | i
    }

    /// Two threads increment a counter under the lock with a plain load and store: mutual
    /// exclusion makes it exact, and the blocked thread is always woken.
    #[test]
    fn loom_lock_mutual_exclusion() {
        loom::model(|| {
            let lock = Arc::new(RawLock::new());
            let count = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (1..=2)
                .map(|i| {
                    let (lock, count) = (lock.clone(), count.clone());
                    loom::thread::spawn(move || {
                        let me = token(i);
                        let got = lock.lock_until(me, Deadline::never(), WaitStrategy::Park, &AlwaysAlive);
                        assert_eq!(got, Some(Acquired::Clean));
                        let v = count.load(Ordering::Relaxed);
                        count.store(v + 1, Ordering::Relaxed);
                        lock.unlock(me).unwrap();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(count.load(Ordering::Relaxed), 2);
            assert_eq!(lock.owner(), 0);
        });
    }

    /// A semaphore of one unit used by two threads: exclusive, nothing lost.
    #[test]
    fn loom_semaphore() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::new(1, 1));
            let count = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (sem, count) = (sem.clone(), count.clone());
                    loom::thread::spawn(move || {
                        assert!(sem.acquire_until(Deadline::never(), WaitStrategy::Park));
                        let v = count.load(Ordering::Relaxed);
                        count.store(v + 1, Ordering::Relaxed);
                        sem.release(1).unwrap();
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(count.load(Ordering::Relaxed), 2);
            assert_eq!(sem.value(), 1);
        });
    }

    /// A waiter always sees a set that happens concurrently with its wait.
    #[test]
    fn loom_event() {
        loom::model(|| {
            let ev = Arc::new(RawEvent::new());
            let ev2 = ev.clone();
            let waiter = loom::thread::spawn(move || ev2.wait_until(Deadline::never(), WaitStrategy::Park));
            ev.set();
            assert!(waiter.join().unwrap());
        });
    }

    /// A notify sent under the lock after the waiter checked its condition is not lost.
    #[test]
    fn loom_condition() {
        loom::model(|| {
            let lock = Arc::new(RawLock::new());
            let cond = Arc::new(RawCondition::new());
            let ready = Arc::new(AtomicUsize::new(0));
            let (l2, c2, r2) = (lock.clone(), cond.clone(), ready.clone());
            let waiter = loom::thread::spawn(move || {
                let me = token(1);
                assert!(l2.lock_until(me, Deadline::never(), WaitStrategy::Park, &AlwaysAlive).is_some());
                while r2.load(Ordering::Relaxed) == 0 {
                    c2.wait_until(&l2, me, Deadline::never(), WaitStrategy::Park, &AlwaysAlive).unwrap();
                }
                l2.unlock(me).unwrap();
            });
            let me = token(2);
            assert!(lock.lock_until(me, Deadline::never(), WaitStrategy::Park, &AlwaysAlive).is_some());
            ready.store(1, Ordering::Relaxed);
            cond.notify_one();
            lock.unlock(me).unwrap();
            waiter.join().unwrap();
        });
    }
}
