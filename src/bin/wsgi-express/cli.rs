//! The command line: `--help`, the options and their checks. Nothing here
//! looks at the file system; paths are resolved later (see `app` and
//! `locate`).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

const DEFAULT_PORT: u16 = 8000;
const DEFAULT_HOST: &str = "127.0.0.1";

const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

pub(super) const USAGE: &str = "\
Usage: wsgi-express [options] APP

Serve one Python WSGI application with Apache httpd and mod_wsgi-rs.

APP is either a WSGI script (e.g. app.wsgi or app.py, whose module defines
`application`, see --callable-object) or MODULE:CALLABLE (e.g. myproject.wsgi:app),
importable from the current directory or a --python-path directory.

Options:
  --port N               TCP port to listen on (default 8000)
  --host ADDR            address to listen on (default 127.0.0.1; 0.0.0.0 = all interfaces)
  --processes N          Apache child processes (default 1)
  --threads N            threads per process (default 5; ignored by --mpm prefork)
  --mpm event|worker|prefork
                         Apache multi-processing module (default event)
  --server-root DIR      where httpd.conf, logs and the pid file go
                         (default /tmp/wsgi-express-PORT-UID)
  --mount-point PATH     URL path the application is mounted at (default /)
  --callable-object NAME name of the WSGI callable in a script (default application)
  --application-group G  Python interpreter: %{GLOBAL} (default, the main
                         interpreter), %{RESOURCE}, %{SERVER}, %{HOST} or a name
  --python-home DIR      virtual environment (or Python prefix) to use; defaults to
                         $VIRTUAL_ENV when a matching Python 3.x venv is active
  --python-path DIR      add DIR to sys.path (repeatable)
  --log-level LEVEL      Apache LogLevel (default info); the error log goes to stderr
  --access-log           write an access log (combined format) to stdout
  --disable-reloading    do not reload the script when it changes (WSGIScriptReloading Off)
  --user NAME            user the Apache children run as when started as root
                         (default www-data)
  --group NAME           their group (default: the user's primary group)
  --module PATH          the mod_wsgi-rs module (default: libmod_wsgi_rs.so next to
                         this program, else $(apxs -q LIBEXECDIR)/mod_wsgi_rs.so)
  --apache-binary PATH   httpd to run (default apache2 from PATH, else /usr/sbin/apache2)
  --setup-only           write the configuration, print the command to start it, exit
  -h, --help             show this help
  -V, --version          show the version

`wsgi-express start-server ...` and `wsgi-express setup-server ...` (= --setup-only)
are accepted for mod_wsgi-express compatibility.
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mpm {
    Event,
    Worker,
    Prefork,
}

impl Mpm {
    fn parse(s: &str) -> Option<Mpm> {
        match s {
            "event" => Some(Mpm::Event),
            "worker" => Some(Mpm::Worker),
            "prefork" => Some(Mpm::Prefork),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        }
    }
}

/// The command line, checked but not yet resolved against the file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Options {
    pub(super) app: String,
    pub(super) port: u16,
    pub(super) host: String,
    pub(super) processes: u32,
    pub(super) threads: u32,
    pub(super) mpm: Mpm,
    pub(super) server_root: Option<PathBuf>,
    pub(super) mount_point: String,
    pub(super) callable_object: String,
    pub(super) application_group: String,
    pub(super) python_home: Option<PathBuf>,
    pub(super) python_path: Vec<PathBuf>,
    pub(super) log_level: String,
    pub(super) access_log: bool,
    pub(super) reloading: bool,
    pub(super) user: Option<String>,
    pub(super) group: Option<String>,
    pub(super) module: Option<PathBuf>,
    pub(super) apache_binary: Option<PathBuf>,
    pub(super) setup_only: bool,
}

impl Options {
    fn new(app: String) -> Options {
        Options {
            app,
            port: DEFAULT_PORT,
            host: DEFAULT_HOST.into(),
            processes: 1,
            threads: 5,
            mpm: Mpm::Event,
            server_root: None,
            mount_point: "/".into(),
            callable_object: "application".into(),
            application_group: "%{GLOBAL}".into(),
            python_home: None,
            python_path: Vec::new(),
            log_level: "info".into(),
            access_log: false,
            reloading: true,
            user: None,
            group: None,
            module: None,
            apache_binary: None,
            setup_only: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Cli {
    Help,
    Version,
    Serve(Box<Options>),
}

fn parse_number<T: std::str::FromStr + PartialOrd>(
    opt: &str,
    value: &str,
    min: T,
    max: T,
) -> Result<T> {
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => bail!("{opt} must be a whole number in range, not '{value}'"),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// A Python module path or attribute path: `pkg.mod`, `app.wsgi_app`.
pub(super) fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

/// Parses the arguments after the program name.
pub(super) fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli> {
    let mut args = args.into_iter().peekable();
    let mut o = Options::new(String::new());
    let mut app: Option<String> = None;
    let mut first = true;
    let mut only_positional = false;
    while let Some(arg) = args.next() {
        let was_first = std::mem::replace(&mut first, false);
        if only_positional || !arg.starts_with('-') || arg == "-" {
            if was_first && !only_positional && (arg == "start-server" || arg == "setup-server") {
                o.setup_only |= arg == "setup-server";
                continue;
            }
            if let Some(prev) = &app {
                bail!("only one application may be given (got '{prev}' and '{arg}')");
            }
            app = Some(arg);
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let flag: Option<fn(&mut Options)> = match name.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "-V" | "--version" => return Ok(Cli::Version),
            "--access-log" => Some(|o| o.access_log = true),
            "--disable-reloading" => Some(|o| o.reloading = false),
            "--setup-only" => Some(|o| o.setup_only = true),
            // Earlier versions could keep root's capabilities in the
            // children; they never do now, so this is always the case.
            "--no-keep-caps" => Some(|_| {}),
            _ => None,
        };
        if let Some(set) = flag {
            if inline.is_some() {
                bail!("{name} takes no value");
            }
            set(&mut o);
            continue;
        }
        let takes_value = [
            "--port",
            "--host",
            "--processes",
            "--threads",
            "--mpm",
            "--server-mpm",
            "--server-root",
            "--mount-point",
            "--callable-object",
            "--application-group",
            "--python-home",
            "--python-path",
            "--log-level",
            "--user",
            "--group",
            "--module",
            "--apache-binary",
        ];
        if !takes_value.contains(&name.as_str()) {
            bail!("unknown option '{name}' (see wsgi-express --help)");
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .with_context(|| format!("{name} needs a value"))?,
        };
        if value.is_empty() {
            bail!("{name} needs a non-empty value");
        }
        match name.as_str() {
            "--port" => o.port = parse_number(&name, &value, 1u16, u16::MAX)?,
            "--host" => {
                if value.contains(|c: char| c.is_whitespace() || "\"'/[]".contains(c)) {
                    bail!("--host must be an IP address or host name, not '{value}'");
                }
                o.host = value;
            }
            "--processes" => o.processes = parse_number(&name, &value, 1u32, 1000)?,
            "--threads" => o.threads = parse_number(&name, &value, 1u32, 1000)?,
            "--mpm" | "--server-mpm" => {
                o.mpm = Mpm::parse(&value).with_context(|| {
                    format!("{name} must be event, worker or prefork, not '{value}'")
                })?
            }
            "--server-root" => o.server_root = Some(PathBuf::from(value)),
            "--mount-point" => {
                if !value.starts_with('/') {
                    bail!("--mount-point must start with '/', not '{value}'");
                }
                let trimmed = value.trim_end_matches('/');
                o.mount_point = if trimmed.is_empty() {
                    "/".into()
                } else {
                    trimmed.into()
                };
            }
            "--callable-object" => {
                if !is_identifier(&value) {
                    bail!("--callable-object must be a Python identifier, not '{value}'");
                }
                o.callable_object = value;
            }
            "--application-group" => {
                check_application_group(&value)?;
                o.application_group = value;
            }
            "--python-home" => o.python_home = Some(PathBuf::from(value)),
            "--python-path" => o.python_path.push(PathBuf::from(value)),
            "--log-level" => {
                if !LOG_LEVELS.contains(&value.as_str()) {
                    bail!(
                        "--log-level must be one of {}, not '{value}'",
                        LOG_LEVELS.join(", ")
                    );
                }
                o.log_level = value;
            }
            "--user" => o.user = Some(value),
            "--group" => o.group = Some(value),
            "--module" => o.module = Some(PathBuf::from(value)),
            "--apache-binary" => o.apache_binary = Some(PathBuf::from(value)),
            _ => unreachable!("checked against takes_value"),
        }
    }
    o.app = app.context("no application given")?;
    Ok(Cli::Serve(Box::new(o)))
}

/// The values `WSGIScriptAlias application-group=` accepts without quoting.
fn check_application_group(g: &str) -> Result<()> {
    if let Some(inner) = g.strip_prefix("%{").and_then(|r| r.strip_suffix('}')) {
        let ok = matches!(inner, "GLOBAL" | "RESOURCE" | "SERVER" | "HOST")
            || inner.strip_prefix("ENV:").is_some_and(|v| !v.is_empty());
        if ok {
            return Ok(());
        }
    } else if !g.contains("%{")
        && !g
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'\\$".contains(c))
    {
        return Ok(());
    }
    bail!(
        "--application-group must be %{{GLOBAL}}, %{{RESOURCE}}, %{{SERVER}}, %{{HOST}}, \
         %{{ENV:VAR}} or a plain name, not '{g}'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn serve(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Cli::Serve(o)) => *o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = serve(&["app.wsgi"]);
        assert_eq!(o, Options::new("app.wsgi".into()));
        assert_eq!(o.port, 8000);
        assert_eq!(o.host, "127.0.0.1");
        assert_eq!((o.processes, o.threads), (1, 5));
        assert_eq!(o.mpm, Mpm::Event);
        assert_eq!(o.application_group, "%{GLOBAL}");
        assert!(o.reloading && !o.access_log && !o.setup_only);
    }

    #[test]
    fn options_with_separate_and_inline_values() {
        let o = serve(&[
            "--port",
            "9000",
            "--host=0.0.0.0",
            "--processes",
            "3",
            "--threads=7",
            "--mpm",
            "worker",
            "--server-root",
            "/tmp/x",
            "--mount-point",
            "/app/",
            "--callable-object",
            "app",
            "--python-home",
            "/venv",
            "--python-path",
            "/a",
            "--python-path=/b",
            "--application-group",
            "%{RESOURCE}",
            "--log-level",
            "debug",
            "--access-log",
            "--disable-reloading",
            "--user",
            "nobody",
            "--group",
            "nogroup",
            "--module",
            "/m.so",
            "--apache-binary",
            "/usr/sbin/httpd",
            "--setup-only",
            "--no-keep-caps",
            "mod:app",
        ]);
        assert_eq!(o.app, "mod:app");
        assert_eq!((o.port, o.host.as_str()), (9000, "0.0.0.0"));
        assert_eq!((o.processes, o.threads, o.mpm), (3, 7, Mpm::Worker));
        assert_eq!(o.server_root, Some(PathBuf::from("/tmp/x")));
        assert_eq!(o.mount_point, "/app");
        assert_eq!(o.callable_object, "app");
        assert_eq!(o.python_home, Some(PathBuf::from("/venv")));
        assert_eq!(
            o.python_path,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(o.application_group, "%{RESOURCE}");
        assert_eq!(o.log_level, "debug");
        assert!(o.access_log && !o.reloading && o.setup_only);
        assert_eq!(o.user.as_deref(), Some("nobody"));
        assert_eq!(o.group.as_deref(), Some("nogroup"));
        assert_eq!(o.module, Some(PathBuf::from("/m.so")));
        assert_eq!(o.apache_binary, Some(PathBuf::from("/usr/sbin/httpd")));
    }

    #[test]
    fn help_version_and_subcommands() {
        assert_eq!(parse(&["--help"]).unwrap(), Cli::Help);
        assert_eq!(parse(&["app.wsgi", "-h"]).unwrap(), Cli::Help);
        assert_eq!(parse(&["-V"]).unwrap(), Cli::Version);
        assert!(!serve(&["start-server", "a.wsgi"]).setup_only);
        assert!(serve(&["setup-server", "a.wsgi"]).setup_only);
        assert_eq!(serve(&["--", "-odd.wsgi"]).app, "-odd.wsgi");
        assert_eq!(serve(&["--mount-point", "//", "a"]).mount_point, "/");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let err = |args: &[&str]| format!("{:#}", parse(args).unwrap_err());
        assert!(err(&[]).contains("no application given"));
        assert!(err(&["a.wsgi", "b.wsgi"]).contains("only one application"));
        assert!(err(&["--bogus", "a.wsgi"]).contains("unknown option '--bogus'"));
        assert!(err(&["a.wsgi", "--port"]).contains("--port needs a value"));
        assert!(err(&["--port", "0", "a"]).contains("--port must be"));
        assert!(err(&["--port", "70000", "a"]).contains("--port must be"));
        assert!(err(&["--threads", "0", "a"]).contains("--threads"));
        assert!(err(&["--processes", "x", "a"]).contains("--processes"));
        assert!(err(&["--mpm", "fast", "a"]).contains("event, worker or prefork"));
        assert!(err(&["--mount-point", "app", "a"]).contains("must start with '/'"));
        assert!(err(&["--log-level", "loud", "a"]).contains("--log-level must be one of"));
        assert!(err(&["--callable-object", "a-b", "a"]).contains("identifier"));
        assert!(err(&["--application-group", "%{GLOBL}", "a"]).contains("--application-group"));
        assert!(err(&["--application-group", "two words", "a"]).contains("--application-group"));
        assert!(err(&["--access-log=yes", "a"]).contains("takes no value"));
        assert!(err(&["--setup-only=1", "a"]).contains("--setup-only takes no value"));
        assert!(err(&["--host", "a b", "a"]).contains("--host"));
        assert!(err(&["--port", "", "a"]).contains("non-empty"));
    }

    #[test]
    fn application_groups() {
        for ok in [
            "%{GLOBAL}",
            "%{RESOURCE}",
            "%{SERVER}",
            "%{HOST}",
            "%{ENV:X}",
            "myapp",
        ] {
            assert!(check_application_group(ok).is_ok(), "{ok}");
        }
        for bad in ["%{ENV:}", "%{GLOBAL", "x%{GLOBAL}", "a\"b", "${X}"] {
            assert!(check_application_group(bad).is_err(), "{bad}");
        }
    }
}
