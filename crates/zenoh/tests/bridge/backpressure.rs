//! A full target, under each backpressure policy.

use shmkit_pipe::Sender;

use super::*;

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
    // Received is counted as a sample comes, put or dropped once it is handled.
    wait_until("50 samples handled", LIMIT, || {
        let st = ImportStats::read(ist.name()).unwrap();
        st.put + st.drops() == 50
    });
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
    wait_until("50 samples put", LIMIT, || ImportStats::read(ist.name()).unwrap().put == 50);
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
    // (The count moves just after the put.)
    wait_until("the last put counted", LIMIT, || ImportStats::read(ist.name()).unwrap().put == 50);
    let stats = ImportStats::read(ist.name()).unwrap();
    assert_eq!((stats.put, stats.drops(), stats.gaps), (50, 0, 0));
}
