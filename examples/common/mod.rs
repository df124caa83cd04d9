//! What the examples that use named objects share: a per-run name, removing the object
//! on the way out, and (for `shared_memory`, which shows an object opened by name from an
//! unrelated program) starting this program again as that program. Examples that start
//! child processes otherwise use `shmkit::Process`.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

/// Starts this program again with `args` (the child's role and what it needs).
pub fn spawn_self(args: &[&str]) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?).args(args).stdin(Stdio::null()).spawn()
}

/// A name for this run's objects: `<tag>-<pid>`.
pub fn unique(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

/// Joins `p` and fails, with its exit code and panic message, unless it exited with 0.
pub fn join_ok(p: &mut shmkit::Process) -> Result<(), Box<dyn std::error::Error>> {
    let code = p.join()?;
    if code != 0 {
        let why = p.panic_message().unwrap_or_default();
        return Err(format!("{} ended with exit code {code}: {why}", p.get_name()).into());
    }
    Ok(())
}
