//! What the examples share: starting copies of themselves as unrelated child processes
//! (the examples that show objects opened by name from another program) and removing
//! their named objects on the way out. Examples about processes use `shmkit::Process`.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

/// Starts this program again with `args` (the child's role and what it needs).
pub fn spawn_self(args: &[&str]) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?).args(args).stdin(Stdio::null()).spawn()
}

/// Waits for every child and fails if one failed.
pub fn join_all(children: Vec<Child>) -> Result<(), Box<dyn std::error::Error>> {
    for mut c in children {
        let status = c.wait()?;
        if !status.success() {
            return Err(format!("child {} failed: {status}", c.id()).into());
        }
    }
    Ok(())
}

/// A name for this run's objects: `<tag>-<pid>`.
pub fn unique(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

/// Removes the named object when dropped, so an example leaves nothing in /dev/shm.
pub struct Unlink(pub String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = shmkit::segment::unlink(&self.0);
    }
}
