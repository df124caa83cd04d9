//! The `shmkit` command against what another user can put in /dev/shm (QUALITY.md case 18):
//! hostile headers, files that shrink while they are looked at, objects that belong to
//! someone else. Nothing may crash the command or make it act on another user's objects.
#![allow(missing_docs)]

use std::os::unix::fs::FileExt;
use std::process::{Command, Output};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

// The shared helpers name core's items as the facade re-exports them.
extern crate shmkit_core as shmkit;

use shmkit_ctypes::{Array, Value};

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::{fork, unique_name, Exit, Shared, LIMIT};

/// Runs `shmkit args`; fails the test if a signal ended it or it panicked (exit 101).
fn shmkit(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_shmkit")).args(args).output().expect("run shmkit");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "shmkit {args:?} was killed by a signal: {out:?}");
    assert!(matches!(out.status.code(), Some(0 | 1)), "shmkit {args:?} crashed: {:?}\n{err}", out.status);
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Objects whose names start with a fresh prefix, removed when dropped.
struct Prefix(String);

impl Prefix {
    fn new(tag: &str) -> Self {
        Self(format!("{}.", unique_name(tag)))
    }

    fn name(&self, what: &str) -> String {
        format!("{}{what}", self.0)
    }

    fn path(&self, what: &str) -> String {
        format!("/dev/shm/shmkit.{}", self.name(what))
    }

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

// Header offsets (crates/core/src/header.rs).
const MAGIC: usize = 0;
const KIND: usize = 12;
const STATE: usize = 16;
const SLOTS: usize = 20;
const TOTAL_SIZE: usize = 24;
const BODY_OFFSET: usize = 32;
const BODY_LEN: usize = 40;
const ELEM_SIZE: usize = 48;
const ELEM_COUNT: usize = 56;
const ELEM_ALIGN: usize = 64;

/// The bytes of a real, valid `Value<u64>` object, with no participant.
fn value_bytes(p: &Prefix) -> Vec<u8> {
    let name = p.name("template");
    let v = Value::<u64>::create(&name, 7).unwrap();
    let bytes = std::fs::read(p.path("template")).unwrap();
    drop(v);
    shmkit_core::segment::unlink(&name).unwrap();
    bytes
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// `ls`, `ls --json`, `inspect` and `inspect --json` of every file, and `gc --dry-run`,
/// against a directory of hostile files: none crashes, and the impossible layouts are
/// refused as corrupt rather than decoded.
#[test]
fn hostile_files_never_crash_ls_inspect_or_gc() {
    let p = Prefix::new("cli-hostile");
    let valid = value_bytes(&p);
    let with = |at: usize, value: &[u8]| {
        let mut b = valid.clone();
        put(&mut b, at, value);
        b
    };
    let mut random = vec![0u8; 8192];
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut random_with_magic = random.clone();
    put(&mut random_with_magic, 0, &valid[..24]);
    let files: Vec<(&str, Vec<u8>, bool)> = vec![
        // (name, contents, an impossible layout that validation must refuse)
        ("empty", vec![], false),
        ("short", b"SHMKIT\0\x01".to_vec(), false),
        ("random", random, false),
        ("random-with-magic", random_with_magic, false),
        ("elem-size-0", with(ELEM_SIZE, &0u64.to_ne_bytes()), true),
        ("elem-size-huge", with(ELEM_SIZE, &u64::MAX.to_ne_bytes()), true),
        ("elem-size-odd", with(ELEM_SIZE, &12u64.to_ne_bytes()), true),
        ("elem-count-huge", with(ELEM_COUNT, &(1u64 << 62).to_ne_bytes()), true),
        ("align-0", with(ELEM_ALIGN, &0u32.to_ne_bytes()), true),
        ("align-3", with(ELEM_ALIGN, &3u32.to_ne_bytes()), true),
        ("align-256", with(ELEM_ALIGN, &256u32.to_ne_bytes()), true),
        ("bad-kind", with(KIND, &999u32.to_ne_bytes()), false),
        ("kind-queue", with(KIND, &11u32.to_ne_bytes()), false),
        ("kind-pipe", with(KIND, &14u32.to_ne_bytes()), false),
        ("kind-lock", with(KIND, &4u32.to_ne_bytes()), false),
        ("kind-barrier", with(KIND, &8u32.to_ne_bytes()), false),
        ("slots-0", with(SLOTS, &0u32.to_ne_bytes()), true),
        ("body-offset", with(BODY_OFFSET, &8u64.to_ne_bytes()), true),
        ("state-init", with(STATE, &0u32.to_ne_bytes()), false),
        ("wrong-magic", with(MAGIC, &0x1234u64.to_ne_bytes()), false),
    ];
    for (what, bytes, _) in &files {
        std::fs::write(p.path(what), bytes).unwrap();
    }

    let listed = stdout(&shmkit(&["ls", &p.0]));
    for (what, _, _) in &files {
        assert!(listed.contains(&p.name(what)), "{what} missing from ls:\n{listed}");
    }
    let json: serde_json::Value = serde_json::from_str(&stdout(&shmkit(&["ls", "--json", &p.0]))).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(files.len()), "{json}");
    for (what, _, impossible) in &files {
        let out = shmkit(&["inspect", &p.name(what)]);
        shmkit(&["inspect", "--json", &p.name(what)]);
        if *impossible {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{what}: an impossible layout was decoded");
            assert!(err.contains("corrupt"), "{what}: {err}");
        }
    }
    let dry = stdout(&shmkit(&["gc", "--dry-run", "--grace", "0", &p.0]));
    assert_eq!(p.left().len(), files.len(), "a dry run removes nothing:\n{dry}");
}

/// A valid header on a 64 GiB sparse file: the command copies its header and participant
/// table, not 64 GiB, lists it, says its body was not read, and collects it.
#[test]
fn a_huge_object_is_listed_without_reading_its_body() {
    let p = Prefix::new("cli-huge");
    let mut bytes = value_bytes(&p);
    let huge: u64 = 64 << 30;
    let body_offset = u64::from_ne_bytes(bytes[BODY_OFFSET..BODY_OFFSET + 8].try_into().unwrap());
    put(&mut bytes, TOTAL_SIZE, &huge.to_ne_bytes());
    put(&mut bytes, BODY_LEN, &(huge - body_offset).to_ne_bytes());
    std::fs::write(p.path("huge"), &bytes).unwrap();
    std::fs::OpenOptions::new().write(true).open(p.path("huge")).unwrap().set_len(huge).unwrap();

    let listed = stdout(&shmkit(&["ls", &p.0]));
    let line = listed.lines().find(|l| l.starts_with(&p.name("huge"))).unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("Value") && line.contains("64.0 GiB") && line.contains("not read"), "{line}");
    let shown = stdout(&shmkit(&["inspect", &p.name("huge")]));
    assert!(shown.contains("not decoded"), "{shown}");
    let dry = stdout(&shmkit(&["gc", "--dry-run", &p.0]));
    assert!(dry.contains(&format!("would remove {}", p.name("huge"))), "{dry}");
}

/// Restores the file when dropped, after its truncator is gone: the test's own mapping of
/// the object must be whole again before the object is dropped, even when the test fails.
struct Restore<'a> {
    truncator: Option<common::Child>,
    file: &'a std::fs::File,
    bytes: &'a [u8],
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        drop(self.truncator.take()); // kills and reaps it, if still running
        self.file.write_all_at(self.bytes, 0).expect("restore the object file");
    }
}

/// Another process truncates an object file to nothing and restores it, over and over,
/// while `ls`, `inspect` and `gc --dry-run` look at it: none of them dies of SIGBUS (the
/// command reads snapshots into private memory instead of mapping the file).
#[test]
fn a_file_shrinking_under_the_command_never_kills_it() {
    let p = Prefix::new("cli-shrink");
    let name = p.name("array");
    let path = p.path("array");
    // Big enough that restoring it takes a while: the command sees a full-sized file
    // whose pages come and go.
    let array = Array::<u64>::create(&name, &vec![5u64; 1 << 17]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let shared = Shared::new();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    let mut restore = Restore { truncator: None, file: &file, bytes: &bytes };
    restore.truncator = Some(fork(|| {
        shared.signal(0, 1);
        while shared.word32(1).load(Ordering::Acquire) == 0 {
            let _ = file.set_len(0);
            std::thread::sleep(Duration::from_micros(50));
            let _ = file.write_all_at(&bytes, 0);
            std::thread::sleep(Duration::from_micros(50));
        }
        0
    }));
    shared.await_value(0, 1, LIMIT);
    let start = Instant::now();
    let mut runs = 0;
    while runs < 100 || start.elapsed() < Duration::from_secs(2) {
        shmkit(&["ls", &p.0]);
        shmkit(&["inspect", &name]);
        shmkit(&["inspect", "--json", &name]);
        shmkit(&["gc", "--dry-run", &p.0]);
        runs += 1;
    }
    shared.signal(1, 1);
    let truncator = restore.truncator.take().expect("the truncator");
    assert_eq!(truncator.wait(LIMIT), Exit::Code(0));
    drop(restore);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes.len() as u64);
    // The object is whole again, and still in use.
    assert_eq!(array.get(0).unwrap(), 5);
    assert!(ok_listed(&p, &name));
}

/// Whether `shmkit ls` lists `name` as a whole Array with its live creator.
fn ok_listed(p: &Prefix, name: &str) -> bool {
    let out = stdout(&shmkit(&["ls", &p.0]));
    out.lines().any(|l| l.starts_with(name) && l.contains("Array") && l.contains("1 alive"))
}

/// Root's `gc` leaves another user's object alone, even when nobody uses it, and
/// `--dry-run` says so and why.
#[test]
fn gc_and_rm_as_root_keep_another_users_object() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("note: not root, so no other user's object can be made here; skipped");
        return;
    }
    let p = Prefix::new("cli-foreign");
    let (theirs, ours) = (p.name("theirs"), p.name("ours"));
    drop(Value::<u64>::create(&theirs, 1).unwrap());
    drop(Value::<u64>::create(&ours, 2).unwrap());
    std::os::unix::fs::chown(p.path("theirs"), Some(65534), Some(65534)).unwrap();

    let dry = stdout(&shmkit(&["gc", "--dry-run", &p.0]));
    let kept =
        dry.lines().find(|l| l.contains(&theirs)).unwrap_or_else(|| panic!("{theirs} not named:\n{dry}"));
    assert!(kept.contains("keep") && kept.contains("another user") && kept.contains("65534"), "{dry}");
    assert!(dry.contains(&format!("would remove {ours}")), "{dry}");
    assert_eq!(p.left().len(), 2, "a dry run removes nothing");

    let done = stdout(&shmkit(&["gc", &p.0]));
    assert!(done.contains(&format!("removed {ours}")), "{done}");
    assert!(!done.contains(&format!("removed {theirs}")), "{done}");
    assert_eq!(p.left(), std::slice::from_ref(&theirs), "{done}");

    // `rm` by name leaves it alone too, unless forced.
    let refused = shmkit(&["rm", &theirs]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another user"), "{refused:?}");
    assert_eq!(p.left(), std::slice::from_ref(&theirs));
    let forced = stdout(&shmkit(&["rm", "--force", &theirs]));
    assert!(forced.contains(&format!("removed {theirs}")), "{forced}");
    assert!(p.left().is_empty());
}
