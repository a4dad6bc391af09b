//! Python callables backed by Rust closures, made in the interpreter that
//! calls them. A panic never leaves as PyO3's `PanicException`: that type
//! object is created once per process and would be shared by every
//! interpreter (unsound with a GIL per interpreter); it becomes a
//! `RuntimeError` of the calling interpreter instead.

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};

/// The text of a caught panic.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// A `builtin_function_or_method` named `name` that calls `f`.
pub(crate) fn new<'py, F, T>(
    py: Python<'py>,
    name: &'static CStr,
    f: F,
) -> PyResult<Bound<'py, PyCFunction>>
where
    F: Fn(&Bound<'_, PyTuple>, Option<&Bound<'_, PyDict>>) -> PyResult<T> + Send + Sync + 'static,
    for<'p> PyResult<T>: pyo3::impl_::callback::IntoPyCallbackOutput<'p, *mut pyo3::ffi::PyObject>,
{
    PyCFunction::new_closure(py, Some(name), None, move |args, kwargs| {
        catch_unwind(AssertUnwindSafe(|| f(args, kwargs))).unwrap_or_else(|p| {
            Err(PyRuntimeError::new_err(format!(
                "internal error in mod_wsgi-rs: {}",
                panic_message(p.as_ref())
            )))
        })
    })
}
