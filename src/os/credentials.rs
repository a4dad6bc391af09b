//! Who this process runs as: its uids, dropping root (with chroot first),
//! reading the ids back from the kernel, and what a process of another
//! user could access.

use std::io;

use super::descriptors::close;
use super::{check, cstr};

pub fn uid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::getuid() }
}

pub(crate) fn euid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() }
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
pub(crate) fn drop_privileges(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
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
pub(crate) fn chroot(dir: &str) -> io::Result<()> {
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
pub(crate) struct Credentials {
    /// Real, effective, saved.
    pub uids: [u32; 3],
    pub gids: [u32; 3],
    /// Supplementary groups, sorted.
    pub groups: Vec<u32>,
}

pub(crate) fn credentials() -> io::Result<Credentials> {
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
pub(crate) fn can_become_root() -> bool {
    // SAFETY: an attempt that is expected to fail with EPERM.
    unsafe { libc::setuid(0) == 0 || libc::setgid(0) == 0 }
}

pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}
