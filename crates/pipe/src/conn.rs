//! Connections: the two ends of a pipe, and their send and receive halves.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use shmkit_core::{
    CreateError, Deadline, Handle, Kind, Object, OpenError, OpenOptions, Role, UnlinkError, WaitStrategy,
};
use shmkit_queue::spsc::{Fail, Port, Side};

use crate::api::{recv_api, send_api};
use crate::error::{RecvError, SendError};
use crate::frame;
use crate::layout::{PipeLayout, PipeOptions, DEFAULT_MAX_MESSAGE};
use crate::stream::{self, ByteRing};

/// The send half of an end: the producer of one ring.
struct Tx {
    port: Port<u8>,
    max: usize,
    /// When this end last asked whether the receiver is alive (coarse clock, ns).
    probed: Cell<u64>,
}

/// How often a sender that finds messages unread asks whether the receiver is alive.
const PROBE_INTERVAL_NS: u64 = 1_000_000;

/// The receive half of an end: the consumer of one ring.
struct Rx {
    port: Port<u8>,
    max: usize,
}

impl Tx {
    fn new(port: Port<u8>) -> Self {
        Self { port, max: DEFAULT_MAX_MESSAGE, probed: Cell::new(0) }
    }

    /// Whether the receiver is gone: closed or dropped (two loads), or dead (a system
    /// call, made only when earlier messages may lie unread, about once a millisecond at
    /// most, on a clock that costs a few nanoseconds: a receiver that is seen to keep up
    /// is alive).
    fn receiver_gone(&self) -> bool {
        if self.port.closed() || self.port.peer_dropped() {
            return true;
        }
        if self.port.seen_drained() {
            return false;
        }
        let now = shmkit_core::coarse_clock_ns();
        if now.wrapping_sub(self.probed.get()) < PROBE_INTERVAL_NS {
            return false;
        }
        self.probed.set(now);
        self.port.peer_gone()
    }

    /// Writes one frame, streaming it through the ring if it is larger, waiting for room
    /// until `deadline` (see [`stream::send_deadline`]).
    fn send(&self, flags: u32, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
        if msg.len() > self.max {
            return Err(SendError::TooLarge { len: msg.len(), max: self.max });
        }
        if self.receiver_gone() {
            return Err(SendError::Disconnected);
        }
        Ok(stream::send_deadline(&self.port, flags, msg, deadline)?)
    }
}

impl Rx {
    fn poll(&self, deadline: Option<Deadline>) -> Result<bool, RecvError> {
        match stream::peek(&self.port, self.max, deadline) {
            Ok(found) => Ok(found.is_some()),
            // Like Python: a pipe at its end polls ready, and the receive says why.
            Err(RecvError::NoSlot) => Err(RecvError::NoSlot),
            Err(_) => Ok(true),
        }
    }
}

impl ByteRing for Port<u8> {
    fn capacity(&self) -> usize {
        Port::capacity(self)
    }

    fn reserve(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail> {
        Port::reserve(self, min, want, deadline)
    }

    fn commit(&self, n: u64) {
        Port::commit(self, n);
    }

    fn ready(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail> {
        Port::ready(self, min, want, deadline)
    }

    fn consume(&self, n: u64) {
        Port::consume(self, n);
    }

    fn copy_in(&self, pos: u64, src: &[u8]) {
        Port::copy_in(self, pos, src);
    }

    fn copy_out(&self, pos: u64, dst: &mut [u8]) {
        Port::copy_out(self, pos, dst);
    }
}

/// Python's `multiprocessing.Pipe`: a constructor of connected ends.
///
/// ```
/// use shmkit::Pipe;
///
/// let (parent, child) = Pipe::new()?;
/// // fork here: the child keeps `child`, the parent `parent`
/// child.send_bytes(b"hello")?;
/// assert_eq!(parent.recv_bytes()?, b"hello");
/// parent.send_bytes(b"and back")?;
/// assert_eq!(child.recv_bytes()?, b"and back");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pipe(());

impl Pipe {
    /// `Pipe()`: two connected duplex ends, anonymous (inherited across fork). Each end
    /// is taken by the process that uses it first.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::anonymous_with`].
    // `Pipe()` in Python returns the pair; so does this.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Result<(Connection, Connection), CreateError> {
        Self::with_options(&PipeOptions::new())
    }

    /// [`new`](Self::new) with options (the ring capacity).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); a zero or too large capacity is [`CreateError::InvalidSize`].
    pub fn with_options(opts: &PipeOptions) -> Result<(Connection, Connection), CreateError> {
        let h = anonymous(Kind::Pipe, opts)?;
        let a = Connection::attach(&h, End::A, false).map_err(CreateError::from_layout)?;
        let b = Connection::attach(&h, End::B, false).map_err(CreateError::from_layout)?;
        Ok((a, b))
    }

    /// `Pipe(duplex=False)`: a receive-only and a send-only end, in Python's order.
    ///
    /// ```compile_fail
    /// let (r, w) = shmkit::Pipe::simplex()?;
    /// r.send_bytes(b"the receive end cannot send"); // no such method
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn simplex() -> Result<(Receiver, Sender), CreateError> {
        Self::simplex_with_options(&PipeOptions::new())
    }

    /// [`simplex`](Self::simplex) with options.
    ///
    /// # Errors
    ///
    /// As [`with_options`](Self::with_options).
    pub fn simplex_with_options(opts: &PipeOptions) -> Result<(Receiver, Sender), CreateError> {
        let h = anonymous(Kind::SimplexPipe, opts)?;
        let r = Receiver::attach(&h, false).map_err(CreateError::from_layout)?;
        let w = Sender::attach(&h, false).map_err(CreateError::from_layout)?;
        Ok((r, w))
    }
}

/// A pipe's object, made and checked, shared by the ends attached to it.
struct Rings {
    obj: Arc<Object>,
    /// The bytes each ring holds.
    capacity: usize,
}

impl Rings {
    /// The rings of `h`'s pipe, its participant playing `role`.
    fn new(h: Handle<PipeLayout>, role: Role) -> Self {
        h.object().set_role(role);
        let (obj, capacity) = h.into_parts();
        Self { obj: Arc::new(obj), capacity }
    }
}

/// An anonymous pipe of `kind`, both ends to be taken by the processes that use them.
fn anonymous(kind: Kind, opts: &PipeOptions) -> Result<Rings, CreateError> {
    let h = Handle::anonymous_with(PipeLayout(kind), opts.get_capacity(), opts.get_create())?;
    // A child forked with an end and dead before it used it is then a gone peer.
    h.object().watch_children();
    Ok(Rings::new(h, Role::PRODUCER_CONSUMER))
}

/// Creates the named pipe `name` of `kind`, holding an end that plays `role`.
fn create(name: &str, kind: Kind, role: Role, opts: &PipeOptions) -> Result<Rings, CreateError> {
    let h = Handle::create_with(PipeLayout(kind), name, opts.get_capacity(), opts.get_create())?;
    Ok(Rings::new(h, role))
}

/// Opens the named pipe `name` of `kind`, to take an end that plays `role`.
fn open(name: &str, kind: Kind, role: Role, opts: &OpenOptions) -> Result<Rings, OpenError> {
    let h = Handle::open_with(PipeLayout(kind), name, opts)?;
    Ok(Rings::new(h, role))
}

/// Which end of a duplex pipe: the creator's (A) or the opener's (B).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    A,
    B,
}

/// Ring `i` of the pipe, as `side` (a checked attach).
fn port(rings: &Rings, i: usize, side: Side, take: bool) -> Result<Port<u8>, OpenError> {
    // `PipeLayout::check` found the body to be exactly the rings of this capacity.
    let ring = Port::<u8>::ring_len(rings.capacity)
        .ok_or(OpenError::Corrupt { reason: "a ring's length overflows" })?;
    Port::attach(Arc::clone(&rings.obj), i * ring, rings.capacity, side, take)
}

/// One end of a duplex pipe: sends to the other end and receives from it (Python's
/// `multiprocessing.connection.Connection`).
///
/// [`Pipe::new`] gives two anonymous ends, for a parent and the child it forks. A named
/// pipe joins unrelated processes: one [`create`](Self::create)s it and holds the first
/// end, the other [`open`](Self::open)s it and takes the second.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::Connection;
/// let name = format!("example-conn-{}", std::process::id());
///
/// // Process 1: the server
/// let server = Connection::create(&name)?;
/// // Process 2: the client (which may start first: it waits for the name)
/// let client = Connection::open_timeout(&name, Duration::from_secs(1))?;
/// Connection::unlink(&name)?; // both ends are taken: the name can go
///
/// // conn.send(obj) / conn.recv(): any serde value, checked against the sent type
/// client.send(&("add".to_string(), vec![2u32, 3]))?;
/// assert!(server.poll(Duration::from_secs(1))?);
/// let (op, args): (String, Vec<u32>) = server.recv()?;
/// assert_eq!(op, "add");
/// server.send(&args.iter().sum::<u32>())?;
/// assert_eq!(client.recv::<u32>()?, 5);
///
/// // conn.send_bytes(b) / conn.recv_bytes()
/// client.send_bytes(b"bye")?;
/// assert_eq!(server.recv_bytes()?, b"bye");
/// drop(client); // the client exits
/// assert!(server.recv_bytes().is_err()); // EOF
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    tx: Tx,
    rx: Rx,
}

impl Connection {
    fn attach(h: &Rings, end: End, take: bool) -> Result<Self, OpenError> {
        // Ring 0 carries A to B, ring 1 B to A.
        let (out, inn) = if end == End::A { (0, 1) } else { (1, 0) };
        Ok(Self {
            tx: Tx::new(port(h, out, Side::Producer, take)?),
            rx: Rx { port: port(h, inn, Side::Consumer, take)?, max: DEFAULT_MAX_MESSAGE },
        })
    }

    /// Creates the named duplex pipe `name` and holds its first end.
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with).
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Self::create_with(name, &PipeOptions::new())
    }

    /// Creates the named duplex pipe `name` and holds its first end, with options.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::create_with`]; a zero or too large capacity is
    /// [`CreateError::InvalidSize`].
    pub fn create_with(name: &str, opts: &PipeOptions) -> Result<Self, CreateError> {
        let h = create(name, Kind::Pipe, Role::PRODUCER_CONSUMER, opts)?;
        Self::attach(&h, End::A, true).map_err(CreateError::from_layout)
    }

    /// Opens the named duplex pipe `name` and takes its second end.
    ///
    /// # Errors
    ///
    /// As [`open_with`](Self::open_with).
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named duplex pipe `name` and takes its second end, with options.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::open_with`]; [`OpenError::EndTaken`] if a live process
    /// holds that end; [`OpenError::KindMismatch`] for a simplex pipe.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Self::attach(&open(name, Kind::Pipe, Role::PRODUCER_CONSUMER, opts)?, End::B, true)
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Removes the name `name` (attached processes keep using the pipe).
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<PipeLayout>::unlink(name)
    }

    send_api!();
    recv_api!();

    /// Closes both directions: the other end receives what was sent and then
    /// [`RecvError::Disconnected`]; its sends, and ours, fail.
    pub fn close(&self) {
        self.tx.port.close();
        self.rx.port.close();
    }

    /// Sets how blocked calls wait (spin, spin then sleep, or sleep).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.tx.port.set_wait_strategy(strategy);
        self.rx.port.set_wait_strategy(strategy);
    }

    /// The bytes each direction's ring holds.
    pub fn capacity(&self) -> usize {
        self.tx.port.capacity()
    }

    /// Takes both directions of this end on first use, so that the other end sees this
    /// process's death whichever way it talks.
    fn hold(&self) -> Result<(), Fail> {
        self.tx.port.hold()?;
        self.rx.port.hold()
    }

    /// Splits this end into its send and receive halves, for two threads (a
    /// `Connection` serves one thread at a time).
    pub fn split(self) -> (Sender, Receiver) {
        (Sender { tx: self.tx }, Receiver { rx: self.rx })
    }
}

/// The send-only end of a simplex pipe.
pub struct Sender {
    tx: Tx,
}

/// The receive-only end of a simplex pipe.
pub struct Receiver {
    rx: Rx,
}

impl Sender {
    fn attach(h: &Rings, take: bool) -> Result<Self, OpenError> {
        Ok(Self { tx: Tx::new(port(h, 0, Side::Producer, take)?) })
    }

    /// Creates the named simplex pipe `name` and holds its send end.
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with).
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Self::create_with(name, &PipeOptions::new())
    }

    /// Creates the named simplex pipe `name` and holds its send end, with options.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::create_with`]; a zero or too large capacity is
    /// [`CreateError::InvalidSize`].
    pub fn create_with(name: &str, opts: &PipeOptions) -> Result<Self, CreateError> {
        let h = create(name, Kind::SimplexPipe, Role::PRODUCER, opts)?;
        Self::attach(&h, true).map_err(CreateError::from_layout)
    }

    /// Opens the named simplex pipe `name` and takes its send end.
    ///
    /// # Errors
    ///
    /// As [`open_with`](Self::open_with).
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named simplex pipe `name` and takes its send end, with options.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::open_with`]; [`OpenError::EndTaken`] if a live process
    /// holds that end; [`OpenError::KindMismatch`] for a duplex pipe.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Self::attach(&open(name, Kind::SimplexPipe, Role::PRODUCER, opts)?, true)
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Removes the name `name` (attached processes keep using the pipe).
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<PipeLayout>::unlink(name)
    }

    fn hold(&self) -> Result<(), Fail> {
        self.tx.port.hold()
    }

    send_api!();

    /// Closes the pipe: the receiver gets what was sent, then [`RecvError::Disconnected`].
    pub fn close(&self) {
        self.tx.port.close();
    }

    /// Sets how a send into a full pipe waits.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.tx.port.set_wait_strategy(strategy);
    }
}

impl Receiver {
    fn attach(h: &Rings, take: bool) -> Result<Self, OpenError> {
        Ok(Self { rx: Rx { port: port(h, 0, Side::Consumer, take)?, max: DEFAULT_MAX_MESSAGE } })
    }

    /// Creates the named simplex pipe `name` and holds its receive end.
    ///
    /// # Errors
    ///
    /// As [`create_with`](Self::create_with).
    pub fn create(name: &str) -> Result<Self, CreateError> {
        Self::create_with(name, &PipeOptions::new())
    }

    /// Creates the named simplex pipe `name` and holds its receive end, with options.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::create_with`]; a zero or too large capacity is
    /// [`CreateError::InvalidSize`].
    pub fn create_with(name: &str, opts: &PipeOptions) -> Result<Self, CreateError> {
        let h = create(name, Kind::SimplexPipe, Role::CONSUMER, opts)?;
        Self::attach(&h, true).map_err(CreateError::from_layout)
    }

    /// Opens the named simplex pipe `name` and takes its receive end.
    ///
    /// # Errors
    ///
    /// As [`open_with`](Self::open_with).
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new())
    }

    /// Opens the named simplex pipe `name` and takes its receive end, with options.
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::Handle::open_with`]; [`OpenError::EndTaken`] if a live process
    /// holds that end; [`OpenError::KindMismatch`] for a duplex pipe.
    pub fn open_with(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Self::attach(&open(name, Kind::SimplexPipe, Role::CONSUMER, opts)?, true)
    }

    /// Opens `name`, waiting up to `timeout` for it to appear: its creator may start
    /// after us. The wait sleeps until the kernel reports a new object.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`] if nothing has the name by then, else as
    /// [`open_with`](Self::open_with).
    pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, OpenError> {
        Self::open_with(name, &OpenOptions::new().wait_for_name(timeout))
    }

    /// Removes the name `name` (attached processes keep using the pipe).
    ///
    /// # Errors
    ///
    /// As [`shmkit_core::segment::unlink`].
    pub fn unlink(name: &str) -> Result<(), UnlinkError> {
        Handle::<PipeLayout>::unlink(name)
    }

    fn hold(&self) -> Result<(), Fail> {
        self.rx.port.hold()
    }

    recv_api!();

    /// Closes the pipe: the sender's sends fail with [`SendError::Disconnected`].
    pub fn close(&self) {
        self.rx.port.close();
    }

    /// Sets how a receive from an empty pipe waits.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.rx.port.set_wait_strategy(strategy);
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("capacity", &self.tx.port.capacity()).finish_non_exhaustive()
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").field("capacity", &self.rx.port.capacity()).finish_non_exhaustive()
    }
}
