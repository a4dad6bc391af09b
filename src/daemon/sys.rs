//! The thin OS-facing part of daemon mode: UNIX sockets, privileges, process
//! title, signals, and the shared table of daemon exits. Each `unsafe` block
//! is one libc call (or a few) with its reason; everything above is safe.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(rv: libc::c_int) -> io::Result<libc::c_int> {
    if rv < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rv)
    }
}

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
pub struct ListenSpec<'a> {
    pub path: &'a str,
    pub backlog: u32,
    /// chown the socket to this uid/gid (when running as root).
    pub owner: Option<(u32, u32)>,
    pub send_buffer: u32,
    pub receive_buffer: u32,
}

/// Creates, binds (mode 0600, a stale file replaced) and listens on a
/// non-blocking UNIX socket.
pub fn listen(spec: &ListenSpec<'_>) -> io::Result<RawFd> {
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
pub fn is_listener_on(fd: RawFd, path: &str) -> bool {
    if fd < 0 {
        return false;
    }
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: reads one int option of a descriptor we own.
    let rv = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            &mut on as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    if rv != 0 || on == 0 {
        return false;
    }
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut alen = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr/alen describe a writable sockaddr_un.
    let rv =
        unsafe { libc::getsockname(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut alen) };
    if rv != 0 || addr.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return false;
    }
    let name: Vec<u8> = addr
        .sun_path
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    name == path.as_bytes()
}

/// Changes the backlog of a listening socket in place.
pub fn relisten(fd: RawFd, backlog: u32) -> io::Result<()> {
    // SAFETY: fd is a listening socket we own; listen() again only changes
    // its backlog.
    check(unsafe { libc::listen(fd, backlog.min(i32::MAX as u32) as libc::c_int) })?;
    Ok(())
}

/// Device and inode of the socket file at `path`, if it is one.
pub fn socket_file_id(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}

/// Whether process `pid` exists (a zombie counts).
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

pub fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fd) };
    }
}

/// A non-blocking connection to a UNIX socket. `Err` carries the errno.
pub fn connect_stream(path: &str) -> io::Result<std::os::unix::net::UnixStream> {
    use std::os::fd::FromRawFd;
    let fd = connect(path)?;
    // SAFETY: fd is a freshly connected socket that nothing else owns.
    Ok(unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) })
}

pub fn uid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::getuid() }
}

pub fn euid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
}

/// A non-blocking connect to a UNIX socket. `Err` carries the errno.
pub fn connect(path: &str) -> io::Result<RawFd> {
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
pub fn accept(listener: RawFd) -> io::Result<Option<RawFd>> {
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
        return Ok(Some(fd));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) | Some(libc::ECONNABORTED) => Ok(None),
        _ => Err(e),
    }
}

/// Waits until one of `fds` is ready for `events` (or `timeout` passes);
/// returns the `revents` of each.
pub fn poll(fds: &[(RawFd, i16)], timeout: Option<Duration>) -> io::Result<Vec<i16>> {
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
pub fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    Ok((fds[0], fds[1]))
}

pub fn write_byte(fd: RawFd) {
    // SAFETY: writes one byte from a valid buffer.
    unsafe { libc::write(fd, b"x".as_ptr() as *const libc::c_void, 1) };
}

/// Reads from `fd` at `offset` without moving its file position.
pub fn pread(fd: RawFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
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
pub fn sendfile(to: RawFd, from: RawFd, offset: u64, count: usize) -> io::Result<usize> {
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

/// Sets an environment variable (LANG, LC_ALL) in the daemon.
pub fn set_env(name: &str, value: &str) {
    // SAFETY: called in a freshly forked daemon before it starts any thread.
    unsafe { std::env::set_var(name, value) };
}

pub fn chdir(dir: &str) -> io::Result<()> {
    std::env::set_current_dir(dir)
}

/// User facts looked up by name or uid.
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: String,
}

/// A lookup with one of the reentrant `get*_r` calls, growing the buffer
/// while it says ERANGE (safe on any thread: the Apache child's request
/// threads look users up too).
fn lookup_r<T: Copy>(
    mut call: impl FnMut(*mut T, *mut libc::c_char, usize, *mut *mut T) -> libc::c_int,
) -> Option<(T, Vec<libc::c_char>)> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        let mut record = std::mem::MaybeUninit::<T>::zeroed();
        let mut found: *mut T = std::ptr::null_mut();
        let rv = call(record.as_mut_ptr(), buf.as_mut_ptr(), buf.len(), &mut found);
        if rv == libc::ERANGE && buf.len() < (1 << 20) {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rv != 0 || found.is_null() {
            return None;
        }
        // SAFETY: the call succeeded and filled `record`, whose pointers
        // point into `buf`, returned alongside it.
        return Some((unsafe { record.assume_init() }, buf));
    }
}

fn user_from(p: &libc::passwd) -> User {
    // SAFETY: the record's strings are NUL-terminated and live in the buffer
    // kept by the caller for the duration of this call.
    let s = |c: *const libc::c_char| unsafe {
        if c.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(c).to_string_lossy().into_owned()
        }
    };
    User {
        uid: p.pw_uid,
        gid: p.pw_gid,
        name: s(p.pw_name),
        home: s(p.pw_dir),
    }
}

pub fn user_by_name(name: &str) -> Option<User> {
    let c = cstr(name).ok()?;
    // SAFETY: getpwnam_r writes only into the record and buffer it is given.
    let (p, _buf) =
        lookup_r(|rec, buf, len, out| unsafe { libc::getpwnam_r(c.as_ptr(), rec, buf, len, out) })?;
    Some(user_from(&p))
}

pub fn user_by_uid(uid: u32) -> Option<User> {
    // SAFETY: getpwuid_r writes only into the record and buffer it is given.
    let (p, _buf) =
        lookup_r(|rec, buf, len, out| unsafe { libc::getpwuid_r(uid, rec, buf, len, out) })?;
    Some(user_from(&p))
}

pub fn group_by_name(name: &str) -> Option<u32> {
    let c = cstr(name).ok()?;
    // SAFETY: getgrnam_r writes only into the record and buffer it is given.
    let (g, _buf) = lookup_r(|rec: *mut libc::group, buf, len, out| unsafe {
        libc::getgrnam_r(c.as_ptr(), rec, buf, len, out)
    })?;
    Some(g.gr_gid)
}

/// The name of group `gid`.
pub fn group_name(gid: u32) -> Option<String> {
    // SAFETY: getgrgid_r writes only into the record and buffer it is given.
    let (g, _buf) = lookup_r(|rec: *mut libc::group, buf, len, out| unsafe {
        libc::getgrgid_r(gid, rec, buf, len, out)
    })?;
    if g.gr_name.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated name inside `_buf`, alive here.
    Some(
        unsafe { std::ffi::CStr::from_ptr(g.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The supplementary groups `initgroups(user, gid)` would give (as Apache
/// does when it switches to its User).
pub fn group_list(user: &str, gid: u32) -> Option<Vec<u32>> {
    let c = cstr(user).ok()?;
    let mut n: libc::c_int = 64;
    let mut groups = vec![0 as libc::gid_t; n as usize];
    loop {
        let mut count = n;
        // SAFETY: `groups` has room for `n` entries; `count` is in/out.
        let r = unsafe { libc::getgrouplist(c.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if r >= 0 {
            groups.truncate(count as usize);
            return Some(groups);
        }
        if n >= 1 << 16 {
            return None;
        }
        n = count.max(n * 2);
        groups.resize(n as usize, 0);
    }
}

/// For each `(path, access mode)`, whether a process running as `uid`/`gid`
/// with `groups` could use it: asked with access(2) in a forked child that
/// switched to those credentials. `None` if that cannot be found out.
/// Only for single-threaded programs (wsgi-express).
pub fn accessible_as(
    uid: u32,
    gid: u32,
    groups: &[u32],
    paths: &[(&std::path::Path, libc::c_int)],
) -> Option<Vec<bool>> {
    use std::os::unix::ffi::OsStrExt;
    let cpaths: Vec<(std::ffi::CString, libc::c_int)> = paths
        .iter()
        .map(|(p, mode)| {
            Some((
                std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?,
                *mode,
            ))
        })
        .collect::<Option<_>>()?;
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors (blocking: the parent waits
    // for every answer).
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }).ok()?;
    let (r, w) = (fds[0], fds[1]);
    // SAFETY: the caller is single-threaded; the child only makes
    // async-signal-safe calls on memory prepared before the fork, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            libc::close(r);
            let dropped = libc::setgroups(groups.len(), groups.as_ptr()) == 0
                && libc::setgid(gid) == 0
                && libc::setuid(uid) == 0;
            for (p, mode) in &cpaths {
                let ok = [(dropped && libc::access(p.as_ptr(), *mode) == 0) as u8];
                libc::write(w, ok.as_ptr().cast(), 1);
            }
            libc::_exit(0);
        }
    }
    close(w);
    let mut answers = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(r, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        answers.extend_from_slice(&buf[..n as usize]);
    }
    close(r);
    if pid < 0 {
        return None;
    }
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    (answers.len() == paths.len()).then(|| answers.iter().map(|&b| b == 1).collect())
}

/// Drops root: primary group, then exactly `groups` as the supplementary
/// groups (looked up beforehand: after a chroot the group database is the
/// jail's), then the uid (real, effective and saved).
pub fn drop_privileges(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    // SAFETY: credential changes of this (single-threaded) process; `groups`
    // is a valid array of its length.
    unsafe {
        check(libc::setgid(gid))?;
        check(libc::setgroups(groups.len(), groups.as_ptr()))?;
        check(libc::setuid(uid))?;
    }
    Ok(())
}

/// Makes `dir` this process's root directory and its working directory the
/// new root (a working directory left outside would be a way out).
pub fn chroot(dir: &str) -> io::Result<()> {
    let c = cstr(dir)?;
    // SAFETY: c is a valid C path; chdir("/") names the new root.
    unsafe {
        check(libc::chroot(c.as_ptr()))?;
        check(libc::chdir(c"/".as_ptr()))?;
    }
    Ok(())
}

/// What the kernel says this process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Real, effective, saved.
    pub uids: [u32; 3],
    pub gids: [u32; 3],
    /// Supplementary groups, sorted.
    pub groups: Vec<u32>,
}

pub fn credentials() -> io::Result<Credentials> {
    let (mut ru, mut eu, mut su) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    // SAFETY: each call writes three ids into locals.
    unsafe {
        check(libc::getresuid(&mut ru, &mut eu, &mut su))?;
        check(libc::getresgid(&mut rg, &mut eg, &mut sg))?;
    }
    // SAFETY: with size 0, getgroups only counts.
    let n = check(unsafe { libc::getgroups(0, std::ptr::null_mut()) })?;
    let mut groups = vec![0 as libc::gid_t; n as usize];
    // SAFETY: `groups` has room for `n` entries.
    let n = check(unsafe { libc::getgroups(n, groups.as_mut_ptr()) })?;
    groups.truncate(n as usize);
    groups.sort_unstable();
    groups.dedup();
    Ok(Credentials {
        uids: [ru, eu, su],
        gids: [rg, eg, sg],
        groups,
    })
}

/// Whether this process can make itself root again (it must not, once it
/// dropped root). If it could, it now is root: the caller must exit.
pub fn can_become_root() -> bool {
    // SAFETY: an attempt that is expected to fail with EPERM.
    unsafe { libc::setuid(0) == 0 || libc::setgid(0) == 0 }
}

/// Whether a core dump may be written, and who owns `/proc/PID` (root when
/// not dumpable: other processes of the same user cannot ptrace it or read
/// its memory).
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    // SAFETY: a process attribute.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_DUMPABLE,
            libc::c_ulong::from(dumpable),
            0,
            0,
            0,
        )
    })?;
    Ok(())
}

/// Closes every descriptor of this process except those in `keep` (with
/// close_range(2) between them; one close(2) per descriptor listed in
/// /proc/self/fd on kernels without it).
pub fn close_all_except(keep: &[RawFd]) -> io::Result<()> {
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
    let open: Vec<libc::c_uint> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own descriptor is closed once the list is collected.
    for fd in open {
        if !keep.contains(&fd) {
            close(fd as RawFd);
        }
    }
    Ok(())
}

/// Closes the C library's syslog connection (it reconnects on its next
/// use), so that no descriptor it thinks it owns is closed under it.
pub fn close_syslog() {
    // SAFETY: no preconditions; called before any thread starts.
    unsafe { libc::closelog() };
}

/// The C library's syslog sockets (datagram sockets connected to
/// /dev/log, opened by httpd for `ErrorLog syslog:`).
pub fn syslog_sockets() -> Vec<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.into_iter()
        .filter(|&fd| {
            let mut kind: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: reads one int option; fails harmlessly on non-sockets.
            let rv = unsafe {
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_TYPE,
                    &mut kind as *mut _ as *mut libc::c_void,
                    &mut len,
                )
            };
            rv == 0 && kind == libc::SOCK_DGRAM && peer_path(fd).as_deref() == Some("/dev/log")
        })
        .collect()
}

/// The path a UNIX socket is connected to.
fn peer_path(fd: RawFd) -> Option<String> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr/len describe a writable sockaddr_un.
    let rv = unsafe { libc::getpeername(fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut len) };
    if rv != 0 || addr.sun_family != libc::AF_UNIX as libc::sa_family_t {
        return None;
    }
    let name: Vec<u8> = addr
        .sun_path
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8(name).ok()
}

/// This thread's pthread id (what Python calls its thread ident).
pub fn thread_id() -> u64 {
    // SAFETY: no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// The signal on which a daemon's Python stacks are dumped (a real-time
/// signal nothing else in the process uses).
pub fn stack_dump_signal() -> i32 {
    libc::SIGRTMIN() + 6
}

/// Asks for SIGTERM when the Apache parent dies (a safety net: the parent
/// normally stops its daemons itself). Set after credentials change, which
/// clears it; if the parent is already gone, exits.
pub fn exit_with_parent(parent: i32) {
    // SAFETY: plain process attribute calls.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        if libc::getppid() != parent {
            libc::_exit(0);
        }
    }
}

pub fn parent_pid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() }
}

pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn set_umask(mask: u32) {
    // SAFETY: no preconditions.
    unsafe { libc::umask(mask as libc::mode_t) };
}

pub fn set_priority(nice: i32) -> io::Result<()> {
    // SAFETY: changes this process's priority.
    check(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) })?;
    Ok(())
}

pub fn set_rlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit.
    check(unsafe { libc::setrlimit(resource as _, &lim) })?;
    Ok(())
}

pub fn set_locale_from_env() {
    // SAFETY: called before any thread starts; "" means "from the environment".
    unsafe { libc::setlocale(libc::LC_ALL, c"".as_ptr()) };
}

/// Overwrites the process's command line (the original argv strings) with `title`
/// and sets the thread name, as `ps` and `/proc/PID/cmdline` show them.
///
/// # Safety
/// `argv[0]` must point at the start of the process's original argument
/// strings (contiguous, as the kernel laid them out).
pub unsafe fn set_process_title(argv: *const *const libc::c_char, title: &str) {
    if argv.is_null() {
        return;
    }
    // SAFETY: guaranteed by the caller: argv[0] starts the contiguous original
    // argument strings, which we may overwrite in place.
    unsafe {
        let start = *argv as *mut u8;
        if start.is_null() {
            return;
        }
        // httpd rewrites its argv array, so only argv[0] still points at the
        // original strings; their extent is what /proc/self/cmdline shows.
        let room = std::fs::read("/proc/self/cmdline").map_or(0, |c| c.len());
        let room = room.max(libc::strlen(start as *const libc::c_char) + 1);

        if room == 0 {
            return;
        }
        let bytes = title.as_bytes();
        let n = bytes.len().min(room - 1);
        std::ptr::write_bytes(start, 0, room);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), start, n);
    }
    let comm: Vec<u8> = title.bytes().filter(|b| *b != 0).take(15).collect();
    if let Ok(c) = CString::new(comm) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of up to 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr(), 0, 0, 0) };
    }
}

/// Blocks the shutdown signals in this thread (and the threads it starts),
/// so the main thread can wait for them with [`wait_signal`].
pub fn block_signals(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: building and installing a signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        // Writes to a closed connection fail with EPIPE instead.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        set
    }
}

/// Waits up to `timeout` for one of the blocked signals in `set`.
pub fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: set and ts are valid; no siginfo wanted.
    let s = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (s > 0).then_some(s)
}

/// Restores default handlers for signals the daemon inherited from the
/// Apache parent (whose handlers make no sense here).
pub fn reset_signal_handlers(signals: &[i32]) {
    for &s in signals {
        // SAFETY: installing the default disposition.
        unsafe { libc::signal(s, libc::SIG_DFL) };
    }
}

/// Installs `handler` (run once, then the default action) for `signals`.
pub fn on_fatal_signals(signals: &[i32], handler: extern "C" fn(libc::c_int)) {
    for &s in signals {
        // SAFETY: a zeroed sigaction with a plain handler and SA_RESETHAND.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            sa.sa_flags = libc::SA_RESETHAND | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(s, &sa, std::ptr::null_mut());
        }
    }
}

pub fn raise(sig: i32) {
    // SAFETY: async-signal-safe.
    unsafe { libc::raise(sig) };
}

pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: sending a signal to a process we started.
    pid > 0 && unsafe { libc::kill(pid, sig) } == 0
}

/// Reaps `pid` if it has exited: its raw wait status.
pub fn try_wait(pid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid on our own child, non-blocking.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then_some(status)
}

pub fn exit_now(code: i32) -> ! {
    // SAFETY: ends the process without running the Apache parent's atexit
    // handlers, which belong to the process we were forked from.
    unsafe { libc::_exit(code) }
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        _ => return format!("signal {sig}"),
    };
    format!("signal {sig} ({name})")
}

/// A raw wait status in words.
pub fn describe_wait_status(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        let core = if libc::WCOREDUMP(status) {
            ", core dumped"
        } else {
            ""
        };
        format!("killed by {}{core}", signal_name(libc::WTERMSIG(status)))
    } else if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        format!("ended with wait status {status:#x}")
    }
}

/// The exit status of a zombie process (dead, not yet reaped by the Apache
/// parent), from `/proc/PID/stat`; `None` if it is alive, gone, or hidden.
pub fn zombie_status(pid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); exit_code is field 52.
    if fields.first() != Some(&"Z") {
        return None;
    }
    // 0 also when the kernel hides it (another user's process).
    fields.get(49)?.parse().ok().filter(|s: &i32| *s != 0)
}

/// Why daemon processes ended, shared between the Apache parent (which
/// records what it reaps), the daemons (which record why they chose to exit)
/// and the Apache children (which explain a failed request with it). An
/// anonymous shared mapping made in the parent before any fork.
#[repr(C)]
pub struct ExitTable {
    next: AtomicU32,
    slots: [ExitSlot; EXIT_SLOTS],
}

#[repr(C)]
struct ExitSlot {
    pid: AtomicI32,
    /// 1: a raw wait status; 2: a number Apache reported (status or signal);
    /// 3: the daemon's own reason code.
    kind: AtomicU32,
    value: AtomicI32,
    when: AtomicU64,
}

const EXIT_SLOTS: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitInfo {
    WaitStatus(i32),
    ApacheReported(i32),
    Reason(i32),
}

static EXITS: AtomicPtr<ExitTable> = AtomicPtr::new(std::ptr::null_mut());

/// Maps the table (in the Apache parent, before forking anything), or
/// adopts the one an earlier generation of the module mapped at `existing`
/// (the mapping outlives the module's unload on restart, so Apache children
/// and daemons of every generation share one table). Returns its address.
pub fn exit_table_attach(existing: usize) -> usize {
    let current = EXITS.load(Ordering::Acquire);
    if !current.is_null() {
        return current as usize;
    }
    if existing != 0 {
        EXITS.store(existing as *mut ExitTable, Ordering::Release);
        return existing;
    }
    // SAFETY: an anonymous shared mapping, zero-filled, sized for the table;
    // all-zero atomics are valid values.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            std::mem::size_of::<ExitTable>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return 0;
    }
    EXITS.store(p as *mut ExitTable, Ordering::Release);
    p as usize
}

/// The peer of a connected UNIX socket: (pid, uid, gid), from the kernel
/// (SO_PEERCRED: as the peer was when it connected).
pub fn peer_credentials(fd: RawFd) -> io::Result<(i32, u32, u32)> {
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

/// A private, zero-filled mapping of `len` bytes that no forked child
/// inherits (`MADV_WIPEONFORK`: a child sees zeros) and core dumps leave out
/// (`MADV_DONTDUMP`). For secrets only the parent may hold.
pub fn private_wiped_mapping(len: usize) -> Option<usize> {
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

/// Forgets the table in this module instance without unmapping it (the
/// next generation adopts it).
pub fn exit_table_detach() {
    EXITS.store(std::ptr::null_mut(), Ordering::Release);
}

/// Unmaps the table in this process (children keep their own mapping).
pub fn exit_table_destroy() {
    let p = EXITS.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: p came from mmap with this size; nothing uses it after the swap.
        unsafe { libc::munmap(p as *mut libc::c_void, std::mem::size_of::<ExitTable>()) };
    }
}

fn table() -> Option<&'static ExitTable> {
    let p = EXITS.load(Ordering::Acquire);
    // SAFETY: non-null means mapped for the life of this process (or until
    // exit_table_destroy, which runs when no request is being served).
    (!p.is_null()).then(|| unsafe { &*p })
}

pub fn exit_record(pid: i32, info: ExitInfo) {
    let Some(t) = table() else {
        return;
    };
    let (kind, value) = match info {
        ExitInfo::WaitStatus(v) => (1, v),
        ExitInfo::ApacheReported(v) => (2, v),
        ExitInfo::Reason(v) => (3, v),
    };
    let i = t.next.fetch_add(1, Ordering::AcqRel) as usize % EXIT_SLOTS;
    let s = &t.slots[i];
    s.pid.store(0, Ordering::Release);
    s.kind.store(kind, Ordering::Release);
    s.value.store(value, Ordering::Release);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    s.when.store(now, Ordering::Release);
    s.pid.store(pid, Ordering::Release);
}

/// Everything recorded about `pid`, newest first.
pub fn exit_lookup(pid: i32) -> Vec<ExitInfo> {
    let Some(t) = table() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let next = t.next.load(Ordering::Acquire) as usize;
    for back in 1..=EXIT_SLOTS {
        let s = &t.slots[(next + EXIT_SLOTS * 2 - back) % EXIT_SLOTS];
        if s.pid.load(Ordering::Acquire) != pid {
            continue;
        }
        let v = s.value.load(Ordering::Acquire);
        out.push(match s.kind.load(Ordering::Acquire) {
            1 => ExitInfo::WaitStatus(v),
            2 => ExitInfo::ApacheReported(v),
            _ => ExitInfo::Reason(v),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_in_words() {
        assert_eq!(describe_wait_status(1 << 8), "exited with status 1");
        assert_eq!(describe_wait_status(9), "killed by signal 9 (SIGKILL)");
        assert_eq!(
            describe_wait_status(11 | 0x80),
            "killed by signal 11 (SIGSEGV), core dumped"
        );
    }

    #[test]
    fn long_socket_paths_are_refused() {
        let long = format!("/tmp/{}", "x".repeat(200));
        let e = connect(&long).unwrap_err();
        assert!(e.to_string().contains("WSGISocketPrefix"), "{e}");
    }
}
