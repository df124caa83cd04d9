//! Checked access into an object's body: [`Object::view`], [`Object::slice`] and
//! [`Object::region`], where every kind's layout proves its offsets against the header
//! this process validated.

use std::ptr::NonNull;

use crate::error::OpenError;
use crate::header;
use crate::inplace::InPlace;
use crate::object::Object;

impl Object {
    /// Checks that `n` values of `T` starting `offset` bytes into the body are in bounds
    /// and aligned; returns their address. The one place where a layout's size and
    /// alignment are proved against the body this process validated.
    fn place<T>(&self, offset: usize, n: usize) -> Result<NonNull<T>, OpenError> {
        let corrupt = |reason| OpenError::Corrupt { reason };
        let end = std::mem::size_of::<T>()
            .checked_mul(n)
            .and_then(|bytes| bytes.checked_add(offset))
            .ok_or(corrupt("a layout offset overflows"))?;
        if end > self.body_len() {
            return Err(corrupt("the body is too small for its layout"));
        }
        // The body is CACHE_LINE-aligned (header::body_offset on a page-aligned mapping),
        // so alignment depends on the offset alone, unless T asks for more than that.
        let align = std::mem::align_of::<T>();
        if align as u64 > header::CACHE_LINE || offset % align != 0 {
            return Err(corrupt("a layout offset is misaligned for its type"));
        }
        // SAFETY: `offset <= end <= body_len`, so the pointer stays inside the mapping,
        // and the mapping is never at address 0.
        Ok(unsafe { NonNull::new_unchecked(self.body().add(offset).cast::<T>()) })
    }

    /// The in-place state `T` at `offset` bytes into the body, checked for bounds and
    /// alignment. Valid while `self` lives; other processes may change it at any time,
    /// which `T: InPlace` (atomics only) allows.
    ///
    /// # Errors
    ///
    /// [`OpenError::Corrupt`] if the body is too small for it or the offset misaligned.
    pub fn view<T: InPlace>(&self, offset: usize) -> Result<&T, OpenError> {
        let at = self.place::<T>(offset, 1)?;
        // SAFETY: `place` checked bounds and alignment inside the mapping owned by `self`;
        // T is InPlace, so any bytes (zeroes, or whatever a peer wrote) are a valid T and
        // concurrent writes go through its atomics.
        Ok(unsafe { at.as_ref() })
    }

    /// `n` in-place states `T` starting at `offset` bytes into the body, checked as
    /// [`view`](Self::view).
    ///
    /// # Errors
    ///
    /// As [`view`](Self::view).
    pub fn slice<T: InPlace>(&self, offset: usize, n: usize) -> Result<&[T], OpenError> {
        let at = self.place::<T>(offset, n)?;
        // SAFETY: as in `view`, for `n` consecutive values.
        Ok(unsafe { std::slice::from_raw_parts(at.as_ptr(), n) })
    }

    /// The address of `n` plain values `T` (bytes, elements, payloads) starting at
    /// `offset` bytes into the body, checked for bounds and alignment. Only a pointer:
    /// other processes may write these bytes at any time, so no reference to them is
    /// ever made; read and write them with copies.
    ///
    /// # Errors
    ///
    /// As [`view`](Self::view).
    pub fn region<T>(&self, offset: usize, n: usize) -> Result<NonNull<T>, OpenError> {
        self.place(offset, n)
    }
}
