//! `wsgi.file_wrapper`'s fast path: the server sends the file itself.

use std::os::fd::RawFd;

use pyo3::prelude::*;

use crate::python::metrics::{self, Io};
use crate::python::request;

use super::client_gone;

/// The fast path for `wsgi.file_wrapper` over a regular file: the file is sent
/// by the server (sendfile/mmap) instead of being read through Python.
/// `Ok(false)` when the result is not eligible (it is then iterated normally).
/// `wrapper_type` is the interpreter's `mod_wsgi.FileWrapper`.
pub(super) fn try_file_wrapper(
    py: Python<'_>,
    wrapper_type: &Bound<'_, PyAny>,
    handle: u64,
    result: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    if !result.is_instance(wrapper_type).unwrap_or(false) {
        return Ok(false);
    }
    let ready = request::with(handle, |r| {
        r.output.head.is_some() && r.output.bytes_sent == 0 && !r.output.committed
    });
    if ready != Some(true) {
        return Ok(false);
    }
    let filelike = result.getattr("filelike")?;
    let Some(fd) = ask::<RawFd>(&filelike, "fileno") else {
        return Ok(false);
    };
    let Some(size) = regular_file_size(fd) else {
        return Ok(false);
    };
    let Some(offset) = ask::<u64>(&filelike, "tell") else {
        return Ok(false);
    };
    let mut len = size.saturating_sub(offset);
    request::with(handle, |r| {
        if let Some(head) = r.output.head.as_mut() {
            match head.content_length {
                Some(cl) => len = len.min(cl),
                None => {
                    head.content_length = Some(len);
                    head.headers
                        .push(("Content-Length".into(), len.to_string()));
                }
            }
        }
    });
    let sent = metrics::detach(py, || {
        request::with(handle, |r| {
            if let Some(head) = r.output.head.clone() {
                r.transport.set_head(&head);
            }
            r.output.committed = true;
            r.output.bytes_sent = len;
            let res = metrics::io(Io::Write, || r.transport.send_file(fd, offset, len));
            if res.is_err() {
                r.output.failed = true;
            }
            res
        })
    });
    if let Some(Err(e)) = sent {
        client_gone(handle, &e.0);
    }
    // Leave the file positioned after what was sent, as if it had been read.
    let _ = filelike.call_method1("seek", (offset + len,));
    Ok(true)
}

/// `filelike.method()` as a `T`; `None` when the call fails or returns no `T`
/// (the file is then sent the ordinary way).
fn ask<T>(filelike: &Bound<'_, PyAny>, method: &str) -> Option<T>
where
    T: for<'a, 'py> FromPyObject<'a, 'py>,
{
    filelike.call_method0(method).ok()?.extract().ok()
}

fn regular_file_size(fd: RawFd) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    // The descriptor belongs to the application's file object; /proc resolves it
    // to the file itself without us touching the descriptor.
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?;
    meta.is_file().then_some(meta.len())
}
