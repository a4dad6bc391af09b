//! Anonymous mappings for what must not be inherited like ordinary memory.

/// A private, zero-filled mapping of `len` bytes that no forked child
/// inherits (`MADV_WIPEONFORK`: a child sees zeros) and core dumps leave out
/// (`MADV_DONTDUMP`). For secrets only the parent may hold.
pub(crate) fn private_wiped_mapping(len: usize) -> Option<usize> {
    // SAFETY: a new anonymous private mapping; madvise only on it.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return None;
        }
        if libc::madvise(p, len, libc::MADV_WIPEONFORK) != 0 {
            // Linux < 4.14: the secrets would be inherited; refuse.
            libc::munmap(p, len);
            return None;
        }
        libc::madvise(p, len, libc::MADV_DONTDUMP);
        Some(p as usize)
    }
}

/// A shared, zero-filled anonymous mapping of `len` bytes: forked children
/// share it with this process (and with each other).
pub(crate) fn shared_zeroed(len: usize) -> Option<usize> {
    // SAFETY: a new anonymous mapping, touching no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

/// Unmaps `len` bytes at `addr` in this process.
///
/// # Safety
/// `addr`/`len` must be a mapping made here ([`shared_zeroed`],
/// [`private_wiped_mapping`]) that nothing uses any more.
pub(crate) unsafe fn unmap(addr: usize, len: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}
