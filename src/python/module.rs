//! The `mod_wsgi` module of one interpreter: version and process facts, the
//! Rust functions the bootstrap code calls (`_rs_*`, closures created in this
//! interpreter), and the bootstrap itself (classes defined per interpreter).

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyString, PyTuple};

use crate::config::{InterpreterScopes, InterpreterSetup};
use crate::log::{self, Level};

use super::metrics;
use super::request::{self, SendError};
use super::response::build_head;
use super::transport::Write;

/// The mod_wsgi release whose behaviour we match (`mod_wsgi.version`).
pub(crate) const MOD_WSGI_VERSION: (u32, u32, u32) = (6, 0, 5);

const BOOTSTRAP: &str = include_str!("bootstrap.py");

/// Process-wide facts and the settings each interpreter is set up with.
#[derive(Clone, Debug, Default)]
pub struct ProcessInfo {
    /// The daemon process group (`""`: an Apache child).
    pub process_group: String,
    pub maximum_processes: i64,
    pub threads_per_process: i64,
    pub python_eggs: Option<String>,
    /// `sys.path`, switch interval, restrictions and GIL, per interpreter
    /// (`<WSGIInterpreterOptions>`).
    pub interpreters: InterpreterScopes,
}

impl ProcessInfo {
    /// The settings of the interpreter of `application_group` in this process.
    pub(crate) fn interpreter(&self, application_group: &str) -> InterpreterSetup {
        self.interpreters
            .resolve(&self.process_group, application_group)
    }
}

/// The switch interval to set in a new interpreter. One that a container
/// scopes to an application group is skipped (with a warning) in a
/// sub-interpreter that shares the GIL: setting it there would change it for
/// the whole process (mod_wsgi's WSGI0199).
fn switch_interval(setup: &InterpreterSetup, application_group: &str) -> Option<f64> {
    let interval = setup.switch_interval?;
    if setup.switch_interval_scoped_to_group && !setup.own_gil && !application_group.is_empty() {
        log::process(
            Level::Warn,
            &format!(
                "mod_wsgi (pid={}): Skipping the switch interval {interval}s that \
                 <WSGIInterpreterOptions> gives application group '{application_group}': \
                 its interpreter shares the process's GIL, so it would change the \
                 interval for every interpreter. Add WSGIPerInterpreterGIL On to that \
                 container, or select by process-group= only.",
                std::process::id()
            ),
        );
        return None;
    }
    Some(interval)
}

fn handle_of(args: &Bound<'_, PyTuple>) -> PyResult<u64> {
    args.get_item(0)?.extract::<u64>()
}

/// A level number from Python code (`bootstrap.py`'s `_LOG_*`).
fn level_of(n: i64) -> Level {
    Level::saturating_from(u8::try_from(n).unwrap_or(u8::MAX))
}

fn add_fn<F, T>(m: &Bound<'_, PyModule>, name: &'static std::ffi::CStr, f: F) -> PyResult<()>
where
    F: Fn(&Bound<'_, PyTuple>, Option<&Bound<'_, PyDict>>) -> PyResult<T> + Send + Sync + 'static,
    for<'p> PyResult<T>: pyo3::impl_::callback::IntoPyCallbackOutput<'p, *mut pyo3::ffi::PyObject>,
{
    let func = super::closure::new(m.py(), name, f)?;
    m.setattr(name.to_str().unwrap_or("_rs"), func)
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// `value` as a `T`, or the TypeError mod_wsgi raises for it: `expected
/// {what}, value of type ... found`.
fn expected<'a, 'py, T: pyo3::type_object::PyTypeCheck>(
    value: &'a Bound<'py, PyAny>,
    what: &str,
) -> PyResult<&'a Bound<'py, T>> {
    value.cast::<T>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected {what}, value of type {} found",
            type_name(value)
        ))
    })
}

/// `start_response(status, headers, exc_info)` as the bootstrap forwards it.
fn start_response(args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let py = args.py();
    let handle = handle_of(args)?;
    let status = args.get_item(1)?;
    let headers = args.get_item(2)?;
    let exc_info = args.get_item(3)?;
    let status = expected::<PyString>(&status, "str object for status")?;
    let status = status.to_str()?.to_string();
    let list = expected::<PyList>(&headers, "list object for headers")?;
    let mut pairs = Vec::with_capacity(list.len());
    for item in list.iter() {
        let tuple = expected::<PyTuple>(&item, "tuple object for header")?;
        if tuple.len() != 2 {
            return Err(PyValueError::new_err(format!(
                "header tuple must have 2 items, not {}",
                tuple.len()
            )));
        }
        let (n, v) = (tuple.get_item(0)?, tuple.get_item(1)?);
        let name = expected::<PyString>(&n, "str object for header name")?;
        let value = expected::<PyString>(&v, "str object for header value")?;
        pairs.push((name.to_str()?.to_string(), value.to_str()?.to_string()));
    }
    let has_exc_info = !exc_info.is_none();
    if has_exc_info
        && exc_info
            .cast::<PyTuple>()
            .map(|t| t.len() != 3)
            .unwrap_or(true)
    {
        return Err(PyRuntimeError::new_err(
            "exc_info must be a 3-tuple as returned by sys.exc_info()",
        ));
    }
    let (already, committed) =
        request::with_live(handle, |r| (r.output.head.is_some(), r.output.committed))?;
    if already && !has_exc_info {
        return Err(PyRuntimeError::new_err(
            "start_response() called again without exc_info",
        ));
    }
    if has_exc_info && committed {
        // PEP 3333: headers are out, so re-raise the application's exception.
        let value = exc_info.cast::<PyTuple>()?.get_item(1)?;
        return Err(PyErr::from_value(value));
    }
    let head = build_head(&status, pairs).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let _ = py;
    request::with_live(handle, |r| {
        r.output.head = Some(head);
        r.output.status_line = status;
    })
}

fn write(args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let handle = handle_of(args)?;
    let data = args.get_item(1)?;
    let bytes = data.cast::<PyBytes>().map_err(|_| {
        PyTypeError::new_err(format!(
            "write() argument must be bytes, not {}",
            type_name(&data)
        ))
    })?;
    match request::send(args.py(), handle, bytes.as_bytes(), Write::Flush) {
        Ok(()) => Ok(()),
        Err(SendError::NoHead) => Err(PyRuntimeError::new_err(
            "write() called before start_response()",
        )),
        Err(SendError::Failed(msg)) => Err(pyo3::exceptions::PyOSError::new_err(format!(
            "Apache/mod_wsgi failed to write response data: {msg}"
        ))),
        Err(SendError::Expired) => Err(request::expired()),
    }
}

/// mod_wsgi's functions take no arguments (`METH_NOARGS`).
fn no_arguments(
    name: &str,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    if !args.is_empty() || kwargs.is_some_and(|k| !k.is_empty()) {
        return Err(PyTypeError::new_err(format!(
            "{name}() takes no arguments ({} given)",
            args.len() + kwargs.map_or(0, |k| k.len())
        )));
    }
    Ok(())
}

/// `start_recording_metrics()`, `process_metrics()`, `request_metrics()`
/// and `server_metrics()`, as in mod_wsgi 6 (`None` when not available).
fn add_metrics(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_metrics_fn(m, c"start_recording_metrics", |_| {
        metrics::start_recording();
        Ok(None)
    })?;
    add_metrics_fn(m, c"process_metrics", |py| {
        metrics::process_metrics()
            .map(|p| metrics::dicts::process(py, &p))
            .transpose()
    })?;
    add_metrics_fn(m, c"request_metrics", |py| {
        metrics::request_metrics()
            .map(|r| metrics::dicts::request(py, &r))
            .transpose()
    })?;
    add_metrics_fn(m, c"server_metrics", |py| {
        metrics::server_metrics()
            .map(|s| metrics::dicts::server(py, &s, metrics::current_time_us()))
            .transpose()
    })
}

/// Adds one of the metrics functions: it takes no arguments and returns
/// what `dict` makes, or `None`.
fn add_metrics_fn(
    m: &Bound<'_, PyModule>,
    name: &'static std::ffi::CStr,
    dict: impl for<'py> Fn(Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> + Send + Sync + 'static,
) -> PyResult<()> {
    add_fn(m, name, move |args, kwargs| -> PyResult<Py<PyAny>> {
        no_arguments(&name.to_string_lossy(), args, kwargs)?;
        let py = args.py();
        Ok(dict(py)?.map_or_else(|| py.None(), |d| d.into_any().unbind()))
    })
}

/// Creates and installs the `mod_wsgi` module in the current interpreter.
pub(crate) fn install<'py>(
    py: Python<'py>,
    info: &ProcessInfo,
    application_group: &str,
) -> PyResult<Bound<'py, PyModule>> {
    let m = PyModule::new(py, "mod_wsgi")?;
    m.setattr("version", MOD_WSGI_VERSION)?;
    m.setattr("rs_version", env!("CARGO_PKG_VERSION"))?;
    m.setattr("process_group", &info.process_group)?;
    m.setattr("application_group", application_group)?;
    m.setattr("maximum_processes", info.maximum_processes)?;
    m.setattr("threads_per_process", info.threads_per_process)?;

    add_fn(&m, c"_rs_start_response", |args, _| start_response(args))?;
    add_fn(&m, c"_rs_write", |args, _| write(args))?;
    add_fn(&m, c"_rs_input_read", |args, _| -> PyResult<Py<PyAny>> {
        let (handle, size) = (handle_of(args)?, args.get_item(1)?.extract::<i64>()?);
        Ok(request::read(args.py(), handle, size)?.into_any().unbind())
    })?;
    add_fn(
        &m,
        c"_rs_input_readline",
        |args, _| -> PyResult<Py<PyAny>> {
            let (handle, size) = (handle_of(args)?, args.get_item(1)?.extract::<i64>()?);
            let data = request::readline(args.py(), handle, size)?;
            Ok(PyBytes::new(args.py(), &data).into_any().unbind())
        },
    )?;
    add_fn(&m, c"_rs_log", |args, _| -> PyResult<()> {
        let handle = handle_of(args)?;
        let level = args.get_item(1)?.extract::<i64>()?;
        let text = args.get_item(2)?;
        let text = text.str()?;
        let text = text.to_str()?;
        // A piped ErrorLog can block: never with the GIL held.
        args.py()
            .detach(|| request::log(handle, level_of(level), text));
        Ok(())
    })?;

    add_metrics(&m)?;

    // Compiled under a recognisable name: it shows in application tracebacks
    // (`File "<mod_wsgi_rs bootstrap>", line N, in read`).
    let dict = m.dict();
    let builtins = PyModule::import(py, "builtins")?;
    dict.set_item("__builtins__", &builtins)?;
    let code =
        builtins
            .getattr("compile")?
            .call1((BOOTSTRAP, "<mod_wsgi_rs bootstrap>", "exec"))?;
    builtins.getattr("exec")?.call1((code, &dict))?;

    let interp = info.interpreter(application_group);
    let python_path = PyList::empty(py);
    for layer in &interp.python_path {
        python_path.append(PyList::new(py, layer)?)?;
    }
    m.getattr("_setup")?.call1((
        python_path,
        interp.restrict_stdin,
        interp.restrict_stdout,
        interp.restrict_signal,
        switch_interval(&interp, application_group),
        info.python_eggs.as_deref(),
    ))?;
    let sys = PyModule::import(py, "sys")?;
    sys.getattr("modules")?.set_item("mod_wsgi", &m)?;

    Ok(m)
}

/// The setup function the interpreter manager calls for each new interpreter.
pub(crate) fn setup_fn(info: ProcessInfo) -> Arc<super::interpreters::Setup> {
    Arc::new(move |py, name| install(py, &info, name))
}
