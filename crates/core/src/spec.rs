//! [`Spec`]: what an object is made of, before it exists.

use crate::error::CreateError;
use crate::header::{self, Expect, Kind, TypeDesc, DEFAULT_SLOTS, MAX_SLOTS};

/// What to create: the kind, the element layout and the size of the body.
///
/// # Examples
///
/// ```
/// use shmkit::{Kind, Spec, TypeDesc};
///
/// let spec = Spec::new(Kind::Array, 40).elem(TypeDesc::of::<i32>(), 10).slots(8);
/// assert_eq!((spec.body_len, spec.count, spec.slots), (40, 10, 8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The kind of primitive.
    pub kind: Kind,
    /// The element type (bytes unless set).
    pub elem: TypeDesc,
    /// The element count or capacity (the body length unless set).
    pub count: u64,
    /// The body's size in bytes.
    pub body_len: u64,
    /// The number of participant slots: how many processes can be attached at once.
    pub slots: u32,
    /// Kind-specific flags, stored in the header.
    pub flags: u64,
}

impl Spec {
    /// A body of `body_len` bytes of kind `kind`, with [`DEFAULT_SLOTS`] participants.
    pub fn new(kind: Kind, body_len: u64) -> Self {
        Self { kind, elem: TypeDesc::bytes(), count: body_len, body_len, slots: DEFAULT_SLOTS, flags: 0 }
    }

    /// Sets the element type and count.
    pub fn elem(mut self, elem: TypeDesc, count: u64) -> Self {
        self.elem = elem;
        self.count = count;
        self
    }

    /// Sets the number of participant slots (1 to [`MAX_SLOTS`]).
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// Sets the kind-specific flags.
    pub fn flags(mut self, flags: u64) -> Self {
        self.flags = flags;
        self
    }

    /// What an opener of an object made from this spec expects.
    pub fn expect(&self) -> Expect {
        Expect::kind(self.kind).elem(self.elem).count(self.count)
    }

    pub(crate) fn total_size(&self) -> Result<u64, CreateError> {
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(CreateError::InvalidSlots { slots: self.slots, max: MAX_SLOTS });
        }
        if self.elem.size == 0 {
            // An opener's header check refuses it: nothing could be shared.
            return Err(CreateError::InvalidSize {
                size: 0,
                reason: "elements of size 0 cannot be shared: use a type of at least one byte",
            });
        }
        if self.elem.size.checked_mul(self.count).is_none_or(|b| b > self.body_len) {
            return Err(CreateError::InvalidSize {
                size: self.body_len,
                reason: "the elements (size times count) do not fit in the body",
            });
        }
        match header::body_offset(self.slots).checked_add(self.body_len) {
            Some(total) if total <= isize::MAX as u64 => Ok(total),
            _ => {
                Err(CreateError::InvalidSize { size: self.body_len, reason: "larger than the address space" })
            }
        }
    }
}
