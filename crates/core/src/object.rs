//! [`Object`]: a segment that starts with shmkit's header, with a participant table whose
//! liveness the kernel keeps.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::error::{CreateError, OpenError, RegisterError, UnlinkError};
use crate::header::{
    self, Expect, Header, HeaderSnapshot, Kind, FORMAT_VERSION, HEADER_SIZE, MAGIC, MAX_SLOTS, STATE_INIT,
    STATE_READY,
};
use crate::name::Name;
use crate::participants::{Membership, ParticipantId, ParticipantInfo, Role, Table};
use crate::process::{current_pid, fork_generation};
use crate::segment::{self, CreateOptions, OpenOptions, OpenOrCreateError, Segment};
use crate::spec::Spec;
use crate::{futex, sys};

/// An attached shmkit object: a [`Segment`] whose header has been validated, plus this
/// process's participant registration.
///
/// Attaching registers the process in the object's participant table and takes an
/// open-file-description lock (`F_OFD_SETLK`) on the byte of the file that matches its
/// slot. The kernel drops that lock when the process dies, however it dies, so
/// [`is_alive`](Self::is_alive) (`F_OFD_GETLK`) never guesses from pids, which the kernel
/// reuses. A forked child registers as a participant of its own, with its own file
/// description, the first time it calls [`participant`](Self::participant).
///
/// # Examples
///
/// ```
/// use shmkit::{CreateOptions, Expect, Kind, Object, OpenOptions, Spec};
/// let name = format!("example-object-{}", std::process::id());
///
/// // Process 1
/// let spec = Spec::new(Kind::Bytes, 64);
/// let created = Object::create(&name, &spec, &CreateOptions::new(), |body, len| {
///     // SAFETY: `body` is valid for `len` bytes and nobody else can see it yet.
///     unsafe { body.write_bytes(7, len) };
/// })?;
///
/// // Process 2
/// let opened = Object::open(&name, &Expect::kind(Kind::Bytes), &OpenOptions::new())?;
/// // SAFETY: the body is 64 bytes long and mapped while `opened` lives.
/// assert_eq!(unsafe { opened.body().read() }, 7);
/// assert_eq!(opened.participants().len(), 2);
/// assert!(opened.is_alive(created.participant()?));
/// created.unlink()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Object {
    segment: Segment,
    info: HeaderSnapshot,
    membership: Membership,
    /// How many handles this process has to each end of the object (see
    /// [`Object::hold_end`]): process memory, copied with the handles by a fork.
    ends_here: [AtomicU32; ENDS],
    /// The process (pid and fork generation) whose drop of this handle removes the name
    /// ([`CreateOptions::unlink_on_drop`]).
    unlink_on_drop: Option<(u32, u32)>,
}

/// How many ends [`Object::hold_end`] counts.
const ENDS: usize = 4;

/// Removes a name it was given unless disarmed: a creator that fails or panics half-way
/// leaves nothing behind.
struct RemoveOnDrop<'a>(Option<&'a Name>);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.0 {
            let _ = sys::shm_unlink(&name.c_os_name());
        }
    }
}

/// Whether the object in `fd` (whose `fstat` is `st`) was abandoned: no process holds a
/// participant lock (nor the overflow byte), and either its creator had written the magic
/// (it registers first, so it died) or the file is older than `grace`.
fn abandoned_file(fd: OwnedFd, st: &sys::FileStat, grace: Duration) -> Result<bool, OpenError> {
    use std::os::unix::fs::FileExt;
    let io = |op| move |source| OpenError::Io { op, source };
    if sys::ofd_is_locked(fd.as_fd(), 0, u64::from(MAX_SLOTS) + 1).map_err(io("fcntl"))? {
        return Ok(false);
    }
    let file = std::fs::File::from(fd);
    let mut magic = [0u8; 8];
    let has_magic = st.size >= HEADER_SIZE
        && file.read_exact_at(&mut magic, 0).is_ok()
        && u64::from_ne_bytes(magic) == MAGIC;
    let age = file.metadata().and_then(|m| m.modified()).map_err(io("fstat"))?.elapsed().unwrap_or_default();
    Ok(has_magic || age >= grace)
}

/// How old a file without a live participant must be before [`CreateOptions::replace_abandoned`]
/// takes it for abandoned even without the magic (its creator may still be setting it up).
const REPLACE_GRACE: Duration = Duration::from_secs(1);

/// Removes the object named `name` if it was abandoned (see [`abandoned_file`]); whether
/// the name is free to create now.
fn remove_if_abandoned(name: &Name) -> Result<bool, CreateError> {
    let (fd, st) = match segment::open_file(name, &OpenOptions::new()) {
        Ok(found) => found,
        Err(OpenError::NotFound { .. }) => return Ok(true),
        // Another user's, or not a regular file: never ours to remove.
        Err(_) => return Ok(false),
    };
    if !abandoned_file(fd, &st, REPLACE_GRACE).unwrap_or(false) {
        return Ok(false);
    }
    match segment::unlink_if(name, st.dev, st.ino) {
        Ok(()) | Err(UnlinkError::NotFound { .. }) => Ok(true),
        Err(UnlinkError::Io { source }) => {
            Err(CreateError::Io { op: "removing an abandoned object", source })
        }
        Err(UnlinkError::InvalidName(e)) => Err(e.into()),
    }
}

/// Waits up to the options' `wait_for_name` for `name` to appear, then opens it.
fn open_waiting(name: &Name, opts: &OpenOptions) -> Result<(OwnedFd, sys::FileStat), OpenError> {
    let wait = opts.get_wait_for_name();
    let first = segment::open_file(name, opts);
    if wait.is_zero() || !matches!(first, Err(OpenError::NotFound { .. })) {
        return first;
    }
    let deadline = Deadline::after(wait);
    let dir = std::ffi::CString::new(sys::SHM_DIR)
        .map_err(|e| OpenError::Io { op: "inotify", source: e.into() })?;
    // Watching first, then looking: a file made in between is seen by the look.
    let watch = sys::watch_creations(&dir).map_err(|e| OpenError::Io { op: "inotify", source: e })?;
    loop {
        match segment::open_file(name, opts) {
            Err(OpenError::NotFound { .. }) if !deadline.has_passed() => {}
            other => return other,
        }
        let _ = sys::poll_readable(watch.as_fd(), deadline.as_monotonic_nanos());
        sys::drain(watch.as_fd());
    }
}

/// Adapts the raw `init(body, len)` of the public constructors.
fn raw_init(init: impl FnOnce(*mut u8, usize)) -> impl FnOnce(&Object) -> Result<(), CreateError> {
    |obj| {
        init(obj.body(), obj.body_len());
        Ok(())
    }
}

fn header_of(segment: &Segment) -> &Header {
    debug_assert!(segment.len() as u64 >= HEADER_SIZE);
    // SAFETY: callers check that the mapping holds at least HEADER_SIZE bytes; it is
    // page-aligned, lives as long as `segment`, and `Header` consists of atomics, valid
    // for any bit pattern and for concurrent writes by other processes.
    unsafe { &*segment.as_ptr().cast::<Header>() }
}

impl Object {
    /// Creates the named object `name`: writes the header, lets `init` build the body
    /// (given its address and length, zero-filled), registers the creator, and only then
    /// marks it ready, so no opener ever sees a half-built object.
    ///
    /// If `init` panics, the name is removed again.
    ///
    /// # Errors
    ///
    /// As [`Segment::create`], plus [`CreateError::InvalidSlots`].
    pub fn create(
        name: &str,
        spec: &Spec,
        opts: &CreateOptions,
        init: impl FnOnce(*mut u8, usize),
    ) -> Result<Self, CreateError> {
        Self::create_then(name, spec, opts, raw_init(init)).map(|(obj, ())| obj)
    }

    /// [`create`](Self::create), with an `init` that sees the object, may refuse it, and
    /// returns what it found: on an error the name is removed and nobody ever sees the
    /// object ready.
    pub(crate) fn create_then<R>(
        name: &str,
        spec: &Spec,
        opts: &CreateOptions,
        init: impl FnOnce(&Object) -> Result<R, CreateError>,
    ) -> Result<(Self, R), CreateError> {
        let name = Name::new(name)?;
        let total = spec.total_size()?;
        let fd = match segment::create_file(&name, total, opts) {
            Err(CreateError::AlreadyExists { .. })
                if opts.get_replace_abandoned() && remove_if_abandoned(&name)? =>
            {
                segment::create_file(&name, total, opts)?
            }
            made => made?,
        };
        let mut guard = RemoveOnDrop(Some(&name));
        let (mut obj, built) = Self::build(fd, Some(name.clone()), spec, total, init)?;
        guard.0 = None;
        if opts.get_unlink_on_drop() {
            obj.unlink_on_drop = Some((current_pid(), fork_generation()));
        }
        Ok((obj, built))
    }

    /// Creates an anonymous object (a sealed memfd): inherited by forked children,
    /// passable as a file descriptor, gone when the last process lets go.
    ///
    /// # Errors
    ///
    /// As [`Segment::anonymous`], plus [`CreateError::InvalidSlots`].
    pub fn anonymous(spec: &Spec, init: impl FnOnce(*mut u8, usize)) -> Result<Self, CreateError> {
        Self::anonymous_then(spec, raw_init(init)).map(|(obj, ())| obj)
    }

    /// [`anonymous`](Self::anonymous), with an `init` that sees the object and may refuse it.
    pub(crate) fn anonymous_then<R>(
        spec: &Spec,
        init: impl FnOnce(&Object) -> Result<R, CreateError>,
    ) -> Result<(Self, R), CreateError> {
        let total = spec.total_size()?;
        let fd = segment::anonymous_file(c"shmkit-object", total)?;
        Self::build(fd, None, spec, total, init)
    }

    fn build<R>(
        fd: OwnedFd,
        name: Option<Name>,
        spec: &Spec,
        total: u64,
        init: impl FnOnce(&Object) -> Result<R, CreateError>,
    ) -> Result<(Self, R), CreateError> {
        let map = segment::map_fd(&fd, total).map_err(|e| CreateError::Io { op: "mmap", source: e })?;
        let segment = Segment::from_parts(map, fd, name);
        let pid = current_pid();
        // The layout this process uses comes from `spec`, never from reading back shared
        // memory that a peer with write access could change meanwhile.
        let info = HeaderSnapshot {
            magic: MAGIC,
            version: FORMAT_VERSION,
            kind: spec.kind.code(),
            state: STATE_READY,
            slots: spec.slots,
            total_size: total,
            body_offset: header::body_offset(spec.slots),
            body_len: spec.body_len,
            elem: spec.elem,
            elem_count: spec.count,
            creator_pid: pid,
            creator_uid: sys::geteuid(),
            creator_start: sys::process_start_time(pid).unwrap_or(0),
            created_ns: sys::realtime_ns(),
            flags: spec.flags,
        };
        let obj = Self::new(segment, info, Role::CREATOR);
        // Registered before the magic is written: an opener that sees the magic and no
        // live participant knows the creator died half-way.
        obj.participant().map_err(|e| match e {
            RegisterError::Io { op, source } => CreateError::Io { op, source },
            RegisterError::Full { slots } => CreateError::ParticipantsFull { slots },
        })?;
        let h = obj.header();
        let r = Ordering::Relaxed;
        h.version.store(info.version, r);
        h.kind.store(info.kind, r);
        h.slots.store(info.slots, r);
        h.total_size.store(info.total_size, r);
        h.body_offset.store(info.body_offset, r);
        h.body_len.store(info.body_len, r);
        h.elem_size.store(info.elem.size, r);
        h.elem_count.store(info.elem_count, r);
        h.elem_align.store(info.elem.align, r);
        h.type_code.store(u32::from(info.elem.code), r);
        h.type_hash.store(info.elem.name_hash, r);
        header::store_type_name(h, info.elem.name);
        h.creator_pid.store(info.creator_pid, r);
        h.creator_uid.store(info.creator_uid, r);
        h.creator_start.store(info.creator_start, r);
        h.created_ns.store(info.created_ns, r);
        h.flags.store(info.flags, r);
        h.magic.store(MAGIC, Ordering::Release);
        let built = init(&obj)?;
        // Publishes everything above to openers that load `state` with Acquire.
        h.state.store(STATE_READY, Ordering::Release);
        futex::wake_all(&h.state);
        Ok((obj, built))
    }

    fn new(segment: Segment, info: HeaderSnapshot, role: Role) -> Self {
        Self {
            segment,
            info,
            membership: Membership::new(role),
            ends_here: Default::default(),
            unlink_on_drop: None,
        }
    }

    /// Opens the named object `name`, waits (up to the options' ready timeout) for its
    /// creator to finish, checks the header against `expect`, and registers this process
    /// as a participant.
    ///
    /// # Errors
    ///
    /// Everything [`Segment::open`] refuses; [`OpenError::NotReady`] when the creator has
    /// not finished by the deadline; [`OpenError::TooSmall`], [`OpenError::SizeMismatch`],
    /// [`OpenError::BadMagic`], [`OpenError::VersionMismatch`], [`OpenError::Corrupt`] for
    /// a damaged or foreign file; [`OpenError::KindMismatch`], [`OpenError::TypeMismatch`],
    /// [`OpenError::CountMismatch`] when it is not what `expect` says;
    /// [`OpenError::ParticipantsFull`].
    pub fn open(name: &str, expect: &Expect, opts: &OpenOptions) -> Result<Self, OpenError> {
        Self::open_inner(name, expect, opts, true)
    }

    /// Opens like [`open`](Self::open) without registering as a participant: for tools
    /// that inspect objects (a registered inspector would keep them "alive").
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn inspect(name: &str, opts: &OpenOptions) -> Result<Self, OpenError> {
        Self::open_inner(name, &Expect::any(), opts, false)
    }

    fn open_inner(
        name: &str,
        expect: &Expect,
        opts: &OpenOptions,
        register: bool,
    ) -> Result<Self, OpenError> {
        let name = Name::new(name)?;
        let started = Instant::now();
        let deadline = Deadline::after(opts.get_ready_timeout());
        let (fd, mut st) = open_waiting(&name, opts)?;
        // Between O_CREAT and posix_fallocate the creator's file is empty.
        while st.size == 0 {
            if deadline.has_passed() {
                return Err(OpenError::NotReady { waited: started.elapsed() });
            }
            std::thread::sleep(Duration::from_millis(1));
            st = sys::fstat(fd.as_fd()).map_err(|e| OpenError::Io { op: "fstat", source: e })?;
        }
        if st.size < HEADER_SIZE {
            return Err(OpenError::TooSmall { expected_at_least: HEADER_SIZE, found: st.size });
        }
        let map = segment::map_fd(&fd, st.size).map_err(|e| OpenError::Io { op: "mmap", source: e })?;
        Self::attach(Segment::from_parts(map, fd, Some(name)), expect, deadline, started, register)
    }

    /// Whether the named object `name`, which never became ready (its `open` fails with
    /// [`OpenError::NotReady`] or [`OpenError::CreatorDied`]), was abandoned by its creator:
    /// no process holds a participant lock on it, and either the creator had written the
    /// magic (it registers first, so it died) or the file is older than `grace` (a creator
    /// that dies before it registers leaves no other trace). For `shmkit gc`.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open) for finding and checking the file.
    pub fn abandoned(name: &str, grace: Duration) -> Result<bool, OpenError> {
        let name = Name::new(name)?;
        let (fd, st) = segment::open_file(&name, &OpenOptions::new())?;
        abandoned_file(fd, &st, grace)
    }

    /// Attaches to an anonymous object received as a file descriptor (made by
    /// [`anonymous`](Self::anonymous) in another process).
    ///
    /// # Errors
    ///
    /// As [`Segment::from_fd`] and [`open`](Self::open).
    pub fn from_fd(fd: OwnedFd, expect: &Expect, opts: &OpenOptions) -> Result<Self, OpenError> {
        let started = Instant::now();
        let deadline = Deadline::after(opts.get_ready_timeout());
        Self::attach(Segment::from_fd(fd)?, expect, deadline, started, true)
    }

    /// A second handle to the same object, registered as a participant of its own (a
    /// handle per thread, say). Works for named and anonymous objects, even after the
    /// name was removed.
    ///
    /// # Errors
    ///
    /// [`OpenError::Io`] if the descriptor cannot be duplicated or mapped, and
    /// registration failures as [`open`](Self::open).
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        let started = Instant::now();
        let fd =
            self.segment.as_fd().try_clone_to_owned().map_err(|e| OpenError::Io { op: "dup", source: e })?;
        let map = segment::map_fd(&fd, self.info.total_size)
            .map_err(|e| OpenError::Io { op: "mmap", source: e })?;
        let segment = Segment::from_parts(map, fd, self.segment.name().cloned());
        let expect =
            Expect { kind: self.info.kind(), elem: Some(self.info.elem), count: Some(self.info.elem_count) };
        Self::attach(segment, &expect, Deadline::never(), started, true)
    }

    /// Opens `name` if it exists (checking it against `spec`), creates it otherwise.
    /// Returns the object and whether this call created it.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(
        name: &str,
        spec: &Spec,
        create: &CreateOptions,
        open: &OpenOptions,
        init: impl FnOnce(*mut u8, usize),
    ) -> Result<(Self, bool), OpenOrCreateError> {
        Self::open_or_create_then(name, spec, create, open, raw_init(init))
            .map(|(obj, built)| (obj, built.is_some()))
    }

    /// [`open_or_create`](Self::open_or_create), with an `init` that sees the object, may
    /// refuse it, and returns what it found: `Some` if this call created the object.
    pub(crate) fn open_or_create_then<R>(
        name: &str,
        spec: &Spec,
        create: &CreateOptions,
        open: &OpenOptions,
        init: impl FnOnce(&Object) -> Result<R, CreateError>,
    ) -> Result<(Self, Option<R>), OpenOrCreateError> {
        let mut init = Some(init);
        loop {
            // `create_then` refuses an existing name before it runs `init`, so `init` is
            // still there for the next round.
            let created = Self::create_then(name, spec, create, |obj| match init.take() {
                Some(f) => f(obj).map(Some),
                None => Ok(None),
            });
            match created {
                Ok((obj, built)) => return Ok((obj, built)),
                // Refused before `init` ran, so it is still there for the next round.
                Err(CreateError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            match Self::open(name, &spec.expect(), open) {
                Ok(obj) => return Ok((obj, None)),
                // Removed between our create and our open: go round again.
                Err(OpenError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn attach(
        segment: Segment,
        expect: &Expect,
        deadline: Deadline,
        started: Instant,
        register: bool,
    ) -> Result<Self, OpenError> {
        let len = segment.len() as u64;
        if len < HEADER_SIZE {
            return Err(OpenError::TooSmall { expected_at_least: HEADER_SIZE, found: len });
        }
        let h = header_of(&segment);
        // Wait while the file looks like ours and still initialising.
        while h.state.load(Ordering::Acquire) == STATE_INIT
            && matches!(h.magic.load(Ordering::Acquire), 0 | MAGIC)
        {
            // The creator registers before it writes the magic: magic and nobody alive
            // means it died half-way.
            if h.magic.load(Ordering::Acquire) == MAGIC {
                let slots = h.slots.load(Ordering::Relaxed).clamp(1, MAX_SLOTS);
                if !sys::ofd_is_locked(segment.as_fd(), 0, u64::from(slots)).unwrap_or(true) {
                    return Err(OpenError::CreatorDied);
                }
            }
            // A creator that failed removed the name: the object will never be ready.
            if let Some(name) = segment.name() {
                if sys::fstat(segment.as_fd()).is_ok_and(|st| st.nlink == 0) {
                    return Err(OpenError::NotFound { name: name.to_string() });
                }
            }
            if deadline.has_passed() {
                return Err(OpenError::NotReady { waited: started.elapsed() });
            }
            // The creator wakes us when it publishes; the slice bounds the wait should a
            // peer store the state without waking.
            futex::wait(&h.state, STATE_INIT, deadline.min(Deadline::after(Duration::from_millis(10))));
        }
        let info = HeaderSnapshot::read(h);
        info.validate(len, expect)?;
        let obj = Self::new(segment, info, Role::USER);
        if register {
            obj.participant()?;
        }
        Ok(obj)
    }

    /// The header, as it is in shared memory now (peers may change it).
    pub fn header(&self) -> &Header {
        header_of(&self.segment)
    }

    /// The header as validated when attaching. Its layout fields are what this process
    /// uses, whatever a peer writes later.
    pub fn info(&self) -> &HeaderSnapshot {
        &self.info
    }

    /// The object's kind.
    pub fn kind(&self) -> Option<Kind> {
        self.info.kind()
    }

    /// The name, or `None` for an anonymous object.
    pub fn name(&self) -> Option<&Name> {
        self.segment.name()
    }

    /// The underlying segment.
    pub fn segment(&self) -> &Segment {
        &self.segment
    }

    /// The first byte of the body: valid for [`body_len`](Self::body_len) bytes while
    /// `self` lives, aligned to [`CACHE_LINE`](header::CACHE_LINE). Other processes may
    /// write it at any time.
    #[inline]
    pub fn body(&self) -> *mut u8 {
        // SAFETY: validation (or our own layout, for a creator) put body_offset +
        // body_len = total_size = the mapping's length, so the offset is in bounds.
        unsafe { self.segment.as_ptr().add(self.info.body_offset as usize) }
    }

    /// The body's length in bytes.
    pub fn body_len(&self) -> usize {
        self.info.body_len as usize
    }

    /// Removes the object's name, if this handle's file is still the one behind it; never
    /// another file put at the name meanwhile (see the race-free check in
    /// `segment::unlink_if`).
    ///
    /// # Errors
    ///
    /// [`UnlinkError::NotFound`] if the object is anonymous, or its name is gone or now
    /// names another file.
    pub fn unlink(&self) -> Result<(), UnlinkError> {
        let Some(name) = self.segment.name() else {
            return Err(UnlinkError::NotFound { name: "(anonymous)".into() });
        };
        let ours = sys::fstat(self.segment.as_fd()).map_err(|e| UnlinkError::Io { source: e })?;
        segment::unlink_if(name, ours.dev, ours.ino)
    }

    fn table(&self) -> Table<'_> {
        Table { segment: &self.segment, slots: self.info.slots }
    }

    /// This process's participant id, registering first if it has none yet (in a forked
    /// child, the first call registers the child in a slot of its own).
    ///
    /// # Errors
    ///
    /// [`RegisterError::Full`] if every slot is held by a live process.
    #[inline]
    pub fn participant(&self) -> Result<ParticipantId, RegisterError> {
        self.membership.participant(self.table())
    }

    /// The role this process registers with.
    pub fn role(&self) -> Role {
        self.membership.role()
    }

    /// Sets the role shown for this process (and used by later registrations).
    pub fn set_role(&self, role: Role) {
        self.membership.set_role(self.table(), role);
    }

    /// Whether participant `id` is alive: it still holds its slot's lock (which the kernel
    /// drops when a process dies) and nobody has taken the slot since. Never trusts a pid.
    ///
    /// An id with a slot out of range is not alive.
    pub fn is_alive(&self, id: ParticipantId) -> bool {
        self.table().is_alive(id)
    }

    /// Whether a live process holds participant slot `slot` (one system call). A slot out
    /// of range is not held.
    pub fn is_slot_alive(&self, slot: u32) -> bool {
        self.table().is_slot_alive(slot)
    }

    /// Whether a live process other than participant `me` holds a participant slot (at
    /// most two system calls).
    pub fn has_other_live_participants(&self, me: ParticipantId) -> bool {
        self.table().has_other_live_participants(me.slot)
    }

    /// Whether a child that inherited this object at a fork (see
    /// [`watch_children`](Self::watch_children)) died, or ended without leaving it,
    /// before it ever used it. Such a death is not counted by [`reap_dead`](Self::reap_dead):
    /// the child may never have been meant to use the object.
    pub fn has_dead_heirs(&self) -> bool {
        self.table().has_dead_heirs()
    }

    /// How many participant slots live processes hold now (one system call per slot).
    pub fn live_participants(&self) -> u32 {
        self.table().live_count()
    }

    /// Makes every child this process forks from now on (with `fork()`, while this handle
    /// lives) a participant of this anonymous object from the fork itself, so that a child
    /// that dies before it ever uses the object is seen dead, like any participant. For
    /// kinds that treat a dead participant as a gone peer or a broken promise (the ends of
    /// a pipe or SPSC queue, a barrier's parties).
    ///
    /// Each fork then costs a few system calls per watched object, and the child a
    /// descriptor. A child that never uses the object leaves it cleanly when it drops it,
    /// returns from [`child::fork`](crate::child::fork)'s closure, calls `exit`, or execs
    /// through [`child::spawn`](crate::child::spawn); one that dies (or `_exit`s) holding
    /// it unused is a *dead heir* ([`has_dead_heirs`](Self::has_dead_heirs)). A child
    /// forked when no slot is free still counts as a live participant; one that could not
    /// be registered at all (no descriptor left) is reported by
    /// [`children_watched`](Self::children_watched).
    pub fn watch_children(&self) {
        self.membership.watch_children(self.table());
    }

    /// Whether every child forked since [`watch_children`](Self::watch_children) (by this
    /// process, or by its ancestors before they forked it) was registered at its fork.
    pub fn children_watched(&self) -> bool {
        self.membership.children_watched()
    }

    /// Counts a handle this process has to end `end` (0 to 3) of the object, for kinds
    /// whose ends are held by one process at a time (a pipe's, an SPSC queue's). Pair it
    /// with [`release_end`](Self::release_end). Larger `end`s are not counted.
    pub fn hold_end(&self, end: usize) {
        if let Some(n) = self.ends_here.get(end) {
            n.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Undoes one [`hold_end`](Self::hold_end).
    pub fn release_end(&self, end: usize) {
        if let Some(n) = self.ends_here.get(end) {
            let _ = n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(1));
        }
    }

    /// Whether this process has a handle to end `end` ([`hold_end`](Self::hold_end) not
    /// yet released). An end that is not counted is always "maybe here": `true`.
    pub fn end_held_here(&self, end: usize) -> bool {
        self.ends_here.get(end).is_none_or(|n| n.load(Ordering::Acquire) > 0)
    }

    /// Whether any process holds a participant slot (one system call).
    pub fn has_live_participants(&self) -> bool {
        self.table().has_live_participants()
    }

    /// Clears the table entries of participants that died attached (in use, but nobody
    /// holds the slot's lock) and returns how many there were. Each death is counted by
    /// exactly one caller: a barrier uses this to break once per dead party.
    pub fn reap_dead(&self) -> usize {
        self.table().reap_dead()
    }

    /// The participant table: every slot in use or held, with its liveness.
    pub fn participants(&self) -> Vec<ParticipantInfo> {
        self.table().list()
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        let table = Table { segment: &self.segment, slots: self.info.slots };
        self.membership.leave(table);
        if self.unlink_on_drop == Some((current_pid(), fork_generation())) {
            // Gone already, or another file by now: nothing of ours to remove.
            let _ = self.unlink();
        }
    }
}
