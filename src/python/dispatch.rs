//! WSGIDispatchScript (mod_wsgi's `wsgi_dispatch.c`): a script whose
//! `process_group(environ)`, `application_group(environ)` and
//! `callable_object(environ)` (each optional) choose, per request, where the
//! request runs and what it calls. It runs in the Apache child, in the
//! interpreter its directive names (default: main), before the request is
//! served there or sent to a daemon. The Apache layer supplies the request
//! through [`AuthHost`]; nothing here touches httpd's structures.

use std::rc::Rc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule, PyString};

use crate::log::Level;

use super::adapter::RequestSpec;
use super::auth::AuthHost;
use super::child_script::{self, ChildScript, NotRun, close_errors, load_script, log_exception};
use super::environ::Decode;
use super::interpreters;
use super::module::MOD_WSGI_VERSION;
use super::text::{environ_value, to_latin1};

/// One run of a dispatch script for a request.
pub(crate) struct DispatchCall<'a> {
    pub script: ChildScript,
    /// The request, as configured before the script has its say.
    pub request: &'a RequestSpec,
}

/// What the script chose; `None` keeps the configured value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dispatch {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// The script failed (it was logged against the request): the request is
/// answered with a 500.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DispatchFailed;

/// The script's functions, in the order mod_wsgi calls them, each with how
/// its result is named in the error for a wrong type (mod_wsgi's wording).
const FUNCTIONS: [(&str, &str, &str); 3] = [
    ("process_group", "Process group", "a byte string"),
    ("application_group", "Application group", "a string object"),
    ("callable_object", "Callable object", "a string object"),
];

/// Loads the script (reloading it when changed and reloading is on) and
/// calls whichever of its functions it defines, stopping at the first
/// failure.
pub(crate) fn run(
    call: &DispatchCall<'_>,
    host: Rc<dyn AuthHost>,
) -> Result<Dispatch, DispatchFailed> {
    let pid = std::process::id();
    let outcome = child_script::run(&call.script.application_group, &host, |py, m, handle| {
        dispatch(py, m, call, host.as_ref(), handle)
    });
    outcome.unwrap_or_else(|not_run| {
        let (level, message) = match not_run {
            NotRun::NoInterpreter(e) => (
                Level::Error,
                format!(
                    "mod_wsgi (pid={pid}): Unable to acquire interpreter '{}' for dispatch script '{}': {e}",
                    call.script.application_group, call.script.path
                ),
            ),
            NotRun::Crashed(panic) => (
                Level::Crit,
                format!(
                    "mod_wsgi (pid={pid}): internal error running dispatch script '{}': {panic}",
                    call.script.path
                ),
            ),
        };
        host.log(level, &message);
        Err(DispatchFailed)
    })
}

fn dispatch(
    py: Python<'_>,
    m: &Bound<'_, PyModule>,
    call: &DispatchCall<'_>,
    host: &dyn AuthHost,
    handle: u64,
) -> Result<Dispatch, DispatchFailed> {
    let failed = |e: &PyErr| {
        log_exception(py, host, &call.script.path, e);
        DispatchFailed
    };
    let script = load_script(py, m, host, &call.script).ok_or(DispatchFailed)?;
    // Module-level functions only, as mod_wsgi looks them up.
    let functions = script
        .cast::<PyModule>()
        .map(|s| s.dict())
        .map_err(|e| failed(&e.into()))?;
    let environ = build_environ(py, m, call, handle).map_err(|e| failed(&e))?;
    let mut chosen = [None, None, None];
    let mut result = Ok(());
    for ((name, what, expected), slot) in FUNCTIONS.iter().zip(chosen.iter_mut()) {
        let called = functions.get_item(*name).and_then(|f| match f {
            Some(f) => choice(&f.call1((&environ,))?, what, expected),
            None => Ok(None),
        });
        match called {
            Ok(v) => *slot = v,
            Err(e) => {
                result = Err(failed(&e));
                break;
            }
        }
    }
    close_errors(py, host, &call.script.path, &environ);
    result?;
    let [process_group, application_group, callable_object] = chosen;
    Ok(Dispatch {
        process_group,
        application_group,
        callable_object,
    })
}

/// A function's result: `None` keeps the configured value; a `str` must be
/// latin-1 (as mod_wsgi encodes it), `bytes` are read as latin-1.
fn choice(result: &Bound<'_, PyAny>, what: &str, expected: &str) -> PyResult<Option<String>> {
    if result.is_none() {
        return Ok(None);
    }
    if let Ok(b) = result.cast::<PyBytes>() {
        return Ok(Some(b.as_bytes().iter().map(|&c| c as char).collect()));
    }
    if let Ok(s) = result.cast::<PyString>() {
        return match to_latin1(s) {
            Some(b) => Ok(Some(b.iter().map(|&c| c as char).collect())),
            None => Err(PyTypeError::new_err(format!(
                "{what} must be a byte string, value containing non 'latin-1' characters found"
            ))),
        };
    }
    Err(PyTypeError::new_err(format!("{what} must be {expected}")))
}

/// mod_wsgi's dispatch environ: the request's CGI variables and `mod_wsgi.*`
/// keys, with the process and application group of the script itself (the
/// Apache child: `""`; its own interpreter), no callable object, and
/// `wsgi.errors`.
fn build_environ<'py>(
    py: Python<'py>,
    m: &Bound<'py, PyModule>,
    call: &DispatchCall<'_>,
    handle: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let spec = call.request;
    let env = PyDict::new(py);
    for (k, v, d) in &spec.cgi.vars {
        env.set_item(k, environ_value(py, v, *d))?;
    }
    let handler_script = if spec.handler_script {
        spec.script_path.as_str()
    } else {
        ""
    };
    let latin1 = |v: &[u8]| environ_value(py, v, Decode::Latin1);
    env.set_item("mod_wsgi.version", MOD_WSGI_VERSION)?;
    env.set_item("mod_wsgi.process_group", "")?;
    env.set_item("mod_wsgi.application_group", &call.script.application_group)?;
    env.set_item("mod_wsgi.request_handler", &spec.handler)?;
    env.set_item("mod_wsgi.handler_script", handler_script)?;
    env.set_item(
        "mod_wsgi.script_reloading",
        i64::from(call.script.reloading),
    )?;
    env.set_item(
        "mod_wsgi.script_name",
        latin1(&spec.cgi.original_script_name),
    )?;
    env.set_item("mod_wsgi.path_info", latin1(&spec.cgi.original_path_info))?;
    env.set_item("mod_wsgi.listener_host", &spec.listener_host)?;
    env.set_item("mod_wsgi.listener_port", spec.listener_port.to_string())?;
    env.set_item("mod_wsgi.server_pid", spec.server_pid.to_string())?;
    env.set_item("mod_wsgi.request_id", &spec.request_id)?;
    env.set_item("mod_wsgi.connection_id", &spec.connection_id)?;
    env.set_item("mod_wsgi.request_start", spec.request_start)?;
    env.set_item("apache.version", spec.apache_version)?;
    env.set_item("wsgi.errors", m.getattr("ErrorLog")?.call1((handle,))?)?;
    interpreters::set_request_rec(&env, spec.apache_request)?;
    Ok(env)
}
