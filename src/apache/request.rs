//! A safe view of httpd's `request_rec` for the handler and translate_name.

use std::ffi::{CStr, c_char};

use crate::config::{DirConfig, ServerConfig};
use crate::ffi;
use crate::python::environ::RequestFacts;
use crate::status::HttpStatus;

use super::module::{config_slot, server_config};
use super::pool::{Pool, bytes_from, str_from};
use super::server::Server;
use super::status::http_status;

/// A borrowed request, valid for the duration of a hook call.
#[derive(Clone, Copy)]
pub(crate) struct Request(*mut ffi::request_rec);

impl Request {
    /// # Safety
    /// `r` must be a live request for as long as this value is used, on the
    /// thread httpd is processing it on.
    pub(crate) unsafe fn from_raw(r: *mut ffi::request_rec) -> Request {
        Request(r)
    }

    pub(crate) fn as_ptr(self) -> *mut ffi::request_rec {
        self.0
    }

    fn r(&self) -> &ffi::request_rec {
        // SAFETY: live for the hook call (from_raw's contract).
        unsafe { &*self.0 }
    }

    pub(crate) fn pool(self) -> Pool {
        // SAFETY: the request pool lives as long as the request.
        unsafe { Pool::from_raw(self.r().pool) }
    }

    pub(crate) fn uri(&self) -> &[u8] {
        // SAFETY: httpd strings of a live request.
        unsafe { bytes_from(self.r().uri) }
    }

    pub(crate) fn handler(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { bytes_from(self.r().handler) }
    }

    pub(crate) fn filename(&self) -> String {
        // SAFETY: as above.
        unsafe { str_from(self.r().filename) }.into_owned()
    }

    pub(crate) fn path_info(&self) -> &[u8] {
        // SAFETY: as above.
        unsafe { bytes_from(self.r().path_info) }
    }

    pub(crate) fn header_only(&self) -> bool {
        self.r().header_only != 0
    }

    pub(crate) fn finfo(&self) -> &ffi::apr_finfo_t {
        &self.r().finfo
    }

    pub(crate) fn rejects_path_info(&self) -> bool {
        self.r().used_path_info == ffi::AP_REQ_REJECT_PATH_INFO
    }

    pub(crate) fn server(&self) -> *mut ffi::server_rec {
        self.r().server
    }

    pub(crate) fn server_config(&self) -> Option<&ServerConfig> {
        // SAFETY: the request's server_rec is live and configured.
        server_config(unsafe { Server::from_raw(self.r().server) })
    }

    pub(crate) fn dir_config(&self) -> Option<&DirConfig> {
        // SAFETY: the per-dir vector is live; our slot holds a DirConfig.
        unsafe { (config_slot(self.r().per_dir_config) as *const DirConfig).as_ref() }
    }

    pub(crate) fn set_filename(self, name: &[u8]) {
        let s = String::from_utf8_lossy(name);
        // Paths that are not UTF-8 are kept byte-exact.
        let p = if std::str::from_utf8(name).is_ok() {
            self.pool().strdup(&s)
        } else {
            self.pool_bytes(name)
        };
        // SAFETY: the pool string lives as long as the request.
        unsafe { (*self.0).filename = p };
    }

    fn pool_bytes(self, b: &[u8]) -> *mut c_char {
        let c = std::ffi::CString::new(b.iter().copied().filter(|&x| x != 0).collect::<Vec<_>>())
            .unwrap_or_default();
        // SAFETY: pool is live; c is a valid C string.
        unsafe { ffi::apr_pstrdup(self.r().pool, c.as_ptr()) }
    }

    pub(crate) fn set_handler(self, name: &'static CStr) {
        // SAFETY: a static string outlives the request.
        unsafe { (*self.0).handler = name.as_ptr() };
    }

    pub(crate) fn note(&self, key: &CStr) -> Option<String> {
        // SAFETY: notes is a live table of the request.
        let v = unsafe { ffi::apr_table_get(self.r().notes, key.as_ptr()) };
        // SAFETY: a non-null table value is a NUL-terminated pool string.
        (!v.is_null()).then(|| unsafe { str_from(v) }.into_owned())
    }

    pub(crate) fn set_note(self, key: &'static CStr, value: &str) {
        let v = self.pool().strdup(value);
        // SAFETY: static key, pool value; setn stores them without copying.
        unsafe { ffi::apr_table_setn(self.r().notes, key.as_ptr(), v) };
    }

    /// `%{ENV:name}` lookup order: notes, subprocess_env, process environment.
    pub(crate) fn env_lookup(&self, name: &str) -> Option<String> {
        let key = std::ffi::CString::new(name).ok()?;
        for table in [self.r().notes, self.r().subprocess_env] {
            // SAFETY: live request tables.
            let v = unsafe { ffi::apr_table_get(table, key.as_ptr()) };
            if !v.is_null() {
                // SAFETY: table values are C strings in the request pool.
                return Some(unsafe { str_from(v) }.into_owned());
            }
        }
        std::env::var(name).ok()
    }

    pub(crate) fn server_hostname(&self) -> String {
        // SAFETY: live server_rec.
        unsafe { str_from((*self.r().server).server_hostname) }.into_owned()
    }

    pub(crate) fn server_port(&self) -> u16 {
        // SAFETY: live request.
        unsafe { ffi::ap_get_server_port(self.0) }
    }

    pub(crate) fn hostname(&self) -> Option<String> {
        let h = self.r().hostname;
        // SAFETY: live request string.
        (!h.is_null()).then(|| unsafe { str_from(h) }.into_owned())
    }

    /// The request's log id (`%L`), generated now if httpd has not yet (it
    /// does so lazily, only for log formats that use it), as mod_wsgi does.
    pub(crate) fn log_id(&self) -> String {
        // SAFETY: live request; the generate_log_id hook stores a pool string
        // in the request's own log_id field.
        unsafe {
            if self.r().log_id.is_null() {
                let c = self.r().connection;
                ffi::ap_run_generate_log_id(c, self.0, &mut (*self.0).log_id);
            }
            str_from(self.r().log_id).into_owned()
        }
    }

    /// The connection's log id, generated now if needed (see [`Self::log_id`]).
    pub(crate) fn connection_log_id(&self) -> String {
        // SAFETY: live connection; as above, for the connection's log_id.
        unsafe {
            let c = self.r().connection;
            if (*c).log_id.is_null() {
                ffi::ap_run_generate_log_id(c, std::ptr::null(), &mut (*c).log_id);
            }
            str_from((*c).log_id).into_owned()
        }
    }

    pub(crate) fn request_time(&self) -> f64 {
        self.r().request_time as f64 / 1_000_000.0
    }

    pub(crate) fn local_port(&self) -> u16 {
        // SAFETY: live connection and its local address.
        unsafe {
            let a = (*self.r().connection).local_addr;
            if a.is_null() { 0 } else { (*a).port }
        }
    }

    pub(crate) fn local_ip(&self) -> String {
        // SAFETY: live connection string.
        unsafe { str_from((*self.r().connection).local_ip) }.into_owned()
    }

    /// Whether `Options ExecCGI` is on for the request's directory.
    pub(crate) fn allows_exec_cgi(&self) -> bool {
        // SAFETY: live request.
        unsafe { ffi::ap_allow_options(self.0) & ffi::OPT_EXECCGI != 0 }
    }

    /// `ap_setup_client_block`: body framing checks (411, 413, 400, 501; a
    /// return that is no status, which httpd never makes, would be a 500).
    pub(crate) fn setup_body(&self, allow_chunked: bool) -> Result<(), HttpStatus> {
        let policy = if allow_chunked {
            ffi::REQUEST_CHUNKED_DECHUNK
        } else {
            ffi::REQUEST_CHUNKED_ERROR
        };
        // SAFETY: live request, called once before reading the body.
        match unsafe { ffi::ap_setup_client_block(self.0, policy) } {
            0 => Ok(()),
            status => Err(http_status(status).unwrap_or(HttpStatus::INTERNAL_SERVER_ERROR)),
        }
    }

    /// Whether a content filter (e.g. mod_deflate) runs before the protocol
    /// filters: mod_wsgi's WSGIMapHEADToGET Auto then maps HEAD to GET.
    pub(crate) fn has_content_filters(&self) -> bool {
        let f = self.r().output_filters;
        // SAFETY: the filter chain and its records are live for the request.
        unsafe {
            !f.is_null()
                && !(*f).frec.is_null()
                && (*(*f).frec).ftype < ffi::ap_filter_type_AP_FTYPE_PROTOCOL
        }
    }

    /// Copies what the environ needs out of the request.
    pub(crate) fn facts(&self) -> RequestFacts {
        let r = self.r();
        // SAFETY: every pointer read here belongs to the live request, its
        // connection or its server; the table arrays are read as APR lays them out.
        unsafe {
            let c = &*r.connection;
            let s = &*r.server;
            RequestFacts {
                method: str_from(r.method).into_owned(),
                protocol: str_from(r.protocol).into_owned(),
                request_uri: request_target(bytes_from(r.the_request), bytes_from(r.unparsed_uri)),
                uri: bytes_from(r.uri).to_vec(),
                path_info: bytes_from(r.path_info).to_vec(),
                query_string: bytes_from(r.args).to_vec(),
                headers: table_entries(r.headers_in),
                env: table_entries(r.subprocess_env),
                server_software: str_from(ffi::ap_get_server_banner()).into_owned(),
                server_name: bytes_from(ffi::ap_get_server_name_for_url(self.0)).to_vec(),
                server_addr: str_from(c.local_ip).into_owned(),
                server_port: ffi::ap_get_server_port(self.0),
                server_admin: bytes_from(s.server_admin).to_vec(),
                remote_addr: str_from(r.useragent_ip).into_owned(),
                remote_port: if c.client_addr.is_null() {
                    0
                } else {
                    (*c.client_addr).port
                },
                document_root: bytes_from(ffi::ap_document_root(self.0)).to_vec(),
                context_prefix: bytes_from(ffi::ap_context_prefix(self.0)).to_vec(),
                context_document_root: bytes_from(ffi::ap_context_document_root(self.0)).to_vec(),
                scheme: str_from(ffi::ap_run_http_scheme(self.0)).into_owned(),
                script_filename: bytes_from(r.filename).to_vec(),
                remote_user: (!r.user.is_null()).then(|| bytes_from(r.user).to_vec()),
                auth_type: (!r.ap_auth_type.is_null()).then(|| bytes_from(r.ap_auth_type).to_vec()),
                redirect_url: r
                    .prev
                    .as_ref()
                    .and_then(|p| (!p.uri.is_null()).then(|| bytes_from(p.uri).to_vec())),
                redirect_query_string: r
                    .prev
                    .as_ref()
                    .and_then(|p| (!p.args.is_null()).then(|| bytes_from(p.args).to_vec())),
                redirect_remote_user: redirect_user(r),
                cgi_pass_auth: {
                    let core = ffi::ap_get_core_module_config(r.per_dir_config)
                        as *const ffi::core_dir_config;
                    core.as_ref()
                        .is_some_and(|c| c.cgi_pass_auth() == CGI_PASS_AUTH_ON)
                },
            }
        }
    }
}

/// `AP_CGI_PASS_AUTH_ON` (a macro in http_core.h).
const CGI_PASS_AUTH_ON: u32 = 1;

/// REDIRECT_REMOTE_USER: with no user on this request, the first one found
/// walking back an internal redirect chain.
///
/// # Safety
/// `r` must be a live request (its `prev` chain is then live too).
unsafe fn redirect_user(r: &ffi::request_rec) -> Option<Vec<u8>> {
    if !r.user.is_null() {
        return None;
    }
    let mut back = r.prev;
    // SAFETY: each `prev` is a live earlier request of the same connection.
    while let Some(p) = unsafe { back.as_ref() } {
        if !p.user.is_null() {
            // SAFETY: a live request's user string.
            return Some(unsafe { bytes_from(p.user) }.to_vec());
        }
        back = p.prev;
    }
    None
}

/// REQUEST_URI: the target from the original request line (as httpd's
/// `original_uri`), falling back to the unparsed URI.
fn request_target(the_request: &[u8], unparsed: &[u8]) -> Vec<u8> {
    let mut parts = the_request.split(|&b| b == b' ').filter(|p| !p.is_empty());
    match (parts.next(), parts.next()) {
        (Some(_method), Some(target)) => target.to_vec(),
        _ => unparsed.to_vec(),
    }
}

/// The entries of an APR table, in order.
///
/// # Safety
/// `t` must be a live apr_table_t (whose layout starts with its entry array,
/// as APR's `apr_table_elts` macro relies on) or null.
unsafe fn table_entries(t: *const ffi::apr_table_t) -> Vec<(Vec<u8>, Vec<u8>)> {
    if t.is_null() {
        return Vec::new();
    }
    // SAFETY: see the function's contract.
    unsafe {
        let arr = &*(t as *const ffi::apr_array_header_t);
        let entries = std::slice::from_raw_parts(
            arr.elts as *const ffi::apr_table_entry_t,
            arr.nelts.max(0) as usize,
        );
        entries
            .iter()
            .filter(|e| !e.key.is_null())
            .map(|e| (bytes_from(e.key).to_vec(), bytes_from(e.val).to_vec()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::request_target;

    #[test]
    fn request_uri_comes_from_the_request_line() {
        assert_eq!(
            request_target(b"GET /a%20b?x=1 HTTP/1.1", b"/other"),
            b"/a%20b?x=1"
        );
        assert_eq!(request_target(b"", b"/fallback"), b"/fallback");
    }
}
