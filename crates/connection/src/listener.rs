//! [`Listener`] and [`Client`]: Python's `multiprocessing.connection.Listener` and
//! `Client` over AF_UNIX (a path, or an abstract name) and TCP sockets.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shmkit_core::Deadline;

use crate::conn::{Connection, Stream};
use crate::error::ConnError;
use crate::shm::{self, ShmListener, DEFAULT_BACKLOG};

/// How long a handshake may take unless told otherwise: a peer that connects and then says
/// nothing never wedges `accept` longer than this.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// How a listener or a client authenticates.
#[derive(Clone, Debug)]
pub struct Options {
    authkey: Option<Vec<u8>>,
    allow_legacy: bool,
    timeout: Duration,
    backlog: u32,
    mode: u32,
    allow_foreign: bool,
    capacity: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            authkey: None,
            allow_legacy: false,
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            backlog: DEFAULT_BACKLOG,
            mode: 0o600,
            allow_foreign: false,
            capacity: shmkit_pipe::DEFAULT_CAPACITY,
        }
    }
}

impl Options {
    /// No authkey, no legacy handshake, a 20 s handshake limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key both sides must hold: each challenges the other (HMAC-SHA256).
    pub fn authkey(mut self, key: &[u8]) -> Self {
        self.authkey = Some(key.to_vec());
        self
    }

    /// Whether a peer speaking the legacy handshake (HMAC-MD5: Python 3.11 and older) is
    /// let in. Off unless asked.
    pub fn allow_legacy(mut self, allow: bool) -> Self {
        self.allow_legacy = allow;
        self
    }

    /// How long a handshake may take in all (a peer that says nothing, or trickles, is cut
    /// off then), and how long a TCP connect may take to each address tried. (An AF_UNIX
    /// connect does not wait: it fails at once if nothing listens, and a full backlog makes
    /// it wait in the kernel.)
    ///
    /// Over shared memory it bounds all of a connect: the wait for room in a full backlog,
    /// for the listener's `accept`, and the handshake.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many clients may wait to be accepted by a shared-memory listener (1 to
    /// [`MAX_BACKLOG`](crate::MAX_BACKLOG); 16 unless told). More clients wait for room, within their timeout.
    /// Sockets use the kernel's backlog (128).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The file mode of what a listener creates: its AF_UNIX socket file, or its
    /// shared-memory objects (`0o600` unless told: the owner only). Clients of another
    /// user also need [`allow_foreign`](Self::allow_foreign).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// How many bytes each direction of a shared-memory connection's pipe holds (rounded
    /// up to a power of two; 256 KiB unless told). Messages of any size stream through;
    /// a larger ring lets a sender run further ahead, a smaller one makes connections
    /// cheaper to create.
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Whether a client connects to a shared-memory listener that another user owns.
    pub fn allow_foreign(mut self, allow: bool) -> Self {
        self.allow_foreign = allow;
        self
    }

    pub(crate) fn get_authkey(&self) -> Option<&[u8]> {
        self.authkey.as_deref()
    }

    pub(crate) fn get_timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn get_backlog(&self) -> u32 {
        self.backlog
    }

    pub(crate) fn get_mode(&self) -> u32 {
        self.mode
    }

    pub(crate) fn get_capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn get_allow_foreign(&self) -> bool {
        self.allow_foreign
    }
}

enum Socket {
    Unix(UnixListener, Option<SocketFile>),
    Tcp(TcpListener),
    Shm(Box<ShmListener>),
}

/// The socket file a listener bound: removed when the listener goes, by the process that
/// bound it, and only while the path still names that file.
struct SocketFile {
    path: PathBuf,
    pid: u32,
    id: (u64, u64),
}

impl SocketFile {
    fn new(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(path)?;
        Ok(Self { path: path.to_owned(), pid: std::process::id(), id: (m.dev(), m.ino()) })
    }
}

/// A server that accepts any number of clients, one after another or several at once:
/// Python's `multiprocessing.connection.Listener`.
///
/// - Bound to a shared-memory name ([`bind`](Self::bind)), it hands each client a pipe of
///   its own; Rust clients only ([`Client::connect`]).
/// - Bound to a socket ([`bind_unix`](Self::bind_unix), [`bind_abstract`](Self::bind_abstract),
///   [`bind_tcp`](Self::bind_tcp)), it speaks Python's wire protocol, so Python clients
///   connect to it and Rust clients to Python listeners.
///
/// ```
/// use shmkit::connection::{Client, Listener, Options};
///
/// let name = format!("doc-listener-{}", std::process::id());
/// let opts = Options::new().authkey(b"secret");
/// let listener = Listener::bind_with(&name, &opts)?;
/// let client = std::thread::spawn(move || -> Result<Vec<u8>, shmkit::connection::ConnError> {
///     let c = Client::connect_with(&name, &opts)?; // any process of this host, by name
///     c.send_bytes(b"hello")?;
///     c.recv_bytes()
/// });
/// let conn = listener.accept()?;
/// let hello = conn.recv_bytes()?;
/// conn.send_bytes(&hello.to_ascii_uppercase())?;
/// assert_eq!(client.join().unwrap()?, b"HELLO");
/// # Ok::<(), shmkit::connection::ConnError>(())
/// ```
///
/// The same over a socket file:
///
/// ```
/// use shmkit::connection::{Client, Listener, Options};
///
/// let path = std::env::temp_dir().join(format!("doc-listener-{}", std::process::id()));
/// let opts = Options::new().authkey(b"secret");
/// let listener = Listener::bind_unix_with(&path, &opts)?;
/// let client = std::thread::spawn(move || -> Result<Vec<u8>, shmkit::connection::ConnError> {
///     let c = Client::connect_unix_with(&path, &opts)?;
///     c.send_bytes(b"hello")?;
///     c.recv_bytes()
/// });
/// let conn = listener.accept()?;
/// let hello = conn.recv_bytes()?;
/// conn.send_bytes(&hello.to_ascii_uppercase())?;
/// assert_eq!(client.join().unwrap()?, b"HELLO");
/// # Ok::<(), shmkit::connection::ConnError>(())
/// ```
pub struct Listener {
    socket: Socket,
    opts: Options,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("address", &self.address()).finish_non_exhaustive()
    }
}

impl Listener {
    /// Listens at the shared-memory name `name`: clients [`Client::connect`] to it from
    /// any process of this host. Each accepted connection is a pipe of its own (two
    /// rings), whose memory goes once both ends are dropped or dead. The name is removed
    /// when the listener is dropped; a name left by a listener that died is taken over.
    ///
    /// # Errors
    ///
    /// [`ConnError::Create`]: `AlreadyExists` while a live process holds the name, an
    /// invalid name, or a backlog out of range (see [`Options::backlog`]).
    pub fn bind(name: &str) -> Result<Self, ConnError> {
        Self::bind_with(name, &Options::new())
    }

    /// [`bind`](Self::bind) with options (authkey, backlog, mode, handshake timeout).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub fn bind_with(name: &str, opts: &Options) -> Result<Self, ConnError> {
        Ok(Self { socket: Socket::Shm(Box::new(ShmListener::bind(name, opts)?)), opts: opts.clone() })
    }

    /// Listens at the AF_UNIX path `path` (removed again when the listener is dropped).
    ///
    /// # Errors
    ///
    /// [`ConnError::Io`] (`AddrInUse` if something is there already).
    pub fn bind_unix(path: impl AsRef<Path>) -> Result<Self, ConnError> {
        Self::bind_unix_with(path, &Options::new())
    }

    /// [`bind_unix`](Self::bind_unix) with options.
    ///
    /// # Errors
    ///
    /// As [`bind_unix`](Self::bind_unix).
    pub fn bind_unix_with(path: impl AsRef<Path>, opts: &Options) -> Result<Self, ConnError> {
        let path = path.as_ref();
        let l = UnixListener::bind(path)?;
        l.set_nonblocking(true)?;
        let file = SocketFile::new(path)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(opts.mode))?;
        }
        Ok(Self { socket: Socket::Unix(l, Some(file)), opts: opts.clone() })
    }

    /// Listens at the abstract AF_UNIX name `name` (Linux; Python's `'\0name'` address).
    ///
    /// # Errors
    ///
    /// As [`bind_unix`](Self::bind_unix).
    pub fn bind_abstract(name: &[u8], opts: &Options) -> Result<Self, ConnError> {
        let addr = SocketAddr::from_abstract_name(name)?;
        let l = UnixListener::bind_addr(&addr)?;
        l.set_nonblocking(true)?;
        Ok(Self { socket: Socket::Unix(l, None), opts: opts.clone() })
    }

    /// Listens at the TCP address `addr` (`"127.0.0.1:0"` picks a free port: see
    /// [`tcp_address`](Self::tcp_address)).
    ///
    /// # Errors
    ///
    /// As [`bind_unix`](Self::bind_unix).
    pub fn bind_tcp(addr: impl ToSocketAddrs, opts: &Options) -> Result<Self, ConnError> {
        let l = TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(Self { socket: Socket::Tcp(l), opts: opts.clone() })
    }

    /// The address, as text (a path, `@name` for an abstract name, or `host:port`).
    pub fn address(&self) -> String {
        match &self.socket {
            Socket::Unix(_, Some(f)) => f.path.display().to_string(),
            Socket::Unix(l, None) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_abstract_name().map(|n| format!("@{}", String::from_utf8_lossy(n))))
                .unwrap_or_default(),
            Socket::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Socket::Shm(l) => l.name().to_owned(),
        }
    }

    /// The TCP address bound, for a listener made with [`bind_tcp`](Self::bind_tcp).
    pub fn tcp_address(&self) -> Option<std::net::SocketAddr> {
        match &self.socket {
            Socket::Tcp(l) => l.local_addr().ok(),
            Socket::Unix(..) | Socket::Shm(_) => None,
        }
    }

    /// The next pending connection, if one is pending (the listening socket does not
    /// block: another thread or process may take the one that woke us).
    fn accept_stream(&self) -> Result<Option<Stream>, ConnError> {
        let got = match &self.socket {
            Socket::Shm(_) => return Ok(None),
            Socket::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Socket::Tcp(l) => l.accept().and_then(|(s, _)| {
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }),
        };
        match got {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn readable(&self, timeout: Option<Duration>) -> Result<bool, ConnError> {
        Ok(match &self.socket {
            Socket::Unix(l, _) => shmkit_core::io::wait_readable(l, timeout)?,
            Socket::Tcp(l) => shmkit_core::io::wait_readable(l, timeout)?,
            Socket::Shm(_) => false,
        })
    }

    /// Accepts the next client, waiting for one, and runs the handshake if there is an
    /// authkey (this side challenges first): Python's `accept`. A client that fails the
    /// handshake, or says nothing for the handshake's timeout, is an error of this call:
    /// call `accept` again for the next.
    ///
    /// # Errors
    ///
    /// [`ConnError::Auth`], [`ConnError::Timeout`], [`ConnError::Eof`], [`ConnError::Io`].
    pub fn accept(&self) -> Result<Connection, ConnError> {
        self.accept_timeout(None)
    }

    /// [`accept`](Self::accept) if a client is waiting now.
    ///
    /// # Errors
    ///
    /// [`ConnError::Timeout`] if none is, and as [`accept`](Self::accept).
    pub fn try_accept(&self) -> Result<Connection, ConnError> {
        self.accept_timeout(Some(Duration::ZERO))
    }

    /// [`accept`](Self::accept), waiting at most `timeout` for a client (`None`: for ever).
    /// A client found in time is then given up to [`Options::timeout`] for the handshake
    /// (over shared memory: for taking its connection and the handshake together), which
    /// may end after `timeout`.
    ///
    /// # Errors
    ///
    /// As [`try_accept`](Self::try_accept).
    pub fn accept_timeout(&self, timeout: Option<Duration>) -> Result<Connection, ConnError> {
        if let Socket::Shm(l) = &self.socket {
            return l.accept(timeout.map_or(Deadline::NEVER, Deadline::after));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let stream = loop {
            if let Some(s) = self.accept_stream()? {
                break s;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) || !self.readable(left)? {
                return Err(ConnError::Timeout);
            }
        };
        // Accepted sockets block (they do not inherit the listener's O_NONBLOCK).
        let mut conn = Connection::new(stream);
        if let Some(key) = &self.opts.authkey {
            let legacy = self.opts.allow_legacy;
            conn.handshake(self.opts.timeout, |c| {
                c.deliver_challenge(key, legacy)?;
                c.answer_challenge(key, legacy)
            })?;
        }
        Ok(conn)
    }

    /// [`accept`](Self::accept), waiting until `deadline` for a client.
    ///
    /// # Errors
    ///
    /// As [`try_accept`](Self::try_accept).
    pub fn accept_deadline(&self, deadline: Deadline) -> Result<Connection, ConnError> {
        self.accept_timeout(deadline.remaining())
    }
}

impl Drop for Listener {
    /// Removes the socket file, in the process that bound it (a forked child dropping its
    /// copy leaves it), if the path still names the file it bound.
    fn drop(&mut self) {
        if let Socket::Unix(_, Some(f)) = &self.socket {
            if f.pid == std::process::id() && SocketFile::new(&f.path).is_ok_and(|now| now.id == f.id) {
                let _ = std::fs::remove_file(&f.path);
            }
        }
    }
}

/// Connects to a [`Listener`] (or a Python `Listener`): Python's
/// `multiprocessing.connection.Client`.
#[derive(Debug)]
pub struct Client;

impl Client {
    /// Connects to the shared-memory listener `name`: waits for room in its backlog and
    /// for its `accept`, then runs the handshake, all within the options' timeout (20 s
    /// unless told).
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with).
    pub fn connect(name: &str) -> Result<Connection, ConnError> {
        Self::connect_with(name, &Options::new())
    }

    /// [`connect`](Self::connect) with options (authkey, timeout).
    ///
    /// # Errors
    ///
    /// [`ConnError::Io`]: `NotFound` if nothing listens at `name`, `ConnectionRefused`
    /// if its listener closed or died (found within milliseconds, waiting or not);
    /// [`ConnError::Timeout`] if the backlog stayed full, or no `accept` came, in time;
    /// [`ConnError::Open`] for an object that is not a listener (or another user's,
    /// without [`Options::allow_foreign`]); [`ConnError::Auth`].
    pub fn connect_with(name: &str, opts: &Options) -> Result<Connection, ConnError> {
        shm::connect(name, opts)
    }

    /// Connects to the AF_UNIX path `path`.
    ///
    /// # Errors
    ///
    /// [`ConnError::Io`] (`NotFound` or `ConnectionRefused` if nothing listens there).
    pub fn connect_unix(path: impl AsRef<Path>) -> Result<Connection, ConnError> {
        Self::connect_unix_with(path, &Options::new())
    }

    /// [`connect_unix`](Self::connect_unix) with options (authkey, timeout).
    ///
    /// # Errors
    ///
    /// As [`connect_unix`](Self::connect_unix), and [`ConnError::Auth`],
    /// [`ConnError::Timeout`].
    pub fn connect_unix_with(path: impl AsRef<Path>, opts: &Options) -> Result<Connection, ConnError> {
        Self::handshake(Connection::new(Stream::Unix(UnixStream::connect(path)?)), opts)
    }

    /// Connects to the abstract AF_UNIX name `name`.
    ///
    /// # Errors
    ///
    /// As [`connect_unix_with`](Self::connect_unix_with).
    pub fn connect_abstract(name: &[u8], opts: &Options) -> Result<Connection, ConnError> {
        let addr = SocketAddr::from_abstract_name(name)?;
        Self::handshake(Connection::new(Stream::Unix(UnixStream::connect_addr(&addr)?)), opts)
    }

    /// Connects to the TCP address `addr`, within the options' timeout.
    ///
    /// # Errors
    ///
    /// As [`connect_unix_with`](Self::connect_unix_with).
    pub fn connect_tcp(addr: impl ToSocketAddrs, opts: &Options) -> Result<Connection, ConnError> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, opts.timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    return Self::handshake(Connection::new(Stream::Tcp(s)), opts);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()).into())
    }

    /// The client's side of the handshake: answer, then challenge.
    fn handshake(mut conn: Connection, opts: &Options) -> Result<Connection, ConnError> {
        if let Some(key) = &opts.authkey {
            let legacy = opts.allow_legacy;
            conn.handshake(opts.timeout, |c| {
                c.answer_challenge(key, legacy)?;
                c.deliver_challenge(key, legacy)
            })?;
        }
        Ok(conn)
    }
}
