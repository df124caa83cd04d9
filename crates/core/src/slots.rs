//! A participant table's slots as raw memory: who a participant is ([`ParticipantId`]),
//! what it does ([`Role`]), and claiming a slot. Used by the table (`participants`) and
//! by the fork handlers (`heirs`), which may not allocate or lock.

use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

use crate::header::{ParticipantEntry, PARTICIPANT_SIZE};
use crate::sys;

/// A slot's state: held by a child that inherited the object at a fork and has not used
/// it yet (see `heirs`). 0 is free, 1 in use.
pub(crate) const INHERITED: u32 = 2;

/// The byte of an object's file on which children that found no free slot at their fork
/// hold a shared lock (see `heirs`): past every slot's byte.
pub(crate) const OVERFLOW_BYTE: u64 = crate::header::MAX_SLOTS as u64;

/// What a participant does with an object, shown by `shmkit ls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Role(pub u32);

#[allow(missing_docs)]
impl Role {
    pub const CREATOR: Role = Role(1);
    pub const USER: Role = Role(2);
    pub const PRODUCER: Role = Role(3);
    pub const CONSUMER: Role = Role(4);
    pub const SENDER: Role = Role(5);
    pub const RECEIVER: Role = Role(6);
    pub const WORKER: Role = Role(7);
    pub const PRODUCER_CONSUMER: Role = Role(8);
    /// A child that inherited the object at a fork and has not used it yet.
    pub const INHERITED: Role = Role(9);

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self.0 {
            1 => "creator",
            2 => "user",
            3 => "producer",
            4 => "consumer",
            5 => "sender",
            6 => "receiver",
            7 => "worker",
            8 => "producer+consumer",
            9 => "inherited",
            _ => "unknown",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a participant is: its slot, and the slot's generation when it took it, so that a
/// later holder of the same slot is not mistaken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParticipantId {
    /// The slot in the participant table.
    pub slot: u32,
    /// The slot's generation.
    pub generation: u32,
}

impl ParticipantId {
    /// Packs the id into one word, for storing in shared memory.
    #[inline]
    pub fn to_u64(self) -> u64 {
        (u64::from(self.slot) << 32) | u64::from(self.generation)
    }

    /// Unpacks an id packed by [`to_u64`](Self::to_u64). Any word gives some id; check it
    /// with [`Object::is_alive`](crate::Object::is_alive), which bounds-checks the slot.
    #[inline]
    pub fn from_u64(word: u64) -> Self {
        Self { slot: (word >> 32) as u32, generation: word as u32 }
    }
}

/// Entry `slot` of the participant table at `table`, `slots` entries long; `None` if
/// `slot` is out of range.
///
/// # Safety
///
/// `table` points at a participant table of `slots` entries in a mapping that lives for
/// `'a` (16-aligned: the mapping is page-aligned and the table starts at HEADER_SIZE).
pub(crate) unsafe fn entry_at<'a>(table: *const u8, slots: u32, slot: u32) -> Option<&'a ParticipantEntry> {
    if slot >= slots {
        return None;
    }
    // SAFETY: `slot < slots` keeps the entry inside the table the caller vouches for; it
    // is made of atomics, valid for any bits and for writes by other processes.
    Some(unsafe { &*table.add(slot as usize * PARTICIPANT_SIZE as usize).cast::<ParticipantEntry>() })
}

/// Takes a free slot of the table at `table` (`slots` entries) for the open file
/// description behind `lock`: locks the slot's byte through it, bumps the slot's
/// generation and marks it `state` (1 in use, or [`INHERITED`]) by `pid` as `role`. The search starts at slot
/// `start % slots`. `Ok(None)` if every slot is held. Makes no allocation and takes no
/// lock (the fork prepare handler calls it).
///
/// # Safety
///
/// As [`entry_at`], and `lock` is a descriptor of the object's file.
pub(crate) unsafe fn claim(
    table: *const u8,
    slots: u32,
    lock: BorrowedFd<'_>,
    start: u32,
    pid: u32,
    role: Role,
    state: u32,
) -> std::io::Result<Option<ParticipantId>> {
    // Free slots first: a slot left by a dead process keeps the evidence of its death
    // (for a barrier, say) until someone has counted it or no other slot is left.
    for free_only in [true, false] {
        for i in 0..slots {
            let slot = start.wrapping_add(i) % slots;
            // SAFETY: the caller's contract.
            let Some(e) = (unsafe { entry_at(table, slots, slot) }) else { break };
            if free_only && e.state.load(Ordering::Acquire) != 0 {
                continue;
            }
            if !sys::ofd_try_lock(lock, u64::from(slot))? {
                continue;
            }
            let mut generation = e.generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
            if generation == 0 {
                // Never 0, so an owner token is never 0 (a lock word's "free").
                generation = e.generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
            }
            e.pid.store(pid, Ordering::Relaxed);
            e.role.store(role.0, Ordering::Relaxed);
            e.state.store(state, Ordering::Release);
            return Ok(Some(ParticipantId { slot, generation }));
        }
    }
    Ok(None)
}
