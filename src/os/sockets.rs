//! UNIX sockets: the daemon groups' listeners (made, checked and adjusted
//! across restarts), connecting to and accepting from them, who is at the
//! other end (SO_PEERCRED), and the C library's syslog socket.

use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;

use super::descriptors::{close, open_descriptors};
use super::{check, cstr};

fn sockaddr(path: &str) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "socket path '{path}' is longer than {} bytes: use a shorter WSGISocketPrefix",
                addr.sun_path.len() - 1
            ),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    Ok((addr, len))
}

/// How a listening socket is set up.
pub(crate) struct ListenSpec<'a> {
    pub path: &'a str,
    pub backlog: u32,
    /// chown the socket to this uid/gid (when running as root).
    pub owner: Option<(u32, u32)>,
    pub send_buffer: u32,
    pub receive_buffer: u32,
}

/// Creates, binds (mode 0600, a stale file replaced) and listens on a
/// non-blocking UNIX socket.
pub(crate) fn listen(spec: &ListenSpec<'_>) -> io::Result<RawFd> {
    let (addr, len) = sockaddr(spec.path)?;
    // SAFETY: plain socket creation.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    let result = (|| {
        for (opt, size) in [
            (libc::SO_SNDBUF, spec.send_buffer),
            (libc::SO_RCVBUF, spec.receive_buffer),
        ] {
            if size > 0 {
                let v = size as libc::c_int;
                // SAFETY: fd is our socket; v is a c_int of the given size.
                check(unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        opt,
                        &v as *const _ as *const libc::c_void,
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                })?;
            }
        }
        let _ = std::fs::remove_file(spec.path);
        // SAFETY: umask only changes this process's mask; restored right after.
        let old = unsafe { libc::umask(0o077) };
        // SAFETY: addr/len describe a valid sockaddr_un.
        let bound =
            check(unsafe { libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len) });
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        bound?;
        // SAFETY: fd is a bound socket.
        check(unsafe { libc::listen(fd, spec.backlog.min(i32::MAX as u32) as libc::c_int) })?;
        if let Some((uid, gid)) = spec.owner {
            let p = cstr(spec.path)?;
            // SAFETY: p is a valid C path.
            check(unsafe { libc::chown(p.as_ptr(), uid, gid) })?;
        }
        Ok(fd)
    })();
    if result.is_err() {
        close(fd);
    }
    result
}

/// Whether `fd` is still a listening UNIX socket bound to `path` (a
/// descriptor kept across a restart is checked before it is used again).
pub(crate) fn is_listener_on(fd: RawFd, path: &str) -> bool {
    fd >= 0
        && int_option(fd, libc::SO_ACCEPTCONN).is_some_and(|on| on != 0)
        && unix_path(fd, End::Local).is_some_and(|name| name == path.as_bytes())
}

/// One int-valued `SOL_SOCKET` option of `fd` (`None` if it is no socket).
fn int_option(fd: RawFd, option: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: reads one int option into a local; fails harmlessly on
    // descriptors that are not sockets.
    let rv = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            &mut value as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    (rv == 0).then_some(value)
}

/// Which end of a UNIX socket [`unix_path`] names.
#[derive(Clone, Copy)]
enum End {
    /// The address it is bound to (getsockname).
    Local,
    /// The address it is connected to (getpeername).
    Peer,
}

/// The path of one end of a UNIX socket (`None` if `fd` is not one).
fn unix_path(fd: RawFd, end: End) -> Option<Vec<u8>> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let out = &mut addr as *mut _ as *mut libc::sockaddr;
    // SAFETY: addr/len describe a writable sockaddr_un.
    let rv = unsafe {
        match end {
            End::Local => libc::getsockname(fd, out, &mut len),
            End::Peer => libc::getpeername(fd, out, &mut len),
        }
    };
    if rv != 0 || addr.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return None;
    }
    Some(
        addr.sun_path
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect(),
    )
}

/// Changes the backlog of a listening socket in place.
pub(crate) fn relisten(fd: RawFd, backlog: u32) -> io::Result<()> {
    // SAFETY: fd is a listening socket we own; listen() again only changes
    // its backlog.
    check(unsafe { libc::listen(fd, backlog.min(i32::MAX as u32) as libc::c_int) })?;
    Ok(())
}

/// Device and inode of the socket file at `path`, if it is one.
pub(crate) fn socket_file_id(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}

/// A non-blocking connection to a UNIX socket. `Err` carries the errno.
pub(crate) fn connect_stream(path: &str) -> io::Result<UnixStream> {
    let fd = connect(path)?;
    // SAFETY: fd is a freshly connected socket that nothing else owns.
    Ok(unsafe { UnixStream::from_raw_fd(fd) })
}

/// A non-blocking connect to a UNIX socket. `Err` carries the errno.
pub(crate) fn connect(path: &str) -> io::Result<RawFd> {
    let (addr, len) = sockaddr(path)?;
    // SAFETY: plain socket creation.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: addr/len describe a valid sockaddr_un.
    match check(unsafe { libc::connect(fd, &addr as *const _ as *const libc::sockaddr, len) }) {
        Ok(_) => Ok(fd),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// Accepts one connection (blocking mode), or `None` if none is pending.
pub(crate) fn accept(listener: RawFd) -> io::Result<Option<UnixStream>> {
    // SAFETY: accept4 on our listening socket; no address wanted.
    let fd = unsafe {
        libc::accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just accepted and nothing else owns it.
        return Ok(Some(unsafe { UnixStream::from_raw_fd(fd) }));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) | Some(libc::ECONNABORTED) => Ok(None),
        _ => Err(e),
    }
}

/// Reads what has already arrived on `stream` without waiting: `Ok(0)`
/// when the peer closed, `WouldBlock` when nothing is there.
pub(crate) fn read_ready(stream: &UnixStream, buf: &mut [u8]) -> io::Result<usize> {
    let (n, _) = rustix::net::recv(stream, buf, rustix::net::RecvFlags::DONTWAIT)?;
    Ok(n)
}

/// Writes what the socket takes now without waiting (a short note before a
/// close); returns how much it took.
pub(crate) fn write_ready(stream: &UnixStream, bytes: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(
        stream,
        bytes,
        rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL,
    )?)
}

/// Shuts a connected socket down both ways; its descriptor stays open.
/// Whoever blocks on it (another thread here, or the peer) sees it end.
/// The caller must know `fd` is that socket for the whole call.
pub(crate) fn shutdown(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown only changes the state of the socket `fd` names;
    // on a descriptor that is no socket it fails (ENOTSOCK, EBADF).
    check(unsafe { libc::shutdown(fd, libc::SHUT_RDWR) })?;
    Ok(())
}

/// The C library's syslog sockets (datagram sockets connected to
/// /dev/log, opened by httpd for `ErrorLog syslog:`).
pub(crate) fn syslog_sockets() -> Vec<RawFd> {
    open_descriptors()
        .unwrap_or_default()
        .into_iter()
        .filter(|&fd| {
            int_option(fd, libc::SO_TYPE) == Some(libc::SOCK_DGRAM)
                && unix_path(fd, End::Peer).as_deref() == Some(b"/dev/log")
        })
        .collect()
}

/// The peer of a connected UNIX socket: (pid, uid, gid), from the kernel
/// (SO_PEERCRED: as the peer was when it connected).
pub(crate) fn peer_credentials(fd: RawFd) -> io::Result<(i32, u32, u32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rv = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    };
    if rv != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((cred.pid, cred.uid, cred.gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_socket_paths_are_refused() {
        let long = format!("/tmp/{}", "x".repeat(200));
        let e = connect(&long).unwrap_err();
        assert!(e.to_string().contains("WSGISocketPrefix"), "{e}");
    }
}
