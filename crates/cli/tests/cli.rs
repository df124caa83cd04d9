//! The `shmkit` command, run as a real binary against real objects in /dev/shm.
#![allow(missing_docs)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

// The shared test helpers name core's items as the facade re-exports them
// (`shmkit::segment`, `shmkit::Deadline`, ...); they use nothing but core, so core stands in
// for the facade here and this crate needs no dependency on it.
extern crate shmkit_core as shmkit;

use shmkit_ctypes::{Array, CChar, Value};
use shmkit_pipe::{Connection, PipeOptions, Receiver, Sender};
use shmkit_queue::{spsc, JoinableQueue, Queue};
use shmkit_sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore};

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::{fork, unique_name, Exit};

fn shmkit(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_shmkit")).args(args).output().expect("run shmkit");
    assert!(out.status.code().is_some(), "shmkit {args:?} was killed: {out:?}");
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 output")
}

/// Runs `shmkit args` and expects success.
fn ok(args: &[&str]) -> String {
    let out = shmkit(args);
    assert!(out.status.success(), "shmkit {args:?} failed: {}", stderr(&out));
    stdout(&out)
}

/// Removes every object whose name starts with the prefix when dropped.
struct Prefix(String);

impl Prefix {
    fn new(tag: &str) -> Self {
        Self(format!("{}.", unique_name(tag)))
    }

    fn name(&self, what: &str) -> String {
        format!("{}{what}", self.0)
    }

    /// The objects left with this prefix.
    fn left(&self) -> Vec<String> {
        let all = shmkit_core::segment::list().expect("list /dev/shm");
        all.into_iter().map(|l| l.name.as_str().to_owned()).filter(|n| n.starts_with(&self.0)).collect()
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        for name in self.left() {
            let _ = shmkit_core::segment::unlink(&name);
        }
    }
}

#[test]
fn ls_and_inspect_show_every_kind_with_its_state() {
    let p = Prefix::new("cli-kinds");
    let n = |w: &str| p.name(w);
    let lock = Lock::create(&n("lock")).unwrap();
    let held = lock.lock().unwrap();
    let _rlock = RLock::create(&n("rlock")).unwrap();
    let _sem = Semaphore::create(&n("sem"), 3).unwrap();
    let _bsem = BoundedSemaphore::create(&n("bsem"), 2).unwrap();
    let event = Event::create(&n("event")).unwrap();
    event.set();
    let _cond = Condition::create(&n("cond")).unwrap();
    let _barrier = Barrier::create(&n("barrier"), 4).unwrap();
    let _value = Value::<i32>::create(&n("value"), -42).unwrap();
    let _array = Array::<f64>::create(&n("array"), &[1.5, 2.5, 3.5]).unwrap();
    let _chars = Array::<CChar>::create(&n("chars"), &b"hello\0\0\0".map(CChar)).unwrap();
    let queue = Queue::<u64>::create(&n("queue"), 8).unwrap();
    for i in 0..3 {
        queue.put(i).unwrap();
    }
    let _jq = JoinableQueue::<u64>::create(&n("jqueue"), 4).unwrap();
    let tx = spsc::Producer::<u32>::create(&n("spsc"), 16).unwrap();
    tx.put(7).unwrap();
    let pipe = Connection::create_with(&n("pipe"), &PipeOptions::new().capacity(1024)).unwrap();
    pipe.send_bytes(b"unread").unwrap();
    let _rx = Receiver::create(&n("simplex")).unwrap();

    // name → (kind, a piece of the value or fill column)
    let expected = [
        ("lock", "Lock", format!("held by pid {} (alive)", std::process::id())),
        ("rlock", "RLock", "free".to_owned()),
        ("sem", "Semaphore", "3".to_owned()),
        ("bsem", "BoundedSemaphore", "2".to_owned()),
        ("event", "Event", "set".to_owned()),
        ("cond", "Condition", "free".to_owned()),
        ("barrier", "Barrier", "0/4".to_owned()),
        ("value", "Value", "-42".to_owned()),
        ("array", "Array", "[1.5, 2.5, 3.5]".to_owned()),
        ("chars", "Array", "\"hello\"".to_owned()),
        ("queue", "Queue", "3/8".to_owned()),
        ("jqueue", "JoinableQueue", "0/4".to_owned()),
        ("spsc", "SpscQueue", "1/16".to_owned()),
        ("pipe", "Pipe", "16/2048".to_owned()),
        ("simplex", "SimplexPipe", "0/".to_owned()),
    ];

    let table = ok(&["ls", &p.0]);
    for (what, kind, shown) in &expected {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&n(what)))
            .unwrap_or_else(|| panic!("{what} missing from ls:\n{table}"));
        assert!(line.contains(kind), "{what}: {line}");
        assert!(line.contains(shown.as_str()), "{what}: expected {shown:?} in {line}");
        assert!(line.contains("1 alive"), "{what}: {line}");
    }

    let json: serde_json::Value =
        serde_json::from_str(&ok(&["ls", "--json", &p.0])).expect("ls --json parses");
    let list = json.as_array().expect("an array");
    assert_eq!(list.len(), expected.len());
    let entry = |what: &str| list.iter().find(|e| e["name"] == n(what)).unwrap_or_else(|| panic!("{what}"));
    assert_eq!(entry("queue")["fill"], 3);
    assert_eq!(entry("queue")["capacity"], 8);
    assert_eq!(entry("sem")["value"], "3");
    assert_eq!(entry("value")["type"], "'i'");
    assert_eq!(entry("lock")["participants"]["alive"], 1);
    assert_eq!(entry("pipe")["kind"], "Pipe");

    for (what, kind, _) in &expected {
        let text = ok(&["inspect", &n(what)]);
        assert!(text.contains(kind) && text.contains("participants (1 alive"), "{what}:\n{text}");
        let v: serde_json::Value = serde_json::from_str(&ok(&["inspect", "--json", &n(what)])).unwrap();
        assert_eq!(v["header"]["kind"], *kind);
        assert_eq!(v["participants"][0]["pid"], std::process::id());
    }
    let q: serde_json::Value = serde_json::from_str(&ok(&["inspect", "--json", &n("queue")])).unwrap();
    assert_eq!(q["state"]["fields"]["puts so far"], 3);
    let pi: serde_json::Value = serde_json::from_str(&ok(&["inspect", "--json", &n("pipe")])).unwrap();
    assert_eq!(pi["state"]["fields"]["A→B unread"], 16, "8-byte header + 6 bytes padded to 8");
    assert_eq!(pi["state"]["fields"]["B→A unread"], 0);
    drop(held);
}

#[test]
fn rm_of_an_unknown_or_foreign_name_fails_cleanly() {
    let p = Prefix::new("cli-rm");
    let out = shmkit(&["rm", &p.name("nothing")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no shmkit object named") && err.contains("shmkit ls"), "{err}");
    assert!(err.lines().count() <= 2, "short: {err}");

    let out = shmkit(&["rm", "a/b"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // A file with our prefix that is not a shmkit object: refused, unless forced.
    let foreign = p.name("foreign");
    std::fs::write(format!("/dev/shm/shmkit.{foreign}"), vec![0xAB; 4096]).unwrap();
    let out = shmkit(&["rm", &foreign]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(p.left(), std::slice::from_ref(&foreign));
    assert!(ok(&["rm", "--force", &foreign]).contains("removed"));
    assert!(p.left().is_empty());

    // A real object is removed, and its name is gone.
    let q = Queue::<u8>::create(&p.name("q"), 2).unwrap();
    assert!(ok(&["rm", &p.name("q")]).contains("1 live process still attached"));
    assert!(p.left().is_empty());
    q.put(1).unwrap(); // still usable by who holds it
}

/// Waits until `name` exists and is ready.
fn await_ready(name: &str) {
    let start = Instant::now();
    while Queue::<u64>::open(name).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "{name} never became ready");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn gc_removes_objects_whose_participants_were_killed_and_keeps_live_ones() {
    let p = Prefix::new("cli-gc");
    let (dead, live) = (p.name("dead"), p.name("live"));
    let hold = |name: String| {
        fork(move || {
            let q = Queue::<u64>::create(&name, 4).unwrap();
            let _peer = q.try_clone().unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let mut a = hold(dead.clone());
    let mut b = hold(live.clone());
    await_ready(&dead);
    await_ready(&live);
    a.kill();
    while a.try_wait().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }

    let listed = ok(&["ls", &p.0]);
    assert!(listed.lines().any(|l| l.starts_with(&dead) && l.contains("0 alive, 2 dead")), "{listed}");

    let dry = ok(&["gc", "--dry-run", &p.0]);
    assert!(dry.contains(&format!("would remove {dead}")), "{dry}");
    assert_eq!(p.left().len(), 2, "a dry run removes nothing");

    let done = ok(&["gc", &p.0]);
    assert!(done.contains(&format!("removed {dead}")) && !done.contains(&live), "{done}");
    assert_eq!(p.left(), std::slice::from_ref(&live));

    b.kill();
    while b.try_wait().is_none() {
        std::thread::sleep(Duration::from_millis(1));
    }
    ok(&["gc", &p.0]);
    assert!(p.left().is_empty());
}

/// A small xorshift, seeded per run: where the kills land.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// 200 producer/consumer pairs, over a queue or a pipe, each killed at a random moment:
/// before, during or after creating and opening, mid-put, mid-get. Then `gc` leaves no
/// object behind, and never touches one a live process holds.
#[test]
fn crash_loop_then_gc_leaves_nothing_behind() {
    let p = Prefix::new("cli-crash");
    let keep = p.name("in-use");
    let in_use = Queue::<u64>::create(&keep, 4).unwrap();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut rng = Rng(seed | 1);
    const RUNS: usize = 200;
    for run in 0..RUNS {
        let name = p.name(&format!("run{run}"));
        // Pipes, Pod queues and message queues in turn.
        let pipe = run % 3 == 1;
        let mq = run % 3 == 2;
        let n2 = name.clone();
        let producer = fork(move || {
            if mq {
                let q = shmkit_mq::MessageQueue::create(&n2, 16).unwrap();
                for i in 0u64.. {
                    if q.put_bytes(&vec![i as u8; (i % 3000) as usize]).is_err() {
                        return 0;
                    }
                }
            } else if pipe {
                let tx = Sender::create_with(&n2, &PipeOptions::new().capacity(4096)).unwrap();
                for i in 0u64.. {
                    if tx.send_bytes(&i.to_le_bytes()).is_err() {
                        return 0;
                    }
                }
            } else {
                let q = Queue::<u64>::create(&n2, 64).unwrap();
                for i in 0u64.. {
                    if q.put(i).is_err() {
                        return 0;
                    }
                }
            }
            0
        });
        let n3 = name.clone();
        let consumer = fork(move || loop {
            if mq {
                if let Ok(q) = shmkit_mq::MessageQueue::open(&n3) {
                    while q.get_bytes().is_ok() {}
                    return 0;
                }
            } else if pipe {
                if let Ok(rx) = Receiver::open(&n3) {
                    while rx.recv_bytes().is_ok() {}
                    return 0;
                }
            } else if let Ok(q) = Queue::<u64>::open(&n3) {
                while q.get().is_ok() {}
                return 0;
            }
            std::thread::sleep(Duration::from_micros(100));
        });
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        let (first, second) = if rng.below(2) == 0 { (producer, consumer) } else { (consumer, producer) };
        first.kill();
        std::thread::sleep(Duration::from_micros(rng.below(500)));
        second.kill();
        for c in [first, second] {
            assert!(matches!(c.wait(Duration::from_secs(10)), Exit::Signal(libc::SIGKILL) | Exit::Code(0)));
        }
    }
    let left = p.left().len();
    assert!(left > 1, "the runs left objects behind for gc to find");
    let out = ok(&["gc", "--grace", "0", &p.0]);
    assert!(out.contains(&format!("removed {}", left - 1)), "seed {seed}: {out}");
    assert_eq!(p.left(), std::slice::from_ref(&keep), "seed {seed}: gc keeps only the object in use");
    in_use.put(1).unwrap();
    assert_eq!(in_use.get().unwrap(), 1);
}

#[test]
#[cfg(feature = "bench")]
fn bench_runs_the_suite_and_refuses_a_filter_that_matches_nothing() {
    let table = ok(&["bench", "--quick", "floor"]);
    let row = table.lines().find(|l| l.starts_with("floor: cache line ping-pong")).expect("the floor row");
    // The p50 follows the row's name, what it measured and where ("processes").
    let p50: f64 = row
        .split_whitespace()
        .skip_while(|t| *t != "processes")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a p50 figure");
    assert!(p50 > 0.0, "{row}");
    let out = shmkit(&["bench", "--quick", "no row is called this"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no benchmark row matches"), "{}", stderr(&out));
}

#[test]
#[cfg(not(feature = "bench"))]
fn bench_without_the_feature_says_how_to_get_it() {
    let out = shmkit(&["bench", "--quick"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--features bench"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

/// A newcomer's own struct.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Tick {
    seq: u64,
    price: f64,
}

#[test]
fn ls_and_inspect_name_a_users_own_element_type() {
    // What a first program leaves: a queue of its own struct and a value of it. The CLI
    // names the type, not "16 B".
    let p = Prefix::new("first-hour");
    let q = Queue::<Tick>::create(&p.name("ticks"), 8).unwrap();
    q.put(Tick { seq: 1, price: 2.5 }).unwrap();
    let v = Value::create(&p.name("last"), Tick { seq: 1, price: 2.5 }).unwrap();
    let table = ok(&["ls", &p.0]);
    assert!(table.lines().filter(|l| l.contains("Tick (16 B)")).count() == 2, "{table}");
    let shown = ok(&["inspect", &p.name("ticks")]);
    assert!(shown.contains("Tick (16 B)"), "{shown}");
    let json: serde_json::Value = serde_json::from_str(&ok(&["inspect", "--json", &p.name("last")])).unwrap();
    assert_eq!(json["header"]["element"]["name"], "Tick", "{json}");
    drop((q, v));
    ok(&["rm", &p.name("ticks")]);
    ok(&["rm", &p.name("last")]);
}

#[test]
fn ls_and_inspect_show_a_message_queues_pool() {
    let p = Prefix::new("cli-mq");
    let q = shmkit_mq::MessageQueue::create(&p.name("mq"), 10).unwrap();
    q.put_bytes(&[7; 2000]).unwrap();
    q.put_bytes(b"small").unwrap();
    let table = ok(&["ls", &p.0]);
    assert!(table.contains("MessageQueue"), "{table}");
    let shown = ok(&["inspect", &p.name("mq")]);
    for want in ["messages", "2", "maxsize", "10", "chunks in queued messages", "chunks free", "lock"] {
        assert!(shown.contains(want), "no {want:?} in {shown}");
    }
    // A process killed holding chunks shows up as such until a repair.
    let name = p.name("mq");
    let child = fork(move || {
        let q = shmkit_mq::MessageQueue::open(&name).unwrap();
        let _ = q.get_bytes();
        loop {
            q.put_bytes(&[1; 100_000]).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    child.kill();
    let _ = child.wait(Duration::from_secs(10));
    let shown = ok(&["inspect", "--json", &p.name("mq")]);
    assert!(shown.contains("chunks held by the dead"), "{shown}");
    drop(q);
    ok(&["rm", &p.name("mq")]);
}

#[test]
fn ls_and_inspect_show_a_dicts_entries_and_generation() {
    let p = Prefix::new("cli-dict");
    let d: shmkit_dict::Dict<String, u32> = shmkit_dict::Dict::create(&p.name("d")).unwrap();
    d.extend((0..100).map(|i| (format!("k{i}"), i))).unwrap();
    for i in 0..50 {
        d.remove(&format!("k{i}")).unwrap();
    }
    let table = ok(&["ls", &p.0]);
    assert!(table.contains("Dict") && table.contains("Generation"), "{table}");
    let shown = ok(&["inspect", &p.name("d")]);
    for want in ["entries", "50", "generation", "live bytes", "garbage bytes", "lock", "\"k"] {
        assert!(shown.contains(want), "no {want:?} in {shown}");
    }
    // Its first generation, `<name>.<nonce>.g1`.
    let prefix = format!("shmkit.{}.", p.name("d"));
    let gen = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with(&prefix) && n.ends_with(".g1"))
        .map(|n| n["shmkit.".len()..].to_owned())
        .expect("a first generation");
    let shown = ok(&["inspect", &gen]);
    assert!(shown.contains("arena bytes"), "{shown}");
    // `gc` keeps a root's current generation even with no process in it.
    let kept = ok(&["gc", "--dry-run", &gen]);
    assert!(kept.contains("would keep"), "{kept}");
    drop(d);
    ok(&["rm", &p.name("d")]);
    ok(&["rm", &gen]);
}

#[test]
fn ls_and_inspect_show_a_listeners_backlog() {
    let p = Prefix::new("cli-listener");
    let name = p.name("l");
    let l =
        shmkit_connection::Listener::bind_with(&name, &shmkit_connection::Options::new().backlog(3)).unwrap();
    let table = ok(&["ls", &p.0]);
    assert!(table.contains("Listener") && table.contains("listening, 0 waiting"), "{table}");
    let shown = ok(&["inspect", &name]);
    for want in ["listener", "pid", "alive", "clients waiting", "closed"] {
        assert!(shown.contains(want), "no {want:?} in {shown}");
    }
    drop(l);
    assert!(!ok(&["ls", &p.0]).contains("Listener"), "the name goes with the listener");
}
