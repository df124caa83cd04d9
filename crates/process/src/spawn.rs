//! The spawn start method: this program is started again, and [`init`] (called first thing
//! in `main`) runs the requested function in it instead of `main`'s own work.
//!
//! A function is named by its address's offset from an anchor function of this binary:
//! the same executable loaded again puts every function at the same offset from the
//! anchor, whatever address the loader chose. A canary (the offset of a second function)
//! checks that the program started is the one that asked.

use std::sync::atomic::{AtomicU8, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The environment variable that carries a spawned child's orders.
pub(crate) const ENV: &str = "SHMKIT_PROCESS_SPAWN";

#[inline(never)]
fn anchor() -> usize {
    std::hint::black_box(0x5348_4d4b)
}

/// The offset of the function at `addr` from the anchor.
pub(crate) fn offset(addr: usize) -> u64 {
    addr.wrapping_sub(anchor as fn() -> usize as usize) as u64
}

/// The address of the function at `offset` in this process.
fn address(offset: u64) -> usize {
    (anchor as fn() -> usize as usize).wrapping_add(offset as usize)
}

/// The canary: the offset of a second function, equal only in the same executable.
pub(crate) fn canary() -> u64 {
    offset(init as fn() as usize)
}

/// A call of a function that can cross an exec: the function and its typed trampoline
/// as offsets. The trampoline decodes the argument bytes, calls the function and
/// encodes what it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Call {
    tramp: u64,
    func: u64,
}

/// Runs the function at `func` on postcard bytes, returning the encoded result or why it
/// failed.
type Tramp = fn(usize, &[u8]) -> Result<Vec<u8>, String>;

/// The trampoline of a process target `fn(A)`: one argument, no result.
fn once<A: DeserializeOwned>(func: usize, arg: &[u8]) -> Result<Vec<u8>, String> {
    let arg: A =
        postcard::from_bytes(arg).map_err(|e| format!("the process's argument does not decode: {e}"))?;
    // `Call::once` took `func` from a `fn(A)` and monomorphized this trampoline for the
    // same A; the canary check (or the fork, which keeps the address space) ensures the
    // addresses mean the same functions here.
    // SAFETY: so `func` is the address of a `fn(A)` of this executable.
    let f = unsafe { std::mem::transmute::<usize, fn(A)>(func) };
    f(arg);
    Ok(Vec::new())
}

/// Decodes a `Vec<T>` of arguments, applies `f` to each (a panic fails only its item)
/// and encodes the `Vec<Result<R, String>>` of results: a pool task's chunk.
fn each<T: DeserializeOwned, R: Serialize>(args: &[u8], f: impl Fn(T) -> R) -> Result<Vec<u8>, String> {
    let args: Vec<T> =
        postcard::from_bytes(args).map_err(|e| format!("the task's arguments do not decode: {e}"))?;
    let results: Vec<Result<R, String>> = args
        .into_iter()
        .map(|a| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(a)))
                .map_err(|p| crate::bootstrap::panic_text(p.as_ref()))
        })
        .collect();
    postcard::to_allocvec(&results).map_err(|e| format!("the task's results do not encode: {e}"))
}

fn each1<A: DeserializeOwned, R: Serialize>(func: usize, args: &[u8]) -> Result<Vec<u8>, String> {
    // SAFETY: as in `once`, for a `fn(A) -> R` taken by `Call::each`.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    each(args, f)
}

fn each2<A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(
    func: usize,
    args: &[u8],
) -> Result<Vec<u8>, String> {
    // SAFETY: as in `once`, for a `fn(A, B) -> R` taken by `Call::each2`.
    let f = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(func) };
    each(args, |(a, b)| f(a, b))
}

impl Call {
    /// A process target: `f` run once on its encoded argument.
    pub(crate) fn once<A: DeserializeOwned>(f: fn(A)) -> Self {
        let tramp: Tramp = once::<A>;
        Self { tramp: offset(tramp as usize), func: offset(f as usize) }
    }

    /// A pool task: `f` applied to each of an encoded `Vec<A>`, giving an encoded
    /// `Vec<Result<R, String>>` (a panic's message for an item that panicked).
    pub(crate) fn each<A: DeserializeOwned, R: Serialize>(f: fn(A) -> R) -> Self {
        let tramp: Tramp = each1::<A, R>;
        Self { tramp: offset(tramp as usize), func: offset(f as usize) }
    }

    /// As [`each`](Self::each) for a two-argument `f`, over a `Vec<(A, B)>` (`starmap`).
    pub(crate) fn each2<A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(f: fn(A, B) -> R) -> Self {
        let tramp: Tramp = each2::<A, B, R>;
        Self { tramp: offset(tramp as usize), func: offset(f as usize) }
    }

    /// The call as 16 bytes, for a pool's task frames.
    pub(crate) fn to_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.tramp.to_le_bytes());
        out[8..].copy_from_slice(&self.func.to_le_bytes());
        out
    }

    /// The call in the first 16 bytes of `bytes`, and the rest.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (tramp, rest) = bytes.split_first_chunk::<8>()?;
        let (func, rest) = rest.split_first_chunk::<8>()?;
        Some((Self { tramp: u64::from_le_bytes(*tramp), func: u64::from_le_bytes(*func) }, rest))
    }

    /// Calls the function on the encoded argument(s), in this process.
    ///
    /// Only calls made by this executable may be run: a spawned child runs the call in
    /// its orders, and a pool worker the calls its parent sends on the worker's pipe.
    pub(crate) fn run(&self, arg: &[u8]) -> Result<Vec<u8>, String> {
        // `tramp` and `func` were paired by one constructor in a process running this
        // same executable: the parent that made them, or a copy of it (fork keeps the
        // address space; a spawned program checked the canary in `init`). The only
        // writers of a pool worker's pipe are its parent and the worker itself (the
        // name is private to this user and unlinked once the worker has opened it).
        // SAFETY: so `tramp` is the offset of a `Tramp` monomorphized for `func`'s type.
        let tramp = unsafe { std::mem::transmute::<usize, Tramp>(address(self.tramp)) };
        tramp(address(self.func), arg)
    }
}

/// A spawned child's orders.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Orders {
    pub canary: u64,
    pub call: Call,
    pub arg: Vec<u8>,
    pub name: String,
    pub daemon: bool,
    pub parent: u32,
    /// The descriptor of the parent's report segment, inherited.
    pub report_fd: i32,
}

impl Orders {
    pub(crate) fn encode(&self) -> String {
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(text: &str) -> Option<Self> {
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        postcard::from_bytes(&bytes?).ok()
    }
}

/// Whether this process may start processes: `UNKNOWN` until the first check, then
/// `ALLOWED`, or `FORGOTTEN` in a program started by spawn whose `main` did not call
/// [`init`] before starting one. Cached so that a fork server, a single-threaded copy made
/// by a pool, never reads the environment (whose lock another thread may have held at the
/// fork).
static STARTS: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const ALLOWED: u8 = 1;
const FORGOTTEN: u8 = 2;

/// Whether this process may start processes: not if it was started by spawn and [`init`]
/// has not run (it removes the orders from the environment, or never returns). A child
/// that ran its `main` instead would start itself again, and again: a fork bomb.
pub(crate) fn may_start() -> bool {
    // Relaxed: the value is derived from the environment, the same in every thread.
    match STARTS.load(Ordering::Relaxed) {
        ALLOWED => true,
        FORGOTTEN => false,
        _ => {
            let allowed = std::env::var_os(ENV).is_none();
            STARTS.store(if allowed { ALLOWED } else { FORGOTTEN }, Ordering::Relaxed);
            allowed
        }
    }
}

/// Why a spawned child that has not called [`init`] may not start processes.
pub(crate) const FORGOT_INIT: &str =
    "this program was started by the spawn start method, and its `main` starts \
     processes without having called shmkit::init(): call shmkit::init() first thing in main (in a \
     spawned child it runs the child's function and exits, so the rest of `main` never runs there)";

/// Call this first thing in `main` in programs that start processes with the spawn start
/// method (or a [`Pool`](crate::Pool) using it). In the parent it returns at once; in a
/// child started by spawn it runs the child's function and exits, never returning.
///
/// A spawned child whose `main` starts a process, a [`Pool`](crate::Pool) or a
/// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) before calling `init` is refused
/// ([`ProcessError::NotInitialized`](crate::ProcessError::NotInitialized), or
/// [`TaskError::Start`](crate::TaskError::Start) for pools) instead of starting itself
/// again without end (Python raises a `RuntimeError` there).
///
/// ```no_run
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     shmkit::init();
///     // ... the program, which may start spawned processes ...
/// }
/// ```
pub fn init() {
    let Ok(text) = std::env::var(ENV) else {
        STARTS.store(ALLOWED, Ordering::Relaxed);
        return;
    };
    // Our own children must not take these orders for theirs; and the function we run
    // may start processes.
    std::env::remove_var(ENV);
    STARTS.store(ALLOWED, Ordering::Relaxed);
    let Some(orders) = Orders::decode(&text) else {
        eprintln!("shmkit: the orders of this spawned process do not decode");
        shmkit_core::child::exit_now(2);
    };
    if orders.canary != canary() {
        eprintln!("shmkit: this program is not the one that spawned it (rebuilt in between?)");
        shmkit_core::child::exit_now(2);
    }
    let report = crate::bootstrap::Report::inherited(orders.report_fd);
    let code =
        crate::bootstrap::run_child(&orders.name, orders.daemon, orders.parent, report.as_ref(), || {
            if let Err(e) = orders.call.run(&orders.arg) {
                panic!("{e}");
            }
        });
    shmkit_core::child::exit_now(code)
}
