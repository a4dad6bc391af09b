//! httpd's Unix settings (`unixd.h`, `mpm_common.h`): the User and Group
//! its children run as, and CoreDumpDirectory.

use crate::ffi;

use super::pool::str_from;

/// The uid of Apache's `User`.
pub(crate) fn user_id() -> u32 {
    // SAFETY: a plain read of httpd's unixd configuration, set while
    // reading the User directive.
    unsafe { ffi::ap_unixd_config.user_id }
}

/// The gid of Apache's `Group`.
pub(crate) fn group_id() -> u32 {
    // SAFETY: as for user_id (the Group directive).
    unsafe { ffi::ap_unixd_config.group_id }
}

/// The name Apache's `User` was given as.
pub(crate) fn user_name() -> String {
    // SAFETY: as for user_id; the name is null or a string httpd keeps.
    unsafe { str_from(ffi::ap_unixd_config.user_name) }.into_owned()
}

/// Whether CoreDumpDirectory is set (httpd then makes its children dumpable
/// again after they switch users).
pub(crate) fn core_dumps_configured() -> bool {
    // SAFETY: a plain read of an int httpd sets while reading the directive.
    unsafe { ffi::ap_coredumpdir_configured != 0 }
}
