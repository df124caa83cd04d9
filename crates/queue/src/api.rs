//! The put and get methods every queue endpoint shares, written once over each type's
//! `put_inner`/`put_many` and `get_inner`/`get_many`.

use shmkit_core::Deadline;

/// How long an operation may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all.
    Now,
    /// Until the deadline (which may be never).
    Until(Deadline),
}

macro_rules! put_api {
    () => {
        /// Puts `value` if there is room now. Python's `put_nowait`.
        ///
        /// # Errors
        ///
        /// [`TryPutError::Full`](crate::TryPutError::Full), [`TryPutError::Disconnected`](crate::TryPutError::Disconnected) (closed) or
        /// [`TryPutError::NoSlot`](crate::TryPutError::NoSlot); each gives `value` back.
        #[doc(alias = "put_nowait")]
        #[doc(alias = "push")]
        #[doc(alias = "try_send")]
        #[inline]
        pub fn try_put(&self, value: T) -> Result<(), $crate::TryPutError<T>> {
            self.put_inner($crate::api::Wait::Now, |slot| *slot = value).map_err(|e| e.try_put(value))
        }

        /// Puts `value`, waiting for room as long as it takes. Python's `put`.
        ///
        /// # Errors
        ///
        /// [`PutError::Disconnected`](crate::PutError::Disconnected) if the queue is closed (or every consumer is gone,
        /// for a queue created to report it), [`PutError::NoSlot`](crate::PutError::NoSlot); each gives `value`
        /// back.
        #[doc(alias = "send")]
        #[inline]
        pub fn put(&self, value: T) -> Result<(), $crate::PutError<T>> {
            self.put_inner($crate::api::Wait::Until(shmkit_core::Deadline::never()), |slot| *slot = value)
                .map_err(|e| e.put(value))
        }

        /// Puts `value`, waiting for room at most `timeout`. Python's
        /// `put(block=True, timeout=...)`.
        ///
        /// # Errors
        ///
        /// [`PutTimeoutError::Timeout`](crate::PutTimeoutError::Timeout), or as [`put`](Self::put).
        #[doc(alias = "send_timeout")]
        pub fn put_timeout(
            &self,
            value: T,
            timeout: std::time::Duration,
        ) -> Result<(), $crate::PutTimeoutError<T>> {
            self.put_deadline(value, shmkit_core::Deadline::after(timeout))
        }

        /// Puts `value`, waiting for room until `deadline`.
        ///
        /// # Errors
        ///
        /// As [`put_timeout`](Self::put_timeout).
        pub fn put_deadline(
            &self,
            value: T,
            deadline: shmkit_core::Deadline,
        ) -> Result<(), $crate::PutTimeoutError<T>> {
            self.put_inner($crate::api::Wait::Until(deadline), |slot| *slot = value)
                .map_err(|e| e.put_timeout(value))
        }

        /// Claims a slot if one is free now and lets `f` fill it in place (the value is
        /// written once, where the consumer reads it: for large `T`). The slot holds an
        /// old value when `f` is called. If `f` panics, the slot is published with what
        /// `f` wrote.
        ///
        /// # Errors
        ///
        /// As [`try_put`](Self::try_put) (`f` is not called).
        pub fn try_put_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, $crate::TryPutError<()>> {
            self.put_inner($crate::api::Wait::Now, f).map_err(|e| e.try_put(()))
        }

        /// As [`try_put_with`](Self::try_put_with), waiting for a free slot as long as it
        /// takes.
        ///
        /// # Errors
        ///
        /// As [`put`](Self::put) (`f` is not called).
        pub fn put_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, $crate::PutError<()>> {
            self.put_inner($crate::api::Wait::Until(shmkit_core::Deadline::never()), f).map_err(|e| e.put(()))
        }

        /// As [`try_put_with`](Self::try_put_with), waiting for a free slot until
        /// `deadline`.
        ///
        /// # Errors
        ///
        /// As [`put_deadline`](Self::put_deadline) (`f` is not called).
        pub fn put_with_deadline<R>(
            &self,
            f: impl FnOnce(&mut T) -> R,
            deadline: shmkit_core::Deadline,
        ) -> Result<R, $crate::PutTimeoutError<()>> {
            self.put_inner($crate::api::Wait::Until(deadline), f).map_err(|e| e.put_timeout(()))
        }

        /// Puts as many of `items` (in order) as there is room for now, waking waiting
        /// consumers once. Returns how many were put (maybe 0).
        ///
        /// # Errors
        ///
        /// [`PutError::Disconnected`](crate::PutError::Disconnected) or [`PutError::NoSlot`](crate::PutError::NoSlot), with how many were put
        /// before.
        pub fn try_put_slice(&self, items: &[T]) -> Result<usize, $crate::PutError<usize>> {
            match self.put_many(items, $crate::api::Wait::Now) {
                (n, None | Some($crate::error::Fail::Nothing | $crate::error::Fail::Timeout)) => Ok(n),
                (n, Some(e)) => Err(e.put(n)),
            }
        }

        /// Puts all of `items` in order, waiting for room as long as it takes.
        ///
        /// # Errors
        ///
        /// As [`try_put_slice`](Self::try_put_slice).
        pub fn put_slice(&self, items: &[T]) -> Result<(), $crate::PutError<usize>> {
            match self.put_many(items, $crate::api::Wait::Until(shmkit_core::Deadline::never())) {
                (_, None) => Ok(()),
                (n, Some(e)) => Err(e.put(n)),
            }
        }
    };
}

macro_rules! get_api {
    () => {
        /// Takes the oldest item if there is one now. Python's `get_nowait`.
        ///
        /// # Errors
        ///
        /// [`TryGetError::Empty`](crate::TryGetError::Empty), [`TryGetError::Disconnected`](crate::TryGetError::Disconnected) (empty and closed) or
        /// [`TryGetError::NoSlot`](crate::TryGetError::NoSlot).
        #[doc(alias = "get_nowait")]
        #[doc(alias = "pop")]
        #[doc(alias = "try_recv")]
        #[inline]
        pub fn try_get(&self) -> Result<T, $crate::TryGetError> {
            self.get_inner($crate::api::Wait::Now, |v| *v).map_err(|e| e.try_get())
        }

        /// Takes the oldest item, waiting for one as long as it takes. Python's `get`.
        ///
        /// # Errors
        ///
        /// [`GetError::Disconnected`](crate::GetError::Disconnected) once the queue is empty and closed, or every
        /// producer is gone (dead or detached); [`GetError::NoSlot`](crate::GetError::NoSlot).
        #[doc(alias = "recv")]
        #[inline]
        pub fn get(&self) -> Result<T, $crate::GetError> {
            self.get_inner($crate::api::Wait::Until(shmkit_core::Deadline::never()), |v| *v)
                .map_err(|e| e.get())
        }

        /// Takes the oldest item, waiting at most `timeout`. Python's
        /// `get(block=True, timeout=...)`.
        ///
        /// # Errors
        ///
        /// [`GetTimeoutError::Timeout`](crate::GetTimeoutError::Timeout), or as [`get`](Self::get).
        #[doc(alias = "recv_timeout")]
        pub fn get_timeout(&self, timeout: std::time::Duration) -> Result<T, $crate::GetTimeoutError> {
            self.get_deadline(shmkit_core::Deadline::after(timeout))
        }

        /// Takes the oldest item, waiting until `deadline`.
        ///
        /// # Errors
        ///
        /// As [`get_timeout`](Self::get_timeout).
        pub fn get_deadline(&self, deadline: shmkit_core::Deadline) -> Result<T, $crate::GetTimeoutError> {
            self.get_inner($crate::api::Wait::Until(deadline), |v| *v).map_err(|e| e.get_timeout())
        }

        /// Lets `f` read the oldest item in its slot, if there is one now (no copy: for
        /// large `T`). The slot is released when `f` returns.
        ///
        /// # Errors
        ///
        /// As [`try_get`](Self::try_get) (`f` is not called).
        pub fn try_get_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, $crate::TryGetError> {
            self.get_inner($crate::api::Wait::Now, f).map_err(|e| e.try_get())
        }

        /// As [`try_get_with`](Self::try_get_with), waiting as long as it takes.
        ///
        /// # Errors
        ///
        /// As [`get`](Self::get).
        pub fn get_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, $crate::GetError> {
            self.get_inner($crate::api::Wait::Until(shmkit_core::Deadline::never()), f).map_err(|e| e.get())
        }

        /// As [`try_get_with`](Self::try_get_with), waiting until `deadline`.
        ///
        /// # Errors
        ///
        /// As [`get_deadline`](Self::get_deadline).
        pub fn get_with_deadline<R>(
            &self,
            f: impl FnOnce(&T) -> R,
            deadline: shmkit_core::Deadline,
        ) -> Result<R, $crate::GetTimeoutError> {
            self.get_inner($crate::api::Wait::Until(deadline), f).map_err(|e| e.get_timeout())
        }

        /// Takes as many items as are there now, up to `out.len()`, into `out`; returns
        /// how many.
        ///
        /// # Errors
        ///
        /// As [`try_get`](Self::try_get), when there was none.
        pub fn try_get_slice(&self, out: &mut [T]) -> Result<usize, $crate::TryGetError> {
            self.get_many(out, $crate::api::Wait::Now).map_err(|e| e.try_get())
        }

        /// Waits for at least one item, then takes as many as are there, up to
        /// `out.len()`; returns how many (0 only if `out` is empty).
        ///
        /// # Errors
        ///
        /// As [`get`](Self::get).
        pub fn get_slice(&self, out: &mut [T]) -> Result<usize, $crate::GetError> {
            self.get_many(out, $crate::api::Wait::Until(shmkit_core::Deadline::never())).map_err(|e| e.get())
        }
    };
}

pub(crate) use {get_api, put_api};

impl Wait {
    /// The deadline, if waiting is allowed.
    pub fn deadline(self) -> Option<Deadline> {
        match self {
            Wait::Now => None,
            Wait::Until(d) => Some(d),
        }
    }
}
