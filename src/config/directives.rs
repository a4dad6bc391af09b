//! Every directive we register, in one table: its name, where it may appear,
//! its usage, and the function that turns its words into typed configuration.
//! httpd's command table is generated from this one (`apache::directives`),
//! so adding a directive is adding an entry here. Pure code: the Apache layer
//! hands us the words and the config struct, and turns our `Err` into a
//! configtest failure.

use std::sync::Arc;

use super::daemon::Ident;
use super::error::ConfigError;
use super::interpreter_options::{self, NestedLine};
use super::script_alias::UriRegex;
use super::scripts::{self, ScriptSettings};
use super::settings::{AppSettings, DirConfig, GlobalSettings, ServerConfig};
use super::{application, args, auth, daemon, global};

/// Where a directive may appear (mapped onto httpd's `req_override` and
/// `ap_check_cmd_context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Main server only, not inside `<VirtualHost>`.
    Global,
    /// Main server or `<VirtualHost>`.
    Server,
    /// Server, virtual host, `<Directory>`/`<Location>`/`<Files>`.
    Directory,
    /// As `Directory`, and `.htaccess` under `AllowOverride FileInfo`.
    FileInfo,
    /// `<Directory>`/`<Location>`/`<Files>`, `<AuthnProviderAlias>` and
    /// `.htaccess` under `AllowOverride AuthConfig`; not server or vhost level.
    AuthConfig,
}

/// What a directive's parser returns.
pub(super) type Applied = Result<(), ConfigError>;

/// How a directive line is applied to the structure it writes into.
type Parse = fn(&Call<'_>, &mut Target<'_>) -> Applied;

/// How a section (`<Name args>` ... `</Name>`) is applied: the rest of its
/// opening line (up to and including the `>`) and the lines inside it.
type ParseSection = fn(
    &mut Target<'_>,
    &Directive,
    &str,
    &[NestedLine],
    &dyn ConfigContext,
) -> Result<(), ConfigError>;

/// A one-line directive or a section.
#[derive(Clone, Copy)]
pub(crate) enum Syntax {
    Line(Parse),
    Section(ParseSection),
}

/// One entry of the directive table.
pub(crate) struct Directive {
    /// A section's name is its opening tag without the `>`.
    pub(crate) name: &'static str,
    pub(crate) scope: Scope,
    /// What follows the name, for messages.
    pub(super) usage: &'static str,
    pub(crate) syntax: Syntax,
}

impl Directive {
    /// Applies this directive with its (already unquoted) argument words.
    pub(crate) fn apply(
        &self,
        target: &mut Target<'_>,
        words: &[String],
        ctx: &dyn ConfigContext,
    ) -> Result<(), ConfigError> {
        match self.syntax {
            Syntax::Line(parse) => {
                let call = Call {
                    name: self.name,
                    usage: self.usage,
                    words,
                    ctx,
                };
                parse(&call, target)
            }
            Syntax::Section(_) => Err(ConfigError::SectionAsLine { section: self.name }),
        }
    }

    /// Applies this section with the rest of its opening line and its lines.
    pub(crate) fn apply_section(
        &self,
        target: &mut Target<'_>,
        args: &str,
        lines: &[NestedLine],
        ctx: &dyn ConfigContext,
    ) -> Result<(), ConfigError> {
        match self.syntax {
            Syntax::Section(parse) => parse(target, self, args, lines, ctx),
            Syntax::Line(_) => Err(ConfigError::LineAsSection {
                directive: self.name,
            }),
        }
    }
}

const fn d(name: &'static str, scope: Scope, usage: &'static str, parse: Parse) -> Directive {
    Directive {
        name,
        scope,
        usage,
        syntax: Syntax::Line(parse),
    }
}

const fn section(
    name: &'static str,
    scope: Scope,
    usage: &'static str,
    parse: ParseSection,
) -> Directive {
    Directive {
        name,
        scope,
        usage,
        syntax: Syntax::Section(parse),
    }
}

/// The parser of an `On | Off` directive that sets one field of the
/// [`AppSettings`] (`settings.field`) or of the [`GlobalSettings`]
/// (`global.field`).
macro_rules! on_off {
    (settings.$field:ident) => {
        |c, target| {
            target.settings().$field = Some(c.flag()?);
            Ok(())
        }
    };
    (global.$field:ident) => {
        |c, target| {
            let global = target.global(c.name)?;
            global.$field = Some(c.flag()?);
            Ok(())
        }
    };
}

pub(crate) static DIRECTIVES: &[Directive] = &[
    d(
        "WSGIScriptAlias",
        Scope::Server,
        "URL-path script-or-directory [process-group=NAME] [application-group=NAME] [callable-object=NAME] [pass-authorization=On|Off]",
        application::script_alias,
    ),
    d(
        "WSGIScriptAliasMatch",
        Scope::Server,
        "regex script-path-with-$N [process-group=NAME] [application-group=NAME] [callable-object=NAME] [pass-authorization=On|Off]",
        application::script_alias_match,
    ),
    d(
        "WSGIImportScript",
        Scope::Server,
        "script-path process-group=NAME application-group=NAME",
        application::import_script,
    ),
    d(
        "WSGIApplicationGroup",
        Scope::Directory,
        "%{GLOBAL} | %{RESOURCE} | %{SERVER} | %{HOST} | %{ENV:VAR} | name",
        application::application_group,
    ),
    d(
        "WSGIProcessGroup",
        Scope::Directory,
        "%{GLOBAL} | %{ENV:VAR} | daemon-group-name",
        application::process_group,
    ),
    d(
        "WSGIRestrictProcess",
        Scope::Directory,
        "daemon-group-name ... (%{GLOBAL} for embedded mode): the only process groups requests here may be sent to",
        application::restrict_process,
    ),
    d(
        "WSGICallableObject",
        Scope::FileInfo,
        "name of the WSGI callable in the script (default 'application')",
        application::callable_object,
    ),
    d(
        "WSGIPassAuthorization",
        Scope::FileInfo,
        "On | Off: pass the Authorization header to the application",
        on_off!(settings.pass_authorization),
    ),
    d(
        "WSGIScriptReloading",
        Scope::FileInfo,
        "On | Off: reload a script whose modification time changed",
        on_off!(settings.script_reloading),
    ),
    d(
        "WSGIChunkedRequest",
        Scope::FileInfo,
        "On | Off: accept request bodies with Transfer-Encoding: chunked",
        on_off!(settings.chunked_request),
    ),
    d(
        "WSGIEnableSendfile",
        Scope::FileInfo,
        "On | Off: let wsgi.file_wrapper use sendfile()",
        on_off!(settings.enable_sendfile),
    ),
    d(
        "WSGIMapHEADToGET",
        Scope::FileInfo,
        "On | Off | Auto: present HEAD requests to the application as GET",
        application::map_head_to_get,
    ),
    d(
        "WSGITrustedProxyHeaders",
        Scope::FileInfo,
        "header names (X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, ...) the application may trust",
        application::trusted_proxy_headers,
    ),
    d(
        "WSGITrustedProxies",
        Scope::FileInfo,
        "addresses (ip, ip/bits or ip/netmask) of proxies whose headers are trusted",
        application::trusted_proxies,
    ),
    d(
        "WSGIErrorOverride",
        Scope::FileInfo,
        "On | Off: use Apache's error documents for application error responses",
        on_off!(settings.error_override),
    ),
    d(
        "WSGIPassApacheRequest",
        Scope::Directory,
        "On | Off: give embedded-mode applications the request_rec as environ['apache.request_rec'] (a capsule)",
        on_off!(settings.pass_apache_request),
    ),
    d(
        "WSGIIgnoreActivity",
        Scope::FileInfo,
        "On | Off: requests here do not count as activity for a daemon group's inactivity-timeout (health checks)",
        on_off!(settings.ignore_activity),
    ),
    d(
        "WSGIPythonHome",
        Scope::Global,
        "the sys.prefix of the Python installation or virtual environment to use",
        global::python_home,
    ),
    d(
        "WSGIPythonPath",
        Scope::Global,
        "colon-separated directories to add to sys.path",
        global::python_path,
    ),
    d(
        "WSGILazyInitialization",
        Scope::Global,
        "On | Off: initialise Python in each child (On) or once in the Apache parent (Off)",
        on_off!(global.lazy_initialization),
    ),
    d(
        "WSGIRestrictEmbedded",
        Scope::Global,
        "On | Off: refuse to run applications inside the Apache child processes",
        on_off!(global.restrict_embedded),
    ),
    d(
        "WSGIRestrictStdin",
        Scope::Global,
        "On | Off: make reading sys.stdin an error",
        on_off!(global.restrict_stdin),
    ),
    d(
        "WSGIRestrictStdout",
        Scope::Global,
        "On | Off: make writing to sys.stdout an error",
        on_off!(global.restrict_stdout),
    ),
    d(
        "WSGIRestrictSignal",
        Scope::Global,
        "On | Off: ignore signal handler registration by applications",
        on_off!(global.restrict_signal),
    ),
    d(
        "WSGIPythonOptimize",
        Scope::Global,
        "0 | 1 | 2: Python's optimisation level (-O)",
        global::python_optimize,
    ),
    d(
        "WSGIPythonHashSeed",
        Scope::Global,
        "random | 0..4294967295: Python's hash seed",
        global::python_hash_seed,
    ),
    d(
        "WSGIDontWriteBytecode",
        Scope::Global,
        "On | Off: do not write .pyc files",
        on_off!(global.dont_write_bytecode),
    ),
    d(
        "WSGIPythonWarnings",
        Scope::Global,
        "a warnings filter, as for python -W",
        global::python_warnings,
    ),
    d(
        "WSGIDestroyInterpreter",
        Scope::Global,
        "On | Off: finalise Python when a process exits",
        on_off!(global.destroy_interpreter),
    ),
    d(
        "WSGIPerInterpreterGIL",
        Scope::Global,
        "On | Off: give each application group's sub-interpreter its own GIL (Python 3.12+)",
        global::per_interpreter_gil,
    ),
    d(
        "WSGIFreeThreading",
        Scope::Global,
        "Off: run Python with its GIL (On needs a free-threaded CPython build, which is not supported)",
        global::free_threading,
    ),
    section(
        "<WSGIInterpreterOptions",
        Scope::Global,
        "[process-group=NAME] [application-group=NAME]> ... </WSGIInterpreterOptions>: per-interpreter settings for the interpreters these select",
        interpreter_options::section,
    ),
    d(
        "WSGICaseSensitivity",
        Scope::Global,
        "On | Off: whether script paths are case sensitive",
        on_off!(global.case_sensitivity),
    ),
    d(
        "WSGIPythonEggs",
        Scope::Global,
        "directory for the Python egg cache (PYTHON_EGG_CACHE)",
        global::python_eggs,
    ),
    d(
        "WSGISwitchInterval",
        Scope::Global,
        "seconds: Python's thread switch interval",
        global::switch_interval,
    ),
    d(
        "WSGITelemetryService",
        Scope::Global,
        "not supported: mod_wsgi-rs has no telemetry",
        global::telemetry,
    ),
    d(
        "WSGITelemetryOptions",
        Scope::Global,
        "not supported: mod_wsgi-rs has no telemetry",
        global::telemetry,
    ),
    d(
        "WSGISlowRequests",
        Scope::Global,
        "not supported: mod_wsgi-rs has no telemetry",
        global::telemetry,
    ),
    d(
        "WSGISocketPrefix",
        Scope::Global,
        "path prefix for daemon mode sockets",
        global::socket_prefix,
    ),
    d(
        "WSGISocketRotation",
        Scope::Global,
        "On | Off: accepted for mod_wsgi compatibility; daemon socket paths never change across restarts",
        on_off!(global.socket_rotation),
    ),
    d(
        "WSGIAcceptMutex",
        Scope::Global,
        "Default | flock | fcntl | sysvsem | posixsem | pthread: accepted for mod_wsgi compatibility; daemon processes take connections without an accept lock",
        global::accept_mutex,
    ),
    d(
        "WSGIVerboseDebugging",
        Scope::Global,
        "On | Off: deprecated, use LogLevel wsgi:debug",
        global::verbose_debugging,
    ),
    d(
        "WSGIHandlerScript",
        Scope::FileInfo,
        "name script-path [process-group=NAME] [application-group=NAME] [pass-authorization=On|Off]",
        scripts::handler_script,
    ),
    d(
        "WSGIDispatchScript",
        Scope::FileInfo,
        "script-path [application-group=NAME]: its process_group, application_group and callable_object functions choose them per request",
        scripts::dispatch_script,
    ),
    d(
        "WSGIServerMetrics",
        Scope::Global,
        "On | Off: let mod_wsgi.server_metrics() return Apache's scoreboard in embedded mode",
        on_off!(global.server_metrics),
    ),
    d(
        "WSGIDaemonProcess",
        Scope::Server,
        "name [option=value ...]: define a daemon process group",
        daemon::directive,
    ),
    d(
        "WSGIAccessScript",
        Scope::AuthConfig,
        "script-path [application-group=NAME]: allow_access(environ, host) decides host access",
        auth::access_script,
    ),
    d(
        "WSGIAuthUserScript",
        Scope::AuthConfig,
        "script-path [application-group=NAME]: check_password / get_realm_hash for AuthBasicProvider / AuthDigestProvider wsgi",
        auth::auth_user_script,
    ),
    d(
        "WSGIAuthGroupScript",
        Scope::AuthConfig,
        "script-path [application-group=NAME]: groups_for_user for Require wsgi-group",
        auth::auth_group_script,
    ),
    d(
        "WSGIGroupAuthoritative",
        Scope::AuthConfig,
        "On | Off: whether wsgi-group authorisation is authoritative",
        auth::group_authoritative,
    ),
];

/// The table entry of `name` (httpd matches directive names case-insensitively).
pub(crate) fn find(name: &str) -> Result<&'static Directive, ConfigError> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ConfigError::UnknownDirective(name.to_string()))
}

/// What the Apache layer provides while a directive is being read.
pub(crate) trait ConfigContext {
    /// Compiles a WSGIScriptAliasMatch pattern with httpd's regex engine.
    fn compile_regex(&self, pattern: &str) -> Result<Arc<dyn UriRegex>, String>;
    /// Records a WSGIDaemonProcess name; false if it is already defined
    /// anywhere in the configuration (names are unique server-wide).
    fn claim_daemon_name(&self, name: &str) -> bool;
    /// Whether a WSGIDaemonProcess of this name was defined earlier.
    fn daemon_defined(&self, name: &str) -> bool;
    /// Whether Apache runs as root (chroot= needs it).
    fn running_as_root(&self) -> bool;
    /// Whether a user (name or `#uid`) exists.
    fn user_exists(&self, who: &Ident) -> bool;
    /// Whether a group (name or `#gid`) exists.
    fn group_exists(&self, who: &Ident) -> bool;
}

/// One directive line being applied: its table entry's name and usage, its
/// (already unquoted) argument words, and what the Apache layer provides.
pub(crate) struct Call<'a> {
    pub(super) name: &'static str,
    /// What follows the name, for messages.
    pub(super) usage: &'static str,
    pub(super) words: &'a [String],
    pub(super) ctx: &'a dyn ConfigContext,
}

impl<'a> Call<'a> {
    /// The only argument of a directive that takes exactly one (`what` it is).
    pub(super) fn one(&self, what: &'static str) -> Result<&'a str, ConfigError> {
        args::one(self.name, self.words, what)
    }

    /// The single `On`/`Off` argument of a flag directive.
    pub(super) fn flag(&self) -> Result<bool, ConfigError> {
        args::flag(self.name, self.words)
    }

    /// `value` refused: it must be one of the `expected` spellings.
    pub(super) fn invalid(&self, expected: &'static str, value: &str) -> ConfigError {
        args::invalid(self.name, expected, value)
    }

    /// Refuses a relative `path` (`what` it is).
    pub(super) fn absolute(&self, what: &'static str, path: &str) -> Applied {
        args::require_absolute(self.name, what, path)
    }
}

/// The structure a directive writes into.
pub(crate) enum Target<'a> {
    /// Server or virtual-host context.
    Server(&'a mut ServerConfig),
    /// A directory section (or `.htaccess`).
    Dir(&'a mut DirConfig),
}

impl Target<'_> {
    pub(super) fn settings(&mut self) -> &mut AppSettings {
        match self {
            Target::Server(s) => &mut s.settings,
            Target::Dir(d) => &mut d.settings,
        }
    }

    pub(super) fn scripts(&mut self) -> &mut ScriptSettings {
        match self {
            Target::Server(s) => &mut s.scripts,
            Target::Dir(d) => &mut d.scripts,
        }
    }

    /// The server record, for directive `name`, which is not allowed in a
    /// directory section.
    pub(super) fn server(&mut self, name: &'static str) -> Result<&mut ServerConfig, ConfigError> {
        match self {
            Target::Server(s) => Ok(s),
            Target::Dir(_) => Err(ConfigError::NotInDirectory { directive: name }),
        }
    }

    /// The process-wide settings (kept in the server record).
    pub(super) fn global(
        &mut self,
        name: &'static str,
    ) -> Result<&mut GlobalSettings, ConfigError> {
        Ok(&mut self.server(name)?.global)
    }

    /// The directory record, for directive `name`, which is allowed only there.
    pub(super) fn dir(&mut self, name: &'static str) -> Result<&mut DirConfig, ConfigError> {
        match self {
            Target::Dir(d) => Ok(d),
            Target::Server(_) => Err(ConfigError::OnlyInDirectory { directive: name }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{TestContext, apply};

    #[test]
    fn every_directive_is_in_the_table_once() {
        for (i, d) in DIRECTIVES.iter().enumerate() {
            assert!(
                DIRECTIVES[i + 1..]
                    .iter()
                    .all(|o| !o.name.eq_ignore_ascii_case(d.name)),
                "{} twice",
                d.name
            );
            assert!(
                d.name
                    .strip_prefix('<')
                    .unwrap_or(d.name)
                    .starts_with("WSGI"),
                "{}",
                d.name
            );
            assert!(!d.usage.trim().is_empty(), "{} has no usage", d.name);
            assert!(std::ptr::eq(find(d.name).unwrap(), d));
            assert!(std::ptr::eq(find(&d.name.to_lowercase()).unwrap(), d));
        }
        assert_eq!(
            find("WSGINoSuchDirective").err().unwrap().to_string(),
            "unknown directive WSGINoSuchDirective"
        );
    }

    /// Every directive mod_wsgi 6 registers (its `AP_INIT_*` table) is in
    /// ours, so no mod_wsgi configuration fails with httpd's "Invalid
    /// command" (the few we do not implement say so themselves).
    #[test]
    fn every_mod_wsgi_6_directive_is_known() {
        let mod_wsgi_6 = [
            "<WSGIInterpreterOptions",
            "WSGIAcceptMutex",
            "WSGIAccessScript",
            "WSGIApplicationGroup",
            "WSGIAuthGroupScript",
            "WSGIAuthUserScript",
            "WSGICallableObject",
            "WSGICaseSensitivity",
            "WSGIChunkedRequest",
            "WSGIDaemonProcess",
            "WSGIDestroyInterpreter",
            "WSGIDispatchScript",
            "WSGIDontWriteBytecode",
            "WSGIEnableSendfile",
            "WSGIErrorOverride",
            "WSGIFreeThreading",
            "WSGIGroupAuthoritative",
            "WSGIHandlerScript",
            "WSGIIgnoreActivity",
            "WSGIImportScript",
            "WSGIMapHEADToGET",
            "WSGIPassApacheRequest",
            "WSGIPassAuthorization",
            "WSGIPerInterpreterGIL",
            "WSGIProcessGroup",
            "WSGIPythonEggs",
            "WSGIPythonHashSeed",
            "WSGIPythonHome",
            "WSGIPythonOptimize",
            "WSGIPythonPath",
            "WSGIPythonWarnings",
            "WSGIRestrictEmbedded",
            "WSGIRestrictProcess",
            "WSGIRestrictSignal",
            "WSGIRestrictStdin",
            "WSGIRestrictStdout",
            "WSGIScriptAlias",
            "WSGIScriptAliasMatch",
            "WSGIScriptReloading",
            "WSGIServerMetrics",
            "WSGISlowRequests",
            "WSGISocketPrefix",
            "WSGISocketRotation",
            "WSGISwitchInterval",
            "WSGITelemetryOptions",
            "WSGITelemetryService",
            "WSGITrustedProxies",
            "WSGITrustedProxyHeaders",
            "WSGIVerboseDebugging",
        ];
        for name in mod_wsgi_6 {
            assert!(find(name).is_ok(), "{name} is not in the table");
        }
    }

    /// One valid line per directive: each entry's parser accepts it (but
    /// refuses, saying why, mod_wsgi 6's telemetry directives) and
    /// writes into the record (only the deprecated WSGIVerboseDebugging and
    /// WSGIFreeThreading Off, which is what happens anyway, have nothing to
    /// keep, nor WSGIAcceptMutex, which changes nothing here). The section
    /// is given one line.
    #[test]
    fn every_entry_parses_a_valid_line() {
        let home = std::env::temp_dir().join(format!("mwr-table-home-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let version = crate::config::python_home::BUILT_PYTHON;
        std::fs::write(home.join("pyvenv.cfg"), format!("version = {version}\n")).unwrap();
        let python_home = format!("WSGIPythonHome {}", home.display());
        let samples = [
            "WSGIScriptAlias /a /srv/a.wsgi",
            "WSGIScriptAliasMatch ^/(a) /srv/$1.wsgi",
            "WSGIImportScript /srv/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
            "WSGIApplicationGroup %{GLOBAL}",
            "WSGIProcessGroup web",
            "WSGIRestrictProcess web %{GLOBAL}",
            "WSGICallableObject app",
            "WSGIPassAuthorization On",
            "WSGIScriptReloading Off",
            "WSGIChunkedRequest On",
            "WSGIEnableSendfile On",
            "WSGIMapHEADToGET Off",
            "WSGITrustedProxyHeaders X-Forwarded-For",
            "WSGITrustedProxies 127.0.0.1",
            "WSGIErrorOverride On",
            "WSGIPassApacheRequest On",
            "WSGIIgnoreActivity On",
            &python_home,
            "WSGIPythonPath /a",
            "WSGILazyInitialization Off",
            "WSGIRestrictEmbedded On",
            "WSGIRestrictStdin On",
            "WSGIRestrictStdout On",
            "WSGIRestrictSignal Off",
            "WSGIPythonOptimize 1",
            "WSGIPythonHashSeed 0",
            "WSGIDontWriteBytecode On",
            "WSGIPythonWarnings ignore",
            "WSGIDestroyInterpreter Off",
            "WSGIPerInterpreterGIL Off",
            "WSGIFreeThreading Off",
            "<WSGIInterpreterOptions application-group=a>",
            "WSGICaseSensitivity On",
            "WSGIPythonEggs /tmp/eggs",
            "WSGISwitchInterval 0.01",
            "WSGITelemetryService unix:/run/t.sock",
            "WSGITelemetryOptions All",
            "WSGISlowRequests 5",
            "WSGISocketPrefix /run/wsgi",
            "WSGISocketRotation Off",
            "WSGIAcceptMutex flock",
            "WSGIVerboseDebugging On",
            "WSGIHandlerScript my-handler /srv/handler.wsgi",
            "WSGIDispatchScript /srv/dispatch.py",
            "WSGIServerMetrics On",
            "WSGIDaemonProcess web",
            "WSGIAccessScript /srv/access.wsgi",
            "WSGIAuthUserScript /srv/auth.wsgi",
            "WSGIAuthGroupScript /srv/groups.wsgi",
            "WSGIGroupAuthoritative Off",
        ];
        assert_eq!(samples.len(), DIRECTIVES.len());
        for (d, line) in DIRECTIVES.iter().zip(samples) {
            assert_eq!(
                line.split(' ').next(),
                Some(d.name),
                "samples in table order"
            );
            let ctx = TestContext::default();
            if let Syntax::Section(_) = d.syntax {
                let mut rec = ServerConfig::default();
                let before = format!("{rec:?}");
                let args = line.split_once(' ').map_or(">", |(_, a)| a);
                let lines = [NestedLine {
                    name: "WSGIRestrictStdout".into(),
                    args: "On".into(),
                }];
                d.apply_section(&mut Target::Server(&mut rec), args, &lines, &ctx)
                    .unwrap();
                assert_ne!(before, format!("{rec:?}"), "{line}");
                continue;
            }
            if d.usage.starts_with("not supported") {
                let mut rec = ServerConfig::default();
                let e = apply(&mut Target::Server(&mut rec), line, &ctx).unwrap_err();
                assert!(e.contains("is not supported by mod_wsgi-rs"), "{line}: {e}");
                continue;
            }
            let (before, after) = if d.scope == Scope::AuthConfig {
                let mut rec = DirConfig::default();
                let before = format!("{rec:?}");
                apply(&mut Target::Dir(&mut rec), line, &ctx).unwrap();
                (before, format!("{rec:?}"))
            } else {
                let mut rec = ServerConfig::default();
                let before = format!("{rec:?}");
                apply(&mut Target::Server(&mut rec), line, &ctx).unwrap();
                (before, format!("{rec:?}"))
            };
            assert_eq!(
                before == after,
                matches!(
                    d.name,
                    "WSGIVerboseDebugging" | "WSGIFreeThreading" | "WSGIAcceptMutex"
                ),
                "{line}: {after}"
            );
        }
        let _ = std::fs::remove_dir_all(home);
    }
}
