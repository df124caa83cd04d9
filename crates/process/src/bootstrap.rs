//! What runs in a new child before and around its target (Python's
//! `Process._bootstrap`): its identity, dying with its parent if it is a daemon, and the
//! report in which a panicking target leaves its message for the parent.
//!
//! A leaf of the crate: both start methods use it (`process.rs` under fork, `spawn.rs`
//! in the program started again), and it uses neither.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use shmkit_core::child::{self, SIGKILL};
use shmkit_core::Segment;

/// Bytes for a child's panic message, shared with it.
const REPORT_SIZE: usize = 4096;

/// A small anonymous segment in which a child leaves its panic message: a u32 length
/// (stored last, with Release), then the bytes.
pub(crate) struct Report(pub(crate) Segment);

impl Report {
    /// A new, empty report, for a child about to start.
    pub(crate) fn new() -> io::Result<Self> {
        Segment::anonymous(REPORT_SIZE as u64).map(Self).map_err(|e| io::Error::other(e.to_string()))
    }

    /// The report segment whose descriptor a spawned child inherited.
    pub(crate) fn inherited(fd: i32) -> Option<Self> {
        if fd < 0 {
            return None;
        }
        // SAFETY: the parent passed this descriptor number for us to own (it cleared
        // CLOEXEC on its report segment for this exec, and nothing else here uses it).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Segment::from_fd(fd).ok().map(Self)
    }

    fn len_word(&self) -> &AtomicU32 {
        // SAFETY: the mapping is REPORT_SIZE bytes, page-aligned, alive while `self` is;
        // offset 0 holds an atomic that any process may write.
        unsafe { &*self.0.as_ptr().cast::<AtomicU32>() }
    }

    fn write(&self, message: &str) {
        let bytes = &message.as_bytes()[..message.len().min(REPORT_SIZE - 4)];
        // SAFETY: 4 + bytes.len() <= REPORT_SIZE; only this child writes the bytes, and
        // the parent reads them only after it has reaped the child.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0.as_ptr().add(4), bytes.len()) };
        // Release: the bytes above are visible to whoever reads this length with Acquire.
        self.len_word().store(bytes.len() as u32, Ordering::Release);
    }

    /// The message the child left, if any.
    pub(crate) fn read(&self) -> Option<String> {
        let len = (self.len_word().load(Ordering::Acquire) as usize).min(REPORT_SIZE - 4);
        if len == 0 {
            return None;
        }
        let mut out = vec![0u8; len];
        // SAFETY: in bounds (clamped above); the child that wrote them has exited.
        unsafe { std::ptr::copy_nonoverlapping(self.0.as_ptr().add(4), out.as_mut_ptr(), len) };
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

/// This process's identity, as [`current_process`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentProcess {
    /// `MainProcess`, or the name the parent gave.
    pub name: String,
    /// Our pid.
    pub pid: u32,
    /// Whether we are a daemon child.
    pub daemon: bool,
}

/// This process's name and daemon flag, once it is a child started by this crate.
static CURRENT: Mutex<Option<(String, bool)>> = Mutex::new(None);

/// Who this process is: Python's `multiprocessing.current_process()`.
///
/// # Examples
///
/// ```
/// let me = shmkit::current_process();
/// assert_eq!((me.name.as_str(), me.pid, me.daemon), ("MainProcess", std::process::id(), false));
/// ```
pub fn current_process() -> CurrentProcess {
    let (name, daemon) = CURRENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| ("MainProcess".to_owned(), false));
    CurrentProcess { name, pid: std::process::id(), daemon }
}

/// The parent's pid: Python's `os.getppid()`.
pub fn parent_pid() -> u32 {
    child::parent_pid()
}

/// The number of CPUs this process may use: Python's `os.cpu_count()` (affinity-aware).
pub fn cpu_count() -> usize {
    child::cpu_count()
}

/// In a new child: take its identity, arrange to die with the parent if a daemon, run
/// `work`, and return the exit status (101 with the panic message reported if it panics).
pub(crate) fn run_child(
    name: &str,
    daemon: bool,
    parent: u32,
    report: Option<&Report>,
    work: impl FnOnce(),
) -> i32 {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some((name.to_owned(), daemon));
    if daemon && child::die_with_parent(SIGKILL, parent).is_err() {
        return 3;
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(()) => 0,
        Err(payload) => {
            if let Some(r) = report {
                r.write(&panic_text(payload.as_ref()));
            }
            101
        }
    }
}

/// A panic's message.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned())
}
