//! Logging into httpd's error log, tagged `[wsgi:level]` like mod_wsgi.

use std::ffi::{CString, c_char, c_int};
use std::panic::Location;
use std::ptr;

use crate::ffi;

use super::module::module_index;
use super::request::Request;
use super::server::Server;

pub(crate) use crate::log::Level;

/// httpd's `APLOG_*` number for a level.
fn raw(level: Level) -> c_int {
    (match level {
        Level::Emerg => ffi::APLOG_EMERG,
        Level::Alert => ffi::APLOG_ALERT,
        Level::Crit => ffi::APLOG_CRIT,
        Level::Error => ffi::APLOG_ERR,
        Level::Warn => ffi::APLOG_WARNING,
        Level::Notice => ffi::APLOG_NOTICE,
        Level::Info => ffi::APLOG_INFO,
        Level::Debug => ffi::APLOG_DEBUG,
        Level::Trace1 => ffi::APLOG_TRACE1,
    }) as c_int
}

/// The process logger the module installs: the main server's error log.
pub(crate) struct ErrorLog;

impl crate::log::ProcessLogger for ErrorLog {
    fn log(&self, level: Level, message: &str, at: &'static Location<'static>) {
        // SAFETY: ap_server_conf is set by httpd before any module code runs
        // (and a null server_rec is accepted by ap_log_error).
        let main = unsafe { Server::from_raw(ffi::ap_server_conf) };
        server_at(main, level, message, at);
    }
}

fn c_message(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

fn c_file(loc: &Location<'_>) -> CString {
    CString::new(loc.file()).unwrap_or_default()
}

/// Whether a message at `level` would be written for this request.
pub(crate) fn enabled(r: &Request, level: Level) -> bool {
    // SAFETY: a Request wraps a live request_rec.
    unsafe { ffi::wsgi_shim_log_enabled(r.as_ptr(), ptr::null(), raw(level), module_index()) != 0 }
}

/// Whether a message at `level` would be written to the main server's
/// error log (where [`process`] writes).
pub(crate) fn process_enabled(level: Level) -> bool {
    // SAFETY: ap_server_conf is set by httpd before any module code runs;
    // the shim reads that server's log level (and accepts a null server).
    unsafe {
        ffi::wsgi_shim_log_enabled(ptr::null(), ffi::ap_server_conf, raw(level), module_index())
            != 0
    }
}

/// Logs against a request: the line carries the client address and request ids.
#[track_caller]
pub(crate) fn request(r: &Request, level: Level, msg: &str) {
    let r = r.as_ptr();
    let loc = Location::caller();
    let (file, text) = (c_file(loc), c_message(msg));
    // SAFETY: r is a live request; "%s" consumes exactly the one string argument.
    unsafe {
        ffi::ap_log_rerror_(
            file.as_ptr(),
            loc.line() as c_int,
            module_index(),
            raw(level),
            0,
            r,
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    }
}

/// Logs against a server (a virtual host's ErrorLog when it has one).
#[track_caller]
pub(crate) fn server(s: Server, level: Level, msg: &str) {
    server_at(s, level, msg, Location::caller())
}

fn server_at(s: Server, level: Level, msg: &str, loc: &Location<'_>) {
    let s = s.as_ptr();
    let (file, text) = (c_file(loc), c_message(msg));
    // SAFETY: s is a live server_rec or null (httpd then uses the main server);
    // "%s" consumes exactly the one string argument.
    unsafe {
        ffi::ap_log_error_(
            file.as_ptr(),
            loc.line() as c_int,
            module_index(),
            raw(level),
            0,
            s,
            c"%s".as_ptr(),
            text.as_ptr() as *const c_char,
        )
    }
}

/// Logs against the main server, when no request or vhost is at hand.
#[track_caller]
pub(crate) fn process(level: Level, msg: &str) {
    crate::log::process(level, msg)
}
