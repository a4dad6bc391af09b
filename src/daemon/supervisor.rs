//! The Apache parent's side of daemon mode: at post_config (never during
//! configtest or the first configuration pass) it binds each group's UNIX
//! socket, forks the group's processes from the Python-free parent, and
//! watches them with `apr_proc_other_child_register` (respawning a process
//! that dies, with a growing delay if it keeps dying young). When the
//! configuration pool is cleared (restart, graceful or not, and stop) the
//! daemons get SIGTERM, have `shutdown-timeout` seconds to finish their
//! requests, and are then killed; their sockets are removed.

use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::apache::log::{self, Level};
use crate::apache::module::server_config;
use crate::apache::pool::Pool;
use crate::apache::server::Server;
use crate::config::daemon::{DaemonGroup, Ident};
use crate::config::settings::{GlobalSettings, ImportScript};
use crate::ffi;

use super::sys::{self, ExitInfo};
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
        }
    }
    /// A planned exit, not a failure.
    pub fn is_planned(self) -> bool {
        !matches!(self, ExitReason::StartupFailed | ExitReason::RequestTimeout)
    }
}

/// Fatal signals the daemon records itself are stored as 1000 + signal.
pub const FATAL_SIGNAL_BASE: i32 = 1000;

/// What is known about why `pid` ended, in words; `None` if nothing yet.
pub fn explain_exit(pid: u32) -> Option<String> {
    let records = sys::exit_lookup(pid as i32);
    for r in &records {
        if let ExitInfo::Reason(code) = r {
            if *code > FATAL_SIGNAL_BASE {
                return Some(format!(
                    "killed by {}",
                    sys::signal_name(code - FATAL_SIGNAL_BASE)
                ));
            }
            if let Some(reason) = ExitReason::from_code(*code) {
                return Some(reason.describe().to_string());
            }
        }
    }
    for r in &records {
        if let ExitInfo::WaitStatus(s) = r {
            return Some(sys::describe_wait_status(*s));
        }
    }
    // httpd's MPM passes on only a number, without saying whether the
    // process exited or was killed.
    records.iter().find_map(|r| match r {
        ExitInfo::ApacheReported(v) if (1..=64).contains(v) => Some(format!(
            "exited with status {v} or was killed by {}",
            sys::signal_name(*v)
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

struct Supervisor {
    pconf: *mut ffi::apr_pool_t,
    /// Boxed: APR keeps each slot's address (other-child registration).
    #[allow(clippy::vec_box)]
    slots: Mutex<Vec<Box<Slot>>>,
    stopping: std::sync::atomic::AtomicBool,
}

// SAFETY: used only by the Apache parent's single thread (hooks, the MPM's
// maintenance callbacks and pool cleanups); the raw pointers are pool memory.
unsafe impl Send for Supervisor {}
// SAFETY: as above.
unsafe impl Sync for Supervisor {}

fn pid_of(slot: &Slot) -> i32 {
    slot.proc_.pid
}

/// All daemon groups of the configuration, in definition order.
fn collect(main: Server) -> Vec<(DaemonGroup, usize, String, bool)> {
    let mut out = Vec::new();
    let mut next = Some(main);
    let mut first = true;
    while let Some(s) = next {
        next = s.next();
        if let Some(cfg) = server_config(s) {
            // SAFETY: a configured server_rec.
            let host = unsafe { crate::apache::pool::str_from((*s.as_ptr()).server_hostname) }
                .into_owned();
            for g in &cfg.daemons {
                out.push((g.clone(), s.as_ptr() as usize, host.clone(), first));
            }
        }
        first = false;
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
    if !sys::is_root() {
        return Ok(None);
    }
    // SAFETY: httpd's unixd configuration, set while reading User/Group.
    let (uid, gid) = unsafe { (ffi::ap_unixd_config.user_id, ffi::ap_unixd_config.group_id) };
    let uid = match &group.socket_user {
        None => uid,
        Some(Ident::Id(u)) => *u,
        Some(Ident::Name(n)) => {
            sys::user_by_name(n)
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

/// post_config in the real start (not configtest, not the first pass):
/// sockets, then the daemon processes. `Err` fails the server start.
pub fn start(main: Server, pconf: Pool, g: &GlobalSettings) -> Result<(), String> {
    let all = collect(main);
    if all.is_empty() {
        *GROUPS.write().unwrap_or_else(|e| e.into_inner()) = Vec::new();
        return Ok(());
    }
    // SAFETY: the main server's timeout, set by the Timeout directive.
    let apache_timeout = unsafe { (*main.as_ptr()).timeout } as u64;
    let prefix = socket_prefix(pconf, g);
    let ppid = std::process::id();
    sys::exit_table_create();
    let mut runtimes = Vec::new();
    for (index, (group, server, host, is_main)) in all.into_iter().enumerate() {
        let socket_path = format!("{prefix}.{ppid}.{}.sock", path_name(&group.name, index));
        let owner = socket_owner(&group)?;
        let listener = sys::listen(&sys::ListenSpec {
            path: &socket_path,
            backlog: group.listen_backlog,
            owner,
            send_buffer: group.send_buffer_size,
            receive_buffer: group.receive_buffer_size,
        })
        .map_err(|e| {
            format!(
                "mod_wsgi: cannot create the socket '{socket_path}' for daemon process group '{}': {e}. \
                 Check that the directory exists and is writable (WSGISocketPrefix).",
                group.name
            )
        })?;
        let socket_timeout = Duration::from_micros(if group.socket_timeout > 0 {
            group.socket_timeout * 1_000_000
        } else {
            apache_timeout.max(1_000_000)
        });
        runtimes.push(Arc::new(GroupRuntime {
            preloads: preloads_for(main, &group.name),
            group,
            socket_path,
            listener,
            server,
            server_hostname: host,
            main_server: is_main,
            socket_timeout,
        }));
    }
    *GROUPS.write().unwrap_or_else(|e| e.into_inner()) = runtimes.clone();

    let sup = pconf.alloc(Supervisor {
        pconf: pconf.as_ptr(),
        slots: Mutex::new(Vec::new()),
        stopping: std::sync::atomic::AtomicBool::new(false),
    });
    // SAFETY: allocated in pconf just above; lives until pconf is cleared,
    // after the cleanup below (registered later, so it runs first).
    let sup: &'static Supervisor = unsafe { &*sup };
    pconf.on_cleanup(move || stop_all(sup));
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

/// Forks one daemon process for `slot` (the child never returns).
fn spawn(sup: &'static Supervisor, slot: *mut Slot, delay: Duration) {
    // SAFETY: slot points into a Box owned by sup.slots, which lives as long
    // as pconf; only this (parent) thread touches it.
    let s = unsafe { &mut *slot };
    s.proc_ = ffi::apr_proc_t::default();
    let proc_: *mut ffi::apr_proc_t = &mut s.proc_;
    // SAFETY: proc_ is writable; apr_proc_fork forks this process.
    let rv = unsafe { ffi::apr_proc_fork(proc_, sup.pconf) };
    if rv == ffi::APR_INCHILD as ffi::apr_status_t {
        let others: Vec<RawFd> = groups()
            .iter()
            .filter(|g| !Arc::ptr_eq(g, &s.group))
            .map(|g| g.listener)
            .collect();
        worker::run(s.group.clone(), s.index, delay, &others);
    }
    if rv != ffi::APR_INPARENT as ffi::apr_status_t {
        log::process(
            Level::Alert,
            &format!(
                "mod_wsgi (pid={}): cannot fork a process for daemon process group '{}': error {rv}",
                std::process::id(),
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
            std::process::id(),
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
    sys::exit_record(pid, ExitInfo::ApacheReported(status));
    let why = explain_exit(pid as u32).unwrap_or_else(|| format!("ended with status {status}"));
    let planned = sys::exit_lookup(pid)
        .iter()
        .any(|r| matches!(r, ExitInfo::Reason(c) if ExitReason::from_code(*c).is_some_and(ExitReason::is_planned)));
    let stopping = sup.stopping.load(std::sync::atomic::Ordering::Acquire) || mpm_stopping();
    log::process(
        if planned { Level::Info } else { Level::Error },
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}' (pid {pid}) {why}{}",
            std::process::id(),
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

/// The configuration pool is going away (restart or stop): stop every
/// daemon (SIGTERM, `shutdown-timeout` to finish, then SIGKILL), reap them,
/// and remove the sockets.
fn stop_all(sup: &'static Supervisor) {
    sup.stopping
        .store(true, std::sync::atomic::Ordering::Release);
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Stopping the daemon processes.",
            std::process::id()
        ),
    );
    let slots = std::mem::take(&mut *sup.slots.lock().unwrap_or_else(|e| e.into_inner()));
    let mut live: Vec<(i32, Instant)> = Vec::new();
    // The other-child registrations are gone already: each removed itself
    // with its own pconf cleanup, which ran before this one.
    for s in &slots {
        let pid = pid_of(s);
        if pid > 0 && sys::kill(pid, libc::SIGTERM) {
            let grace =
                Duration::from_secs(s.group.group.shutdown_timeout.max(1)) + Duration::from_secs(1);
            live.push((pid, Instant::now() + grace));
        }
    }
    while !live.is_empty() {
        live.retain(|&(pid, deadline)| {
            if let Some(status) = sys::try_wait(pid) {
                sys::exit_record(pid, ExitInfo::WaitStatus(status));
                return false;
            }
            if Instant::now() >= deadline {
                log::process(
                    Level::Warn,
                    &format!(
                        "mod_wsgi (pid={}): daemon process {pid} did not exit within shutdown-timeout; killing it.",
                        std::process::id()
                    ),
                );
                sys::kill(pid, libc::SIGKILL);
                // Reaped below once the kernel has it.
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until {
                    if sys::try_wait(pid).is_some() {
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
    let groups = std::mem::take(&mut *GROUPS.write().unwrap_or_else(|e| e.into_inner()));
    for g in groups {
        sys::close(g.listener);
        let _ = std::fs::remove_file(&g.socket_path);
    }
    sys::exit_table_destroy();
}

/// In each Apache child (child_init): the daemons' listening sockets are not
/// for it.
pub fn close_listeners_in_child() {
    for g in groups() {
        sys::close(g.listener);
    }
}

/// The human name of the user a uid is (for diagnostics).
pub fn user_name(uid: u32) -> String {
    sys::user_by_uid(uid).map_or_else(|| format!("#{uid}"), |u| u.name)
}
