//! Relaying: messages passed on unchanged, bytes and the typed mark together, by a
//! program that does not know their types (such as the Zenoh bridge).

use shmkit_core::Deadline;

use super::MessageQueue;
use crate::error::MessageError;

impl MessageQueue {
    /// Puts a message as another queue or pipe gave it ([`get_message_deadline`], a
    /// pipe's `recv_message_deadline`): its bytes, and whether they are a typed value's
    /// encoding, so that a typed value stays one and `get::<T>()` reads it. This is how a
    /// relay (such as the Zenoh bridge) passes messages on unchanged, without knowing
    /// their types. Bytes put as typed that are not a typed value's encoding are refused
    /// by `get` as corrupt.
    ///
    /// [`get_message_deadline`]: Self::get_message_deadline
    ///
    /// # Errors
    ///
    /// As [`try_put_bytes`](Self::try_put_bytes).
    pub fn put_message_deadline(
        &self,
        msg: &[u8],
        typed: bool,
        deadline: Deadline,
    ) -> Result<(), MessageError> {
        self.put_raw(msg, typed, deadline)
    }

    /// Takes the next message however it was put, waiting until `deadline`: its bytes (a
    /// typed value's encoding for a `put`) and whether it was put typed. This is how a
    /// relay passes messages on unchanged ([`put_message_deadline`]).
    ///
    /// [`put_message_deadline`]: Self::put_message_deadline
    ///
    /// # Errors
    ///
    /// As [`get_bytes_deadline`](Self::get_bytes_deadline).
    pub fn get_message_deadline(&self, deadline: Deadline) -> Result<(Vec<u8>, bool), MessageError> {
        // Piece by piece into a buffer that is never zeroed first.
        self.get_with_deadline(deadline, |m| {
            let mut v = Vec::with_capacity(m.len());
            m.pieces().for_each(|piece| v.extend_from_slice(piece));
            (v, m.is_typed())
        })
    }
}
