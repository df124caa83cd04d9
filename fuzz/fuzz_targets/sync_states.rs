//! Arbitrary bytes as the shared state of each synchronisation primitive, then its
//! operations with deadlines that have passed: whatever a peer wrote, nothing panics,
//! nothing blocks.
#![no_main]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use shmkit_core::{Deadline, WaitStrategy};
use shmkit_sync::raw::{
    AlwaysAlive, RawBarrier, RawCondition, RawEvent, RawLock, RawRLock, RawSemaphore, TOKEN_BIT,
};

/// A raw state of `T` whose bytes come from `data`, written through atomics of `T`'s
/// alignment (8 or 4: every raw state is made of 64- and 32-bit atomics).
fn hostile<T: Default>(data: &[u8]) -> Box<T> {
    let state = Box::new(T::default());
    let base = &*state as *const T;
    let wide = std::mem::align_of::<T>() >= 8;
    let step = if wide { 8 } else { 4 };
    for (i, chunk) in data.chunks(step).take(std::mem::size_of::<T>() / step).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let v = u64::from_le_bytes(w);
        // SAFETY: `i * step` is inside `T` (the `take` above), aligned to `step`, which
        // `T`'s alignment allows; the state is atomics, written as a peer would.
        unsafe {
            if wide {
                (*base.cast::<AtomicU64>().add(i)).store(v, Ordering::Relaxed);
            } else {
                (*base.cast::<AtomicU32>().add(i)).store(v as u32, Ordering::Relaxed);
            }
        }
    }
    state
}

fuzz_target!(|data: &[u8]| {
    let now = Deadline::now();
    let park = WaitStrategy::Park;
    let me = TOKEN_BIT | 3;

    let l: Box<RawLock> = hostile(data);
    if l.lock_until(me, now, park, &AlwaysAlive).is_some() {
        let _ = l.unlock(me);
    }
    let r: Box<RawRLock> = hostile(data);
    if r.lock_until(me, 1, now, park, &AlwaysAlive).is_some() {
        let _ = r.unlock(me, 1);
    }
    let s: Box<RawSemaphore> = hostile(data);
    let _ = s.acquire_until(now, park);
    let _ = s.release(u32::from(data.first().copied().unwrap_or(1)));
    let e: Box<RawEvent> = hostile(data);
    let _ = e.wait_until(now, park);
    e.set();
    let c: Box<RawCondition> = hostile(data);
    c.notify_all();
    let b: Box<RawBarrier> = hostile(data);
    let parties = u32::from(data.get(9).copied().unwrap_or(2));
    let _ = b.wait_until(parties, now, park, || false);
    let _ = (b.n_waiting(), b.is_broken());
    b.reset();
});
