//! WSGIScriptAliasMatch patterns compiled with httpd's own regex engine (PCRE),
//! so patterns behave exactly as in mod_alias and mod_wsgi.

use std::ffi::CString;
use std::sync::Arc;

use crate::config::script_alias::UriRegex;
use crate::ffi;

use super::pool::Pool;

struct PoolRegex(*mut ffi::ap_regex_t);

// SAFETY: a compiled PCRE pattern is immutable; ap_regexec allocates its match
// data per call, so concurrent matching from worker threads is safe.
unsafe impl Send for PoolRegex {}
// SAFETY: as above.
unsafe impl Sync for PoolRegex {}

impl UriRegex for PoolRegex {
    fn captures(&self, text: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
        let text = CString::new(text).ok()?;
        let mut m = [ffi::ap_regmatch_t {
            rm_so: -1,
            rm_eo: -1,
        }; ffi::AP_MAX_REG_MATCH as usize];
        // SAFETY: the regex lives as long as the configuration pool, which
        // outlives every request; `m` has room for AP_MAX_REG_MATCH entries.
        let rc = unsafe { ffi::ap_regexec(self.0, text.as_ptr(), m.len(), m.as_mut_ptr(), 0) };
        (rc == 0).then(|| {
            m.iter()
                .map(|g| {
                    (g.rm_so >= 0 && g.rm_eo >= g.rm_so)
                        .then_some((g.rm_so as usize, g.rm_eo as usize))
                })
                .collect()
        })
    }
}

/// Compiles `pattern` into `pool` (freed with it).
pub(crate) fn compile(pool: Pool, pattern: &str) -> Result<Arc<dyn UriRegex>, String> {
    let c = CString::new(pattern).map_err(|_| "pattern contains a NUL byte".to_string())?;
    // SAFETY: the pool is live; ap_pregcomp registers the regex's cleanup on it.
    let re = unsafe { ffi::ap_pregcomp(pool.as_ptr(), c.as_ptr(), ffi::AP_REG_EXTENDED) };
    if re.is_null() {
        return Err("httpd's regex engine rejected it".to_string());
    }
    Ok(Arc::new(PoolRegex(re)))
}
