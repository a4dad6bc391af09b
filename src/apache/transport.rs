//! The embedded-mode [`Transport`]: the request body comes from httpd's input
//! filters and the response goes down its output filters as buckets.

use std::ffi::{c_char, c_int};
use std::os::fd::RawFd;
use std::ptr;
use std::time::Duration;

use crate::ffi;
use crate::python::response::ResponseHead;
use crate::python::transport::{InputError, OutputError, Transport, Write};
use crate::status::HttpStatus;

use super::log::{self, Level};
use super::request::Request;
use super::status::http_status;

pub(crate) struct EmbeddedTransport {
    r: *mut ffi::request_rec,
    out: *mut ffi::apr_bucket_brigade,
    input: *mut ffi::apr_bucket_brigade,
    sendfile: bool,
    /// The body ended (`Write::Last`); `finish` owes FLUSH + EOS.
    ended: bool,
    /// `abort` already ended the response.
    aborted: bool,
    /// What the last `write` returned (tells a client timeout apart).
    write_status: ffi::apr_status_t,
}

// SAFETY: the adapter keeps the transport in a thread-local and uses it only
// on the thread running the request, while the handler is on the stack. `Send`
// is needed only because reads and writes run inside `Python::detach`.
unsafe impl Send for EmbeddedTransport {}

impl EmbeddedTransport {
    pub(crate) fn new(req: Request, sendfile: bool) -> EmbeddedTransport {
        let r = req.as_ptr();
        // SAFETY: r is live; brigades are allocated from its pool.
        let (out, input) = unsafe {
            let ba = (*(*r).connection).bucket_alloc;
            (
                ffi::apr_brigade_create((*r).pool, ba),
                ffi::apr_brigade_create((*r).pool, ba),
            )
        };
        EmbeddedTransport {
            r,
            out,
            input,
            sendfile,
            ended: false,
            aborted: false,
            write_status: ffi::APR_SUCCESS as ffi::apr_status_t,
        }
    }

    /// Whether the last failed `write` failed because the client did not
    /// accept data within the connection's send timeout.
    pub(crate) fn write_timed_out(&self) -> bool {
        self.write_status == ffi::APR_TIMEUP as ffi::apr_status_t
            || self.write_status == libc::ETIMEDOUT
    }

    /// Sets the timeout of blocking writes to the client to `timeout` until
    /// the returned guard is dropped (mod_wsgi's response-socket-timeout);
    /// `None` when it already is that.
    pub(crate) fn client_send_timeout(&self, timeout: Duration) -> Option<SendTimeout> {
        let micros = ffi::apr_interval_time_t::try_from(timeout.as_micros()).ok()?;
        // SAFETY: r and its connection are live; the core output filter reads
        // this socket's timeout for each blocking write.
        unsafe {
            let sock = ffi::ap_get_conn_socket((*self.r).connection);
            if sock.is_null() {
                return None;
            }
            let mut previous: ffi::apr_interval_time_t = 0;
            if ffi::apr_socket_timeout_get(sock, &mut previous)
                != ffi::APR_SUCCESS as ffi::apr_status_t
                || previous == micros
            {
                return None;
            }
            ffi::apr_socket_timeout_set(sock, micros);
            Some(SendTimeout { sock, previous })
        }
    }

    /// Copies a header or status text into the request pool as latin-1
    /// bytes (PEP 3333: the application's str is latin-1 on the wire; the
    /// adapter has already refused anything else, and NUL with it).
    fn pool_str(&self, s: &str) -> *mut c_char {
        let bytes: Vec<u8> = s
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .filter(|&b| b != 0)
            .collect();
        // SAFETY: r's pool is live; apr_pstrmemdup copies len bytes and adds the NUL.
        unsafe { ffi::apr_pstrmemdup((*self.r).pool, bytes.as_ptr() as *const c_char, bytes.len()) }
    }

    fn status_of(&self, rv: ffi::apr_status_t) -> Result<(), OutputError> {
        if rv == ffi::APR_SUCCESS as ffi::apr_status_t {
            Ok(())
        } else {
            Err(OutputError(apr_error(rv)))
        }
    }
}

/// Restores the client socket's previous timeout when dropped.
pub(crate) struct SendTimeout {
    sock: *mut ffi::apr_socket_t,
    previous: ffi::apr_interval_time_t,
}

impl Drop for SendTimeout {
    fn drop(&mut self) {
        // SAFETY: made by `client_send_timeout` for the connection of a
        // request that is still being handled (the guard lives on the
        // handler's stack); the socket lives as long as the connection.
        unsafe { ffi::apr_socket_timeout_set(self.sock, self.previous) };
    }
}

fn apr_error(rv: ffi::apr_status_t) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: apr_strerror writes a NUL-terminated message into buf.
    unsafe {
        ffi::apr_strerror(rv, buf.as_mut_ptr(), buf.len());
        std::ffi::CStr::from_ptr(buf.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

impl Transport for EmbeddedTransport {
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, InputError> {
        let mut status: ffi::apr_status_t = 0;
        // SAFETY: r and the brigade are live; buf is writable for buf.len() bytes.
        let n = unsafe {
            ffi::wsgi_shim_read_body(
                self.r,
                self.input,
                buf.as_mut_ptr() as *mut c_char,
                buf.len(),
                &mut status,
            )
        };
        match n {
            n if n >= 0 => Ok(n as usize),
            -2 => Err(InputError {
                status: http_status(status),
                message: match status {
                    413 => "request body larger than LimitRequestBody".into(),
                    400 => "invalid request body (bad chunked encoding?)".into(),
                    s => format!("HTTP error {s} while reading the request body"),
                },
            }),
            _ => {
                let (code, what) = match status {
                    s if s == ffi::APR_TIMEUP => (
                        HttpStatus::REQUEST_TIMEOUT,
                        "timed out reading the request body".to_string(),
                    ),
                    s if s == ffi::APR_EOF || s == ffi::APR_INCOMPLETE => (
                        HttpStatus::BAD_REQUEST,
                        "the client closed the connection before sending the whole body"
                            .to_string(),
                    ),
                    s if s == ffi::AP_FILTER_ERROR => {
                        (HttpStatus::BAD_REQUEST, "invalid request body".to_string())
                    }
                    s => (HttpStatus::BAD_REQUEST, apr_error(s)),
                };
                Err(InputError {
                    status: Some(code),
                    message: what,
                })
            }
        }
    }

    fn set_head(&mut self, head: &ResponseHead) {
        let r = self.r;
        // SAFETY: r is live; every string stored in it is copied into its pool.
        unsafe {
            (*r).status = c_int::from(head.status.code());
            (*r).status_line = if head.reason.is_empty() {
                ptr::null()
            } else {
                self.pool_str(&format!("{} {}", head.status, head.reason))
            };
            for (name, value) in &head.headers {
                if name.eq_ignore_ascii_case("content-type") {
                    ffi::ap_set_content_type(r, self.pool_str(value));
                } else if name.eq_ignore_ascii_case("content-length") {
                    if let Some(n) = head.content_length {
                        ffi::ap_set_content_length(r, n as ffi::apr_off_t);
                    }
                } else {
                    // WWW-Authenticate must survive error responses, as in mod_wsgi.
                    let table = if name.eq_ignore_ascii_case("www-authenticate") {
                        (*r).err_headers_out
                    } else {
                        (*r).headers_out
                    };
                    ffi::apr_table_add(table, self.pool_str(name), self.pool_str(value));
                }
            }
            // The body may still be read after the head is out: httpd must
            // not then write "100 Continue" into the response (as mod_wsgi).
            (*r).expecting_100 = 0;
            if head.close_connection {
                (*(*r).connection).keepalive = ffi::ap_conn_keepalive_e_AP_CONN_CLOSE;
            }
        }
    }

    fn write(&mut self, data: &[u8], how: Write) -> Result<(), OutputError> {
        // The last bytes are passed like buffered ones (httpd writes what it
        // can without blocking); `finish` flushes and ends the stream.
        let flags = match how {
            Write::Buffer | Write::Last => 0,
            Write::Flush => ffi::WSGI_SHIM_FLUSH,
        };
        self.ended |= how == Write::Last;
        // SAFETY: r and the brigade are live; the transient bucket is copied by
        // any filter that keeps it past this call.
        self.write_status = unsafe {
            ffi::wsgi_shim_send(
                self.r,
                self.out,
                data.as_ptr() as *const c_char,
                data.len(),
                flags,
            )
        };
        self.status_of(self.write_status)
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), OutputError> {
        let mut file: *mut ffi::apr_file_t = ptr::null_mut();
        let mut os_fd: ffi::apr_os_file_t = fd;
        let mut flags = ffi::APR_FOPEN_READ;
        if self.sendfile {
            flags |= ffi::APR_FOPEN_SENDFILE_ENABLED;
        }
        // SAFETY: wraps the application's descriptor without taking ownership
        // (apr_os_file_put registers no close cleanup), then duplicates it into
        // a descriptor the request pool owns and closes: a filter that keeps a
        // file bucket past the FLUSH never reads a descriptor the application
        // has closed or reused. The caller restores the shared file offset.
        let rv = unsafe {
            let rv = ffi::apr_os_file_put(&mut file, &mut os_fd, flags, (*self.r).pool);
            if rv != ffi::APR_SUCCESS {
                return Err(OutputError(apr_error(rv)));
            }
            let mut dup: *mut ffi::apr_file_t = ptr::null_mut();
            let rv = ffi::apr_file_dup(&mut dup, file, (*self.r).pool);
            if rv != ffi::APR_SUCCESS {
                return Err(OutputError(apr_error(rv)));
            }
            ffi::wsgi_shim_send_file(
                self.r,
                self.out,
                dup,
                offset as ffi::apr_off_t,
                len as ffi::apr_off_t,
                ffi::WSGI_SHIM_FLUSH,
            )
        };
        self.status_of(rv)
    }

    fn abort(&mut self) {
        self.aborted = true;
        // SAFETY: r and the brigade are live.
        unsafe { ffi::wsgi_shim_send_abort(self.r, self.out) };
    }

    fn finish(&mut self) {
        if !self.ended || self.aborted {
            return;
        }
        self.ended = false;
        // SAFETY: r and the brigade are live; an empty send only appends the
        // FLUSH and EOS buckets. A failure here means the client went away,
        // which httpd records on the connection itself.
        unsafe {
            ffi::wsgi_shim_send(
                self.r,
                self.out,
                ptr::null(),
                0,
                ffi::WSGI_SHIM_FLUSH | ffi::WSGI_SHIM_EOS,
            )
        };
    }

    fn log(&self, level: Level, message: &str) {
        // SAFETY: r is live while the transport exists.
        log::request(&unsafe { Request::from_raw(self.r) }, level, message)
    }

    fn log_enabled(&self, level: Level) -> bool {
        // SAFETY: as above.
        log::enabled(&unsafe { Request::from_raw(self.r) }, level)
    }
}
