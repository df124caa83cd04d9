//! Typed values across the bridge.

use shmkit_pipe::Sender;

use super::*;

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
