//! The exporter: every message taken from a local object is published on a key
//! expression.
//!
//! # The loop
//!
//! One thread per exporter, holding the local object's handle and one Zenoh publisher
//! (reliable; congestion control `Block` by default):
//!
//! 1. While no subscriber matches the key (and [`ExportOptions::wait_for_importer`] is
//!    on, the default), take nothing: messages wait in the local object, which pushes
//!    back on its producers when full. Zenoh's matching listener tells the exporter as
//!    soon as the last subscriber goes (an importer stopped, or its link broken by a
//!    crash), so that it stops taking then, not at its next look.
//! 2. Mark `TAKING`, take one message (waiting at most 50 ms, to see a stop), `TAKEN += 1`
//!    (its old value is the message's sequence number), clear `TAKING`.
//! 3. Publish it with a 16-byte attachment: the exporter's source id and the sequence
//!    number, both little-endian u64. A typed value's has a 17th byte of flags, bit 0 set
//!    (its payload is the value's encoding, as the local object held it; the other bits
//!    are reserved, and importers ignore them). An importer from before typed values
//!    takes such a sample as unstamped: it delivers the value as bytes, outside the
//!    numbering, so upgrade importers first. With `Block`, this waits while Zenoh's
//!    queue to the subscribers is full: backpressure reaches the local producers through
//!    the local object.
//! 4. `PUBLISHED += 1`.
//!
//! The thread asks the kernel for the shortest time slice it grants (0.1 ms, Linux 6.12;
//! ignored by older kernels): it runs a few microseconds per message. Without it, on a
//! core shared with Zenoh's threads, the Zenoh thread that a publish wakes preempted the
//! exporter before the publish was done (in two round trips of three in the bench), only
//! to block on a lock the exporter still held and be woken a second time.
//!
//! # Crashes
//!
//! The counters live in the exporter's state object. A bridge killed between 2 and 4
//! leaves `TAKEN - PUBLISHED` = 1 message taken but perhaps never handed to Zenoh (a kill
//! just after the publish returned, before step 4, reports one that went); killed inside
//! the take (step 2, `TAKING` = 1), it may have lost one message inside the local
//! object's `get` (shmkit's queues never deliver a message twice, so a reader killed
//! mid-read loses it). A message handed to Zenoh but still in its send queue when the
//! process dies is lost too: the importer sees it as a gap in the numbering. An exporter
//! started on an existing state object reports the first two in its
//! [`Recovered`] and continues the numbering, so that the importer counts every lost
//! message as a gap. The local object is only ever used through its own crash-safe
//! calls, so a kill leaves it intact for the restarted bridge.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use shmkit_core::{child, Deadline};
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::error::BridgeError;
use crate::local::{Source, TakeError, STAMP, TYPED};
use crate::session::Session;
use crate::state::{self, export as w, Kind, State};

/// How long one take waits before the loop looks at its stop flag again.
const TICK: Duration = Duration::from_millis(50);
/// How many messages pass between two looks at the clock (and at whether the session is
/// still open) while messages keep coming.
const TICK_CHECK: u32 = 64;

/// What Zenoh does with a sample when its queue towards a subscriber is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Congestion {
    /// Wait for room (the default): no sample is dropped by Zenoh, and a slow importer
    /// slows the exporter, and through the local object its producers.
    #[default]
    Block,
    /// Drop the sample: the exporter never waits; the importer counts what is lost as
    /// gaps.
    Drop,
}

/// Options of [`export`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    state: Option<String>,
    congestion: Congestion,
    wait_for_importer: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ExportOptions {
    /// Anonymous state, [`Congestion::Block`], waiting for an importer.
    pub fn new() -> Self {
        Self { state: None, congestion: Congestion::Block, wait_for_importer: true }
    }

    /// Keeps the exporter's counters in the named shared-memory object `name` (made if
    /// missing, an `Array<u64>`), so that a restarted exporter reports what the crash cost
    /// and continues the numbering. One bridge at a time per state name: [`export`] fails
    /// with [`BridgeError::InUse`] while another live bridge has it. The object is marked
    /// as an exporter's when first used; an importer's is refused
    /// ([`BridgeError::WrongState`]). Without it the counters end with the exporter.
    pub fn state(mut self, name: impl Into<String>) -> Self {
        self.state = Some(name.into());
        self
    }

    /// What Zenoh does when its queue is full (default [`Congestion::Block`]).
    pub fn congestion(mut self, congestion: Congestion) -> Self {
        self.congestion = congestion;
        self
    }

    /// Whether to take from the local object only while a subscriber matches the key
    /// (default: yes). Off, messages published while no importer listens are lost.
    pub fn wait_for_importer(mut self, on: bool) -> Self {
        self.wait_for_importer = on;
        self
    }
}

/// What a restarted exporter found in its state object: what the previous bridge's end
/// may have cost (nothing for a new state object, or after a clean stop), and where the
/// numbering goes on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Messages the previous bridge had taken from the local object and not counted as
    /// handed to Zenoh (0 or 1): lost, unless the kill came between the publish and its
    /// count (the importer's gaps tell which).
    pub unpublished: u64,
    /// 1 if the previous bridge died inside a take: one message may have been lost inside
    /// the local object's `get`.
    pub mid_take: u64,
    /// The sequence number this exporter continues from.
    pub next_seq: u64,
}

impl Recovered {
    /// The most messages the previous bridge's end can have lost before Zenoh, as far as
    /// this side knows (messages in Zenoh's send queue at the crash come on top; the
    /// importer counts all of them as gaps).
    pub fn at_most_lost(&self) -> u64 {
        self.unpublished + self.mid_take
    }
}

/// An exporter's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Messages taken from the local object (by every bridge on this state).
    pub taken: u64,
    /// Messages handed to Zenoh.
    pub published: u64,
    /// Payload bytes handed to Zenoh.
    pub bytes: u64,
    /// Over all restarts, messages taken and not published when a bridge died.
    pub crash_unpublished: u64,
    /// Over all restarts, bridges that died during a take.
    pub crash_mid_take: u64,
    /// Times a bridge attached to an existing state object.
    pub restarts: u64,
}

impl ExportStats {
    /// Reads the counters of the exporter whose state object is `name`, from any process,
    /// while it runs or after it ended: from a copy of the object, which is never mapped
    /// and never joined. Each counter is as it was at the copy (one changing at that
    /// instant may read torn: read again).
    ///
    /// # Errors
    ///
    /// [`BridgeError::WrongState`] if it is not an exporter's state; [`BridgeError::State`] if
    /// it cannot be read (there is no such object).
    pub fn read(name: &str) -> Result<Self, BridgeError> {
        let words = State::read(name, Kind::Export)?;
        Ok(Self::of(|w| words.get(w)))
    }

    /// The counters, from a state's words.
    pub(crate) fn of(get: impl Fn(usize) -> u64) -> Self {
        Self {
            taken: get(w::TAKEN),
            published: get(w::PUBLISHED),
            bytes: get(w::BYTES),
            crash_unpublished: get(w::CRASH_UNPUBLISHED),
            crash_mid_take: get(w::CRASH_MID_TAKE),
            restarts: get(w::RESTARTS),
        }
    }
}

/// A running exporter: see [`export`]. Dropping it stops it.
pub struct Exporter {
    stop: Arc<AtomicBool>,
    state: Arc<State>,
    recovered: Recovered,
    thread: Option<JoinHandle<Result<(), BridgeError>>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").field("recovered", &self.recovered).field("stats", &self.stats()).finish()
    }
}

/// Publishes every message taken from `source` on the key expression `key`, from a thread
/// of its own, until the source ends (closed and empty, or its writers gone), the
/// exporter is stopped, or Zenoh fails. One publisher per exporter, samples in the order
/// taken: a subscriber gets them in that order (per key, per exporter). The exporter
/// holds a handle to `session`, which stays open while it runs.
///
/// # Examples
///
/// ```no_run
/// use shmkit_mq::MessageQueue;
/// use shmkit_zenoh::{export, ExportOptions, Session, SessionConfig};
///
/// // Host A: messages put into the local queue "jobs" go to Zenoh as "shmkit/jobs".
/// let session = Session::open(&SessionConfig::peer().listen("tcp/0.0.0.0:7447"))?;
/// let jobs = MessageQueue::open("jobs")?;
/// let exporter = export(&session, jobs, "shmkit/jobs", &ExportOptions::new().state("jobs-export"))?;
/// println!("previous run lost at most {} messages", exporter.recovered().at_most_lost());
/// exporter.join()?; // until the queue is closed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`BridgeError::KeyExpr`], [`BridgeError::Declare`], [`BridgeError::State`],
/// [`BridgeError::WrongState`] (the named state is the other side's, or no bridge's),
/// [`BridgeError::InUse`].
pub fn export<S: Source>(
    session: &Session,
    mut source: S,
    key: &str,
    opts: &ExportOptions,
) -> Result<Exporter, BridgeError> {
    let ke = zenoh::key_expr::KeyExpr::try_from(key.to_owned())
        .map_err(|e| BridgeError::KeyExpr { key: key.to_owned(), reason: e.to_string() })?;
    let state = Arc::new(State::claim(opts.state.as_deref(), Kind::Export)?);
    let recovered = recover(&state);
    let publisher = session
        .inner
        .declare_publisher(ke)
        .congestion_control(match opts.congestion {
            Congestion::Block => CongestionControl::Block,
            Congestion::Drop => CongestionControl::Drop,
        })
        .wait()
        .map_err(|e| BridgeError::Declare { key: key.to_owned(), reason: e.to_string() })?;
    // Zenoh calls the listener at once if a subscriber matches already, then on each
    // change: it is the flag's only writer.
    let matching = Arc::new(AtomicBool::new(!opts.wait_for_importer));
    let listener = if opts.wait_for_importer {
        let m = matching.clone();
        let listener = publisher
            .matching_listener()
            .callback(move |s| m.store(s.matching(), Ordering::Release))
            .wait()
            .map_err(|e| BridgeError::Declare { key: key.to_owned(), reason: e.to_string() })?;
        Some(listener)
    } else {
        None
    };
    // The exporter keeps the session open while it runs.
    let zsession = session.inner.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let (st, stp) = (state.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("shmkit-zenoh-export".into())
        .spawn(move || {
            // A hint: a kernel that takes no slice request (or refuses it) changes nothing.
            let _ = child::request_time_slice(child::MIN_TIME_SLICE);
            let _listener = listener;
            let closed = || BridgeError::Publish("the session was closed".into());
            let source_id = st.get(w::SOURCE);
            // The end of this tick: a take waits at most until then, to see a stop. The
            // clock is read once per tick (and looked at once per `TICK_CHECK` messages),
            // never per message.
            let mut tick = Deadline::after(TICK);
            let mut since_look: u32 = 0;
            loop {
                if stp.load(Ordering::Relaxed) {
                    return Ok(());
                }
                since_look += 1;
                if since_look >= TICK_CHECK {
                    since_look = 0;
                    if tick.has_passed() {
                        tick = Deadline::after(TICK);
                    }
                    if zsession.is_closed() {
                        return Err(closed());
                    }
                }
                if !matching.load(Ordering::Acquire) {
                    // Nothing is taken without a subscriber, but a source that has ended
                    // (closed and empty) ends the exporter all the same, and so does a
                    // closed session: nothing will ever match again.
                    if source.has_ended() {
                        return Ok(());
                    }
                    if zsession.is_closed() {
                        return Err(closed());
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                st.store(w::TAKING, 1);
                let msg = match source.take(tick) {
                    Ok(msg) => msg,
                    Err(TakeError::Timeout) => {
                        st.store(w::TAKING, 0);
                        // Idle (or the tick had passed): a new tick.
                        since_look = TICK_CHECK;
                        tick = Deadline::PASSED;
                        continue;
                    }
                    Err(TakeError::Ended) => {
                        st.store(w::TAKING, 0);
                        return Ok(());
                    }
                    Err(TakeError::Failed(e)) => {
                        st.store(w::TAKING, 0);
                        return Err(BridgeError::Local(e));
                    }
                };
                // Taken: from here a kill is counted as `TAKEN - PUBLISHED`. The old count
                // is the message's sequence number.
                let seq = st.add(w::TAKEN, 1);
                st.store(w::TAKING, 0);
                let len = msg.bytes.len() as u64;
                let mut stamp = [0u8; STAMP + 1];
                stamp[..8].copy_from_slice(&source_id.to_le_bytes());
                stamp[8..16].copy_from_slice(&seq.to_le_bytes());
                stamp[STAMP] = TYPED;
                let stamp = if msg.typed { &stamp[..] } else { &stamp[..STAMP] };
                publisher
                    .put(ZBytes::from(msg.bytes))
                    .attachment(ZBytes::from(stamp))
                    .wait()
                    .map_err(|e| BridgeError::Publish(e.to_string()))?;
                st.add(w::BYTES, len);
                st.add(w::PUBLISHED, 1);
            }
        })
        .map_err(|e| BridgeError::Local(format!("could not start the exporter's thread: {e}")))?;
    Ok(Exporter { stop, state, recovered, thread: Some(thread) })
}

/// Reads what a previous bridge left in `state`, books it, and sets the state for this one.
fn recover(state: &State) -> Recovered {
    if !state.used_before || state.get(w::SOURCE) == 0 {
        state.store(w::SOURCE, state::random_nonzero());
        return Recovered::default();
    }
    let taken = state.get(w::TAKEN);
    let unpublished = taken.saturating_sub(state.get(w::PUBLISHED));
    let mid_take = state.get(w::TAKING).min(1);
    state.add(w::CRASH_UNPUBLISHED, unpublished);
    state.add(w::CRASH_MID_TAKE, mid_take);
    state.add(w::RESTARTS, 1);
    state.store(w::PUBLISHED, taken);
    state.store(w::TAKING, 0);
    Recovered { unpublished, mid_take, next_seq: taken }
}

impl Exporter {
    /// What this exporter found left by a previous one on its state object.
    pub fn recovered(&self) -> Recovered {
        self.recovered
    }

    /// The counters now.
    pub fn stats(&self) -> ExportStats {
        ExportStats::of(|w| self.state.get(w))
    }

    /// Whether the exporter's thread has ended (its source ended, or it failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits until the source ends (or Zenoh fails), then returns the counters.
    ///
    /// # Errors
    ///
    /// What stopped the exporter: [`BridgeError::Publish`], [`BridgeError::Local`],
    /// [`BridgeError::Panicked`].
    pub fn join(mut self) -> Result<ExportStats, BridgeError> {
        self.finish()
    }

    /// Stops the exporter (within about 50 ms, or when a blocked publish returns) and
    /// returns the counters. No message is lost by a stop: one is taken only when it will
    /// be published.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn stop(mut self) -> Result<ExportStats, BridgeError> {
        self.stop.store(true, Ordering::Relaxed);
        self.finish()
    }

    fn finish(&mut self) -> Result<ExportStats, BridgeError> {
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| BridgeError::Panicked)??;
        }
        Ok(self.stats())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.finish();
    }
}
