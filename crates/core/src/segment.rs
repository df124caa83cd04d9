//! Raw shared-memory segments: a mapped file, named under `/dev/shm` or anonymous (memfd).
//!
//! A [`Segment`] knows nothing of shmkit's header; [`Object`](crate::Object) builds on it.
//! It hands out raw pointers only, never references: another process can write the memory
//! at any time.
//!
//! A segment can also be a *snapshot*: a private, sealed copy of a file read with `pread`,
//! for tools that look at files they do not control. Whoever can write a named file can
//! also truncate it, and touching a mapping past a file's new end is `SIGBUS`; a copy
//! cannot shrink. The snapshot keeps the original file's descriptor, so lock queries
//! (participant liveness) and identity checks still concern the original.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{CreateError, NameError, OpenError, UnlinkError};
use crate::name::Name;
use crate::sys;

/// Options for creating a named segment or object.
///
/// # Examples
///
/// ```
/// use shmkit::CreateOptions;
///
/// let opts = CreateOptions::new().mode(0o600);
/// assert_eq!(opts.get_mode(), 0o600);
/// ```
#[derive(Clone, Debug)]
pub struct CreateOptions {
    mode: u32,
    participants: u32,
    unlink_on_drop: bool,
    replace_abandoned: bool,
}

impl CreateOptions {
    /// Defaults: mode `0600` (owner read/write only), room for
    /// [`DEFAULT_SLOTS`](crate::header::DEFAULT_SLOTS) participants.
    pub fn new() -> Self {
        Self {
            mode: 0o600,
            participants: crate::header::DEFAULT_SLOTS,
            unlink_on_drop: false,
            replace_abandoned: false,
        }
    }

    /// Remove the name when the creator's handle is dropped (in the creating process; a
    /// forked child's copy never removes it), so that an early return or a panic between
    /// `create` and the end of the program leaves nothing in `/dev/shm`. Processes still
    /// attached keep using the object. Only the file this handle created is removed, never
    /// another made under the same name since.
    pub fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }

    /// If the name is taken by an abandoned object — one no live process is attached to,
    /// left by a run that crashed — remove it and create a new one instead of failing
    /// with [`AlreadyExists`](crate::CreateError::AlreadyExists) (or, for `open_or_create`,
    /// instead of reusing it). An object in use, or one a creator may still be setting up
    /// (not yet ready, younger than a second), is never removed.
    pub fn replace_abandoned(mut self, replace: bool) -> Self {
        self.replace_abandoned = replace;
        self
    }

    /// Whether the creator's handle removes the name when dropped.
    pub fn get_unlink_on_drop(&self) -> bool {
        self.unlink_on_drop
    }

    /// Whether an abandoned object under the name is replaced.
    pub fn get_replace_abandoned(&self) -> bool {
        self.replace_abandoned
    }

    /// How many processes (or handles) can be attached at once, from 1 to
    /// [`MAX_SLOTS`](crate::header::MAX_SLOTS); checked when the object is created. Used by
    /// the kinds' constructors ([`Handle`](crate::handle::Handle)); a [`Spec`](crate::Spec)
    /// given to [`Object::create`](crate::Object::create) carries its own count.
    pub fn participants(mut self, slots: u32) -> Self {
        self.participants = slots;
        self
    }

    /// The participant count that will be used.
    pub fn get_participants(&self) -> u32 {
        self.participants
    }

    /// The file mode, set exactly (the umask does not apply). Only permission bits count.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// The file mode that will be used.
    pub fn get_mode(&self) -> u32 {
        self.mode
    }
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Options for opening a named segment or object.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::OpenOptions;
///
/// let opts = OpenOptions::new().ready_timeout(Duration::from_millis(100));
/// assert_eq!(opts.get_ready_timeout(), Duration::from_millis(100));
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    allow_foreign: bool,
    ready_timeout: Duration,
    wait_for_name: Duration,
    snapshot: bool,
}

impl OpenOptions {
    /// Defaults: refuse files owned by another user or writable by others; wait up to two
    /// seconds for a creator to finish.
    pub fn new() -> Self {
        Self {
            allow_foreign: false,
            ready_timeout: Duration::from_secs(2),
            wait_for_name: Duration::ZERO,
            snapshot: false,
        }
    }

    /// Open the file read-only, which makes [`map_fd`] copy it into a private snapshot
    /// instead of mapping it. Only for looking ([`Object::snapshot`](crate::Object::snapshot)),
    /// hence not public: a registered participant must share the file's memory.
    pub(crate) fn snapshot(mut self, snapshot: bool) -> Self {
        self.snapshot = snapshot;
        self
    }

    /// Accept a file owned by another user, or whose mode lets group or others write it.
    /// Only for objects shared on purpose between users who trust each other.
    pub fn allow_foreign(mut self, allow: bool) -> Self {
        self.allow_foreign = allow;
        self
    }

    /// How long [`Object::open`](crate::Object::open) waits for a creator that is still
    /// initialising the object.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// How long [`Object::open`](crate::Object::open) waits for the name to appear, if
    /// nothing has it yet (its creator may start after us): 0, the default, fails at once
    /// with [`NotFound`](crate::OpenError::NotFound). The wait sleeps until the kernel
    /// reports a new file (inotify), not in a polling loop.
    pub fn wait_for_name(mut self, timeout: Duration) -> Self {
        self.wait_for_name = timeout;
        self
    }

    /// How long `open` waits for the name to appear.
    pub fn get_wait_for_name(&self) -> Duration {
        self.wait_for_name
    }

    /// Whether foreign files are accepted.
    pub fn get_allow_foreign(&self) -> bool {
        self.allow_foreign
    }

    /// The ready timeout.
    pub fn get_ready_timeout(&self) -> Duration {
        self.ready_timeout
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// A mapped shared-memory file.
///
/// The mapping is `MAP_SHARED` and inherited by forked children. Dropping a `Segment`
/// unmaps it and closes its descriptor; it never removes the name (see [`unlink`]).
///
/// # Examples
///
/// ```
/// use shmkit::{CreateOptions, OpenOptions, Segment};
/// let name = format!("example-segment-{}", std::process::id());
///
/// // Process 1
/// let a = Segment::create(&name, 4096, &CreateOptions::new())?;
/// // SAFETY: the segment is 4096 bytes long and mapped for as long as `a` lives.
/// unsafe { a.as_ptr().write(42) };
///
/// // Process 2
/// let b = Segment::open(&name, &OpenOptions::new())?;
/// // SAFETY: as above, for `b`.
/// assert_eq!(unsafe { b.as_ptr().read() }, 42);
/// shmkit::segment::unlink(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Segment {
    map: MmapRaw,
    /// The file: the mapped one, or for a snapshot the original that was copied (which
    /// answers the lock queries of liveness and the identity checks of `unlink`).
    fd: OwnedFd,
    name: Option<Name>,
    /// For a snapshot, how many bytes of the file were copied; `None` for a mapping.
    copied: Option<u64>,
}

/// The largest segment shmkit maps.
const MAX_SIZE: u64 = isize::MAX as u64;

fn check_size(size: u64) -> Result<(), CreateError> {
    if size == 0 {
        return Err(CreateError::InvalidSize { size, reason: "a segment needs at least one byte" });
    }
    if size > MAX_SIZE {
        return Err(CreateError::InvalidSize { size, reason: "larger than the address space" });
    }
    Ok(())
}

fn map(fd: &OwnedFd, len: u64) -> io::Result<MmapRaw> {
    let len = usize::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    MmapOptions::new().len(len).map_raw(fd)
}

/// Creates the file for `name` exclusively, sets its mode and reserves `size` bytes.
/// Removes the name again if anything after the creation fails.
pub(crate) fn create_file(name: &Name, size: u64, opts: &CreateOptions) -> Result<OwnedFd, CreateError> {
    let c_name = name.c_os_name();
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = sys::shm_open(&c_name, flags, opts.mode).map_err(|e| match e.raw_os_error() {
        Some(libc::EEXIST) => CreateError::AlreadyExists { name: name.to_string() },
        Some(libc::EACCES | libc::EPERM) => {
            CreateError::PermissionDenied { name: name.to_string(), source: e }
        }
        _ => CreateError::Io { op: "shm_open", source: e },
    })?;
    let finish = || -> Result<(), CreateError> {
        sys::fchmod(fd.as_fd(), opts.mode).map_err(|e| CreateError::Io { op: "fchmod", source: e })?;
        reserve(&fd, size)
    };
    if let Err(e) = finish() {
        let _ = sys::shm_unlink(&c_name);
        return Err(e);
    }
    Ok(fd)
}

/// Reserves every page of the file's `size` bytes, so running out of room is an error now.
fn reserve(fd: &OwnedFd, size: u64) -> Result<(), CreateError> {
    sys::allocate(fd.as_fd(), size).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EFBIG | libc::ENOMEM) => CreateError::NoSpace { size, source: e },
        _ => CreateError::Io { op: "posix_fallocate", source: e },
    })
}

/// Opens the file for `name` and applies the ownership checks. Does not map it.
pub(crate) fn open_file(name: &Name, opts: &OpenOptions) -> Result<(OwnedFd, sys::FileStat), OpenError> {
    let access = if opts.snapshot { libc::O_RDONLY } else { libc::O_RDWR };
    let flags = access | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = sys::shm_open(&name.c_os_name(), flags, 0).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => OpenError::NotFound { name: name.to_string() },
        Some(libc::ELOOP) => OpenError::Symlink { name: name.to_string() },
        Some(libc::EACCES | libc::EPERM) => OpenError::PermissionDenied { name: name.to_string(), source: e },
        _ => OpenError::Io { op: "shm_open", source: e },
    })?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| OpenError::Io { op: "fstat", source: e })?;
    if !st.is_regular {
        return Err(OpenError::NotRegularFile { name: name.to_string() });
    }
    if !opts.allow_foreign {
        let me = sys::geteuid();
        if st.uid != me {
            return Err(OpenError::ForeignOwner { name: name.to_string(), expected: me, found: st.uid });
        }
        if st.mode & 0o022 != 0 {
            return Err(OpenError::ForeignMode { name: name.to_string(), found: st.mode });
        }
    }
    Ok((fd, st))
}

impl Segment {
    /// Creates the named segment `name` of `size` bytes, zero-filled.
    ///
    /// The file is created with `O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC`, given exactly
    /// the mode in `opts` (0600 by default), and every page is reserved with
    /// `posix_fallocate`, so a full `/dev/shm` is an error now rather than a `SIGBUS` later.
    ///
    /// # Errors
    ///
    /// [`CreateError::InvalidName`], [`CreateError::InvalidSize`] for 0 or an impossible
    /// size, [`CreateError::AlreadyExists`], [`CreateError::NoSpace`], and the kernel's
    /// other refusals.
    pub fn create(name: &str, size: u64, opts: &CreateOptions) -> Result<Self, CreateError> {
        let name = Name::new(name)?;
        check_size(size)?;
        let fd = create_file(&name, size, opts)?;
        match map(&fd, size) {
            Ok(map) => Ok(Self { map, fd, name: Some(name), copied: None }),
            Err(e) => {
                let _ = sys::shm_unlink(&name.c_os_name());
                Err(CreateError::Io { op: "mmap", source: e })
            }
        }
    }

    /// Opens the named segment `name` and maps all of it.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotFound`], [`OpenError::Symlink`], [`OpenError::ForeignOwner`] and
    /// [`OpenError::ForeignMode`] (unless `opts` allows foreign files),
    /// [`OpenError::TooSmall`] for an empty file, and the kernel's other refusals.
    pub fn open(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        let name = Name::new(name)?;
        let (fd, mut st) = open_file(&name, opts)?;
        // A creator's file is empty until its posix_fallocate: wait, up to the timeout.
        let deadline = crate::Deadline::after(opts.ready_timeout);
        while st.size == 0 && !deadline.has_passed() {
            std::thread::sleep(Duration::from_millis(1));
            st = sys::fstat(fd.as_fd()).map_err(|e| OpenError::Io { op: "fstat", source: e })?;
        }
        if st.size == 0 {
            return Err(OpenError::TooSmall { expected_at_least: 1, found: 0 });
        }
        let map = map(&fd, st.size).map_err(|e| OpenError::Io { op: "mmap", source: e })?;
        Ok(Self { map, fd, name: Some(name), copied: None })
    }

    /// Opens `name` if it exists, creates it with `size` bytes otherwise. Returns the
    /// segment and whether this call created it.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open); an existing segment of
    /// another size is [`OpenError::SizeMismatch`].
    pub fn open_or_create(
        name: &str,
        size: u64,
        create: &CreateOptions,
        open: &OpenOptions,
    ) -> Result<(Self, bool), OpenOrCreateError> {
        loop {
            match Self::create(name, size, create) {
                Ok(seg) => return Ok((seg, true)),
                Err(CreateError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            match Self::open(name, open) {
                Ok(seg) if seg.len() as u64 == size => return Ok((seg, false)),
                Ok(seg) => {
                    return Err(OpenError::SizeMismatch { expected: size, found: seg.len() as u64 }.into())
                }
                // Removed between our create and our open: try again.
                Err(OpenError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Creates an anonymous segment of `size` bytes (a memfd), zero-filled, with every
    /// page reserved, sealed so that no one can shrink or grow it.
    ///
    /// It is inherited by forked children and can be passed to another process as a file
    /// descriptor ([`as_fd`](AsFd::as_fd), then [`from_fd`](Self::from_fd) there).
    ///
    /// # Errors
    ///
    /// [`CreateError::InvalidSize`], [`CreateError::NoSpace`], and the kernel's other
    /// refusals.
    ///
    /// # Examples
    ///
    /// ```
    /// let seg = shmkit::Segment::anonymous(4096)?;
    /// assert_eq!(seg.len(), 4096);
    /// assert!(seg.name().is_none());
    /// # Ok::<(), shmkit::CreateError>(())
    /// ```
    pub fn anonymous(size: u64) -> Result<Self, CreateError> {
        check_size(size)?;
        let fd = anonymous_file(c"shmkit-anonymous", size)?;
        let map = map(&fd, size).map_err(|e| CreateError::Io { op: "mmap", source: e })?;
        Ok(Self { map, fd, name: None, copied: None })
    }

    /// Maps an anonymous segment received as a file descriptor.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotSealed`] if `fd` is not sealed against shrinking and growing (so a
    /// peer could truncate it under our mapping), [`OpenError::TooSmall`] if it is empty.
    pub fn from_fd(fd: OwnedFd) -> Result<Self, OpenError> {
        let seals = sys::seals(fd.as_fd()).unwrap_or(0);
        if seals & sys::SIZE_SEALS != sys::SIZE_SEALS {
            return Err(OpenError::NotSealed { found: seals });
        }
        let st = sys::fstat(fd.as_fd()).map_err(|e| OpenError::Io { op: "fstat", source: e })?;
        if st.size == 0 {
            return Err(OpenError::TooSmall { expected_at_least: 1, found: 0 });
        }
        let map = map(&fd, st.size).map_err(|e| OpenError::Io { op: "mmap", source: e })?;
        Ok(Self { map, fd, name: None, copied: None })
    }

    /// Wraps a file mapped by [`map_fd`]: a snapshot if `fd` is read-only.
    pub(crate) fn from_parts(map: MmapRaw, fd: OwnedFd, name: Option<Name>) -> Self {
        let copied = sys::is_read_only(fd.as_fd()).then(|| snapshot_copied(map.len() as u64));
        Self { map, fd, name, copied }
    }

    /// The first byte of the mapping. Valid for [`len`](Self::len) bytes while `self`
    /// lives; other processes may write any of it at any time.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always `false`: a segment has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The name, or `None` for an anonymous segment.
    pub fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }

    /// The file's size now, as `fstat` reports it.
    ///
    /// # Errors
    ///
    /// If `fstat` fails.
    pub fn file_size(&self) -> io::Result<u64> {
        sys::fstat(self.fd.as_fd()).map(|st| st.size)
    }

    /// The uid that owns the file now, as `fstat` reports it (for a snapshot, the
    /// original file's owner).
    ///
    /// # Errors
    ///
    /// If `fstat` fails.
    pub fn owner_uid(&self) -> io::Result<u32> {
        sys::fstat(self.fd.as_fd()).map(|st| st.uid)
    }

    /// For a snapshot ([`Object::snapshot`](crate::Object::snapshot)), how many bytes of
    /// the file were copied: all of them, or only the header and participant table of a
    /// file over [`SNAPSHOT_LIMIT`] (the rest reads as zeroes). `None` for a mapping of
    /// the file itself.
    pub fn snapshot_len(&self) -> Option<u64> {
        self.copied
    }
}

impl AsFd for Segment {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Creates a sealed, fully reserved memfd of `size` bytes.
pub(crate) fn anonymous_file(debug_name: &CStr, size: u64) -> Result<OwnedFd, CreateError> {
    let fd = sys::memfd_create(debug_name).map_err(|e| CreateError::Io { op: "memfd_create", source: e })?;
    sys::truncate(fd.as_fd(), size).map_err(|e| CreateError::Io { op: "ftruncate", source: e })?;
    reserve(&fd, size)?;
    sys::add_seals(fd.as_fd(), sys::SIZE_SEALS | libc::F_SEAL_SEAL)
        .map_err(|e| CreateError::Io { op: "F_ADD_SEALS", source: e })?;
    Ok(fd)
}

/// Maps `len` bytes of `fd`; for a read-only `fd` (opened with
/// [`OpenOptions::snapshot`]), maps a private snapshot of them instead.
pub(crate) fn map_fd(fd: &OwnedFd, len: u64) -> io::Result<MmapRaw> {
    if sys::is_read_only(fd.as_fd()) {
        snapshot(fd, len)
    } else {
        map(fd, len)
    }
}

/// The largest file a snapshot copies whole. Of a larger file only the header and the
/// participant table are copied: enough to list it, see who uses it and collect it, not
/// to decode its body.
pub const SNAPSHOT_LIMIT: u64 = 16 << 20;

/// How many bytes of a `len`-byte file a snapshot copies.
fn snapshot_copied(len: u64) -> u64 {
    if len <= SNAPSHOT_LIMIT {
        len
    } else {
        len.min(crate::header::body_offset(crate::header::MAX_SLOTS))
    }
}

/// A private copy of the first `len` bytes of `fd`: read with `pread` (never mapped, so a
/// file that shrinks meanwhile gives a short read, not `SIGBUS`) into a new memfd that is
/// sealed against resizing, then mapped. Bytes past the file's end, or past
/// [`snapshot_copied`], read as zeroes. The memory is ours alone: no peer can change or
/// shrink it, so whatever is read from it once stays read.
fn snapshot(fd: &OwnedFd, len: u64) -> io::Result<MmapRaw> {
    use std::os::unix::fs::FileExt;
    let copy = std::fs::File::from(sys::memfd_create(c"shmkit-snapshot")?);
    sys::truncate(copy.as_fd(), len)?;
    let file = std::fs::File::from(fd.try_clone()?);
    let want = snapshot_copied(len);
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0u64;
    while at < want {
        let chunk = usize::try_from(want - at).map_or(buf.len(), |left| left.min(buf.len()));
        let n = match file.read_at(&mut buf[..chunk], at) {
            Ok(0) => break, // the file shrank: the rest stays zero
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        copy.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    sys::add_seals(copy.as_fd(), sys::SIZE_SEALS | libc::F_SEAL_SEAL)?;
    map(&OwnedFd::from(copy), len)
}

/// Why [`Segment::open_or_create`] (or an object's) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenOrCreateError {
    /// Creating failed for a reason other than the name being taken.
    Create(CreateError),
    /// The name was taken, and opening it failed.
    Open(OpenError),
}

impl std::fmt::Display for OpenOrCreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Create(e) => e.fmt(f),
            Self::Open(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpenOrCreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Create(e) => Some(e),
            Self::Open(e) => Some(e),
        }
    }
}

impl From<CreateError> for OpenOrCreateError {
    fn from(e: CreateError) -> Self {
        Self::Create(e)
    }
}

impl From<OpenError> for OpenOrCreateError {
    fn from(e: OpenError) -> Self {
        Self::Open(e)
    }
}

/// Removes the name `name`. Processes that have the object open keep using it; the
/// memory is freed when the last one lets go.
///
/// # Errors
///
/// [`UnlinkError::NotFound`] if no object has this name.
pub fn unlink(name: &str) -> Result<(), UnlinkError> {
    let name = Name::new(name)?;
    sys::shm_unlink(&name.c_os_name()).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => UnlinkError::NotFound { name: name.to_string() },
        _ => UnlinkError::Io { source: e },
    })
}

/// Removes the name `name` only if it names the file `(dev, ino)`, with no window in which
/// another file put at the name meanwhile could be removed instead: the name is first
/// moved aside, atomically, to a hidden name of this process's own; the file found there
/// is removed if it is the one meant, and put back otherwise. (Meanwhile, an `open` of
/// `name` that is not ours fails for a few microseconds.)
///
/// # Errors
///
/// [`UnlinkError::NotFound`] if nothing is at `name` or another file is;
/// [`UnlinkError::Io`] if a system call fails, or if another file was found, moved aside,
/// and could not be put back because yet another took the name meanwhile (the error
/// names where it is).
pub(crate) fn unlink_if(name: &Name, dev: u64, ino: u64) -> Result<(), UnlinkError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static ASIDE: AtomicU64 = AtomicU64::new(0);
    let c =
        |s: String| std::ffi::CString::new(s).map_err(|e| UnlinkError::Io { source: io::Error::other(e) });
    let path = c(name.path())?;
    let aside = c(format!(
        "{}/.shmkit-unlinking.{}.{}",
        sys::SHM_DIR,
        sys::getpid(),
        ASIDE.fetch_add(1, Ordering::Relaxed)
    ))?;
    let not_found = || UnlinkError::NotFound { name: name.to_string() };
    match sys::rename_noreplace(&path, &aside) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(not_found()),
        Err(e) => return Err(UnlinkError::Io { source: e }),
    }
    if sys::lstat_id(&aside).is_ok_and(|id| id == (dev, ino)) {
        return sys::unlink(&aside).map_err(|e| UnlinkError::Io { source: e });
    }
    match sys::rename_noreplace(&aside, &path) {
        Ok(()) => Err(not_found()),
        Err(e) => Err(UnlinkError::Io {
            source: io::Error::other(format!(
                "{name:?} now names another file; it was moved aside to {} and could not be put back ({e}): move it back by hand",
                aside.to_string_lossy()
            )),
        }),
    }
}

/// Removes a name when dropped: a scope's clean-up for objects made by name, so that an
/// early return or a panic leaves nothing in `/dev/shm`. (To tie the removal to the
/// creator's handle instead, create with
/// [`CreateOptions::unlink_on_drop`](crate::CreateOptions::unlink_on_drop).)
///
/// ```
/// use shmkit::segment::{self, UnlinkGuard};
/// use shmkit::{CreateOptions, Kind, Object, Spec};
///
/// let name = format!("example-guard-{}", std::process::id());
/// {
///     let _guard = UnlinkGuard::new(&name);
///     let _obj = Object::create(&name, &Spec::new(Kind::Bytes, 64), &CreateOptions::new(), |_, _| {})?;
///     assert!(segment::exists(&name)?);
/// } // the name is removed here
/// assert!(!segment::exists(&name)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "the name is removed when the guard is dropped"]
pub struct UnlinkGuard(String);

impl UnlinkGuard {
    /// A guard that removes `name` when dropped (whatever file has it then; nothing if none).
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The name it removes.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl Drop for UnlinkGuard {
    fn drop(&mut self) {
        let _ = unlink(&self.0);
    }
}

/// Whether an object named `name` exists (of any owner, valid or not).
///
/// # Errors
///
/// [`NameError`] if the name is invalid.
pub fn exists(name: &str) -> Result<bool, NameError> {
    let name = Name::new(name)?;
    Ok(std::fs::symlink_metadata(name.path()).is_ok())
}

/// One of shmkit's objects as found in `/dev/shm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The user's name of the object.
    pub name: Name,
    /// The file's size in bytes.
    pub size: u64,
    /// The file owner's uid.
    pub uid: u32,
    /// The file's permission bits.
    pub mode: u32,
}

impl Listing {
    /// Whether the file belongs to this process's effective user. Tools act (remove,
    /// collect) only on such files; another user's are looked at, never touched.
    pub fn is_ours(&self) -> bool {
        self.uid == sys::geteuid()
    }
}

/// Lists shmkit's named objects (files `/dev/shm/shmkit.*`), sorted by name.
///
/// # Errors
///
/// If `/dev/shm` cannot be read.
pub fn list() -> io::Result<Vec<Listing>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(sys::SHM_DIR)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().and_then(Name::from_file_name) else { continue };
        // The file may be removed while we list: skip it.
        let Ok(meta) = entry.metadata() else { continue };
        out.push(Listing { name, size: meta.size(), uid: meta.uid(), mode: meta.mode() & 0o7777 });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
