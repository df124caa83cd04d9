//! The send and receive methods every pipe end shares, in the four forms of every
//! blocking call, written once over each end's `tx`/`rx` half and `hold`.

macro_rules! send_api {
    () => {
        /// Sends `msg` as one message; blocks while the pipe is full. A message larger
        /// than the ring streams through it while the receiver reads. The wait ends when
        /// the receiver makes room or is gone (closed, dropped, dead); a live receiver
        /// that never reads (or a peer that corrupts the ring's indices) makes it wait
        /// for good: [`send_bytes_deadline`](Self::send_bytes_deadline) bounds it.
        ///
        /// # Errors
        ///
        /// [`SendError::Disconnected`] once the other end is closed, dropped or dead;
        /// [`SendError::TooLarge`] over this end's limit; [`SendError::NoSlot`].
        #[doc(alias = "write")]
        pub fn send_bytes(&self, msg: &[u8]) -> Result<(), SendError> {
            self.send_bytes_deadline(msg, Deadline::NEVER)
        }

        /// Sends `msg` if there is room for all of it now. A message larger than the ring
        /// starts if its first bytes fit now, and then blocks until all of it is in.
        ///
        /// # Errors
        ///
        /// [`SendError::Timeout`] if there is no room (nothing was sent), else as
        /// [`send_bytes`](Self::send_bytes).
        pub fn try_send_bytes(&self, msg: &[u8]) -> Result<(), SendError> {
            self.send_bytes_deadline(msg, Deadline::now())
        }

        /// Sends `msg`, waiting at most `timeout` for room.
        ///
        /// # Errors
        ///
        /// As [`send_bytes_deadline`](Self::send_bytes_deadline).
        pub fn send_bytes_timeout(&self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
            self.send_bytes_deadline(msg, Deadline::after(timeout))
        }

        /// Sends `msg`, waiting until `deadline` for room. A message that fits in the
        /// ring is written only once all of it fits, so a timed-out send sends nothing;
        /// for a larger one the deadline bounds the wait for its first bytes, and then
        /// the send blocks while the rest streams as the receiver reads.
        ///
        /// # Errors
        ///
        /// [`SendError::Timeout`] if no room came by the deadline (nothing was sent),
        /// else as [`send_bytes`](Self::send_bytes).
        pub fn send_bytes_deadline(&self, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
            self.hold().map_err(|_| SendError::NoSlot)?;
            self.tx.send(frame::BYTES, msg, deadline)
        }

        /// Sends `value`, encoded with postcard and tagged with its type's name: Python's
        /// `send(obj)`. The receiver gets it back with `recv::<T>()` for the same `T`
        /// (`&str` and `String`, `&[T]` and `Vec<T>` count as the same); any other `T` is
        /// refused with both names.
        ///
        /// # Errors
        ///
        /// [`SendError::Encode`], else as [`send_bytes`](Self::send_bytes).
        #[cfg(feature = "serde")]
        pub fn send<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
            self.send_deadline(value, Deadline::NEVER)
        }

        /// [`send`](Self::send) if there is room now.
        ///
        /// # Errors
        ///
        /// As [`send_deadline`](Self::send_deadline).
        #[cfg(feature = "serde")]
        pub fn try_send<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
            self.send_deadline(value, Deadline::now())
        }

        /// [`send`](Self::send), waiting at most `timeout` for room.
        ///
        /// # Errors
        ///
        /// As [`send_deadline`](Self::send_deadline).
        #[cfg(feature = "serde")]
        pub fn send_timeout<T: serde::Serialize + ?Sized>(
            &self,
            value: &T,
            timeout: Duration,
        ) -> Result<(), SendError> {
            self.send_deadline(value, Deadline::after(timeout))
        }

        /// [`send`](Self::send), waiting until `deadline` for room (as
        /// [`send_bytes_deadline`](Self::send_bytes_deadline)).
        ///
        /// # Errors
        ///
        /// [`SendError::Encode`], else as [`send_bytes_deadline`](Self::send_bytes_deadline).
        #[cfg(feature = "serde")]
        pub fn send_deadline<T: serde::Serialize + ?Sized>(
            &self,
            value: &T,
            deadline: Deadline,
        ) -> Result<(), SendError> {
            let bytes = shmkit_core::typed::encode(value).map_err(SendError::Encode)?;
            self.hold().map_err(|_| SendError::NoSlot)?;
            self.tx.send(frame::TYPED, &bytes, deadline)
        }

        /// Sets the longest message this end sends (at most 4 GiB - 1 bytes).
        pub fn set_max_send(&mut self, bytes: usize) {
            self.tx.max = bytes.min(frame::MAX_LEN);
        }
    };
}

macro_rules! recv_api {
    () => {
        /// Receives the next message into a new `Vec`; blocks until one comes or the sender
        /// is gone (closed, dropped, dead). A live sender that never sends makes it wait
        /// for good: [`recv_bytes_deadline`](Self::recv_bytes_deadline) bounds it.
        ///
        /// # Errors
        ///
        /// [`RecvError::Disconnected`] once the other end is closed, dropped or dead and
        /// everything it sent was received (Python's `EOFError`); [`RecvError::TooLarge`]
        /// (the message stays); [`RecvError::Corrupt`]; [`RecvError::NoSlot`].
        #[doc(alias = "read")]
        pub fn recv_bytes(&self) -> Result<Vec<u8>, RecvError> {
            self.recv_bytes_deadline(Deadline::NEVER)
        }

        /// Receives the next message if one has started to arrive.
        ///
        /// # Errors
        ///
        /// [`RecvError::Timeout`] if there is none, else as [`recv_bytes`](Self::recv_bytes).
        pub fn try_recv_bytes(&self) -> Result<Vec<u8>, RecvError> {
            self.recv_bytes_deadline(Deadline::now())
        }

        /// Receives the next message, waiting at most `timeout` for it to start.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_deadline`](Self::recv_bytes_deadline).
        pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, RecvError> {
            self.recv_bytes_deadline(Deadline::after(timeout))
        }

        /// Receives the next message, waiting until `deadline` for it to start; once it
        /// has, the rest is received however long the sender takes to stream it.
        ///
        /// # Errors
        ///
        /// [`RecvError::Timeout`] if no message started by the deadline, else as
        /// [`recv_bytes`](Self::recv_bytes).
        pub fn recv_bytes_deadline(&self, deadline: Deadline) -> Result<Vec<u8>, RecvError> {
            self.hold().map_err(|_| RecvError::NoSlot)?;
            stream::recv_bytes_deadline(&self.rx.port, self.rx.max, deadline)
        }

        /// Receives the next message however it was sent: its bytes (a typed value's
        /// encoding for a `send`), and whether it was sent typed. This is how a relay
        /// (such as the Zenoh bridge) passes messages on unchanged, without knowing their
        /// types.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_deadline`](Self::recv_bytes_deadline).
        pub fn recv_message_deadline(&self, deadline: Deadline) -> Result<(Vec<u8>, bool), RecvError> {
            self.hold().map_err(|_| RecvError::NoSlot)?;
            let (flags, bytes) = stream::recv_message_deadline(&self.rx.port, self.rx.max, deadline)?;
            Ok((bytes, flags & crate::frame::TYPED != 0))
        }

        /// Receives the next message into `buf`, and returns its length.
        ///
        /// # Errors
        ///
        /// [`RecvError::BufferTooShort`] with the length needed if `buf` is too short:
        /// the message stays in the pipe. Otherwise as [`recv_bytes`](Self::recv_bytes).
        pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize, RecvError> {
            self.recv_bytes_into_deadline(buf, Deadline::NEVER)
        }

        /// [`recv_bytes_into`](Self::recv_bytes_into) if a message has started to arrive.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_into_deadline`](Self::recv_bytes_into_deadline).
        pub fn try_recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize, RecvError> {
            self.recv_bytes_into_deadline(buf, Deadline::now())
        }

        /// [`recv_bytes_into`](Self::recv_bytes_into), waiting at most `timeout` for a
        /// message to start.
        ///
        /// # Errors
        ///
        /// As [`recv_bytes_into_deadline`](Self::recv_bytes_into_deadline).
        pub fn recv_bytes_into_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
            self.recv_bytes_into_deadline(buf, Deadline::after(timeout))
        }

        /// [`recv_bytes_into`](Self::recv_bytes_into), waiting until `deadline` for a
        /// message to start.
        ///
        /// # Errors
        ///
        /// [`RecvError::Timeout`] if no message started by the deadline, else as
        /// [`recv_bytes_into`](Self::recv_bytes_into).
        pub fn recv_bytes_into_deadline(
            &self,
            buf: &mut [u8],
            deadline: Deadline,
        ) -> Result<usize, RecvError> {
            self.hold().map_err(|_| RecvError::NoSlot)?;
            stream::recv_bytes_into_deadline(&self.rx.port, self.rx.max, buf, deadline)
        }

        /// Receives the next message as a `T` sent with `send`: Python's `recv()`.
        ///
        /// # Errors
        ///
        /// [`RecvError::TypeMismatch`] if it was sent as another type or with
        /// `send_bytes`, [`RecvError::Decode`] if it does not decode (the message is
        /// consumed either way), else as [`recv_bytes`](Self::recv_bytes).
        #[cfg(feature = "serde")]
        pub fn recv<T: serde::de::DeserializeOwned>(&self) -> Result<T, RecvError> {
            self.recv_deadline(Deadline::NEVER)
        }

        /// [`recv`](Self::recv) if a message has started to arrive.
        ///
        /// # Errors
        ///
        /// As [`recv_deadline`](Self::recv_deadline).
        #[cfg(feature = "serde")]
        pub fn try_recv<T: serde::de::DeserializeOwned>(&self) -> Result<T, RecvError> {
            self.recv_deadline(Deadline::now())
        }

        /// [`recv`](Self::recv), waiting at most `timeout` for a message to start.
        ///
        /// # Errors
        ///
        /// As [`recv_deadline`](Self::recv_deadline).
        #[cfg(feature = "serde")]
        pub fn recv_timeout<T: serde::de::DeserializeOwned>(
            &self,
            timeout: Duration,
        ) -> Result<T, RecvError> {
            self.recv_deadline(Deadline::after(timeout))
        }

        /// [`recv`](Self::recv), waiting until `deadline` for a message to start.
        ///
        /// # Errors
        ///
        /// [`RecvError::TypeMismatch`], [`RecvError::Decode`] (the message is consumed
        /// either way), else as [`recv_bytes_deadline`](Self::recv_bytes_deadline).
        #[cfg(feature = "serde")]
        pub fn recv_deadline<T: serde::de::DeserializeOwned>(
            &self,
            deadline: Deadline,
        ) -> Result<T, RecvError> {
            self.hold().map_err(|_| RecvError::NoSlot)?;
            let (flags, bytes) = stream::recv_message_deadline(&self.rx.port, self.rx.max, deadline)?;
            if flags & crate::frame::TYPED == 0 {
                return Err(RecvError::TypeMismatch {
                    expected: shmkit_core::typed::name_of::<T>(),
                    found: shmkit_core::typed::RAW_BYTES.into(),
                });
            }
            shmkit_core::typed::decode(&bytes).map_err(RecvError::from)
        }

        /// Whether a message can be received, waiting up to `timeout` for one (zero: look
        /// once): Python's `poll(timeout)`. Also true once the pipe has ended, so that
        /// the receive reports it.
        ///
        /// # Errors
        ///
        /// [`RecvError::NoSlot`].
        pub fn poll(&self, timeout: Duration) -> Result<bool, RecvError> {
            self.hold().map_err(|_| RecvError::NoSlot)?;
            self.rx.poll((!timeout.is_zero()).then(|| Deadline::after(timeout)))
        }

        /// [`poll`](Self::poll), waiting until `deadline`.
        ///
        /// # Errors
        ///
        /// [`RecvError::NoSlot`].
        pub fn poll_deadline(&self, deadline: Deadline) -> Result<bool, RecvError> {
            self.hold().map_err(|_| RecvError::NoSlot)?;
            self.rx.poll(Some(deadline))
        }

        /// Sets the longest message this end accepts (at most 4 GiB - 1 bytes). A longer
        /// one is [`RecvError::TooLarge`] and stays in the pipe.
        pub fn set_max_recv(&mut self, bytes: usize) {
            self.rx.max = bytes.min(frame::MAX_LEN);
        }
    };
}

pub(crate) use recv_api;
pub(crate) use send_api;
