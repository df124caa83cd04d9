//! The floor and the kernel's peers: one cache line, a futex that always sleeps, pipes and
//! unix socketpairs.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use shmkit_core::{futex, Deadline, Segment};

use crate::figure::Figure;
use crate::harness::{round_trip, timed_batches, two_processes, Echo, Endpoint, Timing};

/// The floor: one cache line in shared memory, both sides spinning on it.
pub(crate) struct CacheLine {
    _seg: Arc<Segment>,
    word: *const AtomicU64,
    last: u64,
}

impl CacheLine {
    pub fn pair() -> (Self, Self) {
        let seg = Arc::new(Segment::anonymous(4096).unwrap());
        let word = seg.as_ptr().cast::<AtomicU64>() as *const AtomicU64;
        // SAFETY: the page is zeroed, aligned, and mapped while `_seg` lives.
        unsafe { (*word).store(u64::MAX - 1, Ordering::Relaxed) };
        let a = Self { _seg: seg.clone(), word, last: u64::MAX - 1 };
        let b = Self { _seg: seg, word, last: u64::MAX - 1 };
        (a, b)
    }

    pub fn word(&self) -> &AtomicU64 {
        // SAFETY: the mapping outlives `self` (held by `_seg`, inherited by the child).
        unsafe { &*self.word }
    }
}

impl Endpoint for CacheLine {
    fn send(&mut self, v: u64) {
        self.last = v;
        self.word().store(v, Ordering::Release);
    }

    fn recv(&mut self) -> u64 {
        loop {
            let v = self.word().load(Ordering::Acquire);
            if v != self.last {
                self.last = v;
                return v;
            }
            std::hint::spin_loop();
        }
    }
}

/// Both sides always sleep in the kernel: a store and an unconditional FUTEX_WAKE to
/// send, a FUTEX_WAIT to receive. The floor for parked waits.
pub(crate) struct FutexSleep {
    _seg: Arc<Segment>,
    word: *const AtomicU32,
    value: *const AtomicU64,
    last: u32,
}

impl FutexSleep {
    pub fn pair() -> (Self, Self) {
        let seg = Arc::new(Segment::anonymous(4096).unwrap());
        let word = seg.as_ptr().cast::<AtomicU32>() as *const AtomicU32;
        // SAFETY: offset 64 is inside the 4096-byte page and 8-aligned.
        let value = unsafe { seg.as_ptr().add(64) }.cast::<AtomicU64>() as *const AtomicU64;
        (Self { _seg: seg.clone(), word, value, last: 0 }, Self { _seg: seg, word, value, last: 0 })
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: as for `CacheLine::word`.
        unsafe { &*self.word }
    }

    fn value(&self) -> &AtomicU64 {
        // SAFETY: as for `CacheLine::word`.
        unsafe { &*self.value }
    }
}

impl Endpoint for FutexSleep {
    fn send(&mut self, v: u64) {
        self.value().store(v, Ordering::Relaxed);
        self.last = self.last.wrapping_add(1);
        self.word().store(self.last, Ordering::Release);
        futex::wake_all(self.word());
    }

    fn recv(&mut self) -> u64 {
        loop {
            let w = self.word().load(Ordering::Acquire);
            if w != self.last {
                self.last = w;
                return self.value().load(Ordering::Relaxed);
            }
            futex::wait(self.word(), w, Deadline::never());
        }
    }
}

/// Messages over a pair of kernel byte streams (`write_all`, `read_exact`).
pub(crate) struct Stream {
    tx: File,
    rx: File,
}

impl Endpoint for Stream {
    fn send(&mut self, v: u64) {
        self.tx.write_all(&v.to_le_bytes()).unwrap();
    }

    fn recv(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.rx.read_exact(&mut b).unwrap();
        u64::from_le_bytes(b)
    }
}

impl Echo for Stream {
    fn send(&mut self, msg: &[u8]) {
        self.tx.write_all(msg).unwrap();
    }

    fn recv(&mut self, buf: &mut [u8]) {
        self.rx.read_exact(buf).unwrap();
    }
}

/// A kernel pipe: (read end, write end).
pub(crate) fn os_pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors we own.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// A unix stream socketpair.
pub(crate) fn os_socketpair() -> (File, File) {
    let mut fds = [0; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0);
    // SAFETY: fresh descriptors we own.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// Two kernel pipes, one each way.
pub(crate) fn pipe_pair() -> (Stream, Stream) {
    let (r1, w1) = os_pipe();
    let (r2, w2) = os_pipe();
    (Stream { tx: w1, rx: r2 }, Stream { tx: w2, rx: r1 })
}

/// The two ends of a unix socketpair.
pub(crate) fn socket_pair() -> (Stream, Stream) {
    let (a, b) = os_socketpair();
    (Stream { tx: a.try_clone().unwrap(), rx: a }, Stream { tx: b.try_clone().unwrap(), rx: b })
}

/// The child writes `msg`-byte messages into `tx` until the parent, reading `rx`, has
/// measured for the measuring time (reading the clock once per batch of messages, see
/// `timed_batches`) and closes its end.
pub(crate) fn stream_throughput(rx: File, tx: File, msg: usize, tm: Timing) -> Figure {
    let (reader, writer) = (rx.as_raw_fd(), tx.as_raw_fd());
    let (messages, elapsed) = two_processes(
        tm,
        // The child's closure owns both ends: this process drops its copies with it once
        // both sides are forked, so the parent's close is the last of the read end's and
        // the child's write fails (EPIPE) when the parent is done.
        move || {
            drop(rx);
            let mut tx = tx;
            let buf = vec![0x5Au8; msg];
            while tx.write_all(&buf).is_ok() {}
        },
        move || {
            // SAFETY: this process's copies of the two descriptors, inherited at its
            // fork; nothing else in it uses them. It keeps only the read end.
            let mut rx = unsafe {
                libc::close(writer);
                File::from_raw_fd(reader)
            };
            let mut buf = vec![0u8; msg];
            timed_batches(tm, || {
                rx.read_exact(&mut buf).unwrap();
                1
            })
        },
    );
    Figure::Throughput { bytes_per_sec: (messages * msg as u64) as f64 / elapsed.as_secs_f64(), messages }
}

/// The floor: a round trip of one cache line between two processes.
pub(crate) fn floor(tm: Timing) -> Figure {
    let (x, y) = CacheLine::pair();
    round_trip(x, y, tm)
}
