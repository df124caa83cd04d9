//! The rows, one module per family, in the order the table prints them. A row names the
//! rows it is compared with; those are measured in the same run.

mod floor;
mod pipe;
mod process;
mod queue;
mod sweep;
mod sync;
mod value;

use crate::harness::Bench;

/// The floor: two processes ping-ponging one cache line.
pub(crate) const FLOOR: &str = "floor: cache line ping-pong (spin)";
/// The floor for parked waits.
pub(crate) const FUTEX: &str = "futex ping-pong (both always sleep)";
/// The kernel's throughput peer.
pub(crate) const SOCK64K: &str = "socketpair 64 KiB one-way";
/// The in-process peer of the uncontended primitives.
pub(crate) const CAS: &str = "bare atomic CAS pair (in-process)";
/// The card's crates, spinning.
pub(crate) const RAWSYNC_BUSY: &str = "shared_memory+raw_sync BusyEvent ping-pong (spin)";
/// The card's crates, sleeping.
pub(crate) const RAWSYNC_EVENT: &str = "shared_memory+raw_sync Event ping-pong (mutex+condvar)";
/// Python's Value.
pub(crate) const PYVALUE: &str = "python3 multiprocessing.Value locked += 1";
/// Python's Queue.
pub(crate) const PYQUEUE: &str = "python3 multiprocessing.Queue 8 B ping-pong";
/// Python's Pipe.
pub(crate) const PYPIPE: &str = "python3 multiprocessing.Pipe 8 B ping-pong";
/// The in-process SPSC peer.
pub(crate) const RTRB: &str = "rtrb SPSC u64 one-way, two threads";

/// Runs every row the filter selects.
pub(crate) fn all(b: &mut Bench) {
    floor::rows(b);
    sync::rows(b);
    value::rows(b);
    queue::rows(b);
    pipe::rows(b);
    sweep::rows(b);
    process::rows(b);
}
