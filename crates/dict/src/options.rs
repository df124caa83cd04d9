//! How a Dict, List or Namespace is made.

use shmkit_core::CreateOptions;

use crate::store::MIN_ARENA;

/// How a [`Dict`](crate::Dict), [`List`](crate::List) or [`Namespace`](crate::Namespace)
/// is made: the first arena's size (a hint: it grows as needed) and the object options.
#[derive(Clone, Debug)]
pub struct DictOptions {
    pub(crate) create: CreateOptions,
    pub(crate) initial_bytes: u64,
}

impl Default for DictOptions {
    fn default() -> Self {
        Self { create: CreateOptions::new(), initial_bytes: MIN_ARENA }
    }
}

impl DictOptions {
    /// The defaults: a 1 MiB first arena, mode 0600, 64 participants.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first arena's size in bytes (at least 1 MiB): a hint, to spare the first
    /// growths of an object known to become large.
    pub fn initial_bytes(mut self, bytes: u64) -> Self {
        self.initial_bytes = bytes;
        self
    }

    /// The object options (mode, participants, clean-up).
    pub fn create_options(mut self, opts: CreateOptions) -> Self {
        self.create = opts;
        self
    }
}
