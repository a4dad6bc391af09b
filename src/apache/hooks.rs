//! The hook functions httpd calls, each behind a panic guard. They stay thin:
//! the work is in `handler`, `crate::python` and `crate::config`.

use std::ffi::c_int;
use std::sync::OnceLock;

use crate::config::settings::{GlobalSettings, ImportScript};
use crate::ffi;
use crate::python::{self, ProcessInfo};
use crate::status::HttpStatus;

use super::entry::guard;
use super::handler;
use super::log::{self, Level};
use super::module::server_config;
use super::mpm;
use super::pool::Pool;
use super::request::Request;
use super::scoreboard;
use super::server::Server;
use super::status::HookStatus;

/// Facts about this (child) process, fixed at child_init.
#[derive(Debug, Default)]
pub(crate) struct ChildState {
    pub multithread: bool,
    pub multiprocess: bool,
    /// Why Python is unavailable here, if it is.
    pub python_error: Option<String>,
}

static CHILD: OnceLock<ChildState> = OnceLock::new();

pub(crate) fn child_state() -> Option<&'static ChildState> {
    CHILD.get()
}

fn process_info(g: &GlobalSettings) -> ProcessInfo {
    let threads = mpm::max_threads().max(1);
    let daemons = mpm::max_daemons().max(1);
    ProcessInfo {
        process_group: String::new(),
        maximum_processes: daemons.into(),
        threads_per_process: threads.into(),
        python_eggs: g.python_eggs.clone(),
        interpreters: g.interpreter_scopes(&g.python_path, g.switch_interval),
    }
}

/// # Safety
/// Called by httpd only, with the live structures its hook signature names.
pub(crate) unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard("post_config", HookStatus::Ok, || {
        // SAFETY: httpd passes the main server, configured.
        let s = unsafe { Server::from_raw(s) };
        let Some(cfg) = server_config(s) else {
            return HookStatus::Ok;
        };
        // SAFETY: pconf is live.
        let pool = unsafe { Pool::from_raw(pconf) };
        let banner = format!(
            "mod_wsgi-rs/{} Python/{}\0",
            env!("CARGO_PKG_VERSION"),
            env!("WSGI_PYTHON_VERSION")
        );
        // SAFETY: the component is copied into pconf by httpd.
        unsafe {
            ffi::ap_add_version_component(pool.as_ptr(), pool.strdup(banner.trim_end_matches('\0')))
        };
        // Not configtest, not the first (pre-config) pass: the real start or a restart.
        if !mpm::is_real_start() {
            return HookStatus::Ok;
        }
        // httpd makes its scoreboard after post_config at the first start
        // (and keeps it across restarts): as with mod_wsgi, the first daemon
        // processes are forked once it exists (pre_mpm), so that they inherit
        // it (mod_wsgi.server_metrics()).
        let now = scoreboard::exists();
        // Daemon processes are forked before Python could start in this
        // process (WSGILazyInitialization Off only).
        if let Err(e) = crate::daemon::supervisor::start(s, pool, &cfg.global, now) {
            log::server(s, Level::Alert, &e.to_string());
            return HttpStatus::INTERNAL_SERVER_ERROR.into();
        }
        if now {
            python_in_parent(s, &cfg.global);
        } else {
            // SAFETY: registering a hook while httpd reads the configuration
            // (hooks are registered afresh with every generation); core's
            // pre_mpm hook, which creates the scoreboard, runs before ours.
            unsafe {
                ffi::ap_hook_pre_mpm(
                    Some(pre_mpm),
                    std::ptr::null(),
                    std::ptr::null(),
                    ffi::APR_HOOK_REALLY_LAST as c_int,
                )
            };
        }
        HookStatus::Ok
    })
    .raw()
}

/// httpd's first start, once the scoreboard exists (before the MPM forks
/// its children): what post_config deferred.
///
/// # Safety
/// Called by httpd only, with the live structures its hook signature names.
unsafe extern "C" fn pre_mpm(_p: *mut ffi::apr_pool_t, _sb: ffi::ap_scoreboard_e) -> c_int {
    guard("pre_mpm", HookStatus::Ok, || {
        crate::daemon::supervisor::spawn_deferred();
        let s = Server::main();
        if let Some(cfg) = server_config(s) {
            python_in_parent(s, &cfg.global);
        }
        HookStatus::Ok
    })
    .raw()
}

/// WSGILazyInitialization Off: Python starts once in the Apache parent and
/// children inherit it. It is kept (and this module kept loaded) across
/// restarts, so it is never initialised twice in this process.
fn python_in_parent(s: Server, g: &GlobalSettings) {
    if g.lazy_initialization() || g.restrict_embedded() {
        return;
    }
    if python::interpreters::is_running() {
        log::server(
            s,
            Level::Info,
            "mod_wsgi: Python stays initialised in the Apache parent across this restart (WSGILazyInitialization Off); changes to WSGIPythonHome, WSGIPythonPath and other WSGIPython* directives need a full stop and start.",
        );
    } else {
        python::runtime::pin_module_in_memory();
        if let Err(e) = python::start(g, process_info(g)) {
            log::server(
                s,
                Level::Alert,
                &format!("mod_wsgi: cannot initialise Python in the Apache parent: {e}"),
            );
        }
        // Children and daemons are forked from here on.
        python::runtime::prepare_for_forks();
    }
}

/// The MPM's monitor hook: runs in the Apache parent about every 10 seconds.
///
/// # Safety
/// Called by httpd only, with the live structures its hook signature names.
pub(crate) unsafe extern "C" fn monitor(
    _p: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> c_int {
    guard("monitor", HookStatus::Declined, || {
        crate::daemon::supervisor::monitor();
        HookStatus::Declined
    })
    .raw()
}

/// # Safety
/// Called by httpd only, with the live structures its hook signature names.
pub(crate) unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    guard("child_init", (), || {
        // SAFETY: httpd passes the main server, configured.
        let s = unsafe { Server::from_raw(s) };
        let Some(cfg) = server_config(s) else {
            return;
        };
        let g = &cfg.global;
        crate::daemon::listeners::close_listeners_in_child();
        let threads = mpm::max_threads();
        let daemons = mpm::max_daemons();
        python::metrics::init_process(python::metrics::Settings {
            request_threads_maximum: u32::try_from(threads).unwrap_or(1),
            server_metrics: g.server_metrics(),
            daemon: false,
        });
        let mut state = ChildState {
            multithread: threads > 1,
            multiprocess: daemons != 1,
            python_error: None,
        };

        let preloads = embedded_preloads(s);
        // Access-control scripts always run here, so they need Python even then.
        if g.restrict_embedded() && preloads.is_empty() && !crate::config::auth::python_required() {
            state.python_error = Some("embedded mode is disabled (WSGIRestrictEmbedded On)".into());
            let _ = CHILD.set(state);
            return;
        }
        let started = if python::interpreters::is_running() {
            python::runtime::after_fork_in_child();
            Ok(())
        } else {
            python::start(g, process_info(g))
        };
        if let Err(e) = started {
            log::server(
                s,
                Level::Alert,
                &format!(
                    "mod_wsgi (pid={}): Python could not be initialised: {e}",
                    std::process::id()
                ),
            );
            state.python_error = Some(format!("Python could not be initialised: {e}"));
            let _ = CHILD.set(state);
            return;
        }
        let _ = CHILD.set(state);
        let destroy = g.destroy_interpreter();
        // SAFETY: pchild lives until this child exits; the cleanup stops Python then.
        unsafe { Pool::from_raw(pchild) }.on_cleanup(move || python::stop(destroy));

        let case_sensitive = g.case_sensitive();
        for (script, group) in preloads {
            let name = python::script::module_name(&script.path, case_sensitive);
            python::import_script(&script, &group, &name);
        }
    })
}

/// Scripts to load at child start in embedded mode, with their interpreter:
/// WSGIImportScript entries and preloading aliases of every virtual host.
fn embedded_preloads(main: Server) -> Vec<(ImportScript, String)> {
    let mut out: Vec<(ImportScript, String)> = Vec::new();
    for s in main.vhosts() {
        if let Some(cfg) = server_config(s) {
            for script in cfg.preloads() {
                let embedded =
                    script.process_group.is_empty() || script.process_group == "%{GLOBAL}";
                if !embedded {
                    continue;
                }
                let group = match script.application_group.as_str() {
                    "%{GLOBAL}" => String::new(),
                    g if g.contains("%{") => {
                        log::server(
                            s,
                            Level::Warn,
                            &format!(
                                "mod_wsgi: cannot preload '{}': application group '{g}' depends on the request; name it explicitly",
                                script.path
                            ),
                        );
                        continue;
                    }
                    g => g.to_string(),
                };
                if !out
                    .iter()
                    .any(|(o, og)| o.path == script.path && *og == group)
                {
                    out.push((script, group));
                }
            }
        }
    }
    out
}

/// # Safety
/// Called by httpd only, with the live structures its hook signature names.
pub(crate) unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    guard("translate_name", HookStatus::Declined, || {
        // SAFETY: httpd passes the live request being translated.
        handler::translate(unsafe { Request::from_raw(r) })
    })
    .raw()
}

/// # Safety
/// Called by httpd only, with the live structures its hook signature names.
pub(crate) unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    guard("handler", HttpStatus::INTERNAL_SERVER_ERROR.into(), || {
        // SAFETY: httpd passes the live request being handled.
        handler::handle(unsafe { Request::from_raw(r) })
    })
    .raw()
}
