//! Hostile bytes against `multiprocessing.connection`'s wire protocol (shmkit-connection).
//!
//! 1. The pure pieces: `frame::parse_short`/`parse_long`/`check` and `auth::digest_and_payload`,
//!    `respond` and `verify` never panic on any bytes; `frame::encode` round-trips through
//!    `parse_short` (and `parse_long`) for any length; a challenge built as `#CHALLENGE#`,
//!    a `{sha256}` or `{md5}` prefix and any bytes is answered so that `verify` accepts the
//!    answer with the same key and refuses it with another (or refuses the challenge as too
//!    short, or as legacy when legacy is not allowed: exactly Python's rules).
//! 2. A real socket: a [`Listener`] at a unique AF_UNIX path, a raw `UnixStream` from this
//!    process as a hostile peer that writes the input and shuts its write half (or closes),
//!    then `accept` (with or without an authkey, legacy allowed or not, the peer answering
//!    the listener's challenge honestly, with a wrong key, or not at all) and a few
//!    `recv_bytes`/`recv_bytes_into` with a 1 MiB maximum: no panic, every call returns,
//!    no message over the maximum, no error that contradicts what was sent.
//!
//! Input: `[mode, ops, payload..]` (payload capped at 64 KiB so one write never blocks).
//! `mode` bit 0: the listener has an authkey; bit 1: legacy allowed; bit 2 (with an
//! authkey): a peer thread answers the listener's challenge first, then writes the payload;
//! bit 3: that peer answers with a wrong key; bit 4: the peer closes outright instead of
//! shutting its write half. `ops`: four 2-bit receive operations after a successful accept.
//! A write to a peer that has gone is EPIPE, not SIGPIPE (libFuzzer's C `main` leaves
//! SIGPIPE at its default): std's `UnixStream` writes with `MSG_NOSIGNAL` (rust-lang/rust#140005).
#![no_main]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use shmkit_connection::auth::{self, AuthError};
use shmkit_connection::frame::{self, FrameError, Header};
use shmkit_connection::{ConnError, Listener, Options};

/// The receiver's maximum: a forged length over it is `TooLong`, never an allocation.
const MAX: u64 = 1 << 20;
/// The most payload sent: small enough for the kernel to buffer in one write.
const MAX_INPUT: usize = 64 << 10;
/// The listener's authkey (and an honest peer's).
const KEY: &[u8] = b"fuzz authkey";
/// How long any handshake read may wait: a silent or truncated peer ends quickly.
const HANDSHAKE: Duration = Duration::from_millis(50);
/// A bound on the peer thread's own socket calls, so it can never hang the run.
const PEER_LIMIT: Duration = Duration::from_secs(2);

const AUTH: u8 = 1;
const LEGACY: u8 = 2;
const COOPERATE: u8 = 4;
const WRONG_KEY: u8 = 8;
const CLOSE: u8 = 16;

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = data.get(at..) {
        let n = src.len().min(8);
        b[..n].copy_from_slice(&src[..n]);
    }
    u64::from_be_bytes(b)
}

/// A key that differs from `key` as HMAC sees it (keys are zero-padded to a block, so
/// appending a zero byte would not do).
fn other_key(key: &[u8]) -> Vec<u8> {
    let mut other = key.to_vec();
    match other.first_mut() {
        Some(b) => *b ^= 1,
        None => other.push(1),
    }
    other
}

fn pure(data: &[u8]) {
    // Headers: parse whatever comes; the verdict is the sign of the 4-byte length.
    let mut short = [0u8; 4];
    let n = data.len().min(4);
    short[..n].copy_from_slice(&data[..n]);
    let raw = i32::from_be_bytes(short);
    match frame::parse_short(short) {
        Ok(Header::Long) => assert_eq!(raw, -1),
        Ok(Header::Len(len)) => assert!(raw >= 0 && len == raw as u64),
        Err(FrameError::Negative(neg)) => assert!(neg == raw && raw < -1),
        Err(e) => panic!("parse_short gave {e:?}"),
    }
    let long = u64_at(data, 4);
    assert_eq!(frame::parse_long(long.to_be_bytes()), long);
    let (len, max) = (u64_at(data, 0), u64_at(data, 8));
    match frame::check(len, max) {
        Ok(l) => assert!(l == len && len <= max),
        Err(FrameError::TooLong { len: l, max: m }) => assert!(l == len && m == max && len > max),
        Err(e) => panic!("check gave {e:?}"),
    }

    // Encoding round-trips for any length.
    for len in [len, long, len & frame::MAX_SHORT, 0, frame::MAX_SHORT, frame::MAX_SHORT + 1, u64::MAX] {
        let (h, n) = frame::encode(len);
        let head: [u8; 4] = h[..4].try_into().unwrap();
        match frame::parse_short(head) {
            Ok(Header::Len(l)) => assert!(n == 4 && l == len && len <= frame::MAX_SHORT),
            Ok(Header::Long) => {
                assert!(n == 12 && len > frame::MAX_SHORT);
                assert_eq!(frame::parse_long(h[4..12].try_into().unwrap()), len);
            }
            Err(e) => panic!("encode({len}) gave a header that parses as {e:?}"),
        }
    }

    // The handshake's pieces on arbitrary bytes.
    let body = data.get(2..).unwrap_or_default();
    let key_len = usize::from(data.get(1).copied().unwrap_or(0)) % 80;
    let (key, rest) = body.split_at(body.len().min(key_len));
    if let Ok((digest, payload)) = auth::digest_and_payload(rest) {
        assert!(rest.ends_with(payload));
        if digest.is_none() {
            assert!(rest.len() == 16 || rest.len() == 20);
        }
    }
    for legacy in [false, true] {
        if let Ok(answer) = auth::respond(key, rest, legacy) {
            assert!(rest.starts_with(auth::CHALLENGE));
            let modern = answer.starts_with(b"{sha256}") && answer.len() == 8 + 32
                || answer.starts_with(b"{md5}") && answer.len() == 5 + 16;
            assert!(modern || legacy && answer.len() == 16, "answer {answer:?}");
        }
        let split = rest.len() / 2;
        let _ = auth::verify(key, &rest[..split], &rest[split..], legacy);
        let _ = auth::verify(key, rest, rest, legacy);
    }

    // A challenge with a digest prefix and any bytes: answered so that it verifies with the
    // same key only, unless it is too short, or (16 or 20 bytes in all, or `{md5}`) legacy
    // while legacy peers are not allowed.
    let bytes = &rest[..rest.len().min(300)];
    for prefix in [b"{sha256}".as_slice(), b"{md5}"] {
        let message = [prefix, bytes].concat();
        let challenge = [auth::CHALLENGE, &message].concat();
        for legacy in [false, true] {
            let answer = auth::respond(key, &challenge, legacy);
            if message.len() < 20 {
                assert!(matches!(answer, Err(AuthError::Protocol(_))), "{answer:?}");
                continue;
            }
            if (message.len() == 20 || prefix == b"{md5}") && !legacy {
                assert_eq!(answer, Err(AuthError::LegacyRefused));
                continue;
            }
            let answer = answer.expect("a well-formed challenge is answered");
            assert_eq!(auth::verify(key, &message, &answer, legacy), Ok(()));
            assert_eq!(auth::verify(&other_key(key), &message, &answer, legacy), Err(AuthError::WrongDigest));
        }
    }
}

fn socket_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("shmkit-fuzz-conn-{}-{n}", std::process::id()))
}

/// An honest (or wrong-keyed) client's answer to the listener's challenge, then `payload`.
fn cooperate(peer: &UnixStream, key: &[u8], legacy: bool, payload: &[u8]) {
    let mut peer = peer;
    let mut head = [0u8; 4];
    if peer.read_exact(&mut head).is_err() {
        return;
    }
    let Ok(len @ 0..=256) = usize::try_from(i32::from_be_bytes(head)) else { return };
    let mut challenge = vec![0u8; len];
    if peer.read_exact(&mut challenge).is_err() {
        return;
    }
    let Ok(answer) = auth::respond(key, &challenge, legacy) else { return };
    let (h, n) = frame::encode(answer.len() as u64);
    // The listener may give up (and close) at any point: EPIPE is an answer, not a bug.
    let _ = peer.write_all(&[&h[..n], &answer, payload].concat());
}

fn socket(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Some((&ops, payload)) = rest.split_first() else { return };
    let payload = &payload[..payload.len().min(MAX_INPUT)];
    let legacy = mode & LEGACY != 0;
    let cooperate_mode = mode & AUTH != 0 && mode & COOPERATE != 0;
    let mut opts = Options::new().timeout(HANDSHAKE).allow_legacy(legacy);
    if mode & AUTH != 0 {
        opts = opts.authkey(KEY);
    }

    let path = socket_path();
    let _ = std::fs::remove_file(&path);
    let listener = Listener::bind_unix_with(&path, &opts).expect("bind a fresh AF_UNIX path");
    let peer = UnixStream::connect(&path).expect("connect to our own listener");
    peer.set_read_timeout(Some(PEER_LIMIT)).unwrap();
    peer.set_write_timeout(Some(PEER_LIMIT)).unwrap();

    let mut held = None;
    let writer = if cooperate_mode {
        let key: &[u8] = if mode & WRONG_KEY != 0 { b"not the key" } else { KEY };
        let payload = payload.to_vec();
        Some(std::thread::spawn(move || {
            cooperate(&peer, key, legacy, &payload);
            let _ = peer.shutdown(Shutdown::Write);
            // Closing outright makes the listener's later writes fail with EPIPE.
            (mode & CLOSE == 0).then_some(peer)
        }))
    } else {
        // Up to 64 KiB: the kernel buffers it all before anyone reads.
        let _ = (&peer).write_all(payload);
        let _ = peer.shutdown(Shutdown::Write);
        // Kept (unread) until the end, so the listener's writes land in its buffer;
        // closed outright, they fail with EPIPE.
        if mode & CLOSE == 0 {
            held = Some(peer);
        } else {
            drop(peer);
        }
        None
    };

    match listener.accept() {
        Ok(mut conn) => {
            conn.set_max_message(MAX);
            for i in 0..4 {
                let op = (ops >> (2 * i)) & 3;
                let r = if op == 0 {
                    conn.recv_bytes().map(|m| {
                        assert!(m.len() as u64 <= MAX);
                        m.len()
                    })
                } else {
                    let mut buf = vec![0u8; [0, 7, 300, 70_000][usize::from(op)]];
                    conn.recv_bytes_into(&mut buf).inspect(|&n| assert!(n <= buf.len())).map_err(|e| {
                        if let ConnError::BufferTooShort { message } = &e {
                            assert!(message.len() > buf.len() && message.len() as u64 <= MAX);
                        }
                        e
                    })
                };
                match r {
                    Ok(n) => assert!(n as u64 <= MAX),
                    Err(ConnError::BufferTooShort { .. }) => {}
                    Err(ConnError::TooLong { len, max }) => assert!(max == MAX && len > MAX),
                    Err(ConnError::BadLength(n)) => assert!(n < -1),
                    Err(ConnError::Eof) => break,
                    // A peer that closed with the listener's writes unread: the kernel
                    // reports a reset once the bytes that came are read.
                    Err(ConnError::Io(e))
                        if mode & CLOSE != 0 && e.kind() == std::io::ErrorKind::ConnectionReset =>
                    {
                        break
                    }
                    // The peer has shut its write half: a read ends, it never waits.
                    Err(ConnError::Timeout) => panic!("a receive timed out after the handshake"),
                    Err(e) => panic!("unexpected receive error: {e}"),
                }
            }
        }
        Err(e) => {
            // No authkey: accept reads nothing, so it cannot fail on what the peer sent.
            assert!(mode & AUTH != 0, "accept with no authkey failed: {e}");
            match e {
                ConnError::Auth(_) | ConnError::Eof | ConnError::TooLong { .. } | ConnError::BadLength(_) => {
                }
                ConnError::Io(ref io)
                    if matches!(
                        io.kind(),
                        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                    ) => {}
                // Only a peer thread can be late (a loaded machine); a peer that wrote
                // everything and shut its write half before accept never is.
                ConnError::Timeout if cooperate_mode => {}
                e => panic!("unexpected accept error: {e}"),
            }
        }
    }
    if let Some(writer) = writer {
        drop(writer.join().expect("the peer thread never panics"));
    }
    drop(held);
    drop(listener);
    assert!(!path.exists(), "the listener removes its path on drop");
}

fuzz_target!(|data: &[u8]| {
    pure(data);
    socket(data);
});
