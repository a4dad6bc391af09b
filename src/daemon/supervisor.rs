//! The Apache parent's side of daemon mode: at post_config (never during
//! configtest or the first configuration pass) it makes sure each group has
//! its UNIX socket, forks the group's processes from the Python-free parent,
//! and watches them with `apr_proc_other_child_register` (respawning a
//! process that dies, with a growing delay if it keeps dying young).
//!
//! Sockets outlive restarts: the listening descriptors and what they were
//! made for are kept in the process pool's userdata ([`super::stash`]),
//! because httpd unloads this module on every restart. The next generation
//! reuses a socket whose group still wants it as it is, and closes and
//! removes the others; so connections waiting in a backlog, and Apache
//! children of the old generation, are never cut off.
//!
//! When the configuration pool is cleared: on a graceful restart the
//! daemons are told to drain (SIGWINCH: stop accepting, finish in-flight
//! requests within graceful-timeout, then shut down within shutdown-timeout)
//! and the parent does not wait for them; they are recorded in the stash, so
//! the next generation watches them (reaps them, never restarts them, and
//! kills them if they overstay). On a hard restart or stop the daemons get
//! SIGTERM, have `shutdown-timeout` seconds, and are then killed; at stop
//! the sockets are closed and removed.

use std::ffi::{CStr, c_int, c_void};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::module::server_config;
use crate::apache::pool::Pool;
use crate::apache::server::Server;
use crate::config::daemon::{DaemonGroup, Ident};
use crate::config::settings::{GlobalSettings, ImportScript, ServerConfig};
use crate::ffi;

use super::keys;
use super::script_owner::ScriptOwner;
use super::stash::{ParentState, RetiringRecord, SocketRecord};
use super::worker;
use crate::os::exit_table::{self, ExitInfo};
use crate::os::{credentials, descriptors, process, signals, sockets, users};

/// One daemon group as this generation of the server runs it.
pub struct GroupRuntime {
    pub group: DaemonGroup,
    pub socket_path: String,
    pub listener: RawFd,
    /// The server_rec (address) that defined the group: the main server's
    /// groups are usable everywhere, a virtual host's only by virtual hosts
    /// with the same ServerName.
    pub server: usize,
    pub server_hostname: String,
    pub main_server: bool,
    /// Scripts to load at daemon start (WSGIImportScript and preloading
    /// aliases naming this group), with their application group.
    pub preloads: Vec<(ImportScript, String)>,
    /// The effective socket timeout (socket-timeout, else Apache's Timeout).
    pub socket_timeout: Duration,
    /// Who may connect to the socket (SO_PEERCRED): root, the Apache User
    /// (or this process's user when Apache does not run as root) and the
    /// socket-user.
    pub peer_uids: Vec<u32>,
    /// script-user= / script-group=, resolved (checked in Apache children).
    pub(crate) script_owner: Option<ScriptOwner>,
}

static GROUPS: RwLock<Vec<Arc<GroupRuntime>>> = RwLock::new(Vec::new());

/// The groups of the current generation (inherited by Apache children).
pub fn groups() -> Vec<Arc<GroupRuntime>> {
    GROUPS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

pub fn find(name: &str) -> Option<Arc<GroupRuntime>> {
    GROUPS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|g| g.group.name == name)
        .cloned()
}

/// Why a daemon chose to exit (recorded in the shared exit table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitReason {
    MaximumRequests = 1,
    RestartInterval = 2,
    InactivityTimeout = 3,
    RequestTimeout = 4,
    StartupFailed = 5,
    Shutdown = 6,
    StartupTimeout = 7,
    Evicted = 8,
    Retired = 9,
    DeadlockTimeout = 10,
}

impl ExitReason {
    pub fn from_code(c: i32) -> Option<ExitReason> {
        use ExitReason::*;
        Some(match c {
            1 => MaximumRequests,
            2 => RestartInterval,
            3 => InactivityTimeout,
            4 => RequestTimeout,
            5 => StartupFailed,
            6 => Shutdown,
            7 => StartupTimeout,
            8 => Evicted,
            9 => Retired,
            10 => DeadlockTimeout,
            _ => return None,
        })
    }
    pub fn describe(self) -> &'static str {
        match self {
            ExitReason::MaximumRequests => "recycled after maximum-requests",
            ExitReason::RestartInterval => "recycled after restart-interval",
            ExitReason::InactivityTimeout => "recycled after inactivity-timeout",
            ExitReason::RequestTimeout => "restarted because a request exceeded request-timeout",
            ExitReason::StartupFailed => "failed to start (see the log lines above)",
            ExitReason::Shutdown => "shut down by a signal",
            ExitReason::StartupTimeout => {
                "restarted because the application did not load within startup-timeout"
            }
            ExitReason::Evicted => "evicted (SIGUSR1)",
            ExitReason::Retired => {
                "replaced by a graceful restart of Apache (it finishes its requests first)"
            }
            ExitReason::DeadlockTimeout => {
                "restarted because Python's GIL could not be taken within deadlock-timeout"
            }
        }
    }
    /// A planned exit, not a failure.
    pub fn is_planned(self) -> bool {
        !matches!(
            self,
            ExitReason::StartupFailed | ExitReason::RequestTimeout | ExitReason::DeadlockTimeout
        )
    }
}

/// Fatal signals the daemon records itself are stored as 1000 + signal.
pub const FATAL_SIGNAL_BASE: i32 = 1000;

/// What is known about why `pid` ended, in words; `None` if nothing yet.
pub fn explain_exit(pid: u32) -> Option<String> {
    let records = exit_table::lookup(pid as i32);
    for r in &records {
        if let ExitInfo::Reason(code) = r {
            if *code > FATAL_SIGNAL_BASE {
                return Some(format!(
                    "killed by {}",
                    signals::signal_name(code - FATAL_SIGNAL_BASE)
                ));
            }
            if let Some(reason) = ExitReason::from_code(*code) {
                return Some(reason.describe().to_string());
            }
        }
    }
    for r in &records {
        if let ExitInfo::WaitStatus(s) = r {
            return Some(process::describe_wait_status(*s));
        }
    }
    // httpd's MPM passes on only a number, without saying whether the
    // process exited or was killed.
    records.iter().find_map(|r| match r {
        ExitInfo::ApacheReported(v) if (1..=64).contains(v) => Some(format!(
            "exited with status {v} or was killed by {}",
            signals::signal_name(*v)
        )),
        ExitInfo::ApacheReported(v) => Some(format!("exited with status {v}")),
        _ => None,
    })
}

/// A forked daemon process the parent watches.
struct Slot {
    sup: &'static Supervisor,
    group: Arc<GroupRuntime>,
    index: usize,
    /// Inline in the boxed slot: its address stays valid for APR's
    /// other-child registration until stop_all removes it.
    proc_: ffi::apr_proc_t,
    started: Instant,
    /// Consecutive deaths soon after start.
    quick_deaths: u32,
}

/// A daemon process of an earlier generation, finishing its requests after
/// a graceful restart: reaped when it exits, never restarted, killed if it
/// overstays.
struct Retiring {
    sup: &'static Supervisor,
    rec: RetiringRecord,
    /// Inline in the box: APR keeps its address while registered.
    proc_: ffi::apr_proc_t,
    registered: bool,
    killed: bool,
}

struct Supervisor {
    pconf: *mut ffi::apr_pool_t,
    /// The process pool (it outlives pconf): the stash lives there.
    process_pool: *mut ffi::apr_pool_t,
    /// Boxed: APR keeps each slot's address (other-child registration).
    #[allow(clippy::vec_box)]
    slots: Mutex<Vec<Box<Slot>>>,
    /// Boxed for the same reason.
    #[allow(clippy::vec_box)]
    retiring: Mutex<Vec<Box<Retiring>>>,
    /// What the next generation inherits; written through to the process
    /// pool at every change ([`Supervisor::persist`]).
    state: Mutex<ParentState>,
    /// Every group's secrets of the recent generations (never inherited).
    key_store: Mutex<keys::Store>,
    stopping: AtomicBool,
}

// SAFETY: used only by the Apache parent's single thread (hooks, the MPM's
// maintenance callbacks and pool cleanups); the raw pointers are pool memory.
unsafe impl Send for Supervisor {}
// SAFETY: as above.
unsafe impl Sync for Supervisor {}

/// This generation's supervisor, for the monitor hook (null outside the
/// Apache parent's run).
static CURRENT: AtomicPtr<Supervisor> = AtomicPtr::new(std::ptr::null_mut());

const STATE_KEY: &CStr = c"mod_wsgi_rs.daemon_state.v1";
const STATE_POOL_KEY: &CStr = c"mod_wsgi_rs.daemon_state_pool.v1";

impl Supervisor {
    fn state(&self) -> std::sync::MutexGuard<'_, ParentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the state through to the process pool.
    fn persist(&self) {
        let text = self.state().encode();
        // SAFETY: the process pool lives as long as the process.
        unsafe { Pool::from_raw(self.process_pool) }.set_retained_text(
            STATE_KEY,
            STATE_POOL_KEY,
            &text,
        );
    }
}

fn process_pool(main: Server) -> Option<Pool> {
    // SAFETY: a configured server_rec's process record lives as long as the
    // process, and so does its pool.
    unsafe {
        let p = (*main.as_ptr()).process;
        if p.is_null() || (*p).pool.is_null() {
            None
        } else {
            Some(Pool::from_raw((*p).pool))
        }
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn pid_of(slot: &Slot) -> i32 {
    slot.proc_.pid
}

fn ppid() -> u32 {
    std::process::id()
}

/// All daemon groups of the configuration, in definition order.
fn collect(main: Server) -> Vec<(DaemonGroup, usize, String, bool)> {
    let mut out = Vec::new();
    let mut next = Some(main);
    let mut is_main = true;
    // A virtual host without any WSGI directive has no configuration of its
    // own: httpd points it at the main server's, whose groups count once.
    let mut seen: Vec<*const ServerConfig> = Vec::new();
    while let Some(s) = next {
        next = s.next();
        let first = std::mem::replace(&mut is_main, false);
        let Some(cfg) = server_config(s) else {
            continue;
        };
        let ptr: *const ServerConfig = cfg;
        if seen.contains(&ptr) {
            continue;
        }
        seen.push(ptr);
        // SAFETY: a configured server_rec.
        let host =
            unsafe { crate::apache::pool::str_from((*s.as_ptr()).server_hostname) }.into_owned();
        for g in &cfg.daemons {
            out.push((g.clone(), s.as_ptr() as usize, host.clone(), first));
        }
    }
    out
}

/// WSGIImportScript / preloading aliases for `group`, from every server.
fn preloads_for(main: Server, group: &str) -> Vec<(ImportScript, String)> {
    let mut out: Vec<(ImportScript, String)> = Vec::new();
    let mut next = Some(main);
    while let Some(s) = next {
        next = s.next();
        let Some(cfg) = server_config(s) else {
            continue;
        };
        for script in cfg.preloads() {
            if script.process_group != group {
                continue;
            }
            let app = match script.application_group.as_str() {
                "%{GLOBAL}" => String::new(),
                g if g.contains("%{") => continue,
                g => g.to_string(),
            };
            if !out.iter().any(|(o, a)| o.path == script.path && *a == app) {
                out.push((script, app));
            }
        }
    }
    out
}

fn socket_prefix(pool: Pool, g: &GlobalSettings) -> String {
    // SAFETY: the pool is live; httpd returns a pool string (or null).
    let p = unsafe {
        match &g.socket_prefix {
            Some(p) if p.starts_with('/') => return p.clone(),
            Some(p) => ffi::ap_server_root_relative(pool.as_ptr(), pool.strdup(p)),
            None => ffi::ap_runtime_dir_relative(pool.as_ptr(), c"wsgi".as_ptr()),
        }
    };
    // SAFETY: a pool string or null.
    unsafe { crate::apache::pool::str_from(p) }.into_owned()
}

/// A file-name-safe form of the group name for the socket path.
fn path_name(name: &str, index: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if clean == name {
        clean
    } else {
        format!("{clean}-{index}")
    }
}

fn socket_owner(group: &DaemonGroup) -> Result<Option<(u32, u32)>, String> {
    if !credentials::is_root() {
        return Ok(None);
    }
    // SAFETY: httpd's unixd configuration, set while reading User/Group.
    let (uid, gid) = unsafe { (ffi::ap_unixd_config.user_id, ffi::ap_unixd_config.group_id) };
    let uid = match &group.socket_user {
        None => uid,
        Some(Ident::Id(u)) => *u,
        Some(Ident::Name(n)) => {
            users::user_by_name(n)
                .ok_or_else(|| {
                    format!(
                        "WSGIDaemonProcess {}: socket-user '{n}' does not exist",
                        group.name
                    )
                })?
                .uid
        }
    };
    Ok(Some((uid, gid)))
}

/// script-user= / script-group= as ids (the configuration checked that
/// they exist; one removed since fails the start).
fn script_owner(group: &DaemonGroup) -> Result<Option<ScriptOwner>, String> {
    let missing = |option: &str, who: &Ident| {
        format!(
            "WSGIDaemonProcess {}: {option} '{who}' does not exist",
            group.name
        )
    };
    if let Some(u) = &group.script_user {
        let uid = match u {
            Ident::Id(id) => users::user_by_uid(*id).map(|u| u.uid),
            Ident::Name(n) => users::user_by_name(n).map(|u| u.uid),
        };
        return uid
            .map(|uid| Some(ScriptOwner::User(uid)))
            .ok_or_else(|| missing("script-user", u));
    }
    if let Some(g) = &group.script_group {
        let gid = match g {
            Ident::Id(id) => users::group_name(*id).map(|_| *id),
            Ident::Name(n) => users::group_by_name(n),
        };
        return gid
            .map(|gid| Some(ScriptOwner::Group(gid)))
            .ok_or_else(|| missing("script-group", g));
    }
    Ok(None)
}

/// post_config in the real start (not configtest, not the first pass) and
/// at every restart: sockets (kept from the last generation where they still
/// fit), the daemons of earlier generations still draining, then the daemon
/// processes. `Err` fails the server start.
pub fn start(main: Server, pconf: Pool, g: &GlobalSettings) -> Result<(), String> {
    let all = collect(main);
    let Some(process) = process_pool(main) else {
        return Err("mod_wsgi: the Apache process record has no pool".into());
    };
    let mut inherited = process
        .retained_text(STATE_KEY)
        .map(|t| ParentState::decode(&t))
        .unwrap_or_default();
    if all.is_empty() && inherited.sockets.is_empty() && inherited.retiring.is_empty() {
        *GROUPS.write().unwrap_or_else(|e| e.into_inner()) = Vec::new();
        return Ok(());
    }
    inherited.exit_table = exit_table::attach(inherited.exit_table);
    let Some(mut key_store) = keys::Store::attach(inherited.key_store) else {
        return Err(
            "mod_wsgi: cannot make the memory for daemon process secrets (an anonymous mapping with MADV_WIPEONFORK, Linux 4.14 or later)".into(),
        );
    };
    inherited.key_store = key_store.addr();
    let names: Vec<&str> = all.iter().map(|(g, ..)| g.name.as_str()).collect();
    key_store.rotate(&names)?;
    let retiring = std::mem::take(&mut inherited.retiring);
    let sup = pconf.alloc(Supervisor {
        pconf: pconf.as_ptr(),
        process_pool: process.as_ptr(),
        slots: Mutex::new(Vec::new()),
        retiring: Mutex::new(Vec::new()),
        state: Mutex::new(inherited),
        key_store: Mutex::new(key_store),
        stopping: AtomicBool::new(false),
    });
    // SAFETY: allocated in pconf just above; lives until pconf is cleared,
    // after the cleanup below (registered later, so it runs first).
    let sup: &'static Supervisor = unsafe { &*sup };
    pconf.on_cleanup(move || stop_all(sup));
    CURRENT.store(
        sup as *const Supervisor as *mut Supervisor,
        Ordering::Release,
    );
    adopt_retiring(sup, retiring);

    let runtimes = open_sockets(sup, main, pconf, g, all)?;
    *GROUPS.write().unwrap_or_else(|e| e.into_inner()) = runtimes.clone();
    for rt in &runtimes {
        for index in 0..rt.group.processes as usize {
            let mut slots = sup.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.push(Box::new(Slot {
                sup,
                group: rt.clone(),
                index,
                proc_: ffi::apr_proc_t::default(),
                started: Instant::now(),
                quick_deaths: 0,
            }));
            let slot: *mut Slot = &mut **slots.last_mut().expect("just pushed");
            drop(slots);
            spawn(sup, slot, Duration::ZERO);
        }
    }
    Ok(())
}

/// Watches the daemons an earlier generation left draining.
fn adopt_retiring(sup: &'static Supervisor, records: Vec<RetiringRecord>) {
    let mut kept = Vec::new();
    {
        let mut list = sup.retiring.lock().unwrap_or_else(|e| e.into_inner());
        for rec in records {
            // Only this process reaps its children, and it has not since the
            // record was written: a missing process means a bad record.
            if !process::process_exists(rec.pid) {
                continue;
            }
            let proc_ = ffi::apr_proc_t {
                pid: rec.pid,
                ..Default::default()
            };
            list.push(Box::new(Retiring {
                sup,
                rec: rec.clone(),
                proc_,
                registered: true,
                killed: false,
            }));
            let r: *mut Retiring = &mut **list.last_mut().expect("just pushed");
            // SAFETY: proc_ and r live in the box, which outlives the
            // registration (removed on death, or by APR's pconf cleanup
            // before stop_all drops the boxes).
            unsafe {
                ffi::apr_proc_other_child_register(
                    std::ptr::addr_of_mut!((*r).proc_),
                    Some(retiring_maintenance),
                    r as *mut c_void,
                    std::ptr::null_mut(),
                    sup.pconf,
                )
            };
            kept.push(rec);
        }
    }
    sup.state().retiring = kept;
    kill_overdue(sup);
}

unsafe extern "C" fn retiring_maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    crate::apache::entry::guard("daemon maintenance", (), || {
        let r = data as *mut Retiring;
        match reason {
            ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => on_retired_death(r, status),
            // SAFETY: r is a live box in sup.retiring (see adopt_retiring).
            ffi::APR_OC_REASON_UNREGISTER => unsafe { (*r).registered = false },
            _ => {}
        }
    })
}

fn on_retired_death(r: *mut Retiring, status: c_int) {
    // SAFETY: r is a live box in sup.retiring (see adopt_retiring); fields
    // are read through the pointer because unregistering calls back into
    // retiring_maintenance.
    let (sup, pid, registered, killed, group) = unsafe {
        (
            (*r).sup,
            (*r).rec.pid,
            (*r).registered,
            (*r).killed,
            (*r).rec.group.clone(),
        )
    };
    if registered {
        // SAFETY: unregisters the registration made in adopt_retiring.
        unsafe { ffi::apr_proc_other_child_unregister(r as *mut c_void) };
    }
    // SAFETY: as above.
    unsafe { (*r).registered = false };
    exit_table::record(pid, ExitInfo::ApacheReported(status));
    let why = if killed {
        "killed by the parent with SIGKILL".to_string()
    } else {
        explain_exit(pid as u32).unwrap_or_else(|| format!("status {status}"))
    };
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{group}' (pid {pid}) of an earlier generation has exited ({why}).",
            ppid()
        ),
    );
    sup.state().retiring.retain(|x| x.pid != pid);
    sup.persist();
}

/// Kills daemons of earlier generations that did not exit within
/// graceful-timeout + shutdown-timeout (they enforce those themselves; this
/// is the safety net). Runs at each restart and from the monitor hook.
fn kill_overdue(sup: &Supervisor) {
    let now = epoch_secs();
    for r in sup
        .retiring
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter_mut()
    {
        if r.registered && !r.killed && r.rec.kill_at <= now {
            log::process(
                Level::Warn,
                &format!(
                    "mod_wsgi (pid={}): Daemon process '{}' (pid {}) of an earlier generation is still running past graceful-timeout + shutdown-timeout; killing it.",
                    ppid(),
                    r.rec.group,
                    r.rec.pid
                ),
            );
            signals::kill(r.rec.pid, libc::SIGKILL);
            r.killed = true;
        }
    }
}

/// The MPM's monitor hook (the Apache parent, about every 10 seconds).
pub fn monitor() {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    // SAFETY: CURRENT is cleared by stop_all before pconf (which holds the
    // supervisor) is cleared; the monitor hook runs in the same thread.
    kill_overdue(unsafe { &*p });
}

/// Each group's listening socket: the one an earlier generation left open,
/// if it is still what the group asks for, otherwise a new one. Sockets no
/// group wants any more are closed and their files removed.
fn open_sockets(
    sup: &'static Supervisor,
    main: Server,
    pconf: Pool,
    g: &GlobalSettings,
    all: Vec<(DaemonGroup, usize, String, bool)>,
) -> Result<Vec<Arc<GroupRuntime>>, String> {
    // SAFETY: the main server's timeout, set by the Timeout directive.
    let apache_timeout = unsafe { (*main.as_ptr()).timeout } as u64;
    let prefix = socket_prefix(pconf, g);
    struct Want {
        group: DaemonGroup,
        server: usize,
        host: String,
        is_main: bool,
        path: String,
        owner: Option<(u32, u32)>,
        script_owner: Option<ScriptOwner>,
    }
    let mut wants = Vec::new();
    for (index, (group, server, host, is_main)) in all.into_iter().enumerate() {
        let path = format!("{prefix}.{}.{}.sock", ppid(), path_name(&group.name, index));
        let owner = socket_owner(&group)?;
        let script_owner = script_owner(&group)?;
        wants.push(Want {
            group,
            server,
            host,
            is_main,
            path,
            owner,
            script_owner,
        });
    }
    let mut old = std::mem::take(&mut sup.state().sockets);
    let kept: Vec<Option<SocketRecord>> = wants
        .iter()
        .map(|w| {
            let i = old.iter().position(|r| {
                r.same_socket(
                    &w.path,
                    w.owner,
                    w.group.send_buffer_size,
                    w.group.receive_buffer_size,
                ) && sockets::is_listener_on(r.fd, &r.path)
                    && sockets::socket_file_id(&r.path) == Some(r.file)
            })?;
            Some(old.remove(i))
        })
        .collect();
    // Closed (and removed) before a changed group binds its path again.
    for r in old {
        descriptors::close(r.fd);
        if sockets::socket_file_id(&r.path) == Some(r.file) {
            let _ = std::fs::remove_file(&r.path);
        }
        log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Closed the socket '{}' of daemon process group '{}' (the group was removed or its socket settings changed).",
                ppid(),
                r.path,
                r.group
            ),
        );
    }
    let mut records = Vec::new();
    let mut runtimes = Vec::new();
    let mut error = None;
    for (w, kept) in wants.into_iter().zip(kept) {
        let record = match kept {
            Some(mut r) => {
                if r.backlog != w.group.listen_backlog {
                    match sockets::relisten(r.fd, w.group.listen_backlog) {
                        Ok(()) => r.backlog = w.group.listen_backlog,
                        Err(e) => log::process(
                            Level::Warn,
                            &format!(
                                "mod_wsgi (pid={}): cannot change the listen-backlog of '{}': {e}",
                                ppid(),
                                r.path
                            ),
                        ),
                    }
                }
                r.group = w.group.name.clone();
                r
            }
            // After a failure, only the sockets already open are recorded
            // (and closed by the cleanup when Apache gives up).
            None if error.is_some() => continue,
            None => match sockets::listen(&sockets::ListenSpec {
                path: &w.path,
                backlog: w.group.listen_backlog,
                owner: w.owner,
                send_buffer: w.group.send_buffer_size,
                receive_buffer: w.group.receive_buffer_size,
            }) {
                Ok(fd) => {
                    unlink_at_exit(sup, &w.path);
                    SocketRecord {
                        group: w.group.name.clone(),
                        path: w.path.clone(),
                        fd,
                        backlog: w.group.listen_backlog,
                        owner: w.owner,
                        send_buffer: w.group.send_buffer_size,
                        receive_buffer: w.group.receive_buffer_size,
                        file: sockets::socket_file_id(&w.path).unwrap_or((0, 0)),
                    }
                }
                Err(e) => {
                    error = Some(format!(
                        "mod_wsgi: cannot create the socket '{}' for daemon process group '{}': {e}. \
                         Check that the directory exists and is writable (WSGISocketPrefix).",
                        w.path, w.group.name
                    ));
                    continue;
                }
            },
        };
        let socket_timeout = Duration::from_micros(if w.group.socket_timeout > 0 {
            w.group.socket_timeout * 1_000_000
        } else {
            apache_timeout.max(1_000_000)
        });
        let mut peer_uids = vec![0, credentials::euid()];
        peer_uids.extend(w.owner.map(|(uid, _)| uid));
        if credentials::is_root() {
            // SAFETY: httpd's unixd configuration, set while reading User.
            peer_uids.push(unsafe { ffi::ap_unixd_config.user_id });
        }
        peer_uids.sort_unstable();
        peer_uids.dedup();
        runtimes.push(Arc::new(GroupRuntime {
            peer_uids,
            script_owner: w.script_owner,
            preloads: preloads_for(main, &w.group.name),
            listener: record.fd,
            socket_path: record.path.clone(),
            group: w.group,
            server: w.server,
            server_hostname: w.host,
            main_server: w.is_main,
            socket_timeout,
        }));
        records.push(record);
    }
    sup.state().sockets = records;
    sup.persist();
    match error {
        Some(e) => Err(e),
        None => Ok(runtimes),
    }
}

/// Removes the socket file at `path` when the process pool is destroyed,
/// i.e. whenever Apache exits, even when this module's own cleanups are gone
/// (a restart whose configuration fails to load ends the process after pconf
/// was cleared). The cleanup is libc's `unlink`, not code in this module,
/// which is unloaded by then. The path has Apache's pid in it, so nothing
/// else can own it. (A normal stop removes the file first; the second unlink
/// finds nothing.)
fn unlink_at_exit(sup: &Supervisor, path: &str) {
    // SAFETY: the process pool lives as long as the process.
    let process = unsafe { Pool::from_raw(sup.process_pool) };
    let c = process.strdup(path);
    let unlink: unsafe extern "C" fn(*const std::ffi::c_char) -> c_int = libc::unlink;
    // SAFETY: `int unlink(const char *)` has the C ABI of an APR cleanup
    // (`apr_status_t (*)(void *)`: one pointer argument, an int result); the
    // address is libc's own (taken through the GOT), valid after this module
    // is unloaded; its argument is a C string in the process pool, which
    // outlives the cleanup. Child cleanups (fork+exec) do nothing.
    unsafe {
        let cleanup: unsafe extern "C" fn(*mut c_void) -> ffi::apr_status_t =
            std::mem::transmute(unlink);
        ffi::apr_pool_cleanup_register(
            sup.process_pool,
            c as *const c_void,
            Some(cleanup),
            Some(ffi::apr_pool_cleanup_null),
        );
    }
}

/// Forks one daemon process for `slot` (the child never returns).
fn spawn(sup: &'static Supervisor, slot: *mut Slot, delay: Duration) {
    // SAFETY: slot points into a Box owned by sup.slots, which lives as long
    // as pconf; only this (parent) thread touches it.
    let s = unsafe { &mut *slot };
    s.proc_ = ffi::apr_proc_t::default();
    let proc_: *mut ffi::apr_proc_t = &mut s.proc_;
    // The daemon's own secrets, copied out of the store, which it does not
    // inherit.
    let secrets = keys::DaemonKeys::new(
        sup.key_store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .window(&s.group.group.name),
    );
    // SAFETY: proc_ is writable; apr_proc_fork forks this process.
    let rv = unsafe { ffi::apr_proc_fork(proc_, sup.pconf) };
    if rv == ffi::APR_INCHILD as ffi::apr_status_t {
        let others: Vec<RawFd> = groups()
            .iter()
            .filter(|g| !Arc::ptr_eq(g, &s.group))
            .map(|g| g.listener)
            .collect();
        worker::run(s.group.clone(), s.index, delay, &others, secrets);
    }
    drop(secrets);
    if rv != ffi::APR_INPARENT as ffi::apr_status_t {
        log::process(
            Level::Alert,
            &format!(
                "mod_wsgi (pid={}): cannot fork a process for daemon process group '{}': error {rv}",
                ppid(),
                s.group.group.name
            ),
        );
        return;
    }
    s.started = Instant::now() + delay;
    // SAFETY: proc_ and slot live in the boxed slot, which outlives the
    // registration (removed by on_death before re-registering, and by stop_all).
    unsafe {
        ffi::apr_proc_other_child_register(
            proc_,
            Some(maintenance),
            slot as *mut c_void,
            std::ptr::null_mut(),
            sup.pconf,
        )
    };
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Starting process '{}' with threads={} (pid {}).",
            ppid(),
            s.group.group.name,
            s.group.group.threads,
            pid_of(s)
        ),
    );
}

unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    crate::apache::entry::guard("daemon maintenance", (), || {
        let slot = data as *mut Slot;
        // SAFETY: data is the slot registered in spawn; registrations are
        // removed before the slots are freed (stop_all).
        let sup = unsafe { (*slot).sup };
        match reason {
            ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => on_death(sup, slot, status),
            _ => {}
        }
    })
}

fn mpm_stopping() -> bool {
    let mut state: c_int = 0;
    // SAFETY: ap_mpm_query writes one int.
    unsafe { ffi::ap_mpm_query(ffi::AP_MPMQ_MPM_STATE, &mut state) };
    state == ffi::AP_MPMQ_STOPPING
}

fn on_death(sup: &'static Supervisor, slot: *mut Slot, status: c_int) {
    // SAFETY: slot is one of sup's live boxes (see spawn).
    let s = unsafe { &mut *slot };
    let pid = pid_of(s);
    // SAFETY: unregisters the registration made for this slot.
    unsafe { ffi::apr_proc_other_child_unregister(slot as *mut c_void) };
    exit_table::record(pid, ExitInfo::ApacheReported(status));
    let why = explain_exit(pid as u32).unwrap_or_else(|| format!("ended with status {status}"));
    let planned = exit_table::lookup(pid)
        .iter()
        .any(|r| matches!(r, ExitInfo::Reason(c) if ExitReason::from_code(*c).is_some_and(ExitReason::is_planned)));
    let stopping = sup.stopping.load(Ordering::Acquire) || mpm_stopping();
    log::process(
        if planned { Level::Info } else { Level::Error },
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' (pid {pid}) {why}{}",
            ppid(),
            s.group.group.name,
            if stopping {
                "."
            } else {
                "; starting a new one."
            }
        ),
    );
    if stopping {
        return;
    }
    let lived = Instant::now().saturating_duration_since(s.started);
    let delay = if !planned && lived < Duration::from_secs(10) {
        s.quick_deaths += 1;
        // 1, 2, 4, ... up to 20 seconds: a daemon that cannot start must not
        // become a fork bomb.
        Duration::from_secs((1u64 << (s.quick_deaths - 1).min(5)).min(20))
    } else {
        s.quick_deaths = 0;
        Duration::ZERO
    };
    spawn(sup, slot, delay);
}

/// Whether the restart in progress is a graceful one (SIGUSR1, `apachectl
/// graceful`), from httpd's MPM data kept across restarts (`unixd.h`). Its
/// pconf cleanup, which ran before ours, moved the flag to `was_graceful`.
fn restart_is_graceful() -> bool {
    // SAFETY: httpd's retained MPM data: created on first use and kept for
    // the life of the process.
    let r = unsafe { ffi::ap_unixd_mpm_get_retained_data() };
    if r.is_null() {
        return false;
    }
    // SAFETY: as above; volatile reads because httpd's signal handlers write
    // these fields.
    let (was, ungraceful) = unsafe {
        (
            std::ptr::read_volatile(std::ptr::addr_of!((*r).was_graceful)),
            std::ptr::read_volatile(std::ptr::addr_of!((*r).is_ungraceful)),
        )
    };
    was != 0 && ungraceful == 0
}

fn exiting() -> bool {
    // SAFETY: a read-only query of httpd's state.
    unsafe { ffi::ap_state_query(ffi::AP_SQ_MAIN_STATE) == ffi::AP_SQ_MS_EXITING }
}

/// The configuration pool is going away. Graceful restart: the daemons are
/// told to drain and left to the next generation. Hard restart or stop:
/// every daemon (this generation's and those still draining) gets SIGTERM,
/// `shutdown-timeout` to finish, then SIGKILL, and is reaped. Sockets are
/// kept for the next generation, except at stop, when they are closed and
/// removed.
fn stop_all(sup: &'static Supervisor) {
    sup.stopping.store(true, Ordering::Release);
    let _ = CURRENT.compare_exchange(
        sup as *const Supervisor as *mut Supervisor,
        std::ptr::null_mut(),
        Ordering::AcqRel,
        Ordering::Acquire,
    );
    let exiting = exiting();
    let graceful = !exiting && restart_is_graceful();
    // The other-child registrations are gone already: each removed itself
    // with its own pconf cleanup, which ran before this one.
    let slots = std::mem::take(&mut *sup.slots.lock().unwrap_or_else(|e| e.into_inner()));
    if graceful {
        retire(sup, &slots);
    } else {
        terminate(sup, &slots);
    }
    if exiting {
        let sockets = std::mem::take(&mut sup.state().sockets);
        for r in sockets {
            descriptors::close(r.fd);
            if sockets::socket_file_id(&r.path) == Some(r.file) {
                let _ = std::fs::remove_file(&r.path);
            }
        }
        exit_table::destroy();
        sup.state().exit_table = 0;
    } else {
        // The next generation adopts the mapping.
        exit_table::detach();
    }
    sup.persist();
    *GROUPS.write().unwrap_or_else(|e| e.into_inner()) = Vec::new();
}

/// Graceful restart: this generation's daemons stop accepting and finish
/// their requests (SIGWINCH) while the next generation starts at once on the
/// same sockets. Nothing here waits.
fn retire(sup: &Supervisor, slots: &[Box<Slot>]) {
    let now = epoch_secs();
    let mut told = 0;
    let mut st = sup.state();
    for s in slots {
        let pid = pid_of(s);
        if pid <= 0 {
            continue;
        }
        let g = &s.group.group;
        // A zombie ignores it; the next generation reaps it all the same.
        signals::kill(pid, libc::SIGWINCH);
        st.retiring.push(RetiringRecord {
            pid,
            group: g.name.clone(),
            kill_at: now + g.graceful_timeout + g.shutdown_timeout.max(1) + 5,
            shutdown_timeout: g.shutdown_timeout,
        });
        told += 1;
    }
    drop(st);
    if told > 0 {
        log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Graceful restart: {told} daemon process(es) stop accepting and finish their requests; new ones start on the same sockets.",
                ppid()
            ),
        );
    }
}

/// Hard restart or stop: SIGTERM, `shutdown-timeout` (+1 s), SIGKILL, reap.
fn terminate(sup: &Supervisor, slots: &[Box<Slot>]) {
    log::process(
        Level::Info,
        &format!("mod_wsgi (pid={}): Stopping the daemon processes.", ppid()),
    );
    let mut live: Vec<(i32, Instant)> = Vec::new();
    for s in slots {
        let pid = pid_of(s);
        if pid > 0 && signals::kill(pid, libc::SIGTERM) {
            let grace =
                Duration::from_secs(s.group.group.shutdown_timeout.max(1)) + Duration::from_secs(1);
            live.push((pid, Instant::now() + grace));
        }
    }
    // Daemons of earlier generations still draining: their registrations
    // went with pconf's cleanups too, so they are waited for here.
    for r in std::mem::take(&mut sup.state().retiring) {
        if signals::kill(r.pid, libc::SIGTERM) {
            let grace = Duration::from_secs(r.shutdown_timeout.max(1)) + Duration::from_secs(1);
            live.push((r.pid, Instant::now() + grace));
        }
    }
    while !live.is_empty() {
        live.retain(|&(pid, deadline)| {
            if let Some(status) = process::try_wait(pid) {
                exit_table::record(pid, ExitInfo::WaitStatus(status));
                return false;
            }
            if Instant::now() >= deadline {
                log::process(
                    Level::Warn,
                    &format!(
                        "mod_wsgi (pid={}): daemon process {pid} did not exit within shutdown-timeout; killing it.",
                        ppid()
                    ),
                );
                signals::kill(pid, libc::SIGKILL);
                // Reaped below once the kernel has it.
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until {
                    if process::try_wait(pid).is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                return false;
            }
            true
        });
        if !live.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// In each Apache child (child_init): the daemons' listening sockets are not
/// for it.
pub fn close_listeners_in_child() {
    for g in groups() {
        descriptors::close(g.listener);
    }
}

/// The human name of the user a uid is (for diagnostics).
pub fn user_name(uid: u32) -> String {
    users::user_by_uid(uid).map_or_else(|| format!("#{uid}"), |u| u.name)
}
