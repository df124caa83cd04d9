//! shmkit's benchmark suite (being moved here from `benches/ipc.rs`).
