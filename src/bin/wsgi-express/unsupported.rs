//! mod_wsgi-express options wsgi-express does not implement. clap rejects
//! them like any unknown option; this turns that error into one that says
//! the option is a known one we do not support (and why, where it helps),
//! so a Dockerfile written for mod_wsgi-express fails saying what to change
//! rather than "unexpected argument".

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// mod_wsgi-express 6 options we do not implement, with the reason.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("--http2", "mod_http2 is not configured"),
    ("--proxy-timeout", "proxying is not configured"),
    ("--proxy-mount-point", "proxying is not configured"),
    ("--proxy-url-alias", "proxying is not configured"),
    ("--proxy-virtual-host", "proxying is not configured"),
    (
        "--rewrite-rules",
        "the application is not mapped through the document root, so per-directory rewrite rules would not apply to it; use --include-file",
    ),
    ("--telemetry-service", "the module has no telemetry"),
    ("--enable-telemetry", "the module has no telemetry"),
    ("--telemetry-ui-port", "the module has no telemetry"),
    ("--telemetry-interval", "the module has no telemetry"),
    ("--telemetry-options", "the module has no telemetry"),
    ("--slow-requests", "the module has no telemetry"),
    (
        "--free-threading",
        "the module is built for a Python with a GIL",
    ),
    ("--with-php5", "PHP is not configured"),
    ("--with-cgi", "CGI is not configured"),
    (
        "--service-script",
        "daemon groups with threads=0 are not supported",
    ),
    (
        "--service-user",
        "daemon groups with threads=0 are not supported",
    ),
    (
        "--service-group",
        "daemon groups with threads=0 are not supported",
    ),
    (
        "--service-log-file",
        "daemon groups with threads=0 are not supported",
    ),
    ("--enable-docs", "the mod_wsgi documentation is not bundled"),
    ("--debug-mode", "there is no single-process debug mode"),
    ("--enable-debugger", "there is no single-process debug mode"),
    (
        "--debugger-startup",
        "there is no single-process debug mode",
    ),
    ("--enable-coverage", "there is no single-process debug mode"),
    (
        "--coverage-directory",
        "there is no single-process debug mode",
    ),
    ("--enable-profiler", "there is no single-process debug mode"),
    (
        "--profiler-directory",
        "there is no single-process debug mode",
    ),
    ("--enable-recorder", "there is no single-process debug mode"),
    (
        "--recorder-directory",
        "there is no single-process debug mode",
    ),
    ("--enable-gdb", "there is no single-process debug mode"),
    ("--gdb-executable", "there is no single-process debug mode"),
    ("--verbose-debugging", "it is a mod_wsgi internal"),
];

/// Every option of mod_wsgi-express that wsgi-express does not implement.
#[cfg(test)]
fn names() -> impl Iterator<Item = &'static str> {
    UNSUPPORTED.iter().map(|(n, _)| *n)
}

/// Why `option` (`--name` or `--name=value`) is not supported, if it is a
/// mod_wsgi-express option.
fn reason(option: &str) -> Option<&'static str> {
    let name = option.split_once('=').map_or(option, |(n, _)| n);
    UNSUPPORTED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// `e` as the error to report: for an option mod_wsgi-express has and we
/// do not, one that says so; any other error as clap words it.
pub(super) fn explain(e: clap::Error) -> Result<String, clap::Error> {
    if e.kind() != ErrorKind::UnknownArgument {
        return Err(e);
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return Err(e);
    };
    match reason(arg) {
        Some(why) => {
            let name = arg.split_once('=').map_or(arg.as_str(), |(n, _)| n);
            Ok(format!(
                "the mod_wsgi-express option {name} is not supported by mod_wsgi-rs's \
                 wsgi-express ({why}); see docs/wsgi-express.md"
            ))
        }
        None => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::{CommandFactory as _, Parser as _};

    fn explained(args: &[&str]) -> Result<String, String> {
        let argv = ["wsgi-express"].iter().chain(args);
        let e = Cli::try_parse_from(argv).unwrap_err();
        explain(e).map_err(|e| e.to_string())
    }

    #[test]
    fn a_known_unsupported_option_is_named_as_such() {
        let e = explained(&["start-server", "app.wsgi", "--http2"]).unwrap();
        assert!(
            e.contains("--http2 is not supported by mod_wsgi-rs's wsgi-express"),
            "{e}"
        );
        let e = explained(&["--with-cgi", "app.wsgi"]).unwrap();
        assert!(e.contains("--with-cgi is not supported"), "{e}");
        let e = explained(&["start-server", "--telemetry-interval=2", "a"]).unwrap();
        assert!(e.contains("--telemetry-interval is not supported"), "{e}");
    }

    #[test]
    fn an_unknown_option_stays_clap_s_error_naming_it() {
        let e = explained(&["start-server", "--bogus", "app.wsgi"]).unwrap_err();
        assert!(e.contains("--bogus"), "{e}");
    }

    #[test]
    fn no_unsupported_option_is_also_implemented() {
        let cmd = Cli::command();
        let start = cmd.find_subcommand("start-server").unwrap();
        for name in names() {
            let long = name.trim_start_matches("--");
            assert!(
                start.get_arguments().all(|a| a.get_long() != Some(long)
                    && !a.get_all_aliases().into_iter().flatten().any(|x| x == long)),
                "{name} is both implemented and listed as unsupported"
            );
        }
    }

    /// docs/wsgi-express.md lists every option, supported or not.
    #[test]
    fn the_documentation_lists_every_option() {
        let doc = include_str!("../../../docs/wsgi-express.md");
        let cmd = Cli::command();
        let start = cmd.find_subcommand("start-server").unwrap();
        let implemented = start
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .filter(|l| !matches!(*l, "help" | "version"))
            .map(|l| format!("--{l}"));
        for name in implemented.chain(names().map(str::to_string)) {
            assert!(
                doc.contains(&format!("`{name}`")) || doc.contains(&format!("`{name} ")),
                "docs/wsgi-express.md does not mention `{name}`"
            );
        }
    }
}
