//! The bridge across real processes: producers → local queue → exporter → Zenoh (two
//! sessions in two processes, each with its own loopback endpoint, multicast scouting
//! off) → importer → local queue → consumer (this test). The exporter and importer run
//! as helper processes (this test binary run again in a role), so that they can be
//! killed.

mod common;

// The tests by subject; the helpers below are theirs too.
#[path = "bridge/backpressure.rs"]
mod backpressure;
#[path = "bridge/lifecycle.rs"]
mod lifecycle;
#[path = "bridge/typed.rs"]
mod typed;

use std::time::Duration;

use common::*;
use shmkit_mq::{MessageQueue, MessageQueueOptions};
use shmkit_pipe::Receiver;
use shmkit_queue::Queue;
use shmkit_zenoh::{
    export, import, Backpressure, BridgeError, BridgeStats, ExportOptions, ExportStats, ImportOptions,
    ImportStats, Session, SessionConfig,
};

const LIMIT: Duration = Duration::from_secs(60);

/// The helpers' entry: does nothing in a normal test run.
#[test]
fn helper_main() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let args: Vec<&str> = role.split(' ').collect();
    let code = match args[0] {
        "export" => run_export(&args[1..]),
        "import" => run_import(&args[1..]),
        "produce" => run_produce(&args[1..]),
        other => panic!("unknown helper role {other}"),
    };
    std::process::exit(code);
}

fn session(listen: &str, connect: &str) -> Session {
    let mut cfg = SessionConfig::peer().listen(listen).multicast_scouting(false);
    if connect != "-" {
        cfg = cfg.connect(connect);
    }
    Session::open(&cfg).expect("open the Zenoh session")
}

/// `export KIND NAME KEY LISTEN CONNECT STATE`: exports until the source ends.
fn run_export(a: &[&str]) -> i32 {
    let (kind, name, key, listen, connect, state) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    let s = session(listen, connect);
    let opts = ExportOptions::new().state(state);
    let ex = match kind {
        "mq" => export(&s, MessageQueue::open(name).unwrap(), key, &opts),
        "queue" => export(&s, Queue::<u64>::open(name).unwrap(), key, &opts),
        "pipe" => export(&s, Receiver::open(name).unwrap(), key, &opts),
        _ => unreachable!(),
    }
    .unwrap();
    let r = ex.recovered();
    println!("ready unpublished={} mid_take={} next_seq={}", r.unpublished, r.mid_take, r.next_seq);
    ex.join().unwrap();
    // Let Zenoh send what it holds before the process ends.
    std::thread::sleep(Duration::from_millis(500));
    0
}

/// `import KIND NAME KEY LISTEN CONNECT STATE POLICY`: imports until killed.
fn run_import(a: &[&str]) -> i32 {
    let (kind, name, key, listen, connect, state, policy) = (a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    let s = session(listen, connect);
    let policy = match policy {
        "block" => Backpressure::Block,
        "drop-oldest" => Backpressure::DropOldest,
        "drop-newest" => Backpressure::DropNewest,
        _ => unreachable!(),
    };
    let opts = ImportOptions::new().state(state).backpressure(policy);
    let im = match kind {
        "mq" => import(&s, key, MessageQueue::open(name).unwrap(), &opts),
        "queue" => import(&s, key, Queue::<u64>::open(name).unwrap(), &opts),
        _ => unreachable!(),
    }
    .unwrap();
    println!("ready");
    im.join().unwrap();
    0
}

/// `produce NAME PRODUCER COUNT MAX_LEN`: puts COUNT checked messages into a message queue.
fn run_produce(a: &[&str]) -> i32 {
    let q = MessageQueue::open(a[0]).unwrap();
    let producer: u32 = a[1].parse().unwrap();
    let count: u32 = a[2].parse().unwrap();
    let max_len: usize = a[3].parse().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(producer + 1));
    for seq in 0..count {
        q.put_bytes(&message(producer, seq, &mut rng, max_len)).unwrap();
    }
    0
}

/// An importer on its own endpoint, then an exporter on its own that connects to it.
struct Bridge {
    importer: Helper,
    exporter: Helper,
    import_listen: String,
    export_listen: String,
}

impl Bridge {
    fn start(
        kind_in: &str,
        source: &str,
        kind_out: &str,
        target: &str,
        key: &str,
        states: [&str; 2],
        policy: &str,
    ) -> Self {
        let import_listen = free_endpoint();
        let mut importer =
            Helper::spawn("import", &[kind_out, target, key, &import_listen, "-", states[1], policy]);
        importer.line("ready", LIMIT);
        let export_listen = free_endpoint();
        let mut exporter = Self::exporter_on(kind_in, source, key, &export_listen, &import_listen, states[0]);
        exporter.line("ready", LIMIT);
        Self { importer, exporter, import_listen, export_listen }
    }

    fn exporter(kind: &str, source: &str, key: &str, connect: &str, state: &str) -> Helper {
        Self::exporter_on(kind, source, key, &free_endpoint(), connect, state)
    }

    fn exporter_on(kind: &str, source: &str, key: &str, listen: &str, connect: &str, state: &str) -> Helper {
        Helper::spawn("export", &[kind, source, key, listen, connect, state])
    }
}

fn big_mq(name: &str, maxsize: usize) -> MessageQueue {
    MessageQueue::create_with(name, maxsize, &MessageQueueOptions::new().pool_bytes(8 << 20)).unwrap()
}

/// The kill tests' stream: two producer processes put 10 000 checked messages each into
/// a local queue, bridged (exporter and importer processes, named states) to another, of
/// which the first 3 000 messages have been taken when `start` returns.
struct Stream {
    src: NameGuard,
    dst: NameGuard,
    est: NameGuard,
    ist: NameGuard,
    source: MessageQueue,
    target: MessageQueue,
    key: String,
    bridge: Bridge,
    _producers: Vec<Helper>,
    /// (producer, number) of each message taken so far.
    got: Vec<(u32, u32)>,
}

impl Stream {
    const PRODUCERS: u32 = 2;
    const EACH: u32 = 10_000;
    const TOTAL: u64 = (Self::PRODUCERS * Self::EACH) as u64;

    fn start(tag: &str) -> Self {
        let (src, dst) = (NameGuard::new(&format!("{tag}src")), NameGuard::new(&format!("{tag}dst")));
        let (est, ist) = (NameGuard::new(&format!("{tag}est")), NameGuard::new(&format!("{tag}ist")));
        let source = big_mq(src.name(), 200);
        let target = big_mq(dst.name(), 200);
        let key = unique_key(&format!("{tag}kill"));
        let bridge =
            Bridge::start("mq", src.name(), "mq", dst.name(), &key, [est.name(), ist.name()], "block");
        let producers = (0..Self::PRODUCERS)
            .map(|p| Helper::spawn("produce", &[src.name(), &p.to_string(), &Self::EACH.to_string(), "512"]))
            .collect();
        let mut got = Vec::new();
        while got.len() < 3000 {
            got.push(check(&target.get_bytes_timeout(LIMIT).expect("watchdog: a message before the kill")));
        }
        Self { src, dst, est, ist, source, target, key, bridge, _producers: producers, got }
    }

    /// Takes what else arrives (until nothing more comes for a while), checks that every
    /// producer's messages came in order and once, and returns how many never came.
    fn finish(target: &MessageQueue, got: &mut Vec<(u32, u32)>) -> u64 {
        while let Ok(m) = target.get_bytes_timeout(Duration::from_secs(3)) {
            got.push(check(&m));
        }
        let mut next = vec![0u32; Self::PRODUCERS as usize];
        for (i, &(p, seq)) in got.iter().enumerate() {
            assert!(
                seq >= next[p as usize],
                "producer {p}'s messages out of order or twice: #{i} is {seq}; around: {:?}",
                &got[i.saturating_sub(8)..(i + 8).min(got.len())]
            );
            next[p as usize] = seq + 1;
        }
        Self::TOTAL - got.len() as u64
    }
}

/// 100 000 messages of random sizes (16 to 2 064 bytes) from four producer processes,
/// across the bridge: every one arrives, intact (checksum), in its producer's order,
/// and the importer counts no gap and no drop.
#[test]
fn end_to_end_100k_random_sizes_in_order() {
    const PRODUCERS: u32 = 4;
    const EACH: u32 = 25_000;
    let (src, dst) = (NameGuard::new("src"), NameGuard::new("dst"));
    let (est, ist) = (NameGuard::new("est"), NameGuard::new("ist"));
    let _source = big_mq(src.name(), 1000);
    let target = big_mq(dst.name(), 1000);
    let key = unique_key("e2e");
    let _bridge = Bridge::start("mq", src.name(), "mq", dst.name(), &key, [est.name(), ist.name()], "block");
    let producers: Vec<Helper> = (0..PRODUCERS)
        .map(|p| Helper::spawn("produce", &[src.name(), &p.to_string(), &EACH.to_string(), "2048"]))
        .collect();
    let mut next = vec![0u32; PRODUCERS as usize];
    for _ in 0..PRODUCERS * EACH {
        let m = target.get_bytes_timeout(LIMIT).expect("watchdog: a message within the limit");
        let (p, seq) = check(&m);
        assert_eq!(seq, next[p as usize], "producer {p}'s messages out of order");
        next[p as usize] += 1;
    }
    assert!(next.iter().all(|&n| n == EACH));
    drop(producers);
    // The counts move just after each put and each publish.
    wait_until("every put and publish counted", LIMIT, || {
        ImportStats::read(ist.name()).unwrap().put == 100_000
            && ExportStats::read(est.name()).unwrap().published == 100_000
    });
    let stats = ImportStats::read(ist.name()).unwrap();
    assert_eq!((stats.received, stats.put, stats.gaps, stats.out_of_order), (100_000, 100_000, 0, 0));
    assert_eq!(stats.drops(), 0);
    let ex = ExportStats::read(est.name()).unwrap();
    assert_eq!((ex.taken, ex.published), (100_000, 100_000));
}

/// The exporter is SIGKILLed mid-stream and restarted on the same state: the local
/// objects still work, the restarted exporter reports what may have been lost and goes on
/// numbering, the importer counts the gap, and the loss is at most the messages in flight
/// at the kill; every message that arrives is intact and in its producer's order.
#[test]
fn exporter_sigkilled_mid_stream_and_restarted() {
    // Every field bound: the guards and the producers live to the end of the test.
    let Stream { src, dst: _dst, est, ist, source, target, key, mut bridge, _producers, mut got } =
        Stream::start("k");
    bridge.exporter.kill();
    let at_kill = ExportStats::read(est.name()).unwrap();
    let received_at_kill = ImportStats::read(ist.name()).unwrap().received;
    let in_flight = at_kill.taken - received_at_kill;

    // The local source is intact: it still takes puts and gives gets.
    assert!(!source.is_closed());
    let mut restarted = Bridge::exporter("mq", src.name(), &key, &bridge.import_listen, est.name());
    let line = restarted.line("ready", LIMIT);
    let field = |k: &str| -> u64 {
        line.split(' ').find_map(|f| f.strip_prefix(k)).and_then(|v| v.parse().ok()).unwrap()
    };
    let (unpublished, mid_take, next_seq) = (field("unpublished="), field("mid_take="), field("next_seq="));
    assert_eq!(
        unpublished,
        at_kill.taken - at_kill.published,
        "the restarted exporter reports what it knows"
    );
    assert_eq!(next_seq, at_kill.taken, "the numbering goes on");

    let missing = Stream::finish(&target, &mut got);
    let stats = ImportStats::read(ist.name()).unwrap();
    assert!(source.is_empty(), "the restarted exporter drained the source");
    eprintln!(
        "killed with {in_flight} in flight (taken {}, published {}); {missing} missing; gaps {}; reported {unpublished}+{mid_take}",
        at_kill.taken, at_kill.published, stats.gaps
    );
    // What the exporter reports is an upper bound: a kill between a publish and its count
    // reports as unpublished a message that went (then it is no gap), so the importer's
    // count, not the exporter's, is checked against what is missing below.
    assert!(unpublished <= 1, "one message at a time between a take and its publish");
    assert!(missing >= stats.gaps && missing <= stats.gaps + mid_take, "every loss is counted");
    assert!(missing <= in_flight + mid_take, "the loss is bounded by what was in flight");
    assert_eq!(stats.out_of_order, 0);
    let ex = ExportStats::read(est.name()).unwrap();
    assert_eq!((ex.restarts, ex.crash_unpublished), (1, unpublished));
}

/// The importing bridge SIGKILLed mid-stream and restarted on its state (listening
/// anew, connecting to the exporter): the local target is intact, every message lost is
/// counted by the restarted importer (erring by at most the one delivery under way at the
/// kill), and everything else arrives in each producer's order.
#[test]
fn importer_sigkilled_mid_stream_and_restarted() {
    let Stream { src: _src, dst, est, ist, source: _source, target, key, mut bridge, _producers, mut got } =
        Stream::start("i");
    // Stopped first, so that messages pile up towards it (in Zenoh's and the kernel's
    // buffers) and the kill surely loses some.
    shmkit_core::child::send_signal(bridge.importer.pid(), libc::SIGSTOP).unwrap();
    let received = ImportStats::read(ist.name()).unwrap().received;
    wait_until("messages in flight to the stopped importer", LIMIT, || {
        ExportStats::read(est.name()).unwrap().published > received + 100
    });
    bridge.importer.kill();
    let at_kill = ImportStats::read(ist.name()).unwrap();

    // The local target is intact: it still gives what the killed importer put.
    assert!(!target.is_closed());
    let mut restarted = Helper::spawn(
        "import",
        &["mq", dst.name(), &key, &free_endpoint(), &bridge.export_listen, ist.name(), "block"],
    );
    restarted.line("ready", LIMIT);
    let missing = Stream::finish(&target, &mut got);
    let stats = ImportStats::read(ist.name()).unwrap();
    eprintln!(
        "importer killed after {} put; {missing} missing; gaps {}, of them missed while down {}",
        at_kill.put, stats.gaps, stats.missed_while_down
    );
    assert!(missing > 100, "the kill lost what was in flight: {missing}");
    assert_eq!(stats.restarts, 1);
    assert_eq!(stats.gaps, stats.missed_while_down, "no other gap than the restart's");
    assert!(
        missing <= stats.gaps && stats.gaps <= missing + 1,
        "every loss counted by the restarted importer: {missing} missing, {} counted",
        stats.gaps
    );
    assert_eq!(stats.out_of_order, 0);
    assert_eq!(ExportStats::read(est.name()).unwrap().published, Stream::TOTAL, "the exporter published all");
}
