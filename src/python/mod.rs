//! Python: the interpreter manager (`runtime`, `interpreters`), the per
//! interpreter `mod_wsgi` module (`module`, `bootstrap.py`), the WSGI
//! adapter (`adapter`, `request`, `environ`, `response`) that serves a
//! request through a [`transport::Transport`], and the scripts that run in
//! the Apache child before it (`auth`, `dispatch`, sharing `child_script`).

pub mod adapter;
pub(crate) mod auth;
pub(crate) mod child_script;
mod closure;
pub(crate) mod dispatch;
pub mod environ;
mod error;
pub(crate) mod interpreters;
mod isolation;
pub(crate) mod metrics;
pub(crate) mod module;
pub(crate) mod request;
pub mod response;
pub(crate) mod runtime;
pub(crate) mod script;
mod text;
pub(crate) mod transport;

use pyo3::prelude::*;

use crate::config::settings::{GlobalSettings, ImportScript};
use crate::log::{self, Level};
use crate::status::HttpStatus;

pub use adapter::{Outcome, RequestSpec};
pub use error::PythonError;
pub use module::ProcessInfo;

/// Starts Python in this process and sets up the main interpreter.
pub fn start(global: &GlobalSettings, info: ProcessInfo) -> Result<(), PythonError> {
    if interpreters::is_running() {
        return Ok(());
    }
    runtime::initialize(global)?;
    let scoped = info.clone();
    interpreters::register_main(
        module::setup_fn(info),
        std::sync::Arc::new(move |application_group: &str| interpreters::Options {
            own_gil: scoped.interpreter(application_group).own_gil,
        }),
    )?;
    if let Ok(main) = interpreters::get("") {
        let _ = main.run(|py, _| {
            let sys = py.import("sys");
            let attr = |name: &str| {
                sys.as_ref()
                    .ok()
                    .and_then(|s| s.getattr(name).ok())
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            let (version, prefix) = (attr("version").replace('\n', " "), attr("prefix"));
            log::process(
                Level::Info,
                &format!(
                    "mod_wsgi-rs {} (pid={}): Python {version} from {} (sys.prefix {prefix}).",
                    env!("CARGO_PKG_VERSION"),
                    std::process::id(),
                    runtime::libpython_path()
                ),
            );
        });
    }
    Ok(())
}

/// Serves one request in the interpreter of its application group.
pub fn serve(spec: &RequestSpec, transport: Box<dyn transport::Transport>) -> Outcome {
    serve_in(spec, transport, |_| ())
}

/// [`serve`], telling `entering` the ID of the interpreter the request is
/// about to run in (a daemon's request-timeout watch needs it).
pub(crate) fn serve_in(
    spec: &RequestSpec,
    transport: Box<dyn transport::Transport>,
    entering: impl FnOnce(i64),
) -> Outcome {
    let interp = match interpreters::get(&spec.application_group) {
        Ok(i) => i,
        Err(e) => {
            transport.log(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): cannot get interpreter '{}': {e}",
                    std::process::id(),
                    spec.application_group
                ),
            );
            return Outcome::Status(HttpStatus::INTERNAL_SERVER_ERROR);
        }
    };
    entering(interp.id);
    let request = metrics::begin(spec.request_start, spec.queue_start, spec.daemon_start);
    let served = interp.run(|py, m| {
        request.entered();
        adapter::run(py, m, spec, transport)
    });
    match served {
        Ok((outcome, transport)) => {
            // Out of the interpreter: the final flush runs without the GIL.
            if let Some(mut t) = transport {
                metrics::io(metrics::Io::Flush, || t.finish());
            }
            request.end(match outcome {
                Outcome::Sent => None,
                Outcome::Status(code) => Some(code),
                // Handed back unrun (the daemon restarts): it still held a
                // request thread here for a moment, so it counts as such.
                Outcome::ScriptChanged => Some(HttpStatus::SERVICE_UNAVAILABLE),
            });
            outcome
        }
        Err(panic) => {
            request.end(Some(HttpStatus::INTERNAL_SERVER_ERROR));
            log::process(
                Level::Crit,
                &format!("internal error while serving a request: {panic}"),
            );
            Outcome::Status(HttpStatus::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Loads a script at process start (WSGIImportScript and preloading aliases).
pub fn import_script(script: &ImportScript, application_group: &str, module_name: &str) {
    let mtime = script::file_mtime(&script.path).unwrap_or(0);
    let result = interpreters::get(application_group).and_then(|interp| {
        interp.run(|py, m| {
            m.getattr("_load_script")
                .and_then(|f| f.call1((module_name, &script.path, mtime, true)))
                .map(|_| ())
                .map_err(|e| PythonError::Exception(interpreters::format_err(py, &e)))
        })?
    });
    match result {
        Ok(()) => log::process(
            Level::Info,
            &format!(
                "mod_wsgi (pid={}): Imported WSGI script '{}' into '{}'.",
                std::process::id(),
                script.path,
                application_group
            ),
        ),
        Err(e) => {
            log::process(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Failed to import WSGI script '{}'.",
                    std::process::id(),
                    script.path
                ),
            );
            for line in e.to_string().lines() {
                log::process(Level::Error, line);
            }
        }
    }
}

/// Takes the main interpreter's GIL and lets go of it at once: a daemon's
/// deadlock-timeout heartbeat. It waits as long as another thread holds
/// the GIL; `busy` is the interpreter of the longest-running request, if
/// known: before 3.13 the wait goes through that one when it shares the
/// main GIL, as only a waiter in the holder's interpreter makes a thread
/// looping there let go (one waiting in main would wait for the loop's end,
/// and a busy process would look deadlocked).
pub fn touch_main_gil(busy: Option<i64>) -> Result<(), PythonError> {
    let through = busy
        .and_then(|id| interpreters::find(id).ok())
        .filter(|i| i.holds_off_main_waiters());
    match through {
        Some(i) => i.run(|_, _| ()),
        None => interpreters::get("")?.run(|_, _| ()),
    }
}

/// Prepares this thread to enter Python later (see
/// [`interpreters::bind_current_thread`]): a daemon's request threads and
/// its request-timeout thread call it when they start.
pub(crate) fn prepare_thread() {
    interpreters::bind_current_thread();
}

/// Where a thread is, read in the interpreter it runs a request in.
#[derive(Debug, Default)]
pub(crate) struct ThreadStacks {
    /// That thread's Python stack (traceback lines, most recent call
    /// last); `None` when it runs no Python code there.
    pub(crate) thread: Option<String>,
    /// Every other thread's stack in that interpreter, each after a
    /// `Thread 0x...` line (asked for at LogLevel debug).
    pub(crate) others: Option<String>,
}

/// The Python stack of OS thread `thread` (its pthread id) in interpreter
/// `interpreter` (`sys._current_frames()` there: per interpreter from 3.12
/// on), and with `others` every other thread's. Waits for that
/// interpreter's GIL.
pub(crate) fn thread_stacks(
    interpreter: i64,
    thread: u64,
    others: bool,
) -> Result<ThreadStacks, PythonError> {
    interpreters::find(interpreter)?.run(|py, m| {
        let text = |name: &str| -> PyResult<Option<String>> {
            m.getattr(name)?
                .call1((thread,))?
                .extract::<Option<String>>()
        };
        let stacks = || -> PyResult<ThreadStacks> {
            Ok(ThreadStacks {
                thread: text("_format_stack")?,
                others: if others {
                    text("_format_other_stacks")?.filter(|s| !s.is_empty())
                } else {
                    None
                },
            })
        };
        stacks().map_err(|e| PythonError::Exception(interpreters::format_err(py, &e)))
    })?
}

/// Raises `mod_wsgi.RequestTimeout` in OS thread `thread` as it runs in
/// interpreter `interpreter` (see [`interpreters::interrupt`]).
pub(crate) fn interrupt<G>(
    thread: u64,
    interpreter: i64,
    confirm: impl FnOnce() -> Option<G>,
) -> Result<interpreters::Interrupted, PythonError> {
    interpreters::interrupt(thread, interpreter, confirm)
}

/// Makes `signal` write the Python stack of every thread of the main
/// interpreter to descriptor `fd`, from faulthandler's C signal handler,
/// which needs no GIL: how a daemon shows where its GIL is held.
pub fn dump_stacks_on_signal(signal: i32, fd: i32) -> Result<(), PythonError> {
    interpreters::get("")?.run(|py, _| {
        let register = || -> PyResult<()> {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("file", fd)?;
            kwargs.set_item("all_threads", true)?;
            kwargs.set_item("chain", false)?;
            py.import("faulthandler")?
                .getattr("register")?
                .call((signal,), Some(&kwargs))?;
            Ok(())
        };
        register().map_err(|e| PythonError::Exception(interpreters::format_err(py, &e)))
    })?
}

/// Stops Python at process exit (`process_stopping`, then teardown).
pub fn stop(destroy: bool) {
    if !interpreters::is_running() {
        return;
    }
    interpreters::shutdown(destroy, |py, m| {
        if let Err(e) = m
            .getattr("_process_stopping")
            .and_then(|f| f.call1(("shutdown_signal",)))
        {
            log::process(Level::Error, &interpreters::format_err(py, &e));
        }
    });
    if destroy {
        runtime::mark_finalized();
    }
}
