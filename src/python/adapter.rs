//! Runs one WSGI request: loads the script, builds the environ, calls the
//! application, and streams its response through the request's [`Transport`].
//! One implementation for every mode; it never sees Apache's structures.
//! The environ dict (`wsgi_environ`) and `wsgi.file_wrapper`'s fast path
//! (`file_wrapper`) have their own files.

mod file_wrapper;
mod wsgi_environ;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};

use crate::log::Level;
use crate::status::HttpStatus;

use super::environ::{CgiEnviron, Decode};
use super::interpreters::{discard_interrupt, format_err, format_traceback};
use super::metrics;
use super::request::{self, SendError};
use super::text::environ_value;
use super::transport::{Transport, Write};
use file_wrapper::try_file_wrapper;
use wsgi_environ::build_environ;

/// Everything about a request the adapter needs, gathered by the caller.
#[derive(Clone, Debug, Default)]
pub struct RequestSpec {
    pub script_path: String,
    /// `_mod_wsgi_<md5>`: the script's module name.
    pub module_name: String,
    /// Script modification time (microseconds), compared for reloading.
    pub script_mtime: i64,
    /// Reload a changed script module in place (embedded mode).
    pub reloading: bool,
    /// Daemon mode: a script module loaded from an older file (its
    /// `__mtime__` differs from `script_mtime`) is not reloaded; the request
    /// ends with [`Outcome::ScriptChanged`] before anything runs, and the
    /// process restarts.
    pub restart_on_change: bool,
    pub callable_object: String,
    pub cgi: CgiEnviron,
    pub process_group: String,
    pub application_group: String,
    /// The httpd handler that took the request (`wsgi-script`, or a
    /// WSGIHandlerScript's name).
    pub handler: String,
    /// `script_path` is a WSGIHandlerScript's script, not the request's
    /// target file (that is SCRIPT_FILENAME).
    pub handler_script: bool,
    pub multithread: bool,
    pub multiprocess: bool,
    pub is_head: bool,
    pub request_start: f64,
    /// Daemon mode: when the Apache child began handing the request to the
    /// daemon (seconds since the epoch; 0 in embedded mode).
    pub queue_start: f64,
    /// Daemon mode: when a daemon thread took the request (0 in embedded mode).
    pub daemon_start: f64,
    pub request_id: String,
    pub connection_id: String,
    pub thread_id: i64,
    pub server_pid: i64,
    pub listener_host: String,
    pub listener_port: u16,
    pub apache_version: (u32, u32, u32),
    pub enable_sendfile: bool,
    /// Embedded mode under WSGIPassApacheRequest On: the address of the
    /// request's `request_rec`, which the application gets as an unnamed
    /// capsule (`apache.request_rec`, as mod_wsgi); 0 otherwise. Opaque
    /// here, and never sent to a daemon.
    pub apache_request: usize,
}

/// What the caller should do once the adapter returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A response was produced (possibly cut short by a failure after the
    /// head went out); nothing more to send.
    Sent,
    /// Nothing was sent: answer with this HTTP status (an error page).
    Status(HttpStatus),
    /// Nothing ran: the script changed since this process loaded it
    /// (only with `restart_on_change`).
    ScriptChanged,
}

/// The `mod_wsgi` module's objects every request uses, fetched in one
/// lookup (`bootstrap.py`'s `_per_request`) rather than seven by name:
/// per interpreter, as the module is.
struct Helpers<'py> {
    input: Bound<'py, PyAny>,
    error_log: Bound<'py, PyAny>,
    file_wrapper: Bound<'py, PyAny>,
    load_script: Bound<'py, PyAny>,
    start_response: Bound<'py, PyAny>,
    begin_request: Bound<'py, PyAny>,
    end_request: Bound<'py, PyAny>,
}

impl<'py> Helpers<'py> {
    fn of(m: &Bound<'py, PyModule>) -> PyResult<Helpers<'py>> {
        let all = m.getattr("_per_request")?;
        let at = |i: usize| all.get_item(i);
        Ok(Helpers {
            input: at(0)?,
            error_log: at(1)?,
            file_wrapper: at(2)?,
            load_script: at(3)?,
            start_response: at(4)?,
            begin_request: at(5)?,
            end_request: at(6)?,
        })
    }
}

fn log_lines(handle: u64, level: Level, text: &str) {
    for line in text.trim_end_matches('\n').split('\n') {
        request::log(handle, level, line);
    }
}

/// Logs an application exception the way mod_wsgi does (header line + traceback).
fn log_exception(py: Python<'_>, handle: u64, spec: &RequestSpec, e: &PyErr) {
    request::log(
        handle,
        Level::Error,
        &format!(
            "mod_wsgi (pid={}): Exception occurred processing WSGI script '{}'.",
            std::process::id(),
            spec.script_path
        ),
    );
    log_lines(handle, Level::Error, &format_traceback(py, e));
}

/// Runs the request described by `spec` in the current interpreter. The
/// transport comes back for [`Transport::finish`], which the caller runs once
/// it has left the interpreter.
pub fn run(
    py: Python<'_>,
    m: &Bound<'_, PyModule>,
    spec: &RequestSpec,
    transport: Box<dyn Transport>,
) -> (Outcome, Option<Box<dyn Transport>>) {
    // An interruption (request-timeout) meant for this thread's previous
    // request, set just as it ended, must not hit this one; nor may one
    // meant for this request outlive it.
    discard_interrupt(py);
    let active = request::begin(transport);
    let outcome = run_request(py, m, spec, active.handle);
    discard_interrupt(py);
    (outcome, active.end())
}

fn run_request(
    py: Python<'_>,
    m: &Bound<'_, PyModule>,
    spec: &RequestSpec,
    handle: u64,
) -> Outcome {
    if spec.restart_on_change && script_changed(py, m, spec, handle) {
        return Outcome::ScriptChanged;
    }
    request::with(handle, |r| r.transport.proceed());
    let h = match Helpers::of(m) {
        Ok(h) => h,
        Err(e) => {
            log_exception(py, handle, spec, &e);
            return Outcome::Status(HttpStatus::INTERNAL_SERVER_ERROR);
        }
    };
    // The target file, for the script's `reload_required(resource)`.
    let resource = spec
        .cgi
        .get("SCRIPT_FILENAME")
        .filter(|_| spec.reloading)
        .map(|f| environ_value(py, f, Decode::FsPath));
    let script = match h.load_script.call1((
        &spec.module_name,
        &spec.script_path,
        spec.script_mtime,
        spec.reloading,
        resource,
    )) {
        Ok(s) => s,
        Err(e) if is_request_timeout(py, m, &e) => return timed_out(handle, spec, false),
        Err(e) => {
            request::log(
                handle,
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Failed to exec Python script file '{}'.",
                    std::process::id(),
                    spec.script_path
                ),
            );
            log_exception(py, handle, spec, &e);
            return Outcome::Status(HttpStatus::INTERNAL_SERVER_ERROR);
        }
    };
    let app = match script.getattr(spec.callable_object.as_str()) {
        Ok(a) => a,
        Err(e) => {
            request::log(handle, Level::Debug, &format_err(py, &e));
            request::log(
                handle,
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Target WSGI script '{}' does not contain WSGI application '{}'.",
                    std::process::id(),
                    spec.script_path,
                    spec.callable_object
                ),
            );
            return Outcome::Status(HttpStatus::NOT_FOUND);
        }
    };
    let started = std::time::Instant::now();
    match build_environ(py, &h, spec, handle) {
        Ok(environ) => {
            let errors = environ.get_item("wsgi.errors").ok().flatten();
            let begun = h
                .begin_request
                .call1((handle, &environ, &app, &spec.callable_object));
            let outcome = match begun {
                Ok(app) => call_application(py, m, &h, spec, handle, &app, &environ),
                Err(e) if is_request_timeout(py, m, &e) => {
                    report_exception(py, m, handle, spec, &e)
                }
                Err(_) => call_application(py, m, &h, spec, handle, &app, &environ),
            };
            finish_events(py, &h, handle, started, errors);
            outcome
        }
        Err(e) => {
            log_exception(py, handle, spec, &e);
            Outcome::Status(HttpStatus::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Whether the script's module was loaded from another version of the file
/// than the one `spec.script_mtime` describes. A failing check (it cannot
/// fail short of a broken bootstrap) is logged and counts as unchanged.
fn script_changed(
    py: Python<'_>,
    m: &Bound<'_, PyModule>,
    spec: &RequestSpec,
    handle: u64,
) -> bool {
    let changed = m
        .getattr("_script_changed")
        .and_then(|f| f.call1((&spec.module_name, spec.script_mtime)))
        .and_then(|r| r.is_truthy());
    changed.unwrap_or_else(|e| {
        request::log(handle, Level::Error, &format_err(py, &e));
        false
    })
}

/// The end of a request in Python (one call): what the application wrote
/// to `errors` (environ's `wsgi.errors` as the application got it),
/// `sys.stdout` or `sys.stderr` without a final newline is logged, then
/// `request_finished` is published.
fn finish_events<'py>(
    py: Python<'py>,
    h: &Helpers<'py>,
    handle: u64,
    started: std::time::Instant,
    errors: Option<Bound<'py, PyAny>>,
) {
    let (status, out, inp) = request::with(handle, |r| {
        (
            r.output.head.as_ref().map(|h| h.status),
            r.output.bytes_sent,
            r.input.bytes_read,
        )
    })
    .unwrap_or((None, 0, 0));
    metrics::response_done(status, out, inp);
    if let Err(e) = h.end_request.call1((
        handle,
        status.map_or(0, HttpStatus::code),
        out,
        inp,
        started.elapsed().as_secs_f64(),
        errors,
    )) {
        log_lines(handle, Level::Error, &format_err(py, &e));
    }
}

/// The status to answer with when the app failed before sending anything:
/// a body read that failed with a status (413, 400...) explains it better.
fn failure_status(handle: u64) -> HttpStatus {
    request::with(handle, |r| r.input.error.as_ref().and_then(|e| e.status))
        .flatten()
        .unwrap_or(HttpStatus::INTERNAL_SERVER_ERROR)
}

/// Ends a response whose body failed part-way (the GIL is released: httpd
/// may still be writing what was passed before).
fn abort(py: Python<'_>, handle: u64) {
    metrics::detach(py, || request::with(handle, |r| r.transport.abort()));
}

fn committed(handle: u64) -> bool {
    request::with(handle, |r| r.output.committed).unwrap_or(false)
}

fn report_exception(
    py: Python<'_>,
    m: &Bound<'_, PyModule>,
    handle: u64,
    spec: &RequestSpec,
    e: &PyErr,
) -> Outcome {
    if let Ok(f) = m.getattr("_request_exception") {
        let info = (e.get_type(py), e.value(py), e.traceback(py));
        let _ = f.call1((info,));
    }
    if is_request_timeout(py, m, e) {
        let committed = committed(handle);
        if committed {
            abort(py, handle);
        }
        return timed_out(handle, spec, committed);
    }
    log_exception(py, handle, spec, e);
    if committed(handle) {
        abort(py, handle);
        Outcome::Sent
    } else {
        Outcome::Status(failure_status(handle))
    }
}

/// Whether `e` is this interpreter's `mod_wsgi.RequestTimeout`, raised in
/// the request's thread by a daemon's request-timeout (interrupt-timeout).
fn is_request_timeout(py: Python<'_>, m: &Bound<'_, PyModule>, e: &PyErr) -> bool {
    m.getattr("RequestTimeout")
        .is_ok_and(|class| e.is_instance(py, &class))
}

/// The request was interrupted and unwound (as mod_wsgi: not an
/// application error, no traceback): 504 Gateway Timeout, or, once output
/// went out (`committed`, the response already aborted), nothing more.
fn timed_out(handle: u64, spec: &RequestSpec, committed: bool) -> Outcome {
    request::log(
        handle,
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): Request interrupted by RequestTimeout; thread recovered{}: '{}'.",
            std::process::id(),
            if committed {
                " (response already begun: cut short)"
            } else {
                " (answered 504 Gateway Timeout)"
            },
            spec.script_path
        ),
    );
    if committed {
        Outcome::Sent
    } else {
        Outcome::Status(HttpStatus::GATEWAY_TIMEOUT)
    }
}

fn call_application(
    py: Python<'_>,
    m: &Bound<'_, PyModule>,
    h: &Helpers<'_>,
    spec: &RequestSpec,
    handle: u64,
    app: &Bound<'_, PyAny>,
    environ: &Bound<'_, PyDict>,
) -> Outcome {
    let start_response = match h.start_response.call1((handle,)) {
        Ok(s) => s,
        Err(e) => return report_exception(py, m, handle, spec, &e),
    };
    let result = match app.call1((environ, &start_response)) {
        Ok(r) => r,
        Err(e) => return report_exception(py, m, handle, spec, &e),
    };
    let body = send_body(py, &h.file_wrapper, handle, &result);
    // close() is called exactly once, whatever happened while iterating.
    let closed = match result.getattr("close") {
        Ok(close) => close.call0().map(|_| ()),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(py) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = body {
        return report_exception(py, m, handle, spec, &e);
    }
    if let Err(e) = closed {
        return report_exception(py, m, handle, spec, &e);
    }
    end_of_body(py, handle, spec)
}

/// Ends the body: sends the head if nothing was written, then end-of-stream.
fn end_of_body(py: Python<'_>, handle: u64, spec: &RequestSpec) -> Outcome {
    let state = request::with(handle, |r| {
        (
            r.output.head.as_ref().map(|h| (h.content_length, h.status)),
            r.output.bytes_sent,
            r.output.bytes_clipped,
            r.output.failed,
        )
    });
    let Some((Some((content_length, status)), sent, clipped, failed)) = state else {
        request::log(
            handle,
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): The WSGI application in '{}' returned without calling start_response().",
                std::process::id(),
                spec.script_path
            ),
        );
        return Outcome::Status(HttpStatus::INTERNAL_SERVER_ERROR);
    };
    if failed {
        return Outcome::Sent;
    }
    if clipped > 0 {
        request::log(
            handle,
            Level::Debug,
            &format!("response body longer than its Content-Length: {clipped} bytes not sent"),
        );
    }
    // HEAD, 1xx, 204 and 304 responses have no body whatever Content-Length says.
    let bodiless = spec.is_head || status.has_no_body();
    if let Some(cl) = content_length
        && sent < cl
        && !bodiless
    {
        request::log(
            handle,
            Level::Warn,
            &format!(
                "mod_wsgi (pid={}): response body shorter than its Content-Length ({sent} of {cl} bytes) from '{}'; closing the connection.",
                std::process::id(),
                spec.script_path
            ),
        );
        let _ = request::send(py, handle, b"", Write::Flush);
        abort(py, handle);
        return Outcome::Sent;
    }
    match request::send(py, handle, b"", Write::Last) {
        Ok(()) | Err(SendError::Failed(_)) | Err(SendError::Expired) => Outcome::Sent,
        Err(SendError::NoHead) => Outcome::Status(HttpStatus::INTERNAL_SERVER_ERROR),
    }
}

fn not_bytes(item: &Bound<'_, PyAny>) -> PyErr {
    let t = item
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default();
    PyTypeError::new_err(format!(
        "sequence of byte string values expected, value of type {t} found"
    ))
}

/// Streams the application's iterable. Errors are returned for the caller to
/// report (after close()). The end of the body (EOS) is sent by the caller
/// once close() has run.
fn send_body(
    py: Python<'_>,
    file_wrapper: &Bound<'_, PyAny>,
    handle: u64,
    result: &Bound<'_, PyAny>,
) -> PyResult<()> {
    if try_file_wrapper(py, file_wrapper, handle, result)? {
        return Ok(());
    }
    // A list or tuple is complete: its items are checked first (a bad item is
    // then a clean 500), its length becomes the Content-Length when the app
    // gave none, and its items are passed down unflushed. Anything else is a
    // stream: each item is flushed to the client as it is produced.
    if let Ok(list) = result.cast::<PyList>() {
        return send_sequence(py, handle, list.iter().collect());
    }
    if let Ok(tuple) = result.cast::<PyTuple>() {
        return send_sequence(py, handle, tuple.iter().collect());
    }
    for item in result.try_iter()? {
        let item = item?;
        let bytes = item.cast::<PyBytes>().map_err(|_| not_bytes(&item))?;
        if !emit(py, handle, bytes.as_bytes(), Write::Flush)? {
            break;
        }
    }
    Ok(())
}

fn send_sequence(py: Python<'_>, handle: u64, items: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
    let mut chunks = Vec::with_capacity(items.len());
    for item in &items {
        chunks.push(item.cast::<PyBytes>().map_err(|_| not_bytes(item))?);
    }
    let total: u64 = chunks.iter().map(|b| b.as_bytes().len() as u64).sum();
    request::with(handle, |r| {
        if r.output.committed {
            return;
        }
        if let Some(head) = r.output.head.as_mut()
            && head.content_length.is_none()
            && !head.status.has_no_body()
        {
            head.content_length = Some(total);
            head.headers
                .push(("Content-Length".into(), total.to_string()));
        }
    });
    for bytes in chunks {
        if !emit(py, handle, bytes.as_bytes(), Write::Buffer)? {
            break;
        }
    }
    Ok(())
}

/// Sends one body item. `Ok(false)` when the client has gone (stop iterating).
fn emit(py: Python<'_>, handle: u64, data: &[u8], how: Write) -> PyResult<bool> {
    if data.is_empty() {
        return Ok(true);
    }
    match request::send(py, handle, data, how) {
        Ok(()) => Ok(true),
        Err(SendError::NoHead) => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "response has no status: the application did not call start_response() before returning data",
        )),
        Err(SendError::Failed(msg)) => {
            client_gone(handle, &msg);
            Ok(false)
        }
        Err(SendError::Expired) => Err(request::expired()),
    }
}

/// A client that goes away mid-response is logged (at info: it is routine).
fn client_gone(handle: u64, msg: &str) {
    request::log(
        handle,
        Level::Info,
        &format!(
            "mod_wsgi (pid={}): client connection closed while sending the response: {msg}",
            std::process::id()
        ),
    );
}
