//! The `wsgi_module` record httpd loads (`LoadModule wsgi_module ...`), the
//! per-server / per-directory configuration lifecycle, and hook registration.

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_ulong, c_void};
use std::ptr;

use crate::config::{DirConfig, ServerConfig};
use crate::ffi;

use super::directives::COMMANDS;
use super::entry::guard;
use super::hooks;
use super::pool::Pool;
use super::server::Server;

/// httpd writes `module_index`, `next` and `dynamic_load_handle` into the
/// record, so it lives in an `UnsafeCell` (writable memory, no `static mut`).
#[repr(transparent)]
pub(crate) struct ModuleRecord(UnsafeCell<ffi::module>);

// SAFETY: httpd mutates the record only while loading modules, single-threaded,
// before any of our code reads it concurrently.
unsafe impl Sync for ModuleRecord {}

impl ModuleRecord {
    pub(crate) fn as_ptr(&self) -> *mut ffi::module {
        self.0.get()
    }
}

/// The name `<IfModule mod_wsgi.c>` tests, exactly as mod_wsgi's.
pub(crate) const MODULE_NAME: &std::ffi::CStr = c"mod_wsgi.c";

#[unsafe(no_mangle)]
pub(crate) static wsgi_module: ModuleRecord = ModuleRecord(UnsafeCell::new(ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR,
    module_index: -1,
    name: MODULE_NAME.as_ptr(),
    dynamic_load_handle: ptr::null_mut(),
    next: ptr::null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as c_ulong,
    rewrite_args: None,
    create_dir_config: Some(create_dir_config),
    merge_dir_config: Some(merge_config::<DirConfig>),
    create_server_config: Some(create_server_config),
    merge_server_config: Some(merge_config::<ServerConfig>),
    cmds: COMMANDS.as_ptr(),
    register_hooks: Some(register_hooks),
    flags: 0,
}));

/// Our index in httpd's configuration vectors (and for per-module log levels).
pub(crate) fn module_index() -> c_int {
    // SAFETY: a plain read of an int httpd set when it loaded us.
    unsafe { (*wsgi_module.as_ptr()).module_index }
}

/// Our slot in a configuration vector (`ap_get_module_config`).
///
/// # Safety
/// `vector` must be a live per-server or per-directory configuration vector.
pub(crate) unsafe fn config_slot(vector: *mut ffi::ap_conf_vector_t) -> *mut c_void {
    let index = module_index();
    if vector.is_null() || index < 0 {
        return ptr::null_mut();
    }
    // SAFETY: httpd sizes every vector for all loaded modules; index is ours.
    unsafe { *(vector as *mut *mut c_void).add(index as usize) }
}

/// The per-server configuration of `s` (main server or virtual host).
pub(crate) fn server_config<'a>(s: Server) -> Option<&'a ServerConfig> {
    if s.as_ptr().is_null() {
        return None;
    }
    // SAFETY: a Server is a live, configured server_rec; its slot holds the
    // ServerConfig we allocated in pconf, which outlives every hook call.
    unsafe { (config_slot((*s.as_ptr()).module_config) as *const ServerConfig).as_ref() }
}

/// Mutable access while directives are being read (single-threaded).
///
/// # Safety
/// `s` must be a live server_rec whose configuration was created by httpd,
/// and no other reference to its configuration may be live.
pub(crate) unsafe fn server_config_mut<'a>(
    s: *const ffi::server_rec,
) -> Option<&'a mut ServerConfig> {
    // SAFETY: as above; config reading is single-threaded.
    unsafe { (config_slot((*s).module_config) as *mut ServerConfig).as_mut() }
}

unsafe extern "C" fn create_server_config(
    p: *mut ffi::apr_pool_t,
    _s: *mut ffi::server_rec,
) -> *mut c_void {
    guard("create_server_config", ptr::null_mut(), || {
        // SAFETY: httpd passes its live configuration pool.
        unsafe { Pool::from_raw(p) }.alloc(ServerConfig::default()) as *mut c_void
    })
}

unsafe extern "C" fn create_dir_config(p: *mut ffi::apr_pool_t, _dir: *mut c_char) -> *mut c_void {
    guard("create_dir_config", ptr::null_mut(), || {
        // SAFETY: httpd passes a live pool (pconf, or the request pool for .htaccess).
        unsafe { Pool::from_raw(p) }.alloc(DirConfig::default()) as *mut c_void
    })
}

/// A configuration record httpd merges: a virtual host's over the main
/// server's, a section's over its enclosing one's.
trait Merge: Sized + 'static {
    /// The hook's name, for the panic guard's message.
    const HOOK: &'static str;
    fn merge(base: &Self, add: &Self) -> Self;
}

impl Merge for ServerConfig {
    const HOOK: &'static str = "merge_server_config";
    fn merge(base: &Self, add: &Self) -> Self {
        ServerConfig::merge(base, add)
    }
}

impl Merge for DirConfig {
    const HOOK: &'static str = "merge_dir_config";
    fn merge(base: &Self, add: &Self) -> Self {
        DirConfig::merge(base, add)
    }
}

/// httpd's `merge_server_config` / `merge_dir_config` for record type `T`.
unsafe extern "C" fn merge_config<T: Merge>(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    guard(T::HOOK, ptr::null_mut(), || {
        // SAFETY: httpd passes two records of this hook's kind, made by the
        // matching create_*_config and live in the pool it passes (pconf,
        // or the request pool for .htaccess).
        let (base, add) = unsafe { (&*(base as *const T), &*(add as *const T)) };
        // SAFETY: as above, the pool is live.
        unsafe { Pool::from_raw(p) }.alloc(T::merge(base, add)) as *mut c_void
    })
}

/// `const char * const *` hook ordering lists.
struct ModuleList<const N: usize>([*const c_char; N]);
// SAFETY: pointers to 'static string literals, never written.
unsafe impl<const N: usize> Sync for ModuleList<N> {}

/// WSGIScriptAlias runs after mod_alias (so `Alias /static` beside
/// `WSGIScriptAlias /` still serves files) and before userdir/vhost_alias.
static TRANSLATE_AFTER: ModuleList<2> = ModuleList([c"mod_alias.c".as_ptr(), ptr::null()]);
static TRANSLATE_BEFORE: ModuleList<3> = ModuleList([
    c"mod_userdir.c".as_ptr(),
    c"mod_vhost_alias.c".as_ptr(),
    ptr::null(),
]);

unsafe extern "C" fn register_hooks(p: *mut ffi::apr_pool_t) {
    guard("register_hooks", (), || {
        // Every layer's process-wide log lines go to httpd's error log.
        crate::log::set_process_logger(&super::log::ErrorLog);
        // mod_wsgi.server_metrics() reads httpd's scoreboard through us.
        super::scoreboard::install();
        let middle = ffi::APR_HOOK_MIDDLE as c_int;
        // SAFETY: called by httpd during module registration; the lists are
        // NULL-terminated statics.
        unsafe {
            ffi::ap_hook_post_config(Some(hooks::post_config), ptr::null(), ptr::null(), middle);
            ffi::ap_hook_child_init(Some(hooks::child_init), ptr::null(), ptr::null(), middle);
            ffi::ap_hook_monitor(Some(hooks::monitor), ptr::null(), ptr::null(), middle);
            ffi::ap_hook_translate_name(
                Some(hooks::translate_name),
                TRANSLATE_AFTER.0.as_ptr(),
                TRANSLATE_BEFORE.0.as_ptr(),
                middle,
            );
            ffi::ap_hook_handler(Some(hooks::handler), ptr::null(), ptr::null(), middle);
            super::auth::register(p);
        }
    })
}
