//! # shmkit
//!
//! Python's `multiprocessing` rebuilt in Rust over POSIX shared memory: the primitives
//! live in `/dev/shm`, can be opened by name from unrelated processes, and survive peers
//! that crash.
//!
//! This is the facade crate: add `shmkit` and everything is here: the foundation (from
//! `shmkit-core`) and the synchronisation primitives (from `shmkit-sync`: [`Lock`],
//! [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Condition`], [`Barrier`]),
//! Python's sharedctypes (from `shmkit-ctypes`: [`Value`], [`Array`]), the queues (from
//! `shmkit-queue`: [`Queue`], [`JoinableQueue`], [`spsc`]) and the pipes (from
//! `shmkit-pipe`: [`Pipe`], [`Connection`]), and the processes on top of them (from
//! `shmkit-process`: [`Process`], [`Pool`], [`ProcessPoolExecutor`]).
//!
//! ## Processes
//!
//! ```
//! use shmkit::{Pool, Process, Queue};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! // A child process, sharing a queue with us (fork inherits it).
//! let q = Queue::<u64>::anonymous(8)?;
//! let child_end = q.try_clone()?;
//! let mut p = Process::new(move || child_end.put(42).unwrap()).name("worker");
//! p.start()?;
//! assert_eq!(p.join()?, 0);
//! assert_eq!(q.get()?, 42);
//!
//! // A pool of worker processes.
//! let pool = Pool::new(2)?;
//! assert_eq!(pool.map(square, [1, 2, 3])?, [1, 4, 9]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Programs that start processes with [`StartMethod::Spawn`] call [`init`] first thing in
//! `main`.
//!
//! ## Queues
//!
//! ```
//! use shmkit::{spsc, Queue};
//!
//! // q = Queue(10): any number of producers and consumers, lock-free.
//! let q = Queue::<u64>::anonymous(10)?;
//! q.put(42)?;
//! assert_eq!(q.get()?, 42);
//! assert!(q.try_get().is_err());
//!
//! // One producer, one consumer: the fastest path.
//! let (tx, rx) = spsc::channel::<[u8; 64]>(256)?;
//! tx.put_with(|slot| slot[..5].copy_from_slice(b"hello"))?; // written in place
//! assert_eq!(rx.get_with(|msg| msg[..5] == *b"hello")?, true);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Your own struct
//!
//! Queues, values and arrays carry any plain-data type by copying its bytes: numbers,
//! arrays of them, and your own `#[repr(C)]` structs. Derive [`Pod`](trait@Pod) and
//! [`Zeroable`](trait@Zeroable); the derive checks at compile time that the layout is
//! fixed, that every field is plain data, and that there is no padding (make it explicit
//! with a `_pad` field, so that every byte belongs to a field). Two programs built
//! separately agree on such a struct: the object's header records its name (without
//! module path), size and alignment.
//!
//! ```
//! #[repr(C)]
//! #[derive(Clone, Copy, Debug, PartialEq, shmkit::Pod, shmkit::Zeroable)]
//! struct Tick {
//!     seq: u64,
//!     price: f64,
//!     side: u8,
//!     _pad: [u8; 7],
//! }
//!
//! let q = shmkit::Queue::<Tick>::anonymous(16)?;
//! let tick = Tick { seq: 1, price: 101.25, side: b'B', _pad: [0; 7] };
//! q.put(tick)?;
//! assert_eq!(q.get()?, tick);
//!
//! let last = shmkit::Value::anonymous(tick)?;
//! assert_eq!(last.load().price, 101.25);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A struct with padding does not compile, and says what to do:
//!
//! ```compile_fail
//! #[repr(C)]
//! #[derive(Clone, Copy, shmkit::Pod, shmkit::Zeroable)]
//! struct Padded {
//!     seq: u64,
//!     side: u8, // 7 bytes of padding follow: "add explicit padding fields"
//! }
//! ```
//!
//! ## Pipes
//!
//! ```
//! use shmkit::Pipe;
//!
//! // parent_conn, child_conn = Pipe()
//! let (parent, child) = Pipe::new()?;
//! child.send_bytes(b"[42, None, 'hello']")?; // in the child, after a fork
//! assert_eq!(parent.recv_bytes()?, b"[42, None, 'hello']");
//! drop(child); // the child exits
//! assert!(parent.recv_bytes().is_err()); // EOF
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Synchronisation
//!
//! ```
//! use shmkit::{Event, Lock, Semaphore};
//!
//! // Anonymous objects are shared with children forked after they were made; named
//! // ones (`Lock::create("name")`, `Lock::open("name")`) with any process.
//! let lock = Lock::anonymous()?;
//! let sem = Semaphore::anonymous(3)?;
//! let done = Event::anonymous()?;
//!
//! {
//!     // A lock whose owner died reports it once, and still hands over the guard.
//!     let _guard = lock.lock().unwrap_or_else(|e| e.into_guard().expect("a participant slot"));
//!     assert!(sem.acquire_timeout(std::time::Duration::from_millis(10)));
//!     sem.release()?;
//! }
//! done.set();
//! assert!(done.is_set());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Segments and objects
//!
//! A named object is the file `/dev/shm/shmkit.<name>`. [`Object::create`] makes it with
//! `O_EXCL | O_NOFOLLOW`, mode 0600, every page reserved (a full `/dev/shm` is an error
//! now, never a `SIGBUS` later), and a header that [`Object::open`] checks: magic, format
//! version, kind, element type, size. Each mismatch is its own [`OpenError`] variant with a
//! message that says what to do.
//!
//! ```
//! use shmkit::{CreateOptions, Expect, Kind, Object, OpenError, OpenOptions, Spec, TypeDesc};
//! # let name = format!("doc-facade-{}", std::process::id());
//!
//! // Process 1
//! let spec = Spec::new(Kind::Array, 80).elem(TypeDesc::of::<f64>(), 10);
//! let obj = Object::create(&name, &spec, &CreateOptions::new(), |_, _| {})?;
//!
//! // Process 2: the wrong element type is refused, by name.
//! let wrong = Expect::kind(Kind::Array).elem(TypeDesc::of::<i32>());
//! match Object::open(&name, &wrong, &OpenOptions::new()) {
//!     Err(OpenError::TypeMismatch { .. }) => {}
//!     other => panic!("expected a type mismatch, got {other:?}"),
//! }
//! let ok = Object::open(&name, &spec.expect(), &OpenOptions::new())?;
//! assert_eq!(ok.info().elem_count, 10);
//! # obj.unlink()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Every kind, the same constructors
//!
//! Every kind of object is built on one generic [`Handle`]. The locks, semaphores,
//! events, conditions, barriers, values, arrays and queues have the same constructors,
//! each with its own parameters: `create(name, ..)`, `open(name)`,
//! `open_or_create(name, ..)` and `anonymous(..)`, each with a `_with` form that takes
//! [`CreateOptions`] (file mode, participant count) or [`OpenOptions`] (accept another
//! user's object, how long to wait for its creator), plus `unlink(name)`, `try_clone()`
//! (a second handle, one per thread), `object()` and `set_wait_strategy()`. The ends of a
//! pipe or an SPSC queue belong to one process each, so they have `create` and `open`
//! (which take an end) but no `try_clone`. A kind's [`Layout`] says how its state sits in
//! the object; [`Object::view`], [`Object::slice`] and [`Object::region`] are the checked
//! way into the body, bounds and alignment proved in one place.
//!
//! ```
//! use shmkit::{CreateOptions, Semaphore, Value};
//! # let name = format!("doc-facade-kinds-{}", std::process::id());
//!
//! let opts = CreateOptions::new().mode(0o600).participants(8);
//! let counter = Value::<u64>::create_with(&name, 0, &opts)?;
//! let same = Value::<u64>::open(&name)?;
//! same.fetch_add(1);
//! assert_eq!(counter.load(), 1);
//! let sem = Semaphore::anonymous_with(2, &opts)?;
//! let per_thread = sem.try_clone()?;
//! assert!(per_thread.try_acquire());
//! # Value::<u64>::unlink(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Who unlinks, and when
//!
//! A named object lives in `/dev/shm` until someone removes its name; processes attached
//! to it keep using it after that, and its memory goes when the last one lets go.
//! Dropping a handle never removes the name by default: a handle is often one of many, and
//! the object outlives the process that made it on purpose (a service's queue, say).
//!
//! - **Remove it when the creator is done**: create with
//!   [`CreateOptions::unlink_on_drop`] (or `QueueOptions::unlink_on_drop`). The creating
//!   process's handle removes the name when it is dropped, even on an early `?` return or a
//!   panic; a forked child's copy never does, and a file made under the name since is never
//!   touched.
//! - **Remove it explicitly**: `Kind::unlink(name)`, or `handle.object().unlink()`, which
//!   removes the name only if it still names this handle's file.
//! - **A crashed run left one behind**: create with [`CreateOptions::replace_abandoned`];
//!   an object no live process is attached to is removed and made again (in use, it is
//!   never touched). `shmkit gc` removes every such object of yours.
//! - **Start in any order**: `Kind::open_timeout(name, timeout)` waits for the name to
//!   appear, so a consumer may start before its producer.
//!
//! ```
//! use std::time::Duration;
//! use shmkit::{Queue, QueueOptions};
//! # let name = format!("doc-who-unlinks-{}", std::process::id());
//!
//! let opts = QueueOptions::new().unlink_on_drop(true).replace_abandoned(true);
//! let q = Queue::<u64>::create_with(&name, 8, &opts)?;
//! let peer = Queue::<u64>::open_timeout(&name, Duration::from_secs(1))?;
//! q.put(1)?;
//! assert_eq!(peer.get()?, 1);
//! drop(q); // the name goes; `peer` keeps working
//! assert!(!shmkit::segment::exists(&name)?);
//! peer.put(2)?;
//! assert_eq!(peer.get()?, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Liveness
//!
//! Every process attached to an object holds a participant slot, and an
//! open-file-description lock on that slot's byte of the file. The kernel drops the lock
//! when the process dies, however it dies, so [`Object::is_alive`] never guesses from a
//! pid that the kernel may have reused. A forked child becomes a participant of its own.
//!
//! ## Waiting
//!
//! Blocking calls spin briefly, then sleep on a futex in shared memory
//! ([`WaitStrategy`]); an [`EventCount`] makes the wake system call only when someone
//! sleeps. Every `_timeout` call computes a [`Deadline`] on the monotonic clock and calls
//! its `_deadline` twin, so signals and spurious wake-ups never stretch a wait.

// Core's `process` (pid bookkeeping, which would read like `Process`), `child` (raw fork
// and wait, whose `fork` is unsafe) and `loom` (the model-checking shim) are building
// blocks for the member crates, not for users: they stay in `shmkit_core`.
/// bytemuck itself, for casts between plain-data types (`shmkit::bytemuck::cast_slice`).
pub use bytemuck;
#[cfg(feature = "serde")]
mod by_name;
#[cfg(feature = "serde")]
pub use by_name::{ByName, Named};

// Plain data, bytemuck's `Pod` and `Zeroable` traits: the types queues, values, arrays
// and pipes carry by copying their bytes. Brought in by a glob, so that shmkit's derives
// (named below; a name beats a glob) are the macros of these names even in a build where
// bytemuck's own derives are on.
mod plain_data {
    pub use bytemuck::{Pod, Zeroable};
}
pub use plain_data::*;
pub use shmkit_core::{
    futex, handle, header, segment, CreateError, CreateOptions, Deadline, EventCount, Expect, Handle, Header,
    HeaderSnapshot, InPlace, Kind, Layout, Name, NameError, Object, OpenError, OpenOptions,
    OpenOrCreateError, ParticipantId, ParticipantInfo, RegisterError, Role, Segment, Spec, TypeDesc,
    UnlinkError, WaitKey, WaitStrategy,
};
pub use shmkit_core::{FIRST_RECHECK, MAX_NAME_LEN, RECHECK_INTERVAL};
pub use shmkit_sync::{MAX_PARTIES, MAX_VALUE};

/// The queues' limits.
pub mod queue {
    pub use shmkit_queue::MAX_CAPACITY;
}

/// The pipes' limits and defaults.
pub mod pipe {
    pub use shmkit_pipe::{DEFAULT_CAPACITY, DEFAULT_MAX_MESSAGE, MAX_CAPACITY, MIN_CAPACITY};
}

/// Python's `multiprocessing.connection`: [`Listener`](connection::Listener),
/// [`Client`](connection::Client) and their [`Connection`](connection::Connection), with
/// Python's authkey handshake: by shared-memory name (each connection a pipe of its own),
/// or over AF_UNIX and TCP sockets with Python's framing, so Rust and Python programs talk.
pub use shmkit_connection as connection;
pub use shmkit_ctypes::{Array, ArrayChunk, ArrayError, ArrayGuard, AtomicInt, CChar, Value, ValueGuard};
/// The derives of [`Pod`](trait@Pod) and [`Zeroable`](trait@Zeroable), checked at compile time: a
/// `#[repr(C)]` struct, every field plain data, no padding.
pub use shmkit_derive::{Pod, Zeroable};
pub use shmkit_dict::{Dict, DictError, DictOptions, List, ListSnapshot, Namespace, Snapshot};
pub use shmkit_mq::{
    Loan, MessageError, MessageQueue, MessageQueueOptions, MessageView, PoolState, SimpleQueue,
};
pub use shmkit_pipe::{Connection, Pipe, PipeOptions, Receiver, RecvError, SendError, Sender};
pub use shmkit_process::{
    as_completed, cpu_count, current_process, init, parent_pid, AsCompleted, AsyncResult, CurrentProcess,
    Imap, NextTimeoutError, Pool, PoolOptions, Process, ProcessError, ProcessPoolExecutor, Run, StartMethod,
    TaskError,
};
pub use shmkit_queue::{
    spsc, GetError, GetTimeoutError, JoinTimeoutError, JoinableQueue, PutError, PutTimeoutError, Queue,
    QueueOptions, Repairs, TaskDoneError, TryGetError, TryPutError,
};
pub use shmkit_sync::{
    raw, Barrier, BarrierError, BoundedSemaphore, Condition, ConditionGuard, Event, Lock, LockError,
    LockGuard, NotOwner, RLock, RLockGuard, ReleaseError, Semaphore, TryLockError,
};
/// The bridge onto Zenoh: export a local queue or pipe to a key expression, import a key
/// expression into a local queue, so that one program spans hosts (the `zenoh` feature).
#[cfg(feature = "zenoh")]
pub use shmkit_zenoh as zenoh;
