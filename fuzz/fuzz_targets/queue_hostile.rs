//! Arbitrary bytes as the rings' shared state (indices, sequences, intents), then
//! operations: whatever a peer wrote, nothing panics, reads stay in bounds, and every
//! operation returns.
#![no_main]

use std::sync::atomic::Ordering;

use libfuzzer_sys::fuzz_target;
use shmkit_queue::heap::{HeapLamport, HeapRing};

fn words(data: &[u8]) -> impl Iterator<Item = u64> + '_ {
    data.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else { return };
    let cap = 2usize << (shape % 4);
    let mut w = words(rest).chain(std::iter::repeat(0));

    let h = HeapRing::<u64>::new(cap, 4);
    h.ctl.tail.0.store(w.next().unwrap_or(0), Ordering::Relaxed);
    h.ctl.head.0.store(w.next().unwrap_or(0), Ordering::Relaxed);
    for s in &h.slots {
        s.seq.store(w.next().unwrap_or(0), Ordering::Relaxed);
    }
    for i in &h.intents {
        i.0 .0.store(w.next().unwrap_or(0), Ordering::Relaxed);
    }
    if shape & 0x40 != 0 {
        h.kill(2);
    }
    let r = h.ring();
    for i in 0..(4 * cap as u64) {
        let _ = h.put(0, i);
        let _ = h.get(1);
        let _ = r.repair_get(1, &h);
        let _ = r.repair_put(&h);
        assert!(r.len() <= cap);
    }

    let l = HeapLamport::<u64>::new(cap);
    l.ctl.tail.0.store(w.next().unwrap_or(0), Ordering::Relaxed);
    l.ctl.head.0.store(w.next().unwrap_or(0), Ordering::Relaxed);
    let lr = l.ring();
    let (mut p, mut c) = (lr.producer_cursor(), lr.consumer_cursor());
    for i in 0..(4 * cap as u64) {
        let k = lr.writable(&mut p, 3);
        assert!(k <= 3);
        for _ in 0..k {
            lr.write(p.own, |s| *s = i);
            p.own = p.own.wrapping_add(1);
        }
        lr.publish(&p);
        let k = lr.readable(&mut c, 3);
        assert!(k <= 3);
        for _ in 0..k {
            let _ = lr.read(c.own, |v| *v);
            c.own = c.own.wrapping_add(1);
        }
        lr.release(&c);
        assert!(lr.len() <= cap);
    }
});
