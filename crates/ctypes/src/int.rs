//! Lock-free read-modify-write for integer elements.

use std::sync::atomic::Ordering;

mod sealed {
    pub trait Sealed {}
}

/// Integer types whose elements can be updated with one atomic instruction.
///
/// These operations do not take the object's lock: they are atomic with respect to each
/// other, to `load`/`get` and to `store`/`set`, but a read-modify-write made under
/// `get_lock` (read, compute, write) can overwrite one of them. Use one style per value.
pub trait AtomicInt: bytemuck::Pod + sealed::Sealed {
    #[doc(hidden)]
    /// # Safety
    /// `p` is aligned, valid, and only accessed atomically.
    unsafe fn fetch_add(p: *mut Self, v: Self) -> Self;
    #[doc(hidden)]
    /// # Safety
    /// As `fetch_add`.
    unsafe fn fetch_sub(p: *mut Self, v: Self) -> Self;
    #[doc(hidden)]
    /// # Safety
    /// As `fetch_add`.
    unsafe fn swap(p: *mut Self, v: Self) -> Self;
    #[doc(hidden)]
    /// # Safety
    /// As `fetch_add`.
    unsafe fn compare_exchange(p: *mut Self, current: Self, new: Self) -> Result<Self, Self>;
}

macro_rules! atomic_int {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl AtomicInt for $t {
            unsafe fn fetch_add(p: *mut Self, v: Self) -> Self {
                // SAFETY: the caller guarantees alignment, validity and atomic-only access.
                unsafe { <$a>::from_ptr(p) }.fetch_add(v, Ordering::AcqRel)
            }
            unsafe fn fetch_sub(p: *mut Self, v: Self) -> Self {
                // SAFETY: as above.
                unsafe { <$a>::from_ptr(p) }.fetch_sub(v, Ordering::AcqRel)
            }
            unsafe fn swap(p: *mut Self, v: Self) -> Self {
                // SAFETY: as above.
                unsafe { <$a>::from_ptr(p) }.swap(v, Ordering::AcqRel)
            }
            unsafe fn compare_exchange(p: *mut Self, current: Self, new: Self) -> Result<Self, Self> {
                // SAFETY: as above.
                unsafe { <$a>::from_ptr(p) }.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
            }
        }
    )*};
}

use std::sync::atomic::{AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize};
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};

atomic_int! {
    i8 => AtomicI8, u8 => AtomicU8, i16 => AtomicI16, u16 => AtomicU16,
    i32 => AtomicI32, u32 => AtomicU32, i64 => AtomicI64, u64 => AtomicU64,
    isize => AtomicIsize, usize => AtomicUsize,
}
