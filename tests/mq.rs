//! The message queue across real processes: messages of every size between producers and
//! consumers, kills at random points with the pool's chunks counted after each, exact
//! maxsize, typed values, and a queue opened by name in a pool task.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{fork, Exit, NameGuard, Rng, Shared, LIMIT};
use shmkit::{
    ByName, Deadline, MessageError, MessageQueue, MessageQueueOptions, Pool, Queue, SimpleQueue, Value,
};

/// A message from `producer`, number `seq`, of `len` bytes (at least 16): producer, seq,
/// then bytes derived from both, so a consumer can check every byte.
fn message(producer: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&u64::from(producer).to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend((16..len).map(|i| (i as u64 ^ seq ^ u64::from(producer) << 5) as u8));
    m
}

/// The producer and seq of `m`, if every byte is what `message` wrote.
fn check(m: &[u8]) -> Option<(u32, u64)> {
    let producer = u32::try_from(u64::from_le_bytes(m.get(..8)?.try_into().ok()?)).ok()?;
    let seq = u64::from_le_bytes(m.get(8..16)?.try_into().ok()?);
    (message(producer, seq, m.len()) == m).then_some((producer, seq))
}

/// A length from 16 B to 1 MiB, spread over the orders of magnitude.
fn size(rng: &mut Rng) -> usize {
    16 + (rng.next() % (1 << rng.range(0, 20))) as usize
}

#[test]
fn two_producers_two_consumers_every_message_whole_and_in_order() {
    const PER_PRODUCER: u64 = 10_000;
    let q = MessageQueue::anonymous_with(64, &MessageQueueOptions::new().pool_bytes(8 << 20)).unwrap();
    let shared = Shared::new();
    let (q, shared) = (&q, &shared);
    let producers: Vec<_> = (0..2u32)
        .map(|p| {
            fork(move || {
                let mut rng = Rng(u64::from(p) * 7919 + 1);
                for seq in 0..PER_PRODUCER {
                    q.put_bytes_timeout(&message(p, seq, size(&mut rng)), LIMIT).unwrap();
                }
                0
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2usize)
        .map(|c| {
            fork(move || {
                let mut last = [None::<u64>; 2];
                loop {
                    match q.get_bytes_timeout(LIMIT) {
                        Ok(m) => {
                            let Some((p, seq)) = check(&m) else { return 2 };
                            // Each producer's messages come out in the order it put them.
                            if last[p as usize].is_some_and(|l| seq <= l) {
                                return 3;
                            }
                            last[p as usize] = Some(seq);
                            shared.word(c).fetch_add(1, Ordering::Relaxed);
                            shared.word(2 + c).fetch_add(seq, Ordering::Relaxed);
                        }
                        Err(MessageError::Closed) => return 0,
                        Err(_) => return 4,
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join_ok(LIMIT * 3);
    }
    q.close();
    for c in consumers {
        c.join_ok(LIMIT);
    }
    let got = shared.word(0).load(Ordering::Relaxed) + shared.word(1).load(Ordering::Relaxed);
    let sum = shared.word(2).load(Ordering::Relaxed) + shared.word(3).load(Ordering::Relaxed);
    assert_eq!(got, 2 * PER_PRODUCER, "every message arrived once");
    assert_eq!(sum, PER_PRODUCER * (PER_PRODUCER - 1), "none twice, none lost");
    let s = q.pool_state();
    assert_eq!((s.free, s.queued, s.held, s.dead), (s.chunks, 0, 0, 0));
}

#[test]
fn kill_loop_every_chunk_is_accounted_for_after_each_kill() {
    // 500 processes, each a producer or a consumer busy with messages of every size,
    // SIGKILLed 0-3 ms in: half-built chains, messages half read, the lock held. After
    // each kill and a repair, every chunk is free or in a queued message; every queued
    // message is whole; the queue keeps working.
    let q =
        MessageQueue::anonymous_with(16, &MessageQueueOptions::new().pool_bytes(2 << 20).chunk_size(4096))
            .unwrap();
    let mut rng = Rng::new();
    let (mut left_behind, mut freed) = (0, 0);
    for round in 0..500u32 {
        let producing = round % 2 == 0;
        let seed = rng.next();
        let q2 = &q;
        let child = fork(move || {
            let mut rng = Rng(seed | 1);
            for seq in 0.. {
                let r = if producing {
                    q2.put_bytes_timeout(&message(round, seq, size(&mut rng)), Duration::from_millis(50))
                } else {
                    q2.get_bytes_timeout(Duration::from_millis(50)).map(drop)
                };
                if r.is_err() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            0
        });
        std::thread::sleep(Duration::from_micros(rng.range(0, 3000)));
        child.kill();
        assert_eq!(child.wait(LIMIT), Exit::Signal(libc::SIGKILL));
        left_behind += usize::from(q.pool_state().dead > 0);
        freed += q.repair().unwrap();
        let s = q.pool_state();
        assert_eq!((s.held, s.dead), (0, 0), "round {round}: {s:?}");
        assert_eq!(s.free + s.queued, s.chunks, "round {round}: {s:?}");
        // Every queued message is whole; now and then, drain them all.
        if round % 10 == 9 {
            while let Ok(m) = q.try_get_bytes() {
                assert!(check(&m).is_some(), "round {round}: a torn message of {} bytes", m.len());
            }
            assert_eq!(q.pool_state().free, s.chunks, "round {round}: drained, every chunk is free");
        }
    }
    eprintln!("kill loop: 500 kills, {left_behind} left chunks behind, {freed} chunks given back by repair");
    q.put_bytes(b"still working").unwrap();
    while let Ok(m) = q.try_get_bytes() {
        if m == b"still working" {
            return;
        }
    }
    panic!("the queue stopped working");
}

#[test]
fn maxsize_means_what_python_means() {
    let q = MessageQueue::anonymous(10).unwrap();
    for i in 0..10u8 {
        q.try_put_bytes(&[i]).unwrap();
    }
    assert!(q.full());
    assert_eq!(q.qsize(), 10);
    assert_eq!(q.try_put_bytes(b"eleven"), Err(MessageError::Timeout));
    let t = Duration::from_millis(30);
    let started = std::time::Instant::now();
    assert_eq!(q.put_bytes_timeout(b"eleven", t), Err(MessageError::Timeout));
    assert!(started.elapsed() >= t);
    assert_eq!(q.get_bytes().unwrap(), [0]);
    q.try_put_bytes(b"eleven").unwrap();
    // A message larger than the pool could ever hold is refused at once.
    let small = MessageQueue::anonymous_with(4, &MessageQueueOptions::new().pool_bytes(4096)).unwrap();
    assert!(matches!(small.put_bytes(&[0; 5000]), Err(MessageError::TooLarge { len: 5000, max: 4096 })));
    // A full pool makes put wait like a full queue does.
    small.put_bytes(&[1; 4000]).unwrap();
    assert_eq!(small.put_bytes_timeout(&[2; 200], t), Err(MessageError::Timeout));
    // Closed: put fails, get drains, then fails.
    small.close();
    assert_eq!(small.try_put_bytes(b"x"), Err(MessageError::Closed));
    assert_eq!(small.get_bytes().unwrap().len(), 4000);
    assert_eq!(small.get_bytes(), Err(MessageError::Closed));
}

#[test]
fn typed_values_cross_processes_as_python_puts_them() {
    use std::collections::BTreeMap;
    let q = SimpleQueue::new().unwrap();
    let child = fork(|| {
        // Python: q.put('a'); q.put((1, 'two')); q.put([1, 2, 3]); q.put({'k': 1})
        q.put(&"a").unwrap();
        q.put(&(1, "two")).unwrap();
        q.put(&[1, 2, 3]).unwrap();
        q.put(&BTreeMap::from([("k".to_owned(), 1)])).unwrap();
        q.put_bytes(b"raw").unwrap();
        0
    });
    assert_eq!(q.get::<String>().unwrap(), "a");
    assert_eq!(q.get::<(i32, String)>().unwrap(), (1, "two".to_owned()));
    assert_eq!(q.get::<[i32; 3]>().unwrap(), [1, 2, 3]);
    assert_eq!(q.get::<BTreeMap<String, i32>>().unwrap(), BTreeMap::from([("k".to_owned(), 1)]));
    // Raw bytes asked for as a value: refused, naming both.
    let err = q.get::<String>().unwrap_err();
    assert!(err.to_string().contains("asked for a String, but the message was sent as raw bytes"), "{err}");
    assert!(q.empty());
    child.join_ok(LIMIT);
}

/// A relay passes messages on unchanged without knowing their types: what
/// `get_message_deadline` takes (bytes, typed or not) goes into another queue with
/// `put_message_deadline`, and the reader there gets the value back as its type, and
/// bytes as bytes.
#[test]
fn a_relay_keeps_typed_values_typed() {
    let (from, to) = (MessageQueue::anonymous(8).unwrap(), MessageQueue::anonymous(8).unwrap());
    from.put(&(7u32, "seven".to_owned())).unwrap();
    from.put_bytes(b"raw").unwrap();
    let (bytes, typed) = from.get_message_deadline(Deadline::never()).unwrap();
    assert!(typed);
    to.put_message_deadline(&bytes, typed, Deadline::never()).unwrap();
    assert_eq!(from.get_message_deadline(Deadline::never()).unwrap(), (b"raw".to_vec(), false));
    to.put_message_deadline(b"raw", false, Deadline::never()).unwrap();
    assert_eq!(to.get::<(u32, String)>().unwrap(), (7, "seven".to_owned()));
    assert_eq!(to.get_bytes().unwrap(), b"raw");
    // Bytes that claim to be typed but are no typed value's encoding: refused by `get`.
    to.put_message_deadline(b"\xff\xff", true, Deadline::never()).unwrap();
    assert!(matches!(to.get::<u32>(), Err(MessageError::Typed(_))));
}

fn put_hello(q: ByName<MessageQueue>) -> bool {
    q.open().is_ok_and(|q| q.put(&format!("hello from {}", std::process::id())).is_ok())
}

fn count_in(counter: ByName<Value<u64>>) -> Result<u64, String> {
    Ok(counter.open().map_err(|e| e.to_string())?.fetch_add(1))
}

fn open_as_u32s(q: ByName<Queue<u32>>) -> String {
    q.open().map_or_else(|e| e.to_string(), |_| "opened".to_owned())
}

#[test]
fn handles_cross_into_pool_tasks_by_name() {
    // Python's Manager().Queue() shared with a Pool, without a manager process: the
    // handle travels as its name and is opened again in the worker, kind and type checked.
    let g = NameGuard::new("mq-pool");
    let q = MessageQueue::create(g.name(), 8).unwrap();
    let pool = Pool::new(2).unwrap();
    assert!(pool.apply(put_hello, ByName::of(&q).unwrap()).unwrap());
    let got: String = q.get_timeout(LIMIT).unwrap();
    assert!(got.starts_with("hello from "), "{got}");
    let gv = NameGuard::new("mq-pool-value");
    let counter = Value::<u64>::create(gv.name(), 0).unwrap();
    let by_name = ByName::of(&counter).unwrap();
    let results = pool.map(count_in, vec![by_name.clone(); 20]).unwrap();
    assert_eq!(results.len(), 20);
    assert_eq!(counter.load(), 20);
    // The element type is checked on the other side.
    let gq = NameGuard::new("mq-pool-queue");
    let u64s = Queue::<u64>::create(gq.name(), 4).unwrap();
    let as_u32s: ByName<Queue<u32>> = ByName::new(gq.name());
    let err = pool.apply(open_as_u32s, as_u32s).unwrap();
    assert!(err.contains("u64") && err.contains("u32"), "{err}");
    drop(u64s);
    // An anonymous object has no name to pass.
    assert!(ByName::of(&MessageQueue::anonymous(1).unwrap()).is_none());
}

#[test]
fn a_four_mib_frame_is_written_in_place_and_read_in_place_across_processes() {
    const FRAME: usize = 4 << 20;
    let opts = MessageQueueOptions::new().pool_bytes(16 << 20).chunk_size(1 << 20);
    let q = MessageQueue::anonymous_with(4, &opts).unwrap();
    let q2 = &q;
    let camera = fork(move || {
        for frame in 0..3u8 {
            let mut loan = q2.loan(FRAME).unwrap();
            let mut i = 0usize;
            for piece in loan.pieces_mut() {
                for b in piece {
                    *b = (i as u8) ^ frame;
                    i += 1;
                }
            }
            if i != FRAME {
                return 2;
            }
            loan.send().unwrap();
        }
        // A loan dropped unsent gives its chunks back.
        drop(q2.loan(FRAME).unwrap());
        0
    });
    for frame in 0..3u8 {
        let ok = q
            .get_with(|m| {
                m.len() == FRAME && m.pieces().flatten().enumerate().all(|(i, &b)| b == (i as u8) ^ frame)
            })
            .unwrap();
        assert!(ok, "frame {frame}");
    }
    camera.join_ok(LIMIT);
    let s = q.pool_state();
    assert_eq!(s.free, s.chunks);
    // A process killed holding a loan: the chunks come back with a repair.
    let q3 = &q;
    let dies = fork(move || {
        let _loan = q3.loan(FRAME).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    while q.pool_state().held == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    dies.kill();
    let _ = dies.wait(LIMIT);
    assert_eq!(q.repair().unwrap(), 4);
    assert_eq!(q.pool_state().free, q.pool_state().chunks);
}

#[test]
fn join_waits_until_every_message_put_is_marked_done_across_processes() {
    // Python's JoinableQueue: two consumers get and mark done 200 jobs of every size;
    // the producer's join returns once the last is done, not before.
    let q = MessageQueue::anonymous(16).unwrap();
    assert_eq!(q.try_join(), Ok(()));
    assert_eq!(q.task_done(), Err(MessageError::TooManyTaskDone));
    let t = Duration::from_millis(30);
    q.put(&"job").unwrap();
    let started = std::time::Instant::now();
    assert_eq!(q.join_timeout(t), Err(MessageError::Timeout));
    assert!(started.elapsed() >= t);
    assert_eq!(q.get::<String>().unwrap(), "job");
    assert_eq!(q.unfinished(), 1, "got, not yet done");
    q.task_done().unwrap();
    assert_eq!(q.try_join(), Ok(()));
    let q2 = &q;
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            fork(move || loop {
                match q2.get_bytes_timeout(LIMIT) {
                    Ok(m) => {
                        std::thread::sleep(Duration::from_micros(m.len() as u64 % 500));
                        if q2.task_done().is_err() {
                            return 2;
                        }
                    }
                    Err(MessageError::Closed) => return 0,
                    Err(_) => return 3,
                }
            })
        })
        .collect();
    let mut rng = Rng::new();
    for seq in 0..200 {
        q.put_bytes(&message(0, seq, size(&mut rng))).unwrap();
    }
    q.join_deadline(shmkit::Deadline::after(LIMIT)).unwrap();
    assert_eq!(q.unfinished(), 0);
    assert!(q.empty());
    q.close();
    for c in consumers {
        c.join_ok(LIMIT);
    }
}

#[test]
fn a_panic_in_get_with_gives_the_chunks_back() {
    let q = MessageQueue::anonymous(4).unwrap();
    q.put_bytes(&[1; 3000]).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = q.get_with(|_| panic!("the reader fails"));
    }));
    assert!(r.is_err());
    let s = q.pool_state();
    assert_eq!((s.free, s.held), (s.chunks, 0), "{s:?}");
    assert!(q.empty());
}
