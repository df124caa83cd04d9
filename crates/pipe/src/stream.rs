//! The framing over any byte ring: what a sender and a receiver do, whether the ring lives
//! in shared memory (a [`Port<u8>`](shmkit_queue::spsc::Port)) or on the heap (for loom
//! models and fuzzing, see [`heap`](crate::heap)).
//!
//! Every count the ring reports comes from indices a peer may have written: each is
//! clamped to what the caller asked for before use, so a hostile ring yields garbage
//! bytes or an error, never an out-of-bounds copy or an allocation beyond what arrived.

use shmkit_core::Deadline;
use shmkit_queue::Fail;

use crate::error::RecvError;
use crate::frame::{self, Bad, Frame, HEADER};

/// One side of a byte ring, as a sender or receiver uses it. Positions count bytes from
/// the ring's start; copies wrap around its end.
pub trait ByteRing {
    /// The ring's size in bytes.
    fn capacity(&self) -> usize;
    /// Sender: waits until `deadline` (`None`: not at all) for `min` free bytes; returns
    /// the first free position and how many bytes are free there, up to `want`.
    ///
    /// # Errors
    ///
    /// As [`Port::reserve`](shmkit_queue::spsc::Port::reserve).
    fn reserve(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail>;
    /// Sender: publishes the next `n` bytes.
    fn commit(&self, n: u64);
    /// Receiver: waits until `deadline` for `min` readable bytes; returns the first
    /// readable position and how many bytes are readable there, up to `want`.
    ///
    /// # Errors
    ///
    /// As [`Port::ready`](shmkit_queue::spsc::Port::ready).
    fn ready(&self, min: u64, want: u64, deadline: Option<Deadline>) -> Result<(u64, u64), Fail>;
    /// Receiver: frees the next `n` bytes.
    fn consume(&self, n: u64);
    /// Copies `src` into the ring at `pos`.
    fn copy_in(&self, pos: u64, src: &[u8]);
    /// Copies the ring's bytes from `pos` into `dst`.
    fn copy_out(&self, pos: u64, dst: &mut [u8]);
}

/// Writes one frame, streaming it through the ring if it is larger; blocks until the
/// whole frame is in (or the ring ends).
///
/// # Errors
///
/// As [`ByteRing::reserve`] with no deadline: `Disconnected`, `NoSlot`.
pub fn send<R: ByteRing + ?Sized>(ring: &R, flags: u32, msg: &[u8]) -> Result<(), Fail> {
    send_deadline(ring, flags, msg, Deadline::NEVER)
}

/// [`send`], waiting for room at most until `deadline`. A frame that fits in the ring is
/// written only once there is room for all of it, so a timed-out send writes nothing; a
/// larger one streams, and the deadline bounds only the wait for its first bytes: once
/// they are in, the send blocks until the whole frame is.
///
/// # Errors
///
/// `Timeout` if no room came by the deadline (nothing was written), else as [`send`].
pub fn send_deadline<R: ByteRing + ?Sized>(
    ring: &R,
    flags: u32,
    msg: &[u8],
    deadline: Deadline,
) -> Result<(), Fail> {
    debug_assert!(msg.len() <= frame::MAX_LEN);
    let header = Frame { len: msg.len() as u32, flags }.encode();
    let pad = [0; HEADER];
    let parts = [&header[..], msg, &pad[..frame::padded(msg.len()) - msg.len()]];
    let total = HEADER + frame::padded(msg.len());
    let mut done = 0;
    // A timed send that fits waits for room for the whole frame, so it never times out
    // half-way.
    let whole = !deadline.is_never() && total <= ring.capacity();
    if total <= WHOLE && total <= ring.capacity() {
        // A short frame is put together on the stack and copied in once.
        let mut one = [0u8; WHOLE];
        one[..HEADER].copy_from_slice(&header);
        one[HEADER..HEADER + msg.len()].copy_from_slice(msg);
        let (pos, n) = ring.reserve(total as u64, total as u64, wait_for(deadline))?;
        if (n as usize) < total {
            // Only a peer that rewound the ring's indices gives less than asked for.
            return Err(Fail::Nothing);
        }
        ring.copy_in(pos, &one[..total]);
        ring.commit(total as u64);
        return Ok(());
    }
    while done < total {
        let first = done == 0;
        // At least a header's worth, so that a header is never split.
        let min = if whole && first { total } else { HEADER } as u64;
        let wait = if first { wait_for(deadline) } else { Some(Deadline::NEVER) };
        let (pos, n) = ring.reserve(min, (total - done) as u64, wait)?;
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(total - done);
        if whole && first && n < total {
            // Less room than asked for: only a peer that rewound the ring's indices does
            // this. Write nothing rather than half a frame.
            return Err(Fail::Nothing);
        }
        copy_parts(ring, pos, &parts, done, n);
        ring.commit(n as u64);
        done += n;
    }
    Ok(())
}

/// Copies bytes `skip..skip + n` of the concatenation of `parts` into the ring at `pos`.
fn copy_parts<R: ByteRing + ?Sized>(ring: &R, mut pos: u64, parts: &[&[u8]], mut skip: usize, mut n: usize) {
    for part in parts {
        if n == 0 {
            break;
        }
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        let chunk = &part[skip..part.len().min(skip + n)];
        ring.copy_in(pos, chunk);
        pos = pos.wrapping_add(chunk.len() as u64);
        n -= chunk.len();
        skip = 0;
    }
}

fn recv_fail(f: Fail) -> RecvError {
    match f {
        Fail::NoSlot => RecvError::NoSlot,
        _ => RecvError::Disconnected,
    }
}

/// How many bytes a receiver asks the ring for along with a header: a frame this long
/// or shorter that is all there is received with one look at the ring and one release.
const WHOLE: usize = HEADER + 248;

/// A frame's header, found: its payload length and flags, where it starts, and how many
/// bytes are readable from there (up to [`WHOLE`]).
struct Head {
    len: usize,
    flags: u32,
    pos: u64,
    avail: usize,
}

/// Waits until `deadline` for the next frame's header, and checks it against the limit
/// `max`; the frame stays. Its payload length and flags; `None` if nothing came in time.
///
/// # Errors
///
/// `Disconnected` at the end of the ring, `TooLarge`, `Corrupt` (unknown flags), `NoSlot`.
pub fn peek<R: ByteRing + ?Sized>(
    ring: &R,
    max: usize,
    deadline: Option<Deadline>,
) -> Result<Option<(usize, u32)>, RecvError> {
    Ok(head(ring, max, deadline)?.map(|h| (h.len, h.flags)))
}

fn head<R: ByteRing + ?Sized>(
    ring: &R,
    max: usize,
    deadline: Option<Deadline>,
) -> Result<Option<Head>, RecvError> {
    let (pos, avail) = match ring.ready(HEADER as u64, WHOLE as u64, deadline) {
        Ok(found) => found,
        Err(Fail::Nothing | Fail::Timeout) => return Ok(None),
        Err(f) => return Err(recv_fail(f)),
    };
    let mut b = [0; HEADER];
    ring.copy_out(pos, &mut b);
    let frame = Frame::decode(b);
    match frame.check(max) {
        Ok(len) => {
            let avail = usize::try_from(avail).unwrap_or(WHOLE).min(WHOLE);
            Ok(Some(Head { len, flags: frame.flags, pos, avail }))
        }
        Err(Bad::TooLarge { len }) => Err(RecvError::TooLarge { len, max }),
        Err(Bad::UnknownFlags(_)) => Err(RecvError::Corrupt { reason: "a frame header with unknown flags" }),
    }
}

/// Receives the frame `h` found, as [`take`] does; at once, with one release, if it is
/// all readable already.
fn take_head<R: ByteRing + ?Sized>(
    ring: &R,
    h: &Head,
    mut sink: impl FnMut(u64, usize),
) -> Result<(), RecvError> {
    let total = HEADER + frame::padded(h.len);
    if total > h.avail {
        return take(ring, h.len, sink);
    }
    if h.len > 0 {
        sink(h.pos.wrapping_add(HEADER as u64), h.len);
    }
    ring.consume(total as u64);
    Ok(())
}

/// Receives the frame of `len` bytes whose header [`peek`] returned, handing its payload
/// to `sink` as (position, length) pieces, in order; blocks until the whole frame is out.
/// A frame that is all in the ring is freed at once, header included.
///
/// # Errors
///
/// `Disconnected` if the ring ends mid-frame (the sender died or closed): the part
/// received is lost with it.
pub fn take<R: ByteRing + ?Sized>(
    ring: &R,
    len: usize,
    mut sink: impl FnMut(u64, usize),
) -> Result<(), RecvError> {
    let total = HEADER + frame::padded(len);
    let payload = HEADER..HEADER + len;
    let mut done = 0;
    while done < total {
        let (pos, n) = ring.ready(1, (total - done) as u64, Some(Deadline::NEVER)).map_err(recv_fail)?;
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(total - done);
        // The part of the frame's bytes done..done + n that is payload.
        let (start, end) = (done.max(payload.start), (done + n).min(payload.end));
        if start < end {
            sink(pos.wrapping_add((start - done) as u64), end - start);
        }
        ring.consume(n as u64);
        done += n;
    }
    Ok(())
}

/// How long a ring call waits for `deadline`: `None` (not at all) once it has passed, so
/// a `try_` form looks once instead of spinning up to its clock check.
fn wait_for(deadline: Deadline) -> Option<Deadline> {
    (deadline.is_never() || !deadline.has_passed()).then_some(deadline)
}

/// The next frame's header, once it is there (until `deadline`).
fn start<R: ByteRing + ?Sized>(ring: &R, max: usize, deadline: Deadline) -> Result<Head, RecvError> {
    match head(ring, max, wait_for(deadline))? {
        Some(found) => Ok(found),
        // Without a deadline, only the end of the ring stops the wait.
        None if deadline.is_never() => Err(RecvError::Disconnected),
        None => Err(RecvError::Timeout),
    }
}

/// Receives the next message into a new `Vec`, blocking until it comes.
///
/// # Errors
///
/// As [`peek`] and [`take`].
pub fn recv_bytes<R: ByteRing + ?Sized>(ring: &R, max: usize) -> Result<Vec<u8>, RecvError> {
    recv_bytes_deadline(ring, max, Deadline::NEVER)
}

/// [`recv_bytes`], waiting at most until `deadline` for a message to start; once its
/// header is there, the rest is received however long the sender takes to stream it.
///
/// # Errors
///
/// `Timeout` if no message started by the deadline, else as [`recv_bytes`].
pub fn recv_bytes_deadline<R: ByteRing + ?Sized>(
    ring: &R,
    max: usize,
    deadline: Deadline,
) -> Result<Vec<u8>, RecvError> {
    recv_message_deadline(ring, max, deadline).map(|(_, bytes)| bytes)
}

/// [`recv_bytes_deadline`], with the frame's flags (`frame::TYPED` for a `send`).
///
/// # Errors
///
/// As [`recv_bytes_deadline`].
pub fn recv_message_deadline<R: ByteRing + ?Sized>(
    ring: &R,
    max: usize,
    deadline: Deadline,
) -> Result<(u32, Vec<u8>), RecvError> {
    let h = start(ring, max, deadline)?;
    // Grows as the bytes arrive: a forged length costs no more than what was sent.
    let mut out = Vec::with_capacity(h.len.min(ring.capacity()));
    take_head(ring, &h, |pos, n| {
        let at = out.len();
        out.resize(at + n, 0);
        ring.copy_out(pos, &mut out[at..]);
    })?;
    Ok((h.flags, out))
}

/// Receives the next message into `buf`, blocking until it comes; returns its length.
///
/// # Errors
///
/// `BufferTooShort` (the message stays), else as [`recv_bytes`].
pub fn recv_bytes_into<R: ByteRing + ?Sized>(
    ring: &R,
    max: usize,
    buf: &mut [u8],
) -> Result<usize, RecvError> {
    recv_bytes_into_deadline(ring, max, buf, Deadline::NEVER)
}

/// [`recv_bytes_into`], waiting at most until `deadline` for a message to start.
///
/// # Errors
///
/// `Timeout` if no message started by the deadline, else as [`recv_bytes_into`].
pub fn recv_bytes_into_deadline<R: ByteRing + ?Sized>(
    ring: &R,
    max: usize,
    buf: &mut [u8],
    deadline: Deadline,
) -> Result<usize, RecvError> {
    let h = start(ring, max, deadline)?;
    if buf.len() < h.len {
        return Err(RecvError::BufferTooShort { needed: h.len });
    }
    let mut at = 0;
    take_head(ring, &h, |pos, n| {
        ring.copy_out(pos, &mut buf[at..at + n]);
        at += n;
    })?;
    Ok(h.len)
}
