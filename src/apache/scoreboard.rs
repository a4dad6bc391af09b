//! httpd's scoreboard (the shared memory mod_status reads). The Apache
//! parent creates it in its pre_mpm hook at the first start (after
//! post_config) and keeps it across restarts; the processes it forks
//! afterwards inherit the mapping.

use crate::ffi;

/// Whether this process has a scoreboard.
pub(crate) fn exists() -> bool {
    // SAFETY: reads httpd's global pointer only.
    unsafe { ffi::ap_exists_scoreboard_image() != 0 }
}
