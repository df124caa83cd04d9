//! The bridge across real processes: producers → local queue → exporter → Zenoh (two
//! sessions in two processes, each with its own loopback endpoint, multicast scouting
//! off) → importer → local queue → consumer (this test). The exporter and importer run
//! as helper processes (this test binary run again in a role), so that they can be
//! killed.

mod common;

use std::time::Duration;

use common::*;
use shmkit_mq::{MessageQueue, MessageQueueOptions};
use shmkit_pipe::{Receiver, Sender};
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
    let stats = ImportStats::read(ist.name()).unwrap();
    assert_eq!((stats.received, stats.put, stats.gaps, stats.out_of_order), (100_000, 100_000, 0, 0));
    assert_eq!(stats.drops(), 0);
    let ex = ExportStats::read(est.name()).unwrap();
    assert_eq!((ex.taken, ex.published), (100_000, 100_000));
}

/// The exporter is SIGKILLed mid-stream and restarted on the same state: the local
/// objects still work, the restarted exporter reports what it knows was lost and goes on
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
    assert!(stats.gaps >= unpublished, "the importer sees at least what the exporter reports");
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

/// `DropNewest`: a full target keeps the first messages; the rest are dropped, counted.
#[test]
fn backpressure_drop_newest_keeps_the_first() {
    let (src, dst) = (NameGuard::new("nsrc"), NameGuard::new("ndst"));
    let (est, ist) = (NameGuard::new("nest"), NameGuard::new("nist"));
    let source = big_mq(src.name(), 100);
    let target = big_mq(dst.name(), 10);
    let key = unique_key("newest");
    let _bridge =
        Bridge::start("mq", src.name(), "mq", dst.name(), &key, [est.name(), ist.name()], "drop-newest");
    for i in 0u32..50 {
        source.put_bytes(&i.to_le_bytes()).unwrap();
    }
    wait_until("50 samples received", LIMIT, || ImportStats::read(ist.name()).unwrap().received == 50);
    let stats = ImportStats::read(ist.name()).unwrap();
    assert_eq!((stats.put, stats.dropped_newest, stats.dropped_oldest), (10, 40, 0));
    let kept: Vec<u32> = (0..10)
        .map(|_| u32::from_le_bytes(target.try_get_bytes().unwrap()[..].try_into().unwrap()))
        .collect();
    assert_eq!(kept, (0..10).collect::<Vec<_>>());
    assert!(target.is_empty());
}

/// `DropOldest`, on Pod queues of u64: a full target keeps the latest messages; the
/// oldest are taken out, counted.
#[test]
fn backpressure_drop_oldest_keeps_the_latest() {
    let (src, dst) = (NameGuard::new("osrc"), NameGuard::new("odst"));
    let (est, ist) = (NameGuard::new("oest"), NameGuard::new("oist"));
    let source = Queue::<u64>::create(src.name(), 100).unwrap();
    let target = Queue::<u64>::create(dst.name(), 10).unwrap();
    let key = unique_key("oldest");
    let _bridge = Bridge::start(
        "queue",
        src.name(),
        "queue",
        dst.name(),
        &key,
        [est.name(), ist.name()],
        "drop-oldest",
    );
    for i in 0u64..50 {
        source.put(i).unwrap();
    }
    wait_until("50 samples received", LIMIT, || ImportStats::read(ist.name()).unwrap().received == 50);
    let stats = ImportStats::read(ist.name()).unwrap();
    assert_eq!((stats.put, stats.dropped_oldest, stats.dropped_newest), (50, 40, 0));
    let kept: Vec<u64> = (0..10).map(|_| target.try_get().unwrap()).collect();
    assert_eq!(kept, (40..50).collect::<Vec<_>>());
    assert!(target.is_empty());
}

/// `Block`, from a simplex pipe: a full target holds the bridge back (nothing more is put
/// while nobody reads); once read, every message comes, in order, none dropped.
#[test]
fn backpressure_block_waits_and_loses_nothing() {
    let (src, dst) = (NameGuard::new("bsrc"), NameGuard::new("bdst"));
    let (est, ist) = (NameGuard::new("best"), NameGuard::new("bist"));
    let sender = Sender::create(src.name()).unwrap();
    let target = big_mq(dst.name(), 10);
    let key = unique_key("block");
    let _bridge =
        Bridge::start("pipe", src.name(), "mq", dst.name(), &key, [est.name(), ist.name()], "block");
    for i in 0u32..50 {
        sender.send_bytes(&i.to_le_bytes()).unwrap();
    }
    wait_until("the target full", LIMIT, || target.is_full());
    std::thread::sleep(Duration::from_millis(300));
    let stats = ImportStats::read(ist.name()).unwrap();
    assert_eq!((stats.put, stats.drops()), (10, 0), "a full target holds the importer back");
    let got: Vec<u32> = (0..50)
        .map(|_| u32::from_le_bytes(target.get_bytes_timeout(LIMIT).unwrap()[..].try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    let stats = ImportStats::read(ist.name()).unwrap();
    assert_eq!((stats.put, stats.drops(), stats.gaps), (50, 0, 0));
}

/// An importer (here, across the link from an exporter process) whose target is closed
/// ends with the next sample: `join` returns, nothing more is put, and samples that come
/// after are not delivered into the closed queue.
#[test]
fn importer_ends_when_its_target_closes() {
    let (src, dst, est, ist) =
        (NameGuard::new("csrc"), NameGuard::new("cdst"), NameGuard::new("cest"), NameGuard::new("cist"));
    let source = big_mq(src.name(), 100);
    let target = big_mq(dst.name(), 100);
    let key = unique_key("close");
    let listen = free_endpoint();
    let s = session(&listen, "-");
    let im =
        import(&s, &key, MessageQueue::open(dst.name()).unwrap(), &ImportOptions::new().state(ist.name()))
            .unwrap();
    let mut exporter = Bridge::exporter("mq", src.name(), &key, &listen, est.name());
    exporter.line("ready", LIMIT);
    for i in 0u32..10 {
        source.put_bytes(&i.to_le_bytes()).unwrap();
    }
    wait_until("10 messages put", LIMIT, || im.stats().put == 10);
    assert!(!im.is_finished());
    target.close();
    for i in 10u32..15 {
        source.put_bytes(&i.to_le_bytes()).unwrap();
    }
    wait_until("the importer to end", LIMIT, || im.is_finished());
    let stats = im.join().unwrap();
    assert_eq!(stats.put, 10, "nothing put after the close: {stats:?}");
    assert!(stats.received >= 11, "the sample that found the queue closed was received: {stats:?}");
    exporter.kill();
}

/// An exporter with no subscriber takes nothing, but a source closed and empty ends it:
/// its `join` returns, and a message still queued keeps it waiting for a subscriber.
#[test]
fn exporter_without_a_subscriber_ends_when_its_source_ends() {
    let src = NameGuard::new("usrc");
    let source = big_mq(src.name(), 100);
    let s = session(&free_endpoint(), "-");
    let ex =
        export(&s, MessageQueue::open(src.name()).unwrap(), &unique_key("unmatched"), &ExportOptions::new())
            .unwrap();
    source.put_bytes(b"kept").unwrap();
    source.close();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!ex.is_finished(), "a message is still queued: the exporter waits for a subscriber");
    assert_eq!(source.get_bytes().unwrap(), b"kept", "not taken without a subscriber");
    wait_until("the exporter to end", LIMIT, || ex.is_finished());
    let stats = ex.join().unwrap();
    assert_eq!(stats.taken, 0, "{stats:?}");
}

/// One bridge at a time per state object: a second exporter or importer on a state that a
/// live bridge uses is refused, naming that bridge's process; once it is gone (killed, or
/// stopped), the state is free again, and a killed owner's state is taken over.
#[test]
fn a_second_bridge_on_a_live_state_is_refused() {
    let (src, est, ist) = (NameGuard::new("osrc"), NameGuard::new("oest"), NameGuard::new("oist"));
    let source = big_mq(src.name(), 16);
    let key = unique_key("owner");
    let s = session(&free_endpoint(), "-");
    let opts = ExportOptions::new().state(est.name());

    // A live exporter in another process holds the state.
    let mut first = Bridge::exporter("mq", src.name(), &key, "-", est.name());
    first.line("ready", LIMIT);
    match export(&s, source.try_clone().unwrap(), &key, &opts) {
        Err(BridgeError::InUse { name, pid }) => assert_eq!((name.as_str(), pid), (est.name(), first.pid())),
        other => panic!("a second exporter on a live state: {other:?}"),
    }
    // Killed, it no longer holds it: the next exporter takes the state over.
    first.kill();
    let second =
        export(&s, source.try_clone().unwrap(), &key, &opts).expect("the state of a killed exporter");
    assert_eq!(ExportStats::read(est.name()).unwrap().restarts, 1);
    // In one process, too: a live handle holds the state; once stopped, it is free.
    assert!(matches!(export(&s, source.try_clone().unwrap(), &key, &opts), Err(BridgeError::InUse { .. })));
    second.stop().unwrap();
    let third =
        export(&s, source.try_clone().unwrap(), &key, &opts).expect("the state of a stopped exporter");
    assert_eq!(third.recovered().at_most_lost(), 0, "a clean stop costs nothing");
    drop(third);

    // The same for importers.
    let tgt = NameGuard::new("otgt");
    let target = big_mq(tgt.name(), 16);
    let iopts = ImportOptions::new().state(ist.name());
    let im = import(&s, &key, target.try_clone().unwrap(), &iopts).unwrap();
    match import(&s, &key, target.try_clone().unwrap(), &iopts) {
        Err(BridgeError::InUse { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("a second importer on a live state: {other:?}"),
    }
    drop(im);
    import(&s, &key, target.try_clone().unwrap(), &iopts).expect("the state of a dropped importer");
}

/// A state object is one side's: an importer given an exporter's state (or the other way
/// round) is refused, and so is a reader of the wrong side; `BridgeStats` reads either.
#[test]
fn each_side_of_a_bridge_keeps_a_state_of_its_own() {
    let (src, tgt, est, ist) =
        (NameGuard::new("ksrc"), NameGuard::new("ktgt"), NameGuard::new("kest"), NameGuard::new("kist"));
    let (source, target) = (big_mq(src.name(), 16), big_mq(tgt.name(), 16));
    let key = unique_key("kind");
    let s = session(&free_endpoint(), "-");
    let ex = export(&s, source.try_clone().unwrap(), &key, &ExportOptions::new().state(est.name())).unwrap();
    let im = import(&s, &key, target.try_clone().unwrap(), &ImportOptions::new().state(ist.name())).unwrap();
    source.put_bytes(b"counted").unwrap();
    assert_eq!(target.get_bytes_timeout(LIMIT).expect("watchdog: the message across"), b"counted");
    drop((ex, im));

    // The wrong side's state, even with no bridge on it.
    let refused = |e: BridgeError| match e {
        BridgeError::State { reason, .. } => reason,
        other => panic!("not a state error: {other:?}"),
    };
    let on_export = import(&s, &key, target.try_clone().unwrap(), &ImportOptions::new().state(est.name()));
    let reason = refused(on_export.expect_err("an importer on an exporter's state"));
    assert!(reason.contains("an exporter's state, not an importer's"), "{reason}");
    let on_import = export(&s, source.try_clone().unwrap(), &key, &ExportOptions::new().state(ist.name()));
    assert!(
        refused(on_import.expect_err("an exporter on an importer's state")).contains("an importer's state")
    );
    assert!(ImportStats::read(est.name()).is_err() && ExportStats::read(ist.name()).is_err());

    // Each read as its own side; the counters are the ones the bridges left.
    match BridgeStats::read(est.name()).unwrap() {
        BridgeStats::Export(st) => assert_eq!((st.taken, st.published), (1, 1)),
        other => panic!("an exporter's state read as {other:?}"),
    }
    match BridgeStats::read(ist.name()).unwrap() {
        BridgeStats::Import(st) => assert_eq!((st.received, st.put), (1, 1)),
        other => panic!("an importer's state read as {other:?}"),
    }
    // Another program's array is no bridge's state.
    let other = NameGuard::new("kother");
    let _array = shmkit_ctypes::Array::<u64>::create_zeroed(other.name(), 64).unwrap();
    assert!(BridgeStats::read(other.name()).is_err());
}

/// A typed value (a message queue's `put`, a pipe's `send`) of any size crosses the
/// bridge as one: `get::<T>()` on the other side reads it, plain bytes stay bytes, and
/// the order holds across both. A Pod queue takes no typed value: counted as malformed.
#[test]
fn typed_values_cross_as_typed_values() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Job {
        id: u32,
        input: Vec<u16>,
    }
    let job = |id: u32| Job { id, input: (0..id * 97 % 3000).map(|x| x as u16).collect() };
    let (msrc, psrc, qsrc) = (NameGuard::new("tmsrc"), NameGuard::new("tpsrc"), NameGuard::new("tqsrc"));
    let (dst, qdst) = (NameGuard::new("tdst"), NameGuard::new("tqdst"));
    let states: Vec<NameGuard> = (0..6).map(|i| NameGuard::new(&format!("tst{i}"))).collect();
    let (mq_source, pipe_source) = (big_mq(msrc.name(), 64), Sender::create(psrc.name()).unwrap());
    let pod_source = big_mq(qsrc.name(), 64);
    let (target, pod_target) = (big_mq(dst.name(), 256), Queue::<u64>::create(qdst.name(), 64).unwrap());
    let (key, pipe_key, pod_key) = (unique_key("typed"), unique_key("typedpipe"), unique_key("typedpod"));
    let _mq = Bridge::start(
        "mq",
        msrc.name(),
        "mq",
        dst.name(),
        &key,
        [states[0].name(), states[1].name()],
        "block",
    );
    let _pipe = Bridge::start(
        "pipe",
        psrc.name(),
        "mq",
        dst.name(),
        &pipe_key,
        [states[2].name(), states[3].name()],
        "block",
    );
    let _pod = Bridge::start(
        "mq",
        qsrc.name(),
        "queue",
        qdst.name(),
        &pod_key,
        [states[4].name(), states[5].name()],
        "block",
    );

    for id in 0..40u32 {
        mq_source.put(&job(id)).unwrap();
        mq_source.put_bytes(&id.to_le_bytes()).unwrap();
    }
    for id in 0..40u32 {
        assert_eq!(target.get_timeout::<Job>(LIMIT).expect("a typed job from the queue"), job(id));
        assert_eq!(target.get_bytes_timeout(LIMIT).unwrap(), id.to_le_bytes(), "bytes stay bytes");
    }
    for id in 0..40u32 {
        pipe_source.send(&job(id)).unwrap();
        pipe_source.send_bytes(&id.to_le_bytes()).unwrap();
    }
    for id in 0..40u32 {
        assert_eq!(target.get_timeout::<Job>(LIMIT).expect("a typed job from the pipe"), job(id));
        assert_eq!(target.get_bytes_timeout(LIMIT).unwrap(), id.to_le_bytes());
    }

    // Into a Pod queue: the typed u64 is refused (its encoding is no u64's bytes), the
    // bytes of one come.
    pod_source.put(&7u64).unwrap();
    pod_source.put_bytes(&9u64.to_le_bytes()).unwrap();
    assert_eq!(pod_target.get_timeout(LIMIT).expect("the u64 sent as bytes"), 9);
    // (The count moves just after the put.)
    wait_until("the put counted", LIMIT, || ImportStats::read(states[5].name()).unwrap().put == 1);
    let stats = ImportStats::read(states[5].name()).unwrap();
    assert_eq!((stats.received, stats.put, stats.malformed), (2, 1, 1));
}
