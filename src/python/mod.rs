//! Python: the interpreter manager (`runtime`, `interpreters`), the per
//! interpreter `mod_wsgi` module (`module`, `bootstrap.py`), and the WSGI
//! adapter (`adapter`, `request`, `environ`, `response`) that serves a
//! request through a [`transport::Transport`].

pub mod adapter;
pub(crate) mod auth;
mod closure;
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

pub use adapter::{Outcome, RequestSpec};
pub use error::PythonError;
pub use module::ProcessInfo;

/// Starts Python in this process and sets up the main interpreter.
pub fn start(global: &GlobalSettings, info: ProcessInfo) -> Result<(), PythonError> {
    if interpreters::is_running() {
        return Ok(());
    }
    runtime::initialize(global)?;
    interpreters::register_main(
        module::setup_fn(info),
        interpreters::Options {
            own_gil: global.per_interpreter_gil(),
        },
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
            return Outcome::Status(500);
        }
    };
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
            });
            outcome
        }
        Err(panic) => {
            request.end(Some(500));
            log::process(
                Level::Crit,
                &format!("internal error while serving a request: {panic}"),
            );
            Outcome::Status(500)
        }
    }
}

/// Loads a script at process start (WSGIImportScript and preloading aliases).
pub fn import_script(script: &ImportScript, application_group: &str, module_name: &str) {
    let mtime = std::fs::metadata(&script.path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
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

/// Enters the main interpreter and leaves it at once. It waits as long as
/// another thread holds the GIL: a daemon's deadlock-timeout heartbeat.
pub fn touch_main_interpreter() -> Result<(), PythonError> {
    interpreters::get("")?.run(|_, _| ())
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
