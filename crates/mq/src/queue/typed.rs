//! Typed messages: serde values tagged with their type's name.

use std::time::Duration;

use shmkit_core::Deadline;

use super::{MessageQueue, Sink};
use crate::error::MessageError;

/// Typed messages: serde values, tagged with their type's name (a `get` of another type is
/// refused with both names).
#[cfg(feature = "serde")]
impl MessageQueue {
    /// Puts `value` (encoded with postcard), waiting for room: Python's `put(obj)`.
    ///
    /// ```
    /// use shmkit::MessageQueue;
    ///
    /// let q = MessageQueue::anonymous(10)?;
    /// q.put(&"a")?; // Python: q.put('a')
    /// q.put(&(1, "two", vec![3.0, 4.0]))?; // a tuple
    /// assert_eq!(q.get::<String>()?, "a");
    /// assert_eq!(q.get::<(i32, String, Vec<f64>)>()?, (1, "two".to_owned(), vec![3.0, 4.0]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MessageError::Encode`], else as [`put_bytes`](Self::put_bytes).
    pub fn put<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), MessageError> {
        self.put_deadline(value, Deadline::never())
    }

    /// [`put`](Self::put) if there is room now.
    ///
    /// # Errors
    ///
    /// As [`put_deadline`](Self::put_deadline).
    pub fn try_put<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), MessageError> {
        self.put_deadline(value, Deadline::now())
    }

    /// [`put`](Self::put), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`put_deadline`](Self::put_deadline).
    pub fn put_timeout<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        timeout: Duration,
    ) -> Result<(), MessageError> {
        self.put_deadline(value, Deadline::after(timeout))
    }

    /// [`put`](Self::put), waiting until `deadline` for room.
    ///
    /// # Errors
    ///
    /// [`MessageError::Encode`], else as [`put_bytes_deadline`](Self::put_bytes_deadline).
    pub fn put_deadline<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        deadline: Deadline,
    ) -> Result<(), MessageError> {
        let bytes = shmkit_core::typed::encode(value).map_err(MessageError::Encode)?;
        self.put_raw(&bytes, true, deadline)
    }

    /// Takes the next message as a `T`, waiting for one: Python's `get()`.
    ///
    /// # Errors
    ///
    /// [`MessageError::Typed`] if it was put as another type or as bytes, or does not
    /// decode (the message is consumed), else as [`get_bytes`](Self::get_bytes).
    pub fn get<T: serde::de::DeserializeOwned>(&self) -> Result<T, MessageError> {
        self.get_deadline(Deadline::never())
    }

    /// [`get`](Self::get) if a message is there now.
    ///
    /// # Errors
    ///
    /// As [`get_deadline`](Self::get_deadline).
    pub fn try_get<T: serde::de::DeserializeOwned>(&self) -> Result<T, MessageError> {
        self.get_deadline(Deadline::now())
    }

    /// [`get`](Self::get), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`get_deadline`](Self::get_deadline).
    pub fn get_timeout<T: serde::de::DeserializeOwned>(&self, timeout: Duration) -> Result<T, MessageError> {
        self.get_deadline(Deadline::after(timeout))
    }

    /// [`get`](Self::get), waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get) and [`try_get_bytes`](Self::try_get_bytes).
    pub fn get_deadline<T: serde::de::DeserializeOwned>(
        &self,
        deadline: Deadline,
    ) -> Result<T, MessageError> {
        use shmkit_core::typed::{self, TypedError};
        let mut v = Vec::new();
        let (was_typed, _) = self.get_raw(Sink::Vec(&mut v), deadline)?;
        if !was_typed {
            return Err(MessageError::Typed(TypedError::Mismatch {
                expected: typed::name_of::<T>(),
                found: "raw bytes (put_bytes)".into(),
            }));
        }
        typed::decode(&v).map_err(MessageError::Typed)
    }
}
