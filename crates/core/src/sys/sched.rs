//! The calling thread's scheduling: the CPUs it may run on, and its policy, nice value
//! and time slice.

use std::io;

use super::cvt;

/// The CPUs the calling thread may run on (`sched_getaffinity`), in increasing order.
pub(crate) fn affinity() -> io::Result<Vec<usize>> {
    // SAFETY: all-zero is a valid (empty) `cpu_set_t`: plain integers.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes of the size passed.
    cvt(unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, inside the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Restricts the calling thread to `cpus` (`sched_setaffinity`). `EINVAL` if a CPU is out
/// of range or the set is empty.
pub(crate) fn set_affinity(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: all-zero is a valid (empty) `cpu_set_t`: plain integers.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: `cpu` is below CPU_SETSIZE (checked above), inside the set.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    cvt(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) }).map(drop)
}

/// `struct sched_attr` as the kernel reads and writes it (`SCHED_ATTR_SIZE_VER0`, the
/// first 48 bytes; later fields are optional for both calls).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SchedAttr {
    size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    priority: u32,
    /// For the fair policies (Linux 6.12), the time slice asked for, in ns; 0: the
    /// default.
    pub runtime: u64,
    deadline: u64,
    period: u64,
}

/// `SCHED_FLAG_RESET_ON_FORK`: threads and processes the thread creates start with the
/// default scheduling (for a fair-policy thread: the default slice, and nice 0 if its own
/// is below 0).
pub(crate) const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// `sched_getattr(0, ..)`: the calling thread's policy, nice and time slice.
pub(crate) fn sched_getattr() -> io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as libc::c_uint;
    // SAFETY: `attr` is a valid, writable `sched_attr` of the size passed; the kernel
    // writes at most that many bytes.
    let ret = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr as *mut SchedAttr, size, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(attr)
}

/// `sched_setattr(0, attr, 0)` for the calling thread.
pub(crate) fn sched_setattr(mut attr: SchedAttr) -> io::Result<()> {
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a valid `sched_attr` whose `size` field gives its size; the kernel
    // only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
