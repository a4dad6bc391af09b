//! A borrowed `server_rec`: the main server or a virtual host.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::ffi;

use super::pool::{Pool, str_from};

/// A server record httpd configured (or null, which httpd's logging accepts
/// as "the main server").
#[derive(Clone, Copy)]
pub(crate) struct Server(*const ffi::server_rec);

impl Server {
    /// # Safety
    /// `s` must be null or a server_rec that lives as long as this value is used.
    pub(crate) unsafe fn from_raw(s: *const ffi::server_rec) -> Server {
        Server(s)
    }

    /// The main server (httpd's `ap_server_conf`: set once the configuration
    /// is read, before post_config, and kept for the life of each
    /// configuration generation).
    pub(crate) fn main() -> Server {
        // SAFETY: a plain read of httpd's global; it points at the current
        // generation's main server_rec (or is null before the first one).
        Server(unsafe { ffi::ap_server_conf })
    }

    pub(crate) fn as_ptr(self) -> *const ffi::server_rec {
        self.0
    }

    /// The record, if this is not the null server.
    fn get(&self) -> Option<&ffi::server_rec> {
        // SAFETY: a Server is null or a live, configured server_rec.
        unsafe { self.0.as_ref() }
    }

    /// The next virtual host in httpd's list.
    pub(crate) fn next(self) -> Option<Server> {
        let next = self.get()?.next;
        (!next.is_null()).then_some(Server(next))
    }

    /// This server, then every virtual host after it in httpd's list: from
    /// the main server, every server of the configuration.
    pub(crate) fn vhosts(self) -> impl Iterator<Item = Server> {
        std::iter::successors(self.get().map(|_| self), |s| s.next())
    }

    /// Its ServerName (`""` for the null server).
    pub(crate) fn hostname(self) -> String {
        let Some(s) = self.get() else {
            return String::new();
        };
        // SAFETY: a configured server_rec's hostname is null or a pconf string.
        unsafe { str_from(s.server_hostname) }.into_owned()
    }

    /// Its Timeout (zero for the null server).
    pub(crate) fn timeout(self) -> Duration {
        self.get().map_or(Duration::ZERO, |s| {
            Duration::from_micros(u64::try_from(s.timeout).unwrap_or(0))
        })
    }

    /// The descriptor of its ErrorLog (a file, or a pipe to a logger
    /// program); `None` for syslog.
    pub(crate) fn error_log_fd(self) -> Option<RawFd> {
        let file = self.get()?.error_log;
        if file.is_null() {
            return None;
        }
        let mut fd: ffi::apr_os_file_t = -1;
        // SAFETY: error_log is an apr_file_t httpd opened for the life of the
        // configuration; apr_os_file_get only reads its descriptor.
        if unsafe { ffi::apr_os_file_get(&mut fd, file) } != ffi::APR_SUCCESS {
            return None;
        }
        (fd >= 0).then_some(fd)
    }

    /// httpd's record of this process.
    pub(super) fn process(self) -> Option<&'static ffi::process_rec> {
        // SAFETY: a configured server_rec's process record lives as long as
        // the process.
        unsafe { self.get()?.process.as_ref() }
    }

    /// The process record's pool: it lives as long as the process (the
    /// configuration pool is cleared at every restart).
    pub(crate) fn process_pool(self) -> Option<Pool> {
        let pool = self.process()?.pool;
        // SAFETY: the process pool lives as long as the process.
        (!pool.is_null()).then(|| unsafe { Pool::from_raw(pool) })
    }
}
