//! The store under every Dict, List and Namespace: a root object (the name the user knows)
//! holding the writers' lock, the wake-up for changes and the current generation's number;
//! and generation objects, each an arena with its commit word.
//!
//! # Reading
//!
//! A reader loads the root's generation number, maps that generation if it has not yet
//! (a named object, see below), loads its commit word and reads the record and the
//! nodes below it. Nothing below a commit is written again, and a superseded generation is
//! frozen, so whatever the reader got is one committed state, whoever writes meanwhile.
//! It takes no lock and never waits.
//!
//! # Writing
//!
//! Writers serialise on the root's crash-aware lock. A writer appends new nodes and a
//! record above the committed end, then stores the record's offset in the commit word: the
//! one store that makes the update visible. Killed before it, it leaves the old state, and
//! the next writer appends over its leftovers.
//!
//! # Growing
//!
//! When the arena is full, the writer copies the live nodes into a new generation object
//! three times their size, at least 1 MiB (which also drops every superseded node),
//! commits there, then stores the new number in the root (the switch), then unlinks the
//! old generation's name. Readers that have the old one mapped finish in it; the next read
//! maps the new one. A writer killed before the switch leaves a generation nobody uses,
//! and one killed after it leaves the old name: the next writer to find the lock's holder
//! dead removes both; so does `shmkit gc`, which keeps a generation while a process that
//! opened it lives, and a root's current generation always.
//!
//! Generation objects are named `<base>.g<number>`, where the base is the root's name and
//! a nonce: a root made again under the same name never meets the old one's generations.

use std::cell::RefCell;
use std::ptr::NonNull;
use std::sync::Arc;

use shmkit_core::loom::atomic::Ordering;
use shmkit_core::{segment, CreateError, CreateOptions, Deadline, Handle, Object, OpenError, WaitStrategy};
use shmkit_sync::raw::{token, Acquired, RawLock};

use crate::arena::{copy, measure, Appender, Corrupt, Record, View, WriteError, RECORD_SIZE, START};
use crate::error::DictError;
pub use crate::layout::{gen_name, keep_generation, GenControl, RootControl, RootLayout, MIN_ARENA};
use crate::layout::{segment_name_ok, GenLayout, GenParts, RootParams, MAX_BASE_LEN};

/// One mapped generation.
pub struct Gen {
    h: Handle<GenLayout>,
    /// Its number.
    pub gen: u64,
}

// SAFETY: the parts point into the mapping the handle's `Object` (Send + Sync) keeps alive;
// what they reach is atomics, or arena bytes below a commit that no correct process writes
// again (and above it, written only by the lock's holder).
unsafe impl Send for Gen {}
// SAFETY: as above: shared access is atomics or immutable committed bytes.
unsafe impl Sync for Gen {}

impl Gen {
    fn parts(&self) -> GenParts {
        *self.h.geometry()
    }

    fn ctl(&self) -> &GenControl {
        // SAFETY: checked in this handle's object, mapped while `self` lives; atomics only.
        unsafe { self.parts().ctl.as_ref() }
    }

    /// The committed state: the view below it, the record's offset and the record.
    pub fn committed(&self) -> Result<(View<'_>, u64, Record), Corrupt> {
        self.at(self.ctl().commit.load(Ordering::Acquire))
    }

    /// The state committed at `commit` (a commit word this process loaded).
    pub fn at(&self, commit: u64) -> Result<(View<'_>, u64, Record), Corrupt> {
        let p = self.parts();
        if commit == 0 {
            // SAFETY: an empty view reads nothing.
            return Ok((unsafe { View::new(p.arena, 0) }, 0, Record::default()));
        }
        let end = commit
            .checked_add(RECORD_SIZE)
            .filter(|&e| e <= p.cap)
            .ok_or(Corrupt("the commit word points past the arena"))?;
        // SAFETY: `[0, end)` lies in the arena, mapped while `self` lives; below a commit,
        // no correct process writes it again.
        let view = unsafe { View::new(p.arena, end) };
        let rec = view.record(commit)?;
        Ok((view, commit, rec))
    }
}

/// One committed state, kept: what snapshots read.
pub struct Frozen {
    gen: Option<Arc<Gen>>,
    commit: u64,
    /// The record.
    pub record: Record,
}

impl Frozen {
    /// Reads the state with `f` (the view, the record's offset, the record).
    pub fn read<R>(
        &self,
        f: impl FnOnce(&View<'_>, u64, &Record) -> Result<R, DictError>,
    ) -> Result<R, DictError> {
        match &self.gen {
            Some(g) => f(&g.at(self.commit)?.0, self.commit, &self.record),
            // SAFETY: an empty view reads nothing.
            None => f(&unsafe { View::new(NonNull::dangling(), 0) }, 0, &self.record),
        }
    }
}

/// Whether a write changed anything.
pub enum Step<R> {
    /// Nothing to commit; the result.
    Keep(R),
    /// Commit this record; the result.
    Commit(Record, R),
}

/// A root and the generation this handle has mapped.
pub struct Store {
    root: Handle<RootLayout>,
    /// The root's name, recorded in each generation.
    name: String,
    base: String,
    cur: RefCell<Option<Arc<Gen>>>,
}

// SAFETY: the root's control block lies in the mapping its `Object` (Send + Sync) keeps
// alive and is atomics only; the generation is `Send + Sync`. Not `Sync`: the cached
// generation is a `RefCell`.
unsafe impl Send for Store {}

impl Drop for Store {
    /// The last handle of an anonymous store to go (no other live handle uses it, in any
    /// process) removes its names, the root's and the current generation's: nothing is left
    /// in `/dev/shm`. (A forked child that exits without dropping its copy leaves the names
    /// to its parent's handle; `shmkit gc` removes what processes killed left.)
    fn drop(&mut self) {
        if self.ctl().anonymous.load(Ordering::Relaxed) == 0 {
            return;
        }
        // Every handle registers in the root when it is made or first used in a process.
        let mine = self.object().participant().ok();
        let others = self.object().participants().iter().any(|p| p.alive && Some(p.id) != mine);
        if others {
            return;
        }
        let gen = self.ctl().gen.0.load(Ordering::Acquire);
        if gen != 0 {
            let _ = segment::unlink(&gen_name(&self.base, gen));
        }
        let _ = self.object().unlink();
    }
}

/// How many times a reader looks again for a generation superseded while it mapped it.
const SWITCH_RETRIES: u32 = 1000;

impl Store {
    fn wrap(root: Handle<RootLayout>) -> Result<Self, OpenError> {
        // SAFETY: checked in this handle's object, mapped while it lives.
        let ctl = unsafe { root.geometry().as_ref() };
        let len = ctl.base_len.load(Ordering::Relaxed) as usize;
        if len == 0 || len > MAX_BASE_LEN {
            return Err(OpenError::Corrupt { reason: "the base name's length is out of range" });
        }
        let bytes: Vec<u8> =
            ctl.base.iter().flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes()).take(len).collect();
        let base = String::from_utf8(bytes)
            .ok()
            .filter(|b| segment_name_ok(b))
            .ok_or(OpenError::Corrupt { reason: "the base name is not a valid name" })?;
        let name = root.object().name().map(|n| n.as_str().to_owned()).unwrap_or_default();
        // Registered from the start: a store is in use while a handle to it lives (its
        // anonymous creator's drop and `shmkit gc` ask).
        let _ = root.object().participant();
        Ok(Self { root, name, base, cur: RefCell::new(None) })
    }

    /// Creates the named store `name`.
    pub fn create(
        layout: RootLayout,
        name: &str,
        hint: u64,
        opts: &CreateOptions,
    ) -> Result<Self, DictError> {
        check_base(name)?;
        // The generations' names carry a nonce: a root made again under the same name (or
        // any object named like a generation) never meets the old one's generations.
        let params = RootParams {
            base: format!("{name}.{}", nonce()),
            hint: check_hint(hint)?,
            mode: opts.get_mode(),
        };
        let h = Handle::create_with(layout, name, params, opts)?;
        Ok(Self::wrap(h)?)
    }

    /// Opens the named store `name`.
    pub fn open(layout: RootLayout, name: &str, opts: &shmkit_core::OpenOptions) -> Result<Self, DictError> {
        Ok(Self::wrap(Handle::open_with(layout, name, opts)?)?)
    }

    /// An anonymous store: a root under a name nobody else has (so that `shmkit gc` can
    /// tell its generations in use), inherited by children forked afterwards, removed when
    /// the handle that made it goes and no other handle uses it.
    pub fn anonymous(layout: RootLayout, hint: u64, opts: &CreateOptions) -> Result<Self, DictError> {
        let name = format!("shmkit-anon-{}-{}", std::process::id(), nonce());
        let params = RootParams { base: name.clone(), hint: check_hint(hint)?, mode: opts.get_mode() };
        let h = Handle::create_with(layout, &name, params, opts)?;
        let store = Self::wrap(h)?;
        store.ctl().anonymous.store(1, Ordering::Relaxed);
        Ok(store)
    }

    /// Removes the name `name` and its current generation's.
    pub fn unlink(layout: RootLayout, name: &str) -> Result<(), DictError> {
        let store = Self::open(layout, name, &shmkit_core::OpenOptions::new())?;
        let gen = store.ctl().gen.0.load(Ordering::Acquire);
        segment::unlink(name)?;
        if gen != 0 {
            let _ = segment::unlink(&gen_name(&store.base, gen));
        }
        Ok(())
    }

    /// A second handle, a participant of its own.
    pub fn try_clone(&self) -> Result<Self, OpenError> {
        Ok(Self {
            root: self.root.try_clone()?,
            name: self.name.clone(),
            base: self.base.clone(),
            cur: RefCell::new(None),
        })
    }

    /// The root object.
    pub fn object(&self) -> &Object {
        self.root.object()
    }

    /// The root's control block.
    pub fn ctl(&self) -> &RootControl {
        // SAFETY: checked in this handle's object, mapped while `self` lives; atomics only.
        unsafe { self.root.geometry().as_ref() }
    }

    /// Sets how blocked calls wait.
    pub fn set_wait_strategy(&mut self, s: WaitStrategy) {
        self.root.set_wait_strategy(s);
    }

    /// The generation objects' base name.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The current generation, mapped (`None`: nothing was ever written). Opening a
    /// generation registers this process in it.
    pub fn current(&self) -> Result<Option<Arc<Gen>>, DictError> {
        // Cheap once registered: a process uses the store only as a participant of its root
        // (a forked child registers on its first call).
        let _ = self.object().participant();
        for _ in 0..SWITCH_RETRIES {
            let g = self.ctl().gen.0.load(Ordering::Acquire);
            if g == 0 {
                return Ok(None);
            }
            if let Some(c) = self.cur.borrow().as_ref().filter(|c| c.gen == g) {
                return Ok(Some(c.clone()));
            }
            let name = gen_name(&self.base, g);
            match Handle::open(GenLayout, &name) {
                Ok(h) => {
                    let gen = Arc::new(Gen { h, gen: g });
                    if gen.ctl().gen.load(Ordering::Relaxed) != g {
                        return Err(Corrupt("a generation object carries another number").into());
                    }
                    *self.cur.borrow_mut() = Some(gen.clone());
                    return Ok(Some(gen));
                }
                // Superseded (and unlinked) since we read the number: look again. Still
                // current: someone removed it.
                Err(OpenError::NotFound { .. }) => {
                    if self.ctl().gen.0.load(Ordering::Acquire) == g {
                        return Err(DictError::GenerationMissing { name });
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DictError::Busy)
    }

    /// Reads the committed state with `f` (the view, the record's offset, the record).
    pub fn read<R>(
        &self,
        f: impl FnOnce(&View<'_>, u64, &Record) -> Result<R, DictError>,
    ) -> Result<R, DictError> {
        match self.current()? {
            None => {
                // SAFETY: an empty view reads nothing.
                let v = unsafe { View::new(NonNull::dangling(), 0) };
                f(&v, 0, &Record::default())
            }
            Some(g) => {
                let (v, commit, rec) = g.committed()?;
                f(&v, commit, &rec)
            }
        }
    }

    /// The committed state now, kept (its generation stays mapped) whatever writers do.
    pub fn freeze(&self) -> Result<Frozen, DictError> {
        let gen = self.current()?;
        let (commit, record) = match &gen {
            Some(g) => {
                let (_, commit, r) = g.committed()?;
                (commit, r)
            }
            None => (0, Record::default()),
        };
        Ok(Frozen { gen, commit, record })
    }

    /// Runs the update `op` under the writers' lock, until `deadline` for the lock: `op`
    /// gets the committed state and an appender above it, and returns what to commit. On
    /// a full arena the store grows and `op` runs again.
    pub fn write<R>(
        &self,
        deadline: Deadline,
        mut op: impl FnMut(&View<'_>, u64, &Record, &mut Appender<'_>) -> Result<Step<R>, WriteError>,
    ) -> Result<R, DictError> {
        let id = self.object().participant().map_err(|_| DictError::NoSlot)?;
        let me = token(id);
        let ctl = self.ctl();
        if ctl.lock.owner() == me {
            // An update's closure writing to the same object through this process: it
            // would wait for itself.
            return Err(DictError::Reentrant);
        }
        let strategy = self.root.wait_strategy();
        match ctl.lock.lock_until(me, deadline, strategy, self.object()) {
            None => return Err(DictError::Timeout),
            Some(Acquired::OwnerDied) => self.remove_strays(),
            Some(Acquired::Clean) => {}
        }
        // Released however the step ends, a panic in a caller's closure included.
        struct Unlock<'a>(&'a RawLock, u64);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                let _ = self.0.unlock(self.1);
            }
        }
        let unlock = Unlock(&ctl.lock, me);
        let r = self.write_locked(&mut op);
        drop(unlock);
        if matches!(r, Ok((true, _))) {
            ctl.changed.notify_all();
        }
        r.map(|(_, r)| r)
    }

    /// Locked: `write`'s body; whether it committed, and the result.
    fn write_locked<R>(
        &self,
        op: &mut impl FnMut(&View<'_>, u64, &Record, &mut Appender<'_>) -> Result<Step<R>, WriteError>,
    ) -> Result<(bool, R), DictError> {
        let mut grown = 0u32;
        let mut need_at_least = 0u64;
        loop {
            let g = self.current()?;
            let need = {
                let (view, commit, rec) = match &g {
                    Some(g) => g.committed()?,
                    // SAFETY: an empty view reads nothing.
                    None => (unsafe { View::new(NonNull::dangling(), 0) }, 0, Record::default()),
                };
                let (base, cap) =
                    g.as_ref().map_or((NonNull::dangling(), 0), |g| (g.parts().arena, g.parts().cap));
                let top = if commit == 0 { START } else { commit + RECORD_SIZE };
                // SAFETY: `[top, cap)` of the mapped arena is above the commit, and only the
                // lock's holder writes there.
                let mut a = unsafe { Appender::new(base, cap, top) };
                let full = match op(&view, commit, &rec, &mut a) {
                    Ok(Step::Keep(r)) => return Ok((false, r)),
                    Ok(Step::Commit(mut next, r)) => {
                        next.version = rec.version.wrapping_add(1);
                        match a.record(&next) {
                            Ok(at) => {
                                let g = g.as_ref().expect("a record fits only in a mapped arena");
                                g.ctl().commit.store(at, Ordering::Release);
                                self.ctl().version.store(next.version, Ordering::Release);
                                return Ok((true, r));
                            }
                            Err(full) => full,
                        }
                    }
                    Err(WriteError::Full(full)) => full,
                    Err(WriteError::Corrupt(c)) => return Err(c.into()),
                    // The step's caller kept its reason and reports it instead.
                    Err(WriteError::Abort) => return Err(DictError::Busy),
                };
                if full.need == u64::MAX {
                    return Err(DictError::TooLarge);
                }
                // What the step appended before it ran out, and what it was appending then;
                // a step that outgrows the new arena too gets twice as much room again.
                let need = (a.top() - top).saturating_add(full.need).max(need_at_least);
                need_at_least = need.saturating_mul(2);
                need
            };
            grown += 1;
            if grown > 40 {
                return Err(DictError::TooLarge);
            }
            self.grow(g.as_deref(), need)?;
        }
    }

    /// Locked: moves the committed state into a new generation with room for `need` bytes
    /// more, switches to it, and unlinks the old one's name.
    fn grow(&self, old: Option<&Gen>, need: u64) -> Result<(), DictError> {
        let ctl = self.ctl();
        let (live, next) = match old {
            Some(g) => {
                let (view, commit, rec) = g.committed()?;
                (measure(&view, rec.root, commit)?, g.gen + 1)
            }
            None => (0, 1),
        };
        // Three times what is live: a generation takes at least twice the live bytes in
        // new writes before the next copy, so copying costs a bounded share of each write.
        let want = live.saturating_add(need).saturating_add(RECORD_SIZE + START).saturating_mul(3);
        let cap = want.max(ctl.hint.load(Ordering::Relaxed)).max(MIN_ARENA).next_multiple_of(4096);
        let name = gen_name(&self.base, next);
        // A generation a writer made and died before switching to.
        let _ = segment::unlink(&name);
        let opts = CreateOptions::new()
            .mode(ctl.mode.load(Ordering::Relaxed))
            .participants(self.object().info().slots);
        let h = Handle::create_with(GenLayout, &name, (next, cap, self.name.as_str()), &opts)?;
        let gen = Arc::new(Gen { h, gen: next });
        let filled = (|| {
            let p = gen.parts();
            // SAFETY: the new arena is ours alone until the switch below.
            let mut a = unsafe { Appender::new(p.arena, p.cap, START) };
            let rec = match old {
                Some(g) => {
                    let (view, commit, rec) = g.committed()?;
                    let root = if rec.root == 0 { 0 } else { copy(&view, &mut a, rec.root, commit)? };
                    Record { root, ..rec }
                }
                None => Record::default(),
            };
            let at = a.record(&rec).map_err(|_| DictError::TooLarge)?;
            gen.ctl().commit.store(at, Ordering::Release);
            Ok::<(), DictError>(())
        })();
        if let Err(e) = filled {
            // Never switched to: nothing of it may stay.
            let _ = gen.h.object().unlink();
            return Err(e);
        }
        // The switch.
        ctl.gen.0.store(next, Ordering::Release);
        if let Some(g) = old {
            // The file we mapped, not whatever the name may name by now.
            let _ = g.h.object().unlink();
        }
        *self.cur.borrow_mut() = Some(gen);
        Ok(())
    }

    /// Locked, after the lock's holder died: removes the generation it may have made and
    /// not switched to, and the name of the one it may have switched from.
    fn remove_strays(&self) {
        let g = self.ctl().gen.0.load(Ordering::Acquire);
        let _ = segment::unlink(&gen_name(&self.base, g + 1));
        if g > 1 {
            let _ = segment::unlink(&gen_name(&self.base, g - 1));
        }
    }

    /// Waits until the version differs from `seen`, until `deadline`; the version then.
    pub fn wait_changed(&self, seen: u64, deadline: Deadline) -> Result<u64, DictError> {
        let ctl = self.ctl();
        ctl.changed
            .wait_until(self.root.wait_strategy(), deadline, || {
                let v = ctl.version.load(Ordering::Acquire);
                (v != seen).then_some(v)
            })
            .ok_or(DictError::Timeout)
    }
}

/// The longest name a Dict, List or Namespace takes: room for a nonce and a generation.
pub const MAX_NAME: usize = MAX_BASE_LEN - 13;

fn check_base(name: &str) -> Result<(), DictError> {
    if name.len() > MAX_NAME {
        return Err(DictError::NameTooLong { len: name.len(), max: MAX_NAME });
    }
    Ok(())
}

/// The first arena's size, checked: at least [`MIN_ARENA`], at most 1 TiB.
fn check_hint(hint: u64) -> Result<u64, DictError> {
    if hint > 1 << 40 {
        return Err(DictError::Create(CreateError::InvalidSize {
            size: hint,
            reason: "a first arena holds at most 1 TiB: give initial_bytes less",
        }));
    }
    Ok(hint.max(MIN_ARENA))
}

/// Twelve hex digits no other store made now has: the time, the pid and a counter, mixed.
fn nonce() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mixed = crate::arena::hash(
        &[nanos.to_le_bytes(), u64::from(std::process::id()).to_le_bytes(), n.to_le_bytes()].concat(),
    );
    format!("{:012x}", mixed & 0xffff_ffff_ffff)
}
