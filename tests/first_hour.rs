//! The first hour of a new user: the everyday programs a newcomer writes, with nothing but
//! `shmkit::` paths, the README and the docs. Each is a real program shape: processes
//! started separately, `Process` and `Pool` from the facade, the user's own struct.

mod common;

use std::process::Command;
use std::time::Duration;

use shmkit::{Array, Pipe, Pool, Process, Queue, QueueOptions, RecvError, Value};

/// What a trading newcomer puts in a queue first: their own struct.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, shmkit::Pod, shmkit::Zeroable)]
struct Tick {
    seq: u64,
    price: f64,
    side: u8,
    _pad: [u8; 7],
}

const TICKS: u64 = 1000;

/// Program 1, the consumer: started as a program of its own (this test binary again), it
/// opens the producer's queue by name, waiting for it to appear.
#[test]
#[ignore = "the consumer program of a_named_queue_of_my_struct_between_two_programs; runs when that test starts it"]
fn first_hour_consumer_program() {
    let Ok(name) = std::env::var("FIRST_HOUR_QUEUE") else { return };
    let q = Queue::<Tick>::open_timeout(&name, common::LIMIT).expect("the producer's queue");
    for seq in 0..TICKS {
        let tick = q.get_timeout(common::LIMIT).expect("a tick");
        assert_eq!(tick.seq, seq, "ticks arrive in order");
        assert_eq!(tick.price, 100.0 + seq as f64 / 100.0);
    }
}

#[test]
fn a_named_queue_of_my_struct_between_two_programs_started_in_either_order() {
    for consumer_first in [true, false] {
        let name = common::unique_name("first-hour-ticks");
        let start_consumer = || {
            Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", "first_hour_consumer_program", "--test-threads=1", "-q"])
                .env("FIRST_HOUR_QUEUE", &name)
                .spawn()
                .expect("start the consumer program")
        };
        let mut consumer = consumer_first.then(start_consumer);
        if consumer_first {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Removed when this handle drops, whatever happens below.
        let q = Queue::<Tick>::create_with(&name, 64, &QueueOptions::new().unlink_on_drop(true)).unwrap();
        let mut consumer = consumer.take().unwrap_or_else(start_consumer);
        for seq in 0..TICKS {
            let tick = Tick { seq, price: 100.0 + seq as f64 / 100.0, side: b'B', _pad: [0; 7] };
            q.put_timeout(tick, common::LIMIT).unwrap();
        }
        let status = consumer.wait().unwrap();
        assert!(status.success(), "the consumer program failed: {status}");
        drop(q);
        assert!(!shmkit::segment::exists(&name).unwrap(), "the name is gone with the creator's handle");
    }
}

#[test]
fn four_processes_count_on_one_value_with_the_lock_and_with_fetch_add() {
    // Python's `with v.get_lock(): v.value += 1` and its lock-free counterpart.
    let locked = Value::<u64>::anonymous(0).unwrap();
    let atomic = Value::<u64>::anonymous(0).unwrap();
    let mut ps: Vec<Process> = (0..4)
        .map(|_| {
            let (locked, atomic) = (locked.try_clone().unwrap(), atomic.try_clone().unwrap());
            Process::new(move || {
                for _ in 0..1000 {
                    locked.get_lock().unwrap().update(|v| v + 1);
                    atomic.fetch_add(1);
                }
            })
        })
        .collect();
    for p in &mut ps {
        p.start().unwrap();
    }
    for p in &mut ps {
        assert_eq!(p.join().unwrap(), 0);
    }
    assert_eq!(locked.load(), 4000);
    assert_eq!(atomic.load(), 4000);
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Job {
    Resize { id: u32, width: u32 },
    Stop,
}

#[test]
fn a_typed_duplex_pipe_ends_with_eof_when_the_child_is_done() {
    let (parent, child) = Pipe::new().unwrap();
    let mut worker = Process::new(move || {
        // Answers every job with its id, until told to stop; its end then drops.
        while let Ok(Job::Resize { id, width }) = child.recv::<Job>() {
            child.send(&(id, width * 2)).unwrap();
        }
    });
    worker.start().unwrap();
    for id in 0..10 {
        parent.send(&Job::Resize { id, width: 100 + id }).unwrap();
        assert_eq!(parent.recv::<(u32, u32)>().unwrap(), (id, 200 + 2 * id));
    }
    parent.send(&Job::Stop).unwrap();
    // EOF: the child's end is gone, and the pipe says so instead of waiting.
    assert_eq!(parent.recv::<(u32, u32)>(), Err(RecvError::Disconnected));
    assert_eq!(worker.join().unwrap(), 0);
}

/// A pool task: scales its chunk of the shared array (opened by name) in place.
fn scale_chunk((name, start, end): (String, usize, usize)) -> f64 {
    let array = Array::<f32>::open(&name).expect("the shared array");
    let mut sum = 0.0;
    array
        .update_range(start..end, |chunk| {
            for x in chunk {
                *x *= 2.0;
                sum += f64::from(*x);
            }
        })
        .expect("update my chunk");
    sum
}

#[test]
fn a_pool_scales_a_shared_array_chunk_by_chunk() {
    const LEN: usize = 1 << 16;
    let name = common::unique_name("first-hour-array");
    let values: Vec<f32> = (0..LEN).map(|i| i as f32).collect();
    let array =
        Array::create_with(&name, &values, &shmkit::CreateOptions::new().unlink_on_drop(true)).unwrap();
    let pool = Pool::new(4).unwrap();
    let chunks: Vec<_> = (0..8).map(|c| (name.clone(), c * LEN / 8, (c + 1) * LEN / 8)).collect();
    let sums = pool.map(scale_chunk, chunks).unwrap();
    let total: f64 = sums.iter().sum();
    let expected = (LEN * (LEN - 1)) as f64;
    assert_eq!(total, expected);
    let mut out = vec![0.0; LEN];
    array.read_range(0..LEN, &mut out).unwrap();
    assert!(out.iter().enumerate().all(|(i, &x)| x == 2.0 * i as f32));
}
