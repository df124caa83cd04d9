//! Zero-copy: loans written in place, messages read in place.

use shmkit_core::Deadline;

use super::{Me, MessageQueue};
use crate::error::MessageError;
use crate::pool::Pool;
use crate::state::{Desc, Message};

/// Zero-copy: a message written in place in the pool ([`MessageQueue::loan`]), and one
/// read in place ([`MessageQueue::get_with`]).
impl MessageQueue {
    /// Lends a message of `len` bytes in the pool, to be written in place and published
    /// with [`Loan::send`] without a copy (a 4 MiB camera frame, say). Waits for chunks.
    ///
    /// ```
    /// use shmkit::MessageQueue;
    ///
    /// let q = MessageQueue::anonymous(4)?;
    /// let mut frame = q.loan(3000)?;
    /// let mut value = 0u8;
    /// for piece in frame.pieces_mut() {
    ///     // The message may span chunks: each piece is written where it lies.
    ///     for b in piece {
    ///         *b = value;
    ///         value = value.wrapping_add(1);
    ///     }
    /// }
    /// frame.send()?;
    /// let sum = q.get_with(|msg| msg.pieces().flatten().map(|&b| u64::from(b)).sum::<u64>())?;
    /// assert_eq!(sum, (0..3000u64).map(|i| i % 256).sum::<u64>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MessageError::TooLarge`], [`MessageError::Closed`], [`MessageError::NoSlot`].
    pub fn loan(&self, len: usize) -> Result<Loan<'_>, MessageError> {
        self.loan_deadline(len, Deadline::never())
    }

    /// [`loan`](Self::loan), waiting until `deadline` for chunks.
    ///
    /// # Errors
    ///
    /// [`MessageError::Timeout`], and as [`loan`](Self::loan).
    pub fn loan_deadline(&self, len: usize, deadline: Deadline) -> Result<Loan<'_>, MessageError> {
        let (l, k) = self.chain_for(len)?;
        let me = self.me()?;
        let first = self.alloc_chain(me, k, deadline)?;
        Ok(Loan { q: self, me, desc: Desc { first, len: l, typed: false }, chunks: k, sent: false })
    }

    /// Takes the next message and lets `f` read it where it lies in the pool (no copy);
    /// its chunks go back when `f` returns. Waits for a message.
    ///
    /// # Errors
    ///
    /// As [`get_bytes`](Self::get_bytes).
    pub fn get_with<R>(&self, f: impl FnOnce(&MessageView<'_>) -> R) -> Result<R, MessageError> {
        self.get_with_deadline(Deadline::never(), f)
    }

    /// [`get_with`](Self::get_with), waiting until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`try_get_bytes`](Self::try_get_bytes).
    pub fn get_with_deadline<R>(
        &self,
        deadline: Deadline,
        f: impl FnOnce(&MessageView<'_>) -> R,
    ) -> Result<R, MessageError> {
        let me = self.me()?;
        let (pos, m) = self.next_message(me, deadline)?;
        // The message is done with however `f` ends, a panic included.
        struct Finish<'q>(&'q MessageQueue, Me, u64, Message);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.finish(self.1, self.2, &self.3);
            }
        }
        let done = Finish(self, me, pos, m);
        let body = match &done.3 {
            Message::Inline { body, len, .. } => Body::Inline(&body[..*len]),
            Message::Chain { desc, .. } => Body::Chain { pool: self.state().pool, desc: *desc },
            Message::Broken => Body::Inline(&[]),
        };
        Ok(f(&MessageView { body, typed: m.typed() }))
    }
}

/// A message lent in the pool by [`MessageQueue::loan`]: write it in place, then
/// [`send`](Self::send) it. Dropped unsent, its chunks go back to the pool; if the
/// process dies meanwhile, a repair gives them back.
pub struct Loan<'q> {
    q: &'q MessageQueue,
    me: Me,
    desc: Desc,
    chunks: u32,
    sent: bool,
}

impl Loan<'_> {
    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        self.desc.len as usize
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.desc.len == 0
    }

    /// The message's bytes, as the pieces (one per chunk) they lie in, in order.
    pub fn pieces_mut(&mut self) -> impl Iterator<Item = &mut [u8]> + '_ {
        self.q.state().pool.pieces(self.desc.first, self.desc.len as usize).map(|(at, n)| {
            // Peers are trusted not to write what they do not own (as for every in-place
            // access here, the Pod queue's `put_with` too): one that does races with this.
            // SAFETY: the loan's own chunks, mapped while the queue lives, each yielded once
            // (`Pieces`); `&mut self` makes these the only views of them in this process.
            unsafe { std::slice::from_raw_parts_mut(at.as_ptr(), n) }
        })
    }

    /// Copies `bytes` into the message from its start (at most its length).
    pub fn copy_from_slice(&mut self, bytes: &[u8]) {
        let mut at = 0;
        for piece in self.pieces_mut() {
            let n = piece.len().min(bytes.len().saturating_sub(at));
            piece[..n].copy_from_slice(&bytes[at..at + n]);
            at += n;
        }
    }

    /// Publishes the message, waiting for room in the queue; no byte is copied.
    ///
    /// # Errors
    ///
    /// [`MessageError::Closed`] (the message is dropped).
    pub fn send(self) -> Result<(), MessageError> {
        self.send_deadline(Deadline::never())
    }

    /// [`send`](Self::send), waiting until `deadline`; on a timeout the message is
    /// dropped and its chunks go back.
    ///
    /// # Errors
    ///
    /// [`MessageError::Timeout`], [`MessageError::Closed`].
    pub fn send_deadline(mut self, deadline: Deadline) -> Result<(), MessageError> {
        self.sent = true;
        self.q.publish_chain(self.me, self.desc, self.chunks, deadline)
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if !self.sent {
            self.q.give_back(self.me, self.desc.first, self.chunks);
        }
    }
}

/// A message read in place ([`MessageQueue::get_with`]).
pub struct MessageView<'a> {
    body: Body<'a>,
    typed: bool,
}

/// Where a viewed message lies.
enum Body<'a> {
    /// In its ring slot (copied out: at most 48 bytes).
    Inline(&'a [u8]),
    /// In a chain of chunks this process holds.
    Chain { pool: Pool<'a>, desc: Desc },
}

impl MessageView<'_> {
    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        match &self.body {
            Body::Inline(b) => b.len(),
            Body::Chain { desc, .. } => desc.len as usize,
        }
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message's bytes, as the pieces (one per chunk) they lie in, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let (inline, chain) = match &self.body {
            Body::Inline(b) => (Some(*b), None),
            Body::Chain { pool, desc } => (None, Some(pool.pieces(desc.first, desc.len as usize))),
        };
        inline.into_iter().chain(chain.into_iter().flatten().map(|(at, n)| {
            // SAFETY: the chunks are held by this process until `get_with` returns (the
            // borrow of `self` ends first), inside the queue's mapping. Peers are trusted not
            // to write chunks they do not own (as for every in-place access here).
            unsafe { std::slice::from_raw_parts(at.as_ptr().cast_const(), n) }
        }))
    }

    /// Copies the message into `out` (at most `out.len()` bytes); how many were copied.
    pub fn copy_to(&self, out: &mut [u8]) -> usize {
        let mut at = 0;
        for piece in self.pieces() {
            let n = piece.len().min(out.len() - at);
            out[at..at + n].copy_from_slice(&piece[..n]);
            at += n;
        }
        at
    }

    /// Whether it was put as a typed value (`put`) rather than bytes.
    pub fn is_typed(&self) -> bool {
        self.typed
    }
}
