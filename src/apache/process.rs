//! Processes the Apache parent makes and watches for this module: fork
//! through APR, and APR's "other child" registry, through which httpd's MPM
//! tells a module that one of its children died. Also what a forked process
//! undoes of the parent: Apache's listeners, and its title.

use std::cell::Cell;
use std::ffi::{c_int, c_void};

use crate::ffi;

use super::entry::guard;
use super::pool::Pool;
use super::server::Server;

/// Which side of [`fork`] this is.
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// This process; the child's pid.
    Parent(i32),
}

/// Forks this process with `apr_proc_fork`. `Err` is APR's status.
pub(crate) fn fork(pool: Pool) -> Result<Forked, ffi::apr_status_t> {
    let mut proc_ = ffi::apr_proc_t::default();
    // SAFETY: proc_ is a writable apr_proc_t; the pool is live.
    let rv = unsafe { ffi::apr_proc_fork(&mut proc_, pool.as_ptr()) };
    if rv == ffi::APR_INCHILD as ffi::apr_status_t {
        Ok(Forked::Child)
    } else if rv == ffi::APR_INPARENT as ffi::apr_status_t {
        Ok(Forked::Parent(proc_.pid))
    } else {
        Err(rv)
    }
}

/// What runs when a watched process has died.
type OnExit = Box<dyn FnOnce(c_int)>;

/// One registration in APR's other-child registry. APR keeps pointers to
/// it (`proc_`, and the whole record as the callback's data) until it is
/// unregistered, so it lives in a box of its own, freed when APR lets go:
/// after the death is handled, or when the pool's cleanup unregisters it.
struct Watch {
    proc_: ffi::apr_proc_t,
    on_exit: Cell<Option<OnExit>>,
    /// Set while [`on_event`] unregisters it (APR then calls back with
    /// `APR_OC_REASON_UNREGISTER`, which must not free it).
    ending: Cell<bool>,
}

/// Has httpd's MPM watch child `pid` of this process (forked here, or by
/// an earlier generation of this module) until `pool` is cleared: when the
/// MPM reaps it (or finds it gone), the registration is removed and
/// `on_exit` runs with the status the MPM reports (an exit status or a
/// signal number). If the pool is cleared first, `on_exit` is dropped
/// without running.
pub(crate) fn watch(pool: Pool, pid: i32, on_exit: impl FnOnce(c_int) + 'static) {
    let w = Box::into_raw(Box::new(Watch {
        proc_: ffi::apr_proc_t {
            pid,
            ..Default::default()
        },
        on_exit: Cell::new(Some(Box::new(on_exit))),
        ending: Cell::new(false),
    }));
    // SAFETY: w is a live box that stays allocated until on_event frees it,
    // which is when APR drops the registration (see Watch); the pool is live.
    unsafe {
        ffi::apr_proc_other_child_register(
            std::ptr::addr_of_mut!((*w).proc_),
            Some(on_event),
            w as *mut c_void,
            std::ptr::null_mut(),
            pool.as_ptr(),
        )
    };
}

unsafe extern "C" fn on_event(reason: c_int, data: *mut c_void, status: c_int) {
    guard("daemon maintenance", (), || {
        let w = data as *const Watch;
        match reason {
            ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
                // SAFETY: data is the live Watch registered in `watch` (APR
                // calls back only while it is registered). APR's record of it
                // must go (it no longer points at the process), which calls
                // back with UNREGISTER; `ending` keeps that from freeing it.
                // Then nothing refers to it any more and it is freed.
                let on_exit = unsafe {
                    (*w).ending.set(true);
                    ffi::apr_proc_other_child_unregister(data);
                    let on_exit = (*w).on_exit.take();
                    drop(Box::from_raw(w as *mut Watch));
                    on_exit
                };
                if let Some(f) = on_exit {
                    f(status);
                }
            }
            ffi::APR_OC_REASON_UNREGISTER => {
                // SAFETY: as above. Unless on_event itself is unregistering
                // it, this is the pool's cleanup, after which APR never calls
                // back with it again.
                unsafe {
                    if !(*w).ending.get() {
                        drop(Box::from_raw(w as *mut Watch));
                    }
                }
            }
            _ => {}
        }
    })
}

/// Closes Apache's listening sockets (in a process forked from the parent
/// that does not serve them).
pub(crate) fn close_listeners() {
    // SAFETY: closes the listeners this process inherited; httpd's list of
    // them stays valid.
    unsafe { ffi::ap_close_listeners() };
}

/// Shows `title` as this process's command line (`ps`, `/proc/PID/cmdline`)
/// and thread name, over httpd's original argv.
pub(crate) fn set_title(title: &str) {
    let Some(process) = Server::main().process() else {
        return;
    };
    // SAFETY: httpd's process record keeps the original argv of this
    // process (httpd rewrites the array, not argv[0]'s strings).
    unsafe { crate::os::process::set_process_title(process.argv, title) };
}
