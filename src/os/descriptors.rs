//! File descriptors of any kind: closing them (one, or all but a few),
//! wake-up pipes, poll, positioned reads and kernel copies to a socket.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::check;

pub(crate) fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fd) };
    }
}

/// Waits until one of `fds` is ready for `events` (or `timeout` passes);
/// returns the `revents` of each.
pub(crate) fn poll(fds: &[(RawFd, i16)], timeout: Option<Duration>) -> io::Result<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
    // SAFETY: p is a valid array of pollfd of the given length.
    let rv = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    if rv < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![0; p.len()]);
        }
        return Err(e);
    }
    Ok(p.iter().map(|x| x.revents).collect())
}

/// A pipe whose write end wakes threads polling its read end.
pub(crate) fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    Ok((fds[0], fds[1]))
}

/// Reads and discards what is waiting in the non-blocking pipe `fd`.
pub(crate) fn drain(fd: RawFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reads into a local buffer of that size.
    while unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) } > 0 {}
}

pub(crate) fn write_byte(fd: RawFd) {
    // SAFETY: writes one byte from a valid buffer.
    unsafe { libc::write(fd, b"x".as_ptr() as *const libc::c_void, 1) };
}

/// Reads from `fd` at `offset` without moving its file position.
pub(crate) fn pread(fd: RawFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    // SAFETY: buf is writable for buf.len() bytes.
    let n = unsafe {
        libc::pread(
            fd,
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            offset as libc::off_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Copies up to `count` bytes of file `from` at `offset` to socket `to` in
/// the kernel (no copy through user space). Returns the bytes sent.
pub(crate) fn sendfile(to: RawFd, from: RawFd, offset: u64, count: usize) -> io::Result<usize> {
    let mut off = offset as libc::off_t;
    // SAFETY: plain syscall on two descriptors the caller keeps open; `off`
    // is a local the kernel updates.
    let n = unsafe { libc::sendfile(to, from, &mut off, count) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Closes every descriptor of this process except those in `keep` (with
/// close_range(2) between them; one close(2) per descriptor listed in
/// /proc/self/fd on kernels without it).
pub(crate) fn close_all_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<libc::c_uint> = keep
        .iter()
        .filter_map(|fd| libc::c_uint::try_from(*fd).ok())
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut gaps = Vec::new();
    let mut from: libc::c_uint = 0;
    for &fd in &keep {
        if fd > from {
            gaps.push((from, fd - 1));
        }
        from = fd + 1;
    }
    gaps.push((from, libc::c_uint::MAX));
    for (first, last) in gaps {
        // SAFETY: closes descriptors this process inherited and no code of
        // ours uses (the caller lists every one it keeps).
        if unsafe { libc::close_range(first, last, 0) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOSYS) {
                return close_listed_except(&keep);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// close_all_except without close_range(2) (Linux < 5.9).
fn close_listed_except(keep: &[libc::c_uint]) -> io::Result<()> {
    // The directory's own descriptor is closed once the list is collected.
    for fd in open_descriptors()? {
        if !keep.contains(&(fd as libc::c_uint)) {
            close(fd);
        }
    }
    Ok(())
}

/// The descriptors this process has open, from /proc/self/fd (including,
/// briefly, the one that reads the directory).
pub(crate) fn open_descriptors() -> io::Result<Vec<RawFd>> {
    Ok(std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect())
}
