//! Peers from outside shmkit and the kernel: the `shared_memory` + `raw_sync` crates,
//! `rtrb` and crossbeam's `ArrayQueue` between two threads, and Python's
//! `multiprocessing`.

pub(crate) mod python;
pub(crate) mod rawsync;
pub(crate) mod threads;
