//! What the scripts the Apache child runs for a request (the access-control
//! scripts of `auth`, the dispatch script of `dispatch`) share: entering
//! their interpreter as that request, loading the script, and logging what
//! goes wrong against the request.

use std::cell::RefCell;
use std::rc::Rc;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use crate::log::Level;

use super::auth::AuthHost;
use super::error::PythonError;
use super::interpreters::{self, format_traceback};
use super::request;
use super::response::ResponseHead;
use super::script;
use super::transport::{InputError, OutputError, Transport, Write};

/// The script a call runs and the interpreter it runs in.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildScript {
    pub(crate) path: String,
    /// `_mod_wsgi_<md5>`, shared with a WSGI application loaded from the
    /// same file into the same interpreter (Django's how-to does that).
    pub(crate) module_name: String,
    /// The script's modification time (µs) now, compared for reloading.
    pub(crate) mtime: i64,
    pub(crate) reloading: bool,
    /// The interpreter (already expanded; `""` is the main interpreter).
    pub(crate) application_group: String,
}

impl ChildScript {
    /// The script at `path`, to run in `application_group`.
    pub(crate) fn new(
        path: &str,
        application_group: String,
        reloading: bool,
        case_sensitive: bool,
    ) -> ChildScript {
        ChildScript {
            path: path.to_string(),
            module_name: script::module_name(path, case_sensitive),
            mtime: script::mtime(path),
            reloading,
            application_group,
        }
    }
}

thread_local! {
    /// The request a script is running for on this thread, by handle: what
    /// `mod_ssl.is_https` / `mod_ssl.var_lookup` reach.
    static HOST: RefCell<Option<(u64, Rc<dyn AuthHost>)>> = const { RefCell::new(None) };
}

/// The request's log lines for `wsgi.errors`; nothing else of a transport
/// exists while an access-control (or dispatch) script runs.
struct LogOnly(Rc<dyn AuthHost>);

impl Transport for LogOnly {
    fn read_body(&mut self, _buf: &mut [u8]) -> Result<usize, InputError> {
        Ok(0)
    }
    fn set_head(&mut self, _head: &ResponseHead) {}
    fn write(&mut self, _data: &[u8], _how: Write) -> Result<(), OutputError> {
        Err(OutputError(
            "an access-control or dispatch script cannot send a response".into(),
        ))
    }
    fn send_file(&mut self, _fd: i32, _offset: u64, _len: u64) -> Result<(), OutputError> {
        Err(OutputError(
            "an access-control or dispatch script cannot send a response".into(),
        ))
    }
    fn abort(&mut self) {}
    fn finish(&mut self) {}
    fn log(&self, level: Level, message: &str) {
        self.0.log(level, message)
    }
    fn log_enabled(&self, level: Level) -> bool {
        self.0.log_enabled(level)
    }
}

/// Ends the script's time as this thread's request, however the call ends.
struct Registration {
    active: Option<request::ActiveGuard>,
    previous: Option<(u64, Rc<dyn AuthHost>)>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let previous = self.previous.take();
        HOST.with(|h| *h.borrow_mut() = previous);
        if let Some(active) = self.active.take() {
            drop(active.end());
        }
    }
}

fn expired() -> PyErr {
    PyRuntimeError::new_err("request object has expired")
}

/// Runs `f` on the host registered for `handle` on this thread.
pub(super) fn with_host<T>(handle: u64, f: impl FnOnce(&dyn AuthHost) -> T) -> PyResult<T> {
    HOST.with(|h| match &*h.borrow() {
        Some((live, host)) if *live == handle => Ok(f(host.as_ref())),
        _ => Err(expired()),
    })
}

/// Why a script did not run to its end; each caller words the log line.
pub(super) enum NotRun {
    /// Its interpreter could not be had.
    NoInterpreter(PythonError),
    /// Our own code failed in the interpreter (a panic, caught there).
    Crashed(PythonError),
}

/// Runs `body` in interpreter `application_group` for the request `host`
/// stands for, with the request's handle, then flushes what the script left
/// in `sys.stdout` / `sys.stderr` without a final newline.
pub(super) fn run<R>(
    application_group: &str,
    host: &Rc<dyn AuthHost>,
    body: impl FnOnce(Python<'_>, &Bound<'_, PyModule>, u64) -> R,
) -> Result<R, NotRun> {
    let interp = interpreters::get(application_group).map_err(NotRun::NoInterpreter)?;
    interp
        .run(|py, m| {
            // A script run while this thread passes on another request's
            // output (a subrequest) must not take that request's place.
            let active =
                request::is_idle().then(|| request::begin(Box::new(LogOnly(host.clone()))));
            let handle = active.as_ref().map_or(0, |a| a.handle);
            let _registration = Registration {
                active,
                previous: HOST.with(|h| h.borrow_mut().replace((handle, host.clone()))),
            };
            let result = body(py, m, handle);
            let _ = m.getattr("_flush_std").and_then(|f| f.call0());
            result
        })
        .map_err(NotRun::Crashed)
}

/// Loads the script as module `module_name` (reloading it when it changed
/// since `mtime` and `reloading` is on); a failure is logged.
pub(super) fn load_script<'py>(
    py: Python<'py>,
    m: &Bound<'py, PyModule>,
    host: &dyn AuthHost,
    script: &ChildScript,
) -> Option<Bound<'py, PyAny>> {
    let script_path = &script.path;
    let loaded = m.getattr("_load_script").and_then(|f| {
        f.call1((
            &script.module_name,
            script_path,
            script.mtime,
            script.reloading,
        ))
    });
    loaded
        .map_err(|e| {
            host.log(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Failed to exec Python script file '{script_path}'.",
                    std::process::id()
                ),
            );
            log_exception(py, host, script_path, &e);
        })
        .ok()
}

/// Closes the environ's `wsgi.errors`, logging what the script wrote to it
/// without a final newline.
pub(super) fn close_errors(
    py: Python<'_>,
    host: &dyn AuthHost,
    script_path: &str,
    environ: &Bound<'_, PyDict>,
) {
    if let Ok(Some(errors)) = environ.get_item("wsgi.errors")
        && let Err(e) = errors.call_method0("close")
    {
        log_exception(py, host, script_path, &e);
    }
}

/// Logs an exception the script raised, as mod_wsgi does (a header line,
/// then the traceback).
pub(super) fn log_exception(py: Python<'_>, host: &dyn AuthHost, script_path: &str, e: &PyErr) {
    host.log(
        Level::Error,
        &format!(
            "mod_wsgi (pid={}): Exception occurred processing WSGI script '{script_path}'.",
            std::process::id()
        ),
    );
    for line in format_traceback(py, e).trim_end_matches('\n').split('\n') {
        host.log(Level::Error, line);
    }
}
