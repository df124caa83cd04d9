//! Listener and Client against the real Python on this machine, both ways: Python's
//! `multiprocessing.connection.Listener` with a Rust `Client`, a Rust `Listener` with
//! Python's `Client`; the right key, a wrong key, no key; messages of 0 B, 1 B, 70 000 B
//! and 16 MiB; Python 3.11's legacy handshake, and the modern one with Python 3.12 and 3.13
//! where they are installed (skipped with a message where they are not).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shmkit::connection::{auth::AuthError, Client, ConnError, Connection, Listener, Options};

/// The message sizes every exchange sends.
const SIZES: [usize; 4] = [0, 1, 70_000, 16 << 20];

/// A message of `n` bytes, as the Python scripts make it.
fn message(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 256) as u8).collect()
}

/// Python's side: a listener that echoes every message reversed, or a client that sends
/// each size and checks the reversed echo. The last argument is the key, or `-` for none.
const PY: &str = r#"
import sys
from multiprocessing.connection import Listener, Client
role, addr, key = sys.argv[1], sys.argv[2], sys.argv[3]
authkey = None if key == '-' else key.encode()
def msg(n):
    return (bytes(range(256)) * (n // 256 + 1))[:n]
try:
    if role == 'listen':
        with Listener(addr, authkey=authkey) as l:
            print('ready', flush=True)
            with l.accept() as c:
                while True:
                    try:
                        m = c.recv_bytes()
                    except EOFError:
                        break
                    c.send_bytes(m[::-1])
    else:
        c = Client(addr, authkey=authkey)
        for n in (0, 1, 70000, 16 << 20):
            c.send_bytes(msg(n))
            assert c.recv_bytes() == msg(n)[::-1], n
        c.close()
    print('ok', flush=True)
except Exception as e:
    print(type(e).__name__, flush=True)
    sys.exit(3)
"#;

/// A Python interpreter, and whether it speaks the modern handshake (3.12 and later).
fn interpreters() -> Vec<(&'static str, bool)> {
    let mut out = Vec::new();
    for (py, modern) in [("python3", false), ("python3.12", true), ("python3.13", true)] {
        let version = Command::new(py).args(["-c", "import sys; print(sys.version_info[1])"]).output();
        match version {
            Ok(o) if o.status.success() => {
                let minor: u32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0);
                out.push((py, modern || minor >= 12));
            }
            _ => eprintln!("skipped: {py} is not installed here"),
        }
    }
    out
}

/// A running Python script, killed if the test ends first.
struct Py {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Py {
    fn start(py: &str, role: &str, addr: &str, key: &str) -> Self {
        let mut child = Command::new(py)
            .args(["-c", PY, role, addr, key])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {py}: {e}"));
        let out = BufReader::new(child.stdout.take().unwrap());
        Self { child, out }
    }

    /// The script's next line (empty at its end).
    fn line(&mut self) -> String {
        let mut l = String::new();
        let _ = self.out.read_line(&mut l);
        l.trim().to_owned()
    }

    /// Waits (at most a minute) for the script to end; its exit code.
    fn wait(mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(start.elapsed() < common::LIMIT * 6, "watchdog: the Python script still runs");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket_path(tag: &str) -> String {
    std::env::temp_dir().join(common::unique_name(tag)).display().to_string()
}

fn key_arg(key: Option<&[u8]>) -> String {
    key.map_or("-".into(), |k| String::from_utf8(k.to_vec()).unwrap())
}

fn options(key: Option<&[u8]>, legacy: bool) -> Options {
    let o = Options::new().allow_legacy(legacy).timeout(Duration::from_secs(10));
    match key {
        Some(k) => o.authkey(k),
        None => o,
    }
}

/// Echoes every message reversed until the peer closes.
fn echo(conn: &Connection) {
    loop {
        match conn.recv_bytes() {
            Ok(m) => conn.send_bytes(&m.iter().rev().copied().collect::<Vec<_>>()).unwrap(),
            Err(ConnError::Eof) => return,
            Err(e) => panic!("echo: {e}"),
        }
    }
}

/// A Python client against a Rust listener: `Ok` with the script's last line, or the
/// listener's error.
fn python_client(
    py: &str,
    server_key: Option<&[u8]>,
    client_key: Option<&[u8]>,
    legacy: bool,
) -> (Result<(), ConnError>, String, i32) {
    let path = socket_path("conn-pyclient");
    let listener = Listener::bind_unix_with(&path, &options(server_key, legacy)).unwrap();
    let mut client = Py::start(py, "connect", &path, &key_arg(client_key));
    let served = listener.accept().map(|c| echo(&c));
    let line = client.line();
    (served, line, client.wait())
}

/// A Rust client against a Python listener: the client's result, and the script's line.
fn python_listener(
    py: &str,
    server_key: Option<&[u8]>,
    client_key: Option<&[u8]>,
    legacy: bool,
) -> (Result<(), ConnError>, String, i32) {
    let path = socket_path("conn-pylistener");
    let mut server = Py::start(py, "listen", &path, &key_arg(server_key));
    assert_eq!(server.line(), "ready");
    let r = Client::connect_unix_with(&path, &options(client_key, legacy)).map(|c| {
        for n in SIZES {
            c.send_bytes(&message(n)).unwrap();
            let back = c.recv_bytes().unwrap();
            assert!(back.iter().rev().eq(message(n).iter()), "{n} bytes came back altered");
        }
        c.close();
    });
    let line = server.line();
    (r, line, server.wait())
}

#[test]
fn python_and_rust_talk_both_ways_with_the_right_key_and_with_none() {
    for (py, modern) in interpreters() {
        // The legacy handshake is needed (and allowed) for Python 3.11 only.
        let legacy = !modern;
        for key in [Some(b"secret".as_slice()), None] {
            let (served, line, code) = python_client(py, key, key, legacy);
            assert!(served.is_ok(), "{py}, key {key:?}: the listener failed: {served:?}");
            assert_eq!((line.as_str(), code), ("ok", 0), "{py}, key {key:?}: the Python client");
            let (r, line, code) = python_listener(py, key, key, legacy);
            assert!(r.is_ok(), "{py}, key {key:?}: the client failed: {r:?}");
            assert_eq!((line.as_str(), code), ("ok", 0), "{py}, key {key:?}: the Python listener");
        }
    }
}

#[test]
fn a_wrong_key_is_an_authentication_error_on_both_sides() {
    for (py, modern) in interpreters() {
        let legacy = !modern;
        let (served, line, code) = python_client(py, Some(b"right"), Some(b"wrong"), legacy);
        assert!(matches!(served, Err(ConnError::Auth(AuthError::WrongDigest))), "{py}: {served:?}");
        assert_eq!((line.as_str(), code), ("AuthenticationError", 3), "{py}");
        let (r, line, code) = python_listener(py, Some(b"right"), Some(b"wrong"), legacy);
        assert!(matches!(r, Err(ConnError::Auth(AuthError::Rejected))), "{py}: {r:?}");
        assert_eq!((line.as_str(), code), ("AuthenticationError", 3), "{py}");
    }
}

#[test]
fn a_keyless_python_client_is_turned_away_by_a_listener_with_a_key() {
    for (py, modern) in interpreters() {
        let (served, _, code) = python_client(py, Some(b"secret"), None, !modern);
        assert!(matches!(served, Err(ConnError::Auth(_))), "{py}: {served:?}");
        assert_ne!(code, 0, "{py}: the keyless client must not get through");
    }
}

#[test]
fn python_3_11s_legacy_handshake_is_refused_unless_allowed() {
    let Some((py, _)) = interpreters().into_iter().find(|&(_, modern)| !modern) else {
        eprintln!("skipped: no Python 3.11 or older here");
        return;
    };
    let (served, _, code) = python_client(py, Some(b"k"), Some(b"k"), false);
    assert!(matches!(served, Err(ConnError::Auth(AuthError::LegacyRefused))), "{served:?}");
    assert_ne!(code, 0);
    let (r, _, _) = python_listener(py, Some(b"k"), Some(b"k"), false);
    assert!(matches!(r, Err(ConnError::Auth(AuthError::LegacyRefused))), "{r:?}");
}

#[test]
fn rust_to_rust_over_unix_abstract_and_tcp_with_typed_values() {
    let opts = Options::new().authkey(b"k");
    let path = socket_path("conn-rust");
    let name = common::unique_name("conn-abstract");
    let listeners = [
        Listener::bind_unix_with(&path, &opts).unwrap(),
        Listener::bind_abstract(name.as_bytes(), &opts).unwrap(),
        Listener::bind_tcp("127.0.0.1:0", &opts).unwrap(),
    ];
    for (i, l) in listeners.iter().enumerate() {
        let tcp = l.tcp_address();
        let (path, name, opts) = (path.clone(), name.clone(), opts.clone());
        let client = std::thread::spawn(move || {
            let c = match i {
                0 => Client::connect_unix_with(&path, &opts),
                1 => Client::connect_abstract(name.as_bytes(), &opts),
                _ => Client::connect_tcp(tcp.unwrap(), &opts),
            }
            .unwrap();
            c.send(&("hello", vec![1u32, 2, 3])).unwrap();
            let r: Result<String, _> = c.recv();
            r.unwrap()
        });
        let conn = l.accept().unwrap();
        let (s, v): (String, Vec<u32>) = conn.recv().unwrap();
        conn.send(&format!("{s} {}", v.iter().sum::<u32>())).unwrap();
        assert_eq!(client.join().unwrap(), "hello 6");
    }
    drop(listeners);
    assert!(!std::path::Path::new(&path).exists(), "the socket file is removed with its listener");
}

#[test]
fn a_silent_client_never_wedges_accept_and_bad_frames_are_errors() {
    let path = socket_path("conn-silent");
    let opts = Options::new().authkey(b"k").timeout(Duration::from_millis(100));
    let l = Listener::bind_unix_with(&path, &opts).unwrap();
    // Connects, then says nothing: accept gives up after the handshake's timeout.
    let silent = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let start = Instant::now();
    assert!(matches!(l.accept(), Err(ConnError::Timeout)));
    assert!(start.elapsed() >= Duration::from_millis(100));
    drop(silent);
    // Nobody waiting: try_accept says so at once.
    assert!(matches!(l.try_accept(), Err(ConnError::Timeout)));
    // A peer that sends a negative length, then one announcing 2 GiB.
    let plain = Listener::bind_unix(socket_path("conn-bad")).unwrap();
    let addr = plain.address();
    for header in [(-5i32).to_be_bytes(), i32::MAX.to_be_bytes()] {
        let mut s = std::os::unix::net::UnixStream::connect(&addr).unwrap();
        std::io::Write::write_all(&mut s, &header).unwrap();
        let mut conn = plain.accept().unwrap();
        conn.set_max_message(1 << 20);
        match conn.recv_bytes() {
            Err(ConnError::BadLength(-5)) | Err(ConnError::TooLong { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(!conn_poll_blocks(&plain));
}

/// Whether `poll` with a zero timeout reports nothing on a fresh, idle connection (and
/// reports the peer's message once it is there).
fn conn_poll_blocks(l: &Listener) -> bool {
    let addr = l.address();
    let t = std::thread::spawn(move || {
        let c = Client::connect_unix(&addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.send_bytes(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
    });
    let conn = l.accept().unwrap();
    let idle = conn.poll(Some(Duration::ZERO)).unwrap();
    let came = conn.poll(Some(Duration::from_secs(5))).unwrap();
    t.join().unwrap();
    idle || !came
}

#[test]
fn a_client_trickling_its_answer_is_cut_off_by_the_handshakes_limit_not_each_reads() {
    let path = socket_path("conn-trickle");
    let opts = Options::new().authkey(b"k").timeout(Duration::from_millis(200));
    let l = Listener::bind_unix_with(&path, &opts).unwrap();
    let p = path.clone();
    let trickler = std::thread::spawn(move || {
        let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
        // A 256-byte answer announced, then one byte every 30 ms: each read would be
        // within a per-read limit; the whole never is.
        let _ = std::io::Write::write_all(&mut s, &256i32.to_be_bytes());
        for _ in 0..256 {
            std::thread::sleep(Duration::from_millis(30));
            if std::io::Write::write_all(&mut s, &[0]).is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    assert!(matches!(l.accept(), Err(ConnError::Timeout)));
    assert!(start.elapsed() >= Duration::from_millis(200));
    trickler.join().unwrap();
}
