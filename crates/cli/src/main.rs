//! The `shmkit` command.

fn main() {}
