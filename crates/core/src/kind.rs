//! [`Kind`] and [`TypeDesc`]: what an object is, and what its elements are.

use std::fmt;

/// What kind of primitive an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Kind {
    /// Plain bytes with no structure known to shmkit.
    Bytes = 1,
    Semaphore = 2,
    BoundedSemaphore = 3,
    Lock = 4,
    RLock = 5,
    Event = 6,
    Condition = 7,
    Barrier = 8,
    Value = 9,
    Array = 10,
    Queue = 11,
    SpscQueue = 12,
    JoinableQueue = 13,
    Pipe = 14,
    /// A one-way pipe: one byte ring.
    SimplexPipe = 15,
    /// A queue of messages of any size, in a pool of chunks.
    MessageQueue = 16,
    /// A dictionary of serde keys and values (Python's `Manager().dict()`).
    Dict = 17,
    /// A list of serde values (Python's `Manager().list()`).
    List = 18,
    /// Named fields of any serde type (Python's `Manager().Namespace()`).
    Namespace = 19,
    /// One generation of a Dict's, List's or Namespace's arena.
    Generation = 20,
    /// A Listener's backlog over shared memory: clients ask for connections there.
    Listener = 21,
}

impl Kind {
    pub(crate) const ALL: [Kind; 21] = [
        Kind::Bytes,
        Kind::Semaphore,
        Kind::BoundedSemaphore,
        Kind::Lock,
        Kind::RLock,
        Kind::Event,
        Kind::Condition,
        Kind::Barrier,
        Kind::Value,
        Kind::Array,
        Kind::Queue,
        Kind::SpscQueue,
        Kind::JoinableQueue,
        Kind::Pipe,
        Kind::SimplexPipe,
        Kind::MessageQueue,
        Kind::Dict,
        Kind::List,
        Kind::Namespace,
        Kind::Generation,
        Kind::Listener,
    ];

    /// The kind with code `code`, if there is one.
    pub fn from_code(code: u32) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| *k as u32 == code)
    }

    /// The code stored in the header.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The kind's name, as the user knows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bytes => "Bytes",
            Kind::Semaphore => "Semaphore",
            Kind::BoundedSemaphore => "BoundedSemaphore",
            Kind::Lock => "Lock",
            Kind::RLock => "RLock",
            Kind::Event => "Event",
            Kind::Condition => "Condition",
            Kind::Barrier => "Barrier",
            Kind::Value => "Value",
            Kind::Array => "Array",
            Kind::Queue => "Queue",
            Kind::SpscQueue => "SpscQueue",
            Kind::JoinableQueue => "JoinableQueue",
            Kind::Pipe => "Pipe",
            Kind::SimplexPipe => "SimplexPipe",
            Kind::MessageQueue => "MessageQueue",
            Kind::Dict => "Dict",
            Kind::List => "List",
            Kind::Namespace => "Namespace",
            Kind::Generation => "Generation",
            Kind::Listener => "Listener",
        }
    }

    /// A name for a kind code that may be unknown.
    pub fn describe(code: u32) -> String {
        Self::from_code(code).map_or_else(|| format!("unknown kind {code}"), |k| k.as_str().to_owned())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind code as found in a header, known or not: shown by its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KindCode(pub u32);

impl KindCode {
    /// The kind, if the code is known.
    pub fn kind(self) -> Option<Kind> {
        Kind::from_code(self.0)
    }
}

impl fmt::Display for KindCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Kind::describe(self.0))
    }
}

impl fmt::Debug for KindCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The first bytes of a type's name, as a header keeps them for display (zero-padded
/// UTF-8; all zero when unknown, as in objects made before names were kept). Types are
/// told apart by [`TypeDesc::name_hash`], never by this.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TypeName(pub [u8; TypeName::LEN]);

impl TypeName {
    /// How many bytes of a name a header keeps.
    pub const LEN: usize = 16;

    /// The first bytes of `name` (cut at a character boundary).
    pub fn new(name: &str) -> Self {
        let mut cut = name.len().min(Self::LEN);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut b = [0; Self::LEN];
        b[..cut].copy_from_slice(&name.as_bytes()[..cut]);
        Self(b)
    }

    /// The name kept, if any (a peer may have written any bytes: invalid UTF-8 is none).
    pub fn get(&self) -> Option<&str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(Self::LEN);
        std::str::from_utf8(&self.0[..end]).ok().filter(|s| !s.is_empty())
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            // A name that fills every byte may have been cut.
            Some(name) if name.len() == Self::LEN => write!(f, "{name}…"),
            Some(name) => f.write_str(name),
            None => f.write_str("?"),
        }
    }
}

impl fmt::Debug for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The layout of an object's elements: size, alignment, a ctypes-style type code for
/// primitive types, and a hash of the type's name.
///
/// The name is the type's own, without module paths (`feed::v2::Tick` is `Tick`, and
/// `Option<feed::Px>` is `Option<Px>`), so that two programs built separately — by
/// different compiler versions, with the type in different modules or crates — agree on
/// the same `#[repr(C)]` struct, while a different struct of the same size is still
/// refused. [`named`](Self::named) gives an explicit name instead.
///
/// # Examples
///
/// ```
/// use shmkit::TypeDesc;
///
/// let t = TypeDesc::of::<i32>();
/// assert_eq!((t.size, t.align, t.code), (4, 4, b'i'));
/// assert_ne!(t, TypeDesc::of::<u32>());
/// ```
#[derive(Clone, Copy)]
pub struct TypeDesc {
    /// `size_of::<T>()`.
    pub size: u64,
    /// `align_of::<T>()`.
    pub align: u32,
    /// The ctypes / `array` module type code for primitive types, 0 for others.
    pub code: u8,
    /// FNV-1a hash of the type's name without module paths, or of the name given to
    /// [`named`](Self::named).
    pub name_hash: u64,
    /// The name's first bytes, for display (not compared).
    pub name: TypeName,
}

impl PartialEq for TypeDesc {
    fn eq(&self, other: &Self) -> bool {
        (self.size, self.align, self.code, self.name_hash)
            == (other.size, other.align, other.code, other.name_hash)
    }
}

impl Eq for TypeDesc {}

impl std::hash::Hash for TypeDesc {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.size, self.align, self.code, self.name_hash).hash(state);
    }
}

/// `name` with every module path removed: `a::b::Tick<c::X>` is `Tick<X>`.
fn without_paths(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut ident = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            ident.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            // What came before `::` was a path segment.
            chars.next();
            ident.clear();
        } else {
            out.push_str(&ident);
            ident.clear();
            out.push(c);
        }
    }
    out.push_str(&ident);
    out
}

impl TypeDesc {
    /// The description of `T`.
    pub fn of<T: 'static>() -> Self {
        let name = Self::name_of::<T>();
        Self {
            size: std::mem::size_of::<T>() as u64,
            align: std::mem::align_of::<T>() as u32,
            code: type_code::<T>(),
            name_hash: fnv1a(name.as_bytes()),
            name: TypeName::new(&name),
        }
    }

    /// The description of `T` under the stable name `name`, for a type stored in shared
    /// memory whose Rust path may move between versions (a module split must not change
    /// what an object made by an older build says it holds).
    ///
    /// ```
    /// use shmkit::TypeDesc;
    ///
    /// struct State(u64);
    /// let t = TypeDesc::named::<State>("mycrate::State");
    /// assert_eq!(t.size, 8);
    /// assert_ne!(t, TypeDesc::of::<State>());
    /// ```
    pub fn named<T: 'static>(name: &str) -> Self {
        Self {
            name_hash: fnv1a(name.as_bytes()),
            name: TypeName::new(&without_paths(name)),
            ..Self::of::<T>()
        }
    }

    /// `T`'s name as a header records it: [`std::any::type_name`] without module paths
    /// (`feed::v2::Tick` is `Tick`, `Option<feed::Px>` is `Option<Px>`).
    ///
    /// ```
    /// # mod feed { pub struct Tick; }
    /// assert_eq!(shmkit::TypeDesc::name_of::<Option<feed::Tick>>(), "Option<Tick>");
    /// ```
    pub fn name_of<T: ?Sized>() -> String {
        without_paths(std::any::type_name::<T>())
    }

    /// The description used by objects without typed elements: bytes.
    pub fn bytes() -> Self {
        Self::of::<u8>()
    }
}

impl fmt::Display for TypeDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name.get() {
            Some(_) => write!(f, "{}", self.name)?,
            None => write!(f, "a type named by hash {:#018x}", self.name_hash)?,
        }
        if self.code != 0 {
            write!(f, " (type code '{}')", self.code as char)
        } else {
            write!(f, " ({} B, align {})", self.size, self.align)
        }
    }
}

impl fmt::Debug for TypeDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The ctypes type code of a primitive `T` (as Python's `Value('i', 0)`), or 0.
fn type_code<T: 'static>() -> u8 {
    use std::any::TypeId;
    let id = TypeId::of::<T>();
    let table: [(TypeId, u8); 13] = [
        (TypeId::of::<i8>(), b'b'),
        (TypeId::of::<u8>(), b'B'),
        (TypeId::of::<i16>(), b'h'),
        (TypeId::of::<u16>(), b'H'),
        (TypeId::of::<i32>(), b'i'),
        (TypeId::of::<u32>(), b'I'),
        (TypeId::of::<i64>(), b'q'),
        (TypeId::of::<u64>(), b'Q'),
        (TypeId::of::<isize>(), b'n'),
        (TypeId::of::<usize>(), b'N'),
        (TypeId::of::<f32>(), b'f'),
        (TypeId::of::<f64>(), b'd'),
        (TypeId::of::<bool>(), b'?'),
    ];
    table.iter().find(|(t, _)| *t == id).map_or(0, |&(_, c)| c)
}

/// 64-bit FNV-1a: small, stable, and good enough to tell type names apart.
pub(crate) const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_lose_their_module_paths() {
        assert_eq!(without_paths("feed::v2::Tick"), "Tick");
        assert_eq!(without_paths("core::option::Option<feed::Px>"), "Option<Px>");
        assert_eq!(without_paths("(u8, a::b::X, [c::Y; 4])"), "(u8, X, [Y; 4])");
        assert_eq!(without_paths("[u8; 16]"), "[u8; 16]");
        assert_eq!(without_paths("u64"), "u64");
    }

    #[test]
    fn the_same_struct_in_another_module_is_the_same_type() {
        mod v1 {
            #[repr(C)]
            pub struct Tick(pub u64, pub f64);
        }
        mod v2 {
            pub mod feed {
                #[repr(C)]
                pub struct Tick(pub u64, pub f64);
            }
        }
        #[repr(C)]
        struct Quote(u64, f64);
        assert_eq!(TypeDesc::of::<v1::Tick>(), TypeDesc::of::<v2::feed::Tick>());
        assert_ne!(TypeDesc::of::<v1::Tick>(), TypeDesc::of::<Quote>());
    }
}
