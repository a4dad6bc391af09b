//! translate_name (WSGIScriptAlias mapping) and the handler: for
//! `wsgi-script` (the target file is the WSGI script) and for the names of
//! WSGIHandlerScript (its script serves the target file): request checks,
//! settings resolution, environ facts, the dispatch script's say, and the
//! hand-off to the Python adapter (embedded) or a daemon process.

use std::sync::Arc;

use crate::daemon::groups::{self as daemon_groups, GroupRuntime};

use crate::config::groups::{self, GroupContext};
use crate::config::scripts::{HANDLER_CALLABLE, HandlerScript, SCRIPT_HANDLERS};
use crate::config::settings::{AppSettings, GlobalSettings, MapHeadToGet};
use crate::ffi;
use crate::python::environ::{self, EnvironPolicy, split_script_name};
use crate::python::{self, Outcome, RequestSpec};
use crate::status::HttpStatus;

use super::dispatch;
use super::hooks::child_state;
use super::log::{self, Level};
use super::request::Request;
use super::status::HookStatus;
use super::transport::EmbeddedTransport;

/// WSGIScriptAlias / WSGIScriptAliasMatch: first match in configuration order.
pub(crate) fn translate(r: Request) -> HookStatus {
    let Some(cfg) = r.server_config() else {
        return HookStatus::Declined;
    };
    if cfg.aliases.is_empty() || !r.uri().starts_with(b"/") {
        return HookStatus::Declined;
    }
    let uri = r.uri().to_vec();
    for alias in &cfg.aliases {
        let Some(filename) = alias.map(&uri) else {
            continue;
        };
        r.set_filename(&filename);
        r.set_handler(c"wsgi-script");
        // Marks the request as script-aliased: no `Options ExecCGI` needed.
        r.set_note(c"alias-forced-type", "wsgi-script");
        let o = &alias.options;
        if let Some(g) = &o.process_group {
            r.set_note(c"mod_wsgi.process_group", g);
        }
        if let Some(g) = &o.application_group {
            r.set_note(c"mod_wsgi.application_group", g);
        }
        if let Some(c) = &o.callable_object {
            r.set_note(c"mod_wsgi.callable_object", c);
        }
        if let Some(p) = o.pass_authorization {
            r.set_note(c"mod_wsgi.pass_authorization", if p { "1" } else { "0" });
        }
        return HookStatus::Ok;
    }
    HookStatus::Declined
}

/// The WSGIHandlerScript a request's handler names: the request's
/// directory's, else its server's (the directory's win by name).
fn handler_script(r: &Request) -> Option<HandlerScript> {
    let handler = r.handler();
    if handler.is_empty() {
        return None;
    }
    r.dir_config()
        .and_then(|d| d.scripts.handler_script(handler))
        .or_else(|| r.server_config()?.scripts.handler_script(handler))
        .cloned()
}

/// The effective settings: the script's own options (a WSGIScriptAlias's,
/// kept in notes; a WSGIHandlerScript's) over directory over server.
fn settings(r: &Request, handler_script: Option<&HandlerScript>) -> AppSettings {
    let server = r
        .server_config()
        .map(|c| c.settings.clone())
        .unwrap_or_default();
    let mut s = match r.dir_config() {
        Some(d) => d.settings.over(&server),
        None => server,
    };
    if let Some(h) = handler_script {
        // As mod_wsgi: the callable is fixed; WSGIScriptAlias notes do not
        // apply to a request another handler took over.
        s.callable_object = Some(HANDLER_CALLABLE.into());
        if let Some(g) = &h.process_group {
            s.process_group = Some(g.clone());
        }
        if let Some(g) = &h.application_group {
            s.application_group = Some(g.clone());
        }
        if let Some(p) = h.pass_authorization {
            s.pass_authorization = Some(p);
        }
        return s;
    }
    if let Some(g) = r.note(c"mod_wsgi.process_group") {
        s.process_group = Some(g);
    }
    if let Some(g) = r.note(c"mod_wsgi.application_group") {
        s.application_group = Some(g);
    }
    if let Some(c) = r.note(c"mod_wsgi.callable_object") {
        s.callable_object = Some(c);
    }
    if let Some(p) = r.note(c"mod_wsgi.pass_authorization") {
        s.pass_authorization = Some(p == "1");
    }
    s
}

struct Groups<'a> {
    r: &'a Request,
    host: String,
    script_name: String,
    hostname: Option<String>,
}

impl GroupContext for Groups<'_> {
    fn server_hostname(&self) -> &str {
        &self.host
    }
    fn server_port(&self) -> u16 {
        self.r.server_port()
    }
    fn request_hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }
    fn script_name(&self) -> &str {
        &self.script_name
    }
    fn env(&self, name: &str) -> Option<String> {
        self.r.env_lookup(name)
    }
}

fn fail(r: &Request, status: HttpStatus, msg: &str) -> HookStatus {
    log::request(r, Level::Error, msg);
    status.into()
}

pub(crate) fn handle(r: Request) -> HookStatus {
    // The target file is the WSGI script (`wsgi-script`), or a handler
    // script serves it.
    let handler_script = if SCRIPT_HANDLERS.iter().any(|h| h.as_bytes() == r.handler()) {
        None
    } else {
        match handler_script(&r) {
            Some(h) => Some(h),
            None => return HookStatus::Declined,
        }
    };
    let pid = std::process::id();
    let filename = r.filename();
    // As mod_wsgi, only a WSGI script must exist and be allowed to run; a
    // handler script decides itself what its target (existing or not) is.
    if handler_script.is_none()
        && let Err(status) = check_script(&r, &filename)
    {
        return status;
    }
    if r.rejects_path_info() && !r.path_info().is_empty() {
        return fail(
            &r,
            HttpStatus::NOT_FOUND,
            &format!("mod_wsgi (pid={pid}): AcceptPathInfo off disallows user's path: {filename}"),
        );
    }

    let settings = settings(&r, handler_script.as_ref());
    let no_global = GlobalSettings::default();
    let global = r.server_config().map_or(&no_global, |c| &c.global);
    let case_sensitive = global.case_sensitive();
    let (script_name, _) = split_script_name(r.uri(), r.path_info());
    let groups = Groups {
        r: &r,
        host: r.server_hostname(),
        script_name: String::from_utf8_lossy(&script_name).into_owned(),
        hostname: r.hostname(),
    };
    let child = child_state();
    let mut spec = request_spec(
        &r,
        &settings,
        handler_script.as_ref(),
        &groups,
        case_sensitive,
    );

    // WSGIDispatchScript: may choose another process group, application
    // group or callable, before any of them is used.
    if let Some(script) = dispatch::script(&r) {
        let python_error = match child {
            None => Some("Python is not initialised in this process"),
            Some(c) => c.python_error.as_deref(),
        };
        if let Some(e) = python_error {
            return fail(
                &r,
                HttpStatus::INTERNAL_SERVER_ERROR,
                &format!(
                    "mod_wsgi (pid={pid}): Cannot run dispatch script '{}': {e}: {filename}",
                    script.path
                ),
            );
        }
        let reloading = settings.script_reloading.unwrap_or(true);
        let chosen = match dispatch::run(r, &script, &spec, reloading, case_sensitive) {
            Ok(chosen) => chosen,
            Err(status) => return status.into(),
        };
        if let Some(g) = chosen.process_group {
            spec.process_group = groups::expand_process_group(Some(&g), &groups, case_sensitive);
        }
        if let Some(g) = chosen.application_group {
            spec.application_group =
                groups::expand_application_group(Some(&g), &groups, case_sensitive);
        }
        if let Some(c) = chosen.callable_object {
            spec.callable_object = c;
        }
    }

    // WSGIRestrictProcess: checked on the group finally chosen (a dispatch
    // script's or %{ENV:...}'s), embedded mode ("") included, as mod_wsgi.
    // Names compare without case, as in mod_wsgi's table of them.
    if let Some(allowed) = &settings.restrict_process
        && !allowed
            .iter()
            .any(|g| g.eq_ignore_ascii_case(&spec.process_group))
    {
        return fail(
            &r,
            HttpStatus::INTERNAL_SERVER_ERROR,
            &format!(
                "mod_wsgi (pid={pid}): Daemon process called '{}' cannot be accessed by this WSGI application as not a member of allowed groups: {filename}",
                spec.process_group
            ),
        );
    }
    let daemon = if spec.process_group.is_empty() {
        None
    } else {
        match daemon_group(&r, &spec.process_group) {
            Ok(g) => {
                // script-user= / script-group=: where mod_wsgi checks them,
                // before the request goes to the daemon.
                if let Some(owner) = &g.script_owner
                    && let Err(msg) = crate::daemon::script_owner::check(owner, &filename)
                {
                    return fail(
                        &r,
                        HttpStatus::FORBIDDEN,
                        &format!("mod_wsgi (pid={pid}): {msg}: {filename}"),
                    );
                }
                Some(g)
            }
            Err(msg) => {
                return fail(
                    &r,
                    HttpStatus::INTERNAL_SERVER_ERROR,
                    &format!("mod_wsgi (pid={pid}): {msg}: {filename}"),
                );
            }
        }
    };
    if daemon.is_none() {
        if global.restrict_embedded() {
            return fail(
                &r,
                HttpStatus::INTERNAL_SERVER_ERROR,
                &format!(
                    "mod_wsgi (pid={pid}): Embedded mode of mod_wsgi disabled by runtime configuration: {filename}"
                ),
            );
        }
        let Some(child) = child else {
            return fail(
                &r,
                HttpStatus::INTERNAL_SERVER_ERROR,
                &format!(
                    "mod_wsgi (pid={pid}): Python is not initialised in this process: {filename}"
                ),
            );
        };
        if let Some(e) = &child.python_error {
            return fail(
                &r,
                HttpStatus::INTERNAL_SERVER_ERROR,
                &format!("mod_wsgi (pid={pid}): {e}: {filename}"),
            );
        }
    }
    if let Err(status) = r.setup_body(settings.chunked_request.unwrap_or(false)) {
        let why = match status {
            HttpStatus::LENGTH_REQUIRED => "a chunked request body needs WSGIChunkedRequest On",
            HttpStatus::CONTENT_TOO_LARGE => "the request body is larger than LimitRequestBody",
            HttpStatus::BAD_REQUEST => "invalid request body framing (Content-Length)",
            _ => "the request body cannot be read",
        };
        return fail(
            &r,
            status,
            &format!(
                "mod_wsgi (pid={pid}): Request refused with status {status}: {why}: {filename}"
            ),
        );
    }

    let mut transport = EmbeddedTransport::new(r, spec.enable_sendfile);
    if let Some(group) = daemon {
        let error_override = settings.error_override.unwrap_or(false);
        let ignore_activity = settings.ignore_activity.unwrap_or(false);
        return crate::daemon::dispatcher::dispatch(
            &r,
            spec,
            &group,
            &mut transport,
            error_override,
            ignore_activity,
        );
    }
    spec.module_name = python::script::module_name(&spec.script_path, case_sensitive);
    match python::serve(&spec, Box::new(transport)) {
        Outcome::Sent => HookStatus::Ok,
        Outcome::Status(code) => code.into(),
        // Only a daemon asks for it (restart_on_change); not in this process.
        Outcome::ScriptChanged => HttpStatus::INTERNAL_SERVER_ERROR.into(),
    }
}

/// A WSGI script (the request's target) must exist, not be a directory,
/// and be allowed to run (`Options ExecCGI`, unless a WSGIScriptAlias
/// mapped it); `Err` is the status, already logged.
fn check_script(r: &Request, filename: &str) -> Result<(), HookStatus> {
    let pid = std::process::id();
    match r.finfo().filetype {
        ffi::apr_filetype_e_APR_NOFILE => {
            return Err(fail(
                r,
                HttpStatus::NOT_FOUND,
                &format!(
                    "mod_wsgi (pid={pid}): Target WSGI script not found or unable to stat: {filename}"
                ),
            ));
        }
        ffi::apr_filetype_e_APR_DIR => {
            return Err(fail(
                r,
                HttpStatus::FORBIDDEN,
                &format!(
                    "mod_wsgi (pid={pid}): Attempt to invoke directory as WSGI application: {filename}"
                ),
            ));
        }
        _ => {}
    }
    if !r.allows_exec_cgi() && r.note(c"alias-forced-type").is_none() {
        return Err(fail(
            r,
            HttpStatus::FORBIDDEN,
            &format!("mod_wsgi (pid={pid}): Options ExecCGI is off in this directory: {filename}"),
        ));
    }
    Ok(())
}

/// The request as the configuration says to run it: its script, groups
/// (expanded), callable and environ.
fn request_spec(
    r: &Request,
    settings: &AppSettings,
    handler_script: Option<&HandlerScript>,
    groups: &Groups<'_>,
    case_sensitive: bool,
) -> RequestSpec {
    let child = child_state();
    let map_head = match settings.map_head_to_get.unwrap_or(MapHeadToGet::Auto) {
        MapHeadToGet::On => true,
        MapHeadToGet::Off => false,
        MapHeadToGet::Auto => r.header_only() && r.has_content_filters(),
    };
    let policy = EnvironPolicy {
        pass_authorization: settings.pass_authorization.unwrap_or(false),
        trusted_proxy_headers: settings.trusted_proxy_headers.clone().unwrap_or_default(),
        trusted_proxies: settings.trusted_proxies.clone().unwrap_or_default(),
        map_head_to_get: map_head,
    };
    // A handler script is loaded (and reloaded) as a script of its own;
    // the target stays SCRIPT_FILENAME.
    let (script_path, script_mtime) = match handler_script {
        Some(h) => (h.path.clone(), python::script::mtime(&h.path)),
        None => (r.filename(), r.finfo().mtime),
    };
    RequestSpec {
        // Named where the script runs (below, or by the daemon itself).
        module_name: String::new(),
        script_path,
        script_mtime,
        reloading: settings.script_reloading.unwrap_or(true),
        // Set by a daemon (its own decision), never sent.
        restart_on_change: false,
        callable_object: settings
            .callable_object
            .clone()
            .unwrap_or_else(|| "application".into()),
        cgi: environ::build(&r.facts(), &policy),
        process_group: groups::expand_process_group(
            settings.process_group.as_deref(),
            groups,
            case_sensitive,
        ),
        application_group: groups::expand_application_group(
            settings.application_group.as_deref(),
            groups,
            case_sensitive,
        ),
        handler: String::from_utf8_lossy(r.handler()).into_owned(),
        handler_script: handler_script.is_some(),
        multithread: child.is_some_and(|c| c.multithread),
        multiprocess: child.is_some_and(|c| c.multiprocess),
        is_head: r.header_only(),
        request_start: r.request_time(),
        // Daemon mode: set when the request is handed on.
        queue_start: 0.0,
        daemon_start: 0.0,
        request_id: r.log_id(),
        connection_id: r.connection_log_id(),
        thread_id: thread_index(),
        server_pid: std::process::id() as i64,
        listener_host: r.local_ip(),
        listener_port: r.local_port(),
        apache_version: (
            ffi::AP_SERVER_MAJORVERSION_NUMBER as u32,
            ffi::AP_SERVER_MINORVERSION_NUMBER as u32,
            ffi::AP_SERVER_PATCHLEVEL_NUMBER as u32,
        ),
        enable_sendfile: settings.enable_sendfile.unwrap_or(false),
        // Used only where the application runs in this process.
        apache_request: if settings.pass_apache_request.unwrap_or(false) {
            r.as_ptr() as usize
        } else {
            0
        },
    }
}

/// The daemon group a request names, if this virtual host may use it: groups
/// of the main server serve every virtual host; a virtual host's groups serve
/// virtual hosts with the same ServerName (mod_wsgi's rule).
fn daemon_group(r: &Request, name: &str) -> Result<Arc<GroupRuntime>, String> {
    let Some(g) = daemon_groups::find(name) else {
        return Err(format!(
            "No WSGI daemon process called '{name}' has been configured"
        ));
    };
    if g.main_server || g.server == r.server() as usize || g.server_hostname == r.server_hostname()
    {
        return Ok(g);
    }
    Err(format!(
        "Daemon process called '{name}' cannot be accessed by this WSGI application: it is defined in the virtual host '{}', and this request is for '{}'",
        g.server_hostname,
        r.server_hostname()
    ))
}

/// A small stable number per worker thread (`mod_wsgi.thread_id`).
fn thread_index() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(1);
    thread_local!(static ID: i64 = NEXT.fetch_add(1, Ordering::Relaxed));
    ID.with(|i| *i)
}
