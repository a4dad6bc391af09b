//! What httpd and its MPM say about the server as a whole: thread and
//! process counts, whether it is stopping, which phase of its life it is in
//! (configtest, first pass, real start, exiting), and what kind of restart
//! is under way.

use std::ffi::c_int;

use crate::ffi;

fn query(what: c_int) -> c_int {
    let mut out: c_int = 0;
    // SAFETY: ap_mpm_query writes one int for the given query code.
    unsafe { ffi::ap_mpm_query(what, &mut out) };
    out
}

/// Threads per child process (`AP_MPMQ_MAX_THREADS`).
pub(crate) fn max_threads() -> i32 {
    query(ffi::AP_MPMQ_MAX_THREADS)
}

/// Child processes at most (`AP_MPMQ_MAX_DAEMONS`).
pub(crate) fn max_daemons() -> i32 {
    query(ffi::AP_MPMQ_MAX_DAEMONS)
}

/// Whether the MPM is stopping (a stop or restart is under way).
pub(crate) fn is_stopping() -> bool {
    query(ffi::AP_MPMQ_MPM_STATE) == ffi::AP_MPMQ_STOPPING
}

fn state(what: c_int) -> c_int {
    // SAFETY: a read-only query of httpd's state.
    unsafe { ffi::ap_state_query(what) }
}

/// post_config of the real start or of a restart: not configtest, not the
/// first (pre-config) pass.
pub(crate) fn is_real_start() -> bool {
    state(ffi::AP_SQ_MAIN_STATE) == ffi::AP_SQ_MS_CREATE_CONFIG
        && state(ffi::AP_SQ_RUN_MODE) == ffi::AP_SQ_RM_NORMAL
}

/// httpd is exiting (a stop, not a restart).
pub(crate) fn is_exiting() -> bool {
    state(ffi::AP_SQ_MAIN_STATE) == ffi::AP_SQ_MS_EXITING
}

/// Whether the restart in progress is a graceful one (SIGUSR1, `apachectl
/// graceful`), from httpd's MPM data kept across restarts (`unixd.h`). The
/// MPM's pconf cleanup, which runs before this module's, moved the flag to
/// `was_graceful`.
pub(crate) fn restart_is_graceful() -> bool {
    // SAFETY: httpd's retained MPM data: created on first use and kept for
    // the life of the process.
    let r = unsafe { ffi::ap_unixd_mpm_get_retained_data() };
    if r.is_null() {
        return false;
    }
    // SAFETY: as above; volatile reads because httpd's signal handlers write
    // these fields.
    let (was, ungraceful) = unsafe {
        (
            std::ptr::read_volatile(std::ptr::addr_of!((*r).was_graceful)),
            std::ptr::read_volatile(std::ptr::addr_of!((*r).is_ungraceful)),
        )
    };
    was != 0 && ungraceful == 0
}
