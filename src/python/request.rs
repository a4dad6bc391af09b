//! The request running on this thread: its transport, the request-body
//! buffer behind `wsgi.input`, and the response state behind
//! `start_response`/`write`. Python objects refer to it by an integer handle;
//! a handle that is not this thread's live request is refused, so an object
//! an application keeps after its request ended raises instead of dangling.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::log::Level;

use super::metrics::{self, Io};
use super::response::ResponseHead;
use super::transport::{InputError, Transport, Write};

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

pub(crate) struct ActiveRequest {
    pub handle: u64,
    pub transport: Box<dyn Transport>,
    pub input: InputState,
    pub output: OutputState,
}

#[derive(Default)]
pub(crate) struct InputState {
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    pub bytes_read: u64,
    /// The first read failure; later reads fail the same way.
    pub error: Option<InputError>,
}

#[derive(Default)]
pub(crate) struct OutputState {
    /// Set by start_response; replaced while nothing has been sent.
    pub head: Option<ResponseHead>,
    /// The status line as the application gave it (for events).
    pub status_line: String,
    /// The head has been handed to the transport.
    pub committed: bool,
    /// Body bytes the application produced (after Content-Length clipping).
    pub bytes_sent: u64,
    /// Bytes dropped because they went beyond Content-Length.
    pub bytes_clipped: u64,
    /// The client went away or the connection failed.
    pub failed: bool,
}

thread_local! {
    static ACTIVE: RefCell<Option<ActiveRequest>> = const { RefCell::new(None) };
}

/// Makes `transport` this thread's active request until the guard drops.
pub(crate) fn begin(transport: Box<dyn Transport>) -> ActiveGuard {
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    ACTIVE.with(|a| {
        *a.borrow_mut() = Some(ActiveRequest {
            handle,
            transport,
            input: InputState::default(),
            output: OutputState::default(),
        })
    });
    ActiveGuard { handle }
}

/// Whether no request is active on this thread (so [`begin`] may be called).
pub(crate) fn is_idle() -> bool {
    ACTIVE.with(|a| a.try_borrow().is_ok_and(|a| a.is_none()))
}

pub(crate) struct ActiveGuard {
    pub handle: u64,
}

impl ActiveGuard {
    /// Ends the request's time as this thread's active request and gives its
    /// transport back (for `Transport::finish`, outside the GIL).
    pub(crate) fn end(self) -> Option<Box<dyn Transport>> {
        ACTIVE.with(|a| {
            let mut a = a.borrow_mut();
            match a.as_ref() {
                Some(r) if r.handle == self.handle => a.take().map(|r| r.transport),
                _ => None,
            }
        })
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        ACTIVE.with(|a| {
            let mut a = a.borrow_mut();
            if a.as_ref().is_some_and(|r| r.handle == self.handle) {
                *a = None;
            }
        });
    }
}

/// Runs `f` on this thread's request if `handle` is it (0 = whatever is active).
/// `None` also when called re-entrantly from inside another `with` (a hook
/// httpd runs while this request's output is being passed on).
pub(crate) fn with<T>(handle: u64, f: impl FnOnce(&mut ActiveRequest) -> T) -> Option<T> {
    ACTIVE.with(|a| {
        let Ok(mut a) = a.try_borrow_mut() else {
            return None;
        };
        match a.as_mut() {
            Some(r) if handle == 0 || r.handle == handle => Some(f(r)),
            _ => None,
        }
    })
}

pub(crate) fn expired() -> PyErr {
    PyRuntimeError::new_err(
        "request object used outside its request (the request has finished, or this is another thread)",
    )
}

/// Like [`with`], raising RuntimeError when the handle is not live here.
pub(crate) fn with_live<T>(handle: u64, f: impl FnOnce(&mut ActiveRequest) -> T) -> PyResult<T> {
    with(handle, f).ok_or_else(expired)
}

/// Logs for `handle` (or the thread's request for 0), or at server level.
pub(crate) fn log(handle: u64, level: Level, message: &str) {
    let done = with(handle, |r| r.transport.log(level, message));
    if done.is_none() {
        crate::log::process(level, message);
    }
}

const READ_CHUNK: usize = 64 * 1024;

/// Reads more body into the buffer with the GIL released. `Ok(false)` at end.
fn fill(py: Python<'_>, handle: u64, want: usize) -> PyResult<bool> {
    let result = metrics::detach(py, || {
        with(handle, |r| {
            if r.input.eof {
                return Ok(false);
            }
            if let Some(e) = &r.input.error {
                return Err(e.clone());
            }
            let input = &mut r.input;
            if input.pos > 0 {
                input.buf.drain(..input.pos);
                input.pos = 0;
            }
            let start = input.buf.len();
            input.buf.resize(start + want.clamp(8192, READ_CHUNK), 0);
            match metrics::io(Io::Read, || r.transport.read_body(&mut input.buf[start..])) {
                Ok(0) => {
                    input.buf.truncate(start);
                    input.eof = true;
                    Ok(false)
                }
                Ok(n) => {
                    input.buf.truncate(start + n);
                    input.bytes_read += n as u64;
                    Ok(true)
                }
                Err(e) => {
                    input.buf.truncate(start);
                    input.error = Some(e.clone());
                    Err(e)
                }
            }
        })
    });
    match result {
        None => Err(expired()),
        Some(Ok(more)) => Ok(more),
        Some(Err(e)) => Err(PyOSError::new_err(format!(
            "mod_wsgi request data read error: {}",
            e.message
        ))),
    }
}

fn buffered(handle: u64) -> PyResult<usize> {
    with_live(handle, |r| r.input.buf.len() - r.input.pos)
}

fn take(handle: u64, n: usize) -> PyResult<Vec<u8>> {
    with_live(handle, |r| {
        let i = &mut r.input;
        let n = n.min(i.buf.len() - i.pos);
        let out = i.buf[i.pos..i.pos + n].to_vec();
        i.pos += n;
        out
    })
}

/// Moves up to `dst.len()` buffered body bytes into `dst`.
fn drain_into(handle: u64, dst: &mut [u8]) -> PyResult<usize> {
    with_live(handle, |r| {
        let i = &mut r.input;
        let n = dst.len().min(i.buf.len() - i.pos);
        dst[..n].copy_from_slice(&i.buf[i.pos..i.pos + n]);
        i.pos += n;
        n
    })
}

/// Reads from the transport straight into `dst` until it is full, the body
/// ends or a read fails (the failure is kept for later reads). Runs without
/// the GIL. Returns the bytes read and whether a failure stopped it.
fn read_direct(handle: u64, dst: &mut [u8]) -> (usize, Option<InputError>) {
    let mut got = 0;
    while got < dst.len() {
        let step = with(handle, |r| {
            if r.input.eof {
                return Ok(0);
            }
            if let Some(e) = &r.input.error {
                return Err(e.clone());
            }
            match metrics::io(Io::Read, || r.transport.read_body(&mut dst[got..])) {
                Ok(0) => {
                    r.input.eof = true;
                    Ok(0)
                }
                Ok(n) => {
                    r.input.bytes_read += n as u64;
                    Ok(n)
                }
                Err(e) => {
                    r.input.error = Some(e.clone());
                    Err(e)
                }
            }
        });
        match step {
            Some(Ok(0)) | None => break,
            Some(Ok(n)) => got += n,
            Some(Err(e)) => return (got, Some(e)),
        }
    }
    (got, None)
}

fn read_error(e: &InputError) -> PyErr {
    PyOSError::new_err(format!("mod_wsgi request data read error: {}", e.message))
}

/// `wsgi.input.read(size)`: up to `size` bytes (all remaining if negative).
/// A sized read goes from the input filters straight into the result object,
/// with the GIL released once for the whole read.
pub(crate) fn read<'py>(py: Python<'py>, handle: u64, size: i64) -> PyResult<Bound<'py, PyBytes>> {
    if size < 0 {
        return read_all(py, handle);
    }
    let want = size as usize;
    let done = with_live(handle, |r| r.input.eof || r.input.error.is_some())?;
    if done || buffered(handle)? >= want {
        if buffered(handle)? == 0
            && let Some(e) = with_live(handle, |r| r.input.error.clone())?
        {
            return Err(read_error(&e));
        }
        return Ok(PyBytes::new(py, &take(handle, want)?));
    }
    let mut got = 0;
    let mut failure = None;
    let bytes = PyBytes::new_with(py, want, |dst| {
        got = drain_into(handle, dst)?;
        let rest = &mut dst[got..];
        let (n, e) = metrics::detach(py, || read_direct(handle, rest));
        got += n;
        failure = e;
        Ok(())
    })?;
    match failure {
        // Data read before a failure is returned; the next read raises.
        Some(e) if got == 0 => Err(read_error(&e)),
        _ if got < want => Ok(PyBytes::new(py, &bytes.as_bytes()[..got])),
        _ => Ok(bytes),
    }
}

fn read_all<'py>(py: Python<'py>, handle: u64) -> PyResult<Bound<'py, PyBytes>> {
    let mut data = take(handle, usize::MAX)?;
    let failure = metrics::detach(py, || {
        loop {
            let start = data.len();
            data.resize(start + READ_CHUNK, 0);
            let (n, e) = read_direct(handle, &mut data[start..]);
            data.truncate(start + n);
            if e.is_some() || n < READ_CHUNK {
                return e;
            }
        }
    });
    match failure {
        Some(e) if data.is_empty() => Err(read_error(&e)),
        _ => Ok(PyBytes::new(py, &data)),
    }
}

/// `wsgi.input.readline(size)`: through the next `\n`, at most `size` bytes.
pub(crate) fn readline(py: Python<'_>, handle: u64, size: i64) -> PyResult<Vec<u8>> {
    let limit = if size < 0 { usize::MAX } else { size as usize };
    let mut scanned = 0;
    loop {
        let found = with_live(handle, |r| {
            let i = &r.input;
            i.buf[i.pos + scanned..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|p| scanned + p + 1)
        })?;
        let avail = buffered(handle)?;
        if let Some(end) = found {
            return take(handle, end.min(limit));
        }
        if avail >= limit {
            return take(handle, limit);
        }
        scanned = avail;
        if !fill(py, handle, READ_CHUNK)? {
            return take(handle, avail);
        }
    }
}

/// Why body output stopped.
pub(crate) enum SendError {
    /// write() before start_response().
    NoHead,
    /// The client went away.
    Failed(String),
    /// The handle is not this thread's live request.
    Expired,
}

/// Sends body bytes for the request, committing the head first. Bytes beyond
/// the app's Content-Length are dropped. The GIL is released around the I/O.
pub(crate) fn send(py: Python<'_>, handle: u64, data: &[u8], how: Write) -> Result<(), SendError> {
    // httpd's core output filter writes without blocking and sets aside up to
    // 64 KiB per connection; only a flush, or more than that, can block. So a
    // small response is passed with the GIL held, saving a GIL hand-off (and a
    // thread switch) per request; anything that may block releases it.
    let may_block = how == Write::Flush
        || with(handle, |r| {
            r.output.bytes_sent + data.len() as u64 > NONBLOCKING_LIMIT
        })
        .unwrap_or(true);
    let send = || {
        with(handle, |r| {
            let out = &mut r.output;
            if out.failed {
                return Err(SendError::Failed(
                    "the connection has already failed".into(),
                ));
            }
            let Some(head) = &out.head else {
                return Err(SendError::NoHead);
            };
            let mut data = data;
            if let Some(limit) = head.content_length {
                let room = limit.saturating_sub(out.bytes_sent);
                if (data.len() as u64) > room {
                    out.bytes_clipped += data.len() as u64 - room;
                    data = &data[..room as usize];
                }
            }
            if !out.committed {
                r.transport.set_head(head);
                out.committed = true;
            }
            if data.is_empty() && how == Write::Buffer {
                return Ok(());
            }
            out.bytes_sent += data.len() as u64;
            metrics::io(Io::Write, || r.transport.write(data, how)).map_err(|e| {
                out.failed = true;
                SendError::Failed(e.0)
            })
        })
    };
    let r = if may_block {
        metrics::detach(py, send)
    } else {
        send()
    };
    r.unwrap_or(Err(SendError::Expired))
}

/// Bytes a response may total before writes are assumed able to block
/// (httpd's THRESHOLD_MAX_BUFFER).
const NONBLOCKING_LIMIT: u64 = 64 * 1024;
