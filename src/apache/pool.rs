//! APR pools: Rust values whose lifetime is a pool's (dropped by a pool
//! cleanup), C strings copied into a pool, and per-process userdata.

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use crate::ffi;

/// A borrowed APR pool.
#[derive(Clone, Copy)]
pub(crate) struct Pool(*mut ffi::apr_pool_t);

unsafe extern "C" fn drop_boxed<T>(data: *mut c_void) -> ffi::apr_status_t {
    // SAFETY: registered by `Pool::alloc::<T>` with a pointer from Box::into_raw,
    // and APR runs each cleanup once.
    drop(unsafe { Box::from_raw(data as *mut T) });
    ffi::APR_SUCCESS as ffi::apr_status_t
}

unsafe extern "C" fn run_closure(data: *mut c_void) -> ffi::apr_status_t {
    // SAFETY: registered by `Pool::on_cleanup` with a double-boxed FnOnce, run once.
    let f = unsafe { Box::from_raw(data as *mut Box<dyn FnOnce()>) };
    super::entry::guard("pool cleanup", (), f);
    ffi::APR_SUCCESS as ffi::apr_status_t
}

impl Pool {
    /// # Safety
    /// `p` must be a live pool for as long as this value is used.
    pub(crate) unsafe fn from_raw(p: *mut ffi::apr_pool_t) -> Pool {
        Pool(p)
    }

    pub(crate) fn as_ptr(self) -> *mut ffi::apr_pool_t {
        self.0
    }

    /// Moves `value` into memory owned by the pool: it is dropped when the
    /// pool is cleared or destroyed (ngx-rust's `Pool::allocate`).
    pub(crate) fn alloc<T: 'static>(self, value: T) -> *mut T {
        let raw = Box::into_raw(Box::new(value));
        // SAFETY: the pool is live; the cleanup frees exactly this allocation.
        unsafe {
            ffi::apr_pool_cleanup_register(
                self.0,
                raw as *const c_void,
                Some(drop_boxed::<T>),
                Some(ffi::apr_pool_cleanup_null),
            )
        };
        raw
    }

    /// Runs `f` when the pool is cleared or destroyed.
    pub(crate) fn on_cleanup(self, f: impl FnOnce() + 'static) {
        let boxed: Box<Box<dyn FnOnce()>> = Box::new(Box::new(f));
        // SAFETY: the pool is live; run_closure consumes exactly this box.
        unsafe {
            ffi::apr_pool_cleanup_register(
                self.0,
                Box::into_raw(boxed) as *const c_void,
                Some(run_closure),
                Some(ffi::apr_pool_cleanup_null),
            )
        };
    }

    /// The value stored under `key` with [`Pool::userdata_or_insert`]: created
    /// on first use, dropped when the pool is cleared or destroyed.
    pub(crate) fn userdata_or_insert<T: 'static>(
        self,
        key: &'static CStr,
        make: impl FnOnce() -> T,
    ) -> *mut T {
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: the pool is live; userdata_get only reads its hash table.
        unsafe { ffi::apr_pool_userdata_get(&mut data, key.as_ptr(), self.0) };
        if !data.is_null() {
            return data as *mut T;
        }
        let raw = self.alloc(make());
        // SAFETY: key is a 'static C string (setn does not copy it); raw lives
        // as long as the pool, which is exactly as long as the userdata.
        unsafe { ffi::apr_pool_userdata_setn(raw as *const c_void, key.as_ptr(), None, self.0) };
        raw
    }

    /// Text stored with [`Pool::set_retained_text`] under `key`.
    pub(crate) fn retained_text(self, key: &CStr) -> Option<String> {
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: the pool is live; userdata_get only reads its hash table.
        unsafe { ffi::apr_pool_userdata_get(&mut data, key.as_ptr(), self.0) };
        // SAFETY: set_retained_text stores a NUL-terminated string that lives
        // until the next call replaces it.
        (!data.is_null()).then(|| unsafe { str_from(data as *const c_char) }.into_owned())
    }

    /// Stores `text` under `key` as plain pool memory, with no cleanup and
    /// no pointer into this module: it outlives the module's unload and
    /// reload on restart (use it on the process pool). The previous text is
    /// freed: each version lives in its own sub-pool, kept under `pool_key`.
    pub(crate) fn set_retained_text(self, key: &CStr, pool_key: &CStr, text: &str) {
        let mut old: *mut c_void = std::ptr::null_mut();
        let mut sub: *mut ffi::apr_pool_t = std::ptr::null_mut();
        // SAFETY: the pool is live; the sub-pool is a child of it (destroyed
        // with it at the latest); `set` copies the keys into the pool, so
        // they do not point into this module; the values are pool memory.
        unsafe {
            ffi::apr_pool_userdata_get(&mut old, pool_key.as_ptr(), self.0);
            if ffi::apr_pool_create_ex(&mut sub, self.0, None, std::ptr::null_mut()) != 0
                || sub.is_null()
            {
                return;
            }
            let c = Pool(sub).strdup(text);
            ffi::apr_pool_userdata_set(c as *const c_void, key.as_ptr(), None, self.0);
            ffi::apr_pool_userdata_set(sub as *const c_void, pool_key.as_ptr(), None, self.0);
            if !old.is_null() {
                ffi::apr_pool_destroy(old as *mut ffi::apr_pool_t);
            }
        }
    }

    /// `path` relative to ServerRoot (an absolute path as it is), a string
    /// in this pool; `""` if httpd finds the path invalid.
    pub(crate) fn server_root_relative(self, path: &str) -> String {
        // SAFETY: the pool is live; httpd returns a pool string or null.
        unsafe { str_from(ffi::ap_server_root_relative(self.0, self.strdup(path))) }.into_owned()
    }

    /// `name` in httpd's DefaultRuntimeDir, a string in this pool; `""` if
    /// httpd finds the path invalid.
    pub(crate) fn runtime_dir_relative(self, name: &CStr) -> String {
        // SAFETY: the pool is live; httpd returns a pool string or null.
        unsafe { str_from(ffi::ap_runtime_dir_relative(self.0, name.as_ptr())) }.into_owned()
    }

    /// Removes the file at `path` when this pool is cleared or destroyed,
    /// even after this module was unloaded (on the process pool: whenever
    /// Apache exits, even when the module's own cleanups are gone because a
    /// restart's configuration failed to load after pconf was cleared). The
    /// cleanup is libc's `unlink`, not code in this module. Child cleanups
    /// (fork+exec) do nothing.
    pub(crate) fn remove_file_at_cleanup(self, path: &str) {
        let c = self.strdup(path);
        let unlink: unsafe extern "C" fn(*const c_char) -> c_int = libc::unlink;
        // SAFETY: `int unlink(const char *)` has the C ABI of an APR cleanup
        // (`apr_status_t (*)(void *)`: one pointer argument, an int result);
        // the address is libc's own (taken through the GOT), valid after
        // this module is unloaded; its argument is a C string in this pool,
        // which outlives the cleanup.
        unsafe {
            let cleanup: unsafe extern "C" fn(*mut c_void) -> ffi::apr_status_t =
                std::mem::transmute(unlink);
            ffi::apr_pool_cleanup_register(
                self.0,
                c as *const c_void,
                Some(cleanup),
                Some(ffi::apr_pool_cleanup_null),
            );
        }
    }

    /// A NUL-terminated copy of `s` in the pool (interior NULs are dropped).
    pub(crate) fn strdup(self, s: &str) -> *mut c_char {
        let c = CString::new(s.replace('\0', "")).unwrap_or_default();
        // SAFETY: the pool is live and `c` is a valid C string.
        unsafe { ffi::apr_pstrdup(self.0, c.as_ptr()) }
    }
}

/// A borrowed C string from httpd as `&str` (lossy only for invalid UTF-8, which
/// httpd strings such as hostnames never are); `""` for null.
///
/// # Safety
/// `p` must be null or point at a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_from<'a>(p: *const c_char) -> std::borrow::Cow<'a, str> {
    if p.is_null() {
        return "".into();
    }
    // SAFETY: guaranteed by the caller.
    String::from_utf8_lossy(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// The raw bytes of a borrowed C string (`b""` for null).
///
/// # Safety
/// As for [`str_from`].
pub(crate) unsafe fn bytes_from<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}
