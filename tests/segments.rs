//! Segments and the object header across real processes: refusals, squatting, readiness,
//! mismatches, a full /dev/shm, bad arguments.

mod common;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{fork, watchdog, NameGuard, LIMIT};
use shmkit::{
    CreateError, CreateOptions, Expect, Kind, NameError, Object, OpenError, OpenOptions, Segment, Spec,
    TypeDesc, UnlinkError,
};

fn bytes_spec(len: u64) -> Spec {
    Spec::new(Kind::Bytes, len)
}

fn create(name: &str, spec: &Spec) -> Object {
    Object::create(name, spec, &CreateOptions::new(), |_, _| {}).unwrap()
}

fn open(name: &str) -> Result<Object, OpenError> {
    Object::open(name, &Expect::any(), &OpenOptions::new().ready_timeout(Duration::from_secs(5)))
}

fn truncate(seg: &impl AsFd, len: i64) -> std::io::Result<()> {
    // SAFETY: plain system call on an open descriptor.
    if unsafe { libc::ftruncate(seg.as_fd().as_raw_fd(), len) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[test]
fn truncated_segment_is_refused() {
    let g = NameGuard::new("truncated");
    let obj = create(g.name(), &bytes_spec(4096));
    let total = obj.segment().len() as i64;
    truncate(obj.segment(), total - 512).unwrap();
    match open(g.name()) {
        Err(OpenError::SizeMismatch { expected, found }) => {
            assert_eq!((expected, found), (total as u64, total as u64 - 512));
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
}

#[test]
fn too_small_segment_is_refused() {
    let g = NameGuard::new("too-small");
    let _seg = Segment::create(g.name(), 64, &CreateOptions::new()).unwrap();
    assert!(matches!(open(g.name()), Err(OpenError::TooSmall { expected_at_least: 128, found: 64 })));
}

#[test]
fn foreign_magic_is_refused_without_waiting() {
    let g = NameGuard::new("foreign-magic");
    let seg = Segment::create(g.name(), 4096, &CreateOptions::new()).unwrap();
    // What another program's shared memory might hold.
    // SAFETY: the segment is 4096 bytes; nobody else uses it yet.
    unsafe { seg.as_ptr().copy_from(b"PSM-not-shmkit".as_ptr(), 14) };
    let name = g.name().to_owned();
    // A long ready timeout: the refusal must not wait for it.
    let r = watchdog(LIMIT, move || {
        Object::open(&name, &Expect::any(), &OpenOptions::new().ready_timeout(Duration::from_secs(3600)))
            .map(drop)
    });
    assert!(matches!(r, Err(OpenError::BadMagic { .. })), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("choose another name"));
}

#[test]
fn sealed_memfd_refuses_ftruncate() {
    let seg = Segment::anonymous(8192).unwrap();
    for len in [0, 4096, 16384] {
        let err = truncate(&seg, len).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "ftruncate to {len}");
    }
    assert_eq!(seg.file_size().unwrap(), 8192);
}

#[test]
fn unsealed_descriptor_is_refused() {
    // SAFETY: a valid NUL-terminated name; the result is checked.
    let raw = unsafe { libc::memfd_create(c"unsealed".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(raw >= 0);
    // SAFETY: `raw` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    truncate(&fd, 4096).unwrap();
    assert!(matches!(Segment::from_fd(fd), Err(OpenError::NotSealed { .. })));
}

#[test]
fn squatting_foreign_mode_is_refused() {
    let g = NameGuard::new("squat-mode");
    let _obj =
        Object::create(g.name(), &bytes_spec(64), &CreateOptions::new().mode(0o666), |_, _| {}).unwrap();
    let err = open(g.name()).unwrap_err();
    assert!(matches!(err, OpenError::ForeignMode { found: 0o666, .. }), "{err:?}");
    assert!(err.to_string().contains("allow_foreign"));
    let opts = OpenOptions::new().allow_foreign(true);
    Object::open(g.name(), &Expect::any(), &opts).unwrap();
}

#[test]
fn squatting_foreign_owner_is_refused() {
    let g = NameGuard::new("squat-owner");
    let obj = create(g.name(), &bytes_spec(64));
    // Only root can give a file away; elsewhere the check is the same code path as mode.
    // SAFETY: plain system call on an open descriptor.
    if unsafe { libc::fchown(obj.segment().as_fd().as_raw_fd(), 54321, u32::MAX) } != 0 {
        eprintln!("skipped: cannot chown as this user ({})", std::io::Error::last_os_error());
        return;
    }
    let err = open(g.name()).unwrap_err();
    assert!(matches!(err, OpenError::ForeignOwner { found: 54321, .. }), "{err:?}");
    Object::open(g.name(), &Expect::any(), &OpenOptions::new().allow_foreign(true)).unwrap();
}

#[test]
fn squatting_create_over_existing_gives_already_exists() {
    let g = NameGuard::new("squat-exists");
    let _first = create(g.name(), &bytes_spec(64));
    let err = Object::create(g.name(), &bytes_spec(64), &CreateOptions::new(), |_, _| {}).unwrap_err();
    assert!(matches!(err, CreateError::AlreadyExists { .. }), "{err:?}");
    // The loser did not remove the winner's object.
    open(g.name()).unwrap();
}

#[test]
fn squatting_symlink_is_refused() {
    let g = NameGuard::new("squat-link");
    let target = NameGuard::new("squat-link-target");
    let _t = create(target.name(), &bytes_spec(64));
    let link = shmkit::Name::new(g.name()).unwrap().path();
    std::os::unix::fs::symlink(shmkit::Name::new(target.name()).unwrap().path(), &link).unwrap();
    assert!(matches!(open(g.name()), Err(OpenError::Symlink { .. })));
    let err = Object::create(g.name(), &bytes_spec(64), &CreateOptions::new(), |_, _| {}).unwrap_err();
    assert!(matches!(err, CreateError::AlreadyExists { .. }), "{err:?}");
}

#[test]
fn new_objects_are_private_to_their_owner() {
    let g = NameGuard::new("mode-0600");
    // A permissive umask must not leak into the mode.
    // SAFETY: plain system call.
    let old = unsafe { libc::umask(0) };
    let _obj = create(g.name(), &bytes_spec(64));
    // SAFETY: plain system call.
    unsafe { libc::umask(old) };
    let listed = shmkit::segment::list().unwrap();
    let me = listed.iter().find(|l| l.name.as_str() == g.name()).unwrap();
    assert_eq!(me.mode, 0o600);
}

#[test]
fn open_racing_create_waits_and_succeeds() {
    let g = NameGuard::new("race");
    let name = g.name().to_owned();
    let child = fork(move || {
        let deadline = Instant::now() + LIMIT;
        loop {
            match open(&name) {
                Ok(obj) => {
                    // The creator's init wrote the body before publishing ready.
                    // SAFETY: the body is 64 bytes, mapped while `obj` lives.
                    let byte = unsafe { obj.body().add(63).read_volatile() };
                    return if byte == 0xAB { 0 } else { 2 };
                }
                Err(OpenError::NotFound { .. }) if Instant::now() < deadline => std::thread::yield_now(),
                Err(_) => return 3,
            }
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    let _obj = Object::create(g.name(), &bytes_spec(64), &CreateOptions::new(), |body, len| {
        // Hold the object half-built while the child is trying to open it.
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: `body` is valid for `len` bytes; nobody can see it before ready.
        unsafe { body.write_bytes(0xAB, len) };
    })
    .unwrap();
    child.join_ok(LIMIT);
}

#[test]
fn half_initialised_object_gives_not_ready_after_its_deadline() {
    let g = NameGuard::new("half-init");
    let shared = common::Shared::new();
    let name = g.name().to_owned();
    // A creator that is still building the object, for a long time.
    let child = fork(|| {
        let _ = Object::create(&name, &bytes_spec(64), &CreateOptions::new(), |_, _| {
            shared.signal(0, 1);
            std::thread::sleep(Duration::from_secs(60));
        });
        1
    });
    shared.await_value(0, 1, LIMIT);
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = Object::open(g.name(), &Expect::any(), &OpenOptions::new().ready_timeout(timeout)).unwrap_err();
    assert!(start.elapsed() >= timeout);
    assert!(matches!(err, OpenError::NotReady { waited } if waited >= timeout), "{err:?}");

    // Once that creator is dead, opening says so at once instead of waiting.
    child.kill();
    child.wait(LIMIT);
    let long = OpenOptions::new().ready_timeout(Duration::from_secs(3600));
    let name = g.name().to_owned();
    let err = watchdog(LIMIT, move || Object::open(&name, &Expect::any(), &long).map(drop)).unwrap_err();
    assert!(matches!(err, OpenError::CreatorDied), "{err:?}");
}

/// A snapshot of an object still being built copies the file again until a copy shows it
/// ready: it neither waits on a copy that never changes nor reports it not ready once built.
#[test]
fn a_snapshot_waits_for_an_object_being_built() {
    let g = NameGuard::new("snap-half-init");
    let shared = common::Shared::new();
    let name = g.name().to_owned();
    let child = fork(|| {
        let built = Object::create(&name, &bytes_spec(64), &CreateOptions::new(), |body, len| {
            shared.signal(0, 1);
            shared.await_value(1, 1, LIMIT);
            // Still building when the parent's snapshot starts.
            std::thread::sleep(Duration::from_millis(200));
            // SAFETY: `body` is valid for `len` bytes; nobody can see it before ready.
            unsafe { body.write_bytes(0xAB, len) };
        });
        // Alive while the parent looks.
        shared.await_value(2, 1, LIMIT);
        i32::from(built.is_err())
    });
    shared.await_value(0, 1, LIMIT);
    let timeout = Duration::from_millis(100);
    let err = Object::snapshot(g.name(), &OpenOptions::new().ready_timeout(timeout)).unwrap_err();
    assert!(matches!(err, OpenError::NotReady { waited } if waited >= timeout), "{err:?}");

    shared.signal(1, 1);
    let name = g.name().to_owned();
    let long = OpenOptions::new().ready_timeout(Duration::from_secs(3600));
    let last = watchdog(LIMIT, move || {
        let seen = Object::snapshot(&name, &long).unwrap();
        // SAFETY: the body is 64 bytes of the private copy, mapped while `seen` lives.
        unsafe { seen.body().add(63).read_volatile() }
    });
    assert_eq!(last, 0xAB, "the snapshot shows the object as built");
    shared.signal(2, 1);
    child.join_ok(LIMIT);
}

#[test]
fn version_kind_and_type_mismatches_are_named_errors() {
    let g = NameGuard::new("mismatch");
    let spec = Spec::new(Kind::Array, 40).elem(TypeDesc::of::<i32>(), 10);
    let obj = create(g.name(), &spec);
    let o = OpenOptions::new();

    let err = Object::open(g.name(), &Expect::kind(Kind::Queue), &o).unwrap_err();
    assert!(
        matches!(err, OpenError::KindMismatch { expected: Kind::Queue, found: shmkit::header::KindCode(10) }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Array"));

    let err = Object::open(g.name(), &Expect::kind(Kind::Array).elem(TypeDesc::of::<u32>()), &o).unwrap_err();
    match err {
        OpenError::TypeMismatch { expected, found } => {
            assert_eq!((expected.code, found.code), (b'I', b'i'));
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }

    let err = Object::open(g.name(), &Expect::kind(Kind::Array).count(11), &o).unwrap_err();
    assert!(matches!(err, OpenError::CountMismatch { expected: 11, found: 10 }), "{err:?}");

    Object::open(g.name(), &spec.expect(), &o).unwrap();

    obj.header().version.store(shmkit::header::FORMAT_VERSION + 1, Ordering::Relaxed);
    let err = Object::open(g.name(), &spec.expect(), &o).unwrap_err();
    assert!(matches!(err, OpenError::VersionMismatch { .. }), "{err:?}");
}

#[test]
fn dev_shm_full_gives_an_error_not_sigbus() {
    // SAFETY: all-zero is a valid statvfs; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `st` is valid for writes.
    assert_eq!(unsafe { libc::statvfs(c"/dev/shm".as_ptr(), &mut st) }, 0);
    let capacity = st.f_blocks * st.f_frsize;
    if capacity == 0 {
        eprintln!("skipped: /dev/shm has no size limit here");
        return;
    }
    let g = NameGuard::new("full");
    let err = Object::create(g.name(), &bytes_spec(capacity + (1 << 30)), &CreateOptions::new(), |_, _| {})
        .unwrap_err();
    assert!(matches!(err, CreateError::NoSpace { .. }), "{err:?}");
    // Nothing is left behind.
    assert!(!shmkit::segment::exists(g.name()).unwrap());
}

#[test]
fn bad_names_and_sizes_are_errors_not_panics() {
    let o = CreateOptions::new();
    for bad in ["", "a/b", "../etc/passwd", "sp ace", "nul\0", &"x".repeat(201)] {
        assert!(matches!(Segment::create(bad, 64, &o), Err(CreateError::InvalidName(_))), "{bad:?}");
        assert!(matches!(
            Object::create(bad, &bytes_spec(64), &o, |_, _| {}),
            Err(CreateError::InvalidName(_))
        ));
        assert!(matches!(open(bad), Err(OpenError::InvalidName(_))));
        assert!(matches!(shmkit::segment::unlink(bad), Err(UnlinkError::InvalidName(_))));
        assert!(shmkit::segment::exists(bad).is_err());
    }
    assert!(matches!(shmkit::Name::new(&"x".repeat(201)), Err(NameError::TooLong { len: 201, max: 200 })));

    let g = NameGuard::new("bad-size");
    assert!(matches!(Segment::create(g.name(), 0, &o), Err(CreateError::InvalidSize { size: 0, .. })));
    assert!(matches!(Segment::create(g.name(), u64::MAX, &o), Err(CreateError::InvalidSize { .. })));
    assert!(matches!(Segment::anonymous(0), Err(CreateError::InvalidSize { .. })));
    for slots in [0, 4097, u32::MAX] {
        let err = Object::create(g.name(), &bytes_spec(64).slots(slots), &o, |_, _| {}).unwrap_err();
        assert!(matches!(err, CreateError::InvalidSlots { .. }), "{err:?}");
    }
    let err = Object::create(g.name(), &bytes_spec(u64::MAX - 64), &o, |_, _| {}).unwrap_err();
    assert!(matches!(err, CreateError::InvalidSize { .. }), "{err:?}");
    // No refused create left a file behind.
    assert!(!shmkit::segment::exists(g.name()).unwrap());
    assert!(matches!(open(g.name()), Err(OpenError::NotFound { .. })));
}

#[test]
fn list_exists_and_unlink() {
    let a = NameGuard::new("list-a");
    let b = NameGuard::new("list-b");
    let _oa = create(a.name(), &bytes_spec(64));
    let _ob = create(b.name(), &bytes_spec(4096));
    let listed = shmkit::segment::list().unwrap();
    let find = |n: &str| listed.iter().find(|l| l.name.as_str() == n).cloned();
    assert_eq!(find(a.name()).unwrap().size, _oa.segment().len() as u64);
    assert!(find(b.name()).is_some());
    assert!(shmkit::segment::exists(a.name()).unwrap());
    shmkit::segment::unlink(a.name()).unwrap();
    assert!(!shmkit::segment::exists(a.name()).unwrap());
    assert!(matches!(shmkit::segment::unlink(a.name()), Err(UnlinkError::NotFound { .. })));
    // Objects survive their name: the handle still works.
    assert_eq!(_oa.body_len(), 64);
}

#[test]
fn unlink_through_a_stale_handle_spares_a_new_object() {
    let g = NameGuard::new("stale-unlink");
    let old = create(g.name(), &bytes_spec(64));
    shmkit::segment::unlink(g.name()).unwrap();
    let _new = create(g.name(), &bytes_spec(64));
    assert!(matches!(old.unlink(), Err(UnlinkError::NotFound { .. })));
    assert!(shmkit::segment::exists(g.name()).unwrap());
}

#[test]
fn open_or_create_creates_once() {
    let g = NameGuard::new("open-or-create");
    let spec = bytes_spec(64);
    let (c, o) = (CreateOptions::new(), OpenOptions::new());
    let (_first, created) = Object::open_or_create(g.name(), &spec, &c, &o, |_, _| {}).unwrap();
    assert!(created);
    let (_second, created) =
        Object::open_or_create(g.name(), &spec, &c, &o, |_, _| panic!("ran twice")).unwrap();
    assert!(!created);
    let other = Spec::new(Kind::Event, 64);
    assert!(Object::open_or_create(g.name(), &other, &c, &o, |_, _| {}).is_err());
}

#[test]
fn anonymous_object_is_shared_with_forked_children() {
    let obj = Object::anonymous(&bytes_spec(64), |_, _| {}).unwrap();
    let body = obj.body() as usize;
    let child = fork(move || {
        // SAFETY: the mapping is inherited; the body is 64 bytes.
        unsafe { (body as *mut u8).write_volatile(42) };
        0
    });
    child.join_ok(LIMIT);
    // SAFETY: as above.
    assert_eq!(unsafe { obj.body().read_volatile() }, 42);
}

#[test]
fn anonymous_object_passes_as_a_descriptor() {
    let obj = Object::anonymous(&Spec::new(Kind::Event, 64), |body, _| {
        // SAFETY: the body is 64 bytes.
        unsafe { body.write(9) };
    })
    .unwrap();
    let fd = obj.segment().as_fd().try_clone_to_owned().unwrap();
    let peer = Object::from_fd(fd, &Expect::kind(Kind::Event), &OpenOptions::new()).unwrap();
    // SAFETY: the body is 64 bytes.
    assert_eq!(unsafe { peer.body().read() }, 9);
    let fd = obj.segment().as_fd().try_clone_to_owned().unwrap();
    assert!(matches!(
        Object::from_fd(fd, &Expect::kind(Kind::Lock), &OpenOptions::new()),
        Err(OpenError::KindMismatch { .. })
    ));
}

#[test]
fn unlink_never_removes_a_file_swapped_in_at_its_name_meanwhile() {
    // Another process swaps two files back and forth under two names (renameat2
    // RENAME_EXCHANGE) while a handle to one of them unlinks it, 300 times over: the
    // other file must never be removed. (Checking the inode, then unlinking by name,
    // removed it whenever a swap fell between the two.)
    let ours = NameGuard::new("swap-ours");
    let theirs = NameGuard::new("swap-theirs");
    let other = create(theirs.name(), &bytes_spec(64));
    let shared = common::Shared::new();
    let path = |name: &str| std::ffi::CString::new(format!("/dev/shm/shmkit.{name}")).unwrap();
    let (a, b) = (path(ours.name()), path(theirs.name()));
    let swapper = {
        let shared = &shared;
        fork(move || {
            while shared.word32(0).load(Ordering::Acquire) == 0 {
                // SAFETY: both paths are valid NUL-terminated strings. While our file
                // is gone (between rounds) it fails, and that is fine.
                unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
            }
            0
        })
    };
    let links = |o: &Object| {
        // SAFETY: all-zero is a valid stat; fstat writes it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is open while `o` lives; `st` outlives the call.
        assert_eq!(unsafe { libc::fstat(o.segment().as_fd().as_raw_fd(), &mut st) }, 0);
        st.st_nlink
    };
    let deadline = Instant::now() + LIMIT;
    for round in 0..300 {
        // Our file's name is free between rounds (the swapper finds one name missing).
        let obj = loop {
            match Object::create(ours.name(), &bytes_spec(64), &CreateOptions::new(), |_, _| {}) {
                Ok(obj) => break obj,
                Err(e) => assert!(Instant::now() < deadline, "round {round}: {e}"),
            }
        };
        loop {
            let r = obj.unlink();
            assert_eq!(links(&other), 1, "round {round}: the other file was removed");
            if r.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: never found our file: {r:?}");
        }
        assert_eq!(links(&obj), 0, "round {round}: our file is removed");
    }
    shared.signal(0, 1);
    swapper.join_ok(LIMIT);
}

#[test]
fn unlink_on_drop_removes_the_name_when_the_creators_handle_drops_and_only_then() {
    use shmkit::Value;
    let g = NameGuard::new("unlink-on-drop");
    let name = g.name().to_owned();
    let opts = CreateOptions::new().unlink_on_drop(true);
    // An early return between create and the end: nothing is left behind.
    let early = || -> Result<(), Box<dyn std::error::Error>> {
        let _v = Value::<u64>::create_with(&name, 1, &opts)?;
        Err("something failed half-way".into())
    };
    assert!(early().is_err());
    assert!(!shmkit::segment::exists(&name).unwrap(), "the name was left behind");

    let v = Value::<u64>::create_with(&name, 7, &opts).unwrap();
    // A child that opens it, and one that drops its inherited copy of the creator's
    // handle: neither removes the name.
    let child = fork(|| {
        let opened = Value::<u64>::open(&name).unwrap();
        drop(opened);
        i32::from(!shmkit::segment::exists(&name).unwrap())
    });
    child.join_ok(LIMIT);
    let inherited = fork(|| {
        // SAFETY: the child's copy of `v` is dropped here only: the child `_exit`s without
        // unwinding, so the copy the closure borrows is never dropped again.
        drop(unsafe { std::ptr::read(&v) });
        i32::from(!shmkit::segment::exists(&name).unwrap())
    });
    inherited.join_ok(LIMIT);
    assert!(shmkit::segment::exists(&name).unwrap());
    drop(v);
    assert!(!shmkit::segment::exists(&name).unwrap(), "the creator's drop removes the name");
}

#[test]
fn replace_abandoned_replaces_an_object_its_crashed_creator_left_and_nothing_in_use() {
    use shmkit::{Queue, QueueOptions};
    let g = NameGuard::new("replace-abandoned");
    let name = g.name().to_owned();
    // A run that crashed: it made and closed a queue, then was killed.
    let crashed = fork(|| {
        let q = Queue::<u64>::create(&name, 4).unwrap();
        q.put(1).unwrap();
        q.close();
        std::mem::forget(q);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let deadline = Instant::now() + LIMIT;
    while !shmkit::segment::exists(&name).unwrap() || open(&name).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    // While its creator lives, the object is in use: never replaced.
    let replace = CreateOptions::new().replace_abandoned(true);
    let opts = QueueOptions::new().create_options(replace.clone());
    assert!(matches!(Queue::<u64>::create_with(&name, 4, &opts), Err(CreateError::AlreadyExists { .. })));
    crashed.kill();
    let _ = crashed.wait(LIMIT);
    // Without the option the abandoned queue is in the way, closed and holding an item.
    assert!(matches!(Queue::<u64>::create(&name, 4), Err(CreateError::AlreadyExists { .. })));
    let q = Queue::<u64>::create_with(&name, 4, &opts).unwrap();
    assert!(q.is_empty() && !q.is_closed());
    q.put(2).unwrap();
    assert_eq!(q.get().unwrap(), 2);
}

#[test]
fn open_timeout_waits_for_a_creator_that_starts_later() {
    use shmkit::Queue;
    let g = NameGuard::new("open-timeout");
    let name = g.name().to_owned();
    assert!(matches!(Queue::<u64>::open(&name), Err(OpenError::NotFound { .. })));
    let t = Duration::from_millis(50);
    let started = Instant::now();
    assert!(matches!(Queue::<u64>::open_timeout(&name, t), Err(OpenError::NotFound { .. })));
    assert!(started.elapsed() >= t);
    // The consumer starts first; the producer creates the queue 100 ms later.
    let producer = fork(|| {
        std::thread::sleep(Duration::from_millis(100));
        let q = Queue::<u64>::create(&name, 4).unwrap();
        q.put(42).unwrap();
        std::mem::forget(q);
        0
    });
    let started = Instant::now();
    let q = Queue::<u64>::open_timeout(&name, LIMIT).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(q.get_timeout(LIMIT).unwrap(), 42);
    producer.join_ok(LIMIT);
}
