//! The names of the rows that other rows are compared with. A leaf: the rows, the
//! collector (which measures the floor again before each row compared with it) and the
//! report (which takes the ratio to that adjacent floor) all name these rows.

/// The floor: two processes ping-ponging one cache line.
pub(crate) const FLOOR: &str = "floor: cache line ping-pong (spin)";
/// The floor for parked waits.
pub(crate) const FUTEX: &str = "futex ping-pong (both always sleep)";
/// The kernel's throughput peer.
pub(crate) const SOCK64K: &str = "socketpair 64 KiB one-way";
/// The in-process peer of the uncontended primitives.
pub(crate) const CAS: &str = "bare atomic CAS pair, uncontended (in-process)";
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
/// Python's `multiprocessing.connection` (the peers of `rows/connection.rs`): a `Client`'s
/// connection to a `Listener` at an AF_UNIX path. The name holds both `Connection` and
/// `Listener`, the words the connection rows' names hold, so that either filter selects
/// it with them.
pub(crate) const PYCONN_PING: &str =
    "python3 multiprocessing Listener/Client Connection (AF_UNIX) 8 B ping-pong";
/// As [`PYCONN_PING`]: a new connection with an authkey, from the `Client` call until
/// both sides hold it.
pub(crate) const PYCONN_ACCEPT: &str =
    "python3 multiprocessing Listener/Client connect+accept+handshake (AF_UNIX)";
/// The in-process SPSC peer.
pub(crate) const RTRB: &str = "rtrb SPSC u64 one-way, two threads";
/// The in-process bounded MPMC peer (of `Queue<u64>`).
pub(crate) const CROSSBEAM: &str = "crossbeam ArrayQueue u64 one-way (threads)";
/// Python's Queue one way (the message queue's small-message peer).
pub(crate) const PYQUEUE_ONE_WAY: &str = "python3 multiprocessing.Queue 16 B one-way";
/// `Queue<u64>` round trips (rows of `rows/queue.rs`, which spells them out): the message
/// queue's 8-byte round trips are compared with them.
pub(crate) const QUEUE_SPIN: &str = "Queue<u64> ping-pong (spin)";
/// As [`QUEUE_SPIN`], parked.
pub(crate) const QUEUE_PARKED: &str = "Queue<u64> ping-pong (parked)";

/// One process copying 4 MiB from one buffer to another: what a message written once costs.
pub(crate) const MEMCPY4M: &str = "memcpy 4 MiB (one process)";
/// As [`MEMCPY4M`], into each of four 4 MiB buffers in turn, as a writer into a pool of four
/// frames: the destination is not in the cache.
pub(crate) const MEMCPY4M_CYCLING: &str = "memcpy 4 MiB into 4 buffers in turn (one process)";

/// Python's `Manager().dict()` (issue #18), reached from a client process: the peers of
/// the Dict rows (`rows/dict.rs`). Every Dict row's name starts with `dict: `, so that one
/// filter selects them and their peers, and the ratios drop the common prefix.
pub(crate) const PYDICT_GET: &str = "dict: python3 Manager().dict() d[k] get, 1000 int keys";
/// As [`PYDICT_GET`], `d[k] = v` on an existing key.
pub(crate) const PYDICT_SET: &str =
    "dict: python3 Manager().dict() d[k] = v insert (overwrite), 1000 int keys";
/// Two client processes incrementing one key under a manager `Lock` (exact).
pub(crate) const PYDICT_INCR_LOCKED: &str =
    "dict: python3 Manager().dict() `with lock: d[k] += 1`, two processes contending";
/// As [`PYDICT_INCR_LOCKED`] without the lock: a get and a set, so increments are lost.
pub(crate) const PYDICT_INCR_PLAIN: &str =
    "dict: python3 Manager().dict() d[k] += 1, no lock (loses updates), two processes contending";
