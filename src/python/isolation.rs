//! Explaining an extension module that cannot be imported into an isolated
//! sub-interpreter (WSGIPerInterpreterGIL On). CPython says only "module X
//! does not support loading in subinterpreters"; the operator needs to know
//! which directive caused it and what to do.

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;

/// CPython's message (3.12+, `Python/import.c` and `Objects/moduleobject.c`).
const REFUSED: &str = "does not support loading in subinterpreters";

/// A log line naming the module and the directive, when `e` (or an exception
/// it was raised from) is that ImportError.
pub(crate) fn hint(py: Python<'_>, e: &PyErr) -> Option<String> {
    let mut value = Some(e.value(py).clone().into_any());
    // Bounded: a chain could be cyclic.
    for _ in 0..16 {
        let v = value?;
        if v.is_instance_of::<PyImportError>() {
            let text = v.str().map(|s| s.to_string()).unwrap_or_default();
            if text.contains(REFUSED) {
                let module = v
                    .getattr("name")
                    .ok()
                    .filter(|n| !n.is_none())
                    .and_then(|n| n.str().ok().map(|s| s.to_string()))
                    .or_else(|| text.split_whitespace().nth(1).map(str::to_string))
                    .unwrap_or_else(|| "?".to_string());
                return Some(format!(
                    "mod_wsgi: the extension module '{module}' does not support a per-interpreter GIL, \
                     so it cannot be imported into an application group while WSGIPerInterpreterGIL is On; \
                     set WSGIPerInterpreterGIL Off, or run this application in the main interpreter \
                     (WSGIApplicationGroup %{{GLOBAL}}), which keeps the shared GIL."
                ));
            }
        }
        value = ["__cause__", "__context__"]
            .iter()
            .filter_map(|a| v.getattr(*a).ok())
            .find(|c| !c.is_none());
    }
    None
}
