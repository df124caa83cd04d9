//! The framing over heap rings: messages of every size through a small ring, hostile
//! rings, and loom models of the byte ring.

#[cfg(not(shmkit_loom))]
mod heap {
    use shmkit_queue::heap::HeapLamport;

    use crate::error::RecvError;
    use crate::heap::{HeapEnd, Shared};
    use crate::stream::{self, ByteRing};

    fn pair(cap: usize) -> (HeapEnd, HeapEnd) {
        let ring = Shared::new(HeapLamport::<u8>::new(cap));
        (HeapEnd::sender(ring.clone(), false), HeapEnd::receiver(ring, false))
    }

    #[test]
    fn messages_that_fit_arrive_in_order() {
        let (tx, rx) = pair(256);
        for len in [0usize, 1, 7, 8, 9, 100] {
            let msg: Vec<u8> = (0..len as u8).collect();
            stream::send(&tx, 0, &msg).unwrap();
            assert_eq!(stream::recv_bytes(&rx, 1 << 20).unwrap(), msg);
        }
        // Nothing left: an impatient receiver reports the end.
        assert_eq!(stream::recv_bytes(&rx, 1 << 20), Err(RecvError::Disconnected));
    }

    #[test]
    fn a_short_buffer_or_a_low_limit_leaves_the_message() {
        let (tx, rx) = pair(64);
        stream::send(&tx, 0, &[9; 20]).unwrap();
        assert_eq!(
            stream::recv_bytes_into(&rx, 100, &mut [0; 19]),
            Err(RecvError::BufferTooShort { needed: 20 })
        );
        assert_eq!(stream::recv_bytes(&rx, 10), Err(RecvError::TooLarge { len: 20, max: 10 }));
        let mut buf = [0; 20];
        assert_eq!(stream::recv_bytes_into(&rx, 100, &mut buf).unwrap(), 20);
        assert_eq!(buf, [9; 20]);
    }

    #[test]
    fn hostile_indices_and_headers_give_errors_not_panics() {
        let ring = Shared::new(HeapLamport::<u8>::new(64));
        // A forged header claiming 4 GiB - 1 bytes, and a tail far ahead of the head.
        for (i, b) in [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0].into_iter().enumerate() {
            // SAFETY: no other end touches the ring yet.
            ring.slots[i].with_mut(|p| unsafe { *p = b });
        }
        ring.ctl.tail.0.store(u64::MAX - 3, shmkit_core::loom::atomic::Ordering::Relaxed);
        let rx = HeapEnd::receiver(ring.clone(), false);
        assert_eq!(rx.capacity(), 64);
        assert_eq!(
            stream::recv_bytes(&rx, 1 << 20),
            Err(RecvError::TooLarge { len: u32::MAX as usize, max: 1 << 20 })
        );
        // A plausible length whose bytes never come: the end of the ring, not a hang.
        // SAFETY: as above.
        ring.slots[2].with_mut(|p| unsafe { *p = 0 });
        // SAFETY: as above.
        ring.slots[3].with_mut(|p| unsafe { *p = 0 });
        ring.ctl.tail.0.store(16, shmkit_core::loom::atomic::Ordering::Relaxed);
        let rx = HeapEnd::receiver(ring, false);
        assert_eq!(stream::recv_bytes(&rx, 1 << 20), Err(RecvError::Disconnected));
    }
}

#[cfg(shmkit_loom)]
mod loom_models {
    use loom::thread;
    use shmkit_queue::heap::HeapLamport;

    use crate::heap::{HeapEnd, Shared};
    use crate::stream;

    /// Two messages, one larger than the 16-byte ring, stream from one thread to another
    /// and arrive whole and in order; then the sender closes and the receiver sees it.
    #[test]
    fn loom_byte_ring_streams_messages_larger_than_the_ring() {
        loom::model(|| {
            let ring = Shared::new(HeapLamport::<u8>::new(16));
            let tx = HeapEnd::sender(ring.clone(), true);
            let rx = HeapEnd::receiver(ring, true);
            let sender = thread::spawn(move || {
                stream::send(&tx, 0, &[1, 2, 3]).unwrap();
                stream::send(&tx, 0, &(10..30).collect::<Vec<u8>>()).unwrap();
                tx.close();
            });
            assert_eq!(stream::recv_bytes(&rx, 64).unwrap(), [1, 2, 3]);
            assert_eq!(stream::recv_bytes(&rx, 64).unwrap(), (10..30).collect::<Vec<u8>>());
            assert!(stream::recv_bytes(&rx, 64).is_err());
            sender.join().unwrap();
        });
    }
}
