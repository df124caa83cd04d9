//! [`Connection`]: one end of a socket connection speaking `multiprocessing.connection`'s
//! framing, with Python's methods.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use shmkit_core::{Deadline, WaitStrategy};
use shmkit_pipe::{RecvError, SendError};

use crate::auth::{self, AuthError};
use crate::error::ConnError;
use crate::frame::{self, Header};

/// The largest message a connection receives unless told otherwise: 1 GiB.
pub const DEFAULT_MAX_MESSAGE: u64 = 1 << 30;

/// Messages up to this size are sent as one write with their (4-byte) header, copied on
/// the stack.
const COALESCE: usize = 4 << 10;

/// A received message's buffer grows by at most this much before the bytes arrive, so a
/// forged length never allocates more than was sent.
const GROW_STEP: usize = 1 << 20;

/// The socket under a connection.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Unix(s) => (&*s).read(buf),
            Self::Tcp(s) => (&*s).read(buf),
        }
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Unix(s) => (&*s).write_all(buf),
            Self::Tcp(s) => (&*s).write_all(buf),
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Unix(s) => s.set_read_timeout(t),
            Self::Tcp(s) => s.set_read_timeout(t),
        }
    }

    fn readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        match self {
            Self::Unix(s) => shmkit_core::io::wait_readable(s, timeout),
            Self::Tcp(s) => shmkit_core::io::wait_readable(s, timeout),
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Self::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Self::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

/// What a connection runs over: a socket, or a shared-memory pipe.
// One per connection, never in a collection: the pipe's size costs nothing, and a box
// would add a pointer chase to every shared-memory send and receive.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Link {
    Socket(Stream),
    Shm(shmkit_pipe::Connection),
}

/// One end of a connection made by a [`Listener`](crate::Listener) or a
/// [`Client`](crate::Client): Python's `multiprocessing.connection.Connection`.
///
/// Over an AF_UNIX or TCP socket it speaks Python's framing exactly, so a Rust program
/// and a Python program talk; over shared memory it is a pipe of two rings, with the
/// same methods.
///
/// **Passing one to a forked worker.** A shared-memory connection belongs to the process
/// that accepted (or connected) it until a forked child makes a call on it (any call;
/// `poll(Some(Duration::ZERO))` will do), which takes it over. Until then, that process
/// dropping its copy, or dying, ends the connection for the peer. So a pre-forking server
/// lets the worker make its first call before it drops its own copy. (A socket's copy
/// in a child keeps the connection open by itself.)
#[derive(Debug)]
pub struct Connection {
    link: Link,
    max_message: u64,
    /// The end of a handshake in progress: every read is bounded by the time left.
    deadline: std::cell::Cell<Option<std::time::Instant>>,
}

/// The largest message a pipe carries (4 GiB - 1).
const PIPE_MAX: usize = shmkit_pipe::frame::MAX_LEN;

fn from_send(e: SendError) -> ConnError {
    match e {
        SendError::Disconnected => ConnError::Io(io::ErrorKind::BrokenPipe.into()),
        SendError::TooLarge { len, max } => ConnError::TooLong { len: len as u64, max: max as u64 },
        SendError::Timeout => ConnError::Timeout,
        e => ConnError::Io(io::Error::other(e.to_string())),
    }
}

fn from_recv(e: RecvError) -> ConnError {
    match e {
        RecvError::Disconnected => ConnError::Eof,
        RecvError::TooLarge { len, max } => ConnError::TooLong { len: len as u64, max: max as u64 },
        RecvError::Timeout => ConnError::Timeout,
        RecvError::Corrupt { reason } => ConnError::Io(io::Error::new(io::ErrorKind::InvalidData, reason)),
        e => ConnError::Io(io::Error::other(e.to_string())),
    }
}

impl Connection {
    pub(crate) fn new(stream: Stream) -> Self {
        Self {
            link: Link::Socket(stream),
            max_message: DEFAULT_MAX_MESSAGE,
            deadline: std::cell::Cell::new(None),
        }
    }

    pub(crate) fn shm(mut pipe: shmkit_pipe::Connection) -> Self {
        pipe.set_max_send(PIPE_MAX);
        pipe.set_max_recv(usize::try_from(DEFAULT_MAX_MESSAGE).unwrap_or(PIPE_MAX));
        Self { link: Link::Shm(pipe), max_message: DEFAULT_MAX_MESSAGE, deadline: std::cell::Cell::new(None) }
    }

    /// The handshake's deadline, if one runs.
    fn limit(&self) -> Deadline {
        self.deadline.get().map_or(Deadline::NEVER, Deadline::at)
    }

    /// Sets the largest message this end accepts (a longer one is
    /// [`ConnError::TooLong`]).
    pub fn set_max_message(&mut self, bytes: u64) {
        self.max_message = bytes;
        if let Link::Shm(p) = &mut self.link {
            p.set_max_recv(usize::try_from(bytes).unwrap_or(PIPE_MAX));
        }
    }

    /// Sets how a shared-memory connection's blocked calls wait: spinning answers
    /// fastest and burns a core (sockets always sleep in the kernel).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        if let Link::Shm(p) = &mut self.link {
            p.set_wait_strategy(strategy);
        }
    }

    fn stream(&self) -> Result<&Stream, ConnError> {
        match &self.link {
            Link::Socket(s) => Ok(s),
            Link::Shm(_) => Err(ConnError::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "a shared-memory connection has no socket",
            ))),
        }
    }

    /// Sends `buf` as one message: Python's `send_bytes`.
    ///
    /// # Errors
    ///
    /// [`ConnError::Io`] (the peer is gone: `BrokenPipe`).
    pub fn send_bytes(&self, buf: &[u8]) -> Result<(), ConnError> {
        let stream = match &self.link {
            Link::Socket(s) => s,
            Link::Shm(p) => return p.send_bytes_deadline(buf, self.limit()).map_err(from_send),
        };
        let (h, n) = frame::encode(buf.len() as u64);
        if buf.len() <= COALESCE {
            // One write, from the stack: no allocation per message.
            let mut one = [0u8; 4 + COALESCE];
            one[..n].copy_from_slice(&h[..n]);
            one[n..n + buf.len()].copy_from_slice(buf);
            stream.write_all(&one[..n + buf.len()])?;
        } else {
            stream.write_all(&h[..n])?;
            stream.write_all(buf)?;
        }
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes; `Eof` if the peer closed first.
    fn read_exact(&self, buf: &mut [u8]) -> Result<(), ConnError> {
        let stream = self.stream()?;
        let mut at = 0;
        while at < buf.len() {
            if let Some(d) = self.deadline.get() {
                // A handshake's limit is for all of it, not for each read: a peer
                // trickling bytes does not hold it longer.
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(ConnError::Timeout);
                }
                stream.set_read_timeout(Some(left))?;
            }
            match stream.read(&mut buf[at..]) {
                Ok(0) => return Err(ConnError::Eof),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(ConnError::Timeout)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The next message's length, checked against `max`.
    fn recv_len(&self, max: u64) -> Result<u64, ConnError> {
        let mut short = [0u8; 4];
        self.read_exact(&mut short)?;
        let len = match frame::parse_short(short)? {
            Header::Len(n) => n,
            Header::Long => {
                let mut long = [0u8; 8];
                self.read_exact(&mut long)?;
                frame::parse_long(long)
            }
        };
        Ok(frame::check(len, max)?)
    }

    /// Receives one message of at most `max` bytes, growing the buffer only as bytes come.
    ///
    /// A shared-memory connection's limit is its pipe's (set by `set_max_message`, and
    /// by `handshake` while one runs).
    fn recv_max(&self, max: u64) -> Result<Vec<u8>, ConnError> {
        if let Link::Shm(p) = &self.link {
            return p.recv_bytes_deadline(self.limit()).map_err(from_recv);
        }
        let len = usize::try_from(self.recv_len(max)?)
            .map_err(|_| ConnError::Io(io::ErrorKind::OutOfMemory.into()))?;
        let mut out = Vec::new();
        while out.len() < len {
            let at = out.len();
            out.resize(at + (len - at).min(GROW_STEP), 0);
            self.read_exact(&mut out[at..])?;
        }
        Ok(out)
    }

    /// Receives one message: Python's `recv_bytes`.
    ///
    /// # Errors
    ///
    /// [`ConnError::Eof`] once the peer closed; [`ConnError::BadLength`] or
    /// [`ConnError::TooLong`] for a header no correct peer sends (the connection is then
    /// out of step: close it); [`ConnError::Io`].
    pub fn recv_bytes(&self) -> Result<Vec<u8>, ConnError> {
        self.recv_max(self.max_message)
    }

    /// Receives one message into `buf`; its length: Python's `recv_bytes_into`.
    ///
    /// # Errors
    ///
    /// [`ConnError::BufferTooShort`] (the message is taken all the same, and is in the
    /// error, as Python's), and as [`recv_bytes`](Self::recv_bytes).
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize, ConnError> {
        if let Link::Shm(p) = &self.link {
            return match p.recv_bytes_into(buf) {
                // The pipe keeps a message too long for `buf`; Python takes it.
                Err(RecvError::BufferTooShort { .. }) => {
                    Err(ConnError::BufferTooShort { message: p.recv_bytes().map_err(from_recv)? })
                }
                r => r.map_err(from_recv),
            };
        }
        let len = self.recv_len(self.max_message)? as usize;
        if len > buf.len() {
            let mut message = Vec::new();
            while message.len() < len {
                let at = message.len();
                message.resize(at + (len - at).min(GROW_STEP), 0);
                self.read_exact(&mut message[at..])?;
            }
            return Err(ConnError::BufferTooShort { message });
        }
        self.read_exact(&mut buf[..len])?;
        Ok(len)
    }

    /// Whether a message (or the peer's close) is there to read, waiting at most `timeout`
    /// (`None`: for ever): Python's `poll`.
    ///
    /// # Errors
    ///
    /// [`ConnError::Io`].
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool, ConnError> {
        match &self.link {
            Link::Socket(s) => Ok(s.readable(timeout)?),
            Link::Shm(p) => {
                p.poll_deadline(timeout.map_or(Deadline::NEVER, Deadline::after)).map_err(from_recv)
            }
        }
    }

    /// Closes this process's descriptor of the connection, as Python's `close`: the
    /// peer's next receive gets EOF once no process holds the connection any more (a
    /// forked worker's copy keeps it open).
    pub fn close(self) {
        drop(self);
    }

    /// Shuts the connection down for every process that holds it: the peer's next receive
    /// gets EOF at once.
    pub fn shutdown(&self) {
        match &self.link {
            Link::Socket(s) => s.shutdown(),
            Link::Shm(p) => p.close(),
        }
    }

    /// Sends the serde value `value`, tagged with its type (for a Rust peer's
    /// [`recv`](Self::recv)).
    ///
    /// # Errors
    ///
    /// [`ConnError::Encode`], and as [`send_bytes`](Self::send_bytes).
    #[cfg(feature = "serde")]
    pub fn send<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), ConnError> {
        self.send_bytes(&shmkit_core::typed::encode(value).map_err(ConnError::Encode)?)
    }

    /// Receives a value sent by a Rust peer's [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// [`ConnError::Typed`] (another type, or bytes that do not decode), and as
    /// [`recv_bytes`](Self::recv_bytes).
    #[cfg(feature = "serde")]
    pub fn recv<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConnError> {
        shmkit_core::typed::decode(&self.recv_bytes()?).map_err(ConnError::Typed)
    }

    /// Python's `deliver_challenge`: sends a challenge, checks the answer, sends the verdict.
    pub(crate) fn deliver_challenge(&self, key: &[u8], allow_legacy: bool) -> Result<(), ConnError> {
        let message = auth::new_challenge()?;
        self.send_bytes(&[auth::CHALLENGE, &message].concat())?;
        let response = self.recv_max(auth::MAX_FRAME)?;
        match auth::verify(key, &message, &response, allow_legacy) {
            Ok(()) => Ok(self.send_bytes(auth::WELCOME)?),
            Err(e) => {
                let _ = self.send_bytes(auth::FAILURE);
                Err(e.into())
            }
        }
    }

    /// Python's `answer_challenge`: answers the peer's challenge, reads its verdict.
    pub(crate) fn answer_challenge(&self, key: &[u8], allow_legacy: bool) -> Result<(), ConnError> {
        let frame = self.recv_max(auth::MAX_FRAME)?;
        self.send_bytes(&auth::respond(key, &frame, allow_legacy)?)?;
        if self.recv_max(auth::MAX_FRAME)? != auth::WELCOME {
            return Err(AuthError::Rejected.into());
        }
        Ok(())
    }

    /// Runs a handshake with all its reads (and a pipe's writes) bounded by `timeout`
    /// from now, and frames capped at [`auth::MAX_FRAME`].
    pub(crate) fn handshake<R>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&Self) -> Result<R, ConnError>,
    ) -> Result<R, ConnError> {
        let now = std::time::Instant::now();
        self.deadline.set(now.checked_add(timeout.max(Duration::from_millis(1))));
        if let Link::Shm(p) = &mut self.link {
            p.set_max_recv(auth::MAX_FRAME as usize);
            p.set_wait_strategy(crate::shm::HANDING);
        }
        let r = f(self);
        self.deadline.set(None);
        // The handshake's own error, if any, is the one to report.
        let reset = match &mut self.link {
            Link::Socket(s) => s.set_read_timeout(None),
            Link::Shm(p) => {
                p.set_max_recv(usize::try_from(self.max_message).unwrap_or(PIPE_MAX));
                p.set_wait_strategy(WaitStrategy::default());
                Ok(())
            }
        };
        let r = r?;
        reset?;
        Ok(r)
    }
}
