//! Bridges shmkit's queues and pipes onto [Zenoh](https://zenoh.io), so that one program
//! spans hosts: on each host, processes use plain shmkit objects; a bridge carries the
//! messages between hosts over Zenoh, the engine iceoryx2 uses for the same job.
//!
//! - [`export`]: every message put into a local [`MessageQueue`](shmkit_mq::MessageQueue),
//!   Pod [`Queue<T>`](shmkit_queue::Queue) or simplex pipe ([`Receiver`](shmkit_pipe::Receiver))
//!   is taken and published on a Zenoh key expression.
//! - [`import`]: every sample received on a key expression is put into a local
//!   `MessageQueue` or `Queue<T>`.
//! - The `shmkit bridge export NAME KEYEXPR` and `shmkit bridge import KEYEXPR NAME`
//!   commands do the same without code (the `shmkit` command built with `--features zenoh`);
//!   `shmkit bridge stats STATE` shows either side's counters ([`BridgeStats`]).
//!
//! # Two hosts
//!
//! Host A (its producers put into the local queue `jobs`):
//!
//! ```no_run
//! use shmkit_mq::MessageQueue;
//! use shmkit_zenoh::{export, ExportOptions, Session, SessionConfig};
//!
//! let session = Session::open(&SessionConfig::peer().listen("tcp/0.0.0.0:7447"))?;
//! let jobs = MessageQueue::open_or_create("jobs", 1000)?;
//! let exporter = export(&session, jobs, "shmkit/jobs", &ExportOptions::new().state("jobs-export"))?;
//! exporter.join()?; // until the local queue is closed
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Host B (its consumers get from its own local queue `jobs`):
//!
//! ```no_run
//! use shmkit_mq::MessageQueue;
//! use shmkit_zenoh::{import, ImportOptions, Session, SessionConfig};
//!
//! let session = Session::open(&SessionConfig::peer().connect("tcp/host-a:7447"))?;
//! let jobs = MessageQueue::open_or_create("jobs", 1000)?;
//! let importer = import(&session, "shmkit/jobs", jobs, &ImportOptions::new())?;
//! importer.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! - **Order.** One exporter is one Zenoh publisher, reliable, its samples sent in the
//!   order taken from the local object; an importer puts them in the order received. So
//!   the messages of one local producer arrive in the order it put them. Two exporters on
//!   one key are two sources: each keeps its order, their interleaving is arbitrary.
//! - **Backpressure.** An exporter takes from the local object only while an importer
//!   matches its key ([`ExportOptions::wait_for_importer`]); it publishes with Zenoh's
//!   `Block` congestion control by default ([`Congestion`]). An importer whose local queue
//!   is full waits for room ([`Backpressure::Block`], the default: Zenoh then pushes back
//!   on the exporter, which pushes back on the local producers), or drops the oldest
//!   ([`Backpressure::DropOldest`]) or the newest ([`Backpressure::DropNewest`])
//!   message, counted in [`ImportStats`].
//! - **Crashes.** A killed bridge costs at most the messages in flight: for an exporter,
//!   the one message it had taken and not handed to Zenoh, possibly one inside the local
//!   object's `get`, and what was in Zenoh's send queue; for an importer, the one it was
//!   putting and those waiting behind a hole in the numbering. Every sample carries its exporter's id
//!   and a sequence number; an exporter restarted on the same state object
//!   ([`ExportOptions::state`]) reports what may have been lost ([`Exporter::recovered`])
//!   and continues the numbering, and the importer counts every missing number as a gap
//!   ([`ImportStats::gaps`]). The local objects are touched only through their own
//!   crash-safe calls, so a restarted bridge reattaches to them intact.
//!
//! # Zenoh
//!
//! The session is configured explicitly ([`SessionConfig`]): peer mode, the given
//! endpoints, multicast scouting off unless asked for. Only Zenoh's TCP transport is
//! compiled in. The bridge uses Zenoh's blocking API, on threads of its own and (the
//! importer's puts) in Zenoh's callbacks; no async
//! runtime appears in this crate's API, and Zenoh's errors are carried as text in
//! [`BridgeError`].

mod error;
mod export;
mod import;
mod local;
mod session;
mod state;

pub use error::BridgeError;
pub use export::{export, Congestion, ExportOptions, ExportStats, Exporter, Recovered};
pub use import::{import, Backpressure, ImportOptions, ImportStats, Importer};
pub use local::{Message, PutFail, Source, TakeError, Target};
pub use session::{Session, SessionConfig};

/// The counters of either side of a bridge, read from its state object by name: what
/// `shmkit bridge stats` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BridgeStats {
    /// An exporter's state.
    Export(ExportStats),
    /// An importer's state.
    Import(ImportStats),
}

impl BridgeStats {
    /// Reads the state object `name`, from any process, whichever side of a bridge it is
    /// for.
    ///
    /// # Errors
    ///
    /// [`BridgeError::WrongState`] if it is not a bridge's state; [`BridgeError::State`] if
    /// it cannot be read (there is no such object).
    pub fn read(name: &str) -> Result<Self, BridgeError> {
        let words = state::State::read_any(name)?;
        match words.kind() {
            Some(state::Kind::Export) => Ok(Self::Export(ExportStats::of(|w| words.get(w)))),
            Some(state::Kind::Import) => Ok(Self::Import(ImportStats::of(|w| words.get(w)))),
            None => Err(BridgeError::WrongState { name: name.to_owned(), reason: state::not_a_state(name) }),
        }
    }
}
