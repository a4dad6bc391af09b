//! The access-control scripts (mod_wsgi's `wsgi_auth.c`): `check_password`
//! and `get_realm_hash` (WSGIAuthUserScript, the `wsgi` authn provider),
//! `groups_for_user` (WSGIAuthGroupScript, `Require wsgi-group`) and
//! `allow_access` (WSGIAccessScript). Each runs in the interpreter its
//! directive names, always in the Apache child, with a cut-down environ;
//! results are mapped exactly as mod_wsgi maps them.
//!
//! The Apache layer supplies the request through [`AuthHost`]; nothing here
//! touches httpd's structures.

use std::rc::Rc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyCFunction, PyDict, PyModule, PyString, PyTuple};

use crate::config::words::split_words;
use crate::log::Level;

use super::child_script::{
    self, ChildScript, NotRun, close_errors, load_script, log_exception, with_host,
};
use super::environ::{Decode, cgi_header_name, find_path_info};
use super::interpreters;
use super::module::MOD_WSGI_VERSION;
use super::text::{environ_value, latin1, to_latin1};

/// What the auth environ is built from, copied out of the request.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuthFacts {
    /// Request headers in arrival order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `ap_psignature("", r)` (empty with `ServerSignature Off`).
    pub server_signature: Vec<u8>,
    pub server_software: String,
    /// `ap_get_server_name`, HTML-escaped as mod_wsgi does.
    pub server_name: Vec<u8>,
    pub server_addr: Option<String>,
    pub server_port: u16,
    /// Only when httpd knows the client's host name (HostnameLookups).
    pub remote_host: Option<Vec<u8>>,
    pub remote_addr: Option<String>,
    pub remote_port: u16,
    pub document_root: Option<Vec<u8>>,
    pub server_admin: Option<Vec<u8>>,
    pub protocol: String,
    pub method: String,
    pub query_string: Vec<u8>,
    /// The target of the request line.
    pub request_uri: Vec<u8>,
    /// `r->uri` and `r->path_info` (split into SCRIPT_NAME / PATH_INFO).
    pub uri: Vec<u8>,
    pub path_info: Vec<u8>,
    pub apache_version: (u32, u32, u32),
    /// WSGIPassApacheRequest On: the `request_rec`'s address, given to the
    /// script as `apache.request_rec` (an unnamed capsule); 0 otherwise.
    pub apache_request: usize,
}

/// One call of an access-control script.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuthCall {
    pub script: ChildScript,
    pub facts: AuthFacts,
}

/// The request, as the script may reach it while it runs (an access-control
/// script; a dispatch script only logs through it).
pub(crate) trait AuthHost {
    /// Writes to the error log against the request.
    fn log(&self, level: Level, message: &str);
    fn log_enabled(&self, level: Level) -> bool;
    /// `mod_ssl.is_https()`: whether the connection is TLS (false without mod_ssl).
    fn ssl_is_https(&self) -> bool;
    /// `mod_ssl.var_lookup(name)`: a mod_ssl variable such as `SSL_CLIENT_S_DN`.
    fn ssl_var_lookup(&self, name: &[u8]) -> Option<Vec<u8>>;
}

/// The auth environ's CGI part, as `Auth_environ` builds it. Headers come
/// first (later duplicates win); `Authorization` and `Proxy-Authorization` are
/// never exposed; SetEnv values are not included (an `.htaccess` could
/// otherwise steer the script).
pub(crate) fn environ_vars(f: &AuthFacts) -> Vec<(String, Vec<u8>, Decode)> {
    let mut vars: Vec<(String, Vec<u8>, Decode)> = Vec::new();
    let mut set = |key: &str, value: &[u8], decode: Decode| {
        if let Some(slot) = vars.iter_mut().find(|(k, _, _)| k == key) {
            slot.1 = value.to_vec();
            slot.2 = decode;
        } else {
            vars.push((key.to_string(), value.to_vec(), decode));
        }
    };
    for (name, value) in &f.headers {
        let Some(key) = cgi_header_name(name) else {
            continue;
        };
        match key.as_str() {
            "CONTENT_TYPE" | "CONTENT_LENGTH" => set(&key, value, Decode::Latin1),
            "AUTHORIZATION" | "PROXY_AUTHORIZATION" => {}
            // httpoxy, as for the application's environ.
            "PROXY" => {}
            _ => set(&format!("HTTP_{key}"), value, Decode::Latin1),
        }
    }
    let l = Decode::Latin1;
    set("SERVER_SIGNATURE", &f.server_signature, l);
    set("SERVER_SOFTWARE", f.server_software.as_bytes(), l);
    set("SERVER_NAME", &f.server_name, l);
    if let Some(a) = &f.server_addr {
        set("SERVER_ADDR", a.as_bytes(), l);
    }
    set("SERVER_PORT", f.server_port.to_string().as_bytes(), l);
    if let Some(h) = &f.remote_host {
        set("REMOTE_HOST", h, l);
    }
    if let Some(a) = &f.remote_addr {
        set("REMOTE_ADDR", a.as_bytes(), l);
    }
    if let Some(d) = &f.document_root {
        set("DOCUMENT_ROOT", d, Decode::FsPath);
    }
    if let Some(a) = &f.server_admin {
        set("SERVER_ADMIN", a, l);
    }
    set("REMOTE_PORT", f.remote_port.to_string().as_bytes(), l);
    set("SERVER_PROTOCOL", f.protocol.as_bytes(), l);
    set("REQUEST_METHOD", f.method.as_bytes(), l);
    set("QUERY_STRING", &f.query_string, l);
    set("REQUEST_URI", &f.request_uri, l);
    // SCRIPT_NAME / PATH_INFO: the whole URI unless the directory walk split
    // off a PATH_INFO (SSI includes keep r->uri whole).
    let (script_name, path_info) = if f.protocol == "INCLUDED" || f.path_info.is_empty() {
        (f.uri.as_slice(), f.path_info.as_slice())
    } else {
        let at = find_path_info(&f.uri, &f.path_info).min(f.uri.len());
        (&f.uri[..at], f.path_info.as_slice())
    };
    set("SCRIPT_NAME", script_name, l);
    set("PATH_INFO", path_info, l);
    vars
}

/// `check_password(environ, user, password)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PasswordCheck {
    /// `True`.
    Granted,
    /// A (non-empty) string: granted, and the request's user becomes it.
    GrantedAs(String),
    /// `False`.
    Denied,
    /// `None`: no such user.
    UserNotFound,
    /// An exception, a missing function or a wrong result type (logged): 500.
    Error,
}

/// `get_realm_hash(environ, user, realm)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RealmHash {
    /// The hex MD5 of `user:realm:password`.
    Found(Vec<u8>),
    UserNotFound,
    Error,
}

/// `allow_access(environ, host)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// `True`: access allowed by this check (OK).
    Allow,
    /// `False`, a wrong result type or an exception: 403.
    Deny,
    /// `None`: no opinion (DECLINED).
    Decline,
}

/// How `Require wsgi-group NAME...` ends for the groups the script returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupDecision {
    Granted,
    /// Denied: the user is in no group at all.
    NoGroups,
    /// Denied: none of the user's groups is required.
    NotMember,
}

/// Matches the user's groups against the words of the `Require wsgi-group` line.
pub(crate) fn group_decision(groups: &[Vec<u8>], require_args: &str) -> GroupDecision {
    if groups.is_empty() {
        return GroupDecision::NoGroups;
    }
    let wanted = split_words(require_args);
    if wanted
        .iter()
        .any(|w| groups.iter().any(|g| g.as_slice() == w.as_bytes()))
    {
        GroupDecision::Granted
    } else {
        GroupDecision::NotMember
    }
}

pub(crate) fn check_password(
    call: &AuthCall,
    host: Rc<dyn AuthHost>,
    user: &[u8],
    password: &[u8],
) -> PasswordCheck {
    let missing = "user authentication script '{}' does not provide 'Basic' auth provider";
    run(
        call,
        host,
        "check_password",
        missing,
        PasswordCheck::Error,
        |py, f, env| {
            let result = f.call1((env, latin1(py, user), latin1(py, password)))?;
            if result.is_none() {
                return Ok(PasswordCheck::UserNotFound);
            }
            if let Ok(b) = result.cast::<PyBool>() {
                return Ok(if b.is_true() {
                    PasswordCheck::Granted
                } else {
                    PasswordCheck::Denied
                });
            }
            if let Ok(s) = result.cast::<PyString>() {
                let name = s.to_str()?;
                if !name.is_empty() {
                    return Ok(PasswordCheck::GrantedAs(name.to_string()));
                }
            }
            Err(PyTypeError::new_err(
                "Basic auth provider must return True, False, None or a non-empty user name as string",
            ))
        },
    )
}

pub(crate) fn get_realm_hash(
    call: &AuthCall,
    host: Rc<dyn AuthHost>,
    user: &[u8],
    realm: &[u8],
) -> RealmHash {
    let missing = "user authentication script '{}' does not provide 'Digest' auth provider";
    run(
        call,
        host,
        "get_realm_hash",
        missing,
        RealmHash::Error,
        |py, f, env| {
            let result = f.call1((env, latin1(py, user), latin1(py, realm)))?;
            if result.is_none() {
                return Ok(RealmHash::UserNotFound);
            }
            if let Ok(b) = result.cast::<PyBytes>() {
                return Ok(RealmHash::Found(b.as_bytes().to_vec()));
            }
            if let Ok(s) = result.cast::<PyString>() {
                return match to_latin1(s) {
                    Some(b) => Ok(RealmHash::Found(b)),
                    None => Err(PyTypeError::new_err(
                        "Digest auth provider must return None or string object, value containing non 'latin-1' characters found",
                    )),
                };
            }
            Err(PyTypeError::new_err(
                "Digest auth provider must return None or string object",
            ))
        },
    )
}

/// `groups_for_user(environ, user)`: the group names, or `None` after a
/// failure (logged), which denies.
pub(crate) fn groups_for_user(
    call: &AuthCall,
    host: Rc<dyn AuthHost>,
    user: &[u8],
) -> Option<Vec<Vec<u8>>> {
    let missing = "group authentication script '{}' does not provide group provider";
    let log = host.clone();
    let script = call.script.path.clone();
    let not_strings = move |detail: &str| {
        log.log(
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): Groups for user returned from '{script}' must be an iterable sequence of byte strings{detail}.",
                std::process::id()
            ),
        );
        None
    };
    run(
        call,
        host,
        "groups_for_user",
        missing,
        None,
        |py, f, env| {
            let result = f.call1((env, latin1(py, user)))?;
            let Ok(items) = result.try_iter() else {
                return Ok(not_strings(""));
            };
            let mut groups = Vec::new();
            for item in items {
                let item = item?;
                if let Ok(b) = item.cast::<PyBytes>() {
                    groups.push(b.as_bytes().to_vec());
                } else if let Ok(s) = item.cast::<PyString>() {
                    match to_latin1(s) {
                        Some(b) => groups.push(b),
                        None => {
                            return Ok(not_strings(
                                ", value containing non 'latin-1' characters found",
                            ));
                        }
                    }
                } else {
                    return Ok(not_strings(""));
                }
            }
            Ok(Some(groups))
        },
    )
}

/// `allow_access(environ, host)`; `host` is the client's host name, or its
/// address when httpd has no name for it.
pub(crate) fn allow_access(
    call: &AuthCall,
    host: Rc<dyn AuthHost>,
    client: Option<&[u8]>,
) -> Access {
    let missing = "host access script '{}' does not provide host validator";
    let log = host.clone();
    let script = call.script.path.clone();
    run(
        call,
        host,
        "allow_access",
        missing,
        Access::Deny,
        |py, f, env| {
            let client = client.map(|c| latin1(py, c));
            let result = f.call1((env, client))?;
            if result.is_none() {
                return Ok(Access::Decline);
            }
            if let Ok(b) = result.cast::<PyBool>() {
                return Ok(if b.is_true() {
                    Access::Allow
                } else {
                    Access::Deny
                });
            }
            log.log(
            Level::Error,
            &format!(
                "mod_wsgi (pid={}): Indicator of host accessibility returned from '{script}' must be a boolean or None.",
                std::process::id()
            ),
        );
            Ok(Access::Deny)
        },
    )
}

fn ssl_functions<'py>(
    py: Python<'py>,
    handle: u64,
) -> PyResult<(Bound<'py, PyCFunction>, Bound<'py, PyCFunction>)> {
    let is_https = super::closure::new(
        py,
        c"ssl_is_https",
        move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<i64> {
            if !args.is_empty() {
                return Err(PyTypeError::new_err("ssl_is_https() takes no arguments"));
            }
            with_host(handle, |h| i64::from(h.ssl_is_https()))
        },
    )?;
    let var_lookup = super::closure::new(
        py,
        c"ssl_var_lookup",
        move |args: &Bound<'_, PyTuple>,
              _kwargs: Option<&Bound<'_, PyDict>>|
              -> PyResult<Option<Py<PyString>>> {
            if args.len() != 1 {
                return Err(PyTypeError::new_err(
                    "ssl_var_lookup() takes exactly one argument",
                ));
            }
            let item = args.get_item(0)?;
            let name = if let Ok(s) = item.cast::<PyString>() {
                to_latin1(s).ok_or_else(|| {
                    PyTypeError::new_err(
                        "byte string value expected, value containing non 'latin-1' characters found",
                    )
                })?
            } else if let Ok(b) = item.cast::<PyBytes>() {
                b.as_bytes().to_vec()
            } else {
                let type_name = item
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                return Err(PyTypeError::new_err(format!(
                    "byte string value expected, value of type {type_name} found"
                )));
            };
            let value = with_host(handle, |h| h.ssl_var_lookup(&name))?;
            let py = args.py();
            Ok(value.map(|v| latin1(py, &v).unbind()))
        },
    )?;
    Ok((is_https, var_lookup))
}

fn build_environ<'py>(
    py: Python<'py>,
    m: &Bound<'py, PyModule>,
    call: &AuthCall,
    handle: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    for (k, v, d) in environ_vars(&call.facts) {
        env.set_item(k, environ_value(py, &v, d))?;
    }
    env.set_item("apache.version", call.facts.apache_version)?;
    env.set_item("mod_wsgi.version", MOD_WSGI_VERSION)?;
    env.set_item("mod_wsgi.process_group", "")?;
    env.set_item("mod_wsgi.application_group", &call.script.application_group)?;
    env.set_item(
        "mod_wsgi.script_reloading",
        i64::from(call.script.reloading),
    )?;
    env.set_item("wsgi.errors", m.getattr("ErrorLog")?.call1((handle,))?)?;
    interpreters::set_request_rec(&env, call.facts.apache_request)?;
    let (is_https, var_lookup) = ssl_functions(py, handle)?;
    env.set_item("mod_ssl.is_https", is_https)?;
    env.set_item("mod_ssl.var_lookup", var_lookup)?;
    Ok(env)
}

/// Loads the script into its interpreter (reloading it when changed and
/// reloading is on), then calls `function` with the auth environ through
/// `invoke`. Every failure is logged against the request and gives `error`.
fn run<R>(
    call: &AuthCall,
    host: Rc<dyn AuthHost>,
    function: &str,
    missing: &str,
    error: R,
    invoke: impl FnOnce(Python<'_>, &Bound<'_, PyAny>, &Bound<'_, PyDict>) -> PyResult<R>,
) -> R {
    let pid = std::process::id();
    let outcome = child_script::run(&call.script.application_group, &host, |py, m, handle| {
        let script = load_script(py, m, host.as_ref(), &call.script)?;
        let Ok(f) = script.getattr(function) else {
            host.log(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={pid}): Target WSGI {}.",
                    missing.replace("{}", &call.script.path)
                ),
            );
            return None;
        };
        let environ = match build_environ(py, m, call, handle) {
            Ok(e) => e,
            Err(e) => {
                log_exception(py, host.as_ref(), &call.script.path, &e);
                return None;
            }
        };
        let result = invoke(py, &f, &environ);
        let result = match result {
            Ok(r) => Some(r),
            Err(e) => {
                log_exception(py, host.as_ref(), &call.script.path, &e);
                None
            }
        };
        close_errors(py, host.as_ref(), &call.script.path, &environ);
        result
    });
    match outcome {
        Ok(Some(r)) => r,
        Ok(None) => error,
        Err(NotRun::NoInterpreter(e)) => {
            host.log(
                Level::Error,
                &format!(
                    "mod_wsgi (pid={pid}): Cannot acquire interpreter '{}': {e}",
                    call.script.application_group
                ),
            );
            error
        }
        Err(NotRun::Crashed(panic)) => {
            host.log(
                Level::Crit,
                &format!(
                    "mod_wsgi (pid={pid}): internal error running '{}': {panic}",
                    call.script.path
                ),
            );
            error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> AuthFacts {
        AuthFacts {
            headers: vec![
                (b"Host".to_vec(), b"localhost:8080".to_vec()),
                (
                    b"Authorization".to_vec(),
                    b"Basic c3B5OnNlY3JldA==".to_vec(),
                ),
                (b"Proxy-Authorization".to_vec(), b"Basic eA==".to_vec()),
                (b"Content-Type".to_vec(), b"text/plain".to_vec()),
                (b"X_Forwarded_For".to_vec(), b"spoof".to_vec()),
                (b"Proxy".to_vec(), b"http://evil/".to_vec()),
                (b"X-Dup".to_vec(), b"1".to_vec()),
                (b"X-Dup".to_vec(), b"2".to_vec()),
            ],
            server_software: "Apache".into(),
            server_name: b"localhost".to_vec(),
            server_port: 8080,
            remote_addr: Some("127.0.0.1".into()),
            remote_port: 40000,
            protocol: "HTTP/1.1".into(),
            method: "GET".into(),
            request_uri: b"/secret/page?x=1".to_vec(),
            uri: b"/secret/page".to_vec(),
            query_string: b"x=1".to_vec(),
            ..Default::default()
        }
    }

    fn get<'a>(vars: &'a [(String, Vec<u8>, Decode)], key: &str) -> Option<&'a [u8]> {
        vars.iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_slice())
    }

    #[test]
    fn environ_hides_credentials_and_keeps_request_facts() {
        let v = environ_vars(&facts());
        assert_eq!(get(&v, "HTTP_HOST"), Some(&b"localhost:8080"[..]));
        assert_eq!(get(&v, "HTTP_AUTHORIZATION"), None);
        assert_eq!(get(&v, "HTTP_PROXY_AUTHORIZATION"), None);
        assert_eq!(get(&v, "HTTP_PROXY"), None);
        assert_eq!(get(&v, "HTTP_X_FORWARDED_FOR"), None);
        assert_eq!(get(&v, "CONTENT_TYPE"), Some(&b"text/plain"[..]));
        assert_eq!(get(&v, "HTTP_X_DUP"), Some(&b"2"[..]));
        assert_eq!(get(&v, "REQUEST_URI"), Some(&b"/secret/page?x=1"[..]));
        assert_eq!(get(&v, "QUERY_STRING"), Some(&b"x=1"[..]));
        assert_eq!(get(&v, "SCRIPT_NAME"), Some(&b"/secret/page"[..]));
        assert_eq!(get(&v, "PATH_INFO"), Some(&b""[..]));
        assert_eq!(get(&v, "REMOTE_ADDR"), Some(&b"127.0.0.1"[..]));
        assert_eq!(get(&v, "REMOTE_PORT"), Some(&b"40000"[..]));
        assert_eq!(get(&v, "SERVER_PORT"), Some(&b"8080"[..]));
        assert_eq!(get(&v, "REMOTE_HOST"), None);
        assert_eq!(get(&v, "REMOTE_USER"), None);
        assert_eq!(v.iter().filter(|(k, _, _)| k == "HTTP_X_DUP").count(), 1);
    }

    #[test]
    fn path_info_is_split_off_the_uri() {
        let mut f = facts();
        f.uri = b"/app.wsgi/a/b".to_vec();
        f.path_info = b"/a/b".to_vec();
        let v = environ_vars(&f);
        assert_eq!(get(&v, "SCRIPT_NAME"), Some(&b"/app.wsgi"[..]));
        assert_eq!(get(&v, "PATH_INFO"), Some(&b"/a/b"[..]));
        f.protocol = "INCLUDED".into();
        let v = environ_vars(&f);
        assert_eq!(get(&v, "SCRIPT_NAME"), Some(&b"/app.wsgi/a/b"[..]));
        assert_eq!(get(&v, "PATH_INFO"), Some(&b"/a/b"[..]));
    }

    #[test]
    fn group_decisions() {
        let groups = vec![b"staff".to_vec(), b"secret agents".to_vec()];
        assert_eq!(
            group_decision(&groups, "admins staff"),
            GroupDecision::Granted
        );
        assert_eq!(
            group_decision(&groups, "\"secret agents\""),
            GroupDecision::Granted
        );
        assert_eq!(group_decision(&groups, "admins"), GroupDecision::NotMember);
        assert_eq!(group_decision(&groups, ""), GroupDecision::NotMember);
        assert_eq!(group_decision(&[], "staff"), GroupDecision::NoGroups);
    }
}
