//! Helpers for the bridge's cross-process tests: unique object names with a guard that
//! removes them, free loopback ports, helper processes (this test binary run again in a
//! role) that are killed when dropped or when the test process dies, and a watchdog.
#![allow(dead_code, missing_docs)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The environment variable that puts the test binary in a helper role.
pub const ROLE: &str = "SHMKIT_ZENOH_TEST_ROLE";

/// A name no other test (or test run) uses.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("test-zb-{tag}-{}-{nanos:x}-{n}", std::process::id())
}

/// Removes the object when dropped, whatever happened in the test.
pub struct NameGuard(pub String);

impl NameGuard {
    pub fn new(tag: &str) -> Self {
        Self(unique_name(tag))
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for NameGuard {
    fn drop(&mut self) {
        let _ = shmkit_core::segment::unlink(&self.0);
    }
}

/// A loopback TCP endpoint on a port that was free a moment ago.
pub fn free_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    format!("tcp/127.0.0.1:{}", l.local_addr().unwrap().port())
}

/// A unique Zenoh key expression.
pub fn unique_key(tag: &str) -> String {
    format!("shmkit-test/{}", unique_name(tag))
}

/// This test binary, run again as a helper in `role` with `args`; its standard output
/// lines come through [`Helper::line`]. Killed (SIGKILL) and reaped when dropped; killed
/// by the kernel if the thread that started it ends first (`PR_SET_PDEATHSIG`), so a
/// failed or aborted test leaves no helper behind.
pub struct Helper {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub name: String,
}

impl Helper {
    pub fn spawn(role: &str, args: &[&str]) -> Self {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(exe);
        cmd.args(["helper_main", "--exact", "--nocapture", "--test-threads=1", "-q"])
            .env(ROLE, format!("{role} {}", args.join(" ")))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start a helper process");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, name: role.to_owned() }
    }

    /// The next line starting with `prefix`, waiting at most `limit` (the watchdog).
    pub fn line(&mut self, prefix: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => continue,
                Err(_) => {
                    panic!("helper {} printed no line starting with {prefix:?} within {limit:?}", self.name)
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the helper to exit on its own, at most `limit`; its exit code.
    pub fn wait(&mut self, limit: Duration) -> i32 {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < end, "helper {} still running after {limit:?}", self.name);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `cond` until it holds; fails the test after `limit` with `what`.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "watchdog: {what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// FNV-1a, the checksum of the test messages.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// A small, seeded generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A test message: producer, sequence number, `len` bytes of filler, and a checksum of
/// all that.
pub fn message(producer: u32, seq: u32, rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let len = (rng.next() as usize) % (max_len + 1);
    let mut m = Vec::with_capacity(16 + len);
    m.extend_from_slice(&producer.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend((0..len).map(|_| rng.next() as u8));
    let sum = fnv(&m);
    m.extend_from_slice(&sum.to_le_bytes());
    m
}

/// Checks a test message; its producer and sequence number.
pub fn check(m: &[u8]) -> (u32, u32) {
    assert!(m.len() >= 16, "a message of {} bytes: torn", m.len());
    let (body, sum) = m.split_at(m.len() - 8);
    assert_eq!(
        fnv(body),
        u64::from_le_bytes(sum.try_into().unwrap()),
        "checksum mismatch: a corrupt message"
    );
    (u32::from_le_bytes(body[..4].try_into().unwrap()), u32::from_le_bytes(body[4..8].try_into().unwrap()))
}
