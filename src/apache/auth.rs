//! The access-control hooks (mod_wsgi's `wsgi_auth.c`, Apache side): the
//! authn provider `wsgi` (`AuthBasicProvider wsgi` / `AuthDigestProvider
//! wsgi`, WSGIAuthUserScript), the authz provider `wsgi-group`
//! (`Require wsgi-group NAME...`, WSGIAuthGroupScript) and the access_checker
//! hook (WSGIAccessScript), registered as mod_wsgi registers them. The
//! scripts themselves run in `crate::python::auth`.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::rc::Rc;

use crate::config::auth::{AuthSettings, script_group};
use crate::config::scripts::GroupScript;
use crate::config::settings::GlobalSettings;
use crate::ffi;
use crate::python::auth::{
    self as py_auth, Access, AuthCall, AuthFacts, AuthHost, GroupDecision, PasswordCheck, RealmHash,
};
use crate::python::child_script::ChildScript;
use crate::status::HttpStatus;

use super::entry::guard;
use super::log::{self, Level};
use super::pool::{bytes_from, str_from};
use super::request::Request;
use super::status::HookStatus;

/// A provider record httpd keeps a pointer to.
#[repr(transparent)]
struct Provider<T>(T);
// SAFETY: built at compile time and never written; httpd only reads it.
unsafe impl<T> Sync for Provider<T> {}

static AUTHN_PROVIDER: Provider<ffi::authn_provider> = Provider(ffi::authn_provider {
    check_password: Some(check_password),
    get_realm_hash: Some(get_realm_hash),
});

static AUTHZ_PROVIDER: Provider<ffi::authz_provider> = Provider(ffi::authz_provider {
    check_authorization: Some(check_authorization),
    parse_require_line: None,
});

/// `const char * const *` hook ordering lists.
struct ModuleList<const N: usize>([*const c_char; N]);
// SAFETY: pointers to 'static string literals, never written.
unsafe impl<const N: usize> Sync for ModuleList<N> {}

/// The access checker runs after mod_ssl's and before mod_authz_host's, as mod_wsgi's.
static ACCESS_AFTER: ModuleList<2> = ModuleList([c"mod_ssl.c".as_ptr(), ptr::null()]);
static ACCESS_BEFORE: ModuleList<2> = ModuleList([c"mod_authz_host.c".as_ptr(), ptr::null()]);

/// Registers the providers and the access checker (from `register_hooks`).
///
/// # Safety
/// `p` must be the pool httpd passes to `register_hooks`.
pub(crate) unsafe fn register(p: *mut ffi::apr_pool_t) {
    // SAFETY: the provider records and ordering lists are statics; httpd
    // copies the names and keeps the provider pointers, which live forever.
    unsafe {
        ffi::ap_register_provider(
            p,
            ffi::AUTHN_PROVIDER_GROUP.as_ptr(),
            c"wsgi".as_ptr(),
            ffi::AUTHN_PROVIDER_VERSION.as_ptr(),
            &AUTHN_PROVIDER.0 as *const ffi::authn_provider as *const c_void,
        );
        ffi::ap_register_provider(
            p,
            ffi::AUTHZ_PROVIDER_GROUP.as_ptr(),
            c"wsgi-group".as_ptr(),
            ffi::AUTHZ_PROVIDER_VERSION.as_ptr(),
            &AUTHZ_PROVIDER.0 as *const ffi::authz_provider as *const c_void,
        );
        ffi::ap_hook_access_checker(
            Some(access_checker),
            ACCESS_AFTER.0.as_ptr(),
            ACCESS_BEFORE.0.as_ptr(),
            ffi::APR_HOOK_MIDDLE as c_int,
        );
    }
}

/// The request as the scripts reach it.
struct Host(Request);

impl AuthHost for Host {
    fn log(&self, level: Level, message: &str) {
        log::request(&self.0, level, message);
    }
    fn log_enabled(&self, level: Level) -> bool {
        log::enabled(&self.0, level)
    }
    fn ssl_is_https(&self) -> bool {
        // SAFETY: the request (and its connection) is live while a script runs
        // for it: python::auth drops every reference when the call returns.
        unsafe { ffi::wsgi_shim_ssl_is_https((*self.0.as_ptr()).connection) != 0 }
    }
    fn ssl_var_lookup(&self, name: &[u8]) -> Option<Vec<u8>> {
        let name = CString::new(name).ok()?;
        // SAFETY: as above; the value is a string in the request pool (or null).
        unsafe {
            let v = ffi::wsgi_shim_ssl_var_lookup(self.0.as_ptr(), name.as_ptr());
            (!v.is_null()).then(|| bytes_from(v).to_vec())
        }
    }
}

fn pid() -> u32 {
    std::process::id()
}

/// The merged per-directory access-control settings of the request.
fn auth_settings(r: &Request) -> Option<&AuthSettings> {
    r.dir_config().map(|d| &d.auth)
}

/// The client's host name, when httpd knows it (HostnameLookups).
fn remote_host(r: &Request) -> Option<Vec<u8>> {
    // SAFETY: live request, connection and per-directory configuration; the
    // result is null or a string in the connection pool.
    unsafe {
        let raw = r.as_ptr();
        let h = ffi::ap_get_remote_host(
            (*raw).connection,
            (*raw).per_dir_config as *mut c_void,
            ffi::REMOTE_HOST,
            ptr::null_mut(),
        );
        (!h.is_null()).then(|| bytes_from(h).to_vec())
    }
}

fn facts(r: &Request) -> AuthFacts {
    let f = r.facts();
    let raw = r.as_ptr();
    // SAFETY: live request; httpd returns strings in the request pool.
    let (server_signature, server_name) = unsafe {
        (
            bytes_from(ffi::ap_psignature(c"".as_ptr(), raw)).to_vec(),
            bytes_from(ffi::ap_escape_html2(
                (*raw).pool,
                ffi::ap_get_server_name(raw),
                0,
            ))
            .to_vec(),
        )
    };
    let some = |v: Vec<u8>| (!v.is_empty()).then_some(v);
    AuthFacts {
        headers: f.headers,
        server_signature,
        server_software: f.server_software,
        server_name,
        server_addr: (!f.server_addr.is_empty()).then_some(f.server_addr),
        server_port: f.server_port,
        remote_host: remote_host(r),
        remote_addr: (!f.remote_addr.is_empty()).then_some(f.remote_addr),
        remote_port: f.remote_port,
        document_root: some(f.document_root),
        server_admin: some(f.server_admin),
        protocol: f.protocol,
        method: f.method,
        query_string: f.query_string,
        request_uri: f.request_uri,
        uri: f.uri,
        path_info: f.path_info,
        apache_version: (
            ffi::AP_SERVER_MAJORVERSION_NUMBER as u32,
            ffi::AP_SERVER_MINORVERSION_NUMBER as u32,
            ffi::AP_SERVER_PATCHLEVEL_NUMBER as u32,
        ),
        // Set by `prepare` under WSGIPassApacheRequest On.
        apache_request: 0,
    }
}

/// A script the Apache child runs for request `r`, in the interpreter its
/// directive names (as mod_wsgi's `wsgi_server_group`: unset or `%{GLOBAL}`
/// is the main interpreter).
pub(super) fn child_script(
    r: &Request,
    script: &GroupScript,
    reloading: bool,
    case_sensitive: bool,
) -> ChildScript {
    let group = script_group(
        script.application_group.as_deref(),
        &r.server_hostname(),
        r.server_port(),
        r.hostname().as_deref(),
    );
    ChildScript::new(&script.path, group, reloading, case_sensitive)
}

/// Everything a script call needs: where the script is, its interpreter,
/// whether it reloads, and the request facts.
fn prepare(r: &Request, script: &GroupScript) -> AuthCall {
    let server = r.server_config();
    let no_global = GlobalSettings::default();
    let global = server.map_or(&no_global, |c| &c.global);
    let server_settings = server.map(|c| c.settings.clone()).unwrap_or_default();
    let settings = match r.dir_config() {
        Some(d) => d.settings.over(&server_settings),
        None => server_settings,
    };
    let reloading = settings.script_reloading.unwrap_or(true);
    let mut facts = facts(r);
    if settings.pass_apache_request.unwrap_or(false) {
        facts.apache_request = r.as_ptr() as usize;
    }
    AuthCall {
        script: child_script(r, script, reloading, global.case_sensitive()),
        facts,
    }
}

/// The request as a script run before the handler reaches it (also the
/// dispatch script's).
pub(super) fn host(r: Request) -> Rc<dyn AuthHost> {
    Rc::new(Host(r))
}

/// The user script of the request, or the error mod_wsgi logs without one.
fn user_script(r: &Request) -> Option<GroupScript> {
    let script = auth_settings(r).and_then(|a| a.auth_user_script.clone());
    if script.is_none() {
        log::request(
            r,
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): Location of WSGI user authentication script not provided.",
                pid()
            ),
        );
    }
    script
}

const AUTH_GENERAL_ERROR: ffi::authn_status = ffi::authn_status_AUTH_GENERAL_ERROR;

unsafe extern "C" fn check_password(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ffi::authn_status {
    guard("check_password", AUTH_GENERAL_ERROR, || {
        // SAFETY: httpd passes the live request being authenticated and the
        // credentials the client sent, as C strings.
        let (r, user, password) =
            unsafe { (Request::from_raw(r), bytes_from(user), bytes_from(password)) };
        let Some(script) = user_script(&r) else {
            return AUTH_GENERAL_ERROR;
        };
        let call = prepare(&r, &script);
        match py_auth::check_password(&call, host(r), user, password) {
            PasswordCheck::Granted => ffi::authn_status_AUTH_GRANTED,
            PasswordCheck::GrantedAs(name) => {
                let copy = r.pool().strdup(&name);
                // SAFETY: a live request; the name is a copy in its pool.
                unsafe { (*r.as_ptr()).user = copy };
                ffi::authn_status_AUTH_GRANTED
            }
            PasswordCheck::Denied => ffi::authn_status_AUTH_DENIED,
            PasswordCheck::UserNotFound => ffi::authn_status_AUTH_USER_NOT_FOUND,
            PasswordCheck::Error => AUTH_GENERAL_ERROR,
        }
    })
}

unsafe extern "C" fn get_realm_hash(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> ffi::authn_status {
    guard("get_realm_hash", AUTH_GENERAL_ERROR, || {
        // SAFETY: httpd passes the live request, the user and realm as C
        // strings, and where to store the hash.
        let (r, user, realm) =
            unsafe { (Request::from_raw(r), bytes_from(user), bytes_from(realm)) };
        let Some(script) = user_script(&r) else {
            return AUTH_GENERAL_ERROR;
        };
        let call = prepare(&r, &script);
        match py_auth::get_realm_hash(&call, host(r), user, realm) {
            RealmHash::Found(hash) => {
                let Ok(hash) = CString::new(hash) else {
                    log::request(
                        &r,
                        Level::Error,
                        &format!(
                            "mod_wsgi (pid={}): The realm hash returned from '{}' contains a NUL character.",
                            pid(),
                            call.script.path
                        ),
                    );
                    return AUTH_GENERAL_ERROR;
                };
                if rethash.is_null() {
                    return AUTH_GENERAL_ERROR;
                }
                // SAFETY: rethash is httpd's out-parameter; the hash is copied
                // into the request pool, which outlives its use.
                unsafe { *rethash = ffi::apr_pstrdup((*r.as_ptr()).pool, hash.as_ptr()) };
                ffi::authn_status_AUTH_USER_FOUND
            }
            RealmHash::UserNotFound => ffi::authn_status_AUTH_USER_NOT_FOUND,
            RealmHash::Error => AUTH_GENERAL_ERROR,
        }
    })
}

unsafe extern "C" fn check_authorization(
    r: *mut ffi::request_rec,
    require_args: *const c_char,
    _parsed: *const c_void,
) -> ffi::authz_status {
    guard(
        "check_authorization",
        ffi::authz_status_AUTHZ_GENERAL_ERROR,
        || {
            // SAFETY: httpd passes the live request and the Require line's arguments.
            let (r, require_args) = unsafe { (Request::from_raw(r), str_from(require_args)) };
            // SAFETY: a live request's user (null before authentication).
            let user = unsafe { (*r.as_ptr()).user };
            if user.is_null() {
                return ffi::authz_status_AUTHZ_DENIED_NO_USER;
            }
            // SAFETY: a C string in the request pool.
            let user = unsafe { bytes_from(user) }.to_vec();
            let Some(script) = auth_settings(&r).and_then(|a| a.auth_group_script.clone()) else {
                log::request(
                    &r,
                    Level::Error,
                    &format!(
                        "mod_wsgi (pid={}): Location of WSGI group authorization script not provided.",
                        pid()
                    ),
                );
                return ffi::authz_status_AUTHZ_DENIED;
            };
            let call = prepare(&r, &script);
            let Some(groups) = py_auth::groups_for_user(&call, host(r), &user) else {
                return ffi::authz_status_AUTHZ_DENIED;
            };
            let why = match py_auth::group_decision(&groups, &require_args) {
                GroupDecision::Granted => return ffi::authz_status_AUTHZ_GRANTED,
                GroupDecision::NoGroups => "User is not a member of any groups.",
                GroupDecision::NotMember => "User is not a member of designated groups.",
            };
            log::request(
                &r,
                Level::Error,
                &format!(
                    "mod_wsgi (pid={}): Authorization of user '{}' to access '{}' failed. {why}",
                    pid(),
                    String::from_utf8_lossy(&user),
                    String::from_utf8_lossy(r.uri())
                ),
            );
            ffi::authz_status_AUTHZ_DENIED
        },
    )
}

unsafe extern "C" fn access_checker(r: *mut ffi::request_rec) -> c_int {
    guard(
        "access_checker",
        HookStatus::Http(HttpStatus::INTERNAL_SERVER_ERROR),
        || {
            // SAFETY: httpd passes the live request being checked.
            let r = unsafe { Request::from_raw(r) };
            let Some(script) = auth_settings(&r).and_then(|a| a.access_script.clone()) else {
                return HookStatus::Declined;
            };
            let client = remote_host(&r).or_else(|| {
                // SAFETY: a live request's client address string.
                let ip = unsafe { bytes_from((*r.as_ptr()).useragent_ip) };
                (!ip.is_empty()).then(|| ip.to_vec())
            });
            let call = prepare(&r, &script);
            match py_auth::allow_access(&call, host(r), client.as_deref()) {
                Access::Decline => HookStatus::Declined,
                Access::Allow => HookStatus::Ok,
                Access::Deny => {
                    // SAFETY: read-only queries of a live request's configuration.
                    let quiet = unsafe {
                        ffi::ap_satisfies(r.as_ptr()) == ffi::SATISFY_ANY
                            && ffi::ap_some_auth_required(r.as_ptr()) != 0
                    };
                    if !quiet {
                        log::request(
                            &r,
                            Level::Error,
                            &format!(
                                "mod_wsgi (pid={}): Client denied by server configuration: '{}'.",
                                pid(),
                                r.filename()
                            ),
                        );
                    }
                    HttpStatus::FORBIDDEN.into()
                }
            }
        },
    )
    .raw()
}
