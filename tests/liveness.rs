//! Participants and liveness across real processes: forked children, SIGKILL, pid reuse.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{fork, Exit, NameGuard, Shared, LIMIT};
use shmkit::{CreateOptions, Expect, Kind, Object, OpenError, OpenOptions, ParticipantId, Role, Spec};

fn create(name: &str, slots: u32) -> Object {
    Object::create(name, &Spec::new(Kind::Bytes, 64).slots(slots), &CreateOptions::new(), |_, _| {}).unwrap()
}

fn open(name: &str) -> Result<Object, OpenError> {
    Object::open(name, &Expect::kind(Kind::Bytes), &OpenOptions::new())
}

#[test]
fn forked_child_is_its_own_participant() {
    let g = NameGuard::new("fork-participant");
    let obj = create(g.name(), 8);
    let parent = obj.participant().unwrap();
    let shared = Shared::new();
    let child = fork(|| {
        let me = obj.participant().unwrap();
        if me == parent || !obj.is_alive(me) || !obj.is_alive(parent) {
            return 2;
        }
        shared.word(1).store(me.to_u64(), Ordering::Release);
        shared.signal(0, 1);
        // Stay attached until the parent has looked.
        shared.await_value(0, 2, LIMIT);
        0
    });
    shared.await_value(0, 1, LIMIT);
    let child_id = ParticipantId::from_u64(shared.word(1).load(Ordering::Acquire));
    assert_ne!(child_id.slot, parent.slot);
    assert!(obj.is_alive(child_id));
    let rows = obj.participants();
    let row = rows.iter().find(|p| p.id == child_id).expect("child listed");
    assert_eq!((row.pid as i32, row.alive, row.role), (child.pid(), true, Role::CREATOR));
    assert_eq!(rows.iter().filter(|p| p.alive).count(), 2);
    shared.signal(0, 2);
    child.join_ok(LIMIT);
    assert!(!obj.is_alive(child_id));
    assert!(obj.is_alive(parent));
}

#[test]
fn forked_child_does_not_keep_its_parent_alive() {
    let g = NameGuard::new("fork-no-inherit");
    let watcher = create(g.name(), 8);
    let shared = Shared::new();
    let name = g.name().to_owned();
    // The parent of this test is a single-threaded child of ours: a fork made by another
    // test thread at the wrong moment would hold a copy of our own descriptors for a few
    // microseconds, which is not what this test is about.
    let parent = fork(|| {
        let obj = open(&name).unwrap();
        shared.word(1).store(obj.participant().unwrap().to_u64(), Ordering::Release);
        // The grandchild holds the inherited mapping and descriptors, and registers itself.
        let grandchild = fork(|| {
            let me = obj.participant().unwrap();
            shared.signal(0, 1);
            shared.await_value(0, 2, LIMIT);
            i32::from(ParticipantId::from_u64(shared.word(1).load(Ordering::Acquire)) == me)
        });
        shared.await_value(0, 1, LIMIT);
        // The parent lets go while its child lives.
        drop(obj);
        shared.signal(2, 1);
        shared.await_value(0, 2, LIMIT);
        match grandchild.wait(LIMIT) {
            Exit::Code(0) => 0,
            _ => 3,
        }
    });
    shared.await_value(2, 1, LIMIT);
    let parent_id = ParticipantId::from_u64(shared.word(1).load(Ordering::Acquire));
    assert!(!watcher.is_alive(parent_id), "a forked child kept its parent's liveness lock");
    assert_eq!(
        watcher.participants().iter().filter(|p| p.alive).count(),
        2,
        "the watcher and the grandchild"
    );
    shared.signal(0, 2);
    parent.join_ok(LIMIT);
}

/// Starts a child that opens `name`, publishes its participant id, and blocks.
fn attached_child(name: &str, shared: &Shared) -> (common::Child, ParticipantId) {
    let name = name.to_owned();
    let child = fork(|| {
        let obj = open(&name).unwrap();
        obj.set_role(Role::WORKER);
        shared.word(1).store(obj.participant().unwrap().to_u64(), Ordering::Release);
        shared.signal(0, 1);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    (child, ParticipantId::from_u64(shared.word(1).load(Ordering::Acquire)))
}

#[test]
fn sigkilled_participant_is_dead_once_reaped() {
    let g = NameGuard::new("sigkill");
    let obj = create(g.name(), 8);
    let shared = Shared::new();
    let (child, id) = attached_child(g.name(), &shared);
    assert!(obj.is_alive(id));
    let row = obj.participants().into_iter().find(|p| p.id == id).unwrap();
    assert_eq!((row.role, row.alive), (Role::WORKER, true));
    child.kill();
    assert_eq!(child.wait(LIMIT), Exit::Signal(libc::SIGKILL));
    // No sleep, no polling: the kernel released the lock before it let us reap.
    assert!(!obj.is_alive(id));
    let row = obj.participants().into_iter().find(|p| p.id == id).unwrap();
    assert!(!row.alive);
}

/// Tries to make the next fork get `pid`, through `ns_last_pid` (needs privileges).
fn fork_with_pid(pid: i32, body: impl Fn() -> i32) -> Option<common::Child> {
    for _ in 0..20 {
        if std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1)).is_err() {
            return None;
        }
        let child = fork(&body);
        if child.pid() == pid {
            return Some(child);
        }
    }
    None
}

#[test]
fn reused_pid_does_not_revive_a_dead_slot() {
    let g = NameGuard::new("pid-reuse");
    let obj = create(g.name(), 8);
    let shared = Shared::new();
    let (child, id) = attached_child(g.name(), &shared);
    let dead_pid = child.pid();
    child.kill();
    assert_eq!(child.wait(LIMIT), Exit::Signal(libc::SIGKILL));
    assert!(!obj.is_alive(id));

    // A new, live process with the dead participant's pid (really, where the kernel
    // lets us choose pids; otherwise the table is made to name a live pid).
    let impostor = fork_with_pid(dead_pid, || loop {
        std::thread::sleep(Duration::from_secs(1));
    });
    let row = obj.participants().into_iter().find(|p| p.id == id).unwrap();
    match &impostor {
        Some(p) => assert_eq!(row.pid as i32, p.pid()),
        None => {
            eprintln!("note: cannot choose pids here; pointing the dead slot at a live pid instead");
            let entry = obj.segment().as_ptr() as usize + 128 + id.slot as usize * 16;
            // SAFETY: the entry is inside the mapping (slot < slots); `pid` is the third
            // u32 of the entry, an atomic.
            let pid = unsafe { &*((entry + 8) as *const std::sync::atomic::AtomicU32) };
            pid.store(std::process::id(), Ordering::Relaxed);
        }
    }
    assert!(!obj.is_alive(id), "a live process with a dead participant's pid revived its slot");
    assert!(!obj.participants().into_iter().find(|p| p.id == id).unwrap().alive);
}

#[test]
fn dead_slots_are_reclaimed_and_old_ids_stay_dead() {
    let g = NameGuard::new("reclaim");
    // Two slots: ours and one for a child.
    let obj = create(g.name(), 2);
    let shared = Shared::new();
    let (child, id) = attached_child(g.name(), &shared);
    let err = open(g.name()).unwrap_err();
    assert!(matches!(err, OpenError::ParticipantsFull { slots: 2 }), "{err:?}");
    child.kill();
    child.wait(LIMIT);
    // The dead child's slot is free again, under a new generation.
    let again = open(g.name()).unwrap();
    let new_id = again.participant().unwrap();
    assert_eq!(new_id.slot, id.slot);
    assert_ne!(new_id.generation, id.generation);
    assert!(obj.is_alive(new_id));
    assert!(!obj.is_alive(id), "the old holder of a reclaimed slot must stay dead");
}

#[test]
fn inspecting_does_not_count_as_a_participant() {
    let g = NameGuard::new("inspect");
    let shared = Shared::new();
    let name = g.name().to_owned();
    let child = fork(|| {
        let obj = create(&name, 8);
        std::mem::forget(obj);
        shared.signal(0, 1);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    shared.await_value(0, 1, LIMIT);
    let seen = Object::inspect(g.name(), &OpenOptions::new()).unwrap();
    assert!(seen.has_live_participants());
    child.kill();
    child.wait(LIMIT);
    assert!(!seen.has_live_participants());
    assert_eq!(seen.participants().iter().filter(|p| p.alive).count(), 0);
    assert_eq!(seen.participants().len(), 1, "the dead creator is still listed, as dead");
}

#[test]
fn out_of_range_ids_are_not_alive() {
    let g = NameGuard::new("bad-id");
    let obj = create(g.name(), 4);
    for word in [u64::MAX, 4 << 32, (1000 << 32) | 1] {
        assert!(!obj.is_alive(ParticipantId::from_u64(word)));
    }
}

#[test]
fn a_fork_never_copies_a_lock_descriptor_being_made_or_closed() {
    // One thread registers and lets go of participants in a loop while another forks
    // children that live a while. A child must never hold a copy of a descriptor that
    // the fork handler could not see (made but not yet in the table, or out of it but not
    // yet closed): it would keep a slot that its owner let go of looking alive.
    let g = common::NameGuard::new("fork-race");
    let obj = create(g.name(), 64);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let leaked = std::thread::scope(|s| {
        let churn = s.spawn(|| {
            let mut leaked = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let h = obj.try_clone().unwrap();
                let slot = h.participant().unwrap().slot;
                drop(h);
                // Nobody else uses this slot. A child forked a moment ago may still hold a
                // copy until its fork handler has run (microseconds, or a little more on a
                // loaded machine); one that still holds it long after holds a copy the
                // handler never saw, for as long as it lives.
                if obj.is_slot_alive(slot) {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    if obj.is_slot_alive(slot) {
                        leaked += 1;
                    }
                }
            }
            leaked
        });
        let mut children = Vec::new();
        for _ in 0..1500 {
            children.push(common::fork(|| {
                std::thread::sleep(std::time::Duration::from_millis(200));
                0
            }));
            if children.len() >= 64 {
                for c in children.drain(..) {
                    c.join_ok(common::LIMIT);
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in children {
            c.join_ok(common::LIMIT);
        }
        churn.join().unwrap()
    });
    assert_eq!(leaked, 0, "slots let go of still read alive: a child held their descriptors");
}
