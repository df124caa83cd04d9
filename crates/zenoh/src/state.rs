//! A bridge's counters, kept in a small shared-memory [`Array<u64>`] of its own so that
//! they outlive the bridge's process: a restarted exporter learns from them what the
//! crash cost and continues its numbering, and any process (a test, `shmkit inspect`)
//! can read them while the bridge runs.
//!
//! Every counter is changed with one atomic add or store (no lock), so a bridge killed at
//! any point leaves them readable; what a kill between two of them means is written at
//! the exporter's and importer's loops.
//!
//! One bridge at a time uses a named state object: its last word, [`OWNER`], holds the
//! participant id of the bridge's handle to it. A second bridge that finds a live owner
//! there gets [`BridgeError::InUse`]; one that finds a dead owner (a bridge that stopped
//! and dropped its handle, or was killed: either way its liveness lock is gone) takes the
//! state over, which is how a restarted bridge reattaches. Two exporters on one state would number
//! their samples from the same counter, and each would book the other's messages in
//! flight as lost by a crash.
//!
//! The word before it, [`KIND`], marks the object as an exporter's or an importer's when
//! it is first claimed: an exporter given an importer's state (or the other way round)
//! is refused, where it would otherwise have counted into the other's words.

use shmkit_core::{OpenError, ParticipantId};
use shmkit_ctypes::Array;

use crate::error::BridgeError;

/// The number of words in a state object.
pub(crate) const WORDS: usize = 64;

/// The word that holds the participant id of the bridge using the state (0: none).
pub(crate) const OWNER: usize = WORDS - 1;

/// The word that says which bridge the state is for: [`Kind::mark`] (0: not yet claimed).
pub(crate) const KIND: usize = WORDS - 2;

const _: () = assert!(import::RESUME + 2 * import::RESUME_SLOTS <= KIND && export::RESTARTS < KIND);

/// Which side of a bridge a state object is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Export,
    Import,
}

impl Kind {
    /// The value of the [`KIND`] word.
    const fn mark(self) -> u64 {
        match self {
            Self::Export => u64::from_le_bytes(*b"shmkZexp"),
            Self::Import => u64::from_le_bytes(*b"shmkZimp"),
        }
    }

    /// The kind a [`KIND`] word names, if any.
    pub fn of(word: u64) -> Option<Self> {
        [Self::Export, Self::Import].into_iter().find(|k| k.mark() == word)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Export => "an exporter's",
            Self::Import => "an importer's",
        }
    }

    /// Why a `self` cannot use (`Use::Claim`) or read a state whose [`KIND`] word is
    /// `found`, if it cannot: `None` for its own kind, and for a claim, for 0 (made by a
    /// bridge that has not marked it yet, or was killed first: fresh).
    fn mismatch(self, found: u64, name: &str, how: Use) -> Option<String> {
        match (Self::of(found), how) {
            (Some(k), _) if k == self => None,
            (None, Use::Claim) if found == 0 => None,
            (Some(other), Use::Claim) => Some(format!(
                "it is {} state, not {}: give each side of a bridge a state of its own (by default \
                 NAME.zexport and NAME.zimport)",
                other.describe(),
                self.describe()
            )),
            (Some(other), Use::Read) => Some(format!(
                "it is {} state, not {}: read it as that side's (`shmkit bridge stats {name}` reads either)",
                other.describe(),
                self.describe()
            )),
            (None, _) => Some(not_a_state(name)),
        }
    }
}

/// What the state is wanted for: a bridge's claim, or a reader's look.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    Claim,
    Read,
}

/// Why an array of the right size whose kind word names no side is not a state.
pub(crate) fn not_a_state(name: &str) -> String {
    format!(
        "it is not a bridge's state (no exporter or importer has claimed it): check the name; a bridge's \
         states are NAME.zexport and NAME.zimport by default{}",
        if name.ends_with(".zexport") || name.ends_with(".zimport") {
            ""
        } else {
            ", or the name it was given"
        }
    )
}

/// Why an array of `len` words is not a state, if it is not.
fn wrong_len(len: usize, name: &str, how: Use) -> Option<String> {
    let then = if how == Use::Claim { ", or give this bridge another state name" } else { "" };
    match len {
        WORDS => None,
        16 => Some(format!(
            "it looks like an older shmkit's bridge state (16 words; this version's have {WORDS}): once no \
             bridge of that version runs on it, remove it (`shmkit rm {name}`; its counters are lost){then}"
        )),
        n => Some(format!(
            "it is an array of {n} words, not a bridge's state ({WORDS}): another program's? check the \
             name{then}"
        )),
    }
}

/// A failed open of `name` as a state: another kind of object (or of element) is not a
/// state; anything else is a failure to open, which the core's error explains.
fn open_failed(name: &str, e: &OpenError) -> BridgeError {
    match e {
        OpenError::KindMismatch { .. } | OpenError::TypeMismatch { .. } => BridgeError::WrongState {
            name: name.to_owned(),
            reason: format!("it is not a bridge's state, which is an array of {WORDS} u64 words ({e})"),
        },
        OpenError::ForeignOwner { found, .. } => BridgeError::State {
            name: name.to_owned(),
            reason: format!(
                "it belongs to uid {found}, not to this user, and a bridge counts only into its own user's \
                 state: run the bridge as that user, or give it another state name"
            ),
        },
        OpenError::ForeignMode { found, .. } => BridgeError::State {
            name: name.to_owned(),
            reason: format!(
                "its mode {found:o} lets other users write it, which no bridge's state allows: give the bridge \
                 another state name"
            ),
        },
        _ => BridgeError::State { name: name.to_owned(), reason: e.to_string() },
    }
}

/// The words of an exporter's state object.
pub(crate) mod export {
    /// A random id, chosen when the state is made, that marks this exporter's samples.
    pub const SOURCE: usize = 0;
    /// Messages taken from the local object (the next message's sequence number).
    pub const TAKEN: usize = 1;
    /// Messages handed to Zenoh.
    pub const PUBLISHED: usize = 2;
    /// 1 while a take from the local object is under way.
    pub const TAKING: usize = 3;
    /// Payload bytes handed to Zenoh.
    pub const BYTES: usize = 4;
    /// Over all restarts: messages taken but not handed to Zenoh when a bridge died.
    pub const CRASH_UNPUBLISHED: usize = 5;
    /// Over all restarts: bridges that died during a take (each may have lost one message
    /// inside the local object's `get`).
    pub const CRASH_MID_TAKE: usize = 6;
    /// Times a bridge attached to this state after another had used it.
    pub const RESTARTS: usize = 7;
}

/// The words of an importer's state object.
pub(crate) mod import {
    /// Samples received from Zenoh.
    pub const RECEIVED: usize = 0;
    /// Messages put into the local queue.
    pub const PUT: usize = 1;
    /// Payload bytes received.
    pub const BYTES: usize = 2;
    /// Messages taken out of the full local queue to make room (`DropOldest`).
    pub const DROPPED_OLDEST: usize = 3;
    /// Incoming messages dropped because the local queue was full (`DropNewest`).
    pub const DROPPED_NEWEST: usize = 4;
    /// Messages missing from a source's numbering (lost upstream, e.g. by a crash).
    pub const GAPS: usize = 5;
    /// Samples whose number was at or below one already seen from the same source.
    pub const OUT_OF_ORDER: usize = 6;
    /// Samples the local queue cannot take: for a Pod queue, an item of another size or a
    /// typed value; for a message queue, one larger than it can ever hold.
    pub const MALFORMED: usize = 7;
    /// Samples without a shmkit sequence stamp (published by something else than an
    /// exporter); delivered all the same.
    pub const UNSTAMPED: usize = 8;
    /// Times an importer attached to this state after another had used it.
    pub const RESTARTS: usize = 9;
    /// Messages a restarted importer found missing when a source it had before came back
    /// (counted in `GAPS` too): lost while no importer ran, or in flight at a crash.
    pub const MISSED_WHILE_DOWN: usize = 10;
    /// The first of [`RESUME_SLOTS`] pairs of words: a source's id (0: a free pair), then
    /// the next number due from it, written after each delivery.
    pub const RESUME: usize = 11;
    /// How many sources an importer keeps resume points for.
    pub const RESUME_SLOTS: usize = 24;
}

/// A state object: named (it outlives the bridge) or anonymous (it ends with it).
pub(crate) struct State {
    words: Array<u64>,
    /// Whether another bridge used the object before this one (it found an owner there,
    /// dead): a restart. Not for an object another bridge only made, at the same moment.
    pub used_before: bool,
}

impl State {
    /// The state of a bridge of `kind`: anonymous, or the named object (made if missing),
    /// marked as `kind`'s and claimed for this bridge: its handle's participant id goes
    /// into [`OWNER`], and stays alive (its liveness lock held) until the `State` is
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`BridgeError::InUse`] if a live bridge uses it; [`BridgeError::WrongState`] if it
    /// is not a state of `kind`; [`BridgeError::State`] if it cannot be made, opened or
    /// claimed.
    pub fn claim(name: Option<&str>, kind: Kind) -> Result<Self, BridgeError> {
        let Some(name) = name else {
            let words = Array::anonymous_zeroed(WORDS)
                .map_err(|e| BridgeError::State { name: "(anonymous)".into(), reason: e.to_string() })?;
            let _ = words.swap(KIND, kind.mark());
            return Ok(Self { words, used_before: false });
        };
        let fail = |reason: String| BridgeError::State { name: name.to_owned(), reason };
        let wrong = |reason: String| BridgeError::WrongState { name: name.to_owned(), reason };
        let words = match Array::<u64>::create_zeroed(name, WORDS) {
            Ok(words) => words,
            Err(shmkit_core::CreateError::AlreadyExists { .. }) => {
                let words = Array::<u64>::open(name).map_err(|e| open_failed(name, &e))?;
                if let Some(reason) = wrong_len(words.len(), name, Use::Claim) {
                    return Err(wrong(reason));
                }
                words
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        // Mark its kind, or check it (0: made, and not yet marked, by a bridge of either
        // side, perhaps killed in between: fresh).
        let found = match words.compare_exchange(KIND, 0, kind.mark()).map_err(|e| fail(e.to_string()))? {
            Ok(_) => 0,
            Err(found) => found,
        };
        if let Some(reason) = kind.mismatch(found, name, Use::Claim) {
            return Err(wrong(reason));
        }
        // Claim it: a live owner keeps it; a dead one (or none) is replaced.
        let me = words.object().participant().map_err(|e| fail(e.to_string()))?.to_u64();
        let mut seen = words.fetch_add(OWNER, 0).map_err(|e| fail(e.to_string()))?;
        loop {
            let other = ParticipantId::from_u64(seen);
            if seen != 0 && seen != me && words.object().is_alive(other) {
                let pid = words.object().participants().iter().find(|p| p.id == other).map_or(0, |p| p.pid);
                return Err(BridgeError::InUse { name: name.to_owned(), pid });
            }
            match words.compare_exchange(OWNER, seen, me).map_err(|e| fail(e.to_string()))? {
                Ok(_) => return Ok(Self { words, used_before: seen != 0 }),
                Err(now) => seen = now,
            }
        }
    }

    /// The words of the named state object of `kind`, as they were when read, from any
    /// process: copied, never mapped, never registered (see [`Array::read_snapshot`]).
    ///
    /// # Errors
    ///
    /// [`BridgeError::WrongState`] if it is not a state of `kind`; [`BridgeError::State`]
    /// if it cannot be read.
    pub fn read(name: &str, kind: Kind) -> Result<Words, BridgeError> {
        let words = Self::read_any(name)?;
        match kind.mismatch(words.get(KIND), name, Use::Read) {
            Some(reason) => Err(BridgeError::WrongState { name: name.to_owned(), reason }),
            None => Ok(words),
        }
    }

    /// The words of the named state object, of either side, as [`read`](Self::read) reads
    /// them.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn read_any(name: &str) -> Result<Words, BridgeError> {
        let words = Array::<u64>::read_snapshot(name).map_err(|e| open_failed(name, &e))?;
        if let Some(reason) = wrong_len(words.len(), name, Use::Read) {
            return Err(BridgeError::WrongState { name: name.to_owned(), reason });
        }
        Ok(Words(words))
    }

    pub fn get(&self, word: usize) -> u64 {
        // `WORDS` words, checked at open: in range.
        self.words.fetch_add(word, 0).unwrap_or(0)
    }

    /// Adds `n` to `word`; its old value.
    pub fn add(&self, word: usize, n: u64) -> u64 {
        self.words.fetch_add(word, n).unwrap_or(0)
    }

    /// Takes one from `word`, unless it is 0.
    pub fn sub_one_unless_zero(&self, word: usize) {
        let mut v = self.get(word);
        while v > 0 {
            match self.words.compare_exchange(word, v, v - 1) {
                Ok(Err(now)) => v = now,
                _ => return,
            }
        }
    }

    pub fn store(&self, word: usize, v: u64) {
        let _ = self.words.swap(word, v);
    }
}

/// A state object's words as read at one moment ([`State::read`]): `WORDS` of them.
pub(crate) struct Words(Vec<u64>);

impl Words {
    pub fn get(&self, word: usize) -> u64 {
        self.0.get(word).copied().unwrap_or(0)
    }

    /// The side the state is for.
    pub fn kind(&self) -> Option<Kind> {
        Kind::of(self.get(KIND))
    }
}

/// A random 64-bit number, not zero (std's per-process random hash keys, mixed with the
/// time and the pid).
pub(crate) fn random_nonzero() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish().max(1)
}
