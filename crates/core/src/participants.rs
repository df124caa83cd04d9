//! The participant table: who is attached to an object, and whether they are alive.
//!
//! Each attached process holds an open-file-description lock (`F_OFD_SETLK`) on the byte
//! of the object's file that matches its slot; the kernel drops it when the process dies,
//! however it dies. [`Table`] answers liveness questions for one mapping; [`Membership`]
//! is one handle's own registration, made again in a forked child.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::RegisterError;
use crate::header::{ParticipantEntry, HEADER_SIZE};
use crate::heirs;
use crate::process::{current_pid, fork_generation, fork_generation_installed, without_forks, LockFd};
use crate::segment::Segment;
use crate::slots::{claim, entry_at, INHERITED, OVERFLOW_BYTE};
pub use crate::slots::{ParticipantId, Role};
use crate::sys;

/// One row of [`Object::participants`](crate::Object::participants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// The participant's id.
    pub id: ParticipantId,
    /// What it does.
    pub role: Role,
    /// The pid it recorded (for display: liveness never trusts it).
    pub pid: u32,
    /// Whether it holds its liveness lock now.
    pub alive: bool,
}

/// The participant table of one mapping, `slots` entries long (from the validated header).
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    pub segment: &'a Segment,
    pub slots: u32,
}

impl<'a> Table<'a> {
    pub fn entry(&self, slot: u32) -> Option<&'a ParticipantEntry> {
        // SAFETY: validation put the table (HEADER_SIZE + slots * 16 bytes) before
        // body_offset, inside the mapping, which lives as long as `self.segment`.
        unsafe { entry_at(self.base(), self.slots, slot) }
    }

    /// The table's first entry.
    pub fn base(&self) -> *const u8 {
        // SAFETY: the header is HEADER_SIZE bytes, inside the mapping.
        unsafe { self.segment.as_ptr().add(HEADER_SIZE as usize) }
    }

    fn slot_locked(&self, slot: u32, len: u32) -> bool {
        // Asked through the segment's descriptor, which never holds a lock, so every
        // holder counts. Should the kernel refuse the query, say "alive": a false "dead"
        // could let a peer steal a live process's work.
        sys::ofd_is_locked(self.segment.as_fd(), u64::from(slot), u64::from(len)).unwrap_or(true)
    }

    pub fn is_alive(&self, id: ParticipantId) -> bool {
        let Some(e) = self.entry(id.slot) else { return false };
        e.generation.load(Ordering::Acquire) == id.generation && self.slot_locked(id.slot, 1)
    }

    pub fn is_slot_alive(&self, slot: u32) -> bool {
        slot < self.slots && self.slot_locked(slot, 1)
    }

    pub fn has_live_participants(&self) -> bool {
        self.slot_locked(0, self.slots)
    }

    pub fn reap_dead(&self) -> usize {
        (0..self.slots)
            .filter(|&slot| {
                let Some(e) = self.entry(slot) else { return false };
                e.state.load(Ordering::Acquire) == 1
                    && !self.slot_locked(slot, 1)
                    && e.state.compare_exchange(1, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            })
            .count()
    }

    pub fn list(&self) -> Vec<ParticipantInfo> {
        (0..self.slots)
            .filter_map(|slot| {
                let e = self.entry(slot)?;
                let alive = self.slot_locked(slot, 1);
                if e.state.load(Ordering::Acquire) == 0 && !alive {
                    return None;
                }
                Some(ParticipantInfo {
                    id: ParticipantId { slot, generation: e.generation.load(Ordering::Relaxed) },
                    role: Role(e.role.load(Ordering::Relaxed)),
                    pid: e.pid.load(Ordering::Relaxed),
                    alive,
                })
            })
            .collect()
    }

    fn register(&self, role: Role) -> Result<Registration, RegisterError> {
        let io = |op| move |source| RegisterError::Io { op, source };
        if self.segment.snapshot_len().is_some() {
            // A snapshot's memory is a private copy: taking part through it would register
            // in the real file while writing to the copy.
            return Err(RegisterError::Io {
                op: "registering",
                source: std::io::Error::other(
                    "a snapshot is for looking: open the object to take part in it",
                ),
            });
        }
        // Made and entered in the table with no fork in between (see `process`).
        let lock = without_forks(|| {
            let fd = sys::reopen(self.segment.as_fd()).map_err(io("reopening the object"))?;
            LockFd::new(fd).map_err(|_| RegisterError::Io {
                op: "registering",
                source: std::io::Error::other("this process has too many objects attached"),
            })
        })?;
        let pid = current_pid();
        // SAFETY: `base` is this mapping's validated table of `slots` entries.
        match unsafe { claim(self.base(), self.slots, lock.as_fd(), pid, pid, role, 1) } {
            Ok(Some(id)) => Ok(Registration { lock, id }),
            Ok(None) => Err(RegisterError::Full { slots: self.slots }),
            Err(e) => Err(RegisterError::Io { op: "F_OFD_SETLK", source: e }),
        }
    }

    /// Whether a process other than the one in slot `me` holds a slot, or the overflow
    /// byte (a child forked when no slot was free).
    pub fn has_other_live_participants(&self, me: u32) -> bool {
        let me = me.min(self.slots);
        // A length of 0 would mean "to the end of the file", our own slot included.
        (me > 0 && self.slot_locked(0, me))
            || (me + 1 < self.slots && self.slot_locked(me + 1, self.slots - me - 1))
            || sys::ofd_is_locked(self.segment.as_fd(), OVERFLOW_BYTE, 1).unwrap_or(true)
    }

    /// Whether a child that inherited the object at a fork died (or ended without leaving
    /// it) before it ever used it.
    pub fn has_dead_heirs(&self) -> bool {
        (0..self.slots).any(|slot| {
            self.entry(slot).is_some_and(|e| e.state.load(Ordering::Acquire) == INHERITED)
                && !self.slot_locked(slot, 1)
        })
    }

    /// How many slots live processes hold (one system call per slot).
    pub fn live_count(&self) -> u32 {
        (0..self.slots).filter(|&slot| self.slot_locked(slot, 1)).count() as u32
    }
}

#[derive(Debug)]
struct Registration {
    lock: LockFd,
    id: ParticipantId,
}

/// One handle's registration in its object's table: made on first use, and again in a
/// forked child (whose inherited registration is the parent's).
#[derive(Debug)]
pub(crate) struct Membership {
    role: AtomicU32,
    registration: Mutex<Option<Registration>>,
    /// The fork generation in which `cached_id` was registered (0: none).
    cached_generation: AtomicU32,
    cached_id: AtomicU64,
    /// The object's entry in the table of watched objects (see `heirs`): `NOT_WATCHED`,
    /// `WATCH_FULL` (asked, but the table was full), or the entry.
    watch: AtomicUsize,
}

const NOT_WATCHED: usize = usize::MAX;
const WATCH_FULL: usize = usize::MAX - 1;

impl Membership {
    pub fn new(role: Role) -> Self {
        Self {
            role: AtomicU32::new(role.0),
            registration: Mutex::new(None),
            cached_generation: AtomicU32::new(0),
            cached_id: AtomicU64::new(0),
            watch: AtomicUsize::new(NOT_WATCHED),
        }
    }

    /// Makes every child forked from now on a participant from the fork (see `heirs`).
    pub fn watch_children(&self, table: Table<'_>) {
        if table.segment.snapshot_len().is_some() {
            return;
        }
        // Checked and set behind the gate: two threads asking at once make one entry.
        without_forks(|| {
            if self.watch.load(Ordering::Acquire) == NOT_WATCHED {
                let entry = heirs::watch(table.segment.as_fd(), table.base(), table.slots);
                self.watch.store(entry.unwrap_or(WATCH_FULL), Ordering::Release);
            }
        });
    }

    /// Whether every child forked since [`watch_children`](Self::watch_children) was
    /// registered at its fork.
    pub fn children_watched(&self) -> bool {
        let w = self.watch.load(Ordering::Acquire);
        w < WATCH_FULL && !heirs::missed(w)
    }

    #[inline]
    pub fn participant(&self, table: Table<'_>) -> Result<ParticipantId, RegisterError> {
        // Every registration installed the fork handler first, so the cheap read is exact.
        let generation = fork_generation_installed();
        if self.cached_generation.load(Ordering::Acquire) == generation {
            return Ok(ParticipantId::from_u64(self.cached_id.load(Ordering::Relaxed)));
        }
        self.register_here(table)
    }

    /// The slow path of [`participant`](Self::participant): the first call, or the first
    /// in a forked child.
    #[cold]
    fn register_here(&self, table: Table<'_>) -> Result<ParticipantId, RegisterError> {
        let generation = fork_generation();
        let mut reg = self.registration.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = reg.as_ref().filter(|r| r.lock.is_ours()) {
            return Ok(r.id);
        }
        // A registration inherited from the parent is dropped without touching the
        // parent's slot or descriptor (the fork handler closed our copy).
        *reg = None;
        let new = match self.adopt_heir(table) {
            Some(r) => r,
            None => table.register(self.role())?,
        };
        let id = new.id;
        *reg = Some(new);
        self.cached_id.store(id.to_u64(), Ordering::Relaxed);
        self.cached_generation.store(generation, Ordering::Release);
        Ok(id)
    }

    /// The registration this process's fork handler made for it, if the object is
    /// watched and this process was forked with it (see `heirs`).
    fn adopt_heir(&self, table: Table<'_>) -> Option<Registration> {
        let w = self.watch.load(Ordering::Acquire);
        if w >= WATCH_FULL {
            return None;
        }
        let (index, id) = heirs::adopt(w)?;
        let lock = LockFd::adopt(index)?;
        if let Some(e) = table.entry(id.slot) {
            e.role.store(self.role().0, Ordering::Relaxed);
            e.state.store(1, Ordering::Release);
        }
        Some(Registration { lock, id })
    }

    pub fn role(&self) -> Role {
        Role(self.role.load(Ordering::Relaxed))
    }

    pub fn set_role(&self, table: Table<'_>, role: Role) {
        self.role.store(role.0, Ordering::Relaxed);
        let reg = self.registration.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = reg.as_ref().filter(|r| r.lock.is_ours()) {
            if let Some(e) = table.entry(r.id.slot) {
                e.role.store(role.0, Ordering::Relaxed);
            }
        }
    }

    /// Leaves the table: marks the slot free; dropping the registration closes the
    /// descriptor, which releases the lock. Only in the process that registered.
    pub fn leave(&mut self, table: Table<'_>) {
        let reg = self.registration.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(reg) = reg.filter(|r| r.lock.is_ours()) {
            if let Some(e) = table.entry(reg.id.slot) {
                e.state.store(0, Ordering::Release);
            }
        }
        let w = *self.watch.get_mut();
        if w < WATCH_FULL {
            without_forks(|| heirs::unwatch(w));
        }
    }
}
