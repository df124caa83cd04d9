//! The pool's algorithm on the heap: ownership through puts and gets, repair after deaths
//! at every step, and hostile descriptors and links (run under Miri too); and its loom
//! models.

#[cfg(shmkit_loom)]
mod loom_models;

#[cfg(not(shmkit_loom))]
use crate::heap::HeapPool;
#[cfg(not(shmkit_loom))]
use crate::pool::{Claim, Desc, Geometry, FREE, QUEUED};

#[cfg(not(shmkit_loom))]
const ME: u64 = 1 << 63 | 7;
#[cfg(not(shmkit_loom))]
const DEAD: u64 = 1 << 63 | 9;

#[cfg(not(shmkit_loom))]
fn geo() -> Geometry {
    Geometry { maxsize: 4, chunk_size: 64, chunks: 8 }
}

#[cfg(not(shmkit_loom))]
fn alive(w: u64) -> bool {
    w != DEAD
}

#[cfg(not(shmkit_loom))]
fn accounted(h: &HeapPool) -> (usize, usize, usize) {
    let o = h.owners();
    (
        o.iter().filter(|&&w| w == FREE).count(),
        o.iter().filter(|&&w| w == QUEUED).count(),
        o.iter().filter(|&&w| w != FREE && w != QUEUED).count(),
    )
}

#[cfg(not(shmkit_loom))]
#[test]
fn a_message_goes_round_and_its_chunks_come_back() {
    let h = HeapPool::new(geo());
    let p = h.pool();
    let msg: Vec<u8> = (0..150u8).collect();
    let k = p.geo.chunks_for(msg.len()).unwrap();
    assert_eq!(k, 3);
    let first = p.alloc(k, ME).unwrap();
    p.write(first, &msg);
    assert!(p.has_room());
    p.publish(Desc { first, len: msg.len() as u32, typed: false }, k, ME);
    assert_eq!((p.len(), p.free_chunks()), (1, 5));
    assert_eq!(accounted(&h), (5, 3, 0));
    let Claim::Taken(t) = p.claim(ME, &alive) else { panic!("a message was queued") };
    let mut out = vec![0; t.desc.len as usize];
    p.read(t.desc.first, &mut out);
    assert_eq!(out, msg);
    p.release(t.desc.first, t.chunks, ME);
    assert_eq!((p.len(), p.free_chunks()), (0, 8));
    assert_eq!(p.claim(ME, &alive), Claim::Empty);
}

#[cfg(not(shmkit_loom))]
#[test]
fn the_pool_and_the_ring_fill_up() {
    let h = HeapPool::new(geo());
    let p = h.pool();
    assert!(p.alloc(9, ME).is_none(), "more chunks than the pool has");
    let a = p.alloc(8, ME).unwrap();
    assert!(p.alloc(1, ME).is_none(), "no chunk left");
    p.release(a, 8, ME);
    for _ in 0..4 {
        let c = p.alloc(1, ME).unwrap();
        p.publish(Desc { first: c, len: 1, typed: false }, 1, ME);
    }
    assert!(!p.has_room() && p.is_full());
}

#[cfg(not(shmkit_loom))]
#[test]
fn repair_frees_what_dead_processes_held_and_keeps_every_queued_message() {
    // A dead producer with an unpublished chain, a dead consumer with a taken message, a
    // dead producer that marked its chain queued but never published it, and a live
    // holder: after repair, the queued messages and the live holder's chunks remain.
    let h = HeapPool::new(Geometry { maxsize: 8, chunk_size: 64, chunks: 16 });
    let p = h.pool();
    let queued = p.alloc(2, ME).unwrap();
    p.publish(Desc { first: queued, len: 100, typed: false }, 2, ME);
    assert!(p.alloc(3, DEAD).is_some(), "an unpublished chain of a producer that dies");
    let taken_by_dead = p.alloc(1, ME).unwrap();
    p.publish(Desc { first: taken_by_dead, len: 10, typed: false }, 1, ME);
    let live_held = p.alloc(2, ME).unwrap();
    // A consumer that dies holding the oldest message.
    let Claim::Taken(dead_took) = p.claim(DEAD, &alive) else { panic!() };
    assert_eq!(dead_took.desc.first, queued);
    // A producer that died between marking its chain queued and the tail store: its
    // publish ran but the commit point is taken back.
    let half = p.alloc(2, DEAD).unwrap();
    p.publish(Desc { first: half, len: 70, typed: false }, 2, DEAD);
    p.ctl.tail.fetch_sub(1, shmkit_core::loom::atomic::Ordering::Relaxed);
    p.repair(&alive);
    let (free, q, held) = accounted(&h);
    assert_eq!(q, 1, "the message still queued keeps its chunk");
    assert_eq!(held, 2, "the live holder keeps its chain");
    assert_eq!(free, 13);
    assert_eq!(p.free_chunks(), 13);
    let Claim::Taken(t) = p.claim(ME, &alive) else { panic!() };
    assert_eq!(t.desc.first, taken_by_dead);
    p.release(t.desc.first, t.chunks, ME);
    p.release(live_held, 2, ME);
    assert_eq!(p.free_chunks(), 16);
}

#[cfg(not(shmkit_loom))]
#[test]
fn hostile_descriptors_and_links_are_dropped_never_followed() {
    let h = HeapPool::new(geo());
    let p = h.pool();
    let c = p.alloc(2, ME).unwrap();
    p.publish(Desc { first: c, len: 100, typed: false }, 2, ME);
    // A peer points the chain into nowhere, then at itself.
    h.link(c as usize).store(1000, shmkit_core::loom::atomic::Ordering::Relaxed);
    assert_eq!(p.claim(ME, &alive), Claim::Dropped);
    assert_eq!(p.free_chunks(), 8, "the broken message's chunks went back");
    let c = p.alloc(2, ME).unwrap();
    p.publish(Desc { first: c, len: 100, typed: false }, 2, ME);
    h.link(c as usize).store(c, shmkit_core::loom::atomic::Ordering::Relaxed);
    assert_eq!(p.claim(ME, &alive), Claim::Dropped);
    // A forged length larger than the pool, and counters far apart.
    let c = p.alloc(1, ME).unwrap();
    p.publish(Desc { first: c, len: 1, typed: false }, 1, ME);
    h.ring_word(2).store(u64::MAX >> 1, shmkit_core::loom::atomic::Ordering::Relaxed);
    assert_eq!(p.claim(ME, &alive), Claim::Dropped);
    p.ctl.tail.store(1 << 40, shmkit_core::loom::atomic::Ordering::Relaxed);
    assert_eq!(p.claim(ME, &alive), Claim::Dropped);
    assert_eq!(p.claim(ME, &alive), Claim::Empty);
    assert_eq!(p.free_chunks(), 8);
}

#[cfg(not(shmkit_loom))]
#[test]
fn ring_positions_keep_their_slots_across_the_counters_wrap() {
    // maxsize 3 on a ring of 4: positions u64::MAX and 0 must not share a slot (with
    // `pos % 3` they did, and the second publish overwrote the first's descriptor).
    let h = HeapPool::new(Geometry { maxsize: 3, chunk_size: 64, chunks: 4 });
    let p = h.pool();
    p.ctl.head.store(u64::MAX, shmkit_core::loom::atomic::Ordering::Relaxed);
    p.ctl.tail.store(u64::MAX, shmkit_core::loom::atomic::Ordering::Relaxed);
    let firsts: Vec<u32> = (0..3)
        .map(|i| {
            let c = p.alloc(1, ME).unwrap();
            p.write(c, &[i]);
            p.publish(Desc { first: c, len: 1, typed: false }, 1, ME);
            c
        })
        .collect();
    assert!(!p.has_room());
    for (i, first) in firsts.into_iter().enumerate() {
        let Claim::Taken(t) = p.claim(ME, &alive) else { panic!("message {i}") };
        assert_eq!(t.desc.first, first, "message {i} kept its descriptor");
        let mut b = [0];
        p.read(t.desc.first, &mut b);
        assert_eq!(b, [i as u8]);
        p.release(t.desc.first, 1, ME);
    }
    assert_eq!(p.claim(ME, &alive), Claim::Empty);
}

#[cfg(not(shmkit_loom))]
#[test]
fn a_stale_descriptor_brought_back_by_a_peer_never_takes_a_live_producers_chunks() {
    // A message is got and its chunks freed; a live producer takes the same chunks; a
    // hostile peer moves head back so the stale descriptor counts as queued again. The
    // repair must not hand the producer's chunks to the stale message (it used to: the
    // message was delivered twice and the producer's dropped).
    let h = HeapPool::new(geo());
    let p = h.pool();
    let first = p.alloc(2, ME).unwrap();
    p.publish(Desc { first, len: 100, typed: false }, 2, ME);
    let Claim::Taken(t) = p.claim(ME, &alive) else { panic!() };
    p.release(t.desc.first, t.chunks, ME);
    const PRODUCER: u64 = 1 << 63 | 11;
    p.ctl.cursor.store(first, shmkit_core::loom::atomic::Ordering::Relaxed);
    let again = p.alloc(2, PRODUCER).unwrap();
    assert_eq!(again, first, "the same chunks");
    p.ctl.head.fetch_sub(1, shmkit_core::loom::atomic::Ordering::Relaxed);
    p.repair(&alive);
    assert_eq!(accounted(&h).2, 2, "the live producer keeps its chunks");
    assert_eq!(p.claim(ME, &alive), Claim::Dropped, "the stale message is dropped, not delivered");
    p.publish(Desc { first: again, len: 100, typed: false }, 2, PRODUCER);
    let Claim::Taken(t) = p.claim(ME, &alive) else { panic!("the producer's message") };
    assert_eq!(t.desc.first, again);
    assert_eq!(p.claim(ME, &alive), Claim::Empty, "delivered once");
}

#[cfg(not(shmkit_loom))]
#[test]
fn pieces_never_yield_a_chunk_twice_whatever_the_links_say() {
    let h = HeapPool::new(geo());
    let p = h.pool();
    let first = p.alloc(3, ME).unwrap();
    assert_eq!(p.pieces(first, 150).count(), 3);
    // A peer points the second chunk back at the first: the walk stops there.
    let second = h.link(first as usize).load(shmkit_core::loom::atomic::Ordering::Relaxed);
    h.link(second as usize).store(first, shmkit_core::loom::atomic::Ordering::Relaxed);
    let seen: Vec<_> = p.pieces(first, 150).map(|(at, _)| at).collect();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1]);
    h.link(second as usize).store(second, shmkit_core::loom::atomic::Ordering::Relaxed);
    assert_eq!(p.pieces(first, 150).count(), 2);
}
