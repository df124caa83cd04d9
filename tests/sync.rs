//! The synchronisation primitives across real processes: exact counters under stress,
//! SIGKILLed lock holders and barrier parties, timeouts under a signal storm, and no
//! system call on uncontended paths (enforced with seccomp).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{fork, under_signal_storm, Exit, NameGuard, Shared, LIMIT};
use shmkit::{
    Barrier, BarrierError, BoundedSemaphore, Condition, Event, Kind, Lock, LockError, NotOwner, OpenError,
    RLock, ReleaseError, Semaphore, TryLockError,
};

const PROCS: usize = 4;
const STRESS_LIMIT: Duration = Duration::from_secs(120);

/// A plain (non-atomic) read-modify-write of word 0, which only mutual exclusion keeps
/// exact.
fn bump(shared: &Shared) {
    let w = shared.word(0) as *const AtomicU64 as *mut u64;
    // SAFETY: the word is inside the shared page; the caller holds the lock, so no other
    // process touches it now (a torn update is what the test would catch).
    unsafe { w.write_volatile(w.read_volatile() + 1) };
}

fn run_all(children: Vec<common::Child>) {
    for c in children {
        c.join_ok(STRESS_LIMIT);
    }
}

#[test]
fn stress_lock_counter_is_exact_across_processes() {
    let lock = Lock::anonymous().unwrap();
    let shared = Shared::new();
    let per = 500_000;
    let children = (0..PROCS)
        .map(|_| {
            fork(|| {
                for i in 0..per {
                    // Mix the blocking and the non-blocking paths.
                    let g = if i % 2 == 0 {
                        lock.lock().unwrap()
                    } else {
                        loop {
                            match lock.try_lock() {
                                Ok(g) => break g,
                                Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
                                Err(_) => return 2,
                            }
                        }
                    };
                    bump(&shared);
                    drop(g);
                }
                0
            })
        })
        .collect();
    run_all(children);
    assert_eq!(shared.word(0).load(Ordering::Relaxed), (PROCS * per) as u64);
}

#[test]
fn stress_semaphore_counter_is_exact_across_processes() {
    let sem = Semaphore::anonymous(1).unwrap();
    let shared = Shared::new();
    let per = 500_000;
    let children = (0..PROCS)
        .map(|_| {
            fork(|| {
                for _ in 0..per {
                    sem.acquire();
                    bump(&shared);
                    sem.release().unwrap();
                }
                0
            })
        })
        .collect();
    run_all(children);
    assert_eq!(shared.word(0).load(Ordering::Relaxed), (PROCS * per) as u64);
    assert_eq!(sem.value(), 1);
}

#[test]
fn stress_rlock_counter_is_exact_across_processes() {
    let lock = RLock::anonymous().unwrap();
    let shared = Shared::new();
    let per = 100_000;
    let children = (0..PROCS)
        .map(|_| {
            fork(|| {
                for _ in 0..per {
                    let outer = lock.lock().unwrap();
                    let inner = lock.lock().unwrap();
                    bump(&shared);
                    drop(inner);
                    bump(&shared);
                    drop(outer);
                }
                0
            })
        })
        .collect();
    run_all(children);
    assert_eq!(shared.word(0).load(Ordering::Relaxed), (2 * PROCS * per) as u64);
}

#[test]
fn lock_holder_sigkilled_waiter_gets_owner_died_once() {
    let g = NameGuard::new("lock-kill");
    let lock = Lock::create(g.name()).unwrap();
    let shared = Shared::new();
    let name = g.name().to_owned();
    let holder = fork(|| {
        let lock = Lock::open(&name).unwrap();
        std::mem::forget(lock.lock().unwrap());
        shared.signal(0, 1);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    // A waiter blocked on the lock when its holder dies.
    let waiter = fork(|| {
        let lock = Lock::open(&name).unwrap();
        shared.signal(1, 1);
        let code = match lock.lock() {
            Err(LockError::OwnerDied(guard)) => {
                shared.word(8).store(1, Ordering::Relaxed);
                drop(guard);
                0
            }
            Ok(_) => 2,
            Err(_) => 3,
        };
        code
    });
    shared.await_value(1, 1, LIMIT);
    std::thread::sleep(Duration::from_millis(50));
    holder.kill();
    assert_eq!(holder.wait(LIMIT), Exit::Signal(libc::SIGKILL));
    waiter.join_ok(LIMIT);
    assert_eq!(shared.word(8).load(Ordering::Relaxed), 1);
    // Reported once: later locks are normal.
    for _ in 0..3 {
        let guard = lock.lock().expect("a clean lock after the recovery");
        drop(guard);
    }
}

#[test]
fn lock_holder_sigkilled_next_lock_recovers_and_lock_works_afterwards() {
    let lock = Lock::anonymous().unwrap();
    let shared = Shared::new();
    let holder = fork(|| {
        std::mem::forget(lock.lock().unwrap());
        shared.signal(0, 1);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    assert!(lock.try_lock().unwrap_err().is_would_block());
    holder.kill();
    holder.wait(LIMIT);
    let guard = match lock.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    // The guard works: the lock is ours.
    assert!(lock.is_locked());
    let child = fork(|| i32::from(!lock.try_lock().unwrap_err().is_would_block()));
    child.join_ok(LIMIT);
    drop(guard);
    assert!(lock.try_lock().is_ok());
    assert!(lock.lock().is_ok());
}

#[test]
fn unlock_from_a_non_owner_is_an_error() {
    let lock = Lock::anonymous().unwrap();
    std::mem::forget(lock.lock().unwrap());
    let child = fork(|| i32::from(lock.unlock() != Err(NotOwner)));
    child.join_ok(LIMIT);
    assert!(lock.is_locked());
    lock.unlock().unwrap();
    assert_eq!(lock.unlock(), Err(NotOwner));

    let rlock = RLock::anonymous().unwrap();
    std::mem::forget(rlock.lock().unwrap());
    let other_thread = std::thread::scope(|s| s.spawn(|| rlock.unlock()).join().unwrap());
    assert_eq!(other_thread, Err(NotOwner));
    rlock.unlock().unwrap();
}

#[test]
fn bounded_semaphore_release_past_its_maximum_is_an_error() {
    let g = NameGuard::new("bounded");
    let sem = BoundedSemaphore::create(g.name(), 2).unwrap();
    sem.acquire();
    let name = g.name().to_owned();
    let child = fork(|| {
        let sem = BoundedSemaphore::open(&name).unwrap();
        match (sem.release(), sem.release()) {
            (Ok(()), Err(ReleaseError::AboveMaximum { max: 2 })) => 0,
            _ => 2,
        }
    });
    child.join_ok(LIMIT);
    assert_eq!(sem.value(), 2);
    assert!(BoundedSemaphore::anonymous(0).is_err());
    assert!(Semaphore::anonymous(u32::MAX).is_err());
    assert!(Barrier::anonymous(0).is_err());
    assert!(matches!(
        Semaphore::open(g.name()),
        Err(OpenError::KindMismatch { expected: Kind::Semaphore, .. })
    ));
    assert!(matches!(Lock::open(g.name()), Err(OpenError::KindMismatch { .. })));
}

#[test]
fn semaphore_limits_how_many_processes_work_at_once() {
    let sem = Semaphore::anonymous(2).unwrap();
    let shared = Shared::new();
    let children = (0..6)
        .map(|_| {
            fork(|| {
                for _ in 0..200 {
                    sem.acquire();
                    let now = shared.word(0).fetch_add(1, Ordering::AcqRel) + 1;
                    shared.word(1).fetch_max(now, Ordering::AcqRel);
                    std::hint::spin_loop();
                    shared.word(0).fetch_sub(1, Ordering::AcqRel);
                    sem.release().unwrap();
                }
                0
            })
        })
        .collect();
    run_all(children);
    let most = shared.word(1).load(Ordering::Relaxed);
    assert!((1..=2).contains(&most), "{most} processes worked at once under Semaphore(2)");
}

#[test]
fn event_wakes_waiters_in_other_processes() {
    let ev = Event::anonymous().unwrap();
    let shared = Shared::new();
    let children: Vec<_> = (0..3)
        .map(|_| {
            fork(|| {
                shared.word(0).fetch_add(1, Ordering::AcqRel);
                i32::from(!ev.wait_timeout(LIMIT))
            })
        })
        .collect();
    while shared.word(0).load(Ordering::Acquire) < 3 {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    ev.set();
    run_all(children);
}

#[test]
fn condition_notify_crosses_processes() {
    let cond = Condition::anonymous().unwrap();
    let shared = Shared::new();
    let child = fork(|| {
        let guard = cond.lock().unwrap();
        let guard = cond.wait_while(guard, || shared.word(0).load(Ordering::Relaxed) == 0).unwrap();
        let v = shared.word(0).load(Ordering::Relaxed);
        drop(guard);
        i32::from(v != 42)
    });
    std::thread::sleep(Duration::from_millis(30));
    {
        let _g = cond.lock().unwrap();
        shared.word(0).store(42, Ordering::Relaxed);
        cond.notify_all();
    }
    child.join_ok(LIMIT);
}

#[test]
fn barrier_releases_processes_round_after_round() {
    let g = NameGuard::new("barrier-rounds");
    let parties = 4;
    let barrier = Barrier::create(g.name(), parties).unwrap();
    let shared = Shared::new();
    let rounds = 200;
    let name = g.name().to_owned();
    let children: Vec<_> = (0..parties - 1)
        .map(|_| {
            fork(|| {
                let b = Barrier::open(&name).unwrap();
                for r in 0..rounds {
                    let i = b.wait().unwrap();
                    shared.word(1 + r).fetch_or(1 << i, Ordering::AcqRel);
                }
                0
            })
        })
        .collect();
    for r in 0..rounds {
        let i = barrier.wait().unwrap();
        shared.word(1 + r).fetch_or(1 << i, Ordering::AcqRel);
    }
    run_all(children);
    for r in 0..rounds {
        // Every index 0..parties was handed out exactly once per round.
        assert_eq!(shared.word(1 + r).load(Ordering::Relaxed), (1 << parties) - 1, "round {r}");
    }
}

#[test]
fn barrier_party_sigkilled_breaks_it_for_the_others() {
    let g = NameGuard::new("barrier-kill");
    let barrier = Barrier::create(g.name(), 3).unwrap();
    let shared = Shared::new();
    let name = g.name().to_owned();
    // A party that attaches but dies before it arrives.
    let doomed = fork(|| {
        let _b = Barrier::open(&name).unwrap();
        shared.signal(0, 1);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    let waiter = fork(|| {
        let b = Barrier::open(&name).unwrap();
        i32::from(b.wait() != Err(BarrierError::Broken))
    });
    while barrier.n_waiting() < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    doomed.kill();
    doomed.wait(LIMIT);
    // Our own wait notices the death too, or finds the barrier already broken.
    assert_eq!(barrier.wait(), Err(BarrierError::Broken));
    waiter.join_ok(LIMIT);
    assert!(barrier.is_broken());
    barrier.reset();
    assert!(!barrier.is_broken());
}

#[test]
fn all_timeouts_under_signal_storm_return_at_their_deadline() {
    let t = Duration::from_millis(200);
    let sem = Semaphore::anonymous(0).unwrap();
    under_signal_storm(t, |d| !sem.acquire_deadline(d));

    let lock = Lock::anonymous().unwrap();
    let _held = lock.lock().unwrap();
    // The child is another process: the lock is held by its parent.
    under_signal_storm(t, |d| lock.lock_deadline(d).unwrap_err().is_would_block());

    let rlock = RLock::anonymous().unwrap();
    let _held = rlock.lock().unwrap();
    under_signal_storm(t, |d| rlock.lock_deadline(d).unwrap_err().is_would_block());

    let ev = Event::anonymous().unwrap();
    under_signal_storm(t, |d| !ev.wait_deadline(d));

    let cond = Condition::anonymous().unwrap();
    under_signal_storm(t, |d| {
        let g = cond.lock().unwrap();
        let (_g, timed_out) = cond.wait_deadline(g, d).unwrap();
        timed_out
    });

    // Named: an anonymous barrier would count the children other tests kill meanwhile
    // (they inherit it) as dead parties.
    let g = NameGuard::new("storm-barrier");
    let barrier = Barrier::create(g.name(), 2).unwrap();
    under_signal_storm(t, |d| barrier.wait_deadline(d) == Err(BarrierError::TimedOut));
}

/// The child's exit code when the kernel refuses the seccomp filter.
const SECCOMP_UNAVAILABLE: i32 = 77;

/// Kills the calling process if it ever makes a futex system call.
fn forbid_futex() -> bool {
    let filter = [
        // A = seccomp_data.nr
        libc::sock_filter { code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, jt: 0, jf: 0, k: 0 },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_futex as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_KILL_PROCESS,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: plain prctl calls; `prog` and `filter` outlive them.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog)
                == 0
    }
}

#[test]
fn uncontended_operations_make_no_futex_syscall() {
    let lock = Lock::anonymous().unwrap();
    let rlock = RLock::anonymous().unwrap();
    let sem = Semaphore::anonymous(1).unwrap();
    let ev = Event::anonymous().unwrap();
    let cond = Condition::anonymous().unwrap();
    let child = fork(|| {
        // Register this process with each object before the filter goes on.
        drop(lock.lock().unwrap());
        drop(rlock.lock().unwrap());
        drop(cond.lock().unwrap());
        if !forbid_futex() {
            return SECCOMP_UNAVAILABLE;
        }
        for _ in 0..100_000 {
            drop(lock.lock().unwrap());
            drop(lock.try_lock().unwrap());
            let a = rlock.lock().unwrap();
            drop(rlock.lock().unwrap());
            drop(a);
            sem.acquire();
            sem.release().unwrap();
            assert!(sem.try_acquire());
            sem.release().unwrap();
            ev.set();
            assert!(ev.is_set());
            ev.clear();
            let g = cond.lock().unwrap();
            cond.notify_all();
            drop(g);
        }
        0
    });
    // A futex call would have killed the child with SIGSYS.
    match child.wait(LIMIT) {
        Exit::Code(SECCOMP_UNAVAILABLE) => eprintln!("skipped: seccomp filters are not available here"),
        exit => assert_eq!(exit, Exit::Code(0)),
    }
}

#[test]
fn every_blocking_call_has_a_try_form() {
    let ev = Event::anonymous().unwrap();
    assert!(!ev.try_wait());
    ev.set();
    assert!(ev.try_wait());

    // One party of two arrives without waiting: it times out at once, and that breaks
    // the barrier for the other, as a timed-out wait does.
    let g = NameGuard::new("try-barrier");
    let b = Barrier::create(g.name(), 2).unwrap();
    assert_eq!(b.try_wait(), Err(BarrierError::TimedOut));
    assert!(b.is_broken());
    b.reset();
    assert_eq!(Barrier::anonymous(1).unwrap().try_wait(), Ok(0));

    // A lock is held by a process: locking it again from the holder waits, and times out.
    let cond = Condition::anonymous().unwrap();
    let guard = cond.lock().unwrap();
    let t = Duration::from_millis(20);
    let started = std::time::Instant::now();
    assert!(cond.lock_timeout(t).unwrap_err().is_would_block());
    assert!(started.elapsed() >= t);
    let (guard, timed_out) = cond.try_wait(guard).unwrap();
    assert!(timed_out);
    drop(guard);
    assert!(cond.lock_deadline(shmkit::Deadline::after(LIMIT)).is_ok());

    let lock = Lock::anonymous().unwrap();
    let held = lock.lock().unwrap();
    let started = std::time::Instant::now();
    assert!(lock.lock_timeout(t).unwrap_err().is_would_block());
    assert!(started.elapsed() >= t);
    drop(held);
    assert!(lock.lock_timeout(t).is_ok());
}

#[test]
fn sync_objects_keep_the_type_names_earlier_builds_wrote() {
    // FNV-1a of each state's path as earlier builds stored it in the header: objects they
    // made keep opening (and ours in them) whatever modules the states move to.
    let hash = |obj: &shmkit::Object| obj.info().elem.name_hash;
    assert_eq!(hash(Lock::anonymous().unwrap().object()), 0xffd8_23b3_feb2_39b8); // raw::RawLock
    assert_eq!(hash(RLock::anonymous().unwrap().object()), 0xcf11_7234_9338_ad80); // raw::RawRLock
    assert_eq!(hash(Semaphore::anonymous(1).unwrap().object()), 0x20f4_5941_b215_1ee7);
    assert_eq!(hash(BoundedSemaphore::anonymous(1).unwrap().object()), 0x20f4_5941_b215_1ee7);
    assert_eq!(hash(Event::anonymous().unwrap().object()), 0x18c1_9b85_40dc_5a3d); // raw::RawEvent
    assert_eq!(hash(Barrier::anonymous(2).unwrap().object()), 0xce38_fafa_0ab7_423e);
    assert_eq!(hash(Condition::anonymous().unwrap().object()), 0x3d87_4521_ca09_d769);
}

#[test]
fn a_timed_condition_wait_does_not_wait_out_another_holder() {
    // Another process takes the lock as soon as our wait releases it, and keeps it for two
    // seconds: a 300 ms wait must not last them (it used to, taking the lock back without
    // a deadline).
    let cond = Condition::anonymous().unwrap();
    let shared = Shared::new();
    let guard = cond.lock().unwrap();
    let holder = fork(|| {
        shared.signal(0, 1);
        let g = cond.lock().unwrap();
        shared.signal(1, 1);
        std::thread::sleep(Duration::from_secs(2));
        drop(g);
        0
    });
    shared.await_value(0, 1, LIMIT);
    let t = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let r = cond.wait_timeout(guard, t);
    assert!(started.elapsed() >= t);
    assert!(matches!(r, Err(LockError::Timeout)), "the lock is still held by the other process");
    assert_eq!(shared.word32(1).load(Ordering::Relaxed), 1, "the holder took the lock");
    holder.join_ok(LIMIT);
    // Released: an untimed wait-free lock works again.
    assert!(cond.lock().is_ok());
}

#[test]
fn an_anonymous_barrier_sees_a_forked_waiter_die() {
    // The examples' pattern: an anonymous barrier, parties forked with it. A child killed
    // while it waits must break the barrier for the others at once (its wait used to
    // leave it unregistered, so its death went unseen and the others waited out their
    // timeouts).
    let barrier = Barrier::anonymous(3).unwrap();
    let doomed = fork(|| i32::from(barrier.wait().is_ok()));
    while barrier.n_waiting() < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    doomed.kill();
    doomed.wait(LIMIT);
    // One more party arrives; the round cannot complete without a third. It must get
    // Broken (the death), not TimedOut.
    let waiter = fork(|| i32::from(barrier.wait_timeout(LIMIT) != Err(BarrierError::Broken)));
    waiter.join_ok(LIMIT + LIMIT);
    assert!(barrier.is_broken());
}

#[test]
fn an_anonymous_barrier_breaks_when_a_forked_party_dies_before_it_arrives() {
    // `Barrier::anonymous(3)`: one child waits, the other is killed before it ever
    // touched the barrier. The parent's timed wait must end Broken at once, not wait out
    // its timeout (the dead child was never registered: it is now a participant from the
    // fork on).
    let barrier = Barrier::anonymous(3).unwrap();
    let waiter = fork(|| i32::from(barrier.wait_timeout(LIMIT) != Err(BarrierError::Broken)));
    let doomed = fork(|| loop {
        std::thread::sleep(Duration::from_secs(1));
    });
    while barrier.n_waiting() < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    doomed.kill();
    doomed.wait(LIMIT);
    let started = Instant::now();
    let timeout = Duration::from_secs(3);
    assert_eq!(barrier.wait_timeout(timeout), Err(BarrierError::Broken));
    assert!(started.elapsed() < timeout, "the death went unseen: the wait timed out");
    waiter.join_ok(LIMIT);
}

#[test]
fn a_forked_child_that_ends_normally_without_using_a_barrier_does_not_break_it() {
    // Children forked for other work (a pool, say) inherit the barrier too; ending
    // normally, they were never parties and must not break it. Run in a child of its own:
    // children that other tests kill meanwhile inherit every anonymous barrier of this
    // process, and count as dead parties.
    fork(|| {
        let barrier = Barrier::anonymous(2).unwrap();
        for _ in 0..3 {
            fork(|| 0).join_ok(LIMIT);
        }
        let party = fork(|| i32::from(barrier.wait_timeout(LIMIT).is_err()));
        let ok = barrier.wait_timeout(LIMIT).is_ok();
        party.join_ok(LIMIT);
        i32::from(!ok || barrier.is_broken())
    })
    .join_ok(LIMIT + LIMIT);
}

fn monotonic_ns() -> u64 {
    // SAFETY: all-zero is a valid timespec; clock_gettime writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid timespec that outlives the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[test]
fn barrier_kill_loop_every_survivor_breaks_after_a_party_dies() {
    // 30 barriers of 4 parties, anonymous and named in turn; in each, one party is
    // SIGKILLed at random 0-40 ms into their rounds (for an anonymous barrier, possibly
    // before it ever touched it). Every survivor must get Broken, never wait out its
    // timeout. The process that makes the barrier is not a party: it lets go of an
    // anonymous one once the parties are forked (a process that holds the barrier and
    // does not wait could be a party yet to arrive, so a child dead before it touched the
    // barrier does not break it then). Run in a child of its own: children that other
    // tests kill meanwhile inherit this process's anonymous barriers.
    fork(|| {
        const PARTIES: usize = 4;
        let mut rng = common::Rng::new();
        let mut latencies = Vec::new();
        for round in 0..30 {
            let g = NameGuard::new("barrier-kill-loop");
            let named = round % 2 == 1;
            let made = if named {
                Barrier::create(g.name(), PARTIES as u32).unwrap()
            } else {
                Barrier::anonymous(PARTIES as u32).unwrap()
            };
            let shared = Shared::new();
            let (barrier, shared, name) = (&made, &shared, g.name());
            let parties: Vec<_> = (0..PARTIES)
                .map(|i| {
                    fork(move || {
                        let opened = named.then(|| Barrier::open(name).unwrap());
                        let b = opened.as_ref().unwrap_or(barrier);
                        shared.word32(1).fetch_add(1, Ordering::AcqRel);
                        loop {
                            match b.wait_timeout(Duration::from_secs(10)) {
                                Ok(_) => {}
                                Err(BarrierError::Broken) => {
                                    shared.word(1 + i).store(monotonic_ns(), Ordering::Release);
                                    return 0;
                                }
                                Err(_) => return 3,
                            }
                        }
                    })
                })
                .collect();
            if named {
                // A named party counts once it has opened the barrier.
                while shared.word32(1).load(Ordering::Acquire) < PARTIES as u32 {
                    std::thread::sleep(Duration::from_micros(100));
                }
            } else {
                drop(made);
            }
            std::thread::sleep(Duration::from_millis(rng.range(0, 40)));
            let victim = rng.range(0, PARTIES as u64 - 1) as usize;
            parties[victim].kill();
            let killed_at = monotonic_ns();
            for (i, p) in parties.into_iter().enumerate() {
                if i == victim {
                    assert_eq!(p.wait(LIMIT), Exit::Signal(libc::SIGKILL));
                } else {
                    // Exit 0: this survivor got Broken (3: it timed out).
                    p.join_ok(LIMIT);
                    let broke_at = shared.word(1 + i).load(Ordering::Acquire);
                    latencies.push(Duration::from_nanos(broke_at.saturating_sub(killed_at)));
                }
            }
        }
        latencies.sort();
        eprintln!(
            "barrier kill loop: kill to Broken p50 {:?}, max {:?} over {} survivors",
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1],
            latencies.len()
        );
        0
    })
    .join_ok(Duration::from_secs(120));
}

#[test]
fn a_killed_child_forked_for_other_work_does_not_break_a_barrier_that_can_still_complete() {
    // An anonymous barrier of two parties, both alive; a third child, forked for other
    // work, is killed without ever touching it. The round can still complete, so it must.
    // A child that calls `exit` without using the barrier leaves it cleanly.
    fork(|| {
        let barrier = Barrier::anonymous(2).unwrap();
        let party = fork(|| i32::from(barrier.wait_timeout(LIMIT).is_err()));
        let unrelated = fork(|| loop {
            std::thread::sleep(Duration::from_secs(1));
        });
        unrelated.kill();
        let _ = unrelated.wait(LIMIT);
        let exits = fork(|| std::process::exit(0));
        exits.join_ok(LIMIT);
        let ok = barrier.wait_timeout(LIMIT).is_ok();
        party.join_ok(LIMIT);
        // The killed child is a dead heir; the one that called `exit` is not.
        let heirs = barrier.object().participants().iter().filter(|p| p.role.as_str() == "inherited").count();
        i32::from(!ok) | (i32::from(heirs != 1) << 1)
    })
    .join_ok(LIMIT + LIMIT);
}
