//! `wsgi-express`: serve one WSGI application with Apache httpd and
//! mod_wsgi-rs, without writing any Apache configuration.
//!
//! It writes a self-contained `httpd.conf` (plus, for `module:callable`
//! applications, a small `handler.wsgi`) into a private server root and then
//! replaces itself with `apache2 -f <conf> -DFOREGROUND`, so Ctrl-C and
//! SIGTERM reach Apache directly. Unlike mod_wsgi-express it runs the
//! application embedded in the Apache children (daemon mode is not available
//! yet in mod_wsgi-rs), and it listens on 127.0.0.1 unless `--host` says
//! otherwise.
//!
//! The pure parts (argument parsing, application classification, rendering the
//! configuration) are plain functions with unit tests at the end of this file;
//! the rest (finding Apache and the module, the server root, the permission
//! check, exec) is a thin layer around them.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use mod_wsgi_rs::os as sys;

const DEFAULT_PORT: u16 = 8000;
const DEFAULT_HOST: &str = "127.0.0.1";
const DEFAULT_USER: &str = "www-data";
/// Debian's directory of httpd modules (MPMs, authz_core, mime, ...).
const DEBIAN_MODULES: &str = "/usr/lib/apache2/modules";
/// The Python the module was built against ("3.11"), from build.rs.
const PYTHON_VERSION: &str = env!("WSGI_PYTHON_VERSION");

const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

const USAGE: &str = "\
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
enum Mpm {
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
    fn name(self) -> &'static str {
        match self {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        }
    }
}

/// The command line, checked but not yet resolved against the file system.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Options {
    app: String,
    port: u16,
    host: String,
    processes: u32,
    threads: u32,
    mpm: Mpm,
    server_root: Option<PathBuf>,
    mount_point: String,
    callable_object: String,
    application_group: String,
    python_home: Option<PathBuf>,
    python_path: Vec<PathBuf>,
    log_level: String,
    access_log: bool,
    reloading: bool,
    user: Option<String>,
    group: Option<String>,
    module: Option<PathBuf>,
    apache_binary: Option<PathBuf>,
    setup_only: bool,
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
enum Cli {
    Help,
    Version,
    Serve(Box<Options>),
}

fn parse_number<T: std::str::FromStr + PartialOrd>(
    opt: &str,
    value: &str,
    min: T,
    max: T,
) -> Result<T, String> {
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!(
            "{opt} must be a whole number in range, not '{value}'"
        )),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

/// Parses the arguments after the program name.
fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
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
                return Err(format!(
                    "only one application may be given (got '{prev}' and '{arg}')"
                ));
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
        let flag = |inline: &Option<String>| -> Result<(), String> {
            match inline {
                Some(_) => Err(format!("{name} takes no value")),
                None => Ok(()),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "-V" | "--version" => return Ok(Cli::Version),
            "--access-log" => {
                flag(&inline)?;
                o.access_log = true;
                continue;
            }
            "--disable-reloading" => {
                flag(&inline)?;
                o.reloading = false;
                continue;
            }
            "--setup-only" => {
                flag(&inline)?;
                o.setup_only = true;
                continue;
            }
            "--no-keep-caps" => {
                // Earlier versions could keep root's capabilities in the
                // children; they never do now, so this is always the case.
                flag(&inline)?;
                continue;
            }
            _ => {}
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
            return Err(format!("unknown option '{name}' (see wsgi-express --help)"));
        }
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("{name} needs a value"))?,
        };
        if value.is_empty() {
            return Err(format!("{name} needs a non-empty value"));
        }
        match name.as_str() {
            "--port" => o.port = parse_number(&name, &value, 1u16, u16::MAX)?,
            "--host" => {
                if value.contains(|c: char| c.is_whitespace() || "\"'/[]".contains(c)) {
                    return Err(format!(
                        "--host must be an IP address or host name, not '{value}'"
                    ));
                }
                o.host = value;
            }
            "--processes" => o.processes = parse_number(&name, &value, 1u32, 1000)?,
            "--threads" => o.threads = parse_number(&name, &value, 1u32, 1000)?,
            "--mpm" | "--server-mpm" => {
                o.mpm = Mpm::parse(&value).ok_or_else(|| {
                    format!("{name} must be event, worker or prefork, not '{value}'")
                })?
            }
            "--server-root" => o.server_root = Some(PathBuf::from(value)),
            "--mount-point" => {
                if !value.starts_with('/') {
                    return Err(format!("--mount-point must start with '/', not '{value}'"));
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
                    return Err(format!(
                        "--callable-object must be a Python identifier, not '{value}'"
                    ));
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
                    return Err(format!(
                        "--log-level must be one of {}, not '{value}'",
                        LOG_LEVELS.join(", ")
                    ));
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
    o.app = app.ok_or("no application given")?;
    Ok(Cli::Serve(Box::new(o)))
}

fn check_application_group(g: &str) -> Result<(), String> {
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
    Err(format!(
        "--application-group must be %{{GLOBAL}}, %{{RESOURCE}}, %{{SERVER}}, %{{HOST}}, \
         %{{ENV:VAR}} or a plain name, not '{g}'"
    ))
}

/// What APP names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AppSpec {
    /// A WSGI script file (as given, not yet made absolute).
    Script(PathBuf),
    /// `module:callable`; the callable may be dotted (`app.wsgi_app`).
    Module { module: String, callable: String },
}

/// Decides whether APP is a script or `module:callable`. An existing file is
/// always a script; a `.wsgi`/`.py` name or a path with `/` is a (missing)
/// script; otherwise `module:callable` or a bare module (using `callable`).
fn classify_app(app: &str, callable: &str, is_file: bool) -> Result<AppSpec, String> {
    if is_file {
        return Ok(AppSpec::Script(PathBuf::from(app)));
    }
    if let Some((module, attr)) = app.split_once(':')
        && is_dotted_identifier(module)
        && is_dotted_identifier(attr)
    {
        return Ok(AppSpec::Module {
            module: module.into(),
            callable: attr.into(),
        });
    }
    if app.ends_with(".wsgi") || app.ends_with(".py") || app.contains('/') {
        return Err(format!(
            "the WSGI script '{app}' does not exist or is not a file"
        ));
    }
    if is_dotted_identifier(app) {
        return Ok(AppSpec::Module {
            module: app.into(),
            callable: callable.into(),
        });
    }
    Err(format!(
        "'{app}' is neither a WSGI script file nor MODULE:CALLABLE (e.g. myapp:application)"
    ))
}

/// The generated script for `module:callable` applications.
fn render_handler(module: &str, callable: &str) -> String {
    format!(
        "# Generated by wsgi-express: serves {module}:{callable}. Do not edit; it is\n\
         # rewritten on every start.\n\
         import importlib\n\
         \n\
         application = importlib.import_module({module:?})\n\
         for _name in {callable:?}.split('.'):\n    \
             application = getattr(application, _name)\n\
         del _name\n"
    )
}

/// Everything the configuration needs, resolved to absolute paths.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    server_root: PathBuf,
    host: String,
    port: u16,
    modules_dir: PathBuf,
    module_so: PathBuf,
    mpm: Mpm,
    processes: u32,
    threads: u32,
    log_level: String,
    /// Where the error log goes (normally /dev/stderr).
    error_log: PathBuf,
    /// Where the access log goes, if one is kept (normally /dev/stdout).
    access_log: Option<PathBuf>,
    /// `(user, group)` for `User`/`Group` (only when started as root).
    run_as: Option<(String, String)>,
    /// The script WSGIScriptAlias points at (the app's, or handler.wsgi).
    script: PathBuf,
    mount_point: String,
    application_group: String,
    callable_object: String,
    python_home: Option<PathBuf>,
    python_path: Vec<PathBuf>,
    reloading: bool,
    /// `TypesConfig` for mod_mime (None: mod_mime is not loaded).
    mime_types: Option<PathBuf>,
}

/// A path as a double-quoted Apache configuration word. Paths that httpd's
/// parser would mangle (quotes, backslashes, `${` variables, control
/// characters) are refused rather than escaped.
fn quote(path: &Path) -> Result<String, String> {
    let s = path
        .to_str()
        .ok_or_else(|| format!("'{}' is not valid UTF-8", path.display()))?;
    if s.contains(['"', '\\']) || s.contains("${") || s.chars().any(char::is_control) {
        return Err(format!(
            "the path '{s}' contains characters (quotes, backslashes, '${{', control characters) \
             that cannot be written into an Apache configuration"
        ));
    }
    Ok(format!("\"{s}\""))
}

/// `Listen` argument: IPv6 addresses in brackets.
fn listen_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The URL a person opens (wildcard addresses shown as localhost).
fn url(host: &str, port: u16, mount: &str) -> String {
    let shown = match host {
        "0.0.0.0" | "::" | "*" => "localhost".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    let path = if mount == "/" {
        "/".to_string()
    } else {
        format!("{mount}/")
    };
    format!("http://{shown}:{port}{path}")
}

/// MPM sizing for `processes` children of `threads` threads each.
fn mpm_sizing(mpm: Mpm, processes: u32, threads: u32) -> String {
    let n = processes;
    match mpm {
        Mpm::Prefork => format!(
            "StartServers {n}\nMinSpareServers {n}\nMaxSpareServers {n}\nServerLimit {n}\n\
             MaxRequestWorkers {n}\n"
        ),
        Mpm::Event | Mpm::Worker => format!(
            "StartServers {n}\nServerLimit {limit}\nThreadsPerChild {threads}\n\
             ThreadLimit {threads}\nMaxRequestWorkers {max}\nMinSpareThreads {threads}\n\
             MaxSpareThreads {spare}\n",
            // Room for old children finishing their requests during a restart.
            limit = n * 2,
            max = n * threads,
            // httpd raises it to at least MinSpareThreads + ThreadsPerChild.
            spare = (n + 1) * threads,
        ),
    }
}

fn render_config(p: &Plan) -> Result<String, String> {
    let root = &p.server_root;
    let q = |path: &Path| quote(path);
    let modules = |name: &str| q(&p.modules_dir.join(format!("mod_{name}.so")));
    let mut c = String::new();
    let script_dir = p
        .script
        .parent()
        .ok_or("the script path has no directory")?;
    let _ = writeln!(
        c,
        "# Generated by wsgi-express {}; rewritten on every start.",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(c, "ServerRoot {}", q(root)?);
    let server_name = match p.host.as_str() {
        "0.0.0.0" | "::" | "*" => "localhost".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    let _ = writeln!(c, "ServerName {server_name}");
    let _ = writeln!(c, "Listen {}", listen_address(&p.host, p.port));
    let _ = writeln!(c, "ListenBacklog 500");
    let _ = writeln!(c, "PidFile {}", q(&root.join("httpd.pid"))?);
    let _ = writeln!(c, "DefaultRuntimeDir {}", q(root)?);
    let _ = writeln!(
        c,
        "Mutex {} default",
        q(Path::new(&format!("file:{}", root.display())))?
    );
    let _ = writeln!(c, "ErrorLog {}", q(&p.error_log)?);
    let _ = writeln!(c, "LogLevel {}", p.log_level);
    let _ = writeln!(c, "Timeout 60\nKeepAlive On\nKeepAliveTimeout 2");
    let _ = writeln!(
        c,
        "\nLoadModule mpm_{m}_module {}",
        modules(&format!("mpm_{}", p.mpm.name()))?,
        m = p.mpm.name()
    );
    c.push_str(&mpm_sizing(p.mpm, p.processes, p.threads));
    let _ = writeln!(c, "LoadModule authz_core_module {}", modules("authz_core")?);
    if let Some(types) = &p.mime_types {
        let _ = writeln!(c, "LoadModule mime_module {}", modules("mime")?);
        let _ = writeln!(c, "TypesConfig {}", q(types)?);
    }
    // Debian builds these two into httpd; elsewhere they are modules.
    let _ = writeln!(
        c,
        "<IfModule !unixd_module>\n  LoadModule unixd_module {}\n</IfModule>",
        modules("unixd")?
    );
    if let Some(access_log) = &p.access_log {
        let _ = writeln!(
            c,
            "<IfModule !log_config_module>\n  LoadModule log_config_module {}\n</IfModule>",
            modules("log_config")?
        );
        c.push_str(
            "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\"\" combined\n",
        );
        let _ = writeln!(c, "CustomLog {} combined", q(access_log)?);
    }
    if let Some((user, group)) = &p.run_as {
        let _ = writeln!(c, "User {user}\nGroup {group}");
    }
    let _ = writeln!(c, "LoadModule wsgi_module {}", q(&p.module_so)?);

    let _ = writeln!(
        c,
        "\n<Directory />\n  AllowOverride None\n  Require all denied\n</Directory>"
    );
    let htdocs = root.join("htdocs");
    let _ = writeln!(c, "DocumentRoot {}", q(&htdocs)?);
    for dir in [htdocs.as_path(), script_dir] {
        let _ = writeln!(
            c,
            "<Directory {}>\n  Require all granted\n</Directory>",
            q(dir)?
        );
    }

    c.push('\n');
    if let Some(home) = &p.python_home {
        let _ = writeln!(c, "WSGIPythonHome {}", q(home)?);
    }
    if !p.python_path.is_empty() {
        let mut joined = Vec::new();
        for dir in &p.python_path {
            let s = dir.to_string_lossy();
            if s.contains(':') {
                return Err(format!(
                    "the Python path entry '{s}' contains ':', which separates WSGIPythonPath entries"
                ));
            }
            joined.push(s.into_owned());
        }
        let _ = writeln!(c, "WSGIPythonPath {}", q(Path::new(&joined.join(":")))?);
    }
    // As mod_wsgi-express: applications see the Authorization header.
    c.push_str("WSGIPassAuthorization On\n");
    if !p.reloading {
        c.push_str("WSGIScriptReloading Off\n");
    }
    let _ = writeln!(
        c,
        "WSGIScriptAlias {} {} process-group=%{{GLOBAL}} application-group={} callable-object={}",
        q(Path::new(&p.mount_point))?,
        q(&p.script)?,
        p.application_group,
        p.callable_object
    );
    Ok(c)
}

/// Checks that `home` is a Python prefix or venv for the module's Python
/// (the same check `WSGIPythonHome` gets at configtest).
fn check_python_home(home: &Path) -> Result<(), String> {
    mod_wsgi_rs::config::python_home::check(&home.display().to_string(), PYTHON_VERSION)
}

/// `/dev/stderr` or `/dev/stdout` when httpd (running as us) can reopen it,
/// else `fallback`: a terminal, file or pipe can be reopened, a socket (as
/// under systemd) or a file we may not write cannot.
fn log_target(dev: &str, fallback: &Path) -> PathBuf {
    match fs::OpenOptions::new().append(true).open(dev) {
        Ok(_) => PathBuf::from(dev),
        Err(e) => {
            warn(&format!(
                "cannot reopen {dev} ({e}); logging to {} instead",
                fallback.display()
            ));
            fallback.to_path_buf()
        }
    }
}

fn warn(msg: &str) {
    eprintln!("wsgi-express: warning: {msg}");
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn is_root() -> bool {
    sys::is_root()
}

fn uid() -> u32 {
    sys::uid()
}

fn apxs_libexecdir() -> Option<PathBuf> {
    let out = Command::new("apxs")
        .args(["-q", "LIBEXECDIR"])
        .output()
        .ok()?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// httpd's module directory (for the MPM, authz_core, ...).
fn modules_dir(mpm: Mpm) -> Result<PathBuf, String> {
    let has_mpm = |d: &Path| d.join(format!("mod_mpm_{}.so", mpm.name())).is_file();
    let debian = PathBuf::from(DEBIAN_MODULES);
    if has_mpm(&debian) {
        return Ok(debian);
    }
    if let Some(d) = apxs_libexecdir()
        && has_mpm(&d)
    {
        return Ok(d);
    }
    Err(format!(
        "cannot find httpd's modules (mod_mpm_{}.so) in {DEBIAN_MODULES} or $(apxs -q LIBEXECDIR); \
         install Apache (apt-get install apache2 apache2-dev)",
        mpm.name()
    ))
}

/// The mod_wsgi-rs module: --module, else next to this program, else apxs's dir.
fn find_module(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return if p.is_file() {
            absolute(p)
        } else {
            Err(format!("--module {}: no such file", p.display()))
        };
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    let beside = exe_dir.as_ref().map(|d| d.join("libmod_wsgi_rs.so"));
    // In a cargo target directory, `cargo run`/`cargo test` refresh deps/ but
    // only `cargo build` refreshes the copy beside the binary: take the newer.
    let newest = exe_dir
        .iter()
        .flat_map(|d| {
            [
                d.join("libmod_wsgi_rs.so"),
                d.join("deps/libmod_wsgi_rs.so"),
            ]
        })
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max();
    if let Some((_, p)) = newest {
        return Ok(p);
    }
    let installed = apxs_libexecdir()
        .unwrap_or_else(|| PathBuf::from(DEBIAN_MODULES))
        .join("mod_wsgi_rs.so");
    if installed.is_file() {
        return Ok(installed);
    }
    Err(format!(
        "cannot find the mod_wsgi-rs module: neither {} nor {} exists. Build it with \
         `cargo build --release` (it is target/release/libmod_wsgi_rs.so), install it, or pass --module PATH",
        beside.map_or_else(
            || "libmod_wsgi_rs.so next to wsgi-express".to_string(),
            |p| p.display().to_string()
        ),
        installed.display()
    ))
}

fn find_apache(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("apache2");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let sbin = PathBuf::from("/usr/sbin/apache2");
    if sbin.is_file() {
        return Ok(sbin);
    }
    Err(
        "cannot find apache2 in PATH or /usr/sbin; install it (apt-get install apache2) or pass \
         --apache-binary PATH"
            .into(),
    )
}

/// Creates (or re-uses) the server root: a real directory we own, mode 755.
/// Makes (or reuses) the server root. The default path is predictable
/// (`/tmp/wsgi-express-PORT-UID`), so it must be a real directory of ours
/// that nobody else can write, checked with `lstat` after it is made; it is
/// never followed through a symbolic link.
fn prepare_server_root(root: &Path) -> Result<PathBuf, String> {
    own_directory(root, "the server root")?;
    let root = absolute(root)?;
    own_directory(&root.join("htdocs"), "the server root's htdocs")?;
    Ok(root)
}

/// `dir` exists afterwards as a directory (not a symlink) owned by this user,
/// mode 0755: Apache's children only need to enter it.
fn own_directory(dir: &Path, what: &str) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {what} {}: {e}", dir.display())),
    }
    let m = fs::symlink_metadata(dir).map_err(|e| format!("{what} {}: {e}", dir.display()))?;
    if !m.file_type().is_dir() {
        return Err(format!(
            "{what} {} exists and is not a directory (a symbolic link is not followed); \
             remove it or pass --server-root",
            dir.display()
        ));
    }
    if m.uid() != uid() {
        return Err(format!(
            "{what} {} belongs to another user (uid {}); remove it or pass --server-root",
            dir.display(),
            m.uid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        // Ours: tighten it rather than trust what others may have put in.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Writes a file of the server root afresh: any old file (or link) is
/// removed first, and the new one is created exclusively, never through a
/// symbolic link.
fn write_file(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot replace {}: {e}", path.display())),
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The user/group Apache's children run as, with their ids.
struct RunAs {
    user: String,
    group: String,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

fn lookup_user(user: &str, group: Option<&str>) -> Result<RunAs, String> {
    let pw = sys::user_by_name(user).ok_or_else(|| format!("no such user '{user}' (--user)"))?;
    let (gid, group) = match group {
        Some(g) => (
            sys::group_by_name(g).ok_or_else(|| format!("no such group '{g}' (--group)"))?,
            g.to_string(),
        ),
        None => (
            pw.gid,
            sys::group_name(pw.gid)
                .ok_or_else(|| format!("the primary group {} of '{user}' has no name", pw.gid))?,
        ),
    };
    // Apache calls initgroups(user, gid): the same supplementary groups.
    let groups =
        sys::group_list(user, gid).ok_or_else(|| format!("cannot list the groups of '{user}'"))?;
    Ok(RunAs {
        user: user.into(),
        group,
        uid: pw.uid,
        gid,
        groups,
    })
}

/// Which of `paths` (with the access mode each needs) `who` cannot use.
fn unusable_as(who: &RunAs, paths: &[(PathBuf, libc::c_int)]) -> Vec<PathBuf> {
    let asked: Vec<(&Path, libc::c_int)> = paths.iter().map(|(p, m)| (p.as_path(), *m)).collect();
    match sys::accessible_as(who.uid, who.gid, &who.groups, &asked) {
        Some(ok) => paths
            .iter()
            .zip(ok)
            .filter(|(_, ok)| !ok)
            .map(|((p, _), _)| p.clone())
            .collect(),
        None => Vec::new(),
    }
}

/// Every directory from `/` down to `dir` (each needs search permission).
fn ancestors_needing_search(dir: &Path) -> Vec<(PathBuf, libc::c_int)> {
    let mut v: Vec<(PathBuf, libc::c_int)> = dir
        .ancestors()
        .map(|d| (d.to_path_buf(), libc::X_OK))
        .collect();
    v.reverse();
    v
}

fn run() -> Result<ExitCode, String> {
    let cli = parse_args(std::env::args().skip(1))
        .map_err(|e| format!("{e}\nUsage: wsgi-express [options] APP (see wsgi-express --help)"))?;
    let o = match cli {
        Cli::Help => {
            print!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Cli::Version => {
            println!(
                "wsgi-express (mod_wsgi-rs) {} for Python {PYTHON_VERSION}",
                env!("CARGO_PKG_VERSION")
            );
            return Ok(ExitCode::SUCCESS);
        }
        Cli::Serve(o) => o,
    };
    let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    let spec = classify_app(&o.app, &o.callable_object, Path::new(&o.app).is_file())?;

    let apache = find_apache(o.apache_binary.as_deref())?;
    let module_so = find_module(o.module.as_deref())?;
    let modules_dir = modules_dir(o.mpm)?;

    let root = o
        .server_root
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("wsgi-express-{}-{}", o.port, uid())));
    let root = prepare_server_root(&root)?;

    let python_home = match &o.python_home {
        Some(h) => {
            let h = absolute(h).map_err(|e| format!("--python-home {e}"))?;
            check_python_home(&h).map_err(|e| format!("--python-home: {e}"))?;
            Some(h)
        }
        None => match std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            Some(venv) => {
                let venv = PathBuf::from(venv);
                match absolute(&venv).and_then(|h| check_python_home(&h).map(|()| h)) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        warn(&format!(
                            "not using the active virtual environment ($VIRTUAL_ENV): {e}"
                        ));
                        None
                    }
                }
            }
            None => None,
        },
    };

    let mut python_path = Vec::new();
    let mut need: Vec<(PathBuf, libc::c_int)> = Vec::new();
    let (script, callable_object, what) = match &spec {
        AppSpec::Script(p) => {
            let script = absolute(p)?;
            let dir = script.parent().unwrap_or(Path::new("/")).to_path_buf();
            // As mod_wsgi-express: modules beside the script are importable.
            python_path.push(dir.clone());
            need.extend(ancestors_needing_search(&dir));
            need.push((dir.clone(), libc::R_OK));
            need.push((script.clone(), libc::R_OK));
            let what = script.display().to_string();
            (script, o.callable_object.clone(), what)
        }
        AppSpec::Module { module, callable } => {
            let handler = root.join("handler.wsgi");
            write_file(&handler, &render_handler(module, callable))?;
            python_path.push(cwd.clone());
            need.extend(ancestors_needing_search(&cwd));
            need.push((cwd.clone(), libc::R_OK));
            need.extend(ancestors_needing_search(&root));
            need.push((handler.clone(), libc::R_OK));
            (
                handler,
                "application".to_string(),
                format!("{module}:{callable}"),
            )
        }
    };
    for p in &o.python_path {
        let p = absolute(p).map_err(|e| format!("--python-path {e}"))?;
        need.extend(ancestors_needing_search(&p));
        need.push((p.clone(), libc::R_OK));
        if !python_path.contains(&p) {
            python_path.push(p);
        }
    }
    if let Some(h) = &python_home {
        need.extend(ancestors_needing_search(h));
        need.push((h.join("lib"), libc::R_OK | libc::X_OK));
    }

    let run_as = if is_root() {
        let who = lookup_user(
            o.user.as_deref().unwrap_or(DEFAULT_USER),
            o.group.as_deref(),
        )?;
        need.dedup();
        let bad = unusable_as(&who, &need);
        if !bad.is_empty() {
            let mut shown: Vec<String> = Vec::new();
            for p in &bad {
                let p = p.display().to_string();
                if !shown.contains(&p) {
                    shown.push(p);
                }
            }
            let list = shown.join(", ");
            let fix = format!(
                "put the application (and venv) somewhere '{}' can read, e.g. under /srv or /opt, \
                 or pass --user with a user that can read it",
                who.user
            );
            // Never keep root's capabilities in processes that serve
            // requests: the fix is the file permissions.
            return Err(format!(
                "the Apache children run as '{}', which cannot read: {list}. To fix: {fix}.",
                who.user
            ));
        }
        Some((who.user, who.group))
    } else {
        if o.user.is_some() || o.group.is_some() {
            warn("--user/--group only apply when started as root; ignored");
        }
        None
    };

    let mime_types = modules_dir.join("mod_mime.so").is_file().then(|| {
        let etc = PathBuf::from("/etc/mime.types");
        if etc.is_file() {
            etc
        } else {
            PathBuf::from("/dev/null")
        }
    });
    let plan = Plan {
        server_root: root.clone(),
        host: o.host.clone(),
        port: o.port,
        modules_dir,
        module_so,
        mpm: o.mpm,
        processes: o.processes,
        threads: if o.mpm == Mpm::Prefork { 1 } else { o.threads },
        log_level: o.log_level.clone(),
        error_log: log_target("/dev/stderr", &root.join("error.log")),
        access_log: o
            .access_log
            .then(|| log_target("/dev/stdout", &root.join("access.log"))),
        run_as,
        script,
        mount_point: o.mount_point.clone(),
        application_group: o.application_group.clone(),
        callable_object,
        python_home,
        python_path,
        reloading: o.reloading,
        mime_types,
    };
    let conf = root.join("httpd.conf");
    write_file(&conf, &render_config(&plan)?)?;

    let mut cmd = Command::new(&apache);
    cmd.arg("-f").arg(&conf).arg("-DFOREGROUND");
    let shown = format!("{} -f {} -DFOREGROUND", apache.display(), conf.display());
    if o.setup_only {
        println!("wsgi-express: configuration written to {}", conf.display());
        println!("{shown}");
        return Ok(ExitCode::SUCCESS);
    }
    let sizing = match o.mpm {
        Mpm::Prefork => format!("{} process(es)", o.processes),
        _ => format!("{} process(es) x {} threads", o.processes, o.threads),
    };
    println!(
        "wsgi-express: serving {what} at {} ({} MPM, {sizing}; server root {}; Ctrl-C to stop)",
        url(&o.host, o.port, &o.mount_point),
        o.mpm.name(),
        root.display()
    );
    let _ = std::io::stdout().flush();
    let err = cmd.exec();
    Err(format!("cannot run {shown}: {err}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wsgi-express: error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
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
        assert_eq!(parse(&["--help"]), Ok(Cli::Help));
        assert_eq!(parse(&["app.wsgi", "-h"]), Ok(Cli::Help));
        assert_eq!(parse(&["-V"]), Ok(Cli::Version));
        assert!(!serve(&["start-server", "a.wsgi"]).setup_only);
        assert!(serve(&["setup-server", "a.wsgi"]).setup_only);
        assert_eq!(serve(&["--", "-odd.wsgi"]).app, "-odd.wsgi");
        assert_eq!(serve(&["--mount-point", "//", "a"]).mount_point, "/");
    }

    #[test]
    fn bad_arguments_are_explained() {
        let err = |args: &[&str]| parse(args).unwrap_err();
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

    #[test]
    fn classifying_the_application() {
        let script = |s: &str| AppSpec::Script(PathBuf::from(s));
        assert_eq!(classify_app("x:y", "application", true), Ok(script("x:y")));
        assert_eq!(
            classify_app("pkg.mod:app.wsgi_app", "application", false),
            Ok(AppSpec::Module {
                module: "pkg.mod".into(),
                callable: "app.wsgi_app".into()
            })
        );
        assert_eq!(
            classify_app("myapp", "app", false),
            Ok(AppSpec::Module {
                module: "myapp".into(),
                callable: "app".into()
            })
        );
        assert!(
            classify_app("missing.wsgi", "application", false)
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(classify_app("dir/app", "application", false).is_err());
        assert!(classify_app("1bad:app", "application", false).is_err());
        assert!(classify_app("mod:", "application", false).is_err());
    }

    #[test]
    fn handler_imports_the_callable() {
        let h = render_handler("pkg.mod", "app.wsgi_app");
        assert!(h.contains("importlib.import_module(\"pkg.mod\")"), "{h}");
        assert!(h.contains("\"app.wsgi_app\".split('.')"), "{h}");
        assert!(
            h.contains("application = getattr(application, _name)"),
            "{h}"
        );
    }

    fn plan() -> Plan {
        Plan {
            server_root: "/tmp/wsgi-express-8000-0".into(),
            host: "127.0.0.1".into(),
            port: 8000,
            modules_dir: DEBIAN_MODULES.into(),
            module_so: "/opt/m/libmod_wsgi_rs.so".into(),
            mpm: Mpm::Event,
            processes: 2,
            threads: 5,
            log_level: "info".into(),
            error_log: "/dev/stderr".into(),
            access_log: None,
            run_as: None,
            script: "/srv/app/hello.wsgi".into(),
            mount_point: "/".into(),
            application_group: "%{GLOBAL}".into(),
            callable_object: "application".into(),
            python_home: None,
            python_path: vec!["/srv/app".into()],
            reloading: true,
            mime_types: None,
        }
    }

    fn has_line(conf: &str, line: &str) -> bool {
        conf.lines().any(|l| l.trim() == line)
    }

    #[test]
    fn minimal_config() {
        let c = render_config(&plan()).unwrap();
        for line in [
            "ServerRoot \"/tmp/wsgi-express-8000-0\"",
            "ServerName 127.0.0.1",
            "Listen 127.0.0.1:8000",
            "PidFile \"/tmp/wsgi-express-8000-0/httpd.pid\"",
            "DefaultRuntimeDir \"/tmp/wsgi-express-8000-0\"",
            "Mutex \"file:/tmp/wsgi-express-8000-0\" default",
            "ErrorLog \"/dev/stderr\"",
            "LogLevel info",
            "LoadModule mpm_event_module \"/usr/lib/apache2/modules/mod_mpm_event.so\"",
            "LoadModule authz_core_module \"/usr/lib/apache2/modules/mod_authz_core.so\"",
            "LoadModule wsgi_module \"/opt/m/libmod_wsgi_rs.so\"",
            "StartServers 2",
            "ThreadsPerChild 5",
            "MaxRequestWorkers 10",
            "<Directory \"/srv/app\">",
            "DocumentRoot \"/tmp/wsgi-express-8000-0/htdocs\"",
            "WSGIPythonPath \"/srv/app\"",
            "WSGIPassAuthorization On",
            "WSGIScriptAlias \"/\" \"/srv/app/hello.wsgi\" process-group=%{GLOBAL} application-group=%{GLOBAL} callable-object=application",
        ] {
            assert!(has_line(&c, line), "missing `{line}` in\n{c}");
        }
        for absent in [
            "User",
            "CustomLog",
            "WSGIPythonHome",
            "WSGIScriptReloading",
            "mime_module",
        ] {
            assert!(!c.contains(absent), "unexpected {absent} in\n{c}");
        }
        // Access outside the application's directory is denied.
        assert!(
            c.contains("<Directory />\n  AllowOverride None\n  Require all denied\n</Directory>")
        );
    }

    #[test]
    fn full_config() {
        let mut p = plan();
        p.host = "::1".into();
        p.access_log = Some("/dev/stdout".into());
        p.error_log = "/tmp/r/error.log".into();
        p.run_as = Some(("www-data".into(), "www-data".into()));
        p.python_home = Some("/venv".into());
        p.python_path.push("/lib/extra".into());
        p.reloading = false;
        p.mount_point = "/app".into();
        p.callable_object = "app".into();
        p.application_group = "%{RESOURCE}".into();
        p.mime_types = Some("/etc/mime.types".into());
        p.mpm = Mpm::Prefork;
        p.processes = 3;
        let c = render_config(&p).unwrap();
        for line in [
            "Listen [::1]:8000",
            "ServerName [::1]",
            "User www-data",
            "Group www-data",
            "CustomLog \"/dev/stdout\" combined",
            "ErrorLog \"/tmp/r/error.log\"",
            "LoadModule log_config_module \"/usr/lib/apache2/modules/mod_log_config.so\"",
            "LoadModule mime_module \"/usr/lib/apache2/modules/mod_mime.so\"",
            "TypesConfig \"/etc/mime.types\"",
            "WSGIPythonHome \"/venv\"",
            "WSGIPythonPath \"/srv/app:/lib/extra\"",
            "WSGIScriptReloading Off",
            "LoadModule mpm_prefork_module \"/usr/lib/apache2/modules/mod_mpm_prefork.so\"",
            "StartServers 3",
            "MaxRequestWorkers 3",
            "WSGIScriptAlias \"/app\" \"/srv/app/hello.wsgi\" process-group=%{GLOBAL} application-group=%{RESOURCE} callable-object=app",
        ] {
            assert!(has_line(&c, line), "missing `{line}` in\n{c}");
        }
        assert!(!c.contains("ThreadsPerChild"));
    }

    #[test]
    fn unwritable_paths_are_refused() {
        let mut p = plan();
        p.script = "/srv/a\"b/app.wsgi".into();
        assert!(render_config(&p).unwrap_err().contains("cannot be written"));
        let mut p = plan();
        p.script = "/srv/${HOME}/app.wsgi".into();
        assert!(render_config(&p).is_err());
        let mut p = plan();
        p.python_path = vec!["/a:b".into()];
        assert!(render_config(&p).unwrap_err().contains("contains ':'"));
        assert_eq!(
            quote(Path::new("/with space/x")).unwrap(),
            "\"/with space/x\""
        );
    }

    #[test]
    fn sizing() {
        let s = mpm_sizing(Mpm::Worker, 2, 8);
        assert!(s.contains("ServerLimit 4\n") && s.contains("MaxRequestWorkers 16\n"));
        assert!(s.contains("MaxSpareThreads 24\n") && s.contains("ThreadLimit 8\n"));
        let s = mpm_sizing(Mpm::Prefork, 4, 9);
        assert!(s.contains("MaxRequestWorkers 4\n") && !s.contains("Thread"));
    }

    #[test]
    fn urls_and_listen_addresses() {
        assert_eq!(url("127.0.0.1", 8000, "/"), "http://127.0.0.1:8000/");
        assert_eq!(url("0.0.0.0", 80, "/app"), "http://localhost:80/app/");
        assert_eq!(url("::1", 8000, "/"), "http://[::1]:8000/");
        assert_eq!(listen_address("::", 8000), "[::]:8000");
        assert_eq!(listen_address("localhost", 1), "localhost:1");
    }

    #[test]
    fn ancestors_start_at_the_root() {
        let v = ancestors_needing_search(Path::new("/a/b"));
        let paths: Vec<_> = v.iter().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(paths, ["/", "/a", "/a/b"]);
    }
}
