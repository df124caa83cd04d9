//! The frame format: an 8-byte header (payload length and flags, little-endian `u32`s),
//! then the payload, padded with zeros to a multiple of 8 bytes.
//!
//! A message larger than the ring streams through it: the sender writes as much of the
//! frame as fits and publishes it, the receiver copies and releases it, and so on. The
//! header is the only part the receiver must see whole before it starts.

/// The header's size in bytes; every frame starts at a multiple of it.
pub const HEADER: usize = 8;

/// A message of raw bytes (`send_bytes`).
pub const BYTES: u32 = 0;

/// A message that is a value encoded by `send` (postcard). Informational: `recv_bytes`
/// returns the encoding, as Python's returns the pickle.
pub const TYPED: u32 = 1;

/// The flags a frame may carry; any other bit is corruption.
pub const KNOWN_FLAGS: u32 = TYPED;

/// The largest payload a header can describe.
pub const MAX_LEN: usize = u32::MAX as usize;

/// A frame's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The payload's length in bytes.
    pub len: u32,
    /// What the payload is.
    pub flags: u32,
}

/// What is wrong with a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// Longer than the receiver accepts.
    TooLarge {
        /// The payload's length.
        len: usize,
    },
    /// Flags no sender writes.
    UnknownFlags(u32),
}

impl Frame {
    /// The header's bytes.
    pub fn encode(self) -> [u8; HEADER] {
        let mut b = [0; HEADER];
        b[..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..].copy_from_slice(&self.flags.to_le_bytes());
        b
    }

    /// The header in `b` (any bytes decode; [`check`](Self::check) says if they make sense).
    pub fn decode(b: [u8; HEADER]) -> Self {
        let [l0, l1, l2, l3, f0, f1, f2, f3] = b;
        Self { len: u32::from_le_bytes([l0, l1, l2, l3]), flags: u32::from_le_bytes([f0, f1, f2, f3]) }
    }

    /// The payload length, if the header is one a receiver with limit `max` accepts.
    ///
    /// # Errors
    ///
    /// [`Bad::UnknownFlags`], [`Bad::TooLarge`].
    pub fn check(self, max: usize) -> Result<usize, Bad> {
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(Bad::UnknownFlags(self.flags));
        }
        let len = self.len as usize;
        if len > max {
            return Err(Bad::TooLarge { len });
        }
        Ok(len)
    }
}

/// `len` rounded up to a multiple of [`HEADER`].
pub fn padded(len: usize) -> usize {
    len.div_ceil(HEADER) * HEADER
}
