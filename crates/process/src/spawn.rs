//! The spawn start method: this program is started again, and [`init`] (called first thing
//! in `main`) runs the requested function in it instead of `main`'s own work.
//!
//! A function is named by its address's offset from an anchor function of this binary:
//! the same executable loaded again puts every function at the same offset from the
//! anchor, whatever address the loader chose. A canary (the offset of a second function)
//! checks that the program started is the one that asked.

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

/// A call of `f(args) -> R` that can cross an exec: the function and its typed
/// trampoline as offsets, the argument encoded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Call {
    tramp: u64,
    func: u64,
}

/// Runs the function at `func` on `arg` (postcard bytes), returning the encoded result or
/// why it failed.
type Tramp = fn(usize, &[u8]) -> Result<Vec<u8>, String>;

fn trampoline<A: DeserializeOwned, R: Serialize>(func: usize, arg: &[u8]) -> Result<Vec<u8>, String> {
    let arg: A =
        postcard::from_bytes(arg).map_err(|e| format!("the task's argument does not decode: {e}"))?;
    // SAFETY: `func` is the address of a `fn(A) -> R` of this executable: `Call::new`
    // took it from one, monomorphized this trampoline for the same A and R, and the
    // canary check (or the fork, which keeps the address space) ensures the addresses
    // mean the same functions here.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(func) };
    postcard::to_allocvec(&f(arg)).map_err(|e| format!("the task's result does not encode: {e}"))
}

fn trampoline2<A: DeserializeOwned, B: DeserializeOwned, R: Serialize>(
    func: usize,
    arg: &[u8],
) -> Result<Vec<u8>, String> {
    let (a, b): (A, B) =
        postcard::from_bytes(arg).map_err(|e| format!("the task's arguments do not decode: {e}"))?;
    // SAFETY: as in `trampoline`, for a `fn(A, B) -> R` taken by `Call::new2`.
    let f = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(func) };
    postcard::to_allocvec(&f(a, b)).map_err(|e| format!("the task's result does not encode: {e}"))
}

impl Call {
    /// The call of `f`.
    pub(crate) fn new<A: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned>(
        f: fn(A) -> R,
    ) -> Self {
        let tramp: Tramp = trampoline::<A, R>;
        Self { tramp: offset(tramp as usize), func: offset(f as usize) }
    }

    /// The call of a two-argument `f`, whose argument is encoded as a pair (`starmap`).
    pub(crate) fn new2<A, B, R>(f: fn(A, B) -> R) -> Self
    where
        A: Serialize + DeserializeOwned,
        B: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let tramp: Tramp = trampoline2::<A, B, R>;
        Self { tramp: offset(tramp as usize), func: offset(f as usize) }
    }

    /// Calls the function on the encoded argument, in this process.
    pub(crate) fn run(&self, arg: &[u8]) -> Result<Vec<u8>, String> {
        // SAFETY: `tramp` is the offset of a `Tramp` of this executable (see `Call::new`;
        // the callers check the canary when the call crossed an exec).
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

/// Call this first thing in `main` in programs that start processes with the spawn start
/// method (or a [`Pool`](crate::Pool) using it). In the parent it returns at once; in a
/// child started by spawn it runs the child's function and exits, never returning.
///
/// ```no_run
/// # #[allow(clippy::needless_doctest_main)]
/// fn main() {
///     shmkit_process::init();
///     // ... the program, which may start spawned processes ...
/// }
/// ```
pub fn init() {
    let Ok(text) = std::env::var(ENV) else { return };
    // Our own children must not take these orders for theirs.
    std::env::remove_var(ENV);
    let Some(orders) = Orders::decode(&text) else {
        eprintln!("shmkit: the orders of this spawned process do not decode");
        shmkit_core::child::exit_now(2);
    };
    if orders.canary != canary() {
        eprintln!("shmkit: this program is not the one that spawned it (rebuilt in between?)");
        shmkit_core::child::exit_now(2);
    }
    let report = crate::process::Report::inherited(orders.report_fd);
    let code = crate::process::run_child(&orders.name, orders.daemon, orders.parent, report.as_ref(), || {
        if let Err(e) = orders.call.run(&orders.arg) {
            panic!("{e}");
        }
    });
    shmkit_core::child::exit_now(code)
}
