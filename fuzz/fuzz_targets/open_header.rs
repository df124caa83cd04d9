//! Arbitrary bytes as the contents of a shared-memory object, then the whole open path:
//! size checks, the ready wait, header validation, participant registration and the
//! participant table. No input may panic, read out of bounds, or hang.
#![no_main]

use std::os::fd::AsFd;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use shmkit_core::header::{Header, HeaderSnapshot};
use shmkit_core::{Expect, Kind, Object, OpenOptions, ParticipantId, Segment, TypeDesc};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() || data.len() > 1 << 16 {
        return;
    }
    // The validation alone, on an aligned heap copy.
    let mut words = vec![0u64; data.len().div_ceil(8).max(16)];
    // SAFETY: `words` holds at least `data.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), words.as_mut_ptr().cast::<u8>(), data.len()) };
    // SAFETY: at least 128 bytes, 8-aligned; `Header` is atomics, valid for any bits.
    let header = unsafe { &*words.as_ptr().cast::<Header>() };
    let _ = HeaderSnapshot::read(header).validate(data.len() as u64, &Expect::any());

    // The real open path, on a sealed memfd holding the bytes.
    let seg = Segment::anonymous(data.len() as u64).expect("memfd");
    // SAFETY: the segment is `data.len()` bytes and private to this process.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), seg.as_ptr(), data.len()) };
    let fd = seg.as_fd().try_clone_to_owned().expect("dup");
    let opts = OpenOptions::new().ready_timeout(Duration::ZERO);
    let expect = match data[0] % 4 {
        0 => Expect::any(),
        1 => Expect::kind(Kind::Queue),
        2 => Expect::kind(Kind::Array).elem(TypeDesc::of::<i32>()),
        _ => Expect::kind(Kind::Bytes).count(u64::from(data[data.len() - 1])),
    };
    if let Ok(obj) = Object::from_fd(fd, &expect, &opts) {
        let _ = obj.participants();
        let _ = obj.has_live_participants();
        for w in data.chunks_exact(8).take(4) {
            let _ = obj.is_alive(ParticipantId::from_u64(u64::from_le_bytes(w.try_into().unwrap())));
        }
        if obj.body_len() > 0 {
            // SAFETY: the body is `body_len` bytes inside the mapping.
            let _ = unsafe { obj.body().add(obj.body_len() - 1).read_volatile() };
        }
    }
});
