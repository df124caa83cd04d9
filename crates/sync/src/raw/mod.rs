//! The in-place forms: `#[repr(C)]` states made of atomics, for embedding in any segment
//! (a Value's lock, a queue's condition) or on the heap (loom, Miri).
//!
//! All-zero bytes are a valid state for each of them in production builds: an unlocked
//! lock, a cleared event, a semaphore at 0, an empty barrier (whose `parties` the creator
//! then sets). They take no references to anything but their own atomics, and every value
//! a peer could have written is either a count or an owner token that is checked before
//! use, so a corrupt state can make a call fail or wait, never misbehave.

mod barrier;
mod condition;
mod event;
mod lock;
mod owner;
mod rlock;
mod semaphore;

pub use barrier::{BarrierError, BarrierSnapshot, RawBarrier};
pub use condition::{RawCondition, Waited};
pub use event::{EventSnapshot, RawEvent};
pub use lock::{LockSnapshot, RawLock};
pub use owner::{describe_owner, token, Acquired, AlwaysAlive, Liveness, NotOwner, TOKEN_BIT};
pub use rlock::{RLockSnapshot, RawRLock};
pub use semaphore::{RawSemaphore, ReleaseError, SemaphoreSnapshot};
