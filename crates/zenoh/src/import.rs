//! The importer: every sample received on a key expression is put into a local queue.
//!
//! # The loop
//!
//! One Zenoh subscriber per importer. Each sample is put into the local queue in Zenoh's
//! own callback, in the order it came (no hand-off to another thread: that would cost a
//! wake-up per message), as the [`Backpressure`] policy says when the queue is full:
//!
//! - [`Backpressure::Block`] (the default) waits for room, in the callback: Zenoh stops
//!   reading from the link, and a `Block` exporter waits in its publish. Nothing is
//!   dropped; the slowest consumer sets the pace. (Other subscriptions of the same
//!   session wait too: give a bridge a session of its own.)
//! - [`Backpressure::DropOldest`] takes the oldest message out of the local queue to
//!   make room (counted in `dropped_oldest`), as a ring buffer of the latest messages.
//! - [`Backpressure::DropNewest`] drops the incoming message (counted in
//!   `dropped_newest`).
//!
//! Each sample's stamp (exporter id, sequence number; see the exporter) puts it in its
//! source's order. A sample ahead of the next number due waits (at most 65 536 per
//! source) until the hole before it fills; a hole that sees no progress for 300 ms is
//! counted in `gaps` (messages lost upstream) and the samples behind it go on (a thread
//! of the importer's looks for stale holes every 20 ms while no sample comes). This keeps
//! a source's order across an exporter's restart, when the dead bridge's last samples,
//! still in the old connection's buffers, can reach Zenoh after the new bridge's first.
//! A sample whose place was already given up is delivered late (counted in
//! `out_of_order`, and taken out of `gaps`).
//!
//! # Crashes
//!
//! A killed importer loses the samples waiting behind a hole and the one it was putting
//! (the local queue itself stays intact: it is only used through its crash-safe calls),
//! and whatever its sources publish until Zenoh tells them the subscriber is gone. Its
//! state object keeps, for up to two sources, a resume point: every number below it has
//! been put or counted in `gaps`. It is written after each put; a hole given up on moves
//! it with the message put last before the hole. A restarted importer on that state
//! picks the numbering up there: when such a source's next sample comes, every number it
//! skipped is counted in `gaps` and in `missed_while_down`. The count errs towards
//! "lost", never towards "delivered": a kill between a put and the write after it counts
//! that one message as missed too, and a kill in the instant between counting a hole and
//! moving the point past it counts that hole twice. A source the state keeps no resume point for starts afresh, and what it
//! lost while the importer was down goes uncounted.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shmkit_core::Deadline;
use zenoh::sample::Sample;
use zenoh::Wait;

use crate::error::BridgeError;
use crate::local::{PutFail, Target};
use crate::session::Session;
use crate::state::{import as w, State};

/// How long one wait lasts before the loop looks at its stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// How long a hole in a source's numbering may go without a sample filling it before
/// its messages are counted as lost and the ones that came after it are delivered.
const HOLE_WAIT: Duration = Duration::from_millis(300);
/// How often the loop looks at holes while samples wait behind one.
const HOLE_POLL: Duration = Duration::from_millis(20);
/// The most samples held behind a hole, per source.
const MAX_STASH: usize = 65_536;
/// The most sources (exporters) an importer follows the numbering of.
const MAX_SOURCES: usize = 1024;
/// How many times `DropOldest` makes room for one message before it drops that one.
const MAX_EVICTIONS: u32 = 1000;

/// What an importer does with a message when the local queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait for room (the default); Zenoh then pushes back on the exporter.
    #[default]
    Block,
    /// Take the oldest message out of the local queue and drop it, then put.
    DropOldest,
    /// Drop the incoming message.
    DropNewest,
}

/// Options of [`import`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    state: Option<String>,
    backpressure: Backpressure,
}

impl ImportOptions {
    /// Anonymous state, [`Backpressure::Block`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the importer's counters in the named shared-memory object `name` (made if
    /// missing), readable from any process with [`ImportStats::read`]. One bridge at a
    /// time per state name: [`import`] fails with [`BridgeError::InUse`] while another live
    /// bridge has it. Without it the counters end with the importer.
    pub fn state(mut self, name: impl Into<String>) -> Self {
        self.state = Some(name.into());
        self
    }

    /// What to do when the local queue is full (default [`Backpressure::Block`]).
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.backpressure = policy;
        self
    }
}

/// An importer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Samples received from Zenoh.
    pub received: u64,
    /// Messages put into the local queue.
    pub put: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Messages taken out of the full local queue to make room ([`Backpressure::DropOldest`]).
    pub dropped_oldest: u64,
    /// Incoming messages dropped because the local queue was full ([`Backpressure::DropNewest`]).
    pub dropped_newest: u64,
    /// Messages missing from an exporter's numbering: lost upstream.
    pub gaps: u64,
    /// Samples numbered at or below one already seen from the same exporter.
    pub out_of_order: u64,
    /// Samples that cannot be an item of the local queue (dropped).
    pub malformed: u64,
    /// Samples without an exporter's stamp (delivered, not checked).
    pub unstamped: u64,
    /// Times an importer attached to this state after another had used it.
    pub restarts: u64,
    /// Over all restarts, messages a restarted importer found missing from a source it
    /// had before (also in `gaps`): lost while no importer ran, or in flight at a crash.
    pub missed_while_down: u64,
}

impl ImportStats {
    /// Reads the counters of the importer whose state object is `name`, from any process.
    ///
    /// # Errors
    ///
    /// [`BridgeError::State`] if there is no such object.
    pub fn read(name: &str) -> Result<Self, BridgeError> {
        Ok(Self::of(&State::open(name)?))
    }

    /// Everything dropped on this side: by a policy, or as malformed.
    pub fn drops(&self) -> u64 {
        self.dropped_oldest + self.dropped_newest + self.malformed
    }

    fn of(s: &State) -> Self {
        Self {
            received: s.get(w::RECEIVED),
            put: s.get(w::PUT),
            bytes: s.get(w::BYTES),
            dropped_oldest: s.get(w::DROPPED_OLDEST),
            dropped_newest: s.get(w::DROPPED_NEWEST),
            gaps: s.get(w::GAPS),
            out_of_order: s.get(w::OUT_OF_ORDER),
            malformed: s.get(w::MALFORMED),
            unstamped: s.get(w::UNSTAMPED),
            restarts: s.get(w::RESTARTS),
            missed_while_down: s.get(w::MISSED_WHILE_DOWN),
        }
    }
}

/// A running importer: see [`import`]. Dropping it stops it.
pub struct Importer {
    shared: Arc<dyn Stop>,
    state: Arc<State>,
    subscriber: Option<zenoh::pubsub::Subscriber<()>>,
    thread: Option<JoinHandle<Result<(), BridgeError>>>,
}

/// The importer's stop flag, whatever its target's type.
trait Stop: Send + Sync {
    fn stop(&self);
}

impl<T: Send> Stop for Shared<T> {
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Importer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer").field("stats", &self.stats()).finish()
    }
}

/// Puts every sample received on the key expression `key` into `target`, in Zenoh's
/// callback as it arrives, until the target ends (closed, or its readers gone), the importer is
/// stopped, or the session closes. The subscriber is declared before this returns.
///
/// # Examples
///
/// ```no_run
/// use shmkit_mq::MessageQueue;
/// use shmkit_zenoh::{import, Backpressure, ImportOptions, Session, SessionConfig};
///
/// // Host B: samples of "shmkit/jobs" go into the local queue "jobs".
/// let session = Session::open(&SessionConfig::peer().connect("tcp/10.0.0.1:7447"))?;
/// let jobs = MessageQueue::open_or_create("jobs", 1000)?;
/// let opts = ImportOptions::new().backpressure(Backpressure::DropOldest);
/// let importer = import(&session, "shmkit/jobs", jobs, &opts)?;
/// std::thread::sleep(std::time::Duration::from_secs(60));
/// println!("{:?}", importer.stop()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`BridgeError::KeyExpr`], [`BridgeError::Declare`], [`BridgeError::State`],
/// [`BridgeError::InUse`].
pub fn import<T: Target>(
    session: &Session,
    key: &str,
    target: T,
    opts: &ImportOptions,
) -> Result<Importer, BridgeError> {
    let ke = zenoh::key_expr::KeyExpr::try_from(key.to_owned())
        .map_err(|e| BridgeError::KeyExpr { key: key.to_owned(), reason: e.to_string() })?;
    let state = Arc::new(State::named_or_anonymous(opts.state.as_deref())?);
    let resume = resume_points(&state);
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            target,
            sources: HashMap::new(),
            resume,
            slotted: Vec::new(),
            outcome: None,
        }),
        st: state.clone(),
        stop: AtomicBool::new(false),
        done: AtomicBool::new(false),
        policy: opts.backpressure,
    });
    let (sh, gone) = (shared.clone(), CallbackGone(shared.clone()));
    let subscriber = session
        .inner
        .declare_subscriber(ke)
        .callback(move |sample: Sample| {
            // Dropped with the callback: tells the keeper the subscription is over.
            let _ = &gone;
            sh.on_sample(&sample);
        })
        .wait()
        .map_err(|e| BridgeError::Declare { key: key.to_owned(), reason: e.to_string() })?;
    let keeper = shared.clone();
    let thread = std::thread::Builder::new()
        .name("shmkit-zenoh-import".into())
        .spawn(move || keeper.keep())
        .map_err(|e| BridgeError::Local(format!("could not start the importer's thread: {e}")))?;
    Ok(Importer { shared, state, subscriber: Some(subscriber), thread: Some(thread) })
}

/// What Zenoh's callback and the importer's thread share.
struct Shared<T> {
    inner: Mutex<Inner<T>>,
    st: Arc<State>,
    /// Set by `stop` (or a drop): deliver nothing more.
    stop: AtomicBool,
    /// Set when the target ended or failed, or the subscription is over: the thread
    /// returns.
    done: AtomicBool,
    policy: Backpressure,
}

/// What one delivery at a time holds.
struct Inner<T> {
    target: T,
    sources: HashMap<u64, Order>,
    /// The next number due from each source a previous importer on this state had, until
    /// the source's first sample comes.
    resume: HashMap<u64, u64>,
    /// The sources that hold a resume point in the state.
    slotted: Vec<u64>,
    /// How the importer ended, once it has: the target ended, or failed.
    outcome: Option<Result<(), BridgeError>>,
}

/// Lives in Zenoh's callback: when the subscription ends (undeclared, or its session
/// closed), the callback is dropped and this tells the importer's thread.
struct CallbackGone<T>(Arc<Shared<T>>);

impl<T> Drop for CallbackGone<T> {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::Release);
    }
}

impl<T: Target> Shared<T> {
    /// One sample, in the thread Zenoh calls back on: numbered into its source's order,
    /// and every message now due put into the target. With [`Backpressure::Block`] this
    /// waits for room, so that Zenoh stops reading from the link and pushes back.
    fn on_sample(&self, sample: &Sample) {
        if self.stop.load(Ordering::Relaxed) {
            return;
        }
        // Borrowed when Zenoh holds the payload in one piece: a message delivered in its
        // turn is put straight from it, with no copy of its own.
        let payload = sample.payload().to_bytes();
        let st = &self.st;
        st.add(w::RECEIVED, 1);
        st.add(w::BYTES, payload.len() as u64);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Stopped, or ended (the keeper may have taken the outcome already) while this
        // callback waited for the lock: deliver nothing more.
        if self.stop.load(Ordering::Relaxed) || self.done.load(Ordering::Acquire) {
            return;
        }
        let mut ready: Vec<Ready> = Vec::new();
        // Whether the sample is due now, and the resume point to write once it is put.
        let (in_turn, point) = match sample.attachment().map(|a| a.to_bytes()) {
            Some(stamp) if stamp.len() == 16 => {
                let source = u64::from_le_bytes(stamp[..8].try_into().unwrap_or_default());
                let seq = u64::from_le_bytes(stamp[8..].try_into().unwrap_or_default());
                let Inner { sources, resume, slotted, .. } = &mut *inner;
                // What a peer wrote: the last number has no next; a new source past the
                // most followed is not followed. Either goes on unchecked.
                if seq == u64::MAX || (sources.len() >= MAX_SOURCES && !sources.contains_key(&source)) {
                    st.add(w::UNSTAMPED, 1);
                    (true, None)
                } else {
                    let order = sources.entry(source).or_insert_with(|| {
                        let slot = resume_slot(st, source, slotted);
                        Order::first(source, seq, resume.remove(&source), slot, st)
                    });
                    if order.in_turn(seq) {
                        (true, order.slot.map(|slot| (slot, order.expected)))
                    } else {
                        order.offer(seq, payload.to_vec(), st, &mut ready);
                        (false, None)
                    }
                }
            }
            _ => {
                st.add(w::UNSTAMPED, 1);
                (true, None)
            }
        };
        if in_turn {
            if !self.deliver_one(&mut inner, &payload) {
                return;
            }
            if let Some((slot, next)) = point {
                save(st, slot, next);
            }
        }
        self.deliver_all(&mut inner, ready);
    }

    /// Puts `ready`, and whatever stale holes let through, into the target, writing each
    /// message's resume point once it is put.
    fn deliver_all(&self, inner: &mut Inner<T>, mut ready: Vec<Ready>) {
        for o in inner.sources.values_mut() {
            o.give_up_if_stale(&self.st, &mut ready);
        }
        for r in ready {
            if !self.deliver_one(inner, &r.msg) {
                return;
            }
            if let Some((slot, next)) = r.save {
                save(&self.st, slot, next);
            }
            if let Some(missed) = r.late {
                self.st.sub_one_unless_zero(w::GAPS);
                if missed {
                    self.st.sub_one_unless_zero(w::MISSED_WHILE_DOWN);
                }
            }
        }
    }

    /// Puts one message into the target; `false` once the target has ended (or failed),
    /// which is recorded for the keeper.
    fn deliver_one(&self, inner: &mut Inner<T>, msg: &[u8]) -> bool {
        let end = match deliver(&mut inner.target, msg, self.policy, &self.st, &self.stop) {
            Ok(()) | Err(PutFail::Malformed | PutFail::Full) => return true,
            Err(PutFail::Ended) => Ok(()),
            Err(PutFail::Failed(e)) => Err(BridgeError::Local(e)),
        };
        inner.outcome = Some(end);
        self.done.store(true, Ordering::Release);
        false
    }

    /// The importer's thread: gives up on stale holes while no sample comes, until the
    /// importer is stopped, its target ends, or the subscription is over.
    fn keep(&self) -> Result<(), BridgeError> {
        loop {
            std::thread::sleep(HOLE_POLL);
            // (A callback holding the lock while it waits for room sees a stop within
            // `POLL`.)
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            // How the target ended comes first, even if a stop came after it.
            if let Some(outcome) = inner.outcome.take() {
                return outcome;
            }
            if self.stop.load(Ordering::Relaxed) || self.done.load(Ordering::Acquire) {
                return Ok(());
            }
            if inner.sources.values().any(|o| !o.stash.is_empty()) {
                self.deliver_all(&mut inner, Vec::new());
            }
        }
    }
}

/// A message due, to be put: with, for a source that has a resume point, the pair of
/// words and the number to write there once it is put.
struct Ready {
    msg: Vec<u8>,
    save: Option<(usize, u64)>,
    /// For a message that came after its number was given up: once it is put, it is
    /// taken out of `GAPS`, and, if `true` (a restart had counted it as missed), out of
    /// `MISSED_WHILE_DOWN`.
    late: Option<bool>,
}

/// Writes `next` as the resume point in the state's pair `slot`: every number below it,
/// from the source the pair is for, has been put or counted in `GAPS`.
fn save(st: &State, slot: usize, next: u64) {
    st.store(w::RESUME + 2 * slot + 1, next);
}

/// One source's numbering: the next number due, and the samples that came ahead of it.
struct Order {
    expected: u64,
    /// The state's pair of words that keeps this source's resume point, if it has one.
    slot: Option<usize>,
    /// The numbers a restart counted as missed (delivered late, one is taken out again).
    /// Numbers from its start on are counted; earlier ones came before the numbering here
    /// began.
    missed: Range<u64>,
    stash: BTreeMap<u64, Vec<u8>>,
    /// When the hole before the stash last saw progress (set when a sample is first
    /// stashed, and on each progress while the stash is not empty: read only then).
    since: Instant,
}

impl Order {
    /// The numbering of `source`, whose first sample here is number `seq`: it starts
    /// there, or, for a source a previous importer had (`resumed`: its next number due),
    /// where that importer stopped, with every number skipped since counted as lost. Its
    /// resume point goes into the state's pair `slot`, if it has one.
    fn first(source: u64, seq: u64, resumed: Option<u64>, slot: Option<usize>, st: &State) -> Self {
        let missed = match resumed {
            Some(next) if seq > next => {
                st.add(w::GAPS, seq - next);
                st.add(w::MISSED_WHILE_DOWN, seq - next);
                next..seq
            }
            // Not ahead of where the previous importer stopped: a numbering that started
            // again. Nothing to count.
            _ => seq..seq,
        };
        let order = Self { expected: seq, slot, missed, stash: BTreeMap::new(), since: Instant::now() };
        if let Some(i) = order.slot {
            if st.get(w::RESUME + 2 * i) == source {
                save(st, i, seq);
            } else {
                // Freed first, so that a kill in between leaves no pair of this id and
                // another source's number.
                st.store(w::RESUME + 2 * i, 0);
                save(st, i, seq);
                st.store(w::RESUME + 2 * i, source);
            }
        }
        order
    }

    /// A message due, with the resume point to write once it is put: `next`.
    fn ready(&self, msg: Vec<u8>, next: u64) -> Ready {
        Ready { msg, save: self.slot.map(|slot| (slot, next)), late: None }
    }

    /// Whether sample `seq` is the one due with nothing waiting: then it is counted as
    /// handed on, and the caller delivers it.
    fn in_turn(&mut self, seq: u64) -> bool {
        if seq != self.expected || !self.stash.is_empty() {
            return false;
        }
        // No clock read: `since` means nothing while the stash is empty.
        self.expected += 1;
        true
    }

    /// Takes sample `seq`: hands on, in order, every message now due.
    fn offer(&mut self, seq: u64, msg: Vec<u8>, st: &State, ready: &mut Vec<Ready>) {
        if seq < self.expected {
            // Its place was given up as lost (or it came twice): deliver it late rather
            // than lose it, and once put, take it out of the gaps. The resume point stays.
            st.add(w::OUT_OF_ORDER, 1);
            // One before the numbering began here was never counted: nothing to take out.
            let counted = seq >= self.missed.start;
            ready.push(Ready { msg, save: None, late: counted.then(|| self.missed.contains(&seq)) });
            return;
        }
        if seq > self.expected {
            if self.stash.is_empty() {
                self.since = Instant::now();
            }
            self.stash.insert(seq, msg);
            if self.stash.len() > MAX_STASH {
                self.skip_hole(st, ready);
            }
            return;
        }
        self.expected += 1;
        ready.push(self.ready(msg, self.expected));
        self.since = Instant::now();
        self.drain(ready);
    }

    fn drain(&mut self, ready: &mut Vec<Ready>) {
        while let Some(msg) = self.stash.remove(&self.expected) {
            self.expected += 1;
            ready.push(self.ready(msg, self.expected));
        }
    }

    /// The hole before the stash is lost: count it, and hand on what waited behind it.
    /// The resume point passes the hole with the message put last before it (still in
    /// `ready`), or at once if there is none: a kill then never counts the hole twice.
    fn skip_hole(&mut self, st: &State, ready: &mut Vec<Ready>) {
        if let Some(&first) = self.stash.keys().next() {
            st.add(w::GAPS, first - self.expected);
            if let Some(slot) = self.slot {
                match ready
                    .iter_mut()
                    .rev()
                    .find(|r| r.save.is_some_and(|(s, next)| s == slot && next == self.expected))
                {
                    Some(last) => last.save = Some((slot, first)),
                    None => save(st, slot, first),
                }
            }
            self.expected = first;
            self.since = Instant::now();
            self.drain(ready);
        }
    }

    fn give_up_if_stale(&mut self, st: &State, ready: &mut Vec<Ready>) {
        if !self.stash.is_empty() && self.since.elapsed() >= HOLE_WAIT {
            self.skip_hole(st, ready);
        }
    }
}

/// The resume points a previous importer on this state left (and one more restart
/// booked, if there was one).
fn resume_points(st: &State) -> HashMap<u64, u64> {
    if !st.used_before {
        return HashMap::new();
    }
    st.add(w::RESTARTS, 1);
    (0..w::RESUME_SLOTS)
        .map(|i| (st.get(w::RESUME + 2 * i), st.get(w::RESUME + 2 * i + 1)))
        .filter(|&(source, _)| source != 0)
        .collect()
}

/// A pair of words for `source`'s resume point, booked in `slotted`: its own, else a free
/// one, else one whose source holds no resume point of this importer's (a previous
/// one's); `None` if every pair belongs to a source of this importer's, and for source 0.
fn resume_slot(st: &State, source: u64, slotted: &mut Vec<u64>) -> Option<usize> {
    if source == 0 {
        // Would read as a free pair: none for it.
        return None;
    }
    let held: Vec<u64> = (0..w::RESUME_SLOTS).map(|i| st.get(w::RESUME + 2 * i)).collect();
    let i = held
        .iter()
        .position(|&s| s == source)
        .or_else(|| held.iter().position(|&s| s == 0))
        .or_else(|| held.iter().position(|s| !slotted.contains(s)))?;
    slotted.push(source);
    Some(i)
}

/// Puts one message as `policy` says, counting what it drops.
fn deliver<T: Target>(
    target: &mut T,
    msg: &[u8],
    policy: Backpressure,
    st: &State,
    stop: &AtomicBool,
) -> Result<(), PutFail> {
    let counted = |r: Result<(), PutFail>| {
        match &r {
            Ok(()) => {
                st.add(w::PUT, 1);
            }
            Err(PutFail::Malformed) => {
                st.add(w::MALFORMED, 1);
            }
            Err(_) => {}
        }
        r
    };
    match policy {
        Backpressure::Block => {
            // At once if there is room (no clock read), else in waits of `POLL`.
            let mut deadline = Deadline::PASSED;
            loop {
                match target.put(msg, deadline) {
                    Err(PutFail::Full) if !stop.load(Ordering::Relaxed) => deadline = Deadline::after(POLL),
                    Err(PutFail::Full) => return Err(PutFail::Ended),
                    r => return counted(r),
                }
            }
        }
        Backpressure::DropNewest => match target.put(msg, Deadline::PASSED) {
            Err(PutFail::Full) => {
                st.add(w::DROPPED_NEWEST, 1);
                Ok(())
            }
            r => counted(r),
        },
        Backpressure::DropOldest => {
            for _ in 0..MAX_EVICTIONS {
                match target.put(msg, Deadline::PASSED) {
                    Err(PutFail::Full) => {
                        if target.discard_oldest()? {
                            st.add(w::DROPPED_OLDEST, 1);
                        }
                    }
                    r => return counted(r),
                }
            }
            // Others keep filling the queue faster than room is made: drop this one.
            st.add(w::DROPPED_NEWEST, 1);
            Ok(())
        }
    }
}

impl Importer {
    /// The counters now.
    pub fn stats(&self) -> ImportStats {
        ImportStats::of(&self.state)
    }

    /// Whether the importer's thread has ended (the target ended, the session closed, or
    /// it failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits until the target ends or the session closes, then returns the counters.
    ///
    /// # Errors
    ///
    /// [`BridgeError::Local`], [`BridgeError::Panicked`].
    pub fn join(mut self) -> Result<ImportStats, BridgeError> {
        self.finish()
    }

    /// Stops the importer (within about 100 ms) and returns the counters. Samples that
    /// come after the stop, or wait behind a hole, are not delivered.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn stop(mut self) -> Result<ImportStats, BridgeError> {
        self.shared.stop();
        self.finish()
    }

    fn finish(&mut self) -> Result<ImportStats, BridgeError> {
        if let Some(t) = self.thread.take() {
            let r = t.join().map_err(|_| BridgeError::Panicked);
            // No more samples, and none being put: undeclaring waits for a running
            // callback (which sees the stop within `POLL`), so the counters are final.
            if let Some(sub) = self.subscriber.take() {
                let _ = sub.undeclare().wait();
            }
            r??;
        }
        Ok(self.stats())
    }
}

impl Drop for Importer {
    fn drop(&mut self) {
        self.shared.stop();
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State::named_or_anonymous(None).unwrap()
    }

    fn pair(st: &State, slot: usize) -> (u64, u64) {
        (st.get(w::RESUME + 2 * slot), st.get(w::RESUME + 2 * slot + 1))
    }

    #[test]
    fn resume_points_go_to_a_source_s_own_pair_then_a_free_one_then_a_stale_one() {
        let st = state();
        let mut run = Vec::new();
        assert_eq!(resume_slot(&st, 0, &mut run), None, "source 0 would read as a free pair");
        let a = Order::first(0xA, 5, None, resume_slot(&st, 0xA, &mut run), &st);
        let b = Order::first(0xB, 7, None, resume_slot(&st, 0xB, &mut run), &st);
        assert_eq!((a.slot, b.slot), (Some(0), Some(1)));
        assert_eq!((pair(&st, 0), pair(&st, 1)), ((0xA, 5), (0xB, 7)));
        assert_eq!(resume_slot(&st, 0xC, &mut run), None, "both pairs belong to this importer's sources");

        // The next importer on the state: B comes back to its own pair; C takes A's, which
        // no source of this importer's holds; A then finds none left.
        let mut run = Vec::new();
        assert_eq!(resume_slot(&st, 0xB, &mut run), Some(1));
        let c = Order::first(0xC, 1, None, resume_slot(&st, 0xC, &mut run), &st);
        assert_eq!((c.slot, pair(&st, 0)), (Some(0), (0xC, 1)));
        assert_eq!(resume_slot(&st, 0xA, &mut run), None);
    }

    /// The importer's shared part around `target`, as `import` makes it.
    fn shared(target: shmkit_mq::MessageQueue, st: State) -> Shared<shmkit_mq::MessageQueue> {
        Shared {
            inner: Mutex::new(Inner {
                target,
                sources: HashMap::new(),
                resume: HashMap::new(),
                slotted: Vec::new(),
                outcome: None,
            }),
            st: Arc::new(st),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            policy: Backpressure::Block,
        }
    }

    #[test]
    fn a_restart_counts_what_a_source_skipped_and_a_late_one_is_taken_out_once_put() {
        let q = shmkit_mq::MessageQueue::anonymous(4).unwrap();
        let sh = shared(q.try_clone().unwrap(), state());
        let st = &sh.st;
        let mut o = Order::first(0xA, 15, Some(10), Some(0), st);
        assert_eq!((st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (5, 5));
        assert_eq!((o.expected, pair(st, 0)), (15, (0xA, 15)));
        let mut ready = Vec::new();
        o.offer(12, vec![12], st, &mut ready);
        assert_eq!(st.get(w::OUT_OF_ORDER), 1);
        assert!(ready[0].save.is_none(), "a late message moves no resume point");
        assert_eq!(st.get(w::GAPS), 5, "not taken out before it is put");
        sh.deliver_all(&mut sh.inner.lock().unwrap(), ready);
        assert_eq!(q.get_bytes().unwrap(), [12]);
        assert_eq!((st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (4, 4));
        // A late message that cannot be put (the target ended) stays counted as lost.
        let mut ready = Vec::new();
        o.offer(13, vec![13], st, &mut ready);
        q.close();
        sh.deliver_all(&mut sh.inner.lock().unwrap(), ready);
        assert_eq!((st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (4, 4));
        // A numbering that started again is not counted.
        let st = state();
        let o = Order::first(0xA, 3, Some(10), Some(0), &st);
        assert_eq!((o.expected, st.get(w::GAPS), st.get(w::MISSED_WHILE_DOWN)), (3, 0, 0));
    }

    #[test]
    fn a_skipped_hole_moves_the_resume_point_with_the_message_put_before_it() {
        let st = state();
        let mut o = Order::first(0xA, 0, None, Some(0), &st);
        let mut ready = Vec::new();
        o.offer(0, vec![0], &st, &mut ready);
        o.offer(3, vec![3], &st, &mut ready);
        o.skip_hole(&st, &mut ready);
        assert_eq!(st.get(w::GAPS), 2);
        let saves: Vec<_> = ready.iter().map(|r| r.save).collect();
        assert_eq!(saves, [Some((0, 3)), Some((0, 4))], "message 0 carries the point past the hole");
        assert_eq!(pair(&st, 0), (0xA, 0), "nothing written before a message is put");
        // With no message before the hole waiting to be put, the point moves at once.
        let mut ready = Vec::new();
        o.offer(6, vec![6], &st, &mut ready);
        o.skip_hole(&st, &mut ready);
        assert_eq!(pair(&st, 0), (0xA, 6));
        assert_eq!(ready.iter().map(|r| r.save).collect::<Vec<_>>(), [Some((0, 7))]);
    }
}

#[cfg(test)]
mod numbering {
    //! The numbering against what a network can do to a source's samples: lose some,
    //! swap neighbours, hold one back past its hole's timeout. (Not send one twice: a
    //! reliable Zenoh link does not, and a number that comes twice cannot be told from one
    //! that comes late.)
    use super::*;

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn every_number_is_put_once_in_order_or_counted_lost() {
        for seed in 1..=200u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let n = 1 + rng.below(300);
            // What the network hands on: some numbers lost, some out of order.
            let mut arrivals: Vec<u64> = (0..n).filter(|_| rng.below(10) != 0).collect();
            for i in 1..arrivals.len() {
                if rng.below(8) == 0 {
                    arrivals.swap(i - 1, i);
                }
                if rng.below(40) == 0 {
                    // Far behind: it comes after its hole was given up.
                    let j = i.saturating_sub(1 + rng.below(20) as usize);
                    arrivals.swap(j, i);
                }
            }
            let Some(&first) = arrivals.first() else { continue };

            let st = State::named_or_anonymous(None).unwrap();
            let mut o = Order::first(0xA, first, None, Some(0), &st);
            let mut put: Vec<u64> = Vec::new();
            let take = |ready: Vec<Ready>, put: &mut Vec<u64>| {
                for r in ready {
                    let seq = u64::from_le_bytes(r.msg.try_into().unwrap());
                    if let Some((slot, next)) = r.save {
                        save(&st, slot, next);
                    }
                    if r.late.is_some() {
                        st.sub_one_unless_zero(w::GAPS);
                    }
                    put.push(seq);
                }
            };
            for &seq in &arrivals {
                let mut ready = Vec::new();
                if o.in_turn(seq) {
                    put.push(seq);
                    save(&st, 0, o.expected);
                } else {
                    o.offer(seq, seq.to_le_bytes().to_vec(), &st, &mut ready);
                }
                if rng.below(16) == 0 {
                    // The hole went stale: given up.
                    o.skip_hole(&st, &mut ready);
                }
                take(ready, &mut put);
            }
            // Nothing more comes: every hole is given up.
            while !o.stash.is_empty() {
                let mut ready = Vec::new();
                o.skip_hole(&st, &mut ready);
                take(ready, &mut put);
            }

            // Numbers from `first` on: each one that came is put; the ones that never came
            // are the gaps. Numbers before `first` came late and were put late.
            let came: std::collections::BTreeSet<u64> = arrivals.iter().copied().collect();
            let put_set: std::collections::BTreeSet<u64> = put.iter().copied().collect();
            assert_eq!(put_set, came, "seed {seed}: every number that came is put");
            let last = *came.iter().next_back().unwrap();
            let never = (first..=last).filter(|s| !came.contains(s)).count() as u64;
            assert_eq!(st.get(w::GAPS), never, "seed {seed}: the gaps are the numbers that never came");
            assert_eq!(pair(&st, 0).1, last + 1, "seed {seed}: the resume point is past the last");
            assert_eq!(put.len(), came.len(), "seed {seed}: none put twice");
            // In order, apart from late ones, which come after their hole was given up.
            let late = st.get(w::OUT_OF_ORDER) as usize;
            let descents = put.windows(2).filter(|w| w[0] > w[1]).count();
            assert!(descents <= late, "seed {seed}: {put:?}");
        }
    }

    fn pair(st: &State, slot: usize) -> (u64, u64) {
        (st.get(w::RESUME + 2 * slot), st.get(w::RESUME + 2 * slot + 1))
    }
}
