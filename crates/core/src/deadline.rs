//! [`Deadline`]: the one point-in-time type behind every `_timeout` and `_deadline` call.

use std::time::{Duration, Instant};

use crate::sys;

/// A point on `CLOCK_MONOTONIC`, or never.
///
/// Every blocking call in shmkit has a `_deadline` form taking a `Deadline` and a
/// `_timeout` form that computes `Deadline::after(timeout)` and calls it. Deadlines are
/// absolute, so a wait that is interrupted by signals and restarted never waits longer in
/// total; they are on the monotonic clock, so changing the wall clock does not move them.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shmkit::Deadline;
///
/// let d = Deadline::after(Duration::from_millis(50));
/// assert!(!d.has_passed());
/// assert!(d.remaining().unwrap() <= Duration::from_millis(50));
/// assert!(Deadline::never().remaining().is_none());
/// assert!(Deadline::after(Duration::MAX).is_never());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    /// Nanoseconds on CLOCK_MONOTONIC; `u64::MAX` is never.
    ns: u64,
}

impl Deadline {
    /// The deadline that never passes.
    pub const NEVER: Deadline = Deadline { ns: u64::MAX };

    /// The deadline that never passes.
    pub fn never() -> Self {
        Self::NEVER
    }

    /// A deadline that has passed, for non-blocking attempts, made and checked without
    /// reading the clock (which [`now`](Self::now) reads).
    pub const PASSED: Deadline = Deadline { ns: 0 };

    /// Now: a deadline that has already passed, for non-blocking attempts.
    pub fn now() -> Self {
        Self { ns: sys::monotonic_ns() }
    }

    /// `timeout` from now; a timeout too large to represent is [`never`](Self::never).
    pub fn after(timeout: Duration) -> Self {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        Self { ns: sys::monotonic_ns().saturating_add(ns) }
    }

    /// The deadline at `instant` (`Instant` reads the same monotonic clock).
    pub fn at(instant: Instant) -> Self {
        let now_ns = sys::monotonic_ns();
        let now = Instant::now();
        let ns = match instant.checked_duration_since(now) {
            Some(ahead) => now_ns.saturating_add(u64::try_from(ahead.as_nanos()).unwrap_or(u64::MAX)),
            None => now_ns.saturating_sub(u64::try_from((now - instant).as_nanos()).unwrap_or(u64::MAX)),
        };
        Self { ns }
    }

    /// Whether this is the deadline that never passes.
    pub fn is_never(&self) -> bool {
        self.ns == u64::MAX
    }

    /// Whether the deadline has passed.
    pub fn has_passed(&self) -> bool {
        self.ns == 0 || (!self.is_never() && sys::monotonic_ns() >= self.ns)
    }

    /// The time left: `None` for never, zero once passed.
    pub fn remaining(&self) -> Option<Duration> {
        if self.is_never() {
            None
        } else {
            Some(Duration::from_nanos(self.ns.saturating_sub(sys::monotonic_ns())))
        }
    }

    /// The earlier of `self` and `other`.
    pub fn min(self, other: Deadline) -> Deadline {
        if other.ns < self.ns {
            other
        } else {
            self
        }
    }

    /// Nanoseconds on `CLOCK_MONOTONIC`, `None` for never.
    pub fn as_monotonic_nanos(&self) -> Option<u64> {
        (!self.is_never()).then_some(self.ns)
    }
}

impl From<Instant> for Deadline {
    fn from(instant: Instant) -> Self {
        Self::at(instant)
    }
}

/// A clock for rate limits on hot paths ("at most once a millisecond or so"): nanoseconds
/// on a monotonic clock that costs a few nanoseconds to read and advances in steps of a
/// few milliseconds. Not for deadlines.
#[inline]
pub fn coarse_clock_ns() -> u64 {
    crate::sys::monotonic_coarse_ns()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_saturate_to_never() {
        assert!(Deadline::after(Duration::MAX).is_never());
        assert!(!Deadline::after(Duration::MAX).has_passed());
        assert_eq!(Deadline::never().as_monotonic_nanos(), None);
    }

    #[test]
    fn past_and_future() {
        assert!(Deadline::now().has_passed());
        assert_eq!(Deadline::now().remaining(), Some(Duration::ZERO));
        let d = Deadline::after(Duration::from_secs(60));
        assert!(!d.has_passed());
        assert!(d.remaining().unwrap() > Duration::from_secs(59));
        assert_eq!(d.min(Deadline::never()), d);
        assert_eq!(Deadline::never().min(d), d);
    }

    #[test]
    fn instants_map_onto_the_same_clock() {
        let later = Instant::now() + Duration::from_secs(10);
        let d = Deadline::at(later);
        let left = d.remaining().unwrap();
        assert!(left > Duration::from_secs(9) && left <= Duration::from_secs(10));
        let earlier = Instant::now().checked_sub(Duration::from_millis(5)).unwrap_or_else(Instant::now);
        assert!(Deadline::from(earlier).has_passed());
    }

    #[test]
    fn timespecs_are_normalised() {
        let ts = sys::timespec_from_ns(3_999_999_999);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (3, 999_999_999));
        let ts = sys::timespec_from_ns(u64::MAX - 1);
        assert!(ts.tv_nsec >= 0 && ts.tv_nsec < 1_000_000_000);
    }
}
