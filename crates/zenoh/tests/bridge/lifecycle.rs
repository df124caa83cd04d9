//! How a bridge ends, and who may use a state object.

use super::*;

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
        BridgeError::WrongState { reason, .. } => reason,
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
    // Another program's array is no bridge's state, for a reader, and for a bridge if
    // its kind word holds something else than a side's mark; an older shmkit's state
    // (16 words) says so; another kind of object is named.
    let wrong = |e: BridgeError| match e {
        BridgeError::WrongState { reason, .. } => reason,
        other => panic!("not a wrong-state error: {other:?}"),
    };
    let (other, old, queue) = (NameGuard::new("kother"), NameGuard::new("kold"), NameGuard::new("kq"));
    let array = shmkit_ctypes::Array::<u64>::create_zeroed(other.name(), 64).unwrap();
    assert!(wrong(BridgeStats::read(other.name()).unwrap_err()).contains("not a bridge's state"));
    array.swap(62, 0xDEAD).unwrap();
    let opts = ExportOptions::new().state(other.name());
    assert!(
        wrong(export(&s, source.try_clone().unwrap(), &key, &opts).unwrap_err()).contains("not a bridge's")
    );
    let _old = shmkit_ctypes::Array::<u64>::create_zeroed(old.name(), 16).unwrap();
    let opts = ImportOptions::new().state(old.name());
    let reason = wrong(import(&s, &key, target.try_clone().unwrap(), &opts).unwrap_err());
    assert!(
        reason.contains("older shmkit") && reason.contains(&format!("shmkit rm {}", old.name())),
        "{reason}"
    );
    let _queue = big_mq(queue.name(), 4);
    assert!(wrong(BridgeStats::read(queue.name()).unwrap_err()).contains("not a bridge's state"));
}
