//! Operation sequences on the MPMC and SPSC rings against a `VecDeque` model, including
//! participants that die between claiming a slot and finishing with it: every published
//! item comes out once and in order, holes are skipped, dead readers' slots come back.
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use shmkit_queue::heap::{HeapLamport, HeapRing};

const PRODUCER: u32 = 0;
const CONSUMER: u32 = 1;
const PARTICIPANTS: usize = 64;

/// An item in the model: a value, or a hole left by a producer that died.
type Entry = Option<u16>;

/// An element of the ring under test, made from the model's value: `u16` in the packed
/// slot layout, or a whole cache line of copies in the wide one.
trait Item: bytemuck::Pod + PartialEq + std::fmt::Debug {
    fn of(v: u16) -> Self;
}

impl Item for u16 {
    fn of(v: u16) -> Self {
        v
    }
}

impl Item for [u16; 32] {
    fn of(v: u16) -> Self {
        [v; 32]
    }
}

fn mpmc<T: Item>(cap: usize, ops: &[u8]) {
    let h = HeapRing::<T>::new(cap, PARTICIPANTS);
    let r = h.ring();
    let mut model: VecDeque<Entry> = VecDeque::new();
    // Slots read by a consumer that died, not yet given back.
    let mut unreleased = 0usize;
    let mut next_victim = 2u32;
    let mut value = 0u16;
    for &op in ops {
        match op % 6 {
            0 | 1 => {
                // Put: a full ring (items, holes and dead readers' slots) is refused,
                // unless a dead reader's slot can be given back.
                let mut put = h.put(PRODUCER, T::of(value));
                if !put && unreleased > 0 {
                    assert!(r.put_blocked());
                    assert!(r.repair_put(&h), "a dead reader's slot must come back");
                    unreleased -= 1;
                    put = h.put(PRODUCER, T::of(value));
                }
                assert_eq!(put, model.len() + unreleased < cap);
                if put {
                    model.push_back(Some(value));
                }
                value = value.wrapping_add(1);
            }
            2 | 3 => {
                // Get: holes at the front are skipped once their producer is dead.
                while model.front() == Some(&None) {
                    assert!(r.get_blocked());
                    assert!(r.repair_get(CONSUMER, &h), "a dead producer's hole must be skipped");
                    model.pop_front();
                }
                assert_eq!(h.get(CONSUMER), model.pop_front().flatten().map(T::of));
            }
            4 if (next_victim as usize) < PARTICIPANTS => {
                // A producer claims and dies.
                let v = next_victim;
                next_victim += 1;
                if r.claim_put(v).is_some() {
                    model.push_back(None);
                }
                h.kill(v);
            }
            5 if (next_victim as usize) < PARTICIPANTS => {
                // A consumer claims and dies: its item is lost with it.
                let v = next_victim;
                next_victim += 1;
                if model.front().is_some_and(|e| e.is_some()) {
                    assert!(r.claim_get(v).is_some());
                    model.pop_front();
                    unreleased += 1;
                }
                h.kill(v);
            }
            _ => {}
        }
        assert!(r.len() <= cap);
    }
}

fn spsc(cap: usize, ops: &[u8]) {
    let h = HeapLamport::<u16>::new(cap);
    let r = h.ring();
    let (mut p, mut c) = (r.producer_cursor(), r.consumer_cursor());
    let mut model = VecDeque::new();
    let mut value = 0u16;
    for &op in ops {
        let n = u64::from(op >> 1) % 9;
        if op & 1 == 0 {
            let k = r.writable(&mut p, n);
            assert_eq!(k as usize, (cap - model.len()).min(n as usize));
            for _ in 0..k {
                r.write(p.own, |s| *s = value);
                p.own += 1;
                model.push_back(value);
                value = value.wrapping_add(1);
            }
            r.publish(&p);
        } else {
            let k = r.readable(&mut c, n);
            assert_eq!(k as usize, model.len().min(n as usize));
            for _ in 0..k {
                assert_eq!(Some(r.read(c.own, |v| *v)), model.pop_front());
                c.own += 1;
            }
            r.release(&c);
        }
        assert_eq!(r.len(), model.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, ops)) = data.split_first() else { return };
    let cap = 2usize << (shape % 5);
    if shape & 0x80 == 0 {
        // The wide slot layout (elements of a cache line or more) on one shape in two.
        if shape & 0x40 == 0 {
            mpmc::<u16>(cap, ops);
        } else {
            mpmc::<[u16; 32]>(cap, ops);
        }
    } else {
        spsc(cap / 2, ops);
    }
});
