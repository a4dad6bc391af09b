//! The environ dict an application is called with: the request's CGI
//! variables (built by `python::environ`) and the `wsgi.*`, `mod_wsgi.*` and
//! `apache.*` keys, in mod_wsgi's order.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::python::environ::Decode;
use crate::python::interpreters;
use crate::python::metrics;
use crate::python::module::MOD_WSGI_VERSION;
use crate::python::text::environ_value;

use super::{Helpers, RequestSpec};

pub(super) fn build_environ<'py>(
    py: Python<'py>,
    h: &Helpers<'py>,
    spec: &RequestSpec,
    handle: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    for (k, v, d) in &spec.cgi.vars {
        env.set_item(k, environ_value(py, v, *d))?;
    }
    env.set_item("wsgi.version", (1, 0))?;
    env.set_item("wsgi.url_scheme", &spec.cgi.url_scheme)?;
    env.set_item("wsgi.input", h.input.call1((handle,))?)?;
    env.set_item("wsgi.errors", h.error_log.call1((handle,))?)?;
    env.set_item("wsgi.multithread", spec.multithread)?;
    env.set_item("wsgi.multiprocess", spec.multiprocess)?;
    env.set_item("wsgi.run_once", false)?;
    env.set_item("wsgi.input_terminated", true)?;
    env.set_item("wsgi.file_wrapper", &h.file_wrapper)?;
    env.set_item("mod_wsgi.version", MOD_WSGI_VERSION)?;
    env.set_item("mod_wsgi.process_group", &spec.process_group)?;
    env.set_item("mod_wsgi.application_group", &spec.application_group)?;
    env.set_item("mod_wsgi.callable_object", &spec.callable_object)?;
    env.set_item("mod_wsgi.request_handler", &spec.handler)?;
    let handler_script = if spec.handler_script {
        spec.script_path.as_str()
    } else {
        ""
    };
    env.set_item("mod_wsgi.handler_script", handler_script)?;
    env.set_item(
        "mod_wsgi.script_name",
        environ_value(py, &spec.cgi.original_script_name, Decode::Latin1),
    )?;
    env.set_item(
        "mod_wsgi.path_info",
        environ_value(py, &spec.cgi.original_path_info, Decode::Latin1),
    )?;
    if let Some(mount) = &spec.cgi.mount_point {
        env.set_item(
            "mod_wsgi.mount_point",
            environ_value(py, mount, Decode::Latin1),
        )?;
    }
    env.set_item("mod_wsgi.listener_host", &spec.listener_host)?;
    env.set_item("mod_wsgi.listener_port", spec.listener_port.to_string())?;
    env.set_item("mod_wsgi.server_pid", spec.server_pid.to_string())?;
    env.set_item("mod_wsgi.request_id", &spec.request_id)?;
    env.set_item("mod_wsgi.connection_id", &spec.connection_id)?;
    env.set_item("mod_wsgi.thread_id", metrics::thread_id())?;
    env.set_item("mod_wsgi.request_start", spec.request_start)?;
    env.set_item("mod_wsgi.queue_start", spec.queue_start)?;
    env.set_item("mod_wsgi.daemon_start", spec.daemon_start)?;
    env.set_item("mod_wsgi.application_start", metrics::application_start())?;
    env.set_item("apache.version", spec.apache_version)?;
    interpreters::set_request_rec(&env, spec.apache_request)?;
    Ok(env)
}
