//! A tour of shmkit across real processes.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! The tour starts copies of itself as child processes (`tour child <name>`), which open
//! the parent's objects by name. Today it shows the foundation: named objects with a
//! checked header, kernel-backed liveness of every participant, and futex wake-ups that
//! cross processes. Each primitive adds its own stop as it lands.

use std::cell::UnsafeCell;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmkit::{
    CreateOptions, Deadline, EventCount, Expect, Kind, Object, OpenError, OpenOptions, Role, Spec,
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
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("child") => child(&args[2]),
        Some("sleeper") => sleeper(&args[2]),
        _ => parent(),
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
    println!("\ntour complete");
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
