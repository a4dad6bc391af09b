//! What a daemon process does before it serves anything, besides dropping
//! privileges ([`super::access`]): it closes what it inherited from the
//! Apache parent and does not use, waits out the back-off after deaths
//! during start-up, applies the group's priority, resource limits, umask
//! and locale, starts Python with the group's settings and preloads its
//! scripts.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::apache::log::{self, Level};
use crate::apache::server::Server;
use crate::config::settings::GlobalSettings;
use crate::daemon::groups::GroupRuntime;
use crate::daemon::jail;
use crate::os::{descriptors, process, signals, sockets};
use crate::python::{self, ProcessInfo};

use super::{fail, pid};

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
pub(super) fn close_inherited_descriptors(rt: &GroupRuntime) {
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

/// After deaths during start-up the parent asks for a delay before this
/// process starts (see `supervisor::respawn_delay`); a stop or restart
/// during the wait ends it at once.
pub(super) fn wait_before_restart(rt: &GroupRuntime, delay: Duration, sigset: &libc::sigset_t) {
    if delay.is_zero() {
        return;
    }
    log::process(
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Daemon process '{}': the last one died during start-up; waiting {} s before starting.",
            pid(),
            rt.group.name,
            delay.as_secs()
        ),
    );
    if let Some(sig) = signals::wait_signal(sigset, delay)
        && matches!(sig, libc::SIGTERM | libc::SIGINT | libc::SIGWINCH)
    {
        process::exit_now(0);
    }
}

/// cpu-priority=, cpu-time-limit=, memory-limit=, virtual-memory-limit=.
pub(super) fn apply_limits(rt: &GroupRuntime) {
    let g = &rt.group;
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
}

/// umask=, lang=, locale=.
pub(super) fn set_environment(rt: &GroupRuntime) {
    let g = &rt.group;
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
}

/// Starts Python with the group's python-home=, python-path= and the
/// global WSGIPython* settings (or, with WSGILazyInitialization Off, takes
/// over the interpreter inherited from the parent).
pub(super) fn start_python(rt: &GroupRuntime, global: &GlobalSettings) {
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
        python_eggs: g.python_eggs.clone().or_else(|| global.python_eggs.clone()),
        // <WSGIInterpreterOptions process-group=NAME> selects this group's
        // interpreters.
        interpreters: global.interpreter_scopes(
            if g.python_path.is_empty() {
                &global.python_path
            } else {
                &g.python_path
            },
            g.switch_interval.or(global.switch_interval),
        ),
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

/// WSGIImportScript and preloading aliases for this group (by their path
/// inside the chroot, if there is one).
pub(super) fn preload_scripts(rt: &GroupRuntime, case_sensitive: bool) {
    let g = &rt.group;
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
}
