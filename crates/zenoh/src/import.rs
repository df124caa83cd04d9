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
//! source, and 64 MiB of payload over all sources: past that, the holes of the source
//! holding the most are given up) until the hole before it fills; a hole that sees no
//! progress for 300 ms is counted in `gaps` (messages lost upstream) and the samples
//! behind it go on (a thread of the importer's looks for stale holes every 20 ms while no
//! sample comes). Time spent waiting for room in the local queue does not count against a
//! hole: the samples that fill it cannot come in meanwhile. This keeps
//! a source's order across an exporter's restart, when the dead bridge's last samples,
//! still in the old connection's buffers, can reach Zenoh after the new bridge's first.
//! A sample whose place was already given up is delivered late (counted in
//! `out_of_order`, and taken out of `gaps`); one whose number was delivered already is a
//! repeat, dropped (counted in `out_of_order` and `dropped_newest`; the numbers given up
//! are kept as up to 256 ranges per source, and a sample below the oldest is delivered
//! late, uncounted). An importer follows up to 1 024 sources: a
//! new one beyond takes the place of the one heard from least recently with nothing
//! waiting (which, should it come back, starts afresh).
//!
//! # Crashes
//!
//! A killed importer loses the samples waiting behind a hole and the one it was putting
//! (the local queue itself stays intact: it is only used through its crash-safe calls),
//! and whatever its sources publish until Zenoh tells them the subscriber is gone. Its
//! state object keeps, for up to 24 sources, a resume point: every number below it has
//! been put or counted in `gaps`. It is written after each put; a hole given up on moves
//! it with the message put last before the hole. A restarted importer on that state
//! picks the numbering up there: when such a source's next sample comes, every number it
//! skipped is counted in `gaps` and in `missed_while_down`. The count errs towards
//! "lost", never towards "delivered": a kill between a put and the write after it counts
//! that one message as missed too, and a kill in the instant between counting a hole and
//! moving the point past it counts that hole twice. A source beyond the 24 starts afresh,
//! and what it lost while the importer was down goes uncounted; a pair whose source this
//! importer has not heard from, or failing that has not heard from for 10 s (a dead
//! exporter's), goes to a new source that needs one.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use shmkit_core::Deadline;
use zenoh::sample::Sample;
use zenoh::Wait;

use crate::error::BridgeError;
use crate::local::{Message, PutFail, Target, STAMP, TYPED};
use crate::session::Session;
use crate::state::{import as w, Kind, State};

mod order;
mod put;
#[cfg(test)]
mod tests;

use order::{save, Ready, Sources};
use put::deliver;

/// How long one wait lasts before the loop looks at its stop flag again.
const POLL: Duration = Duration::from_millis(100);
/// How often the loop looks at holes while samples wait behind one.
const HOLE_POLL: Duration = Duration::from_millis(20);

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
    /// bridge has it. The object is marked as an importer's when first used; an exporter's
    /// is refused ([`BridgeError::WrongState`]). A restarted importer resumes its sources'
    /// numbering from it. Without it the counters end with the importer.
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
    /// Incoming messages dropped: the local queue was full ([`Backpressure::DropNewest`],
    /// or `Block` once the importer is stopping), the sample came after a stop's hand-on,
    /// or a sample repeated a number delivered already or waiting behind a hole.
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
    /// Reads the counters of the importer whose state object is `name`, from any process,
    /// while it runs or after it ended: from a copy of the object, which is never mapped
    /// and never joined. Each counter is as it was at the copy (one changing at that
    /// instant may read torn: read again).
    ///
    /// # Errors
    ///
    /// [`BridgeError::WrongState`] if it is not an importer's state; [`BridgeError::State`] if
    /// it cannot be read (there is no such object).
    pub fn read(name: &str) -> Result<Self, BridgeError> {
        let words = State::read(name, Kind::Import)?;
        Ok(Self::of(|w| words.get(w)))
    }

    /// Everything dropped on this side: by a policy, or as malformed.
    pub fn drops(&self) -> u64 {
        // Read from shared memory: any values.
        self.dropped_oldest.saturating_add(self.dropped_newest).saturating_add(self.malformed)
    }

    /// The counters, from a state's words.
    pub(crate) fn of(get: impl Fn(usize) -> u64) -> Self {
        Self {
            received: get(w::RECEIVED),
            put: get(w::PUT),
            bytes: get(w::BYTES),
            dropped_oldest: get(w::DROPPED_OLDEST),
            dropped_newest: get(w::DROPPED_NEWEST),
            gaps: get(w::GAPS),
            out_of_order: get(w::OUT_OF_ORDER),
            malformed: get(w::MALFORMED),
            unstamped: get(w::UNSTAMPED),
            restarts: get(w::RESTARTS),
            missed_while_down: get(w::MISSED_WHILE_DOWN),
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
    /// Waits, at most `limit`, until no callback runs.
    fn settle(&self, limit: Duration);
}

impl<T: Send> Stop for Shared<T> {
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn settle(&self, limit: Duration) {
        let deadline = Deadline::after(limit);
        while self.busy.load(Ordering::Acquire) != 0 && !deadline.has_passed() {
            std::thread::sleep(Duration::from_millis(1));
        }
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
/// [`BridgeError::WrongState`] (the named state is the other side's, or no bridge's),
/// [`BridgeError::InUse`].
pub fn import<T: Target>(
    session: &Session,
    key: &str,
    target: T,
    opts: &ImportOptions,
) -> Result<Importer, BridgeError> {
    let ke = zenoh::key_expr::KeyExpr::try_from(key.to_owned())
        .map_err(|e| BridgeError::KeyExpr { key: key.to_owned(), reason: e.to_string() })?;
    let state = Arc::new(State::claim(opts.state.as_deref(), Kind::Import)?);
    let shared = Arc::new(Shared::new(target, state.clone(), opts.backpressure));
    let (sh, gone) = (shared.clone(), CallbackGone(shared.clone()));
    let subscriber = session
        .inner
        .declare_subscriber(ke)
        .callback(move |sample: Sample| {
            // Dropped with the callback: tells the keeper the subscription is over.
            let _ = &gone;
            let _busy = Busy::enter(&sh.busy);
            // Borrowed when Zenoh holds them in one piece: a message delivered in its
            // turn is put straight from the payload, with no copy of its own.
            let attachment = sample.attachment().map(|a| a.to_bytes());
            sh.on_sample(&sample.payload().to_bytes(), attachment.as_deref());
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
    /// Callbacks running now.
    busy: AtomicU32,
    policy: Backpressure,
}

/// Counts a running callback, for as long as it lives.
struct Busy<'a>(&'a AtomicU32);

impl<'a> Busy<'a> {
    fn enter(busy: &'a AtomicU32) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(busy)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What one delivery at a time holds.
struct Inner<T> {
    target: T,
    sources: Sources,
    /// Set once a stop has handed on what waited: a sample that comes after is dropped.
    flushed: bool,
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
    /// The importer around `target`, with the resume points a previous importer left in
    /// `st` (booking a restart if there was one).
    fn new(target: T, st: Arc<State>, policy: Backpressure) -> Self {
        Self {
            inner: Mutex::new(Inner { target, sources: Sources::new(&st), flushed: false, outcome: None }),
            st,
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            busy: AtomicU32::new(0),
            policy,
        }
    }

    /// One sample (its payload, and its attachment: a peer's, so anything), in the thread
    /// Zenoh calls back on: numbered into its source's order, and every message now due
    /// put into the target. With [`Backpressure::Block`] this waits for room, so that
    /// Zenoh stops reading from the link and pushes back.
    fn on_sample(&self, payload: &[u8], attachment: Option<&[u8]>) {
        if self.stop.load(Ordering::Relaxed) {
            return;
        }
        let st = &self.st;
        st.add(w::RECEIVED, 1);
        st.add(w::BYTES, payload.len() as u64);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A stop's hand-on is over: nothing more goes in. (Before it, a sample is
        // numbered as any other: after a stop, no put waits for room.)
        if inner.flushed {
            st.add(w::DROPPED_NEWEST, 1);
            return;
        }
        // The target ended (the keeper may have taken the outcome already) while this
        // callback waited for the lock: deliver nothing more.
        if self.done.load(Ordering::Acquire) {
            return;
        }
        let mut ready: Vec<Ready> = Vec::new();
        // Whether the sample is due now, and the resume point to write once it is put.
        // The stamp: 16 bytes, then perhaps a byte of flags (a typed value's). Any other
        // length is no stamp.
        let stamp = attachment.filter(|a| a.len() == STAMP || a.len() == STAMP + 1);
        let typed = stamp.and_then(|a| a.get(STAMP)).is_some_and(|flags| flags & TYPED != 0);
        let (in_turn, point) = match stamp {
            Some(stamp) => {
                let source = u64::from_le_bytes(stamp[..8].try_into().unwrap_or_default());
                let seq = u64::from_le_bytes(stamp[8..STAMP].try_into().unwrap_or_default());
                let sources = &mut inner.sources;
                // What a peer wrote: the last number has no next; a new source when every
                // one followed has samples waiting is not followed. Either goes on
                // unchecked.
                match (seq != u64::MAX).then(|| sources.follow(source, seq, st)).flatten() {
                    None => {
                        st.add(w::UNSTAMPED, 1);
                        (true, None)
                    }
                    Some(order) => {
                        if order.in_turn(seq) {
                            (true, order.slot.map(|slot| (slot, order.expected)))
                        } else {
                            let msg = Message { bytes: payload.to_vec(), typed };
                            sources.offer(source, seq, msg, st, &mut ready);
                            (false, None)
                        }
                    }
                }
            }
            None => {
                st.add(w::UNSTAMPED, 1);
                (true, None)
            }
        };
        if in_turn {
            if !self.deliver_one(&mut inner, payload, typed) {
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
        inner.sources.give_up_stale(&self.st, &mut ready);
        for r in ready {
            if !self.deliver_one(inner, &r.msg.bytes, r.msg.typed) {
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
    fn deliver_one(&self, inner: &mut Inner<T>, msg: &[u8], typed: bool) -> bool {
        let end = match deliver(&mut inner.target, msg, typed, self.policy, &self.st, &self.stop) {
            Ok(waited) => {
                if let Some(waited) = waited {
                    inner.sources.held_up(waited);
                }
                return true;
            }
            Err(PutFail::Malformed | PutFail::Full) => return true,
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
                // Stopped, or the subscription is over: what waits behind holes goes on
                // without waiting for room (what finds none is dropped, as the policy
                // says, and counted), and the holes are counted.
                self.stop.store(true, Ordering::Relaxed);
                let mut ready = Vec::new();
                inner.sources.give_up_all(&self.st, &mut ready);
                self.deliver_all(&mut inner, ready);
                inner.flushed = true;
                return inner.outcome.take().unwrap_or(Ok(()));
            }
            if inner.sources.any_waiting() {
                self.deliver_all(&mut inner, Vec::new());
            }
        }
    }
}

impl Importer {
    /// The counters now.
    pub fn stats(&self) -> ImportStats {
        ImportStats::of(|w| self.state.get(w))
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
    /// wait behind a hole go on, their holes counted in `gaps`, as the policy says but
    /// without waiting for room: with `Block`, what finds no room is counted in
    /// `dropped_newest` (with `DropOldest`, older messages make room, counted in
    /// `dropped_oldest`). Samples that come after it are not received. The same hand-on
    /// happens when the subscription ends first (its session closed).
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
            // No more samples, and none being put, so that the counters are final:
            // undeclaring starts no new callback, and one still running sees the stop
            // within `POLL` (one that starts after the stop counts nothing).
            if let Some(sub) = self.subscriber.take() {
                let _ = sub.undeclare().wait();
            }
            self.shared.settle(POLL * 10);
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
