//! Signals: blocking a set and waiting for it, handlers (default, run once
//! for a fatal signal, or one that only interrupts a wait), threads that
//! take none, sending them to a process or a thread, and their names.

use std::io;
use std::thread::JoinHandle;
use std::time::Duration;

/// The signal on which a daemon's Python stacks are dumped (a real-time
/// signal nothing else in the process uses).
pub(crate) fn stack_dump_signal() -> i32 {
    libc::SIGRTMIN() + 6
}

/// The signal that wakes the Apache parent's main thread when a daemon
/// dies (a real-time signal httpd does not use; not the stack signal).
pub(crate) fn wake_signal() -> i32 {
    libc::SIGRTMIN() + 7
}

extern "C" fn do_nothing(_: libc::c_int) {}

/// Makes `sig` do nothing but interrupt the wait it arrives in (select,
/// poll and sleeps return early); other system calls restart (SA_RESTART).
pub(crate) fn interrupt_only(sig: i32) {
    // SAFETY: a zeroed sigaction with a plain handler that does nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = do_nothing as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// A thread of this process, to send a signal to.
#[derive(Clone, Copy)]
pub(crate) struct Thread(libc::pthread_t);

/// The calling thread.
pub(crate) fn this_thread() -> Thread {
    // SAFETY: no preconditions.
    Thread(unsafe { libc::pthread_self() })
}

/// Sends `sig` to `thread`, which must still be running.
pub(crate) fn signal_thread(thread: Thread, sig: i32) {
    // SAFETY: the caller guarantees the thread is alive.
    unsafe { libc::pthread_kill(thread.0, sig) };
}

/// Starts a thread with every signal blocked, so that signals sent to the
/// process reach its other threads (the handlers httpd expects to run on
/// its main thread).
pub(crate) fn spawn_without_signals(
    name: String,
    f: impl FnOnce() + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    // SAFETY: building a full set and swapping this thread's mask; the
    // previous mask is restored below whatever the spawn did.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // The new thread inherits the full mask.
    let spawned = std::thread::Builder::new().name(name).spawn(f);
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    spawned
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

/// Restores default handlers for `signals` (in a daemon: those inherited
/// from the Apache parent, whose handlers make no sense there).
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
