//! Signals: blocking a set and waiting for it, handlers (default, or run
//! once for a fatal signal), sending them, and their names.

use std::time::Duration;

/// The signal on which a daemon's Python stacks are dumped (a real-time
/// signal nothing else in the process uses).
pub(crate) fn stack_dump_signal() -> i32 {
    libc::SIGRTMIN() + 6
}

/// Blocks the shutdown signals in this thread (and the threads it starts),
/// so the main thread can wait for them with [`wait_signal`].
pub(crate) fn block_signals(signals: &[i32]) -> libc::sigset_t {
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
pub(crate) fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
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
pub(crate) fn reset_signal_handlers(signals: &[i32]) {
    for &s in signals {
        // SAFETY: installing the default disposition.
        unsafe { libc::signal(s, libc::SIG_DFL) };
    }
}

/// Installs `handler` (run once, then the default action) for `signals`.
pub(crate) fn on_fatal_signals(signals: &[i32], handler: extern "C" fn(libc::c_int)) {
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

pub(crate) fn raise(sig: i32) {
    // SAFETY: async-signal-safe.
    unsafe { libc::raise(sig) };
}

pub(crate) fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: sending a signal to a process we started.
    pid > 0 && unsafe { libc::kill(pid, sig) } == 0
}

pub(crate) fn signal_name(sig: i32) -> String {
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
