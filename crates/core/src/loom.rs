//! The loom shim: every algorithm crate in shmkit takes its atomics, cells and spin hints
//! from here, so that building with `RUSTFLAGS="--cfg shmkit_loom"` swaps them all for
//! [loom](https://docs.rs/loom)'s model-checked versions.
//!
//! Under loom the shared state lives on the heap and the futex is simulated (see
//! [`EventCount`](crate::EventCount)); in production the same `#[repr(C)]` state lives in
//! a mapping.

/// Atomic types and fences.
pub mod atomic {
    #[cfg(shmkit_loom)]
    pub use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    #[cfg(not(shmkit_loom))]
    pub use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
}

/// Spin-loop hints.
pub mod hint {
    #[cfg(shmkit_loom)]
    pub use loom::hint::spin_loop;
    #[cfg(not(shmkit_loom))]
    pub use std::hint::spin_loop;
}

/// Thread operations.
pub mod thread {
    #[cfg(shmkit_loom)]
    pub use loom::thread::yield_now;
    #[cfg(not(shmkit_loom))]
    pub use std::thread::yield_now;
}

/// A cell with loom's `with`/`with_mut` interface.
pub mod cell {
    #[cfg(shmkit_loom)]
    pub use loom::cell::UnsafeCell;

    /// `std::cell::UnsafeCell` with the closure-based access that loom can check.
    #[cfg(not(shmkit_loom))]
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(shmkit_loom))]
    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        pub const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Calls `f` with a const pointer to the contents.
        #[inline(always)]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Calls `f` with a mutable pointer to the contents.
        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}
