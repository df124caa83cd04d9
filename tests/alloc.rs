//! The put/get hot paths make no heap allocation: a counting allocator watches this
//! thread while items go through a Queue, a JoinableQueue and an SPSC pair.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use shmkit::{spsc, JoinableQueue, Queue};

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the counting touches
// only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    WATCHING.with(|w| w.set(true));
    f();
    WATCHING.with(|w| w.set(false));
    COUNT.with(Cell::get)
}

#[test]
fn put_and_get_make_no_heap_allocations() {
    let q = Queue::<u64>::anonymous(64).unwrap();
    let j = JoinableQueue::<u64>::anonymous(64).unwrap();
    let (tx, rx) = spsc::channel::<u64>(64).unwrap();
    // Warm up: the first calls register roles (once per handle).
    q.put(0).unwrap();
    q.get().unwrap();
    j.put(0).unwrap();
    j.get().unwrap();
    j.task_done().unwrap();
    tx.put(0).unwrap();
    rx.get().unwrap();
    let mut buf = [0u64; 16];
    let n = allocations(|| {
        for i in 0..10_000u64 {
            q.put(i).unwrap();
            q.try_put(i).unwrap();
            assert_eq!(q.get().unwrap(), i);
            assert_eq!(q.try_get().unwrap(), i);
            q.put_with(|s| *s = i).unwrap();
            assert_eq!(q.get_with(|v| *v).unwrap(), i);
            j.put(i).unwrap();
            j.get().unwrap();
            j.task_done().unwrap();
            tx.put(i).unwrap();
            assert_eq!(rx.get().unwrap(), i);
            tx.put_slice(&[i; 16]).unwrap();
            assert_eq!(rx.get_slice(&mut buf).unwrap(), 16);
        }
    });
    assert_eq!(n, 0, "heap allocations on the hot path");
}

#[test]
fn message_queue_loans_in_place_reads_and_byte_copies_make_no_heap_allocations() {
    use shmkit::MessageQueue;
    let q = MessageQueue::anonymous_with(8, &shmkit::MessageQueueOptions::new().pool_bytes(1 << 20)).unwrap();
    let mut buf = vec![0u8; 100_000];
    // Warm up: registration (once per handle).
    q.put_bytes(b"warm").unwrap();
    q.get_bytes_into(&mut buf).unwrap();
    let n = allocations(|| {
        for round in 0..100u32 {
            let mut loan = q.loan(10_000 + round as usize).unwrap();
            for piece in loan.pieces_mut() {
                piece.fill(round as u8);
            }
            loan.send().unwrap();
            let ok = q.get_with(|m| m.pieces().all(|p| p.iter().all(|&b| b == round as u8))).unwrap();
            assert!(ok);
            q.put_bytes(&buf[..64]).unwrap();
            assert_eq!(q.get_bytes_into(&mut buf).unwrap(), 64);
        }
    });
    assert_eq!(n, 0, "loan/send/get_with and put_bytes/get_bytes_into allocated");
}
