//! A daemon process, from the moment the Apache parent forked it: it drops
//! privileges, starts Python with the group's settings, preloads scripts,
//! then runs `threads` threads taking requests from Apache children (on new
//! connections, or on connections kept open between requests) and serving
//! each through the WSGI adapter. Its main thread waits
//! for signals and timers and recycles the process gracefully
//! (maximum-requests, restart-interval, inactivity-timeout, request-timeout,
//! startup-timeout, SIGUSR1), drains it when Apache restarts gracefully
//! (SIGWINCH from the parent), or shuts it down (SIGTERM/SIGINT).
//!
//! `startup` (what it closes, limits, Python, preloads), `access` (user,
//! groups, chroot), `accept` (the request threads), `idle` (what they wait
//! on: listener, wake pipe, connections between requests), `watchdog` (signals,
//! recycling timers, deadlock-timeout), `timeouts` (request-timeout and
//! interrupt-timeout) and `shutdown` hold the parts; `run` is the order
//! they run in.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::module::server_config;
use crate::apache::process as apache_process;
use crate::apache::server::Server;
use crate::os::{descriptors, process, signals};

use super::exit::{self, ExitReason};
use super::groups::GroupRuntime;
use super::keys;
use super::transport::Conn;

mod accept;
mod access;
mod idle;
mod shutdown;
mod startup;
mod timeouts;
mod watchdog;

use startup::{
    apply_limits, close_inherited_descriptors, preload_scripts, set_environment, start_python,
    wait_before_restart,
};

/// What the threads of a daemon process share.
struct State {
    rt: Arc<GroupRuntime>,
    /// The listener, the wake pipe and the connections between requests,
    /// each event handed to one waiting thread.
    idle: idle::Idle,
    accepting: AtomicBool,
    wake_w: RawFd,
    active: AtomicUsize,
    served: AtomicU64,
    /// Seconds since `born` of the last request start or end.
    last_activity: AtomicU64,
    /// Each thread's current request (request-timeout, deadlock-timeout).
    running: Mutex<Vec<Option<Running>>>,
    /// Numbers the requests, so a request-timeout decision taken for one
    /// never lands on the next request of the same thread.
    next_request: AtomicU64,
    /// Work for the request-timeout thread (stacks, interruptions), which
    /// waits for GILs so the main thread never does; `None` without
    /// request-timeout.
    timeout_jobs: Option<Sender<timeouts::Job>>,
    /// A request produced a response (startup-timeout).
    app_loaded: AtomicBool,
    /// A request found its script changed: the process restarts.
    script_changed: AtomicBool,
    first_request: Mutex<Option<Instant>>,
    born: Instant,
    /// This group's secrets (request authentication).
    secrets: keys::DaemonKeys,
    /// Script modules are named by this process's own rule.
    case_sensitive: bool,
    /// Milliseconds since `born` when the deadlock heartbeat last entered
    /// the main interpreter.
    gil_seen: AtomicU64,
    /// Set (under the write lock) before Python stops: the deadlock
    /// heartbeat and the request-timeout thread, which enter Python under
    /// the read lock, must not any more.
    python_stopped: RwLock<bool>,
    /// The descriptor faulthandler writes Python stacks to when the stack
    /// signal is raised; `None` when it could not be registered.
    stack_dump: Option<RawFd>,
}

/// A request a thread is running.
#[derive(Clone)]
struct Running {
    /// Which request (see `State::next_request`).
    number: u64,
    started: Instant,
    /// Method, URI and script, for the deadlock and request-timeout reports.
    what: String,
    /// The thread's id as Python's stack dump shows it (its pthread id,
    /// which is CPython's thread ident).
    thread_id: u64,
    /// The interpreter it runs in, once known.
    interpreter: Option<i64>,
    /// Its connection from the Apache child, and that connection's socket
    /// (open as long as this entry is: the thread drops the connection only
    /// after clearing it), to answer the request if it is given up on.
    conn: Arc<Mutex<Conn>>,
    socket: RawFd,
    /// When `mod_wsgi.RequestTimeout` was raised in it (interrupt-timeout).
    interrupted: Option<Instant>,
    /// Given up on after request-timeout: answered, no longer waited for.
    given_up: bool,
}

fn pid() -> u32 {
    std::process::id()
}

fn fail(rt: &GroupRuntime, msg: &str) -> ! {
    log::process(
        Level::Alert,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' cannot start: {msg}",
            pid(),
            rt.group.name
        ),
    );
    exit::record_reason(ExitReason::StartupFailed);
    process::exit_now(1)
}

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    // Async-signal-safe: atomics and clock_gettime only, then the default
    // action (the handler was installed with SA_RESETHAND).
    exit::record_fatal_signal(sig);
    signals::raise(sig);
}

/// Signals the daemon's main thread waits for (shutdown, drain, recycle...).
const HANDLED_SIGNALS: [i32; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGXCPU,
];

/// The daemon process's life; never returns.
pub(crate) fn run(
    rt: Arc<GroupRuntime>,
    index: usize,
    delay: Duration,
    others: &[RawFd],
    secrets: keys::DaemonKeys,
) -> ! {
    // This process is a copy of the root parent, whose memory holds other
    // modules' secrets (mod_ssl's private keys): from now on only root may
    // read or trace it (CoreDumpDirectory re-enables dumps later, as httpd
    // does for its children).
    if let Err(e) = process::set_dumpable(false) {
        fail(&rt, &format!("cannot make the process non-dumpable: {e}"));
    }
    let g = &rt.group;
    // Other groups' secrets (inherited with the Apache children's table)
    // are none of this process's business.
    keys::forget_current();
    let parent = process::parent_pid();
    // Handlers inherited from the Apache parent make no sense here; the
    // main thread takes these signals synchronously instead.
    signals::reset_signal_handlers(&HANDLED_SIGNALS);
    signals::reset_signal_handlers(&[signals::wake_signal()]);
    let sigset = signals::block_signals(&HANDLED_SIGNALS);
    signals::on_fatal_signals(
        &[
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGABRT,
            libc::SIGFPE,
            libc::SIGILL,
        ],
        on_fatal_signal,
    );
    apache_process::close_listeners();
    for &fd in others {
        descriptors::close(fd);
    }
    close_inherited_descriptors(&rt);
    if let Some(title) = g.process_title() {
        apache_process::set_title(&title);
    }
    wait_before_restart(&rt, delay, &sigset);
    apply_limits(&rt);
    access::setup_access(&rt);
    process::exit_with_parent(parent);
    set_environment(&rt);

    let global = server_config(Server::main())
        .map(|c| c.global.clone())
        .unwrap_or_default();
    crate::python::metrics::init_process(crate::python::metrics::Settings {
        request_threads_maximum: g.threads,
        server_metrics: g.server_metrics,
        daemon: true,
    });
    start_python(&rt, &global);
    let case_sensitive = global.case_sensitive();
    preload_scripts(&rt, case_sensitive);
    // Stacks go to the main server's error log (stderr when that is syslog).
    let stack_dump = (g.deadlock_timeout > 0)
        .then(|| watchdog::enable_stack_dumps(&rt, Server::main().error_log_fd().unwrap_or(2)))
        .flatten();

    let (timeout_jobs, timeout_queue) = if g.request_timeout > 0 {
        let (tx, rx) = mpsc::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let (wake_r, wake_w) = match descriptors::pipe() {
        Ok(p) => p,
        Err(e) => fail(&rt, &format!("cannot create a pipe: {e}")),
    };
    let idle = match idle::Idle::new(rt.listener, wake_r) {
        Ok(i) => i,
        Err(e) => fail(&rt, &format!("cannot create an epoll set: {e}")),
    };
    let state = Arc::new(State {
        rt: rt.clone(),
        idle,
        accepting: AtomicBool::new(true),
        wake_w,
        active: AtomicUsize::new(0),
        served: AtomicU64::new(0),
        last_activity: AtomicU64::new(0),
        running: Mutex::new(vec![None; g.threads as usize]),
        next_request: AtomicU64::new(1),
        timeout_jobs,
        app_loaded: AtomicBool::new(false),
        script_changed: AtomicBool::new(false),
        first_request: Mutex::new(None),
        born: Instant::now(),
        secrets,
        case_sensitive,
        gil_seen: AtomicU64::new(0),
        python_stopped: RwLock::new(false),
        stack_dump,
    });
    for t in 0..g.threads as usize {
        let st = state.clone();
        let mut b = std::thread::Builder::new().name(format!("wsgi-{}", g.name));
        if let Some(size) = g.stack_size {
            b = b.stack_size(size as usize);
        }
        if let Err(e) = b.spawn(move || accept::accept_loop(&st, t)) {
            fail(&rt, &format!("cannot start a request thread: {e}"));
        }
    }
    if g.deadlock_timeout > 0 {
        let st = state.clone();
        let started = std::thread::Builder::new()
            .name(format!("wsgi-{}-gil", g.name))
            .spawn(move || watchdog::heartbeat(&st));
        if let Err(e) = started {
            fail(
                &rt,
                &format!("cannot start the deadlock-timeout thread: {e}"),
            );
        }
    }
    if let Some(queue) = timeout_queue {
        let st = state.clone();
        let started = std::thread::Builder::new()
            .name(format!("wsgi-{}-timeout", g.name))
            .spawn(move || timeouts::work(&st, queue));
        if let Err(e) = started {
            fail(
                &rt,
                &format!("cannot start the request-timeout thread: {e}"),
            );
        }
    }
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' #{} ready: {} thread(s) on {}.",
            pid(),
            g.name,
            index + 1,
            g.threads,
            rt.socket_path
        ),
    );
    let (reason, timeout) = watchdog::supervise(&state, &sigset);
    shutdown::shut_down(&state, wake_w, reason, timeout, &sigset)
}
