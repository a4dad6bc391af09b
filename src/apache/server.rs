//! A borrowed `server_rec`: the main server or a virtual host.

use crate::ffi;

/// A server record httpd configured (or null, which httpd's logging accepts
/// as "the main server").
#[derive(Clone, Copy)]
pub struct Server(*const ffi::server_rec);

impl Server {
    /// # Safety
    /// `s` must be null or a server_rec that lives as long as this value is used.
    pub unsafe fn from_raw(s: *const ffi::server_rec) -> Server {
        Server(s)
    }

    pub fn as_ptr(self) -> *const ffi::server_rec {
        self.0
    }

    /// The next virtual host in httpd's list.
    pub fn next(self) -> Option<Server> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: a live server_rec's `next` is null or another live server_rec.
        let next = unsafe { (*self.0).next };
        (!next.is_null()).then_some(Server(next))
    }
}
