//! This process's attributes (title, priority, resource limits, umask,
//! locale and environment, working directory, dumpable, parent death,
//! leaving without atexit handlers) and other processes (existence,
//! reaping, wait statuses in words, zombies' exit codes).

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::check;
use super::signals::signal_name;

/// Whether process `pid` exists (a zombie counts).
pub(crate) fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Sets an environment variable (LANG, LC_ALL) in the daemon.
pub(crate) fn set_env(name: &str, value: &str) {
    // SAFETY: called in a freshly forked daemon before it starts any thread.
    unsafe { std::env::set_var(name, value) };
}

pub(crate) fn chdir(dir: &str) -> io::Result<()> {
    std::env::set_current_dir(dir)
}

/// Whether a core dump may be written, and who owns `/proc/PID` (root when
/// not dumpable: other processes of the same user cannot ptrace it or read
/// its memory).
pub(crate) fn set_dumpable(dumpable: bool) -> io::Result<()> {
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

/// This thread's pthread id (what Python calls its thread ident).
pub(crate) fn thread_id() -> u64 {
    // SAFETY: no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// Asks for SIGTERM when the Apache parent dies (a safety net: the parent
/// normally stops its daemons itself). Set after credentials change, which
/// clears it; if the parent is already gone, exits.
pub(crate) fn exit_with_parent(parent: i32) {
    // SAFETY: plain process attribute calls.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        if libc::getppid() != parent {
            libc::_exit(0);
        }
    }
}

pub(crate) fn parent_pid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() }
}

pub(crate) fn set_umask(mask: u32) {
    // SAFETY: no preconditions.
    unsafe { libc::umask(mask as libc::mode_t) };
}

pub(crate) fn set_priority(nice: i32) -> io::Result<()> {
    // SAFETY: changes this process's priority.
    check(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) })?;
    Ok(())
}

pub(crate) fn set_rlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit.
    check(unsafe { libc::setrlimit(resource as _, &lim) })?;
    Ok(())
}

pub(crate) fn set_locale_from_env() {
    // SAFETY: called before any thread starts; "" means "from the environment".
    unsafe { libc::setlocale(libc::LC_ALL, c"".as_ptr()) };
}

/// Overwrites the process's command line (the original argv strings) with `title`
/// and sets the thread name, as `ps` and `/proc/PID/cmdline` show them.
///
/// # Safety
/// `argv[0]` must point at the start of the process's original argument
/// strings (contiguous, as the kernel laid them out).
pub(crate) unsafe fn set_process_title(argv: *const *const libc::c_char, title: &str) {
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

/// A pidfd for process `pid` (Linux 5.3 and later, close-on-exec): it polls
/// readable once the process has exited, before anyone reaps it.
pub(crate) fn pidfd(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reaps `pid` if it has exited: its raw wait status.
pub(crate) fn try_wait(pid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid on our own child, non-blocking.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    (r == pid).then_some(status)
}

pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: ends the process without running the Apache parent's atexit
    // handlers, which belong to the process we were forked from.
    unsafe { libc::_exit(code) }
}

/// A raw wait status in words.
pub(crate) fn describe_wait_status(status: i32) -> String {
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
pub(crate) fn zombie_status(pid: u32) -> Option<i32> {
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
}
