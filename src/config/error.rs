//! Why a directive line was refused. Each variant's `Display` is the message
//! httpd prints at configtest (`AH00526: Syntax error on line N ...`), so the
//! texts are part of the interface: tests assert them.

use super::daemon::Ident;
use super::python_home::PythonHomeError;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(crate) enum ConfigError {
    // Any directive.
    #[error("unknown directive {0}")]
    UnknownDirective(String),
    #[error("{directive} is not allowed inside a directory section")]
    NotInDirectory { directive: &'static str },
    #[error(
        "{directive} is only allowed inside <Directory>, <Location>, <Files>, <AuthnProviderAlias> or .htaccess (AllowOverride AuthConfig)"
    )]
    OnlyInDirectory { directive: &'static str },
    #[error("{directive} takes one argument ({what}); got {got} argument(s)")]
    ArgumentCount {
        directive: &'static str,
        what: &'static str,
        got: usize,
    },
    #[error("{directive} takes {usage}")]
    MissingArguments {
        directive: &'static str,
        usage: &'static str,
    },
    #[error("{directive} must be {expected}, not '{value}'")]
    InvalidValue {
        directive: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("{directive}: {what} '{path}' must be an absolute path")]
    NotAbsolute {
        directive: &'static str,
        what: &'static str,
        path: String,
    },

    // `name=value` options after a script path (ScriptOptions).
    #[error(
        "{directive}: unexpected argument '{word}'; options are written name=value ({})",
        .allowed.join(", ")
    )]
    NotAnOption {
        directive: &'static str,
        word: String,
        allowed: &'static [&'static str],
    },
    #[error("{directive}: unknown option '{option}'; valid options are {}", .allowed.join(", "))]
    UnknownOption {
        directive: &'static str,
        option: String,
        allowed: &'static [&'static str],
    },
    #[error("{directive}: {option} must not be empty")]
    EmptyOption {
        directive: &'static str,
        option: &'static str,
    },
    #[error("{directive}: {option} must be On or Off, not '{value}'")]
    OptionNotOnOff {
        directive: &'static str,
        option: &'static str,
        value: String,
    },

    // WSGIScriptAlias, WSGIScriptAliasMatch, WSGIImportScript.
    #[error(
        "{directive} needs a URL {what} and a script path, e.g. `{directive} {example} /srv/app/app.wsgi`; usage: {directive} {usage}"
    )]
    AliasNeedsTwoArguments {
        directive: &'static str,
        what: &'static str,
        example: &'static str,
        usage: &'static str,
    },
    #[error("{directive}: the URL path '{url}' must start with '/'")]
    UrlNotAbsolute {
        directive: &'static str,
        url: String,
    },
    #[error("{directive}: invalid regular expression '{pattern}': {reason}")]
    InvalidRegex {
        directive: &'static str,
        pattern: String,
        reason: String,
    },
    #[error(
        "{directive} requires both process-group= and application-group= (use %{{GLOBAL}} for the embedded process / main interpreter)"
    )]
    ImportNeedsBothGroups { directive: &'static str },
    #[error(
        "{directive}: process group '{group}' is not defined; define it with \
         WSGIDaemonProcess before this line, or use process-group=%{{GLOBAL}} (the Apache child processes)"
    )]
    UndefinedProcessGroup {
        directive: &'static str,
        group: String,
    },

    // WSGIApplicationGroup, WSGIProcessGroup.
    #[error("{directive}: '{value}' is missing its closing '}}'")]
    UnclosedExpansion {
        directive: &'static str,
        value: String,
    },
    #[error(
        "{directive}: unknown expansion '{value}'; use %{{GLOBAL}}, %{{RESOURCE}}, %{{SERVER}}, %{{HOST}} or %{{ENV:variable}}"
    )]
    UnknownExpansion {
        directive: &'static str,
        value: String,
    },

    // WSGITrustedProxyHeaders, WSGITrustedProxies.
    #[error("{directive}: '{name}' is not a valid header name")]
    InvalidHeaderName {
        directive: &'static str,
        name: String,
    },
    #[error("{directive}: '{value}' is not an IP address, ip/bits or ip/netmask")]
    InvalidAddress {
        directive: &'static str,
        value: String,
    },

    // Process-wide directives.
    #[error("{directive}: {source}")]
    PythonHome {
        directive: &'static str,
        source: PythonHomeError,
    },
    #[error(
        "{directive} On needs Python 3.12 or later (a GIL per interpreter, PEP 684); \
         this module embeds Python {built}. Remove the directive, or rebuild \
         mod_wsgi-rs against Python 3.12+ (PYO3_PYTHON=/path/to/python3.12)"
    )]
    NeedsPython312 {
        directive: &'static str,
        built: &'static str,
    },

    #[error(
        "{directive} On needs a free-threaded CPython build (3.13t or later, built with \
         --disable-gil), which mod_wsgi-rs does not support; this module embeds Python \
         {built}, which runs with its GIL. Remove the directive or set it Off"
    )]
    NeedsFreeThreadedPython {
        directive: &'static str,
        built: &'static str,
    },
    #[error(
        "{directive} is not supported by mod_wsgi-rs: it has no telemetry (mod_wsgi 6's reporter for mod_wsgi-telemetry); remove the line (request_metrics(), process_metrics() and server_metrics() are there for monitoring)"
    )]
    NoTelemetry { directive: &'static str },

    // <WSGIInterpreterOptions>.
    #[error("{section}> directive missing closing '>'")]
    SectionNotClosed { section: &'static str },
    #[error(
        "{section}>: '{word}' is not a selector; write process-group=NAME and/or application-group=NAME"
    )]
    NotASelector { section: &'static str, word: String },
    #[error(
        "{section}>: unknown selector '{selector}'; the selectors are process-group=NAME and application-group=NAME"
    )]
    UnknownSelector {
        section: &'static str,
        selector: String,
    },
    #[error("{section}>: {selector} is given more than once")]
    DuplicateSelector {
        section: &'static str,
        selector: &'static str,
    },
    #[error(
        "{section}>: {selector}={value}: a selector is compared with the group's name as resolved \
         for each request, so it is a plain name; of the %{{...}} forms only %{{GLOBAL}} \
         (the Apache children / the main interpreter) can be used"
    )]
    ExpandedSelector {
        section: &'static str,
        selector: &'static str,
        value: String,
    },
    #[error(
        "{name} is not allowed inside <WSGIInterpreterOptions>, which may hold only {}",
        .allowed.join(", ")
    )]
    NotInInterpreterOptions {
        name: String,
        allowed: &'static [&'static str],
    },
    /// A line inside a section was refused (the Apache layer points httpd's
    /// message at that line).
    #[error("{source}")]
    Nested {
        index: usize,
        source: Box<ConfigError>,
    },
    #[error(
        "{section}> is a section: write it as {section} ...> followed by its lines and its end tag"
    )]
    SectionAsLine { section: &'static str },
    #[error("{directive} is a directive, not a section")]
    LineAsSection { directive: &'static str },

    // WSGIHandlerScript, WSGIDispatchScript.
    #[error(
        "{directive} needs a handler name and a script path, e.g. `{directive} my-handler \
         /srv/site/handler.wsgi`, then `SetHandler my-handler` or `AddHandler my-handler .ext`; \
         usage: {directive} {usage}"
    )]
    HandlerScriptNeedsTwoArguments {
        directive: &'static str,
        usage: &'static str,
    },
    #[error("{directive}: invalid handler name '{handler}'")]
    InvalidHandlerName {
        directive: &'static str,
        handler: String,
    },
    #[error(
        "{directive}: '{handler}' is the handler of WSGI scripts themselves (SetHandler \
         wsgi-script); give the handler script another name"
    )]
    ReservedHandlerName {
        directive: &'static str,
        handler: String,
    },
    #[error(
        "{directive} needs the path of a Python script, e.g. `{directive} /srv/site/dispatch.py`"
    )]
    DispatchNeedsScript { directive: &'static str },
    #[error(
        "{directive}: process-group= is not an option: the dispatch script always runs in the \
         Apache child process (its application-group= names the interpreter); its \
         process_group(environ) function chooses each request's daemon process group"
    )]
    DispatchProcessGroup { directive: &'static str },

    // WSGIDaemonProcess.
    #[error("{directive} needs a group name, e.g. `{directive} myapp processes=2 threads=15`")]
    DaemonNeedsName { directive: &'static str },
    #[error(
        "{directive}: invalid group name '{name}': the first argument names the group (no '=' or %{{...}})"
    )]
    InvalidDaemonName {
        directive: &'static str,
        name: String,
    },
    #[error("{directive} {group}: unexpected argument '{word}'; options are written name=value")]
    DaemonNotAnOption {
        directive: &'static str,
        group: String,
        word: String,
    },
    #[error("{directive}: invalid value '{value}' for option '{option}': expected {expected}")]
    InvalidDaemonOption {
        directive: &'static str,
        option: String,
        value: String,
        expected: &'static str,
    },
    #[error("{directive} {group}: unknown option '{option}'; valid options are {valid}")]
    UnknownDaemonOption {
        directive: &'static str,
        group: String,
        option: String,
        valid: String,
    },
    #[error(
        "{directive} {group}: user=root is not allowed: daemon processes must run as an unprivileged user"
    )]
    DaemonAsRoot {
        directive: &'static str,
        group: String,
    },
    #[error("{directive} {group}: script-user and script-group cannot both be given")]
    ScriptUserAndGroup {
        directive: &'static str,
        group: String,
    },
    #[error(
        "{directive} {group}: chroot={dir} needs Apache to be started as root (the daemon changes its root directory before dropping root)"
    )]
    ChrootNeedsRoot {
        directive: &'static str,
        group: String,
        dir: String,
    },
    #[error("{directive} {group}: script-user '{user}' does not exist")]
    NoSuchScriptUser {
        directive: &'static str,
        group: String,
        user: Ident,
    },
    #[error("{directive} {group}: script-group '{script_group}' does not exist")]
    NoSuchScriptGroup {
        directive: &'static str,
        group: String,
        script_group: Ident,
    },
    #[error(
        "{directive}: name '{group}' is already used by another WSGIDaemonProcess; group names must be unique across the server"
    )]
    DuplicateDaemonName {
        directive: &'static str,
        group: String,
    },

    // WSGIAccessScript, WSGIAuthUserScript, WSGIAuthGroupScript, WSGIGroupAuthoritative.
    #[error(
        "{directive} needs the path of a Python script, e.g. `{directive} /srv/site/auth.wsgi`"
    )]
    MissingScript { directive: &'static str },
    #[error("{directive}: the script path is empty")]
    EmptyScriptPath { directive: &'static str },
    #[error(
        "{directive}: application-group must not be empty (use %{{GLOBAL}} for the main interpreter)"
    )]
    EmptyApplicationGroup { directive: &'static str },
    #[error("{directive}: unknown option '{option}'; the only option is application-group=NAME")]
    UnknownScriptOption {
        directive: &'static str,
        option: String,
    },
    #[error(
        "{directive}: unexpected argument '{word}'; usage: {directive} /path/to/script [application-group=NAME]"
    )]
    UnexpectedScriptArgument {
        directive: &'static str,
        word: String,
    },
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{dir, server};

    /// The configtest messages are an interface: one line per kind of error,
    /// with the exact text.
    #[test]
    fn messages() {
        let cases: &[(&str, &str)] = &[
            (
                "WSGIApplicationGroup a b",
                "WSGIApplicationGroup takes one argument (the application group name); got 2 argument(s)",
            ),
            (
                "WSGIScriptReloading x",
                "WSGIScriptReloading must be On or Off, not 'x'",
            ),
            (
                "WSGIMapHEADToGET sometimes",
                "WSGIMapHEADToGET must be On, Off or Auto, not 'sometimes'",
            ),
            (
                "WSGIPythonOptimize 3",
                "WSGIPythonOptimize must be 0, 1 or 2, not '3'",
            ),
            (
                "WSGIPythonHashSeed -1",
                "WSGIPythonHashSeed must be 'random' or a number from 0 to 4294967295, not '-1'",
            ),
            (
                "WSGISwitchInterval inf",
                "WSGISwitchInterval must be a number of seconds greater than 0, not 'inf'",
            ),
            (
                "WSGIPythonEggs eggs",
                "WSGIPythonEggs: directory 'eggs' must be an absolute path",
            ),
            (
                "WSGIScriptAlias /a",
                "WSGIScriptAlias needs a URL path and a script path, e.g. `WSGIScriptAlias /app /srv/app/app.wsgi`; usage: WSGIScriptAlias URL-path script-or-directory [process-group=NAME] [application-group=NAME] [callable-object=NAME] [pass-authorization=On|Off]",
            ),
            (
                "WSGIScriptAliasMatch ^/x",
                "WSGIScriptAliasMatch needs a URL pattern and a script path, e.g. `WSGIScriptAliasMatch ^/app/([^/]+) /srv/app/app.wsgi`; usage: WSGIScriptAliasMatch regex script-path-with-$N [process-group=NAME] [application-group=NAME] [callable-object=NAME] [pass-authorization=On|Off]",
            ),
            (
                "WSGIScriptAlias a /b.wsgi",
                "WSGIScriptAlias: the URL path 'a' must start with '/'",
            ),
            (
                "WSGIScriptAlias /a b.wsgi",
                "WSGIScriptAlias: script path 'b.wsgi' must be an absolute path",
            ),
            (
                "WSGIScriptAliasMatch ^/(x /a.wsgi",
                "WSGIScriptAliasMatch: invalid regular expression '^/(x': missing )",
            ),
            (
                "WSGIScriptAlias /a /b.wsgi extra",
                "WSGIScriptAlias: unexpected argument 'extra'; options are written name=value (process-group, application-group, callable-object, pass-authorization)",
            ),
            (
                "WSGIScriptAlias /a /b.wsgi bogus=1",
                "WSGIScriptAlias: unknown option 'bogus'; valid options are process-group, application-group, callable-object, pass-authorization",
            ),
            (
                "WSGIScriptAlias /a /b.wsgi callable-object=",
                "WSGIScriptAlias: callable-object must not be empty",
            ),
            (
                "WSGIScriptAlias /a /b.wsgi pass-authorization=maybe",
                "WSGIScriptAlias: pass-authorization must be On or Off, not 'maybe'",
            ),
            (
                "WSGIImportScript",
                "WSGIImportScript takes script-path process-group=NAME application-group=NAME",
            ),
            (
                "WSGIImportScript /a.wsgi process-group=%{GLOBAL}",
                "WSGIImportScript requires both process-group= and application-group= (use %{GLOBAL} for the embedded process / main interpreter)",
            ),
            (
                "WSGIImportScript /a.wsgi process-group=nope application-group=x",
                "WSGIImportScript: process group 'nope' is not defined; define it with WSGIDaemonProcess before this line, or use process-group=%{GLOBAL} (the Apache child processes)",
            ),
            (
                "WSGIApplicationGroup %{GLOBAL",
                "WSGIApplicationGroup: '%{GLOBAL' is missing its closing '}'",
            ),
            (
                "WSGIProcessGroup %{ENV:}",
                "WSGIProcessGroup: unknown expansion '%{ENV:}'; use %{GLOBAL}, %{RESOURCE}, %{SERVER}, %{HOST} or %{ENV:variable}",
            ),
            (
                "WSGITrustedProxyHeaders",
                "WSGITrustedProxyHeaders takes one or more header names, e.g. X-Forwarded-For X-Forwarded-Proto",
            ),
            (
                "WSGITrustedProxyHeaders X-F:r",
                "WSGITrustedProxyHeaders: 'X-F:r' is not a valid header name",
            ),
            (
                "WSGITrustedProxies",
                "WSGITrustedProxies takes one or more addresses (ip, ip/bits or ip/netmask)",
            ),
            (
                "WSGITrustedProxies 1.2.3.4/33",
                "WSGITrustedProxies: '1.2.3.4/33' is not an IP address, ip/bits or ip/netmask",
            ),
            (
                "WSGIPythonHome /nonexistent/venv",
                "WSGIPythonHome: '/nonexistent/venv' does not exist or is not a directory",
            ),
            (
                "WSGIDaemonProcess",
                "WSGIDaemonProcess needs a group name, e.g. `WSGIDaemonProcess myapp processes=2 threads=15`",
            ),
            (
                "WSGIDaemonProcess a=b",
                "WSGIDaemonProcess: invalid group name 'a=b': the first argument names the group (no '=' or %{...})",
            ),
            (
                "WSGIDaemonProcess e threads",
                "WSGIDaemonProcess e: unexpected argument 'threads'; options are written name=value",
            ),
            (
                "WSGIDaemonProcess e threads=lots",
                "WSGIDaemonProcess: invalid value 'lots' for option 'threads': expected a number of threads per process (1 or more)",
            ),
            (
                "WSGIDaemonProcess e user=#0",
                "WSGIDaemonProcess e: user=root is not allowed: daemon processes must run as an unprivileged user",
            ),
            (
                "WSGIDaemonProcess e script-user=a script-group=b",
                "WSGIDaemonProcess e: script-user and script-group cannot both be given",
            ),
            (
                "WSGIDaemonProcess e chroot=/srv/jail",
                "WSGIDaemonProcess e: chroot=/srv/jail needs Apache to be started as root (the daemon changes its root directory before dropping root)",
            ),
            (
                "WSGIDaemonProcess e script-user=nosuch",
                "WSGIDaemonProcess e: script-user 'nosuch' does not exist",
            ),
            (
                "WSGIDaemonProcess e script-group=#34",
                "WSGIDaemonProcess e: script-group '#34' does not exist",
            ),
            (
                "WSGINoSuchDirective x",
                "unknown directive WSGINoSuchDirective",
            ),
        ];
        for (line, message) in cases {
            assert_eq!(server(&[line]).unwrap_err(), *message, "{line}");
        }
        let e = server(&["WSGIDaemonProcess e proceses=2"]).unwrap_err();
        assert!(
            e.starts_with("WSGIDaemonProcess e: unknown option 'proceses'; valid options are processes, threads, display-name, ")
                && e.ends_with(", socket-user, server-metrics"),
            "{e}"
        );
        assert_eq!(
            server(&["WSGIDaemonProcess d", "WSGIDaemonProcess d"]).unwrap_err(),
            "WSGIDaemonProcess: name 'd' is already used by another WSGIDaemonProcess; group names must be unique across the server"
        );
        let built = crate::config::python_home::BUILT_PYTHON;
        if !crate::config::python_home::at_least(built, (3, 12)) {
            assert_eq!(
                server(&["WSGIPerInterpreterGIL On"]).unwrap_err(),
                format!(
                    "WSGIPerInterpreterGIL On needs Python 3.12 or later (a GIL per interpreter, PEP 684); \
                     this module embeds Python {built}. Remove the directive, or rebuild mod_wsgi-rs \
                     against Python 3.12+ (PYO3_PYTHON=/path/to/python3.12)"
                )
            );
        }
        let dir_cases: &[(&str, &str)] = &[
            (
                "WSGIPythonHome /usr",
                "WSGIPythonHome is not allowed inside a directory section",
            ),
            (
                "WSGIAccessScript",
                "WSGIAccessScript needs the path of a Python script, e.g. `WSGIAccessScript /srv/site/auth.wsgi`",
            ),
            (
                "WSGIAccessScript ''",
                "WSGIAccessScript: the script path is empty",
            ),
            (
                "WSGIAuthUserScript auth.wsgi",
                "WSGIAuthUserScript: script path 'auth.wsgi' must be an absolute path",
            ),
            (
                "WSGIAccessScript /a.wsgi application-group=",
                "WSGIAccessScript: application-group must not be empty (use %{GLOBAL} for the main interpreter)",
            ),
            (
                "WSGIAccessScript /a.wsgi process-group=x",
                "WSGIAccessScript: unknown option 'process-group'; the only option is application-group=NAME",
            ),
            (
                "WSGIAccessScript /a.wsgi extra",
                "WSGIAccessScript: unexpected argument 'extra'; usage: WSGIAccessScript /path/to/script [application-group=NAME]",
            ),
            (
                "WSGIGroupAuthoritative a b",
                "WSGIGroupAuthoritative takes one argument (On or Off); got 2 argument(s)",
            ),
            (
                "WSGIGroupAuthoritative maybe",
                "WSGIGroupAuthoritative must be On or Off, not 'maybe'",
            ),
        ];
        for (line, message) in dir_cases {
            assert_eq!(dir(&[line]).unwrap_err(), *message, "{line}");
        }
        assert_eq!(
            server(&["WSGIAuthGroupScript /g.wsgi"]).unwrap_err(),
            "WSGIAuthGroupScript is only allowed inside <Directory>, <Location>, <Files>, <AuthnProviderAlias> or .htaccess (AllowOverride AuthConfig)"
        );
    }
}
