//! Pipes across real processes: messages of every size both ways, a 64 MiB message
//! through a 64 KiB ring in both directions at once, EOF after close, drop and SIGKILL,
//! and bad input.

mod common;

use std::time::{Duration, Instant};

use common::{fork, watchdog, NameGuard, Shared, LIMIT};
use shmkit::{
    Connection, CreateError, Deadline, OpenError, Pipe, PipeOptions, Receiver, RecvError, SendError, Sender,
    WaitStrategy,
};

/// Message `i` of a sequence: its length varies around the frame and ring boundaries.
fn message(i: usize) -> Vec<u8> {
    let len = [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4095, 4096, 4097, 100_000][i % 13];
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

#[test]
fn named_duplex_pipe_carries_every_size_both_ways() {
    let g = NameGuard::new("pipe-duplex");
    let a = Connection::create_with(g.name(), &PipeOptions::new().capacity(4096)).unwrap();
    assert_eq!(a.capacity(), 4096);
    let name = g.name().to_string();
    let child = fork(move || {
        let b = Connection::open(&name).unwrap();
        for i in 0..200 {
            let m = b.recv_bytes().unwrap();
            assert_eq!(m, message(i), "message {i}");
            b.send_bytes(&m).unwrap();
        }
        0
    });
    for i in 0..200 {
        a.send_bytes(&message(i)).unwrap();
        assert_eq!(a.recv_bytes().unwrap(), message(i), "echo {i}");
    }
    child.join_ok(LIMIT);
    // The child's end is gone and everything it sent was received.
    assert_eq!(a.recv_bytes(), Err(RecvError::Disconnected));
    assert_eq!(a.send_bytes(b"anyone?"), Err(SendError::Disconnected));
}

/// FNV-1a over a byte stream.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn big(seed: u8) -> Vec<u8> {
    (0..64usize << 20).map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 16) as u8)).collect()
}

#[test]
fn sixty_four_mib_through_a_64_kib_ring_both_ways_at_once() {
    let (a, b) = Pipe::with_options(&PipeOptions::new().capacity(64 << 10)).unwrap();
    let child = fork(move || {
        let (tx, rx) = b.split();
        let sender = std::thread::spawn(move || tx.send_bytes(&big(3)).map(|_| tx));
        let got = rx.recv_bytes().unwrap();
        let _tx = sender.join().unwrap().unwrap();
        i32::from(fnv(0, &got) != fnv(0, &big(5)))
    });
    let (tx, rx) = a.split();
    let got = watchdog(LIMIT, move || {
        let sender = std::thread::spawn(move || tx.send_bytes(&big(5)).map(|_| tx));
        let got = rx.recv_bytes().unwrap();
        let _tx = sender.join().unwrap().unwrap();
        got
    });
    assert_eq!(got.len(), 64 << 20);
    assert_eq!(fnv(0, &got), fnv(0, &big(3)));
    child.join_ok(LIMIT);
}

#[test]
fn close_gives_eof_after_the_rest_is_received() {
    let (r, w) = Pipe::simplex().unwrap();
    let child = fork(move || {
        for i in 0..3 {
            w.send_bytes(&message(i + 8)).unwrap();
        }
        w.close();
        i32::from(w.send_bytes(b"late") != Err(SendError::Disconnected))
    });
    for i in 0..3 {
        assert_eq!(r.recv_bytes().unwrap(), message(i + 8));
    }
    assert_eq!(r.recv_bytes(), Err(RecvError::Disconnected));
    assert!(r.poll(Duration::ZERO).unwrap(), "an ended pipe polls ready, like Python's");
    child.join_ok(LIMIT);
}

#[test]
fn a_killed_peer_ends_blocked_receives_and_later_sends() {
    let (a, b) = Pipe::new().unwrap();
    let sh = Shared::new();
    let child = fork(|| {
        b.send_bytes(b"hello").unwrap();
        sh.signal(0, 1);
        std::thread::sleep(Duration::from_secs(60));
        0
    });
    sh.await_value(0, 1, LIMIT);
    assert_eq!(a.recv_bytes().unwrap(), b"hello");
    let pid = child.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: plain system call; the child is ours and not yet reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let (got, a) = watchdog(LIMIT, move || (a.recv_bytes(), a));
    killer.join().unwrap();
    assert_eq!(got, Err(RecvError::Disconnected));
    drop(child);
    // A send to the dead peer: the first may land in the ring, the next sees the death.
    let first = a.send_bytes(b"one");
    assert!(first.is_ok() || first == Err(SendError::Disconnected));
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(a.send_bytes(b"two"), Err(SendError::Disconnected));
}

#[test]
fn a_parked_receiver_is_woken_by_another_process() {
    let (mut r, w) = Pipe::simplex().unwrap();
    r.set_wait_strategy(WaitStrategy::Park);
    let child = fork(move || {
        std::thread::sleep(Duration::from_millis(50));
        w.send_bytes(b"wake up").unwrap();
        0
    });
    let start = Instant::now();
    let got = watchdog(LIMIT, move || r.recv_bytes());
    assert_eq!(got.unwrap(), b"wake up");
    assert!(start.elapsed() >= Duration::from_millis(50));
    child.join_ok(LIMIT);
}

#[test]
fn short_buffers_and_large_messages_lose_nothing() {
    let (mut a, b) = Pipe::new().unwrap();
    b.send_bytes(&[7; 100]).unwrap();
    let mut small = [0; 10];
    assert_eq!(a.recv_bytes_into(&mut small), Err(RecvError::BufferTooShort { needed: 100 }));
    a.set_max_recv(50);
    assert_eq!(a.recv_bytes(), Err(RecvError::TooLarge { len: 100, max: 50 }));
    a.set_max_recv(100);
    let mut buf = [0; 128];
    assert_eq!(a.recv_bytes_into(&mut buf).unwrap(), 100);
    assert_eq!(buf[..100], [7; 100]);
    assert!(!a.poll(Duration::ZERO).unwrap());
    let start = Instant::now();
    assert!(!a.poll(Duration::from_millis(30)).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(30));

    let (_r, mut w) = Pipe::simplex().unwrap();
    w.set_max_send(8);
    assert_eq!(w.send_bytes(&[0; 9]), Err(SendError::TooLarge { len: 9, max: 8 }));
    assert!(matches!(
        Pipe::with_options(&PipeOptions::new().capacity(0)),
        Err(CreateError::InvalidSize { .. })
    ));
}

#[test]
fn named_simplex_ends_are_exclusive_and_kinds_are_checked() {
    let g = NameGuard::new("pipe-simplex");
    let w = Sender::create(g.name()).unwrap();
    assert!(matches!(Connection::open(g.name()), Err(OpenError::KindMismatch { .. })));
    assert!(matches!(Sender::open(g.name()), Err(OpenError::EndTaken { .. })));
    let name = g.name().to_string();
    let child = fork(move || {
        let r = Receiver::open(&name).unwrap();
        i32::from(r.recv_bytes().unwrap() != b"by name")
    });
    w.send_bytes(b"by name").unwrap();
    child.join_ok(LIMIT);
    let g2 = NameGuard::new("pipe-duplex-kind");
    let _a = Connection::create(g2.name()).unwrap();
    assert!(matches!(Receiver::open(g2.name()), Err(OpenError::KindMismatch { .. })));
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Job {
    id: u32,
    name: String,
    args: Vec<Option<i64>>,
}

/// Python's `send(obj)`/`recv()`: typed values across processes, and a value of the
/// wrong type is an error that names the cause.
#[test]
fn typed_values_cross_processes() {
    let (parent, child_end) = Pipe::new().unwrap();
    let child = fork(move || {
        child_end.send(&(42u8, None::<u8>, "hello".to_string())).unwrap();
        let job: Job = child_end.recv().unwrap();
        child_end.send(&job).unwrap();
        0
    });
    let got: (u8, Option<u8>, String) = parent.recv().unwrap();
    assert_eq!(got, (42, None, "hello".to_string()));
    let job = Job { id: 7, name: "resize".into(), args: vec![Some(-1), None, Some(1 << 40)] };
    parent.send(&job).unwrap();
    assert_eq!(parent.recv::<Job>().unwrap(), job);
    child.join_ok(LIMIT);

    let (a, b) = Pipe::new().unwrap();
    a.send_bytes(&[0xff; 3]).unwrap();
    let err = b.recv::<String>().unwrap_err();
    assert_eq!(
        err,
        RecvError::TypeMismatch { expected: "String".into(), found: "raw bytes (send_bytes)".into() }
    );
    a.send(&"as bytes").unwrap();
    // The encoding, as Python's recv_bytes returns the pickle: the type's tag (version,
    // name length, name), then postcard's (a length, then the text).
    assert_eq!(b.recv_bytes().unwrap(), b"\x01\x06String\x08as bytes");
}

/// `recv_message_deadline`, for a relay: each message's bytes and whether it was sent
/// typed, across processes.
#[test]
fn a_relay_receives_each_message_with_its_kind() {
    let (rx, tx) = Pipe::simplex().unwrap();
    let child = fork(move || {
        tx.send(&7u64).unwrap();
        tx.send_bytes(b"raw").unwrap();
        0
    });
    let (bytes, typed) = rx.recv_message_deadline(Deadline::after(LIMIT)).unwrap();
    assert!(typed);
    assert_eq!(shmkit_core::typed::decode::<u64>(&bytes).unwrap(), 7);
    assert_eq!(rx.recv_message_deadline(Deadline::after(LIMIT)).unwrap(), (b"raw".to_vec(), false));
    child.join_ok(LIMIT);
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Quote {
    id: u32,
    bid: f64,
}

/// A value received as another type is refused with both names, both ways across two
/// processes (it used to decode into garbage: a `&str` came back as `Vec<u64>`
/// `[97, 32, ...]`); the message is consumed and the next one is received as usual.
#[test]
fn a_typed_receive_of_another_type_is_refused_with_both_names() {
    let (parent, child_end) = Pipe::new().unwrap();
    let child = fork(move || {
        child_end.send(&"a string").unwrap();
        child_end.send(&Job { id: 1, name: "job".into(), args: vec![] }).unwrap();
        // The other way: the parent sends a Quote, the child asks for a Job.
        match child_end.recv::<Job>() {
            Err(RecvError::TypeMismatch { expected, found }) if expected == "Job" && found == "Quote" => {}
            other => {
                eprintln!("child got {other:?}");
                return 1;
            }
        }
        i32::from(child_end.recv::<u64>() != Ok(7))
    });
    let err = parent.recv::<Vec<u64>>().unwrap_err();
    assert_eq!(err, RecvError::TypeMismatch { expected: "Vec<u64>".into(), found: "String".into() });
    assert!(err.to_string().contains("asked for a Vec<u64>, but the message was sent as String"), "{err}");
    let err = parent.recv::<Quote>().unwrap_err();
    assert_eq!(err, RecvError::TypeMismatch { expected: "Quote".into(), found: "Job".into() });
    parent.send(&Quote { id: 2, bid: 99.5 }).unwrap();
    parent.send(&7u64).unwrap();
    child.join_ok(LIMIT);
}

#[test]
fn timed_sends_and_receives_wait_their_time_and_never_write_half_a_message() {
    let (a, b) = Pipe::with_options(&PipeOptions::new().capacity(128)).unwrap();
    let t = Duration::from_millis(20);
    // Nothing sent yet: the receives time out.
    assert_eq!(b.try_recv_bytes(), Err(RecvError::Timeout));
    let started = Instant::now();
    assert_eq!(b.recv_bytes_timeout(t), Err(RecvError::Timeout));
    assert!(started.elapsed() >= t);
    assert_eq!(b.try_recv::<u32>(), Err(RecvError::Timeout));
    // One 100-byte message fills most of a 128-byte ring (a frame is 8 + 104 bytes).
    a.try_send_bytes(&[7; 100]).unwrap();
    assert_eq!(a.try_send_bytes(&[8; 100]), Err(SendError::Timeout));
    let started = Instant::now();
    assert_eq!(a.send_bytes_timeout(&[9; 100], t), Err(SendError::Timeout));
    assert!(started.elapsed() >= t);
    // The refused sends wrote nothing: exactly the first message is there.
    let mut buf = [0; 128];
    assert_eq!(b.try_recv_bytes_into(&mut buf), Ok(100));
    assert_eq!(buf[..100], [7; 100]);
    assert_eq!(b.try_recv_bytes(), Err(RecvError::Timeout));
    // With room, the timed forms deliver.
    a.send_deadline(&(1u32, 2u64), shmkit::Deadline::after(LIMIT)).unwrap();
    assert_eq!(b.recv_timeout::<(u32, u64)>(LIMIT), Ok((1, 2)));
    a.send_bytes_timeout(b"again", LIMIT).unwrap();
    assert!(b.poll_deadline(shmkit::Deadline::after(LIMIT)).unwrap());
    assert_eq!(b.recv_bytes_deadline(shmkit::Deadline::after(LIMIT)).unwrap(), b"again");
}

#[test]
fn a_timed_receive_is_woken_by_another_process() {
    let (a, b) = Pipe::new().unwrap();
    let child = fork(move || {
        std::thread::sleep(Duration::from_millis(50));
        a.send_bytes(b"late").map_or(1, |()| 0)
    });
    let got = watchdog(LIMIT, move || b.recv_bytes_timeout(LIMIT));
    assert_eq!(got.unwrap(), b"late");
    child.join_ok(LIMIT);
}

#[test]
fn a_peer_that_dies_before_touching_its_end_is_gone() {
    // A child given an end exits, or is killed, before it ever uses it: the survivor's
    // receive and send end with Disconnected instead of waiting for good.
    for kill in [false, true] {
        let (a, b) = Pipe::new().unwrap();
        let child = fork(move || {
            let _b = b;
            if kill {
                std::thread::sleep(Duration::from_secs(60));
            }
            0
        });
        if kill {
            child.kill();
        }
        let _ = child.wait(LIMIT);
        let a = watchdog(LIMIT, move || {
            assert_eq!(a.recv_bytes(), Err(RecvError::Disconnected));
            assert_eq!(a.send_bytes(&vec![7; 1 << 20]), Err(SendError::Disconnected));
            a
        });
        drop(a);
    }
}

#[test]
fn an_end_still_in_this_process_is_not_gone() {
    // The other end is with a thread of this process, not yet used: the receive waits
    // for it (it must not mistake "never used" for "gone").
    let (a, b) = Pipe::new().unwrap();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        b.send_bytes(b"later").unwrap();
        b
    });
    let got = watchdog(LIMIT, move || a.recv_bytes());
    assert_eq!(got.unwrap(), b"later");
    drop(sender.join().unwrap());
}

#[test]
fn a_live_child_that_has_not_used_its_end_yet_is_not_gone() {
    // Registered at the fork, the child counts as a peer before its first use: the
    // receive waits for it.
    let (a, b) = Pipe::new().unwrap();
    let child = fork(move || {
        std::thread::sleep(Duration::from_millis(200));
        b.send_bytes(b"slow start").map_or(1, |()| 0)
    });
    let got = watchdog(LIMIT, move || a.recv_bytes());
    assert_eq!(got.unwrap(), b"slow start");
    child.join_ok(LIMIT);
}

/// A message of 8 + 1..=1 MiB bytes: an FNV-1a checksum, then the payload.
fn checked_message(rng: &mut common::Rng) -> Vec<u8> {
    // Sizes spread over the orders of magnitude, up to 1 MiB.
    let len = 1 + (rng.next() % (1 << rng.range(0, 20))) as usize;
    let seed = rng.next();
    let mut m = vec![0u8; 8];
    m.extend((0..len).map(|j| (seed >> (j % 57)) as u8 ^ j as u8));
    let sum = fnv(FNV_START, &m[8..]);
    m[..8].copy_from_slice(&sum.to_le_bytes());
    m
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn checked(m: &[u8]) -> bool {
    m.len() > 8 && m[..8] == fnv(FNV_START, &m[8..]).to_le_bytes()
}

#[test]
fn pipe_kill_loop_every_survivor_gets_disconnected_and_no_message_is_torn() {
    // 300 children, each killed 0-40 ms after its fork: before it touched its end, while
    // it receives, while it sends; messages of 1 B to 1 MiB, checksummed, both ways. The
    // parent's send or receive must end with Disconnected, never wait out its timeout,
    // and every message that arrives must be whole.
    let timeout = Duration::from_secs(10);
    let mut rng = common::Rng::new();
    let mut latencies = Vec::new();
    for round in 0..300 {
        let (a, b) = Pipe::with_options(&PipeOptions::new().capacity(64 << 10)).unwrap();
        let seed = rng.next();
        let child = fork(move || {
            let mut rng = common::Rng(seed | 1);
            loop {
                let Ok(m) = b.recv_bytes() else { return 0 };
                if !checked(&m) {
                    return 2;
                }
                if b.send_bytes(&checked_message(&mut rng)).is_err() {
                    return 0;
                }
            }
        });
        let delay = Duration::from_millis(rng.range(0, 40));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            child.kill();
            (child, Instant::now())
        });
        let err = loop {
            if let Err(e) = a.send_bytes_timeout(&checked_message(&mut rng), timeout) {
                break format!("{e:?}");
            }
            match a.recv_bytes_timeout(timeout) {
                Ok(m) => assert!(checked(&m), "round {round}: a torn message of {} bytes", m.len()),
                Err(e) => break format!("{e:?}"),
            }
        };
        let failed_at = Instant::now();
        let (child, killed_at) = killer.join().unwrap();
        assert_eq!(child.wait(LIMIT), common::Exit::Signal(libc::SIGKILL), "round {round}");
        assert_eq!(err, "Disconnected", "round {round}: the survivor got {err}");
        latencies.push(failed_at.saturating_duration_since(killed_at));
    }
    latencies.sort();
    eprintln!(
        "pipe kill loop: kill to Disconnected p50 {:?}, max {:?} over {} kills",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        latencies.len()
    );
}

#[test]
fn a_child_forked_when_no_slot_is_free_still_counts_and_its_death_is_seen() {
    // One participant slot: the creator holds slot 0, so the child forked with the other
    // end finds no free slot and counts through the overflow byte. While it lives the
    // receive waits; once it is killed untouched, the receive ends Disconnected. (A
    // survivor in slot 0 used to count its own lock as another live participant.)
    let one_slot = PipeOptions::new().create_options(shmkit::CreateOptions::new().participants(1));
    let (a, b) = Pipe::with_options(&one_slot).unwrap();
    let child = fork(move || {
        let _b = b;
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let t = Duration::from_millis(100);
    let started = Instant::now();
    assert_eq!(a.recv_bytes_timeout(t), Err(RecvError::Timeout), "the live child is a peer");
    assert!(started.elapsed() >= t);
    child.kill();
    let _ = child.wait(LIMIT);
    let got = watchdog(LIMIT, move || a.recv_bytes());
    assert_eq!(got, Err(RecvError::Disconnected));
}
