//! WSGIDispatchScript, Apache side: which dispatch script a request has
//! (its directory's, else its server's), the interpreter it runs in, and the
//! request as it reaches the script; the script itself runs in
//! `python::dispatch`.

use crate::config::scripts::GroupScript;
use crate::python::RequestSpec;
use crate::python::dispatch::{self as py_dispatch, Dispatch, DispatchCall};
use crate::status::HttpStatus;

use super::auth::{child_script, host};
use super::request::Request;

/// The request's dispatch script, if it has one.
pub(super) fn script(r: &Request) -> Option<GroupScript> {
    r.dir_config()
        .and_then(|d| d.scripts.dispatch_script.as_ref())
        .or_else(|| r.server_config()?.scripts.dispatch_script.as_ref())
        .cloned()
}

/// Runs `script` for the request `spec` describes (as configured); `Err` is
/// the status to answer with (the failure is logged).
pub(super) fn run(
    r: Request,
    script: &GroupScript,
    spec: &RequestSpec,
    reloading: bool,
    case_sensitive: bool,
) -> Result<Dispatch, HttpStatus> {
    let call = DispatchCall {
        script: child_script(&r, script, reloading, case_sensitive),
        request: spec,
    };
    py_dispatch::run(&call, host(r)).map_err(|_| HttpStatus::INTERNAL_SERVER_ERROR)
}
