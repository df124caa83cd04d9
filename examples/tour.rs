//! A tour of shmkit across real processes.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! The tour starts copies of itself as child processes (`tour child <name>`), which open
//! the parent's objects by name. Today it shows the foundation: named objects with a
//! checked header, kernel-backed liveness of every participant, and futex wake-ups that
//! cross processes; then the synchronisation primitives: a Lock whose holder is killed,
//! a Semaphore, an Event and a Barrier; then a Value and an Array; then a Queue with
//! several producers and consumers, and an SPSC pair; then a duplex Pipe; a message queue;
//! a Dict updated by four programs, and Listeners with an authkey, by socket path and by
//! shared-memory name; then processes and
//! pools. Each primitive adds its own stop as it lands.

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::segment::UnlinkGuard;
use shmkit::{
    connection, spsc, Array, Barrier, BoundedSemaphore, Condition, Connection, CreateOptions, Deadline, Dict,
    Event, EventCount, Expect, GetError, GetTimeoutError, JoinableQueue, Kind, Lock, LockError, MessageError,
    MessageQueue, MessageQueueOptions, Object, OpenError, OpenOptions, PipeOptions, Pool, PoolOptions,
    Process, Queue, RLock, RecvError, Role, Semaphore, Spec, StartMethod, TaskError, TryPutError, Value,
    WaitStrategy,
};

/// The body of the tour's object: an event count to wake on, a stage word, a message.
#[repr(C)]
struct Board {
    event: EventCount,
    stage: AtomicU32,
    _pad: u32,
    message_len: AtomicU64,
    message: UnsafeCell<[u8; 200]>,
}

const MESSAGE_MAX: usize = 200;

const STAGE_HELLO: u32 = 1;
const STAGE_BYE: u32 = 2;

fn board(obj: &Object) -> &Board {
    assert!(obj.body_len() >= std::mem::size_of::<Board>());
    // SAFETY: the body is large enough (checked above), aligned to 128 bytes, mapped while
    // `obj` lives; every shared field is an atomic or sits in an UnsafeCell, so other
    // processes writing it does not break the reference.
    unsafe { &*obj.body().cast::<Board>() }
}

fn board_spec() -> Spec {
    Spec::new(Kind::Bytes, std::mem::size_of::<Board>() as u64).slots(8)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Children started with the spawn start method run their function here and exit.
    shmkit::init();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("child") => child(&args[2]),
        Some("sleeper") => sleeper(&args[2]),
        Some("locker") => locker(&args[2]),
        Some("worker") => worker(&args[2]),
        Some("producer") => producer(&args[2]),
        Some("consumer") => consumer(&args[2]),
        Some("spsc") => spsc_producer(&args[2]),
        Some("echo") => pipe_echo(&args[2]),
        Some("jobs") => jobs_worker(&args[2]),
        Some("mq-producer") => mq_producer(&args[2]),
        Some("dict-writer") => dict_writer(&args[2]),
        Some("client") => socket_client(&args[2]),
        Some("shm-client") => shm_client(&args[2]),
        _ => {
            parent()?;
            sync_tour()?;
            queue_tour()?;
            pipe_tour()?;
            message_tour()?;
            manager_tour()?;
            family_tour()?;
            process_tour()?;
            println!("\ntour complete");
            Ok(())
        }
    }
}

fn spawn(role: &str, name: &str) -> std::io::Result<std::process::Child> {
    Command::new(std::env::current_exe()?).args([role, name]).stdin(Stdio::null()).spawn()
}

fn parent() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("tour-{}", std::process::id());
    println!("== shmkit tour (pid {}) ==\n", std::process::id());

    // 1. A named object: /dev/shm/shmkit.<name>, mode 0600, every page reserved.
    let obj = Object::create(&name, &board_spec(), &CreateOptions::new(), |_, _| {})?;
    let info = obj.info();
    println!(
        "1. created {:?}: {} bytes, kind {}, {} participant slots",
        name,
        info.total_size,
        Kind::describe(info.kind),
        info.slots
    );
    let listed = shmkit::segment::list()?;
    let mine = listed.iter().find(|l| l.name.as_str() == name).ok_or("object not listed")?;
    println!("   `ls` sees it: {} ({} bytes, mode {:o})", mine.name, mine.size, mine.mode);

    // 2. Opening checks the header: the wrong kind is a named error that says what to do.
    match Object::open(&name, &Expect::kind(Kind::Queue), &OpenOptions::new()) {
        Err(e @ OpenError::KindMismatch { .. }) => println!("2. opening it as a Queue is refused:\n   {e}"),
        other => return Err(format!("expected a kind mismatch, got {other:?}").into()),
    }

    // 3. Another process opens it by name and wakes us through a futex in shared memory.
    let b = board(&obj);
    let started = Instant::now();
    let mut child = spawn("child", &name)?;
    let hello = b.event.wait_until(WaitStrategy::default(), Deadline::after(Duration::from_secs(10)), || {
        (b.stage.load(Ordering::Acquire) == STAGE_HELLO).then(|| read_message(b))
    });
    let hello = hello.ok_or("the child never said hello")?;
    println!("3. child {} says {hello:?} ({:?} after it was started)", child.id(), started.elapsed());

    // 4. Both processes are participants; the kernel vouches that both are alive.
    print_participants(&obj, "4. participants while the child is attached");

    // 5. The child is told goodbye (a wake-up the other way) and exits cleanly.
    b.stage.store(STAGE_BYE, Ordering::Release);
    b.event.notify_all();
    let status = child.wait()?;
    println!("5. child exited ({status}); its slot is free again:");
    print_participants(&obj, "   participants");

    // 6. A participant that is SIGKILLed is seen dead as soon as it is reaped: no pid
    //    guessing, no timeout.
    let mut sleeper = spawn("sleeper", &name)?;
    let deadline = Deadline::after(Duration::from_secs(10));
    while obj.participants().iter().filter(|p| p.alive).count() < 2 {
        if deadline.has_passed() {
            return Err("the sleeper never attached".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    print_participants(&obj, &format!("6. sleeper {} attached", sleeper.id()));
    sleeper.kill()?;
    sleeper.wait()?;
    print_participants(&obj, "   after kill -9 and reap");

    // 7. Names are removed explicitly; the tour leaves nothing behind.
    obj.unlink()?;
    println!("7. unlinked; exists now: {}", shmkit::segment::exists(&name)?);
    Ok(())
}

fn sync_tour() -> Result<(), Box<dyn std::error::Error>> {
    let base = format!("tour-{}", std::process::id());
    let name = |what: &str| format!("{base}-{what}");
    let _cleanup: Vec<UnlinkGuard> = ["lock", "ready", "sem", "go", "meet", "count", "pids"]
        .iter()
        .map(|w| UnlinkGuard::new(&name(w)))
        .collect();
    let (lock_name, ready_name, sem_name, go_name) =
        (&name("lock"), &name("ready"), &name("sem"), &name("go"));
    let (meet_name, count_name, pids_name) = (&name("meet"), &name("count"), &name("pids"));

    // 8. A Lock whose holder is SIGKILLed: the next lock is told, once, and gets the guard.
    let lock = Lock::create(lock_name)?;
    let ready = Event::create(ready_name)?;
    let mut locker = spawn("locker", &base)?;
    if !ready.wait_timeout(Duration::from_secs(10)) {
        return Err("the locker never took the lock".into());
    }
    println!("\n8. child {} holds the Lock; try_lock says busy: {}", locker.id(), lock.try_lock().is_err());
    locker.kill()?;
    locker.wait()?;
    match lock.lock() {
        Err(LockError::OwnerDied(guard)) => {
            println!("   after kill -9: lock() reports OwnerDied and hands over the guard");
            drop(guard);
        }
        other => return Err(format!("expected OwnerDied, got {other:?}").into()),
    }
    println!("   the next lock() is clean: {}", lock.lock().is_ok());

    // 9. A Semaphore(2) lets two of four workers in at a time; 10. they start on an Event
    // and finish at a Barrier of five (the four and us).
    let sem = Semaphore::create(sem_name, 2)?;
    let go = Event::create(go_name)?;
    let meet = Barrier::create(meet_name, 5)?;
    let count = Value::<i64>::create(count_name, 0)?;
    let pids = Array::<u32>::create_zeroed(pids_name, 4)?;
    let workers = (0..4).map(|_| spawn("worker", &base)).collect::<Result<Vec<_>, _>>()?;
    println!("9. four workers wait for the Event; Semaphore(2) has value {}", sem.value());
    std::thread::sleep(Duration::from_millis(100));
    go.set();
    let index = meet.wait_timeout(Duration::from_secs(10))?;
    println!("10. all five met at the Barrier (we arrived as {index}); semaphore value {}", sem.value());
    for mut w in workers {
        w.wait()?;
    }

    // 11. A Value and an Array: each worker added 1000 under the Value's lock and wrote
    //     its pid into its own element; lock-free reads here.
    println!("11. Value counter = {} (4 workers x 1000 locked increments)", count.load());
    println!("    Array of worker pids = {:?}", pids.to_vec());
    Ok(())
}

fn locker(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let lock = Lock::open(&format!("{base}-lock"))?;
    let ready = Event::open(&format!("{base}-ready"))?;
    let _guard = lock.lock().map_err(|e| e.to_string())?;
    ready.set();
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

fn worker(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let sem = Semaphore::open(&format!("{base}-sem"))?;
    let go = Event::open(&format!("{base}-go"))?;
    let meet = Barrier::open(&format!("{base}-meet"))?;
    if !go.wait_timeout(Duration::from_secs(10)) {
        return Err("no go".into());
    }
    let count = Value::<i64>::open(&format!("{base}-count"))?;
    let pids = Array::<u32>::open(&format!("{base}-pids"))?;
    sem.acquire();
    println!("    worker {} is in (semaphore value now {})", std::process::id(), sem.value());
    std::thread::sleep(Duration::from_millis(50));
    sem.release()?;
    for _ in 0..1000 {
        count.get_lock().map_err(|e| e.to_string())?.update(|c| c + 1);
    }
    // The first free element is ours (compare_exchange from 0).
    for i in 0..pids.len() {
        if pids.compare_exchange(i, 0, std::process::id())? == Ok(0) {
            break;
        }
    }
    meet.wait_timeout(Duration::from_secs(10))?;
    Ok(())
}

/// Items each queue producer puts.
const PER_PRODUCER: u32 = 100_000;
/// Items the SPSC producer puts.
const SPSC_ITEMS: u64 = 1_000_000;

/// A queue item: the producer's pid above, its sequence number (from 1) below.
fn item(pid: u32, seq: u32) -> u64 {
    (u64::from(pid) << 32) | u64::from(seq)
}

/// One step of the SPSC stop's checksum, which depends on the order of the items.
fn checksum(h: u64, v: u64) -> u64 {
    h.wrapping_mul(0x0100_0000_01b3).wrapping_add(v)
}

fn queue_tour() -> Result<(), Box<dyn std::error::Error>> {
    let base = format!("tour-{}", std::process::id());
    let name = |what: &str| format!("{base}-{what}");
    let _cleanup: Vec<UnlinkGuard> =
        ["queue", "got", "sum", "spsc"].iter().map(|w| UnlinkGuard::new(&name(w))).collect();

    // 12. A Queue between three producers and three consumers, all separate processes.
    //     We count as a producer too (`declare_producer`), so the consumers stop on
    //     `close`, not when the first producers finish.
    let q = Queue::<u64>::create(&name("queue"), 1000)?;
    q.declare_producer();
    let got = Value::<u64>::create(&name("got"), 0)?;
    let sum = Value::<u64>::create(&name("sum"), 0)?;
    println!(
        "\n12. Queue(1000) holds {}: 3 producers put {PER_PRODUCER} items each, 3 consumers get",
        q.capacity()
    );
    let started = Instant::now();
    let consumers = (0..3).map(|_| spawn("consumer", &base)).collect::<Result<Vec<_>, _>>()?;
    let producers = (0..3).map(|_| spawn("producer", &base)).collect::<Result<Vec<_>, _>>()?;
    let mut expected = (0u64, 0u64);
    for mut p in producers {
        let pid = p.id();
        if !p.wait()?.success() {
            return Err(format!("producer {pid} failed").into());
        }
        for seq in 1..=PER_PRODUCER {
            expected = (expected.0 + 1, expected.1.wrapping_add(item(pid, seq)));
        }
    }
    println!("    producers exited; close(): the consumers drain what is left, then get Disconnected");
    q.close();
    for mut c in consumers {
        if !c.wait()?.success() {
            return Err(format!("consumer {} failed", c.id()).into());
        }
    }
    let elapsed = started.elapsed();
    let (n, s) = (got.load(), sum.load());
    if (n, s) != expected {
        return Err(format!("the consumers got {n} items (sum {s:#x}), expected {expected:?}").into());
    }
    println!(
        "    all {n} items accounted for (count and sum match) in {:.0} ms",
        elapsed.as_secs_f64() * 1e3
    );
    match q.try_put(0) {
        Err(TryPutError::Disconnected(_)) => println!("    a put after close is refused: Disconnected"),
        other => return Err(format!("expected Disconnected after close, got {other:?}").into()),
    }

    // 13. The SPSC pair: one producer process, us the consumer, one million u64.
    let rx = spsc::Consumer::<u64>::create(&name("spsc"), 4096)?;
    let mut tx = spawn("spsc", &base)?;
    let deadline = Deadline::after(Duration::from_secs(30));
    let first = rx.get_deadline(deadline)?;
    let started = Instant::now();
    let mut h = checksum(0, first);
    for _ in 1..SPSC_ITEMS {
        h = checksum(h, rx.get_deadline(deadline)?);
    }
    let elapsed = started.elapsed();
    let want = (0..SPSC_ITEMS).fold(0, checksum);
    if h != want {
        return Err(format!("SPSC checksum {h:#x}, expected {want:#x}").into());
    }
    println!(
        "13. SPSC pair: child {} sent {SPSC_ITEMS} u64 in {:.1} ms, {:.1} M items/s",
        tx.id(),
        elapsed.as_secs_f64() * 1e3,
        SPSC_ITEMS as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!("    checksum matches: every item arrived, in order");
    let status = tx.wait()?;
    match rx.get_timeout(Duration::from_secs(10)) {
        Err(GetTimeoutError::Disconnected) => {
            println!("    the producer exited ({status}): the next get reports Disconnected")
        }
        other => return Err(format!("expected Disconnected, got {other:?}").into()),
    }
    Ok(())
}

fn producer(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<u64>::open(&format!("{base}-queue"))?;
    let pid = std::process::id();
    // `put`, with a deadline so that consumers that failed cannot hang the tour.
    let deadline = Deadline::after(Duration::from_secs(30));
    for seq in 1..=PER_PRODUCER {
        q.put_deadline(item(pid, seq), deadline)?;
    }
    Ok(())
}

fn consumer(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<u64>::open(&format!("{base}-queue"))?;
    let got = Value::<u64>::open(&format!("{base}-got"))?;
    let sum = Value::<u64>::open(&format!("{base}-sum"))?;
    let (mut n, mut s) = (0u64, 0u64);
    // Each producer's items reach each consumer in the order they were put.
    let mut last: HashMap<u32, u32> = HashMap::new();
    loop {
        match q.get() {
            Ok(v) => {
                let (pid, seq) = ((v >> 32) as u32, v as u32);
                let prev = last.insert(pid, seq).unwrap_or(0);
                if seq <= prev {
                    return Err(format!("from producer {pid}: item {seq} after {prev}").into());
                }
                n += 1;
                s = s.wrapping_add(v);
            }
            Err(GetError::Disconnected) => break,
            Err(e) => return Err(e.into()),
        }
    }
    got.fetch_add(n);
    sum.fetch_add(s);
    println!(
        "    consumer {} got {n} items from {} producers, each producer's in order",
        std::process::id(),
        last.len()
    );
    Ok(())
}

/// The size of the message the pipe stop sends through a smaller ring.
const BIG: usize = 8 << 20;

fn pipe_tour() -> Result<(), Box<dyn std::error::Error>> {
    // 14. A duplex pipe to a child: small messages both ways, then one larger than the ring.
    let name = format!("tour-{}-pipe", std::process::id());
    let _cleanup = UnlinkGuard::new(&name);
    let conn = Connection::create_with(&name, &PipeOptions::new().capacity(64 << 10))?;
    let mut child = spawn("echo", &name)?;
    conn.send_bytes(b"ping")?;
    let reply = conn.recv_bytes()?;
    println!(
        "\n14. Pipe (duplex, {} KiB rings): sent \"ping\", child {} replied {:?}",
        conn.capacity() >> 10,
        child.id(),
        String::from_utf8_lossy(&reply)
    );
    let big: Vec<u8> = (0..BIG).map(|i| (i * 7 + (i >> 12)) as u8).collect();
    let started = Instant::now();
    conn.send_bytes(&big)?;
    let back = conn.recv_bytes()?;
    if back != big {
        return Err("the 8 MiB message came back changed".into());
    }
    println!(
        "    an 8 MiB message streamed through the 64 KiB ring there and back intact in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    conn.close();
    let status = child.wait()?;
    println!("    close(): the child's next recv reported the end of the pipe, and it exited ({status})");
    Ok(())
}

fn pipe_echo(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let conn = Connection::open(name)?;
    if conn.recv_bytes()? != b"ping" {
        return Err("expected ping".into());
    }
    conn.send_bytes(b"pong")?;
    // The big message: receive it whole, send it back.
    let big = conn.recv_bytes()?;
    conn.send_bytes(&big)?;
    match conn.recv_bytes() {
        Err(RecvError::Disconnected) => Ok(()),
        other => Err(format!("expected the end of the pipe, got {other:?}").into()),
    }
}

fn spsc_producer(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let tx = spsc::Producer::<u64>::open(&format!("{base}-spsc"))?;
    for i in 0..SPSC_ITEMS {
        tx.put(i)?;
    }
    Ok(())
}

fn print_participants(obj: &Object, title: &str) {
    println!("{title}:");
    for p in obj.participants() {
        println!(
            "     slot {:>2}  {:<8}  pid {:>7}  {}",
            p.id.slot,
            p.role.as_str(),
            p.pid,
            if p.alive { "alive" } else { "dead" }
        );
    }
}

fn read_message(b: &Board) -> String {
    let len = (b.message_len.load(Ordering::Acquire) as usize).min(MESSAGE_MAX);
    // SAFETY: `len` is bounds-checked against the array; the writer finished the bytes
    // before publishing `message_len` (Release) and does not write them again.
    let bytes = unsafe { std::slice::from_raw_parts(b.message.get().cast::<u8>(), len) };
    String::from_utf8_lossy(bytes).into_owned()
}

fn child(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let obj = Object::open(name, &board_spec().expect(), &OpenOptions::new())?;
    obj.set_role(Role::WORKER);
    let b = board(&obj);
    let msg = format!("hello from pid {}", std::process::id());
    let len = msg.len().min(MESSAGE_MAX);
    // SAFETY: `len` fits the array; the bytes sit in an UnsafeCell, and the parent reads
    // them only after `message_len` is published below.
    unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), b.message.get().cast::<u8>(), len) };
    b.message_len.store(len as u64, Ordering::Release);
    b.stage.store(STAGE_HELLO, Ordering::Release);
    b.event.notify_all();
    // Park until the parent says goodbye.
    b.event
        .wait_until(WaitStrategy::Park, Deadline::after(Duration::from_secs(10)), || {
            (b.stage.load(Ordering::Acquire) == STAGE_BYE).then_some(())
        })
        .ok_or("the parent never said goodbye")?;
    Ok(())
}

fn sleeper(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let obj = Object::open(name, &board_spec().expect(), &OpenOptions::new())?;
    obj.set_role(Role::WORKER);
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

/// Jobs in stop 15, and how many worker processes share them.
const JOBS: u64 = 400;
const JOB_WORKERS: usize = 2;

fn family_tour() -> Result<(), Box<dyn std::error::Error>> {
    let base = format!("tour-{}", std::process::id());
    let name = |what: &str| format!("{base}-{what}");
    let _cleanup: Vec<UnlinkGuard> =
        ["jobs", "total", "done", "rlock"].iter().map(|w| UnlinkGuard::new(&name(w))).collect();

    // 15. A JoinableQueue of jobs for two worker processes: `join` returns once every job
    //     is marked done. Each worker reports under an RLock it takes twice (re-entrant),
    //     then counts itself finished under a Condition that wakes us.
    let jobs = JoinableQueue::<u64>::create(&name("jobs"), 64)?;
    let total = Value::<u64>::create(&name("total"), 0)?;
    let done = Condition::create(&name("done"))?;
    let finished = Value::<u32>::create(&name("done-count"), 0)?;
    let _more = UnlinkGuard::new(&name("done-count"));
    let _rlock = RLock::create(&name("rlock"))?;
    jobs.declare_producer();
    let workers = (0..JOB_WORKERS).map(|_| spawn("jobs", &base)).collect::<Result<Vec<_>, _>>()?;
    println!("\n15. {JOB_WORKERS} workers take {JOBS} jobs from a JoinableQueue");
    for job in 1..=JOBS {
        jobs.put_timeout(job, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    }
    jobs.join_timeout(Duration::from_secs(10))?;
    println!(
        "    join() returned: every job marked done; total = {} (expected {})",
        total.load(),
        JOBS * (JOBS + 1) / 2
    );
    jobs.close();
    let guard = done.lock().map_err(|e| e.to_string())?;
    let guard = done.wait_while(guard, || finished.load() < JOB_WORKERS as u32).map_err(|e| e.to_string())?;
    println!("    the Condition woke us: {} workers finished", finished.load());
    drop(guard);
    for mut w in workers {
        w.wait()?;
    }
    let gate = BoundedSemaphore::anonymous(1)?;
    println!("    BoundedSemaphore(1): a release above the maximum is refused: {}", gate.release().is_err());
    Ok(())
}

fn jobs_worker(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let name = |what: &str| format!("{base}-{what}");
    let jobs = JoinableQueue::<u64>::open(&name("jobs"))?;
    let total = Value::<u64>::open(&name("total"))?;
    let done = Condition::open(&name("done"))?;
    let finished = Value::<u32>::open(&name("done-count"))?;
    let rlock = RLock::open(&name("rlock"))?;
    let mut mine = 0;
    while let Ok(job) = jobs.get_timeout(Duration::from_secs(10)) {
        std::thread::sleep(Duration::from_micros(100)); // the job's work
        total.fetch_add(job);
        mine += 1;
        jobs.task_done()?;
    }
    {
        let _outer = rlock.lock().map_err(|e| e.to_string())?;
        let _inner = rlock.lock().map_err(|e| e.to_string())?;
        println!(
            "    worker {} did {mine} jobs (reporting under the RLock, depth {})",
            std::process::id(),
            rlock.depth()
        );
    }
    let _g = done.lock().map_err(|e| e.to_string())?;
    finished.fetch_add(1);
    done.notify_all();
    Ok(())
}

fn cube(x: u64) -> u64 {
    x * x * x
}

/// Item 4 kills its own worker process (SIGKILL); the others are cubed.
fn cube_but_four_dies(x: u64) -> u64 {
    if x == 4 {
        let _ = shmkit_core::child::send_signal(std::process::id(), shmkit_core::child::SIGKILL);
        std::thread::sleep(Duration::from_secs(10));
    }
    cube(x)
}

fn spin(_: ()) {
    loop {
        std::hint::spin_loop();
    }
}

fn process_tour() -> Result<(), Box<dyn std::error::Error>> {
    // 16. Process: a child sharing an anonymous Value (fork inherits it), a busy child
    //     terminated (exitcode -15, as in Python), a child whose panic reaches us, and a
    //     child started by spawn (this program run again; `shmkit::init` dispatches it).
    let total = std::sync::Arc::new(Value::<u64>::anonymous(0)?);
    let t = std::sync::Arc::clone(&total);
    let mut p = Process::new(move || {
        t.fetch_add(41);
    })
    .name("adder");
    p.start()?;
    let code = p.join()?;
    println!(
        "\n16. Process {:?} (pid {}) exited with {code}; the Value it added to: {}",
        p.get_name(),
        p.pid().unwrap_or(0),
        total.load()
    );
    let mut busy = Process::call(spin, ());
    busy.start()?;
    std::thread::sleep(Duration::from_millis(20));
    busy.terminate()?;
    println!("    a busy child, terminated: alive {}, exitcode {}", busy.is_alive(), busy.join()?);
    let mut bad = Process::new(|| panic!("the child gives up"));
    bad.start()?;
    println!(
        "    a child that panicked: exitcode {}, its message here: {:?}",
        bad.join()?,
        bad.panic_message().unwrap_or_default()
    );
    let mut spawned = Process::call(spin, ()).start_method(StartMethod::Spawn).daemon(true);
    spawned.start()?;
    spawned.kill()?;
    println!("    a spawned (re-executed) child, killed: exitcode {}", spawned.join()?);

    // 17. Pool: map across worker processes, and a worker killed mid-task fails only
    //     that task; the pool replaces it and finishes the rest.
    let mut pool = Pool::with_options(PoolOptions::new().processes(2))?;
    println!("17. Pool(2).map(cube, 1..=6) = {:?}", pool.map(cube, 1..=6)?);
    let results: Vec<Result<u64, TaskError>> = pool.imap(cube_but_four_dies, 1..=6).collect();
    for (x, r) in (1..=6).zip(&results) {
        match r {
            Ok(v) => println!("    cube_but_four_dies({x}) = {v}"),
            Err(e) => println!("    cube_but_four_dies({x}) failed: {e}"),
        }
    }
    pool.join();
    Ok(())
}

/// What another program puts in the message queue: what a Python program puts.
fn mq_producer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let q = MessageQueue::open_timeout(name, Duration::from_secs(10))?;
    q.put("a")?;
    q.put(&(1i64, "two", vec![3.0f64, 4.0]))?;
    q.put(&std::collections::BTreeMap::from([("k", 1i64)]))?;
    q.put_bytes(&vec![7u8; 1 << 20])?;
    // Then it fills its next message half-way and hangs there, to be killed.
    let mut loan = q.loan(3 << 20)?;
    loan.copy_from_slice(&[9; 1 << 20]);
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn message_tour() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("tour-{}-mq", std::process::id());
    let _cleanup = UnlinkGuard::new(&name);
    println!("\n== message queue: messages of any type and size ==");
    // The consumer opens first; the producer is another program started after it.
    let mut producer = spawn("mq-producer", &name)?;
    let q = MessageQueue::create_with(&name, 10, &MessageQueueOptions::new().pool_bytes(8 << 20))?;
    let a: String = q.get_timeout(Duration::from_secs(10))?;
    let t: (i64, String, Vec<f64>) = q.get_timeout(Duration::from_secs(10))?;
    let d: std::collections::BTreeMap<String, i64> = q.get_timeout(Duration::from_secs(10))?;
    let big = q.get_bytes_timeout(Duration::from_secs(10))?;
    println!("got {a:?}, {t:?}, {d:?} and {} bytes from pid {}", big.len(), producer.id());
    match q.try_get::<Vec<u64>>() {
        Err(MessageError::Timeout) => {}
        other => return Err(format!("expected nothing more yet, got {other:?}").into()),
    }
    // Killed holding a 3 MiB message half-written: its chunks come back to the pool.
    let loaned = (3 << 20) / MessageQueueOptions::new().get_chunk_size() as usize;
    while q.pool_state().held < loaned {
        std::thread::sleep(Duration::from_millis(2));
    }
    let before = q.pool_state();
    producer.kill()?;
    producer.wait()?;
    let freed = q.repair()?;
    let after = q.pool_state();
    println!(
        "producer killed mid-message: {} of {} chunks held before, {freed} given back, {} free after",
        before.held, before.chunks, after.free
    );
    if after.free != after.chunks {
        return Err(format!("chunks lost: {after:?}").into());
    }
    Ok(())
}

/// Another program adding 1 to the dict's `count` a thousand times, atomically.
fn dict_writer(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let d: Dict<String, u64> = Dict::open_timeout(name, Duration::from_secs(10))?;
    for _ in 0..1000 {
        d.update("count", |n| Some(n.unwrap_or(0) + 1))?;
    }
    Ok(())
}

/// Another program connecting to the tour's listener with the key.
fn socket_client(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let opts = connection::Options::new().authkey(b"tour");
    let c = connection::Client::connect_unix_with(path, &opts)?;
    c.send_bytes(b"hello from a client")?;
    Ok(())
}

/// Another program connecting to the tour's shared-memory listener by name, with the
/// key: it sends its pid and checks the answer.
fn shm_client(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let opts = connection::Options::new().authkey(b"tour");
    let c = connection::Client::connect_with(name, &opts)?;
    let me = std::process::id().to_string();
    for _ in 0..1000 {
        c.send_bytes(me.as_bytes())?;
        if c.recv_bytes()? != me.as_bytes() {
            return Err("the listener answered another client's message".into());
        }
    }
    Ok(())
}

fn manager_tour() -> Result<(), Box<dyn std::error::Error>> {
    println!("\n== Dict: Python's Manager().dict(), without a server ==");
    let name = format!("tour-{}-dict", std::process::id());
    // Removes the dict's name and its arena's when the tour leaves, however it leaves.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Dict::<String, u64>::unlink(&self.0);
        }
    }
    let d: Dict<String, u64> = Dict::create(&name)?;
    let _cleanup = Cleanup(name.clone());
    let writers = (0..4).map(|_| spawn("dict-writer", &name)).collect::<Result<Vec<_>, _>>()?;
    for mut w in writers {
        if !w.wait()?.success() {
            return Err("a dict writer failed".into());
        }
    }
    println!("4 programs x 1000 updates: count = {}", d.get("count")?.unwrap_or(0));

    println!("\n== Listener and Client: connections by address, with an authkey ==");
    let path = std::env::temp_dir().join(format!("tour-{}.sock", std::process::id()));
    let listener = connection::Listener::bind_unix_with(&path, &connection::Options::new().authkey(b"tour"))?;
    let mut client = spawn("client", &path.display().to_string())?;
    let conn = listener.accept()?;
    let m = conn.recv_bytes()?;
    println!("listener got {:?} from pid {}", String::from_utf8_lossy(&m), client.id());
    client.wait()?;

    println!("\n== Listener by name: clients over shared memory, one killed while it connects ==");
    let name = format!("tour-{}-listener", std::process::id());
    let listener = connection::Listener::bind_with(&name, &connection::Options::new().authkey(b"tour"))?;
    // A client killed at once: it may die waiting in the backlog, or in the handshake.
    let mut doomed = spawn("shm-client", &name)?;
    doomed.kill()?;
    doomed.wait()?;
    let clients = (0..4).map(|_| spawn("shm-client", &name)).collect::<Result<Vec<_>, _>>()?;
    let (mut served, mut refused) = (0, 0);
    while served < clients.len() {
        match listener.accept_timeout(Some(Duration::from_secs(20))) {
            Ok(c) => {
                served += 1;
                std::thread::spawn(move || {
                    while let Ok(m) = c.recv_bytes() {
                        let _ = c.send_bytes(&m);
                    }
                });
            }
            Err(connection::ConnError::Timeout) => return Err("a client never came".into()),
            Err(_) => refused += 1, // the killed one, if it got as far as the handshake
        }
    }
    for mut c in clients {
        if !c.wait()?.success() {
            return Err("a shared-memory client failed".into());
        }
    }
    println!(
        "served {served} clients x 1000 echoes by name ({refused} accepts cut short by the killed client)"
    );
    Ok(())
}
