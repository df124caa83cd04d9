//! Who holds a lock: owner tokens, and whether their holders are alive.

/// Tells whether the owner of a lock is alive.
pub trait Liveness {
    /// Whether the holder of token `owner` is alive.
    fn is_alive(&self, owner: u64) -> bool;
}

/// Every owner is alive: for locks shared between threads of one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysAlive;

impl Liveness for AlwaysAlive {
    fn is_alive(&self, _owner: u64) -> bool {
        true
    }
}

/// The bit that makes every owner token non-zero (0 means "unlocked").
pub const TOKEN_BIT: u64 = 1 << 63;

/// The owner token of participant `id`.
#[inline]
pub fn token(id: shmkit_core::ParticipantId) -> u64 {
    id.to_u64() | TOKEN_BIT
}

/// Who owner token `owner` is, for display: `free`, `held by pid 4242 (alive)`, ...
pub fn describe_owner(obj: &shmkit_core::Object, owner: u64) -> String {
    match owner {
        0 => "free".to_owned(),
        w if w & TOKEN_BIT == 0 => format!("garbage owner word {w:#x}"),
        w => format!(
            "held by {}",
            shmkit_core::state::holder(obj, shmkit_core::ParticipantId::from_u64(w & !TOKEN_BIT))
        ),
    }
}

impl Liveness for shmkit_core::Object {
    fn is_alive(&self, owner: u64) -> bool {
        owner & TOKEN_BIT != 0
            && shmkit_core::Object::is_alive(self, shmkit_core::ParticipantId::from_u64(owner & !TOKEN_BIT))
    }
}

/// How a lock was acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// From a live owner, or free.
    Clean,
    /// Taken over from an owner that died holding it: the data it protects may be
    /// half-updated.
    OwnerDied,
}

/// The caller does not hold the lock it tried to release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotOwner;

impl std::fmt::Display for NotOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this process (or thread) does not hold the lock: only its owner can release it")
    }
}

impl std::error::Error for NotOwner {}
