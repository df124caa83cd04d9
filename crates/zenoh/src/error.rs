//! What a bridge's calls can fail with. Zenoh's own errors are carried as text, so that
//! no Zenoh type is part of this crate's API.

use std::fmt;

/// Why a bridge could not start, or stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeError {
    /// Zenoh refused a configuration value (an endpoint of the wrong form, for example).
    Config {
        /// The configuration key.
        key: &'static str,
        /// The value given.
        value: String,
        /// What Zenoh said.
        reason: String,
    },
    /// The Zenoh session could not be opened.
    Open(String),
    /// The key expression is not one Zenoh accepts.
    KeyExpr {
        /// The key expression given.
        key: String,
        /// What Zenoh said.
        reason: String,
    },
    /// The publisher or subscriber could not be declared on the session.
    Declare {
        /// The key expression.
        key: String,
        /// What Zenoh said.
        reason: String,
    },
    /// Zenoh did not take a sample (the session was closed, for one).
    Publish(String),
    /// The bridge's state object (its counters in shared memory) could not be made or
    /// opened.
    State {
        /// The state object's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The object named as a bridge's state is not one this side can use: the other
    /// side's state, another kind of object, or a state made by an older shmkit.
    WrongState {
        /// The state object's name.
        name: String,
        /// What it is instead, and what to do.
        reason: String,
    },
    /// Another live bridge uses the state object: one bridge at a time per state object.
    InUse {
        /// The state object's name.
        name: String,
        /// The other bridge's process (for display; liveness was checked by its lock).
        pid: u32,
    },
    /// The local queue or pipe failed with something other than being full, empty or
    /// closed.
    Local(String),
    /// The bridge's thread panicked.
    Panicked,
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { key, value, reason } => write!(
                f,
                "Zenoh refused {key} = {value}: {reason}; give endpoints as PROTOCOL/ADDRESS:PORT, such as \
                 tcp/127.0.0.1:7447"
            ),
            Self::Open(e) => write!(
                f,
                "the Zenoh session could not be opened: {e}; check that the listen endpoints are free (another \
                 bridge may hold the port) and that the connect endpoints are reachable"
            ),
            Self::KeyExpr { key, reason } => write!(
                f,
                "{key:?} is not a Zenoh key expression: {reason}; use '/'-separated chunks without leading or \
                 trailing '/', such as shmkit/jobs"
            ),
            Self::Declare { key, reason } => {
                write!(f, "could not declare on {key:?}: {reason}; the session may be closing: open a new one")
            }
            Self::Publish(e) => write!(
                f,
                "Zenoh did not take a sample: {e}; restart the bridge (on a named state it resumes its numbering \
                 and reports what the stop cost)"
            ),
            Self::State { name, reason } => {
                write!(f, "the bridge's state object {name:?} could not be made or opened: {reason}")
            }
            Self::WrongState { name, reason } => {
                write!(f, "{name:?} is not the bridge state asked for: {reason}")
            }
            Self::InUse { name, pid } => write!(
                f,
                "the bridge's state object {name:?} is in use by another bridge (process {pid}): one bridge at \
                 a time per state object; stop that bridge, or give this one another state name"
            ),
            Self::Local(e) => write!(f, "the local queue or pipe failed: {e}"),
            Self::Panicked => f.write_str("the bridge's thread panicked: this is a bug, please report it"),
        }
    }
}

impl std::error::Error for BridgeError {}
