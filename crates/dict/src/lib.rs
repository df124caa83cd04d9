//! shmkit's Manager without a server: [`Dict`], [`List`] and [`Namespace`] of serde values
//! in shared memory.
//!
//! Python's `Manager()` keeps these in a server process reached through pickled proxies:
//! tens of microseconds per access, `d[k] += 1` races, and one more process to die. Here
//! they live in shared memory, copy-on-write:
//!
//! - **Readers never wait.** A read takes no lock; it loads one commit word and follows
//!   nodes that are never written again, so it sees one committed state, never a
//!   half-applied update. A [`Snapshot`] keeps one to iterate.
//! - **Writers serialise** on a crash-aware lock, append new nodes, and commit with one
//!   store. `update` is an atomic read-modify-write. A writer killed anywhere leaves the
//!   last committed state.
//! - **They grow online.** A full arena is copied (live nodes only) into a new, larger
//!   generation object, and readers follow. No size is fixed at creation.
//!
//! See `store` for the protocol and `arena` for the format and why a forged arena cannot
//! send a reader out of bounds or into a loop.

// Under loom only the arena's algorithms are built; the handles over them are not.
#![cfg_attr(shmkit_loom, allow(dead_code, unused_imports, unused_macros))]

pub mod arena;
pub mod hamt;
pub mod vector;

#[cfg(not(shmkit_loom))]
mod dict;
mod error;
#[cfg(not(shmkit_loom))]
mod inspect;
#[cfg(not(shmkit_loom))]
mod layout;
#[cfg(not(shmkit_loom))]
mod list;
#[cfg(not(shmkit_loom))]
mod namespace;
#[cfg(not(shmkit_loom))]
mod options;
#[cfg(not(shmkit_loom))]
pub mod store;

#[cfg(not(shmkit_loom))]
pub use dict::{Dict, Snapshot};
pub use error::DictError;
#[cfg(not(shmkit_loom))]
pub use inspect::inspect;
#[cfg(not(shmkit_loom))]
pub use list::{List, ListSnapshot};
#[cfg(not(shmkit_loom))]
pub use namespace::Namespace;
#[cfg(not(shmkit_loom))]
pub use options::DictOptions;
#[cfg(not(shmkit_loom))]
pub use store::keep_generation;

/// The constructors every kind shares, over `Self::layout()` and `Self::wrap`.
macro_rules! constructors {
    ($what:literal) => {
        #[doc = concat!("Creates the named ", $what, " `name`.")]
        ///
        /// # Errors
        ///
        /// [`DictError::Create`](crate::DictError::Create) (the name is taken, or invalid),
        /// [`DictError::NameTooLong`](crate::DictError::NameTooLong).
        pub fn create(name: &str) -> Result<Self, $crate::DictError> {
            Self::create_with(name, &$crate::DictOptions::new())
        }

        /// [`create`](Self::create) with options.
        ///
        /// # Errors
        ///
        /// As [`create`](Self::create).
        pub fn create_with(name: &str, opts: &$crate::DictOptions) -> Result<Self, $crate::DictError> {
            $crate::store::Store::create(Self::layout(), name, opts.initial_bytes, &opts.create)
                .map(Self::wrap)
        }

        #[doc = concat!("Opens the named ", $what, " `name`, made with the same types.")]
        ///
        /// # Errors
        ///
        /// [`DictError::Open`](crate::DictError::Open): not found, another kind, other
        /// types (both named).
        pub fn open(name: &str) -> Result<Self, $crate::DictError> {
            Self::open_with(name, &shmkit_core::OpenOptions::new())
        }

        /// [`open`](Self::open) with options.
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open).
        pub fn open_with(name: &str, opts: &shmkit_core::OpenOptions) -> Result<Self, $crate::DictError> {
            $crate::store::Store::open(Self::layout(), name, opts).map(Self::wrap)
        }

        /// Opens `name`, waiting up to `timeout` for it to appear.
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open).
        pub fn open_timeout(name: &str, timeout: std::time::Duration) -> Result<Self, $crate::DictError> {
            Self::open_with(name, &shmkit_core::OpenOptions::new().wait_for_name(timeout))
        }

        #[doc = concat!("An anonymous ", $what, ", shared with children forked afterwards.")]
        ///
        /// # Errors
        ///
        /// [`DictError::Create`](crate::DictError::Create).
        pub fn anonymous() -> Result<Self, $crate::DictError> {
            Self::anonymous_with(&$crate::DictOptions::new())
        }

        /// [`anonymous`](Self::anonymous) with options.
        ///
        /// # Errors
        ///
        /// As [`anonymous`](Self::anonymous).
        pub fn anonymous_with(opts: &$crate::DictOptions) -> Result<Self, $crate::DictError> {
            $crate::store::Store::anonymous(Self::layout(), opts.initial_bytes, &opts.create).map(Self::wrap)
        }

        /// Removes the name `name` (and its current arena's); processes that have it open
        /// keep using it.
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open), and [`DictError::Unlink`](crate::DictError::Unlink).
        pub fn unlink(name: &str) -> Result<(), $crate::DictError> {
            $crate::store::Store::unlink(Self::layout(), name)
        }

        /// A second handle, a participant of its own (one per thread).
        ///
        /// # Errors
        ///
        /// [`DictError::Open`](crate::DictError::Open).
        pub fn try_clone(&self) -> Result<Self, $crate::DictError> {
            Ok(Self::wrap(self.store.try_clone()?))
        }

        /// The underlying object.
        pub fn object(&self) -> &shmkit_core::Object {
            self.store.object()
        }

        /// Sets how blocked calls (the writers' lock, `wait_changed`) wait.
        pub fn set_wait_strategy(&mut self, strategy: shmkit_core::WaitStrategy) {
            self.store.set_wait_strategy(strategy);
        }
    };
}
pub(crate) use constructors;

/// `version` and the `wait_changed` forms every kind shares.
macro_rules! versions {
    () => {
        /// The number of commits so far: changes whenever the object does.
        pub fn version(&self) -> u64 {
            self.store.ctl().version.load(shmkit_core::loom::atomic::Ordering::Acquire)
        }

        /// Waits until the version is not `seen` any more (a writer committed), at most
        /// `timeout`; the version then.
        ///
        /// # Errors
        ///
        /// [`DictError::Timeout`](crate::DictError::Timeout).
        pub fn wait_changed_timeout(
            &self,
            seen: u64,
            timeout: std::time::Duration,
        ) -> Result<u64, $crate::DictError> {
            self.store.wait_changed(seen, shmkit_core::Deadline::after(timeout))
        }

        /// [`wait_changed_timeout`](Self::wait_changed_timeout) until `deadline`.
        ///
        /// # Errors
        ///
        /// [`DictError::Timeout`](crate::DictError::Timeout).
        pub fn wait_changed_deadline(
            &self,
            seen: u64,
            deadline: shmkit_core::Deadline,
        ) -> Result<u64, $crate::DictError> {
            self.store.wait_changed(seen, deadline)
        }
    };
}
pub(crate) use versions;

#[cfg(test)]
mod tests;
