//! Every directive we register: where it may appear, and how its arguments
//! become typed configuration. Pure code: the Apache layer hands us the words
//! and the config struct, and turns our `Err` into a configtest failure.

use std::sync::Arc;

use super::daemon::{DaemonGroup, Ident};
use super::error::ConfigError;

use super::script_alias::{
    ALIAS_OPTIONS, Matcher, ScriptAlias, ScriptOptions, UriRegex, parse_on_off,
};
use super::settings::{
    AppSettings, DirConfig, HashSeed, ImportScript, IpNet, MapHeadToGet, ServerConfig,
};

/// Where a directive may appear (mapped onto httpd's `req_override` and
/// `ap_check_cmd_context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
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

pub struct Directive {
    pub name: &'static str,
    pub scope: Scope,
    pub help: &'static str,
}

const fn d(name: &'static str, scope: Scope, help: &'static str) -> Directive {
    Directive { name, scope, help }
}

pub const DIRECTIVES: &[Directive] = &[
    d(
        "WSGIScriptAlias",
        Scope::Server,
        "URL-path script-or-directory [process-group=NAME] [application-group=NAME] [callable-object=NAME] [pass-authorization=On|Off]",
    ),
    d(
        "WSGIScriptAliasMatch",
        Scope::Server,
        "regex script-path-with-$N [process-group=NAME] [application-group=NAME] [callable-object=NAME] [pass-authorization=On|Off]",
    ),
    d(
        "WSGIImportScript",
        Scope::Server,
        "script-path process-group=NAME application-group=NAME",
    ),
    d(
        "WSGIApplicationGroup",
        Scope::Directory,
        "%{GLOBAL} | %{RESOURCE} | %{SERVER} | %{HOST} | %{ENV:VAR} | name",
    ),
    d(
        "WSGIProcessGroup",
        Scope::Directory,
        "%{GLOBAL} | %{ENV:VAR} | daemon-group-name",
    ),
    d(
        "WSGICallableObject",
        Scope::FileInfo,
        "name of the WSGI callable in the script (default 'application')",
    ),
    d(
        "WSGIPassAuthorization",
        Scope::FileInfo,
        "On | Off: pass the Authorization header to the application",
    ),
    d(
        "WSGIScriptReloading",
        Scope::FileInfo,
        "On | Off: reload a script whose modification time changed",
    ),
    d(
        "WSGIChunkedRequest",
        Scope::FileInfo,
        "On | Off: accept request bodies with Transfer-Encoding: chunked",
    ),
    d(
        "WSGIEnableSendfile",
        Scope::FileInfo,
        "On | Off: let wsgi.file_wrapper use sendfile()",
    ),
    d(
        "WSGIMapHEADToGET",
        Scope::FileInfo,
        "On | Off | Auto: present HEAD requests to the application as GET",
    ),
    d(
        "WSGITrustedProxyHeaders",
        Scope::FileInfo,
        "header names (X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, ...) the application may trust",
    ),
    d(
        "WSGITrustedProxies",
        Scope::FileInfo,
        "addresses (ip, ip/bits or ip/netmask) of proxies whose headers are trusted",
    ),
    d(
        "WSGIErrorOverride",
        Scope::FileInfo,
        "On | Off: use Apache's error documents for application error responses",
    ),
    d(
        "WSGIPythonHome",
        Scope::Global,
        "the sys.prefix of the Python installation or virtual environment to use",
    ),
    d(
        "WSGIPythonPath",
        Scope::Global,
        "colon-separated directories to add to sys.path",
    ),
    d(
        "WSGILazyInitialization",
        Scope::Global,
        "On | Off: initialise Python in each child (On) or once in the Apache parent (Off)",
    ),
    d(
        "WSGIRestrictEmbedded",
        Scope::Global,
        "On | Off: refuse to run applications inside the Apache child processes",
    ),
    d(
        "WSGIRestrictStdin",
        Scope::Global,
        "On | Off: make reading sys.stdin an error",
    ),
    d(
        "WSGIRestrictStdout",
        Scope::Global,
        "On | Off: make writing to sys.stdout an error",
    ),
    d(
        "WSGIRestrictSignal",
        Scope::Global,
        "On | Off: ignore signal handler registration by applications",
    ),
    d(
        "WSGIPythonOptimize",
        Scope::Global,
        "0 | 1 | 2: Python's optimisation level (-O)",
    ),
    d(
        "WSGIPythonHashSeed",
        Scope::Global,
        "random | 0..4294967295: Python's hash seed",
    ),
    d(
        "WSGIDontWriteBytecode",
        Scope::Global,
        "On | Off: do not write .pyc files",
    ),
    d(
        "WSGIPythonWarnings",
        Scope::Global,
        "a warnings filter, as for python -W",
    ),
    d(
        "WSGIDestroyInterpreter",
        Scope::Global,
        "On | Off: finalise Python when a process exits",
    ),
    d(
        "WSGIPerInterpreterGIL",
        Scope::Global,
        "On | Off: give each application group's sub-interpreter its own GIL (Python 3.12+)",
    ),
    d(
        "WSGICaseSensitivity",
        Scope::Global,
        "On | Off: whether script paths are case sensitive",
    ),
    d(
        "WSGIPythonEggs",
        Scope::Global,
        "directory for the Python egg cache (PYTHON_EGG_CACHE)",
    ),
    d(
        "WSGISwitchInterval",
        Scope::Global,
        "seconds: Python's thread switch interval",
    ),
    d(
        "WSGISocketPrefix",
        Scope::Global,
        "path prefix for daemon mode sockets",
    ),
    d(
        "WSGISocketRotation",
        Scope::Global,
        "On | Off: accepted for mod_wsgi compatibility; daemon socket paths never change across restarts",
    ),
    d(
        "WSGIVerboseDebugging",
        Scope::Global,
        "On | Off: deprecated, use LogLevel wsgi:debug",
    ),
    d(
        "WSGIDaemonProcess",
        Scope::Server,
        "name [option=value ...]: define a daemon process group",
    ),
    d(
        "WSGIAccessScript",
        Scope::AuthConfig,
        "script-path [application-group=NAME]: allow_access(environ, host) decides host access",
    ),
    d(
        "WSGIAuthUserScript",
        Scope::AuthConfig,
        "script-path [application-group=NAME]: check_password / get_realm_hash for AuthBasicProvider / AuthDigestProvider wsgi",
    ),
    d(
        "WSGIAuthGroupScript",
        Scope::AuthConfig,
        "script-path [application-group=NAME]: groups_for_user for Require wsgi-group",
    ),
    d(
        "WSGIGroupAuthoritative",
        Scope::AuthConfig,
        "On | Off: whether wsgi-group authorisation is authoritative",
    ),
];

pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// What the Apache layer provides while a directive is being read.
pub trait ConfigContext {
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

/// The structure a directive writes into.
pub enum Target<'a> {
    /// Server or virtual-host context.
    Server(&'a mut ServerConfig),
    /// A directory section (or `.htaccess`).
    Dir(&'a mut DirConfig),
}

impl Target<'_> {
    fn settings(&mut self) -> &mut AppSettings {
        match self {
            Target::Server(s) => &mut s.settings,
            Target::Dir(d) => &mut d.settings,
        }
    }
    fn server(&mut self, name: &'static str) -> Result<&mut ServerConfig, ConfigError> {
        match self {
            Target::Server(s) => Ok(s),
            Target::Dir(_) => Err(ConfigError::NotInDirectory { directive: name }),
        }
    }
}

/// The only argument of a directive that takes exactly one.
fn one<'w>(
    name: &'static str,
    words: &'w [String],
    what: &'static str,
) -> Result<&'w str, ConfigError> {
    match words {
        [word] => Ok(word),
        _ => Err(ConfigError::ArgumentCount {
            directive: name,
            what,
            got: words.len(),
        }),
    }
}

/// `value`, refused unless it is one of the `expected` spellings.
fn invalid(name: &'static str, expected: &'static str, value: &str) -> ConfigError {
    ConfigError::InvalidValue {
        directive: name,
        expected,
        value: value.to_string(),
    }
}

fn flag(name: &'static str, words: &[String]) -> Result<bool, ConfigError> {
    let v = one(name, words, "On or Off")?;
    parse_on_off(v).ok_or_else(|| invalid(name, "On or Off", v))
}

fn require_absolute(name: &'static str, what: &'static str, path: &str) -> Result<(), ConfigError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(ConfigError::NotAbsolute {
            directive: name,
            what,
            path: path.to_string(),
        })
    }
}

/// Applies directive `name` with its (already unquoted) argument words.
pub fn apply(
    mut target: Target<'_>,
    name: &str,
    words: &[String],
    ctx: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    let dir = find(name).ok_or_else(|| ConfigError::UnknownDirective(name.to_string()))?;
    let name = dir.name;
    match name {
        "WSGIScriptAlias" | "WSGIScriptAliasMatch" => {
            if words.len() < 2 {
                let (what, example) = if name == "WSGIScriptAlias" {
                    ("path", "/app")
                } else {
                    ("pattern", "^/app/([^/]+)")
                };
                return Err(ConfigError::AliasNeedsTwoArguments {
                    directive: name,
                    what,
                    example,
                    usage: dir.help,
                });
            }
            let options = ScriptOptions::parse(name, &words[2..], ALIAS_OPTIONS)?;
            let (url, target_path) = (&words[0], words[1].clone());
            let matcher = if name == "WSGIScriptAlias" {
                if !url.starts_with('/') {
                    return Err(ConfigError::UrlNotAbsolute {
                        directive: name,
                        url: url.clone(),
                    });
                }
                Matcher::Prefix(url.clone())
            } else {
                let regex = ctx
                    .compile_regex(url)
                    .map_err(|reason| ConfigError::InvalidRegex {
                        directive: name,
                        pattern: url.clone(),
                        reason,
                    })?;
                Matcher::Regex {
                    pattern: url.clone(),
                    regex,
                }
            };
            require_absolute(name, "script path", &target_path)?;
            target.server(name)?.aliases.push(ScriptAlias {
                matcher,
                target: target_path,
                options,
            });
        }
        "WSGIImportScript" => {
            if words.is_empty() {
                return Err(ConfigError::MissingArguments {
                    directive: name,
                    usage: dir.help,
                });
            }
            let opts =
                ScriptOptions::parse(name, &words[1..], &["process-group", "application-group"])?;
            let (Some(process_group), Some(application_group)) =
                (opts.process_group, opts.application_group)
            else {
                return Err(ConfigError::ImportNeedsBothGroups { directive: name });
            };
            if process_group != "%{GLOBAL}" && !ctx.daemon_defined(&process_group) {
                return Err(ConfigError::UndefinedProcessGroup {
                    directive: name,
                    group: process_group,
                });
            }
            require_absolute(name, "script path", &words[0])?;
            target.server(name)?.import_scripts.push(ImportScript {
                path: words[0].clone(),
                process_group,
                application_group,
            });
        }
        "WSGIApplicationGroup" => {
            let v = one(name, words, "the application group name")?;
            check_group_expansion(name, v)?;
            target.settings().application_group = Some(v.to_string());
        }
        "WSGIProcessGroup" => {
            let v = one(name, words, "the process group name")?;
            check_group_expansion(name, v)?;
            target.settings().process_group = Some(v.to_string());
        }
        "WSGICallableObject" => {
            let v = one(name, words, "the callable's name")?;
            target.settings().callable_object = Some(v.to_string());
        }
        "WSGIPassAuthorization" => target.settings().pass_authorization = Some(flag(name, words)?),
        "WSGIScriptReloading" => target.settings().script_reloading = Some(flag(name, words)?),
        "WSGIChunkedRequest" => target.settings().chunked_request = Some(flag(name, words)?),
        "WSGIEnableSendfile" => target.settings().enable_sendfile = Some(flag(name, words)?),
        "WSGIErrorOverride" => target.settings().error_override = Some(flag(name, words)?),
        _ if dir.scope == Scope::AuthConfig => return super::auth::apply(target, name, words),
        "WSGIMapHEADToGET" => {
            let v = one(name, words, "On, Off or Auto")?;
            let m = match v.to_ascii_lowercase().as_str() {
                "on" => MapHeadToGet::On,
                "off" => MapHeadToGet::Off,
                "auto" => MapHeadToGet::Auto,
                _ => return Err(invalid(name, "On, Off or Auto", v)),
            };
            target.settings().map_head_to_get = Some(m);
        }
        "WSGITrustedProxyHeaders" => {
            if words.is_empty() {
                return Err(ConfigError::MissingArguments {
                    directive: name,
                    usage: "one or more header names, e.g. X-Forwarded-For X-Forwarded-Proto",
                });
            }
            let mut headers = Vec::new();
            for w in words {
                if w.is_empty()
                    || !w
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(ConfigError::InvalidHeaderName {
                        directive: name,
                        name: w.clone(),
                    });
                }
                headers.push(w.to_ascii_lowercase().replace('_', "-"));
            }
            target.settings().trusted_proxy_headers = Some(headers);
        }
        "WSGITrustedProxies" => {
            if words.is_empty() {
                return Err(ConfigError::MissingArguments {
                    directive: name,
                    usage: "one or more addresses (ip, ip/bits or ip/netmask)",
                });
            }
            let nets = words
                .iter()
                .map(|w| {
                    IpNet::parse(w).ok_or_else(|| ConfigError::InvalidAddress {
                        directive: name,
                        value: w.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            target.settings().trusted_proxies = Some(nets);
        }
        "WSGIDaemonProcess" => {
            let group = super::daemon::parse(words)?;
            check_daemon_environment(name, &group, ctx)?;
            let server = target.server(name)?;
            if !ctx.claim_daemon_name(&group.name) {
                return Err(ConfigError::DuplicateDaemonName {
                    directive: name,
                    group: group.name,
                });
            }
            server.daemons.push(group);
        }
        _ => return apply_global(target.server(name)?, name, words),
    }
    Ok(())
}

fn apply_global(
    server: &mut ServerConfig,
    name: &'static str,
    words: &[String],
) -> Result<(), ConfigError> {
    let g = &mut server.global;
    match name {
        "WSGIPythonHome" => {
            let v = one(
                name,
                words,
                "the sys.prefix of a Python installation or virtualenv",
            )?;
            require_absolute(name, "directory", v)?;
            super::python_home::check(v, super::python_home::BUILT_PYTHON).map_err(|source| {
                ConfigError::PythonHome {
                    directive: name,
                    source,
                }
            })?;
            g.python_home = Some(v.to_string());
        }
        "WSGIPythonPath" => {
            let v = one(name, words, "colon-separated directories")?;
            g.python_path
                .extend(v.split(':').filter(|p| !p.is_empty()).map(str::to_string));
        }
        "WSGILazyInitialization" => g.lazy_initialization = Some(flag(name, words)?),
        "WSGIRestrictEmbedded" => g.restrict_embedded = Some(flag(name, words)?),
        "WSGIRestrictStdin" => g.restrict_stdin = Some(flag(name, words)?),
        "WSGIRestrictStdout" => g.restrict_stdout = Some(flag(name, words)?),
        "WSGIRestrictSignal" => g.restrict_signal = Some(flag(name, words)?),
        "WSGIDontWriteBytecode" => g.dont_write_bytecode = Some(flag(name, words)?),
        "WSGIDestroyInterpreter" => g.destroy_interpreter = Some(flag(name, words)?),
        "WSGICaseSensitivity" => g.case_sensitivity = Some(flag(name, words)?),
        "WSGIPerInterpreterGIL" => {
            let on = flag(name, words)?;
            let built = super::python_home::BUILT_PYTHON;
            if on && !super::python_home::at_least(built, (3, 12)) {
                return Err(ConfigError::NeedsPython312 {
                    directive: name,
                    built,
                });
            }
            g.per_interpreter_gil = Some(on);
        }
        "WSGIVerboseDebugging" => {
            flag(name, words)?;
        }
        "WSGIPythonOptimize" => {
            let v = one(name, words, "0, 1 or 2")?;
            g.python_optimize = Some(match v {
                "0" => 0,
                "1" => 1,
                "2" => 2,
                _ => return Err(invalid(name, "0, 1 or 2", v)),
            });
        }
        "WSGIPythonHashSeed" => {
            let v = one(name, words, "random or a number 0..4294967295")?;
            g.python_hash_seed =
                Some(if v.eq_ignore_ascii_case("random") {
                    HashSeed::Random
                } else {
                    HashSeed::Fixed(v.parse().map_err(|_| {
                        invalid(name, "'random' or a number from 0 to 4294967295", v)
                    })?)
                });
        }
        "WSGIPythonWarnings" => {
            let v = one(
                name,
                words,
                "a warnings filter such as ignore::DeprecationWarning",
            )?;
            g.python_warnings.push(v.to_string());
        }
        "WSGIPythonEggs" => {
            let v = one(name, words, "a directory")?;
            require_absolute(name, "directory", v)?;
            g.python_eggs = Some(v.to_string());
        }
        "WSGISwitchInterval" => {
            let v = one(name, words, "seconds, e.g. 0.005")?;
            match v.parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => g.switch_interval = Some(s),
                _ => return Err(invalid(name, "a number of seconds greater than 0", v)),
            }
        }
        "WSGISocketPrefix" => {
            g.socket_prefix = Some(one(name, words, "a path prefix")?.to_string());
        }
        "WSGISocketRotation" => g.socket_rotation = Some(flag(name, words)?),
        _ => return Err(ConfigError::UnknownDirective(name.to_string())),
    }
    Ok(())
}

/// What a WSGIDaemonProcess needs of the machine, checked at configtest as
/// mod_wsgi does: chroot= needs root, script-user/script-group must exist.
fn check_daemon_environment(
    name: &'static str,
    group: &DaemonGroup,
    ctx: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    if let Some(dir) = &group.chroot
        && !ctx.running_as_root()
    {
        return Err(ConfigError::ChrootNeedsRoot {
            directive: name,
            group: group.name.clone(),
            dir: dir.clone(),
        });
    }
    if let Some(u) = &group.script_user
        && !ctx.user_exists(u)
    {
        return Err(ConfigError::NoSuchScriptUser {
            directive: name,
            group: group.name.clone(),
            user: u.clone(),
        });
    }
    if let Some(g) = &group.script_group
        && !ctx.group_exists(g)
    {
        return Err(ConfigError::NoSuchScriptGroup {
            directive: name,
            group: group.name.clone(),
            script_group: g.clone(),
        });
    }
    Ok(())
}

/// Rejects malformed `%{...}` references at configuration time.
fn check_group_expansion(name: &'static str, value: &str) -> Result<(), ConfigError> {
    if let Some(rest) = value.strip_prefix("%{") {
        let Some(inner) = rest.strip_suffix('}') else {
            return Err(ConfigError::UnclosedExpansion {
                directive: name,
                value: value.to_string(),
            });
        };
        let ok = matches!(inner, "GLOBAL" | "RESOURCE" | "SERVER" | "HOST")
            || inner.strip_prefix("ENV:").is_some_and(|v| !v.is_empty());
        if !ok {
            return Err(ConfigError::UnknownExpansion {
                directive: name,
                value: value.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::words::split_words;

    #[derive(Default)]
    struct NoRegex(std::cell::RefCell<Vec<String>>);
    impl ConfigContext for NoRegex {
        fn claim_daemon_name(&self, name: &str) -> bool {
            let mut names = self.0.borrow_mut();
            if names.iter().any(|n| n == name) {
                return false;
            }
            names.push(name.to_string());
            true
        }
        fn daemon_defined(&self, name: &str) -> bool {
            self.0.borrow().iter().any(|n| n == name)
        }
        fn running_as_root(&self) -> bool {
            false
        }
        fn user_exists(&self, who: &Ident) -> bool {
            who == &Ident::Name("web".into())
        }
        fn group_exists(&self, who: &Ident) -> bool {
            who == &Ident::Id(33)
        }
        fn compile_regex(&self, pattern: &str) -> Result<Arc<dyn UriRegex>, String> {
            if pattern.contains('(') && !pattern.contains(')') {
                return Err("missing )".into());
            }
            struct Never;
            impl UriRegex for Never {
                fn captures(&self, _: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
                    None
                }
            }
            Ok(Arc::new(Never))
        }
    }

    fn server(lines: &[&str]) -> Result<ServerConfig, String> {
        let mut s = ServerConfig::default();
        let ctx = NoRegex::default();
        for line in lines {
            let words = split_words(line);
            apply(Target::Server(&mut s), &words[0], &words[1..], &ctx)
                .map_err(|e| e.to_string())?;
        }
        Ok(s)
    }

    #[test]
    fn daemon_process_groups() {
        let s = server(&[
            "WSGIDaemonProcess web processes=2 threads=4",
            "WSGIImportScript /srv/a.wsgi process-group=web application-group=%{GLOBAL}",
        ])
        .unwrap();
        assert_eq!(s.daemons.len(), 1);
        assert_eq!(s.daemons[0].processes, 2);
        assert_eq!(s.import_scripts[0].process_group, "web");
        let e = server(&["WSGIDaemonProcess web", "WSGIDaemonProcess web"]).unwrap_err();
        assert!(e.contains("already used"), "{e}");
        let e = server(&["WSGIDaemonProcess web user=root"]).unwrap_err();
        assert!(e.contains("user=root is not allowed"), "{e}");
        // The test context is not root, knows user "web" and group #33.
        let e = server(&["WSGIDaemonProcess j chroot=/srv/jail"]).unwrap_err();
        assert!(
            e.contains("chroot=/srv/jail needs Apache to be started as root"),
            "{e}"
        );
        assert!(server(&["WSGIDaemonProcess s script-user=web"]).is_ok());
        assert!(server(&["WSGIDaemonProcess s script-group=#33"]).is_ok());
        let e = server(&["WSGIDaemonProcess s script-user=nosuch"]).unwrap_err();
        assert!(e.contains("script-user 'nosuch' does not exist"), "{e}");
        let e = server(&["WSGIDaemonProcess s script-group=#34"]).unwrap_err();
        assert!(e.contains("script-group '#34' does not exist"), "{e}");
        let mut d = DirConfig::default();
        let e = apply(
            Target::Dir(&mut d),
            "WSGIDaemonProcess",
            &["x".into()],
            &NoRegex::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not allowed inside a directory"), "{e}");
    }

    #[test]
    fn script_alias_is_parsed_with_options() {
        let s = server(&["WSGIScriptAlias /hello /srv/hello.wsgi application-group=%{GLOBAL} callable-object=app"]).unwrap();
        assert_eq!(s.aliases.len(), 1);
        assert_eq!(s.aliases[0].target, "/srv/hello.wsgi");
        assert_eq!(s.aliases[0].options.callable_object.as_deref(), Some("app"));
        assert!(matches!(&s.aliases[0].matcher, Matcher::Prefix(p) if p == "/hello"));
    }

    #[test]
    fn malformed_script_alias_messages_name_the_directive() {
        let e = server(&["WSGIScriptAlias /only-one"]).unwrap_err();
        assert!(
            e.starts_with("WSGIScriptAlias needs a URL path and a script path"),
            "{e}"
        );
        let e = server(&["WSGIScriptAlias hello /srv/x.wsgi"]).unwrap_err();
        assert!(e.contains("must start with '/'"), "{e}");
        let e = server(&["WSGIScriptAlias /x relative.wsgi"]).unwrap_err();
        assert!(e.contains("must be an absolute path"), "{e}");
        let e = server(&["WSGIScriptAlias /x /a.wsgi process-grop=x"]).unwrap_err();
        assert!(e.contains("unknown option 'process-grop'"), "{e}");
        let e = server(&["WSGIScriptAliasMatch ^/(x /a.wsgi"]).unwrap_err();
        assert!(e.contains("invalid regular expression"), "{e}");
    }

    #[test]
    fn flags_and_globals() {
        let s = server(&[
            "WSGIScriptReloading off",
            "WSGIPythonPath /a:/b",
            "WSGIPythonPath /c",
            "WSGIPythonHashSeed 42",
            "WSGIPythonOptimize 2",
            "WSGILazyInitialization Off",
            "WSGISocketRotation Off",
        ])
        .unwrap();
        assert_eq!(s.global.socket_rotation, Some(false));
        assert!(server(&["WSGISocketRotation sometimes"]).is_err());
        assert_eq!(s.settings.script_reloading, Some(false));
        assert_eq!(s.global.python_path, vec!["/a", "/b", "/c"]);
        assert_eq!(s.global.python_hash_seed, Some(HashSeed::Fixed(42)));
        assert_eq!(s.global.python_optimize, Some(2));
        assert!(!s.global.lazy_initialization());
        assert!(
            server(&["WSGIScriptReloading maybe"])
                .unwrap_err()
                .contains("must be On or Off, not 'maybe'")
        );
        assert!(server(&["WSGIPythonOptimize 3"]).is_err());
        assert!(server(&["WSGIPythonHashSeed -1"]).is_err());
    }

    #[test]
    fn group_expansions_are_checked() {
        assert!(server(&["WSGIApplicationGroup %{GLOBAL}"]).is_ok());
        assert!(server(&["WSGIApplicationGroup %{ENV:APP}"]).is_ok());
        assert!(server(&["WSGIApplicationGroup plain-name"]).is_ok());
        assert!(
            server(&["WSGIApplicationGroup %{GLOBL}"])
                .unwrap_err()
                .contains("unknown expansion")
        );
        assert!(
            server(&["WSGIApplicationGroup %{GLOBAL"])
                .unwrap_err()
                .contains("closing")
        );
    }

    #[test]
    fn import_script_needs_both_groups() {
        let e = server(&["WSGIImportScript /srv/a.wsgi process-group=%{GLOBAL}"]).unwrap_err();
        assert!(e.contains("requires both"), "{e}");
        let s = server(&[
            "WSGIImportScript /srv/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
        ])
        .unwrap();
        assert_eq!(s.import_scripts.len(), 1);
        let e =
            server(&["WSGIImportScript /srv/a.wsgi process-group=web application-group=%{GLOBAL}"])
                .unwrap_err();
        assert!(e.contains("process group 'web' is not defined"), "{e}");
    }

    #[test]
    fn preloading_aliases() {
        let s = server(&[
            "WSGIScriptAlias /a /srv/a.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}",
            "WSGIScriptAlias /b /srv/b.wsgi application-group=x",
        ])
        .unwrap();
        // %{GLOBAL} is a fixed name (mod_wsgi turns it into ""), so /a preloads.
        assert_eq!(s.preloads().len(), 1);
        let s = server(&[
            "WSGIScriptAlias /a /srv/a.wsgi process-group=%{GLOBAL} application-group=%{SERVER}",
        ])
        .unwrap();
        assert!(s.preloads().is_empty());
        let s = server(&["WSGIScriptAlias /a /srv/a.wsgi process-group=p application-group=g"])
            .unwrap();
        assert_eq!(s.preloads().len(), 1);
    }

    #[test]
    fn server_only_directives_are_refused_in_directories() {
        let mut d = DirConfig::default();
        let e = apply(
            Target::Dir(&mut d),
            "WSGIScriptAlias",
            &["/a".into(), "/b".into()],
            &NoRegex::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not allowed inside a directory"), "{e}");
        apply(
            Target::Dir(&mut d),
            "WSGIApplicationGroup",
            &["x".into()],
            &NoRegex::default(),
        )
        .unwrap();
        assert_eq!(d.settings.application_group.as_deref(), Some("x"));
    }

    #[test]
    fn every_directive_is_in_the_table_once() {
        for (i, d) in DIRECTIVES.iter().enumerate() {
            assert!(
                DIRECTIVES[i + 1..].iter().all(|o| o.name != d.name),
                "{} twice",
                d.name
            );
        }
    }
}
