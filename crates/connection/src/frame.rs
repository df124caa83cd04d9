//! The framing of `multiprocessing.connection`: a 4-byte signed big-endian length, or `-1`
//! then an 8-byte unsigned big-endian length for a message above `0x7fff_ffff` bytes, then
//! the message. Pure functions, so that the fuzzer reaches them directly.

/// The longest message a 4-byte header carries.
pub const MAX_SHORT: u64 = 0x7fff_ffff;

/// What a received header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A message of this many bytes follows.
    Len(u64),
    /// An 8-byte length follows.
    Long,
}

/// Why a header is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A negative length other than -1 (Python reads it as an empty message; we refuse).
    Negative(i32),
    /// A length above what the receiver accepts.
    TooLong {
        /// The length announced.
        len: u64,
        /// The receiver's maximum.
        max: u64,
    },
}

/// The header of a message of `len` bytes: its bytes, and how many of them are used (4 or 12).
pub fn encode(len: u64) -> ([u8; 12], usize) {
    let mut h = [0u8; 12];
    if len <= MAX_SHORT {
        h[..4].copy_from_slice(&(len as i32).to_be_bytes());
        (h, 4)
    } else {
        h[..4].copy_from_slice(&(-1i32).to_be_bytes());
        h[4..].copy_from_slice(&len.to_be_bytes());
        (h, 12)
    }
}

/// Reads the first 4 bytes of a header.
pub fn parse_short(b: [u8; 4]) -> Result<Header, FrameError> {
    match i32::from_be_bytes(b) {
        -1 => Ok(Header::Long),
        n if n < 0 => Err(FrameError::Negative(n)),
        n => Ok(Header::Len(n as u64)),
    }
}

/// Reads the 8-byte length that follows a `-1`.
pub fn parse_long(b: [u8; 8]) -> u64 {
    u64::from_be_bytes(b)
}

/// Checks a length against the receiver's maximum.
pub fn check(len: u64, max: u64) -> Result<u64, FrameError> {
    if len > max {
        return Err(FrameError::TooLong { len, max });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_what_python_writes_and_reads() {
        assert_eq!(encode(0).0[..4], [0, 0, 0, 0]);
        assert_eq!(encode(70_000).0[..4], 70_000i32.to_be_bytes());
        let (h, n) = encode(MAX_SHORT + 1);
        assert_eq!(n, 12);
        assert_eq!(h[..4], [0xff; 4]);
        assert_eq!(parse_long(h[4..].try_into().unwrap()), MAX_SHORT + 1);
        assert_eq!(parse_short([0, 0, 1, 0]), Ok(Header::Len(256)));
        assert_eq!(parse_short([0xff; 4]), Ok(Header::Long));
        assert_eq!(parse_short((-2i32).to_be_bytes()), Err(FrameError::Negative(-2)));
        assert_eq!(check(300, 256), Err(FrameError::TooLong { len: 300, max: 256 }));
    }
}
