//! The command line, as clap parses it: the subcommands and their options,
//! named and defaulted as mod_wsgi-express names and defaults them. Nothing
//! here looks at the file system; paths are resolved later (see `app`,
//! `locate` and `settings`). One concern, long because mod_wsgi-express has
//! over a hundred options, each declared here with its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// What `--version` prints after the program's name.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (mod_wsgi-rs) for Python ",
    env!("WSGI_PYTHON_VERSION")
);

const LOG_LEVELS: [&str; 16] = [
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2",
    "trace3", "trace4", "trace5", "trace6", "trace7", "trace8",
];

/// `wsgi-express [start-server] [OPTIONS] [APP]`: without a subcommand the
/// options are start-server's, as in earlier versions.
#[derive(Parser, Debug)]
#[command(
    name = "wsgi-express",
    version = VERSION,
    about = "Serve one Python WSGI application with Apache httpd and mod_wsgi-rs \
             (a replacement for mod_wsgi-express).",
    args_conflicts_with_subcommands = true,
    // As optparse in mod_wsgi-express: an option given again wins.
    args_override_self = true,
    after_help = "Without a subcommand, the options and APP are start-server's."
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Option<Command>,
    #[command(flatten)]
    pub(super) server: Box<ServerOptions>,
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
    /// Write the server root and run Apache in the foreground.
    #[command(args_override_self = true)]
    StartServer(Box<ServerOptions>),
    /// Write the server root (with an `apachectl` script to start, stop and
    /// restart Apache) and exit.
    #[command(args_override_self = true)]
    SetupServer(Box<ServerOptions>),
    /// Print the LoadModule and WSGIPythonHome lines for this module.
    ModuleConfig(ModuleOptions),
    /// Print where this module is.
    ModuleLocation(ModuleOptions),
    /// Copy this module into Apache's modules directory and print the lines
    /// that load it.
    InstallModule(InstallOptions),
}

#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ModuleOptions {
    /// The mod_wsgi-rs module (default: libmod_wsgi_rs.so next to this
    /// program, else $(apxs -q LIBEXECDIR)/mod_wsgi_rs.so).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) module: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub(super) struct InstallOptions {
    /// Apache's modules directory (default $(apxs -q LIBEXECDIR)).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) modules_directory: Option<PathBuf>,
    #[command(flatten)]
    pub(super) module: ModuleOptions,
}

fn positive(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number of at least 1")),
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("'{s}' is not a number from 0 to 1")),
    }
}

fn seconds_above_zero(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f.is_finite() => Ok(f),
        _ => Err(format!("'{s}' is not a number of seconds above 0")),
    }
}

fn log_level(s: &str) -> Result<String, String> {
    if LOG_LEVELS.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not one of {}", LOG_LEVELS.join(", ")))
    }
}

fn url_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("'{s}' does not start with '/'"));
    }
    let trimmed = s.trim_end_matches('/');
    Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_string())
}

fn identifier(s: &str) -> Result<String, String> {
    if is_identifier(s) {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a Python identifier"))
    }
}

fn host(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || "\"'/[]".contains(c)) {
        Err(format!("'{s}' is not an IP address or host name"))
    } else {
        Ok(s.to_string())
    }
}

/// Names Apache may see unquoted: a header, an environment variable, a user.
fn word(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"'\\$".contains(c))
    {
        Err(format!("'{s}' must be a single word without quotes"))
    } else {
        Ok(s.to_string())
    }
}

fn mpm(s: &str) -> Result<Mpm, String> {
    match s {
        "event" => Ok(Mpm::Event),
        "worker" => Ok(Mpm::Worker),
        "prefork" => Ok(Mpm::Prefork),
        _ => Err(format!("'{s}' is not event, worker or prefork")),
    }
}

fn map_head(s: &str) -> Result<String, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" => Ok("On".into()),
        "off" => Ok("Off".into()),
        "auto" => Ok("Auto".into()),
        _ => Err(format!("'{s}' is not On, Off or Auto")),
    }
}

fn auth_type(s: &str) -> Result<String, String> {
    match s.to_ascii_lowercase().as_str() {
        "basic" => Ok("Basic".into()),
        "digest" => Ok("Digest".into()),
        _ => Err(format!("'{s}' is not Basic or Digest")),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mpm {
    Event,
    Worker,
    Prefork,
}

impl Mpm {
    /// mod_wsgi-express's order of preference.
    pub(super) const ALL: [Mpm; 3] = [Mpm::Event, Mpm::Worker, Mpm::Prefork];

    pub(super) fn name(self) -> &'static str {
        match self {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        }
    }
}

/// start-server's and setup-server's options: mod_wsgi-express's names and
/// defaults, plus a few of our own (`--module`, `--python-home`,
/// `--memory-limit`, `--virtual-memory-limit`).
#[derive(Args, Debug, Clone, PartialEq)]
pub(super) struct ServerOptions {
    /// The application: a WSGI script file, or (with --application-type
    /// module, or written MODULE:CALLABLE) a Python module.
    #[arg(value_name = "APP")]
    pub(super) app: Option<String>,

    // ---- The application.
    /// What APP (or --entry-point) is: script or module.
    #[arg(long, value_name = "TYPE", default_value = "script")]
    pub(super) application_type: String,
    /// The application, as an option (takes precedence over APP).
    #[arg(long, value_name = "FILE-PATH|MODULE")]
    pub(super) entry_point: Option<String>,
    /// Name of the WSGI callable in the script or module.
    #[arg(long, value_name = "NAME", default_value = "application", value_parser = identifier)]
    pub(super) callable_object: String,
    /// URL path the application is mounted at.
    #[arg(long, value_name = "URL-PATH", default_value = "/", value_parser = url_path)]
    pub(super) mount_point: String,
    /// Python interpreter of the application: %{GLOBAL} (the main one) or a name.
    #[arg(long, value_name = "NAME", default_value = "%{GLOBAL}")]
    pub(super) application_group: String,
    /// Name of the daemon process group (default HOST:PORT).
    #[arg(long, value_name = "NAME", value_parser = word)]
    pub(super) process_group: Option<String>,
    /// Run the application in the Apache children instead of daemon processes.
    #[arg(long)]
    pub(super) embedded_mode: bool,
    /// Directory the application runs in, added to sys.path (default: the current one).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) working_directory: Option<PathBuf>,
    /// Virtual environment (or Python prefix) to use (default $VIRTUAL_ENV).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) python_home: Option<PathBuf>,
    /// Add a directory to sys.path (repeatable).
    #[arg(long = "python-path", value_name = "DIRECTORY-PATH")]
    pub(super) python_paths: Vec<PathBuf>,
    /// Directory for unpacking Python eggs (default SERVER-ROOT/python-eggs).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) python_eggs: Option<PathBuf>,
    /// Python warnings filter entry, as -W takes it (repeatable).
    #[arg(long, value_name = "SPEC", value_parser = word)]
    pub(super) python_warnings: Vec<String>,
    /// Python's GIL switch interval in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = seconds_above_zero)]
    pub(super) switch_interval: Option<f64>,
    /// Do not reload the application when its script changes.
    #[arg(long)]
    pub(super) disable_reloading: bool,
    /// Restart the daemon processes when any Python module they loaded changes.
    #[arg(long)]
    pub(super) reload_on_changes: bool,
    /// Do not destroy the Python interpreter when a process exits.
    #[arg(long)]
    pub(super) orphan_interpreter: bool,
    /// Add a variable to the WSGI environ of every request (repeatable).
    #[arg(long = "setenv", num_args = 2, value_names = ["KEY", "VALUE"])]
    pub(super) setenv_variables: Vec<String>,
    /// Pass a variable of this process's environment in the WSGI environ (repeatable).
    #[arg(long = "passenv", value_name = "KEY", value_parser = word)]
    pub(super) passenv_variables: Vec<String>,
    /// LANG of the daemon processes.
    #[arg(long, value_name = "NAME", value_parser = word)]
    pub(super) lang: Option<String>,
    /// LC_ALL of the daemon processes (default: this process's, or C.UTF-8 for C/POSIX).
    #[arg(long, value_name = "NAME", value_parser = word)]
    pub(super) locale: Option<String>,

    // ---- Where it listens.
    /// Address to listen on (default: all interfaces).
    #[arg(long, value_name = "IP-ADDRESS", value_parser = host)]
    pub(super) host: Option<String>,
    /// TCP port for HTTP.
    #[arg(long, value_name = "NUMBER", default_value_t = 8000, value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) port: u16,
    /// TCP port for HTTPS (needs the certificate and key options).
    #[arg(long, alias = "ssl-port", value_name = "NUMBER", value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) https_port: Option<u16>,
    /// The certificate (PEM) for HTTPS.
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) ssl_certificate_file: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) ssl_certificate_key_file: Option<PathBuf>,
    /// PATH.crt and PATH.key: both files at once.
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) ssl_certificate: Option<PathBuf>,
    /// Certificates of the CAs that make the server certificate's chain.
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) ssl_certificate_chain_file: Option<PathBuf>,
    /// CA certificates for client authentication (then required for the whole site, or for --ssl-verify-client URLs).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) ssl_ca_certificate_file: Option<PathBuf>,
    /// A URL path that requires client authentication (repeatable).
    #[arg(long = "ssl-verify-client", value_name = "URL-PATH", value_parser = url_path)]
    pub(super) ssl_verify_client_urls: Vec<String>,
    /// Pass the SSL variables (mod_ssl's StdEnvVars) in the WSGI environ.
    #[arg(long)]
    pub(super) ssl_environment: bool,
    /// Redirect HTTP requests to HTTPS.
    #[arg(long)]
    pub(super) https_only: bool,
    /// Strict-Transport-Security header value, with --https-only.
    #[arg(long, value_name = "PARAMS")]
    pub(super) hsts_policy: Option<String>,
    /// The server's host name; requests for other names are refused.
    #[arg(long, value_name = "HOSTNAME", value_parser = host)]
    pub(super) server_name: Option<String>,
    /// Another host name of the server (repeatable; wildcards allowed).
    #[arg(long = "server-alias", value_name = "HOSTNAME", value_parser = word)]
    pub(super) server_aliases: Vec<String>,
    /// With --server-name, still allow requests for localhost.
    #[arg(long)]
    pub(super) allow_localhost: bool,

    // ---- Capacity.
    /// Daemon processes (embedded mode: Apache children) (default 1).
    #[arg(long, value_name = "NUMBER", value_parser = positive)]
    pub(super) processes: Option<u32>,
    /// Threads per process.
    #[arg(long, value_name = "NUMBER", default_value_t = 5, value_parser = positive)]
    pub(super) threads: u32,
    /// Most client connections at once (default 1.5 x processes x threads, at least 20).
    #[arg(long, value_name = "NUMBER", value_parser = positive)]
    pub(super) max_clients: Option<u32>,
    /// Apache workers started at first, as a fraction of --max-clients.
    #[arg(long, value_name = "NUMBER", value_parser = fraction)]
    pub(super) initial_workers: Option<f64>,
    /// Fewest idle Apache workers, as a fraction of --max-clients.
    #[arg(long, value_name = "NUMBER", value_parser = fraction)]
    pub(super) minimum_spare_workers: Option<f64>,
    /// Most idle Apache workers, as a fraction of --max-clients.
    #[arg(long, value_name = "NUMBER", value_parser = fraction)]
    pub(super) maximum_spare_workers: Option<f64>,
    /// Apache MPM to prefer: event, worker or prefork (repeatable; --mpm is the same).
    #[arg(long = "server-mpm", alias = "mpm", value_name = "NAME", value_parser = mpm)]
    pub(super) server_mpm: Vec<Mpm>,
    /// Largest request body in bytes.
    #[arg(long, value_name = "NUMBER", default_value_t = 10_485_760)]
    pub(super) limit_request_body: u64,
    /// Listen backlog of Apache's port.
    #[arg(long, value_name = "NUMBER", default_value_t = 500, value_parser = positive)]
    pub(super) server_backlog: u32,
    /// Listen backlog of the daemon processes' socket.
    #[arg(long, value_name = "NUMBER", default_value_t = 100, value_parser = positive)]
    pub(super) daemon_backlog: u32,
    /// Seconds an idle keep-alive connection stays open (0: no keep-alive).
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub(super) keep_alive_timeout: u32,

    // ---- Daemon process recycling and timeouts.
    /// Restart a process after this many requests (0: never).
    #[arg(long, value_name = "NUMBER", default_value_t = 0)]
    pub(super) maximum_requests: u64,
    /// Restart a process that could not load the application within this time.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub(super) startup_timeout: u64,
    /// Seconds a stopping process has before it is made to exit.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub(super) shutdown_timeout: u64,
    /// Restart a process after this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub(super) restart_interval: u64,
    /// Restart a process after this much CPU time (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub(super) cpu_time_limit: u64,
    /// Restart a process whose data segment grows past this many bytes (0: no limit).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub(super) memory_limit: u64,
    /// Restart a process whose address space grows past this many bytes (0: no limit).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub(super) virtual_memory_limit: u64,
    /// Seconds requests have to finish when a process is recycled.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub(super) graceful_timeout: u64,
    /// Seconds requests have to finish when a process gets SIGUSR1 (0: --graceful-timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub(super) eviction_timeout: u64,
    /// Restart a process whose Python GIL cannot be taken for this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(super) deadlock_timeout: u64,
    /// Restart a process idle for this long (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub(super) inactivity_timeout: u64,
    /// A URL path whose requests (health checks) do not count as activity
    /// for --inactivity-timeout (repeatable).
    #[arg(long = "ignore-activity", value_name = "URL-PATH", value_parser = url_path)]
    pub(super) ignore_activity: Vec<String>,
    /// Restart a process with a request running longer than this (scaled by 1 + ln(threads)).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(super) request_timeout: u64,
    /// Interrupt a request that timed out instead of restarting (written only when given).
    #[arg(long, value_name = "SECONDS")]
    pub(super) interrupt_timeout: Option<u64>,
    /// Seconds an Apache child tries to reach a daemon process.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub(super) connect_timeout: u64,
    /// Seconds a socket read or write may take (also Apache's Timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = positive)]
    pub(super) socket_timeout: u32,
    /// Seconds a request may wait for a daemon process (then 504).
    #[arg(long, value_name = "SECONDS", default_value_t = 45)]
    pub(super) queue_timeout: u64,
    /// Seconds to receive the request head (RequestReadTimeout; 0: off).
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub(super) header_timeout: u32,
    /// Longest the head may take when data keeps arriving (0: no limit).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub(super) header_max_timeout: u32,
    /// Bytes per second that extend the head's timeout (0: none).
    #[arg(long, value_name = "BYTES", default_value_t = 500)]
    pub(super) header_min_rate: u32,
    /// Seconds to receive the request body (RequestReadTimeout; 0: off).
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub(super) body_timeout: u32,
    /// Longest the body may take when data keeps arriving (0: no limit).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub(super) body_max_timeout: u32,
    /// Bytes per second that extend the body's timeout (0: none).
    #[arg(long, value_name = "BYTES", default_value_t = 500)]
    pub(super) body_min_rate: u32,
    /// Socket send buffer towards the daemons (0: the system's).
    #[arg(long, value_name = "NUMBER", default_value_t = 0)]
    pub(super) send_buffer_size: u32,
    /// Socket receive buffer from the daemons (0: the system's).
    #[arg(long, value_name = "NUMBER", default_value_t = 0)]
    pub(super) receive_buffer_size: u32,
    /// Longest response header line from a daemon (0: 32768).
    #[arg(long, value_name = "NUMBER", default_value_t = 0)]
    pub(super) header_buffer_size: u32,
    /// Response bytes passed on without a flush (0: 8 MiB).
    #[arg(long, value_name = "NUMBER", default_value_t = 0)]
    pub(super) response_buffer_size: u32,
    /// Seconds a write to the client may take (0: --socket-timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub(super) response_socket_timeout: u64,
    /// Milliseconds to wait for more response data before flushing.
    #[arg(long, value_name = "MILLISECONDS", default_value_t = 5)]
    pub(super) response_flush_delay: u64,

    // ---- Static files and Apache features.
    /// Directory of static files, served in preference to the application.
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) document_root: Option<PathBuf>,
    /// Index file for directories of the document root.
    #[arg(long, value_name = "FILE-NAME", value_parser = word)]
    pub(super) directory_index: Option<String>,
    /// List directories of the document root without an index.
    #[arg(long)]
    pub(super) directory_listing: bool,
    /// Directive types .htaccess files may override (repeatable; default None).
    #[arg(long, value_name = "DIRECTIVE-TYPE", value_parser = word)]
    pub(super) allow_override: Vec<String>,
    /// Serve a static file or directory at a URL path (repeatable).
    #[arg(long = "url-alias", num_args = 2, value_names = ["URL-PATH", "FILE-PATH|DIRECTORY-PATH"])]
    pub(super) url_aliases: Vec<String>,
    /// The URL that answers an HTTP error status (repeatable).
    #[arg(long = "error-document", num_args = 2, value_names = ["STATUS", "URL-PATH"])]
    pub(super) error_documents: Vec<String>,
    /// A WSGI script that serves the document root's files with this
    /// extension, e.g. `.md render.wsgi` (repeatable).
    #[arg(long = "add-handler", num_args = 2, value_names = ["EXTENSION", "SCRIPT-PATH"])]
    pub(super) handler_scripts: Vec<String>,
    /// Apache's error documents replace the application's error responses.
    #[arg(long)]
    pub(super) error_override: bool,
    /// Map HEAD to GET: On, Off or Auto.
    #[arg(long, value_name = "OFF|ON|AUTO", default_value = "Auto", value_parser = map_head)]
    pub(super) map_head_to_get: String,
    /// Use sendfile() for wsgi.file_wrapper and static files.
    #[arg(long)]
    pub(super) enable_sendfile: bool,
    /// Accept request bodies sent chunked.
    #[arg(long)]
    pub(super) chunked_request: bool,
    /// Compress text responses (mod_deflate).
    #[arg(long)]
    pub(super) compress_responses: bool,
    /// Serve Apache's status page at /server-status to localhost.
    #[arg(long)]
    pub(super) server_status: bool,
    /// Let the application read Apache's scoreboard through
    /// mod_wsgi.server_metrics() (WSGIServerMetrics / server-metrics=).
    #[arg(long)]
    pub(super) server_metrics: bool,
    /// A trusted header from a front-end proxy, e.g. X-Forwarded-For (repeatable).
    #[arg(long = "trust-proxy-header", value_name = "HEADER-NAME", value_parser = word)]
    pub(super) trusted_proxy_headers: Vec<String>,
    /// Address or subnet of a trusted proxy (repeatable).
    #[arg(long = "trust-proxy", value_name = "IP-ADDRESS/SUBNET", value_parser = word)]
    pub(super) trusted_proxies: Vec<String>,
    /// Python script deciding host access (allow_access).
    #[arg(long, value_name = "SCRIPT-PATH")]
    pub(super) host_access_script: Option<PathBuf>,
    /// Python script checking user passwords (check_password).
    #[arg(long, value_name = "SCRIPT-PATH")]
    pub(super) auth_user_script: Option<PathBuf>,
    /// Authentication scheme with --auth-user-script: Basic or Digest.
    #[arg(long, value_name = "TYPE", default_value = "Basic", value_parser = auth_type)]
    pub(super) auth_type: String,
    /// Python script listing a user's groups (groups_for_user).
    #[arg(long, value_name = "SCRIPT-PATH")]
    pub(super) auth_group_script: Option<PathBuf>,
    /// Group users must be in, with --auth-group-script.
    #[arg(long, value_name = "NAME", default_value = "wsgi", value_parser = word)]
    pub(super) auth_group: String,
    /// Apache configuration file to include at the end (repeatable).
    #[arg(long = "include-file", value_name = "FILE-PATH")]
    pub(super) include_files: Vec<PathBuf>,

    // ---- Users, files and logs.
    /// User the Apache children and daemons run as, when started as root (default www-data).
    #[arg(long, value_name = "USERNAME")]
    pub(super) user: Option<String>,
    /// Their group (default: the user's primary group).
    #[arg(long, value_name = "GROUP")]
    pub(super) group: Option<String>,
    /// Where httpd.conf, apachectl, the logs and the sockets go
    /// (default $TMPDIR/mod_wsgi-HOST:PORT:UID).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) server_root: Option<PathBuf>,
    /// Apache's pid file (default SERVER-ROOT/httpd.pid).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) pid_file: Option<PathBuf>,
    /// Directory of the log files (default: the server root; overrides --log-to-terminal).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) log_directory: Option<PathBuf>,
    /// Apache LogLevel.
    #[arg(long, value_name = "NAME", default_value = "warn", value_parser = log_level)]
    pub(super) log_level: String,
    /// Keep an access log.
    #[arg(long)]
    pub(super) access_log: bool,
    /// Log Apache's start-up messages (httpd -E) to a file, or the terminal.
    #[arg(long)]
    pub(super) startup_log: bool,
    /// Logs go to stderr (error log) and stdout (access log) instead of files.
    #[arg(long)]
    pub(super) log_to_terminal: bool,
    /// Access log format: common, combined, or an Apache LogFormat string.
    #[arg(long, value_name = "FORMAT")]
    pub(super) access_log_format: Option<String>,
    /// Apache ErrorLogFormat string.
    #[arg(long, value_name = "FORMAT")]
    pub(super) error_log_format: Option<String>,
    /// File name of the error log.
    #[arg(long, value_name = "FILE-NAME", default_value = "error_log")]
    pub(super) error_log_name: String,
    /// File name of the access log.
    #[arg(long, value_name = "FILE-NAME", default_value = "access_log")]
    pub(super) access_log_name: String,
    /// File name of the start-up log.
    #[arg(long, value_name = "FILE-NAME", default_value = "startup_log")]
    pub(super) startup_log_name: String,
    /// Rotate the log files (rotatelogs).
    #[arg(long)]
    pub(super) rotate_logs: bool,
    /// Size in MB at which a log file is rotated.
    #[arg(long, value_name = "MB", default_value_t = 5, value_parser = positive)]
    pub(super) max_log_size: u32,
    /// The rotatelogs program (default: rotatelogs on PATH, else /usr/bin/rotatelogs).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) rotatelogs_executable: Option<PathBuf>,
    /// Shell script that apachectl sources to set Apache's environment.
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) envvars_script: Option<PathBuf>,
    /// Shell of the apachectl script (default bash, else sh).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) shell_executable: Option<PathBuf>,
    /// httpd to run (default apache2 on PATH, else /usr/sbin/apache2; --apache-binary is the same).
    #[arg(long, alias = "apache-binary", value_name = "FILE-PATH")]
    pub(super) httpd_executable: Option<PathBuf>,
    /// Name the Apache parent process shows (argv[0]).
    #[arg(long, value_name = "NAME")]
    pub(super) process_name: Option<String>,
    /// Apache's modules directory (default /usr/lib/apache2/modules, else $(apxs -q LIBEXECDIR)).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) modules_directory: Option<PathBuf>,
    /// The mime.types file (default /etc/mime.types).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) mime_types: Option<PathBuf>,
    /// Directory for the daemon sockets (default: the server root).
    #[arg(long, value_name = "DIRECTORY-PATH")]
    pub(super) socket_prefix: Option<PathBuf>,
    /// The mod_wsgi-rs module (default: libmod_wsgi_rs.so next to this
    /// program, else $(apxs -q LIBEXECDIR)/mod_wsgi_rs.so).
    #[arg(long, value_name = "FILE-PATH")]
    pub(super) module: Option<PathBuf>,
    /// Write the server root, print how to start it, and exit (as setup-server).
    #[arg(long)]
    pub(super) setup_only: bool,
    /// Accepted for compatibility with earlier versions; changes nothing.
    #[arg(long, hide = true)]
    pub(super) no_keep_caps: bool,
}

impl ServerOptions {
    /// `(url, path)` of each --url-alias.
    pub(super) fn url_aliases(&self) -> impl Iterator<Item = (&str, &str)> {
        pairs(&self.url_aliases)
    }

    /// `(extension, script)` of each --add-handler.
    pub(super) fn handler_scripts(&self) -> impl Iterator<Item = (&str, &str)> {
        pairs(&self.handler_scripts)
    }

    /// `(status, url)` of each --error-document.
    pub(super) fn error_documents(&self) -> impl Iterator<Item = (&str, &str)> {
        pairs(&self.error_documents)
    }

    /// `(name, value)` of each --setenv.
    pub(super) fn setenv(&self) -> impl Iterator<Item = (&str, &str)> {
        pairs(&self.setenv_variables)
    }

    /// Daemon processes (or Apache children in embedded mode).
    pub(super) fn process_count(&self) -> u32 {
        self.processes.unwrap_or(1)
    }
}

/// Options taking two values arrive flattened; clap has checked the count.
fn pairs(v: &[String]) -> impl Iterator<Item = (&str, &str)> {
    v.chunks_exact(2).map(|p| (p[0].as_str(), p[1].as_str()))
}

/// What to do, from the command line.
#[derive(Debug)]
pub(super) enum Action {
    /// Start the server (`setup_server`: only write it).
    Server {
        options: Box<ServerOptions>,
        setup_server: bool,
    },
    ModuleConfig(ModuleOptions),
    ModuleLocation(ModuleOptions),
    InstallModule(InstallOptions),
}

impl Cli {
    pub(super) fn action(self) -> Action {
        match self.command {
            None => Action::Server {
                options: self.server,
                setup_server: false,
            },
            Some(Command::StartServer(options)) => Action::Server {
                options,
                setup_server: false,
            },
            Some(Command::SetupServer(options)) => Action::Server {
                options,
                setup_server: true,
            },
            Some(Command::ModuleConfig(m)) => Action::ModuleConfig(m),
            Some(Command::ModuleLocation(m)) => Action::ModuleLocation(m),
            Some(Command::InstallModule(i)) => Action::InstallModule(i),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// start-server's options from `args` (after `start-server`).
    pub(crate) fn server(args: &[&str]) -> ServerOptions {
        let argv = ["wsgi-express", "start-server"].iter().chain(args);
        match Cli::try_parse_from(argv).map(Cli::action) {
            Ok(Action::Server { options, .. }) => *options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        let argv = ["wsgi-express"].iter().chain(args);
        Cli::try_parse_from(argv).unwrap_err().to_string()
    }

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_mod_wsgi_express_defaults() {
        let o = server(&["app.wsgi"]);
        assert_eq!(o.app.as_deref(), Some("app.wsgi"));
        assert_eq!((o.port, o.host.as_deref()), (8000, None));
        assert_eq!((o.processes, o.threads), (None, 5));
        assert_eq!(o.process_count(), 1);
        assert_eq!(o.application_group, "%{GLOBAL}");
        assert_eq!(o.callable_object, "application");
        assert_eq!(o.mount_point, "/");
        assert_eq!(o.log_level, "warn");
        assert_eq!(
            (
                o.request_timeout,
                o.queue_timeout,
                o.socket_timeout,
                o.connect_timeout
            ),
            (60, 45, 60, 15)
        );
        assert_eq!(
            (
                o.startup_timeout,
                o.deadlock_timeout,
                o.graceful_timeout,
                o.shutdown_timeout
            ),
            (15, 60, 15, 5)
        );
        assert_eq!((o.inactivity_timeout, o.interrupt_timeout), (0, None));
        assert_eq!((o.header_timeout, o.header_max_timeout), (15, 30));
        assert_eq!((o.body_timeout, o.body_max_timeout), (15, 0));
        assert_eq!((o.server_backlog, o.daemon_backlog), (500, 100));
        assert_eq!(o.limit_request_body, 10_485_760);
        assert_eq!((o.keep_alive_timeout, o.response_flush_delay), (2, 5));
        assert_eq!(o.map_head_to_get, "Auto");
        assert!(!o.embedded_mode && !o.access_log && !o.log_to_terminal);
    }

    #[test]
    fn the_plain_form_is_start_server() {
        let argv = [
            "wsgi-express",
            "--port",
            "9000",
            "app.wsgi",
            "--processes",
            "2",
        ];
        match Cli::try_parse_from(argv).unwrap().action() {
            Action::Server {
                options,
                setup_server: false,
            } => {
                assert_eq!(options.app.as_deref(), Some("app.wsgi"));
                assert_eq!((options.port, options.processes), (9000, Some(2)));
            }
            other => panic!("{other:?}"),
        }
        let argv = ["wsgi-express", "setup-server", "app.wsgi"];
        assert!(matches!(
            Cli::try_parse_from(argv).unwrap().action(),
            Action::Server {
                setup_server: true,
                ..
            }
        ));
    }

    #[test]
    fn repeated_and_two_valued_options() {
        let o = server(&[
            "--url-alias",
            "/static",
            "./static",
            "--url-alias",
            "/favicon.ico",
            "f.ico",
            "--setenv",
            "A",
            "1",
            "--python-path",
            "/a",
            "--python-path=/b",
            "--server-mpm",
            "prefork",
            "--mpm",
            "worker",
            "--ssl-port",
            "8443",
            "--apache-binary",
            "/usr/sbin/httpd",
            "app.wsgi",
        ]);
        assert_eq!(
            o.url_aliases().collect::<Vec<_>>(),
            [("/static", "./static"), ("/favicon.ico", "f.ico")]
        );
        assert_eq!(o.setenv().collect::<Vec<_>>(), [("A", "1")]);
        assert_eq!(o.python_paths, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(o.server_mpm, [Mpm::Prefork, Mpm::Worker]);
        assert_eq!(o.https_port, Some(8443));
        assert_eq!(o.httpd_executable, Some(PathBuf::from("/usr/sbin/httpd")));
        assert_eq!(o.app.as_deref(), Some("app.wsgi"));
    }

    #[test]
    fn bad_values_name_the_option() {
        for (args, option) in [
            (&["--port", "0", "a"][..], "--port"),
            (&["--threads", "0", "a"], "--threads"),
            (&["--processes", "x", "a"], "--processes"),
            (&["--server-mpm", "fast", "a"], "--server-mpm"),
            (&["--mount-point", "app", "a"], "--mount-point"),
            (&["--log-level", "loud", "a"], "--log-level"),
            (&["--callable-object", "a-b", "a"], "--callable-object"),
            (&["--initial-workers", "2", "a"], "--initial-workers"),
            (&["--map-head-to-get", "maybe", "a"], "--map-head-to-get"),
            (&["--url-alias", "/x"], "--url-alias"),
            (&["--host", "a b", "a"], "--host"),
        ] {
            let e = error(args);
            assert!(e.contains(option), "{args:?}: {e}");
        }
        assert!(error(&["--bogus", "a"]).contains("--bogus"));
    }

    #[test]
    fn an_option_given_again_wins() {
        let o = server(&["--module", "/a.so", "--port", "1", "--module", "/b.so", "a"]);
        assert_eq!(o.module, Some(PathBuf::from("/b.so")));
        let argv = ["wsgi-express", "--port", "1", "--port", "2", "a"];
        assert!(matches!(
            Cli::try_parse_from(argv).unwrap().action(),
            Action::Server { options, .. } if options.port == 2
        ));
    }

    #[test]
    fn mount_points_are_normalised() {
        assert_eq!(server(&["--mount-point", "/app/", "a"]).mount_point, "/app");
        assert_eq!(server(&["--mount-point", "//", "a"]).mount_point, "/");
    }
}
