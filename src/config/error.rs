//! Why a directive line was refused. Each variant's `Display` is the message
//! httpd prints at configtest (`AH00526: Syntax error on line N ...`), so the
//! texts are part of the interface: tests assert them.

use super::daemon::Ident;
use super::python_home::PythonHomeError;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
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
        "{directive} {group}: option '{option}' is not supported yet by mod_wsgi-rs ({why}); remove it or set {off}"
    )]
    DaemonOptionNotSupported {
        directive: &'static str,
        group: String,
        option: &'static str,
        why: &'static str,
        off: &'static str,
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
    #[error("{directive} takes one argument, On or Off; got {got}")]
    FlagArgumentCount { directive: &'static str, got: usize },
}
