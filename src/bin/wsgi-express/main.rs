//! `wsgi-express`: mod_wsgi-express for mod_wsgi-rs. Serves one WSGI
//! application with Apache httpd without writing any Apache configuration,
//! with mod_wsgi-express's subcommands, options and defaults:
//!
//! * `start-server` (also the plain `wsgi-express [OPTIONS] APP`) writes a
//!   self-contained server root — `httpd.conf`, `apachectl`, `envvars`, and
//!   for modules a `handler.wsgi` — and replaces itself with
//!   `apachectl start -DFOREGROUND`, so Ctrl-C and SIGTERM reach Apache;
//! * `setup-server` writes the same and exits: `apachectl` then starts,
//!   stops and restarts it (systemd, supervisord);
//! * `module-config`, `module-location`, `install-module` help configure a
//!   system Apache by hand.
//!
//! The application runs in one daemon process group (HOST:PORT) with
//! mod_wsgi-express's production timeouts, or with --embedded-mode in the
//! Apache children. Options of mod_wsgi-express that are not implemented
//! are refused by name (see `unsupported`).
//!
//! The pure parts (the command line, rendering the files) are functions of
//! the options or of a resolved `settings::Plan`, unit tested beside them;
//! resolving the plan (finding Apache and the module, the server root, the
//! permission check) and exec are a thin layer. This file only puts the
//! steps in order.

mod apachectl;
mod app;
mod cli;
mod daemon;
mod locate;
mod logs;
mod module_config;
mod privileges;
mod reloader;
mod render;
mod resources;
mod server_root;
mod settings;
mod sizing;
mod statics;
mod unsupported;
mod vhosts;

use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result};
use clap::Parser as _;

use cli::{Action, Cli, Mpm};
use settings::Plan;

/// The Python the module was built against ("3.11"), from build.rs.
const PYTHON_VERSION: &str = env!("WSGI_PYTHON_VERSION");

fn warn(msg: &str) {
    eprintln!("wsgi-express: warning: {msg}");
}

/// `p` made absolute, with symbolic links resolved; an error names `p`.
fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| p.display().to_string())
}

/// Writes the server root's files for `p`.
fn write_server_root(p: &Plan) -> Result<()> {
    server_root::write_file(&p.conf(), &render::render_config(p)?)?;
    server_root::write_script(&p.apachectl(), &apachectl::render(p)?)?;
    let envvars = p.server_root.join("envvars");
    match apachectl::envvars(p)? {
        Some(text) => server_root::write_file(&envvars, &text)?,
        None => server_root::create_if_missing(&envvars, "")?,
    }
    if p.reload_monitor {
        server_root::write_file(&reloader::path(&p.server_root), reloader::MONITOR)?;
    }
    if !p.handler_scripts.is_empty() {
        let script = resources::script(&p.handler_scripts);
        server_root::write_file(&resources::script_path(&p.server_root), &script)?;
    }
    Ok(())
}

/// What mod_wsgi-express prints before it starts: where everything is.
fn summary(p: &Plan, setup_server: bool) -> String {
    let o = &p.o;
    let shown = o.server_name.as_deref().unwrap_or(&p.host);
    let mut lines = vec![(
        "Server URL",
        render::url("http", shown, o.port, &o.mount_point),
    )];
    if let Some(t) = &p.tls {
        lines.push((
            "Server URL (HTTPS)",
            render::url("https", shown, t.port, &o.mount_point),
        ));
    }
    if o.server_status {
        lines.push((
            "Server Status",
            format!("{}server-status", render::url("http", shown, o.port, "/")),
        ));
    }
    lines.push(("Server Root", p.server_root.display().to_string()));
    lines.push(("Server Conf", p.conf().display().to_string()));
    lines.push(("Application", p.app.description.clone()));
    lines.push((
        "Error Log File",
        format!("{} ({})", p.logs.error, o.log_level),
    ));
    if let Some(a) = &p.logs.access {
        lines.push(("Access Log File", a.clone()));
    }
    if let Some(s) = &p.logs.startup {
        lines.push(("Startup Log File", s.clone()));
    }
    if setup_server {
        lines.push(("Control Script", p.apachectl().display().to_string()));
    }
    let mode = if p.daemon_mode() {
        "daemon"
    } else {
        "embedded"
    };
    lines.push(("Operating Mode", mode.into()));
    let (processes, threads) = (o.process_count(), o.threads);
    let total = processes * threads;
    let capacity = if !p.daemon_mode() && p.mpm == Mpm::Prefork {
        format!("{total} ({total} processes of 1 thread; prefork MPM)")
    } else {
        format!(
            "{total} ({processes} process(es) * {threads} threads; {} MPM)",
            p.mpm.name()
        )
    };
    lines.push(("Request Capacity", capacity));
    if p.daemon_mode() {
        lines.push((
            "Request Timeout",
            format!("{} (seconds)", o.request_timeout),
        ));
        if let Some(t) = o.interrupt_timeout.filter(|t| *t > 0) {
            lines.push(("Interrupt Timeout", format!("{t} (seconds)")));
        }
        if o.startup_timeout > 0 {
            lines.push((
                "Startup Timeout",
                format!("{} (seconds)", o.startup_timeout),
            ));
        }
        lines.push((
            "Queue Backlog",
            format!("{} (connections)", o.daemon_backlog),
        ));
        lines.push(("Queue Timeout", format!("{} (seconds)", o.queue_timeout)));
    }
    lines.push((
        "Server Backlog",
        format!("{} (connections)", o.server_backlog),
    ));
    lines.push(("Locale Setting", p.locale.clone()));
    lines
        .into_iter()
        .map(|(k, v)| format!("{k:<19}: {v}\n"))
        .collect()
}

fn serve(options: &cli::ServerOptions, setup_server: bool) -> Result<ExitCode> {
    let plan = settings::resolve(options)?;
    write_server_root(&plan)?;
    let setup_only = setup_server || options.setup_only;
    print!("{}", summary(&plan, setup_only));
    if setup_only {
        println!(
            "Start it with {} start (-DFOREGROUND to stay in the foreground).",
            plan.apachectl().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let _ = std::io::stdout().flush();
    let apachectl = plan.apachectl();
    // Only returns on failure: on success Apache replaces this process.
    let err = Command::new(&apachectl)
        .args(["start", "-DFOREGROUND"])
        .exec();
    Err(anyhow::Error::new(err).context(format!("cannot run {}", apachectl.display())))
}

fn run() -> Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match unsupported::explain(e) {
            Ok(message) => anyhow::bail!(message),
            // clap's own words: usage errors exit 2, --help and --version 0.
            Err(e) => e.exit(),
        },
    };
    match cli.action() {
        Action::Server {
            options,
            setup_server,
        } => serve(&options, setup_server),
        Action::ModuleConfig(m) => {
            print!("{}", module_config::module_config(&m)?);
            Ok(ExitCode::SUCCESS)
        }
        Action::ModuleLocation(m) => {
            print!("{}", module_config::module_location(&m)?);
            Ok(ExitCode::SUCCESS)
        }
        Action::InstallModule(i) => {
            print!("{}", module_config::install_module(&i)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            // `{:#}`: the whole chain, "context: cause", on one line.
            eprintln!("wsgi-express: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
