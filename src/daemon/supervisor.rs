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

use std::ffi::{CStr, c_int};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::module::server_config;
use crate::apache::pool::Pool;
use crate::apache::process::{Forked, fork, watch};
use crate::apache::server::Server;
use crate::apache::{mpm, unixd};
use crate::config::daemon::{DaemonGroup, Ident};
use crate::config::settings::{GlobalSettings, ImportScript, ServerConfig};
use crate::os::exit_table::{self, ExitInfo};
use crate::os::{credentials, descriptors, process, signals, sockets, users};

use super::keys;
use super::script_owner::ScriptOwner;
use super::stash::{ParentState, RetiringRecord, SocketRecord};
use super::worker;

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

/// A forked daemon process the parent watches (httpd's MPM reports its
/// death through [`watch`]).
struct Slot {
    group: Arc<GroupRuntime>,
    index: usize,
    /// 0 until forked (and when the last fork failed).
    pid: i32,
    started: Instant,
    /// Consecutive deaths soon after start.
    quick_deaths: u32,
}

/// A daemon process of an earlier generation, finishing its requests after
/// a graceful restart: reaped when it exits, never restarted, killed if it
/// overstays.
struct Retiring {
    rec: RetiringRecord,
    killed: bool,
}

/// The daemons of earlier generations this generation watches (for the
/// monitor hook); emptied when the configuration pool is cleared.
static RETIRING: Mutex<Vec<Retiring>> = Mutex::new(Vec::new());

fn retiring() -> MutexGuard<'static, Vec<Retiring>> {
    RETIRING.lock().unwrap_or_else(|e| e.into_inner())
}

/// This generation's daemons, shared by the callbacks httpd runs in the
/// Apache parent's one thread (hooks, the MPM's reports of dead children,
/// pool cleanups); dropped after the configuration pool's cleanup.
struct Supervisor {
    pconf: Pool,
    /// The process pool (it outlives pconf): the stash lives there.
    process_pool: Pool,
    /// Indexed by the callbacks of each slot's registration.
    slots: Mutex<Vec<Slot>>,
    /// What the next generation inherits; written through to the process
    /// pool at every change ([`Supervisor::persist`]).
    state: Mutex<ParentState>,
    /// Every group's secrets of the recent generations (never inherited).
    key_store: Mutex<keys::Store>,
    stopping: AtomicBool,
}

const STATE_KEY: &CStr = c"mod_wsgi_rs.daemon_state.v1";
const STATE_POOL_KEY: &CStr = c"mod_wsgi_rs.daemon_state_pool.v1";

impl Supervisor {
    fn state(&self) -> MutexGuard<'_, ParentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slots(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the state through to the process pool.
    fn persist(&self) {
        let text = self.state().encode();
        self.process_pool
            .set_retained_text(STATE_KEY, STATE_POOL_KEY, &text);
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ppid() -> u32 {
    std::process::id()
}

/// All daemon groups of the configuration, in definition order.
fn collect(main: Server) -> Vec<(DaemonGroup, usize, String, bool)> {
    let mut out = Vec::new();
    // A virtual host without any WSGI directive has no configuration of its
    // own: httpd points it at the main server's, whose groups count once.
    let mut seen: Vec<*const ServerConfig> = Vec::new();
    for (i, s) in main.vhosts().enumerate() {
        let Some(cfg) = server_config(s) else {
            continue;
        };
        let ptr: *const ServerConfig = cfg;
        if seen.contains(&ptr) {
            continue;
        }
        seen.push(ptr);
        let host = s.hostname();
        for g in &cfg.daemons {
            out.push((g.clone(), s.as_ptr() as usize, host.clone(), i == 0));
        }
    }
    out
}

/// WSGIImportScript / preloading aliases for `group`, from every server.
fn preloads_for(main: Server, group: &str) -> Vec<(ImportScript, String)> {
    let mut out: Vec<(ImportScript, String)> = Vec::new();
    for s in main.vhosts() {
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
    match &g.socket_prefix {
        Some(p) if p.starts_with('/') => p.clone(),
        Some(p) => pool.server_root_relative(p),
        None => pool.runtime_dir_relative(c"wsgi"),
    }
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
    let (uid, gid) = (unixd::user_id(), unixd::group_id());
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
    let Some(process) = main.process_pool() else {
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
    let sup = Rc::new(Supervisor {
        pconf,
        process_pool: process,
        slots: Mutex::new(Vec::new()),
        state: Mutex::new(inherited),
        key_store: Mutex::new(key_store),
        stopping: AtomicBool::new(false),
    });
    let on_clear = sup.clone();
    pconf.on_cleanup(move || stop_all(&on_clear));
    adopt_retiring(&sup, retiring);

    let runtimes = open_sockets(&sup, main, pconf, g, all)?;
    *GROUPS.write().unwrap_or_else(|e| e.into_inner()) = runtimes.clone();
    for rt in &runtimes {
        for index in 0..rt.group.processes as usize {
            let slot = {
                let mut slots = sup.slots();
                slots.push(Slot {
                    group: rt.clone(),
                    index,
                    pid: 0,
                    started: Instant::now(),
                    quick_deaths: 0,
                });
                slots.len() - 1
            };
            spawn(&sup, slot, Duration::ZERO);
        }
    }
    Ok(())
}

/// Watches the daemons an earlier generation left draining.
fn adopt_retiring(sup: &Rc<Supervisor>, records: Vec<RetiringRecord>) {
    let mut kept = Vec::new();
    {
        let mut list = retiring();
        for rec in records {
            // Only this process reaps its children, and it has not since the
            // record was written: a missing process means a bad record.
            if !process::process_exists(rec.pid) {
                continue;
            }
            list.push(Retiring {
                rec: rec.clone(),
                killed: false,
            });
            let (s, pid, group) = (sup.clone(), rec.pid, rec.group.clone());
            watch(sup.pconf, rec.pid, move |status| {
                on_retired_death(&s, pid, &group, status)
            });
            kept.push(rec);
        }
    }
    sup.state().retiring = kept;
    kill_overdue();
}

fn on_retired_death(sup: &Supervisor, pid: i32, group: &str, status: c_int) {
    let killed = {
        let mut list = retiring();
        let killed = list.iter().any(|r| r.rec.pid == pid && r.killed);
        list.retain(|r| r.rec.pid != pid);
        killed
    };
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
fn kill_overdue() {
    let now = epoch_secs();
    for r in retiring().iter_mut() {
        if !r.killed && r.rec.kill_at <= now {
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
    kill_overdue();
}

/// Each group's listening socket: the one an earlier generation left open,
/// if it is still what the group asks for, otherwise a new one. Sockets no
/// group wants any more are closed and their files removed.
fn open_sockets(
    sup: &Supervisor,
    main: Server,
    pconf: Pool,
    g: &GlobalSettings,
    all: Vec<(DaemonGroup, usize, String, bool)>,
) -> Result<Vec<Arc<GroupRuntime>>, String> {
    let apache_timeout = main.timeout();
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
                    // Whenever Apache exits, even when this module's own
                    // cleanups are gone (a restart whose configuration fails
                    // to load ends the process after pconf was cleared). The
                    // path has Apache's pid in it, so nothing else can own
                    // it. (A normal stop removes the file first; the second
                    // unlink finds nothing.)
                    sup.process_pool.remove_file_at_cleanup(&w.path);
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
        let socket_timeout = if w.group.socket_timeout > 0 {
            Duration::from_micros(w.group.socket_timeout * 1_000_000)
        } else {
            apache_timeout.max(Duration::from_secs(1))
        };
        let mut peer_uids = vec![0, credentials::euid()];
        peer_uids.extend(w.owner.map(|(uid, _)| uid));
        if credentials::is_root() {
            peer_uids.push(unixd::user_id());
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

/// Forks one daemon process for `slot` (the child never returns).
fn spawn(sup: &Rc<Supervisor>, slot: usize, delay: Duration) {
    let Some((group, index)) = sup.slots().get_mut(slot).map(|s| {
        s.pid = 0;
        (s.group.clone(), s.index)
    }) else {
        return;
    };
    // The daemon's own secrets, copied out of the store, which it does not
    // inherit.
    let secrets = keys::DaemonKeys::new(
        sup.key_store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .window(&group.group.name),
    );
    let pid = match fork(sup.pconf) {
        Ok(Forked::Child) => {
            let others: Vec<RawFd> = groups()
                .iter()
                .filter(|g| !Arc::ptr_eq(g, &group))
                .map(|g| g.listener)
                .collect();
            worker::run(group, index, delay, &others, secrets)
        }
        Ok(Forked::Parent(pid)) => {
            drop(secrets);
            pid
        }
        Err(rv) => {
            drop(secrets);
            log::process(
                Level::Alert,
                &format!(
                    "mod_wsgi (pid={}): cannot fork a process for daemon process group '{}': error {rv}",
                    ppid(),
                    group.group.name
                ),
            );
            return;
        }
    };
    if let Some(s) = sup.slots().get_mut(slot) {
        s.pid = pid;
        s.started = Instant::now() + delay;
    }
    let s = sup.clone();
    watch(sup.pconf, pid, move |status| on_death(&s, slot, status));
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Starting process '{}' with threads={} (pid {pid}).",
            ppid(),
            group.group.name,
            group.group.threads,
        ),
    );
}

fn on_death(sup: &Rc<Supervisor>, slot: usize, status: c_int) {
    let Some((pid, group)) = sup.slots().get(slot).map(|s| (s.pid, s.group.clone())) else {
        return;
    };
    exit_table::record(pid, ExitInfo::ApacheReported(status));
    let why = explain_exit(pid as u32).unwrap_or_else(|| format!("ended with status {status}"));
    let planned = exit_table::lookup(pid)
        .iter()
        .any(|r| matches!(r, ExitInfo::Reason(c) if ExitReason::from_code(*c).is_some_and(ExitReason::is_planned)));
    let stopping = sup.stopping.load(Ordering::Acquire) || mpm::is_stopping();
    log::process(
        if planned { Level::Info } else { Level::Error },
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' (pid {pid}) {why}{}",
            ppid(),
            group.group.name,
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
    let Some(delay) = sup.slots().get_mut(slot).map(|s| {
        let lived = Instant::now().saturating_duration_since(s.started);
        let (delay, quick_deaths) = respawn_delay(planned, lived, s.quick_deaths);
        s.quick_deaths = quick_deaths;
        delay
    }) else {
        return;
    };
    spawn(sup, slot, delay);
}

/// How long to wait before starting a daemon again that died after `lived`
/// (an unplanned death within 10 s counts as quick), with `quick_deaths`
/// quick deaths before this one in a row; and that count, updated. 1, 2,
/// 4, ... up to 20 seconds: a daemon that cannot start must not become a
/// fork bomb.
fn respawn_delay(planned: bool, lived: Duration, quick_deaths: u32) -> (Duration, u32) {
    if !planned && lived < Duration::from_secs(10) {
        let n = quick_deaths.saturating_add(1);
        (Duration::from_secs((1u64 << (n - 1).min(5)).min(20)), n)
    } else {
        (Duration::ZERO, 0)
    }
}

/// The configuration pool is going away. Graceful restart: the daemons are
/// told to drain and left to the next generation. Hard restart or stop:
/// every daemon (this generation's and those still draining) gets SIGTERM,
/// `shutdown-timeout` to finish, then SIGKILL, and is reaped. Sockets are
/// kept for the next generation, except at stop, when they are closed and
/// removed.
fn stop_all(sup: &Supervisor) {
    sup.stopping.store(true, Ordering::Release);
    // The monitor hook has nothing more to watch in this generation.
    retiring().clear();
    let exiting = mpm::is_exiting();
    let graceful = !exiting && mpm::restart_is_graceful();
    // The other-child registrations are gone already: each removed itself
    // with its own pconf cleanup, which ran before this one.
    let slots = std::mem::take(&mut *sup.slots());
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
fn retire(sup: &Supervisor, slots: &[Slot]) {
    let now = epoch_secs();
    let mut told = 0;
    let mut st = sup.state();
    for s in slots {
        let pid = s.pid;
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
fn terminate(sup: &Supervisor, slots: &[Slot]) {
    log::process(
        Level::Info,
        &format!("mod_wsgi (pid={}): Stopping the daemon processes.", ppid()),
    );
    let mut live: Vec<(i32, Instant)> = Vec::new();
    for s in slots {
        let pid = s.pid;
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
