//! How a pipe is made and laid out: [`PipeOptions`], and the layout of its body (one
//! SPSC byte ring per direction, each a control block and then the bytes) for core's
//! generic handle.

use shmkit_core::{CreateError, CreateOptions, Expect, Kind, Layout, Object, OpenError, Spec, TypeDesc};
use shmkit_queue::spsc::Port;

/// The bytes each direction's ring holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 256 * 1024;

/// The longest message an end sends or accepts unless told otherwise (1 GiB).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// The smallest ring.
pub const MIN_CAPACITY: usize = 128;

/// The largest ring (1 GiB).
pub const MAX_CAPACITY: usize = 1 << 30;

/// How to build a pipe: the ring capacity and the object's options, for
/// [`Pipe::with_options`](crate::Pipe::with_options) and the named ends' `create_with`.
///
/// # Examples
///
/// ```
/// use shmkit::{Connection, CreateOptions, Pipe, PipeOptions};
///
/// // Rings of at least 100 kB each way (rounded up to a power of two).
/// let opts = PipeOptions::new().capacity(100_000);
/// let (parent, child) = Pipe::with_options(&opts)?;
/// assert_eq!(parent.capacity(), 128 * 1024);
/// child.send_bytes(b"ping")?;
/// assert_eq!(parent.recv_bytes()?, b"ping");
///
/// // A named pipe whose name goes when its creator's end is dropped.
/// let name = format!("example-pipe-options-{}", std::process::id());
/// let opts = opts.create_options(CreateOptions::new().unlink_on_drop(true));
/// let server = Connection::create_with(&name, &opts)?;
/// let client = Connection::open(&name)?;
/// assert_eq!(client.capacity(), 128 * 1024);
/// drop(server);
/// assert!(!shmkit::segment::exists(&name)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct PipeOptions {
    capacity: usize,
    create: CreateOptions,
}

impl Default for PipeOptions {
    fn default() -> Self {
        Self { capacity: DEFAULT_CAPACITY, create: CreateOptions::new() }
    }
}

impl PipeOptions {
    /// The defaults: rings of [`DEFAULT_CAPACITY`] bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Each direction's ring holds at least `bytes` (rounded up to a power of two).
    /// Messages of any size stream through; a larger ring lets a sender run further
    /// ahead of its receiver.
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Options for the pipe's object: the file mode (named pipes) and the participant
    /// count (every pipe).
    pub fn create_options(mut self, opts: CreateOptions) -> Self {
        self.create = opts;
        self
    }

    /// The ring capacity asked for.
    pub(crate) fn get_capacity(&self) -> usize {
        self.capacity
    }

    /// The object options.
    pub(crate) fn get_create(&self) -> &CreateOptions {
        &self.create
    }
}

/// How many rings a pipe of `kind` has.
fn rings(kind: Kind) -> usize {
    if kind == Kind::Pipe {
        2
    } else {
        1
    }
}

fn body_len(kind: Kind, capacity: usize) -> Option<usize> {
    Port::<u8>::ring_len(capacity)?.checked_mul(rings(kind))
}

/// The capacity of an opened pipe's rings, checked against its layout.
fn check(obj: &Object, kind: Kind) -> Result<usize, OpenError> {
    let info = obj.info();
    let corrupt = |reason| OpenError::Corrupt { reason };
    let capacity = usize::try_from(info.elem_count).map_err(|_| corrupt("capacity out of range"))?;
    if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Err(corrupt("the ring capacity is not a power of two from 128 bytes to 1 GiB"));
    }
    let len = body_len(kind, capacity);
    if len.is_none_or(|l| l as u64 != info.body_len) {
        return Err(corrupt("the body does not match the pipe's layout"));
    }
    Ok(capacity)
}

/// The layout of a duplex ([`Kind::Pipe`]) or simplex ([`Kind::SimplexPipe`]) pipe.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PipeLayout(pub Kind);

impl Layout for PipeLayout {
    /// The bytes each ring holds at least.
    type Params<'a> = usize;
    /// The bytes each ring holds (a power of two).
    type Geometry = usize;

    fn spec(&self, &capacity: &usize, participants: u32) -> Result<Spec, CreateError> {
        let bad = |reason| CreateError::InvalidSize { size: capacity as u64, reason };
        if capacity == 0 {
            return Err(bad("a pipe's ring needs a capacity of at least 1 byte"));
        }
        if capacity > MAX_CAPACITY {
            return Err(bad(
                "a pipe's ring holds at most 1 GiB; messages larger than the ring stream through it",
            ));
        }
        let capacity = capacity.next_power_of_two().max(MIN_CAPACITY);
        let body = body_len(self.0, capacity).ok_or(bad("larger than the address space"))?;
        Ok(Spec::new(self.0, body as u64).elem(TypeDesc::of::<u8>(), capacity as u64).slots(participants))
    }

    fn expect(&self) -> Expect {
        Expect::kind(self.0).elem(TypeDesc::of::<u8>())
    }

    fn init(&self, _obj: &Object, _capacity: usize) -> Result<(), CreateError> {
        // All zeroes is empty rings with no end held.
        Ok(())
    }

    fn check(&self, obj: &Object) -> Result<usize, OpenError> {
        check(obj, self.0)
    }
}

/// The capacity of `obj`'s rings if it is a pipe of `kind` laid out as this code would
/// (for tools).
pub(crate) fn ring_capacity(obj: &Object, kind: Kind) -> Result<usize, OpenError> {
    check(obj, kind)
}
