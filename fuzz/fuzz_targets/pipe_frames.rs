//! Hostile bytes as a pipe's ring (its indices and contents), then a receiver and a
//! sender at work on it: no panic, no out-of-bounds access, no allocation beyond the
//! receiver's limit, and every call returns (an end with no peer never waits).
#![no_main]

use std::sync::atomic::Ordering;

use libfuzzer_sys::fuzz_target;
use shmkit_pipe::heap::{HeapEnd, Shared};
use shmkit_pipe::stream;
use shmkit_queue::heap::HeapLamport;

/// The receiver's limit: a forged length over it is `TooLarge`, never an allocation.
const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else { return };
    let cap = 16usize << (shape % 6);
    let (words, rest) = rest.split_at(rest.len().min(16));
    let mut w = [0u8; 16];
    w[..words.len()].copy_from_slice(words);
    let ring = Shared::new(HeapLamport::<u8>::new(cap));
    ring.ctl.tail.0.store(u64::from_le_bytes(w[..8].try_into().unwrap()), Ordering::Relaxed);
    ring.ctl.head.0.store(u64::from_le_bytes(w[8..].try_into().unwrap()), Ordering::Relaxed);
    let (contents, ops) = rest.split_at(rest.len().min(cap));
    for (slot, &b) in ring.slots.iter().zip(contents) {
        // SAFETY: no end uses the ring yet.
        slot.with_mut(|p| unsafe { *p = b });
    }
    let rx = HeapEnd::receiver(ring.clone(), false);
    let tx = HeapEnd::sender(ring, false);
    for &op in ops.iter().take(64) {
        match op % 4 {
            0 => {
                if let Ok(v) = stream::recv_bytes(&rx, MAX) {
                    assert!(v.len() <= MAX);
                }
            }
            1 => {
                let mut buf = vec![0; usize::from(op)];
                if let Ok(n) = stream::recv_bytes_into(&rx, MAX, &mut buf) {
                    assert!(n <= buf.len());
                }
            }
            2 => {
                let _ = stream::peek(&rx, usize::from(op), None);
            }
            _ => {
                let _ = stream::send(&tx, 0, &vec![op; usize::from(op) * 3]);
            }
        }
    }
});
