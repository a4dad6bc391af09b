//! The operating system behind safe functions, for the module, the daemon
//! processes and wsgi-express alike. Every libc call of the crate outside
//! `src/apache` (httpd and APR) and `src/python` (CPython) is here; each
//! `unsafe` block is one call (or a few) with its reason.
//!
//! By concern:
//! * `sockets`: UNIX sockets (listen, connect, accept, who is at the other
//!   end, the syslog socket).
//! * `descriptors`: any file descriptor (close, pipes, poll, positioned
//!   reads, sendfile, closing all but a few).
//! * `events`: a readiness set several threads wait on (epoll), each event
//!   to one of them.
//! * `users`: the user and group databases (reentrant lookups).
//! * `credentials`: who this process runs as (uid checks, dropping root,
//!   chroot, reading the ids back) and what another user could access.
//! * `signals`: blocking and waiting for signals, handlers, sending them.
//! * `process`: this process's attributes (title, priority, limits, umask,
//!   locale, dumpable, leaving) and other processes (existence, wait
//!   statuses).
//! * `memory`: anonymous mappings (shared, or hidden from forked children).
//! * `exit_table`: the table of daemon exits in a mapping shared by the
//!   Apache parent, its children and the daemons.
//! * `usage`: CPU time and memory this process (or thread) has used, for
//!   the `mod_wsgi` metrics functions.
//!
//! Only what wsgi-express uses is `pub` (re-exported below); the rest is
//! for this crate.

use std::ffi::CString;
use std::io;

pub(crate) mod credentials;
pub(crate) mod descriptors;
pub(crate) mod events;
pub(crate) mod exit_table;
pub(crate) mod memory;
pub(crate) mod process;
pub(crate) mod signals;
pub(crate) mod sockets;
pub(crate) mod usage;
pub(crate) mod users;

pub use credentials::{accessible_as, is_root, uid};
pub use users::{User, group_by_name, group_list, group_name, user_by_name};

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(rv: libc::c_int) -> io::Result<libc::c_int> {
    if rv < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rv)
    }
}
