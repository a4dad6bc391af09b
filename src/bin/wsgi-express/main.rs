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
//! configuration) are plain functions with unit tests beside them; the rest
//! (finding Apache and the module, the server root, the permission check,
//! exec) is a thin layer around them. This file only puts the steps in order:
//! the order is the one in which errors are reported.

mod app;
mod cli;
mod locate;
mod privileges;
mod render;
mod server_root;

use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};

use cli::{Cli, Mpm};

/// The Python the module was built against ("3.11"), from build.rs.
const PYTHON_VERSION: &str = env!("WSGI_PYTHON_VERSION");

fn warn(msg: &str) {
    eprintln!("wsgi-express: warning: {msg}");
}

/// `p` made absolute, with symbolic links resolved; an error names `p`.
fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| p.display().to_string())
}

fn run() -> Result<ExitCode> {
    let o = match cli::parse_args(std::env::args().skip(1)) {
        Ok(Cli::Serve(o)) => o,
        Ok(Cli::Help) => {
            print!("{}", cli::USAGE);
            return Ok(ExitCode::SUCCESS);
        }
        Ok(Cli::Version) => {
            println!(
                "wsgi-express (mod_wsgi-rs) {} for Python {PYTHON_VERSION}",
                env!("CARGO_PKG_VERSION")
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => bail!("{e:#}\nUsage: wsgi-express [options] APP (see wsgi-express --help)"),
    };
    let cwd = std::env::current_dir().context("current directory")?;
    let spec = app::classify_app(&o.app, &o.callable_object, Path::new(&o.app).is_file())?;

    let apache = locate::find_apache(o.apache_binary.as_deref())?;
    let module_so = locate::find_module(o.module.as_deref())?;
    let modules_dir = locate::modules_dir(o.mpm)?;
    let root = server_root::prepare(o.server_root.as_deref(), o.port)?;
    let app = app::resolve(&spec, &o, &cwd, &root)?;
    let run_as = privileges::run_as(o.user.as_deref(), o.group.as_deref(), &app)?;

    let plan = render::Plan {
        server_root: root.clone(),
        host: o.host.clone(),
        port: o.port,
        mime_types: locate::mime_types(&modules_dir),
        modules_dir,
        module_so,
        mpm: o.mpm,
        processes: o.processes,
        threads: if o.mpm == Mpm::Prefork { 1 } else { o.threads },
        log_level: o.log_level.clone(),
        error_log: locate::log_target("/dev/stderr", &root.join("error.log")),
        access_log: o
            .access_log
            .then(|| locate::log_target("/dev/stdout", &root.join("access.log"))),
        run_as,
        script: app.script,
        mount_point: o.mount_point.clone(),
        application_group: o.application_group.clone(),
        callable_object: app.callable_object,
        python_home: app.python_home,
        python_path: app.python_path,
        reloading: o.reloading,
    };
    let conf = root.join("httpd.conf");
    server_root::write_file(&conf, &render::render_config(&plan)?)?;

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
        "wsgi-express: serving {} at {} ({} MPM, {sizing}; server root {}; Ctrl-C to stop)",
        app.description,
        render::url(&o.host, o.port, &o.mount_point),
        o.mpm.name(),
        root.display()
    );
    let _ = std::io::stdout().flush();
    // Only returns on failure: on success Apache has replaced this process.
    let err = cmd.exec();
    Err(anyhow::Error::new(err).context(format!("cannot run {shown}")))
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
