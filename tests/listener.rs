//! The shared-memory Listener and Client across real processes: eight clients exchanging
//! 10 000 messages each while others are killed mid-connect, mid-handshake and
//! mid-message; a dead listener failing connects; a full backlog; the authkey handshake;
//! and nothing of theirs left in `/dev/shm`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fork, watchdog, Exit, NameGuard, Rng, Shared, LIMIT};
use shmkit::connection::{auth::AuthError, Client, ConnError, Connection, Listener, Options};

const KEY: &[u8] = b"a shared secret";

fn keyed() -> Options {
    Options::new().authkey(KEY)
}

/// The objects in `/dev/shm` whose names start with `name`.
fn leftovers(name: &str) -> Vec<String> {
    let prefix = format!("shmkit.{name}");
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.starts_with(&prefix))
        .collect()
}

/// Echoes every message back until the peer goes.
fn echo(conn: Connection) {
    while let Ok(m) = conn.recv_bytes() {
        if conn.send_bytes(&m).is_err() {
            return;
        }
    }
}

/// Serves clients from `l`, each on a thread of its own, until `stop`; counts accepts
/// and failed accepts.
fn serve(l: Listener, stop: Arc<AtomicBool>, ok: Arc<AtomicUsize>, failed: Arc<AtomicUsize>) {
    while !stop.load(Ordering::Acquire) {
        match l.accept_timeout(Some(Duration::from_millis(50))) {
            Ok(c) => {
                ok.fetch_add(1, Ordering::Relaxed);
                std::thread::spawn(move || echo(c));
            }
            Err(ConnError::Timeout) => {}
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A message of client `who`'s, number `i`: its own bytes, of a size that varies.
fn message(who: usize, i: usize) -> Vec<u8> {
    let len = [0, 1, 8, 300, 5000][i % 5];
    (0..len).map(|k| (who * 31 + i + k) as u8).collect()
}

#[test]
fn eight_clients_are_served_while_others_are_killed_mid_connect_mid_handshake_and_mid_message() {
    let g = NameGuard::new("listener-eight");
    let name = g.name().to_owned();
    let l = Listener::bind_with(&name, &keyed().backlog(4)).unwrap();
    let (stop, ok, failed) = (Arc::new(AtomicBool::new(false)), Arc::default(), Arc::default());
    let server = {
        let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        std::thread::spawn(move || serve(l, stop, ok, failed))
    };

    // A client that takes its connection without the key and then says nothing: the
    // listener waits for its answer in the handshake until it is killed.
    let silent = fork(|| {
        let _c = Client::connect(&name).unwrap();
        std::thread::sleep(LIMIT);
        0
    });
    let clients: Vec<_> = (0..8)
        .map(|who| {
            let name = name.clone();
            fork(move || {
                let c = Client::connect_with(&name, &keyed()).unwrap();
                for i in 0..10_000 {
                    let m = message(who, i);
                    c.send_bytes(&m).unwrap();
                    assert_eq!(c.recv_bytes().unwrap(), m, "client {who}, message {i}");
                }
                0
            })
        })
        .collect();
    // Clients killed at random moments: waiting in the backlog, in the handshake, or
    // between and inside messages.
    let mut rng = Rng::new();
    for k in 0..40 {
        let name = name.clone();
        let victim = fork(move || {
            let c = Client::connect_with(&name, &keyed()).unwrap();
            for i in 0.. {
                let m = message(100 + k, i);
                c.send_bytes(&m).unwrap();
                assert_eq!(c.recv_bytes().unwrap(), m);
            }
            0
        });
        std::thread::sleep(Duration::from_micros(rng.range(0, 20_000)));
        victim.kill();
        let _ = victim.wait(LIMIT);
        if k == 10 {
            silent.kill();
        }
    }
    for c in clients {
        c.join_ok(Duration::from_secs(120));
    }
    let _ = silent.wait(LIMIT);
    stop.store(true, Ordering::Release);
    server.join().unwrap();
    assert!(ok.load(Ordering::Relaxed) >= 8, "every live client was accepted");
    eprintln!(
        "accepted {} connections, {} accepts failed (killed or keyless clients)",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    // The listener is gone, and so is every connection's pipe.
    let left = watchdog(LIMIT, move || {
        let start = Instant::now();
        loop {
            let left = leftovers(&name);
            if left.is_empty() || start.elapsed() > Duration::from_secs(5) {
                return left;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}

#[test]
fn messages_of_every_size_and_pythons_methods_over_shared_memory() {
    let g = NameGuard::new("listener-sizes");
    let l = Listener::bind_with(g.name(), &keyed()).unwrap();
    assert_eq!(l.address(), g.name());
    let name = g.name().to_owned();
    let client = fork(move || {
        let c = Client::connect_with(&name, &keyed()).unwrap();
        for n in [0usize, 1, 70_000, 16 << 20] {
            let m: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            c.send_bytes(&m).unwrap();
            assert_eq!(c.recv_bytes().unwrap(), m);
        }
        // recv_bytes_into, with room and without: a message too long is taken all the same.
        let mut buf = [0u8; 4];
        assert_eq!(c.recv_bytes_into(&mut buf).unwrap(), 3);
        match c.recv_bytes_into(&mut buf) {
            Err(ConnError::BufferTooShort { message }) => assert_eq!(message, b"too long"),
            other => panic!("{other:?}"),
        }
        c.send_bytes(b"done").unwrap();
        0
    });
    let c = watchdog(LIMIT, move || l.accept().map(|c| (c, l))).unwrap().0;
    for _ in 0..4 {
        c.send_bytes(&c.recv_bytes().unwrap()).unwrap();
    }
    // The client now waits for us: nothing to read.
    assert!(!c.poll(Some(Duration::ZERO)).unwrap());
    c.send_bytes(b"abc").unwrap();
    c.send_bytes(b"too long").unwrap();
    assert!(c.poll(Some(LIMIT)).unwrap());
    assert_eq!(c.recv_bytes().unwrap(), b"done");
    client.join_ok(LIMIT);
    // The client is gone: a poll says so at once, and the receive is Python's EOFError.
    assert!(c.poll(Some(LIMIT)).unwrap());
    assert!(matches!(c.recv_bytes(), Err(ConnError::Eof)));
    assert!(
        matches!(c.send_bytes(b"x"), Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe)
    );
}

#[test]
fn a_wrong_key_fails_both_sides_and_a_later_client_is_served() {
    let g = NameGuard::new("listener-key");
    let l = Listener::bind_with(g.name(), &keyed()).unwrap();
    let name = g.name().to_owned();
    let wrong = fork(move || match Client::connect_with(&name, &Options::new().authkey(b"not the key")) {
        Err(ConnError::Auth(AuthError::Rejected)) => 0,
        other => {
            eprintln!("{other:?}");
            1
        }
    });
    let l = watchdog(LIMIT, move || {
        assert!(matches!(l.accept(), Err(ConnError::Auth(AuthError::WrongDigest))));
        l
    });
    wrong.join_ok(LIMIT);
    let name = g.name().to_owned();
    let right = fork(move || {
        let c = Client::connect_with(&name, &keyed()).unwrap();
        c.send_bytes(b"in").unwrap();
        0
    });
    let c = watchdog(LIMIT, move || l.accept()).unwrap();
    assert_eq!(c.recv_bytes().unwrap(), b"in");
    right.join_ok(LIMIT);
}

#[test]
fn a_dead_listener_fails_connects_at_once_and_its_name_can_be_bound_again() {
    let g = NameGuard::new("listener-dead");
    let shared = Shared::new();
    let name = g.name().to_owned();
    let listener = fork(|| {
        let _l = Listener::bind_with(&name, &keyed().backlog(1)).unwrap();
        shared.signal(0, 1);
        std::thread::sleep(LIMIT);
        0
    });
    shared.await_value(0, 1, LIMIT);
    // A client waiting for an accept that never comes, and one waiting for room.
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let name = g.name().to_owned();
            fork(move || match Client::connect_with(&name, &keyed().timeout(Duration::from_secs(60))) {
                Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => 0,
                other => {
                    eprintln!("{other:?}");
                    1
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    listener.kill();
    assert_eq!(listener.wait(LIMIT), Exit::Signal(libc::SIGKILL));
    // Well before their 60 s timeouts.
    for w in waiting {
        w.join_ok(LIMIT);
    }
    match Client::connect_with(g.name(), &keyed()) {
        Err(ConnError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
    // The name is taken over by a new listener, which serves.
    let l = Listener::bind_with(g.name(), &keyed()).unwrap();
    let name = g.name().to_owned();
    let client = fork(move || i32::from(Client::connect_with(&name, &keyed()).is_err()));
    watchdog(LIMIT, move || l.accept().map(drop)).unwrap();
    client.join_ok(LIMIT);
}

#[test]
fn a_full_backlog_makes_connect_wait_then_time_out() {
    let g = NameGuard::new("listener-full");
    let l = Listener::bind_with(g.name(), &Options::new().backlog(1)).unwrap();
    let name = g.name().to_owned();
    // The first client holds the only place, waiting for an accept.
    let first = fork(move || i32::from(Client::connect(&name).and_then(|c| c.send_bytes(b"first")).is_err()));
    let name = g.name().to_owned();
    watchdog(LIMIT, move || {
        let opts = shmkit::OpenOptions::new();
        while !shmkit_core::Object::inspect(&name, &opts)
            .ok()
            .and_then(|o| shmkit::connection::inspect(&o))
            .is_some_and(|s| s.fields.iter().any(|(k, v)| k == "clients waiting" && v.to_string() == "1"))
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let timeout = Duration::from_millis(200);
    let start = Instant::now();
    let r = Client::connect_with(g.name(), &Options::new().timeout(timeout));
    assert!(matches!(r, Err(ConnError::Timeout)), "{r:?}");
    assert!(start.elapsed() >= timeout);
    // The waiting client is served once the listener accepts.
    let c = watchdog(LIMIT, move || l.accept().map(|c| (c, l))).unwrap().0;
    assert_eq!(c.recv_bytes().unwrap(), b"first");
    first.join_ok(LIMIT);
}

#[test]
fn a_dropped_listener_removes_its_name_and_refuses() {
    let g = NameGuard::new("listener-drop");
    let l = Listener::bind(g.name()).unwrap();
    assert!(matches!(Listener::bind(g.name()), Err(ConnError::Create(_))), "a live listener's name is taken");
    drop(l);
    assert!(leftovers(g.name()).is_empty());
    match Client::connect(g.name()) {
        Err(ConnError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_names_backlogs_and_objects_are_errors() {
    assert!(matches!(Listener::bind(""), Err(ConnError::Create(_))));
    assert!(
        matches!(Listener::bind(&"x".repeat(190)), Err(ConnError::Create(_))),
        "no room for connection names"
    );
    let g = NameGuard::new("listener-bad");
    for backlog in [0, shmkit::connection::MAX_BACKLOG + 1] {
        let r = Listener::bind_with(g.name(), &Options::new().backlog(backlog));
        assert!(matches!(r, Err(ConnError::Create(_))), "backlog {backlog}: {r:?}");
    }
    for capacity in [0, (1 << 30) + 1] {
        let r = Listener::bind_with(g.name(), &Options::new().capacity(capacity));
        assert!(matches!(r, Err(ConnError::Create(_))), "capacity {capacity}: {r:?}");
    }
    // A queue is not a listener.
    let _q = shmkit::Queue::<u64>::create(g.name(), 4).unwrap();
    assert!(matches!(Client::connect(g.name()), Err(ConnError::Open(_))));
}

#[test]
fn threads_accept_side_by_side_and_each_client_gets_its_own_connection() {
    let g = NameGuard::new("listener-threads");
    let l = Arc::new(Listener::bind_with(g.name(), &keyed().backlog(2)).unwrap());
    let clients: Vec<_> = (0..6u8)
        .map(|who| {
            let name = g.name().to_owned();
            fork(move || {
                let c = Client::connect_with(&name, &keyed()).unwrap();
                c.send_bytes(&[who]).unwrap();
                i32::from(c.recv_bytes().unwrap() != [who, who])
            })
        })
        .collect();
    let acceptors: Vec<_> = (0..3)
        .map(|_| {
            let l = Arc::clone(&l);
            std::thread::spawn(move || {
                for _ in 0..2 {
                    let c = l.accept_timeout(Some(LIMIT)).unwrap();
                    let m = c.recv_bytes().unwrap();
                    c.send_bytes(&[m[0], m[0]]).unwrap();
                }
            })
        })
        .collect();
    for a in acceptors {
        a.join().unwrap();
    }
    for c in clients {
        c.join_ok(LIMIT);
    }
}

#[test]
fn an_accepted_connection_is_served_by_a_forked_worker_that_took_it_over() {
    let g = NameGuard::new("listener-prefork");
    let l = Listener::bind_with(g.name(), &keyed()).unwrap();
    let name = g.name().to_owned();
    let client = fork(move || {
        let c = Client::connect_with(&name, &keyed()).unwrap();
        c.send_bytes(b"ping").unwrap();
        i32::from(c.recv_bytes().unwrap() != b"pong from the worker")
    });
    let conn = watchdog(LIMIT, move || l.accept().map(|c| (c, l))).unwrap().0;
    // A pre-forking server: the worker takes the connection over with its first call, and
    // then the server drops its copy.
    let shared = Shared::new();
    let worker = fork(|| {
        let _ = conn.poll(Some(Duration::ZERO));
        shared.signal(0, 1);
        let m = conn.recv_bytes().unwrap();
        i32::from(m != b"ping" || conn.send_bytes(b"pong from the worker").is_err())
    });
    shared.await_value(0, 1, LIMIT);
    drop(conn);
    client.join_ok(LIMIT);
    worker.join_ok(LIMIT);
}
