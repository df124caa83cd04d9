//! Waiting on file descriptors, for crates that own sockets (the connection crate): the
//! system call stays here, with every other one.

use std::os::fd::AsFd;
use std::time::Duration;

/// Waits up to `timeout` (`None`: for ever) for `fd` to be readable: data to read, or the
/// peer's close. Whether it is.
///
/// # Errors
///
/// The system call's error (a closed or invalid descriptor).
pub fn wait_readable(fd: impl AsFd, timeout: Option<Duration>) -> std::io::Result<bool> {
    let deadline =
        timeout.map(|t| crate::sys::monotonic_ns().saturating_add(t.as_nanos().min(u64::MAX as u128) as u64));
    crate::sys::poll_readable(fd.as_fd(), deadline)
}
