//! [`InPlace`]: the states that may be referenced inside shared memory.

/// A state that may live in shared memory and be referenced there.
///
/// # Safety
///
/// Implementors are `#[repr(C)]` (or transparent) and made only of atomics and padding,
/// so that all-zero bytes are a valid value, any bit pattern a peer writes is a valid
/// value, and other processes may write them concurrently. Their alignment is at most
/// [`CACHE_LINE`](crate::header::CACHE_LINE).
pub unsafe trait InPlace: Sized + 'static {}

// SAFETY: std's atomics are transparent wrappers of integers: every bit pattern is valid
// and concurrent access is what they are for.
unsafe impl InPlace for std::sync::atomic::AtomicU32 {}
// SAFETY: as above.
unsafe impl InPlace for std::sync::atomic::AtomicU64 {}
// SAFETY: as above.
unsafe impl InPlace for std::sync::atomic::AtomicUsize {}
// SAFETY: `#[repr(C)]`, two AtomicU32 (its loom-only simulation field does not exist in
// the builds that map shared memory).
#[cfg(not(shmkit_loom))]
unsafe impl InPlace for crate::event::EventCount {}
// SAFETY: an array of InPlace values is InPlace: same bytes, element by element.
unsafe impl<T: InPlace, const N: usize> InPlace for [T; N] {}
