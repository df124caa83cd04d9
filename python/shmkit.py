"""Attach to shmkit's Value and Array objects from Python (standard library only).

A Rust program creates the objects; Python opens them by name:

    import shmkit
    counter = shmkit.Value("counter")      # /dev/shm/shmkit.counter, a Value<i32>
    with counter.get_lock():
        counter.value += 1
    arr = shmkit.Array("samples")          # an Array<f64>
    arr[3] = -arr[3]
    print(arr[:])

Array reads follow shmkit's sequence-lock protocol (retry while a write is in flight), so
they are never torn. A Value of a primitive type is one atomic word: it is read with one
atomic load and written with one atomic store (under the lock), so its reads never wait on
a writer, even one stopped in the middle of a store. Writes take the object's lock exactly as Rust does: this process registers
as a participant (an open-file-description lock on its slot's byte of the file, which the
kernel drops if it dies), writes its owner token into the lock word with a compare-and-swap
(through libatomic), and wakes sleeping Rust waiters through the futex.

The layout (see crates/core/src/header.rs and crates/ctypes/src/block.rs):

    header  0..128   magic, version, kind, state, slots, total size, body offset, ...
    table   128..    one 16-byte entry per participant slot: state, role, pid, generation
    body    +0       lock owner (u64; 0 free, else 1<<63 | slot<<32 | generation)
            +8       lock event count: epoch (u32, the futex word), waiter word (u32)
            +16      Array: sequence (u64; odd while a write is in flight)
                     Value: version (u64; its low bit names the published copy)
            +24      recovered (u32)
            +128     Array: the elements
                     Value: copy 0, then copy 1 at +128 + stride (the element size
                     rounded up to 8); the body is exactly 128 + 2 * stride bytes. A
                     value of 1, 2, 4 or 8 bytes (every primitive type) uses copy 0 only,
                     with one atomic access each time; larger ones alternate copies, a
                     store filling the unpublished one and then adding 1 to the version.
"""

import ctypes
import fcntl
import os
import platform
import struct
import time
import types
from multiprocessing import resource_tracker, shared_memory

MAGIC = int.from_bytes(b"SHMKIT\0\x01", "little")
FORMAT_VERSION = 4
STATE_READY = 1
KIND_VALUE, KIND_ARRAY = 9, 10
HEADER = struct.Struct("<QIIIIQQQQQIIQIIQQQ")
PARTICIPANTS_AT = 128
DATA_OFFSET = 128
ROLE_USER = 2
TOKEN_BIT = 1 << 63

# Python struct formats for shmkit's ctypes-style type codes.
FORMATS = {
    "b": "b", "B": "B", "h": "h", "H": "H", "i": "i", "I": "I", "q": "q", "Q": "Q",
    "n": "n", "N": "N", "f": "f", "d": "d", "?": "?", "c": "c",
}

_RELAXED, _ACQUIRE, _RELEASE, _SEQ_CST = 0, 2, 3, 5
_FUTEX_WAKE = 1
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine())
_FLOCK = struct.Struct("@hhqqixxxx")  # struct flock on 64-bit Linux: 32 bytes
_LITTLE = struct.pack("=H", 1) == b"\x01\x00"


class ShmkitError(Exception):
    """An object that is not what was asked for, or not usable from here."""


def _libatomic():
    try:
        lib = ctypes.CDLL("libatomic.so.1")
    except OSError as e:
        raise ShmkitError("writing needs libatomic.so.1 (Debian: apt-get install libatomic1)") from e
    u64, u32, p = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p
    # Short names: inside a class body `__atomic_...` would be name-mangled.
    sigs = {
        "cas8": ("__atomic_compare_exchange_8", [p, ctypes.POINTER(u64), u64, ctypes.c_int, ctypes.c_int], ctypes.c_bool),
        "load8": ("__atomic_load_8", [p, ctypes.c_int], u64),
        "store8": ("__atomic_store_8", [p, u64, ctypes.c_int], None),
        "load4": ("__atomic_load_4", [p, ctypes.c_int], u32),
        "load2": ("__atomic_load_2", [p, ctypes.c_int], ctypes.c_uint16),
        "load1": ("__atomic_load_1", [p, ctypes.c_int], ctypes.c_uint8),
        "store4": ("__atomic_store_4", [p, u32, ctypes.c_int], None),
        "store2": ("__atomic_store_2", [p, ctypes.c_uint16, ctypes.c_int], None),
        "store1": ("__atomic_store_1", [p, ctypes.c_uint8, ctypes.c_int], None),
        "fetch_add4": ("__atomic_fetch_add_4", [p, u32, ctypes.c_int], u32),
        "exchange4": ("__atomic_exchange_4", [p, u32, ctypes.c_int], u32),
        "fence": ("atomic_thread_fence", [ctypes.c_int], None),
    }
    ops = types.SimpleNamespace()
    for short, (name, args, res) in sigs.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
        setattr(ops, short, f)
    return ops


_ATOMIC = None
_LIBC = ctypes.CDLL(None, use_errno=True)


def _atomic():
    global _ATOMIC
    if _ATOMIC is None:
        _ATOMIC = _libatomic()
    return _ATOMIC


class _Object:
    """An attached shmkit object: the header checked, the body located."""

    def __init__(self, name, kind, ready_timeout=2.0):
        self.name = name
        self._shm = None
        try:
            self._shm = shared_memory.SharedMemory(name="shmkit." + name)
        except FileNotFoundError:
            raise ShmkitError(f"no shmkit object named {name!r}: create it first") from None
        # The object belongs to its Rust creator: Python must not remove it at exit.
        try:
            resource_tracker.unregister(self._shm._name, "shared_memory")
        except Exception:
            pass
        self.buf = self._shm.buf
        self._anchor = ctypes.c_char.from_buffer(self.buf)
        self._base = ctypes.addressof(self._anchor)
        deadline = time.monotonic() + ready_timeout
        while True:
            h = HEADER.unpack_from(self.buf, 0)
            if h[3] == STATE_READY or h[0] not in (0, MAGIC) or time.monotonic() > deadline:
                break
            time.sleep(0.001)
        (magic, version, found_kind, state, self.slots, total, self.body, body_len, self.elem_size,
         self.count, _align, code, _hash, *_rest) = h
        if magic != MAGIC:
            raise ShmkitError(f"{name!r} is not a shmkit object")
        if version != FORMAT_VERSION:
            raise ShmkitError(f"{name!r} has format version {version}, this module speaks {FORMAT_VERSION}")
        if state != STATE_READY:
            raise ShmkitError(f"{name!r} is not ready: its creator is slow or died")
        if total != self._shm.size or self.body + body_len != total:
            raise ShmkitError(f"{name!r} has an inconsistent size: remove it and create it again")
        if found_kind != kind:
            raise ShmkitError(f"{name!r} is kind {found_kind}, not {kind}")
        self.code = chr(code) if code else ""
        if self.code not in FORMATS:
            raise ShmkitError(f"{name!r} holds a non-primitive type, which Python cannot decode")
        self.fmt = struct.Struct("@" + FORMATS[self.code])
        if self.fmt.size != self.elem_size:
            raise ShmkitError(f"type code {self.code!r} is {self.fmt.size} bytes here, {self.elem_size} there")
        self._body_len = body_len
        if DATA_OFFSET + self.count * self.elem_size > body_len:
            raise ShmkitError(f"{name!r} is too small for its elements")
        self._token = None
        self.owner_died = False

    # -- addresses -----------------------------------------------------------------------
    def _addr(self, offset):
        return self._base + offset

    @property
    def _owner(self):
        return self._addr(self.body)

    @property
    def _seq(self):
        return self._addr(self.body + 16)

    def _elem(self, i):
        return self.body + DATA_OFFSET + i * self.elem_size

    # -- participants and liveness ---------------------------------------------------------
    def _register(self):
        if self._token is not None:
            return self._token
        fd = self._shm._fd
        for slot in range(self.slots):
            try:
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, slot, 1, 0))
            except OSError:
                continue
            entry = PARTICIPANTS_AT + 16 * slot
            gen = (_atomic().fetch_add4(self._addr(entry + 12), 1, _SEQ_CST) + 1) & 0xFFFFFFFF
            struct.pack_into("<II", self.buf, entry + 4, ROLE_USER, os.getpid())
            struct.pack_into("<I", self.buf, entry, 1)
            self._token = TOKEN_BIT | (slot << 32) | gen
            return self._token
        raise ShmkitError(f"all {self.slots} participant slots of {self.name!r} are held by live processes")

    def _alive(self, token):
        if not token & TOKEN_BIT:
            return False
        slot, gen = (token >> 32) & 0x7FFFFFFF, token & 0xFFFFFFFF
        if slot >= self.slots:
            return False
        (found_gen,) = struct.unpack_from("<I", self.buf, PARTICIPANTS_AT + 16 * slot + 12)
        if found_gen != gen:
            return False
        res = fcntl.fcntl(self._shm._fd, fcntl.F_OFD_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, slot, 1, 0))
        return _FLOCK.unpack(res)[0] != fcntl.F_UNLCK

    # -- the lock ------------------------------------------------------------------------
    def acquire(self):
        """Takes the object's lock; sets `owner_died` if its previous owner died holding it."""
        me, a = self._register(), _atomic()
        spins = 0
        while True:
            cur = ctypes.c_uint64(0)
            if a.cas8(self._owner, ctypes.byref(cur), me, _SEQ_CST, _SEQ_CST):
                died = False
                break
            if cur.value == me:
                raise ShmkitError("this process holds the lock already (it is not recursive)")
            spins += 1
            if spins % 64 == 0 and not self._alive(cur.value):
                seen = ctypes.c_uint64(cur.value)
                if a.cas8(self._owner, ctypes.byref(seen), me, _SEQ_CST, _SEQ_CST):
                    died = True
                    break
            time.sleep(0 if spins < 1000 else 0.0005)
        recovered = a.exchange4(self._addr(self.body + 24), 0, _SEQ_CST)
        self.owner_died = died or recovered == 1
        return True

    def release(self):
        """Releases the lock and wakes a sleeping waiter, as Rust's unlock does."""
        a = self._atomic_checked()
        me = self._token
        cur = ctypes.c_uint64(me)
        if not a.cas8(self._owner, ctypes.byref(cur), 0, _SEQ_CST, _SEQ_CST):
            raise ShmkitError("this process does not hold the lock")
        a.fence(_SEQ_CST)
        # The waiter word: the count in the low 29 bits, bit 29 set by a waiter about to
        # sleep, the top two Rust's fence mode. Waking whenever the count or the bit is
        # nonzero wakes at least as often as Rust does (which wakes only with the bit set).
        if a.load4(self._addr(self.body + 12), _RELAXED) & 0x3FFFFFFF:
            a.fetch_add4(self._addr(self.body + 8), 1, _SEQ_CST)
            if _SYS_FUTEX is not None:
                _LIBC.syscall(_SYS_FUTEX, ctypes.c_void_p(self._addr(self.body + 8)), _FUTEX_WAKE, 1)

    def _atomic_checked(self):
        if self._token is None:
            raise ShmkitError("this process does not hold the lock")
        return _atomic()

    def get_lock(self):
        return _LockContext(self)

    # -- the sequence lock -----------------------------------------------------------------
    def _read(self, start, n):
        """Elements start..start+n, never torn."""
        a = _atomic()
        while True:
            s1 = a.load8(self._seq, _ACQUIRE)
            if s1 & 1:
                time.sleep(0)
                continue
            raw = bytes(self.buf[self._elem(start):self._elem(start + n)])
            a.fence(_ACQUIRE)
            if a.load8(self._seq, _RELAXED) == s1:
                return [self.fmt.unpack_from(raw, i * self.elem_size)[0] for i in range(n)]

    def _write(self, start, values):
        """Writes elements; the caller holds the lock."""
        a = _atomic()
        s = a.load8(self._seq, _RELAXED) & ~1
        a.store8(self._seq, s + 1, _RELAXED)
        a.fence(_RELEASE)
        for i, v in enumerate(values):
            self.fmt.pack_into(self.buf, self._elem(start + i), v)
        a.store8(self._seq, s + 2, _RELEASE)

    def _locked_write(self, start, values):
        self.acquire()
        try:
            self._write(start, values)
        finally:
            self.release()

    def close(self):
        """Detaches (the object stays; its Rust creator removes it)."""
        if self._shm is not None:
            self._anchor = None
            self.buf = None
            self._shm.close()
            self._shm = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class _LockContext:
    def __init__(self, obj):
        self.obj = obj

    def __enter__(self):
        self.obj.acquire()
        self.obj._held = True
        return self.obj

    def __exit__(self, *exc):
        self.obj._held = False
        self.obj.release()
        return False


class Value(_Object):
    """A shmkit Value<T> for a primitive T, like multiprocessing.Value."""

    def __init__(self, name, ready_timeout=2.0):
        super().__init__(name, KIND_VALUE, ready_timeout)
        self._held = False
        if self.count != 1:
            raise ShmkitError(f"{self.name!r} holds {self.count} elements, not one")
        stride = (self.elem_size + 7) & ~7
        if self._body_len != DATA_OFFSET + 2 * stride:
            raise ShmkitError(
                f"{self.name!r} is not this version's two-copy Value layout (an older shmkit may have "
                "made it): remove it and create it again")
        if self.elem_size not in (1, 2, 4, 8):
            raise ShmkitError(f"{self.name!r} holds a value larger than a word, which Python cannot read")

    def _word_ops(self):
        a = _atomic()
        n = self.elem_size
        return getattr(a, f"load{n}"), getattr(a, f"store{n}")

    @property
    def value(self):
        # One atomic load of copy 0: a word never tears, and no writer makes it wait.
        load, _ = self._word_ops()
        word = load(self._addr(self._elem(0)), _RELAXED)
        _atomic().fence(_ACQUIRE)
        return self.fmt.unpack(word.to_bytes(self.elem_size, "little" if _LITTLE else "big"))[0]

    @value.setter
    def value(self, v):
        # Inside `with get_lock()` the lock is held already.
        if self._held:
            self._store(v)
        else:
            self.acquire()
            try:
                self._store(v)
            finally:
                self.release()

    def _store(self, v):
        """One atomic store of copy 0; the caller holds the lock."""
        _, store = self._word_ops()
        word = int.from_bytes(self.fmt.pack(v), "little" if _LITTLE else "big")
        _atomic().fence(_RELEASE)
        store(self._addr(self._elem(0)), word, _RELAXED)

    @property
    def typecode(self):
        return self.code


class Array(_Object):
    """A shmkit Array<T> for a primitive T, like multiprocessing.Array."""

    def __init__(self, name, ready_timeout=2.0):
        super().__init__(name, KIND_ARRAY, ready_timeout)
        self._held = False

    def __len__(self):
        return self.count

    def _index(self, i):
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError("array index out of range")
        return i

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(self.count)
            everything = self._read(0, self.count)
            return everything[start:stop:step]
        return self._read(self._index(i), 1)[0]

    def __setitem__(self, i, v):
        i = self._index(i)
        if self._held:
            self._write(i, [v])
        else:
            self._locked_write(i, [v])

    @property
    def value(self):
        """The bytes up to the first NUL, for a 'c' array."""
        if self.code != "c":
            raise ShmkitError("`.value` is for arrays of type code 'c'")
        raw = b"".join(self._read(0, self.count))
        return raw.split(b"\0", 1)[0]

    @value.setter
    def value(self, data):
        if self.code != "c":
            raise ShmkitError("`.value` is for arrays of type code 'c'")
        if len(data) > self.count:
            raise ValueError("byte string too long")
        chars = [bytes([b]) for b in data] + ([b"\0"] if len(data) < self.count else [])
        if self._held:
            self._write(0, chars)
        else:
            self._locked_write(0, chars)

    @property
    def typecode(self):
        return self.code
