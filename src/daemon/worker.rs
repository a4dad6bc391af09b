//! A daemon process, from the moment the Apache parent forked it: it drops
//! privileges, starts Python with the group's settings, preloads scripts,
//! then runs `threads` threads accepting connections from Apache children
//! and serving each request through the WSGI adapter. Its main thread waits
//! for signals and timers and recycles the process gracefully
//! (maximum-requests, restart-interval, inactivity-timeout, request-timeout,
//! startup-timeout, SIGUSR1), drains it when Apache restarts gracefully
//! (SIGWINCH from the parent), or shuts it down (SIGTERM/SIGINT).

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::module::server_config;
use crate::apache::process as apache_process;
use crate::apache::server::Server;
use crate::apache::unixd;
use crate::config::daemon::Ident;
use crate::config::settings::GlobalSettings;
use crate::python::{self, Outcome, ProcessInfo};

use super::exit::{self, ExitReason};
use super::groups::GroupRuntime;
use super::jail;
use super::keys;
use super::protocol::Frame;
use super::transport::{Conn, SocketTransport};
use crate::os::{credentials, descriptors, process, signals, sockets, users};

struct State {
    rt: Arc<GroupRuntime>,
    /// Only the thread holding this waits for a connection (leader/follower,
    /// as mod_wsgi): otherwise every idle thread wakes for each connection and
    /// all but one find nothing to accept.
    accept_lock: Mutex<()>,
    accepting: AtomicBool,
    wake: RawFd,
    wake_w: RawFd,
    active: AtomicUsize,
    served: AtomicU64,
    /// Seconds since `born` of the last request start or end.
    last_activity: AtomicU64,
    /// Each thread's current request (request-timeout, deadlock-timeout).
    running: Mutex<Vec<Option<Running>>>,
    /// A request produced a response (startup-timeout).
    app_loaded: AtomicBool,
    first_request: Mutex<Option<Instant>>,
    born: Instant,
    /// This group's secrets (request authentication).
    secrets: keys::DaemonKeys,
    /// Script modules are named by this process's own rule.
    case_sensitive: bool,
    /// Milliseconds since `born` when the deadlock heartbeat last entered
    /// the main interpreter.
    gil_seen: AtomicU64,
    /// Set (under the lock) before Python stops: the heartbeat must not
    /// enter it any more.
    python_stopped: Mutex<bool>,
    /// The descriptor faulthandler writes Python stacks to when the stack
    /// signal is raised; `None` when it could not be registered.
    stack_dump: Option<RawFd>,
}

/// A request a thread is running.
#[derive(Clone)]
struct Running {
    started: Instant,
    /// Method, URI and script, for the deadlock report.
    what: String,
    /// The thread's id as Python's stack dump shows it.
    thread_id: u64,
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
    if !delay.is_zero() {
        log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}' died soon after its last start; waiting {}s before starting again.",
                pid(),
                g.name,
                delay.as_secs()
            ),
        );
        // A stop or restart during the wait ends it at once.
        if let Some(sig) = signals::wait_signal(&sigset, delay) {
            if matches!(sig, libc::SIGTERM | libc::SIGINT | libc::SIGWINCH) {
                process::exit_now(0);
            }
        }
    }
    if g.cpu_priority != 0 {
        if let Err(e) = process::set_priority(g.cpu_priority) {
            log::process(
                Level::Warn,
                &format!("mod_wsgi (pid={}): cpu-priority: {e}", pid()),
            );
        }
    }
    for (limit, resource, hard_extra) in [
        (g.cpu_time_limit, libc::RLIMIT_CPU, 1 + g.shutdown_timeout),
        (g.memory_limit, libc::RLIMIT_DATA, 0),
        (g.virtual_memory_limit, libc::RLIMIT_AS, 0),
    ] {
        if limit > 0 {
            if let Err(e) = process::set_rlimit(resource, limit, limit + hard_extra) {
                log::process(
                    Level::Warn,
                    &format!("mod_wsgi (pid={}): resource limit: {e}", pid()),
                );
            }
        }
    }
    setup_access(&rt);
    process::exit_with_parent(parent);
    if let Some(m) = g.umask {
        process::set_umask(m);
    }
    if let Some(lang) = &g.lang {
        process::set_env("LANG", lang);
    }
    if let Some(locale) = &g.locale {
        process::set_env("LC_ALL", locale);
    }
    if g.lang.is_some() || g.locale.is_some() {
        process::set_locale_from_env();
    }

    let global = server_config(Server::main())
        .map(|c| c.global.clone())
        .unwrap_or_default();
    start_python(&rt, &global);
    let case_sensitive = global.case_sensitive();
    for (script, app) in &rt.preloads {
        let mut script = script.clone();
        if let Some(root) = &g.chroot {
            match jail::inside(root, &script.path).filter(|p| p != "/") {
                Some(p) => script.path = p,
                None => {
                    log::process(
                        Level::Error,
                        &format!(
                            "mod_wsgi (pid={}): WSGI script '{}' is not located within chroot directory '{root}'; not preloaded into daemon process '{}'.",
                            pid(),
                            script.path,
                            g.name
                        ),
                    );
                    continue;
                }
            }
        }
        let name = python::script::module_name(&script.path, case_sensitive);
        python::import_script(&script, app, &name);
    }
    // Stacks go to the main server's error log (stderr when that is syslog).
    let stack_dump = (g.deadlock_timeout > 0)
        .then(|| enable_stack_dumps(&rt, Server::main().error_log_fd().unwrap_or(2)))
        .flatten();

    let (wake_r, wake_w) = match descriptors::pipe() {
        Ok(p) => p,
        Err(e) => fail(&rt, &format!("cannot create a pipe: {e}")),
    };
    let state = Arc::new(State {
        rt: rt.clone(),
        accept_lock: Mutex::new(()),
        accepting: AtomicBool::new(true),
        wake: wake_r,
        wake_w,
        active: AtomicUsize::new(0),
        served: AtomicU64::new(0),
        last_activity: AtomicU64::new(0),
        running: Mutex::new(vec![None; g.threads as usize]),
        app_loaded: AtomicBool::new(false),
        first_request: Mutex::new(None),
        born: Instant::now(),
        secrets,
        case_sensitive,
        gil_seen: AtomicU64::new(0),
        python_stopped: Mutex::new(false),
        stack_dump,
    });
    for t in 0..g.threads as usize {
        let st = state.clone();
        let mut b = std::thread::Builder::new().name(format!("wsgi-{}", g.name));
        if let Some(size) = g.stack_size {
            b = b.stack_size(size as usize);
        }
        if let Err(e) = b.spawn(move || accept_loop(&st, t)) {
            fail(&rt, &format!("cannot start a request thread: {e}"));
        }
    }
    if g.deadlock_timeout > 0 {
        let st = state.clone();
        let started = std::thread::Builder::new()
            .name(format!("wsgi-{}-gil", g.name))
            .spawn(move || heartbeat(&st));
        if let Err(e) = started {
            fail(
                &rt,
                &format!("cannot start the deadlock-timeout thread: {e}"),
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
    let (reason, timeout) = supervise(&state, &sigset);
    shut_down(&state, wake_w, reason, timeout, &sigset)
}

/// Every server's ErrorLog descriptor: Apache's logging in this process
/// writes to them.
fn error_log_fds() -> Vec<RawFd> {
    Server::main()
        .vhosts()
        .filter_map(Server::error_log_fd)
        .collect()
}

/// Keeps, of what the Apache parent had open, only what this process uses:
/// stdin, stdout, stderr, its group's listener, the error logs, and the C
/// library's syslog socket (ErrorLog syslog:). The rest (other modules'
/// files and sockets, access logs, the MPM's pipes, locks) is closed.
fn close_inherited_descriptors(rt: &GroupRuntime) {
    let mut keep = vec![0, 1, 2, rt.listener];
    keep.extend(error_log_fds());
    keep.extend(sockets::syslog_sockets());
    if let Err(e) = descriptors::close_all_except(&keep) {
        fail(
            rt,
            &format!("cannot close the descriptors inherited from Apache: {e}"),
        );
    }
}

/// Whom a daemon started as root becomes: looked up before any chroot
/// (inside, the user and group databases may be different or missing).
struct Identity {
    uid: u32,
    gid: u32,
    name: String,
    home: String,
    /// Supplementary groups: supplementary-groups=, else the user's.
    groups: Vec<u32>,
    /// The user is not Apache's User (its home becomes the working directory).
    other_than_apache: bool,
}

fn identity(rt: &GroupRuntime) -> Identity {
    let g = &rt.group;
    let (apache_uid, apache_gid, apache_user) =
        (unixd::user_id(), unixd::group_id(), unixd::user_name());
    let user = match &g.user {
        None => users::user_by_uid(apache_uid).unwrap_or(users::User {
            uid: apache_uid,
            gid: apache_gid,
            name: apache_user,
            home: String::new(),
        }),
        Some(Ident::Name(n)) => users::user_by_name(n)
            .unwrap_or_else(|| fail(rt, &format!("user '{n}' does not exist (user= option)"))),
        Some(Ident::Id(u)) => users::user_by_uid(*u).unwrap_or(users::User {
            uid: *u,
            gid: apache_gid,
            name: format!("#{u}"),
            home: String::new(),
        }),
    };
    if user.uid == 0 {
        fail(rt, "refusing to run a daemon process as root");
    }
    let gid = match &g.group {
        None if g.user.is_some() => user.gid,
        None => apache_gid,
        Some(Ident::Id(id)) => *id,
        Some(Ident::Name(n)) => users::group_by_name(n)
            .unwrap_or_else(|| fail(rt, &format!("group '{n}' does not exist (group= option)"))),
    };
    let groups = if g.supplementary_groups.is_empty() {
        // What initgroups(user, gid) would set; just the group for a uid
        // without a user name.
        users::group_list(&user.name, gid).unwrap_or_else(|| vec![gid])
    } else {
        g.supplementary_groups
            .iter()
            .map(|n| {
                users::group_by_name(n).unwrap_or_else(|| {
                    fail(
                        rt,
                        &format!("group '{n}' does not exist (supplementary-groups= option)"),
                    )
                })
            })
            .collect()
    };
    Identity {
        other_than_apache: user.uid != apache_uid,
        uid: user.uid,
        gid,
        name: user.name,
        home: user.home,
        groups,
    }
}

/// chroot=, then group, supplementary groups and user (verified), the
/// working directory, core dumps: mod_wsgi's order (`wsgi_setup_access`).
fn setup_access(rt: &GroupRuntime) {
    let g = &rt.group;
    let target = credentials::is_root().then(|| identity(rt));
    if target.is_none()
        && (g.user.is_some() || g.group.is_some() || !g.supplementary_groups.is_empty())
    {
        // As in mod_wsgi: only root can switch users. Said, not silent.
        log::process(
            Level::Warn,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}': user=, group= and supplementary-groups= have no effect because Apache was not started as root; it runs as uid {}.",
                pid(),
                g.name,
                credentials::euid()
            ),
        );
    }
    if let Some(root) = &g.chroot {
        if target.is_none() {
            fail(
                rt,
                &format!("chroot='{root}' needs Apache to be started as root"),
            );
        }
        if let Err(e) = credentials::chroot(root) {
            fail(
                rt,
                &format!("cannot change the root directory to '{root}' (chroot= option): {e}"),
            );
        }
    }
    if let Some(id) = &target {
        if let Err(e) = credentials::drop_privileges(id.uid, id.gid, &id.groups) {
            fail(
                rt,
                &format!(
                    "cannot switch to user '{}' (uid {}, gid {}): {e}",
                    id.name, id.uid, id.gid
                ),
            );
        }
        verify_privileges(rt, id);
    }
    match &g.home {
        Some(h) => {
            if let Err(e) = process::chdir(h) {
                fail(
                    rt,
                    &format!("cannot change to the home directory '{h}' (home= option): {e}"),
                );
            }
        }
        // The user's home may not exist (nobody's is /nonexistent).
        None => {
            if let Some(id) = &target
                && id.other_than_apache
                && !id.home.is_empty()
                && process::chdir(&id.home).is_err()
            {
                let _ = process::chdir("/");
            }
        }
    }
    if unixd::core_dumps_configured() {
        // As httpd does for its own children after setuid.
        if let Err(e) = process::set_dumpable(true) {
            log::process(
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): cannot make the daemon process dumpable (CoreDumpDirectory): {e}",
                    pid()
                ),
            );
        }
    }
}

/// What is wrong with `c` for a process that should run as `uid`, `gid`
/// and exactly `groups`.
fn credential_mismatch(
    c: &credentials::Credentials,
    uid: u32,
    gid: u32,
    groups: &[u32],
) -> Option<String> {
    let mut want = groups.to_vec();
    want.sort_unstable();
    want.dedup();
    if c.uids != [uid; 3] {
        return Some(format!(
            "its real, effective and saved uids are {:?}, not {uid}",
            c.uids
        ));
    }
    if c.gids != [gid; 3] {
        return Some(format!(
            "its real, effective and saved gids are {:?}, not {gid}",
            c.gids
        ));
    }
    if c.groups != want {
        return Some(format!(
            "its supplementary groups are {:?}, not {want:?}",
            c.groups
        ));
    }
    None
}

/// After dropping root: the kernel must report exactly the target ids, and
/// root must be out of reach.
fn verify_privileges(rt: &GroupRuntime, id: &Identity) {
    let creds = credentials::credentials()
        .unwrap_or_else(|e| fail(rt, &format!("cannot read its credentials back: {e}")));
    if let Some(why) = credential_mismatch(&creds, id.uid, id.gid, &id.groups) {
        fail(
            rt,
            &format!(
                "privileges were not dropped to user '{}' as configured: {why}",
                id.name
            ),
        );
    }
    if credentials::can_become_root() {
        fail(
            rt,
            &format!(
                "after switching to user '{}' it could still become root again",
                id.name
            ),
        );
    }
}

/// Registers faulthandler's stack dump on the stack signal (see
/// `deadlocked`); `None` (and a warning) if Python refuses.
fn enable_stack_dumps(rt: &GroupRuntime, fd: RawFd) -> Option<RawFd> {
    match python::dump_stacks_on_signal(signals::stack_dump_signal(), fd) {
        Ok(()) => Some(fd),
        Err(e) => {
            log::process(
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': Python stacks will not be logged on deadlock-timeout: {e}",
                    pid(),
                    rt.group.name
                ),
            );
            None
        }
    }
}

fn start_python(rt: &GroupRuntime, global: &GlobalSettings) {
    let g = &rt.group;
    // Checked here, not at configtest: one group's broken venv must not stop
    // Apache (and every other group) from starting or restarting.
    if let Some(home) = &g.python_home
        && let Err(e) =
            crate::config::python_home::check(home, crate::config::python_home::BUILT_PYTHON)
    {
        fail(rt, &format!("python-home: {e}"));
    }
    let mut settings = global.clone();
    if g.python_home.is_some() {
        settings.python_home = g.python_home.clone();
    }
    if let Some(root) = &g.chroot
        && !python::interpreters::is_running()
    {
        // Without its standard library CPython fails with "No module named
        // 'encodings'"; say what the jail lacks instead.
        let landmark = crate::config::python_home::stdlib_landmark(
            settings.python_home.as_deref(),
            crate::config::python_home::BUILT_EXECUTABLE,
            crate::config::python_home::BUILT_PYTHON,
        );
        if !landmark.is_file() {
            fail(
                rt,
                &format!(
                    "Python {v}'s standard library is not inside the chroot '{root}': {l} (on the host: {host}{l}) is missing. \
                     The chroot must contain the Python installation this module embeds (lib/python{v} with lib-dynload, \
                     and the shared libraries its extension modules load), or python-home= (a path inside the chroot) \
                     must name a virtualenv or installation of Python {v} there",
                    v = crate::config::python_home::BUILT_PYTHON,
                    l = landmark.display(),
                    host = root.trim_end_matches('/'),
                ),
            );
        }
    }
    let info = ProcessInfo {
        process_group: g.name.clone(),
        maximum_processes: g.processes.into(),
        threads_per_process: g.threads.into(),
        python_path: if g.python_path.is_empty() {
            global.python_path.clone()
        } else {
            g.python_path.clone()
        },
        python_eggs: g.python_eggs.clone().or_else(|| global.python_eggs.clone()),
        switch_interval: g.switch_interval.or(global.switch_interval),
        restrict_stdin: global.restrict_stdin.unwrap_or(false),
        restrict_stdout: global.restrict_stdout.unwrap_or(false),
        restrict_signal: global.restrict_signal(),
    };
    if python::interpreters::is_running() {
        // WSGILazyInitialization Off: Python was started in the Apache
        // parent and this process inherited it (python-home and python-path
        // of the group cannot apply).
        python::runtime::after_fork_in_child();
        log::process(
            Level::Warn,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}' inherited Python from the Apache parent (WSGILazyInitialization Off): its python-home and python-path options are not applied.",
                pid(),
                g.name
            ),
        );
        return;
    }
    if let Err(e) = python::start(&settings, info) {
        fail(rt, &format!("Python could not be initialised: {e}"));
    }
}

fn now_secs(st: &State) -> u64 {
    st.born.elapsed().as_secs()
}

fn accept_loop(st: &State, thread: usize) {
    let listener = st.rt.listener;
    while st.accepting.load(Ordering::Acquire) {
        let leader = st.accept_lock.lock().unwrap_or_else(|e| e.into_inner());
        if !st.accepting.load(Ordering::Acquire) {
            break;
        }
        let ready =
            match descriptors::poll(&[(listener, libc::POLLIN), (st.wake, libc::POLLIN)], None) {
                Ok(r) => r,
                Err(e) => {
                    log::process(
                        Level::Error,
                        &format!("mod_wsgi (pid={}): poll: {e}", pid()),
                    );
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
        if ready[1] != 0 || !st.accepting.load(Ordering::Acquire) {
            break;
        }
        if ready[0] == 0 {
            continue;
        }
        let accepted = sockets::accept(listener);
        // The next idle thread waits while this one serves.
        drop(leader);
        match accepted {
            Ok(Some(stream)) => {
                // Counted before `accepting` is read again, and shut_down
                // clears `accepting` before it reads the count (both
                // SeqCst): either this request is waited for, or it is
                // refused here, before Python could be shutting down.
                st.active.fetch_add(1, Ordering::SeqCst);
                if !st.accepting.load(Ordering::SeqCst) {
                    // Closed without a hello: the Apache child sends the
                    // request again, to a process that is accepting.
                    drop(stream);
                    st.active.fetch_sub(1, Ordering::SeqCst);
                    break;
                }
                st.last_activity.store(now_secs(st), Ordering::Release);
                serve(st, thread, stream);
                let served = st.served.fetch_add(1, Ordering::AcqRel) + 1;
                let max = st.rt.group.maximum_requests;
                if max > 0 && served >= max {
                    // Stop taking requests now; the main thread recycles.
                    st.accepting.store(false, Ordering::Release);
                    descriptors::write_byte(st.wake_w);
                }
                st.last_activity.store(now_secs(st), Ordering::Release);
                st.active.fetch_sub(1, Ordering::SeqCst);
            }
            Ok(None) => {}
            Err(e) => {
                log::process(
                    Level::Error,
                    &format!("mod_wsgi (pid={}): accept: {e}", pid()),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Whether the peer of `stream` may send requests (SO_PEERCRED); a refused
/// peer is logged with its uid and pid.
fn peer_allowed(st: &State, stream: &UnixStream) -> bool {
    match sockets::peer_credentials(stream.as_raw_fd()) {
        Ok((_, uid, _)) if st.rt.peer_uids.contains(&uid) => true,
        Ok((peer_pid, uid, _)) => {
            log::process(
                Level::Alert,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}' refused a connection from uid {uid} (pid {peer_pid}): only Apache's User and root may connect.",
                    pid(),
                    st.rt.group.name
                ),
            );
            false
        }
        Err(e) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': cannot identify a connection's peer: {e}",
                    pid(),
                    st.rt.group.name
                ),
            );
            false
        }
    }
}

fn serve(st: &State, thread: usize, stream: UnixStream) {
    let g = &st.rt.group;
    if !peer_allowed(st, &stream) {
        return;
    }
    let _ = stream.set_read_timeout(Some(st.rt.socket_timeout));
    let _ = stream.set_write_timeout(Some(st.rt.socket_timeout));
    let peer = sockets::peer_credentials(stream.as_raw_fd())
        .map_or_else(|_| "?".to_string(), |(p, u, _)| format!("uid {u}, pid {p}"));
    let mut conn = Conn::new(stream, Level::Info as u8);
    if conn.send(&Frame::Hello { pid: pid() }).is_err() {
        return;
    }
    let sealed = match conn.read_frame() {
        Ok(Frame::Request(s)) => s,
        Ok(other) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': expected a request, got a frame of another kind ({}) from {peer}",
                    pid(),
                    g.name,
                    other.kind_name()
                ),
            );
            return;
        }
        Err(e) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}': cannot read the request from {peer}: {e}",
                    pid(),
                    g.name
                ),
            );
            let _ = conn.send(&Frame::Status(500));
            return;
        }
    };
    // Nothing of the request is looked at before this check.
    let head = match sealed.open(st.secrets.get(sealed.generation)) {
        Ok(h) => h,
        Err(e) => {
            log::process(
                Level::Alert,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}' refused a request from {peer}: {e}. Nothing of it was run.",
                    pid(),
                    g.name
                ),
            );
            let _ = conn.send(&Frame::Status(500));
            return;
        }
    };
    if head.group != g.name {
        log::process(
            Level::Alert,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{}' received a request meant for group '{}'; refused.",
                pid(),
                g.name,
                head.group
            ),
        );
        let _ = conn.send(&Frame::Status(500));
        return;
    }
    let mut spec = head.spec;
    if let Some(root) = &g.chroot
        && let Err(msg) = jail::rewrite_request(root, &mut spec)
    {
        conn.log_level_set(head.log_level);
        let _ = conn.send(&Frame::Log {
            level: Level::Error as u8,
            message: format!("mod_wsgi (pid={}): {msg}", pid()),
        });
        let _ = conn.send(&Frame::Status(500));
        return;
    }
    spec.module_name = python::script::module_name(&spec.script_path, st.case_sensitive);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if g.queue_timeout > 0 && now - spec.request_start > g.queue_timeout as f64 {
        conn.log_level_set(head.log_level);
        let _ = conn.send(&Frame::Log {
            level: Level::Error as u8,
            message: format!(
                "mod_wsgi (pid={}): Queue timeout expired for WSGI daemon process '{}'.",
                pid(),
                g.name
            ),
        });
        let _ = conn.send(&Frame::Status(504));
        return;
    }
    conn.log_level_set(head.log_level);
    spec.process_group = g.name.clone();
    spec.multithread = g.threads > 1;
    spec.multiprocess = g.multiprocess;
    {
        let mut first = st.first_request.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(Instant::now);
    }
    let text = |k: &str| String::from_utf8_lossy(spec.cgi.get(k).unwrap_or_default()).into_owned();
    let what = format!(
        "{} {} ({})",
        text("REQUEST_METHOD"),
        text("REQUEST_URI"),
        spec.script_path
    );
    set_running(
        st,
        thread,
        Some(Running {
            started: Instant::now(),
            what,
            thread_id: process::thread_id(),
        }),
    );
    let conn = Arc::new(Mutex::new(conn));
    let outcome = python::serve(&spec, Box::new(SocketTransport::new(conn.clone())));
    set_running(st, thread, None);
    let status = match outcome {
        Outcome::Sent => {
            st.app_loaded.store(true, Ordering::Release);
            None
        }
        Outcome::Status(code) => {
            if code != 500 {
                st.app_loaded.store(true, Ordering::Release);
            }
            Some(code)
        }
    };
    conn.lock()
        .unwrap_or_else(|e| e.into_inner())
        .complete(status);
}

fn set_running(st: &State, thread: usize, v: Option<Running>) {
    if let Some(slot) = st
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(thread)
    {
        *slot = v;
    }
}

/// The main thread: waits for signals and checks the recycling timers once
/// every 100 ms. Returns why and how long in-flight requests may still run.
fn supervise(st: &State, sigset: &libc::sigset_t) -> (ExitReason, u64) {
    let g = &st.rt.group;
    loop {
        if let Some(sig) = signals::wait_signal(sigset, Duration::from_millis(100)) {
            match sig {
                libc::SIGTERM | libc::SIGINT => return (ExitReason::Shutdown, 0),
                // Apache restarted gracefully: a new generation of this
                // group is starting on the same socket.
                libc::SIGWINCH => return (ExitReason::Retired, g.graceful_timeout),
                libc::SIGUSR1 => {
                    let t = if g.eviction_timeout > 0 {
                        g.eviction_timeout
                    } else {
                        g.graceful_timeout
                    };
                    return (ExitReason::Evicted, t);
                }
                libc::SIGXCPU => return (ExitReason::RequestTimeout, g.graceful_timeout),
                _ => {}
            }
        }
        let served = st.served.load(Ordering::Acquire);
        if g.maximum_requests > 0 && served >= g.maximum_requests {
            return (ExitReason::MaximumRequests, g.graceful_timeout);
        }
        let age = st.born.elapsed().as_secs();
        if g.restart_interval > 0 && age >= g.restart_interval {
            return (ExitReason::RestartInterval, g.graceful_timeout);
        }
        if g.inactivity_timeout > 0
            && st.active.load(Ordering::Acquire) == 0
            && age.saturating_sub(st.last_activity.load(Ordering::Acquire)) >= g.inactivity_timeout
        {
            return (ExitReason::InactivityTimeout, 0);
        }
        if g.request_timeout > 0 {
            let limit = request_limit(g.request_timeout, g.threads);
            let stuck = st
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .flatten()
                .any(|r| r.started.elapsed() >= limit);
            if stuck {
                log::process(
                    Level::Error,
                    &format!(
                        "mod_wsgi (pid={}): Daemon process '{}': a request has run longer than request-timeout ({}s); restarting the process.",
                        pid(),
                        g.name,
                        g.request_timeout
                    ),
                );
                return (ExitReason::RequestTimeout, g.graceful_timeout);
            }
        }
        if g.deadlock_timeout > 0 {
            let blocked = millis_since(st.born).saturating_sub(st.gil_seen.load(Ordering::Acquire));
            if blocked >= g.deadlock_timeout.saturating_mul(1000) {
                deadlocked(st, Duration::from_millis(blocked));
            }
        }
        if g.startup_timeout > 0 && !st.app_loaded.load(Ordering::Acquire) {
            let first = *st.first_request.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_some_and(|t| t.elapsed().as_secs() >= g.startup_timeout) {
                return (ExitReason::StartupTimeout, 0);
            }
        }
    }
}

fn millis_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// deadlock-timeout: enters the main interpreter once a second, as mod_wsgi's
/// deadlock thread takes the GIL; the main thread restarts the process when
/// that has not succeeded for deadlock-timeout seconds.
fn heartbeat(st: &State) {
    st.gil_seen.store(millis_since(st.born), Ordering::Release);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let stopped = st.python_stopped.lock().unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return;
        }
        if python::touch_main_interpreter().is_ok() {
            st.gil_seen.store(millis_since(st.born), Ordering::Release);
        }
    }
}

/// The GIL has been held for deadlock-timeout: no Python code can run in
/// this process any more, so there is nothing to finish. Logs what was
/// running (and, through faulthandler, every thread's Python stack), then
/// exits; the parent starts a new process.
fn deadlocked(st: &State, blocked: Duration) -> ! {
    let g = &st.rt.group;
    let running: Vec<String> = st
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let r = r.as_ref()?;
            Some(format!(
                "thread {} ({:#018x}) for {:.1}s: {}",
                i + 1,
                r.thread_id,
                r.started.elapsed().as_secs_f64(),
                r.what
            ))
        })
        .collect();
    log::process(
        Level::Error,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' deadlocked: Python's GIL could not be taken for {:.1}s (deadlock-timeout={}s); {} request(s) running{}{}; restarting the process.",
            pid(),
            g.name,
            blocked.as_secs_f64(),
            g.deadlock_timeout,
            running.len(),
            if running.is_empty() {
                String::new()
            } else {
                format!(": {}", running.join("; "))
            },
            if st.stack_dump.is_some() {
                "; the Python stack of each thread follows"
            } else {
                ""
            }
        ),
    );
    exit::record_reason(ExitReason::DeadlockTimeout);
    if st.stack_dump.is_some() {
        // Raised in a thread without a Python thread state, so faulthandler
        // dumps the main interpreter's threads.
        let _ = std::thread::spawn(|| signals::raise(signals::stack_dump_signal())).join();
    }
    process::exit_now(1)
}

/// mod_wsgi 6: a request times out after `T * (1 + ln(threads))`.
fn request_limit(timeout: u64, threads: u32) -> Duration {
    Duration::from_secs_f64(timeout as f64 * (1.0 + f64::from(threads.max(1)).ln()))
}

/// Stops accepting, lets in-flight requests finish for up to `grace`
/// seconds (SIGTERM ends that wait), then shuts down: everything, requests
/// still running included, within `shutdown-timeout`, after which a reaper
/// thread ends the process.
fn shut_down(
    st: &Arc<State>,
    wake_w: RawFd,
    reason: ExitReason,
    grace: u64,
    sigset: &libc::sigset_t,
) -> ! {
    let g = &st.rt.group;
    log::process(
        if reason.is_planned() {
            Level::Info
        } else {
            Level::Error
        },
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' stopping: {}.",
            pid(),
            g.name,
            reason.describe()
        ),
    );
    exit::record_reason(reason);
    st.accepting.store(false, Ordering::SeqCst);
    descriptors::write_byte(wake_w);
    // New connections wait in the shared listen queue for another process
    // (of this generation or the next).
    let deadline = Instant::now() + Duration::from_secs(grace);
    while st.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        if let Some(sig) = signals::wait_signal(sigset, Duration::from_millis(10)) {
            if matches!(sig, libc::SIGTERM | libc::SIGINT) {
                log::process(
                    Level::Info,
                    &format!(
                        "mod_wsgi (pid={}): Daemon process '{}': shutdown requested while finishing requests.",
                        pid(),
                        g.name
                    ),
                );
                break;
            }
        }
    }
    // The reaper bounds the rest: requests still running and Python's own
    // shutdown (process_stopping callbacks).
    let limit = g.shutdown_timeout.max(1);
    let name = g.name.clone();
    let reaped = st.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(limit));
        let running = reaped.active.load(Ordering::Acquire);
        log::process(
            Level::Warn,
            &format!(
                "mod_wsgi (pid={}): Daemon process '{name}' did not finish within shutdown-timeout ({limit}s){}; exiting anyway.",
                pid(),
                if running > 0 {
                    format!(" with {running} request(s) still running")
                } else {
                    String::new()
                }
            ),
        );
        process::exit_now(0);
    });
    while st.active.load(Ordering::SeqCst) > 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let destroy = server_config(Server::main()).is_none_or(|c| c.global.destroy_interpreter());
    // The deadlock heartbeat enters Python no more (if it is stuck entering
    // it, the reaper above ends the process).
    *st.python_stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
    python::stop(destroy);
    process::exit_now(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_must_match_exactly() {
        let c = |u: [u32; 3], g: [u32; 3], groups: &[u32]| credentials::Credentials {
            uids: u,
            gids: g,
            groups: groups.to_vec(),
        };
        let ok = c([65534; 3], [65534; 3], &[65534]);
        assert_eq!(
            credential_mismatch(&ok, 65534, 65534, &[65534, 65534]),
            None
        );
        let saved_root = c([65534, 65534, 0], [65534; 3], &[65534]);
        assert!(
            credential_mismatch(&saved_root, 65534, 65534, &[65534])
                .unwrap()
                .contains("uids are [65534, 65534, 0]")
        );
        let gid = c([65534; 3], [0, 65534, 65534], &[65534]);
        assert!(
            credential_mismatch(&gid, 65534, 65534, &[65534])
                .unwrap()
                .contains("gids")
        );
        let extra = c([65534; 3], [65534; 3], &[0, 65534]);
        assert!(
            credential_mismatch(&extra, 65534, 65534, &[65534])
                .unwrap()
                .contains("supplementary groups are [0, 65534]")
        );
    }

    #[test]
    fn request_timeout_scales_with_threads() {
        assert_eq!(request_limit(10, 1), Duration::from_secs(10));
        let l = request_limit(10, 15).as_secs_f64();
        assert!((l - 10.0 * (1.0 + 15f64.ln())).abs() < 1e-6);
    }
}
