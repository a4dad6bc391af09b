//! wsgi-express end to end: the built binary writes its server root, execs
//! a real apache2 (through the generated apachectl) on a free port, serves
//! the app from daemon processes (or, with --embedded-mode, the Apache
//! children), and stops on SIGINT; setup-server's apachectl, module-config,
//! --reload-on-changes, HTTPS and the option errors. Every wait is bounded;
//! the server is killed by PID (its own process group) when a test ends.

mod common;

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

const EXPRESS: &str = env!("CARGO_BIN_EXE_wsgi-express");

fn hello_source() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello.wsgi"))
        .expect("examples/hello.wsgi")
}

/// wsgi-express running (as apache2 after its exec), stopped when dropped.
struct Express {
    child: Child,
    port: u16,
    root: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Express {
    /// Starts `wsgi-express ARGS --port P --server-root DIR/root` in `cwd`,
    /// with stdout/stderr going to files in `dir`, and waits for the port.
    fn start(dir: &TestDir, cwd: &Path, args: &[&str]) -> Express {
        let module = module_path().display().to_string();
        Express::start_plain(dir, cwd, &with_module(args, &module))
    }

    /// As `start`, with wsgi-express finding the module by itself.
    fn start_plain(dir: &TestDir, cwd: &Path, args: &[&str]) -> Express {
        let port = free_port();
        let root = dir.0.join("root");
        let stdout = dir.0.join("stdout.txt");
        let stderr = dir.0.join("stderr.txt");
        let child = Command::new(EXPRESS)
            // Its own process group: prefork signals its whole group on shutdown.
            .process_group(0)
            .current_dir(cwd)
            .env_remove("VIRTUAL_ENV")
            .args(args)
            .arg("--port")
            .arg(port.to_string())
            .arg("--server-root")
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("run wsgi-express");
        track_process_group(child.id() as i32);
        let mut e = Express {
            child,
            port,
            root,
            stdout,
            stderr,
        };
        let output = output_of(&e.stdout, &e.stderr);
        wait_listening(&mut e.child, port, "wsgi-express", output);
        e
    }

    fn output(&self) -> String {
        output_of(&self.stdout, &self.stderr)()
    }

    fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path, &[], b"")
    }

    /// Sends `sig` to the whole process group (as Ctrl-C in a terminal does)
    /// and waits, bounded, for Apache to exit.
    fn stop_with(&mut self, sig: i32, within: Duration) -> bool {
        let pid = self.child.id() as i32;
        // SAFETY: signalling the process group of our own child.
        unsafe { libc::kill(-pid, sig) };
        wait_until(within, || !matches!(self.child.try_wait(), Ok(None)))
    }
}

/// What wsgi-express printed so far (its stdout and stderr files).
fn output_of(stdout: &Path, stderr: &Path) -> impl Fn() -> String + use<> {
    let (stdout, stderr) = (stdout.to_path_buf(), stderr.to_path_buf());
    move || {
        let read =
            |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        format!("--- stdout\n{}--- stderr\n{}", read(&stdout), read(&stderr))
    }
}

impl Drop for Express {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None))
            && !self.stop_with(libc::SIGTERM, Duration::from_secs(15))
        {
            let pid = self.child.id() as i32;
            // SAFETY: killing the process group of our own child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = self.child.wait();
        }
        kill_leftovers(&self.root.join("httpd.conf").display().to_string());
        kill_leftovers(&daemon_title(self.port));
    }
}

/// The start of the daemon processes' title (mod_wsgi-express's
/// display-name) for a server on `port` with no --host.
fn daemon_title(port: u16) -> String {
    format!("(wsgi:localhost:{port}:")
}

/// The Apache parent and children of the server whose configuration is
/// `conf` (daemon processes have another title).
fn apache_processes(conf: &Path) -> Vec<i32> {
    pids_with_cmdline(&conf.display().to_string())
}

/// Runs wsgi-express to completion (errors, --help, --setup-only). The module
/// is named explicitly: `cargo test` refreshes target/<profile>/deps/, not
/// the copy next to the binary that wsgi-express would pick by default.
fn run_express(cwd: &Path, args: &[&str]) -> Output {
    let module = module_path().display().to_string();
    run_plain(cwd, &with_module(args, &module))
}

/// `args` with `--module MODULE` added (after start-server or setup-server,
/// whose options they are).
fn with_module<'a>(args: &[&'a str], module: &'a str) -> Vec<&'a str> {
    let mut all: Vec<&str> = Vec::new();
    let rest = match args.first() {
        Some(&sub @ ("start-server" | "setup-server")) => {
            all.push(sub);
            &args[1..]
        }
        _ => args,
    };
    all.extend(["--module", module]);
    all.extend_from_slice(rest);
    all
}

/// Runs wsgi-express with exactly `args`.
fn run_plain(cwd: &Path, args: &[&str]) -> Output {
    Command::new(EXPRESS)
        .current_dir(cwd)
        .env_remove("VIRTUAL_ENV")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wsgi-express")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn serves_a_script_and_stops_on_sigint() {
    let dir = TestDir::new("express-hello");
    dir.write("app/hello.wsgi", &hello_source());
    // The module is found next to the binary (or in deps/ under cargo).
    let mut e = Express::start_plain(
        &dir,
        &dir.0,
        &[
            &dir.path("app/hello.wsgi"),
            "--access-log",
            "--log-to-terminal",
        ],
    );
    let r = e.get("/");
    assert_eq!(r.status, 200, "{}", e.output());
    assert_eq!(r.text(), "Hello World!\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(e.get("/some/path").text(), "Hello World!\n");

    let out = e.output();
    assert!(
        out.contains(&format!(
            "Server URL         : http://localhost:{}/",
            e.port
        )),
        "no banner:\n{out}"
    );
    // The access log goes to stdout, the error log to stderr.
    assert!(out.contains("\"GET /some/path HTTP/1.1\" 200"), "{out}");
    assert!(out.contains("resuming normal operations"), "{out}");

    let conf = e.root.join("httpd.conf");
    assert!(
        e.stop_with(libc::SIGINT, Duration::from_secs(15)),
        "Apache did not exit within 15 s of SIGINT:\n{}",
        e.output()
    );
    // No child or daemon process outlives the parent.
    let conf = conf.display().to_string();
    let left = || {
        let mut v = pids_with_cmdline(&conf);
        v.extend(pids_with_cmdline(&daemon_title(e.port)));
        v
    };
    assert!(
        wait_until(SECS5, || left().is_empty()),
        "processes left over: {:?}",
        left()
    );
}

#[test]
fn serves_module_callable_at_a_mount_point_under_prefork() {
    let dir = TestDir::new("express-module");
    dir.write("proj/pkg/__init__.py", "");
    dir.write(
        "proj/pkg/web.py",
        r#"
class App:
    def wsgi(self, environ, start_response):
        body = ('%s|%s' % (environ['SCRIPT_NAME'], environ['PATH_INFO'])).encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]

app = App()
"#,
    );
    let proj = dir.0.join("proj");
    let e = Express::start(
        &dir,
        &proj,
        &[
            "pkg.web:app.wsgi",
            "--mount-point",
            "/sub/",
            "--mpm",
            "prefork",
            "--processes",
            "2",
        ],
    );
    let r = e.get("/sub/x/y");
    assert_eq!(r.status, 200, "{}", e.output());
    assert_eq!(r.text(), "/sub|/x/y");
    assert_eq!(e.get("/sub").text(), "/sub|");
    // Outside the mount point: nothing is served.
    assert_eq!(e.get("/").status, 404);
    assert!(e.root.join("handler.wsgi").is_file());
}

#[test]
fn setup_only_writes_a_config_apache_accepts() {
    let dir = TestDir::new("express-setup");
    let app = dir.write("hello.wsgi", &hello_source());
    let root = dir.0.join("root");
    let port = free_port().to_string();
    let out = run_express(
        &dir.0,
        &[
            "--setup-only",
            "--port",
            &port,
            "--server-root",
            root.to_str().unwrap(),
            "--access-log",
            "--disable-reloading",
            "--threads",
            "3",
            "--processes",
            "2",
            "--mpm",
            "worker",
            app.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conf = root.join("httpd.conf");
    assert!(
        stdout.contains(&format!("{} start", root.join("apachectl").display())),
        "{stdout}"
    );
    let text = fs::read_to_string(&conf).unwrap();
    assert!(text.contains("WSGIScriptReloading Off"), "{text}");
    assert!(
        text.contains("threads=3 \\") && text.contains("processes=2 \\"),
        "{text}"
    );
    assert!(text.contains("LoadModule mpm_worker_module"), "{text}");
    // Nothing was started.
    assert!(TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err());
    let check = Command::new("apache2")
        .arg("-t")
        .arg("-f")
        .arg(&conf)
        .output()
        .expect("apache2 -t");
    assert!(
        check.status.success(),
        "apache2 -t rejected the configuration:\n{}\n{text}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn a_missing_script_is_an_error_naming_it() {
    let dir = TestDir::new("express-errors");
    let out = run_express(&dir.0, &["missing.wsgi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'missing.wsgi' does not exist"));
}

#[test]
fn a_missing_module_is_an_error_naming_it() {
    let dir = TestDir::new("express-errors-module");
    let app = dir.write("hello.wsgi", &hello_source());
    let out = run_express(
        &dir.0,
        &["--module", "/nonexistent/mod.so", app.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--module /nonexistent/mod.so"));
}

#[test]
fn a_bad_option_value_is_an_error_naming_the_option() {
    let dir = TestDir::new("express-errors-threads");
    let out = run_express(&dir.0, &["--threads", "zero", "x.wsgi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}

#[test]
fn help_lists_the_options() {
    let dir = TestDir::new("express-help");
    let out = run_express(&dir.0, &["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--python-home"));
}

#[test]
fn flask_app_from_a_venv() {
    let venv = test_venv();
    let dir = TestDir::new("express-flask");
    dir.write(
        "site/flaskapp.py",
        "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/')\ndef index():\n    return 'flask ok'\n",
    );
    let e = Express::start(
        &dir,
        &dir.0.join("site"),
        &["flaskapp:app", "--python-home", venv.to_str().unwrap()],
    );
    let r = e.get("/");
    assert_eq!(r.status, 200, "{}", e.output());
    assert_eq!(r.text(), "flask ok");
}

/// As root with the app in a directory www-data cannot enter, wsgi-express
/// refuses and says what to fix: Apache's children never keep root's
/// capabilities to read it anyway.
#[test]
fn unreadable_app_as_root_is_an_error_that_says_what_to_fix() {
    require_root("wsgi-express then runs Apache's children as www-data");
    let dir = TestDir::new("express-private");
    dir.write("private/hello.wsgi", &hello_source());
    let private = dir.0.join("private");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let app = dir.path("private/hello.wsgi");
    each_case(
        [&[][..], &["--setup-only"][..], &["--no-keep-caps"][..]],
        |extra| {
            let root = dir.path("root");
            let mut args = extra.to_vec();
            args.extend(["--server-root", &root, &app]);
            let out = run_express(&dir.0, &args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("run as 'www-data', which cannot read")
                    && err.contains(private.to_str().unwrap())
                    && err.contains("To fix"),
                "{err}"
            );
            assert!(!err.contains("SECBIT"), "{err}");
        },
    );
}

/// `--setup-only` with `--server-root ROOT` for an app of `dir`.
fn setup_only(dir: &TestDir, root: &Path) -> Output {
    let app = dir.write("app/hello.wsgi", &hello_source());
    run_express(
        &dir.0,
        &[
            "--setup-only",
            "--server-root",
            root.to_str().unwrap(),
            app.to_str().unwrap(),
        ],
    )
}

/// The server root is made safely: a symbolic link at its (predictable)
/// path is refused, never followed.
#[test]
fn a_server_root_that_is_a_symbolic_link_is_refused() {
    let dir = TestDir::new("express-root-link");
    let target = dir.0.join("elsewhere");
    fs::create_dir(&target).unwrap();
    let link = dir.0.join("linked-root");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = setup_only(&dir, &link);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a directory (a symbolic link is not followed)"),
        "{err}"
    );
    assert!(
        fs::read_dir(&target).unwrap().next().is_none(),
        "wrote through the link"
    );
}

/// Someone else's directory at the server root's path is refused.
#[test]
fn a_server_root_owned_by_another_user_is_refused() {
    require_root("the directory is given to another user, nobody");
    let dir = TestDir::new("express-root-foreign");
    let foreign = dir.0.join("foreign-root");
    fs::create_dir(&foreign).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    let out = setup_only(&dir, &foreign);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to another user (uid 65534)"), "{err}");
}

/// Files in the server root are replaced, never written through a link.
#[test]
fn a_link_planted_where_httpd_conf_goes_is_replaced_not_followed() {
    let dir = TestDir::new("express-root-conf");
    let root = dir.0.join("root");
    let out = setup_only(&dir, &root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let victim = dir.0.join("victim");
    fs::write(&victim, "keep me").unwrap();
    fs::remove_file(root.join("httpd.conf")).unwrap();
    std::os::unix::fs::symlink(&victim, root.join("httpd.conf")).unwrap();
    let out = setup_only(&dir, &root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    let conf = fs::symlink_metadata(root.join("httpd.conf")).unwrap();
    assert!(conf.file_type().is_file());
}

/// An application that says which process and daemon group served it.
const WHO_AM_I: &str = r#"
import os

def application(environ, start_response):
    body = '%d %s %s' % (os.getpid(), environ.get('mod_wsgi.process_group') or '-',
                         environ['wsgi.multiprocess'])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#;

/// `(pid, process group)` from WHO_AM_I's answer.
#[track_caller]
fn who_served(r: &Response) -> (i32, String) {
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let mut words = text.split(' ');
    let pid = words.next().and_then(|w| w.parse().ok());
    let group = words.next().map(str::to_string);
    match (pid, group) {
        (Some(pid), Some(group)) => (pid, group),
        _ => panic!("unexpected answer {text:?}"),
    }
}

/// The command line of `pid`, NULs as spaces.
fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .replace('\0', " ")
}

/// The issue's example: daemon processes serve the application, Apache
/// serves the --url-alias files, the logs go to the terminal.
#[test]
fn start_server_serves_from_daemon_processes_and_static_files_through_apache() {
    let dir = TestDir::new("express-daemon");
    dir.write("site/app.wsgi", WHO_AM_I);
    dir.write("site/static/style.css", "body { color: red }\n");
    let site = dir.0.join("site");
    let e = Express::start(
        &dir,
        &site,
        &[
            "start-server",
            "app.wsgi",
            "--processes",
            "2",
            "--threads",
            "4",
            "--url-alias",
            "/static",
            "./static",
            "--log-to-terminal",
        ],
    );
    let conf = e.root.join("httpd.conf");
    let parent = e.child.id() as i32;
    let group = format!("localhost:{}", e.port);
    let daemons = || pids_with_cmdline(&daemon_title(e.port));
    assert!(
        wait_until(SECS10, || daemons().len() == 2),
        "expected 2 daemon processes, found {:?}\n{}",
        daemons(),
        e.output()
    );
    let mut served = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let (pid, g) = who_served(&e.get("/"));
        assert_eq!(g, group, "{}", e.output());
        served.insert(pid);
    }
    let apache = apache_processes(&conf);
    assert!(apache.contains(&parent), "{apache:?} {parent}");
    assert!(
        apache.len() >= 2,
        "no Apache child besides the parent: {apache:?}"
    );
    for pid in &served {
        assert!(
            !apache.contains(pid),
            "pid {pid} that served the app is an Apache process ({apache:?})"
        );
        assert!(
            daemons().contains(pid),
            "{pid} is not a daemon: {:?}",
            daemons()
        );
        assert_eq!(
            ppid(*pid),
            Some(parent),
            "a daemon is forked by the Apache parent"
        );
        assert!(
            cmdline(*pid).starts_with("(wsgi:localhost:"),
            "{}",
            cmdline(*pid)
        );
    }
    assert!(
        e.get("/").text().ends_with(" True"),
        "processes=2 is multiprocess"
    );
    let css = e.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.text(), "body { color: red }\n");
    assert_eq!(css.header("content-type"), Some("text/css"));
    let text = fs::read_to_string(&conf).unwrap();
    for line in [
        "WSGIRestrictEmbedded On",
        "request-timeout=60 \\",
        "queue-timeout=45 \\",
        "ErrorLog \"/dev/stderr\"",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "missing `{line}`:\n{text}"
        );
    }
    assert!(
        e.output().contains("Operating Mode     : daemon"),
        "{}",
        e.output()
    );
}

#[test]
fn embedded_mode_serves_from_an_apache_child() {
    let dir = TestDir::new("express-embedded");
    dir.write("app.wsgi", WHO_AM_I);
    let e = Express::start(&dir, &dir.0, &["app.wsgi", "--embedded-mode"]);
    let conf = e.root.join("httpd.conf");
    let (pid, group) = who_served(&e.get("/"));
    assert_eq!(group, "-", "no daemon group in embedded mode");
    let apache = apache_processes(&conf);
    assert!(
        apache.contains(&pid) && pid != e.child.id() as i32,
        "pid {pid} is not an Apache child ({apache:?})"
    );
    assert!(pids_with_cmdline(&daemon_title(e.port)).is_empty());
}

/// A server started with setup-server's apachectl, as systemd does.
struct Controlled {
    apachectl: PathBuf,
    pid_file: PathBuf,
}

impl Controlled {
    fn ctl(&self, action: &str) -> Output {
        Command::new(&self.apachectl)
            .arg(action)
            .stdin(Stdio::null())
            .output()
            .expect("run apachectl")
    }

    fn parent(&self) -> Option<i32> {
        fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()
    }
}

impl Drop for Controlled {
    fn drop(&mut self) {
        if let Some(pid) = self.parent()
            && running(pid)
        {
            let _ = self.ctl("stop");
            if !wait_until(SECS10, || !running(pid)) {
                // SAFETY: killing the Apache parent this test started.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn setup_server_writes_an_apachectl_that_starts_restarts_and_stops_apache() {
    let dir = TestDir::new("express-apachectl");
    let app = dir.write("app.wsgi", WHO_AM_I);
    let root = dir.0.join("root");
    let port = free_port();
    let out = run_express(
        &dir.0,
        &[
            "setup-server",
            app.to_str().unwrap(),
            "--port",
            &port.to_string(),
            "--server-root",
            root.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Control Script     :"), "{stdout}");
    // Nothing was started.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let c = Controlled {
        apachectl: root.join("apachectl"),
        pid_file: root.join("httpd.pid"),
    };
    let check = c.ctl("configtest");
    assert!(check.status.success(), "{}", text(&check.stderr));

    let start = c.ctl("start");
    assert!(start.status.success(), "{}", text(&start.stderr));
    let log = || read(&root.join("error_log"));
    let parent =
        wait_for(SECS10, || c.parent()).unwrap_or_else(|| panic!("no pid file\n{}", log()));
    // Apache detached into its own session: its process group is its pid.
    track_process_group(parent);
    assert!(
        wait_until(SECS10, || TcpStream::connect(("127.0.0.1", port)).is_ok()),
        "not listening:\n{}",
        log()
    );
    let (before, _) = who_served(&request(port, "GET", "/", &[], b""));

    let graceful = c.ctl("graceful");
    assert!(graceful.status.success(), "{}", text(&graceful.stderr));
    // A graceful restart replaces the daemon process, not the parent.
    let after = wait_for(SECS10 * 3, || {
        let r = request(port, "GET", "/", &[], b"");
        (r.status == 200)
            .then(|| who_served(&r).0)
            .filter(|pid| *pid != before)
    });
    assert!(after.is_some(), "the daemon was not replaced:\n{}", log());
    assert_eq!(c.parent(), Some(parent));
    assert!(running(parent));

    let stop = c.ctl("stop");
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert!(
        wait_until(SECS10 * 2, || !running(parent)),
        "Apache did not stop:\n{}",
        log()
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let left = pids_with_cmdline(&daemon_title(port));
    assert!(
        wait_until(SECS5, || pids_with_cmdline(&daemon_title(port)).is_empty()),
        "daemons left over: {left:?}"
    );
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned()
}

/// module-config's lines, pasted into a minimal httpd.conf with a
/// WSGIScriptAlias, load the module and serve.
#[test]
fn module_config_lines_load_and_serve() {
    let dir = TestDir::new("express-module-config");
    let app = dir.write("app.wsgi", WHO_AM_I);
    let out = run_plain(&dir.0, &["module-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    assert!(
        lines.starts_with(&format!(
            "LoadModule wsgi_module \"{}\"\n",
            module_path().display()
        )),
        "{lines}"
    );
    assert!(lines.contains("\nWSGIPythonHome \"/"), "{lines}");
    let location = run_plain(&dir.0, &["module-location"]);
    assert_eq!(
        text(&location.stdout).trim(),
        module_path().display().to_string()
    );

    let port = free_port();
    let d = dir.0.display();
    let user = if is_root() {
        "User www-data\nGroup www-data\n"
    } else {
        ""
    };
    let conf = dir.write(
        "httpd.conf",
        &format!(
            "ServerRoot {d}\nServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/httpd.pid\n\
             ErrorLog {d}/error.log\nDefaultRuntimeDir {d}\nMutex file:{d} default\n{user}\
             LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n\
             LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
             {lines}\
             WSGIScriptAlias / {app}\n<Directory {d}>\n  Require all granted\n</Directory>\n",
            app = app.display()
        ),
    );
    let apache = Apache::start_file(&dir.0, conf, port);
    let r = apache.get("/");
    assert!(
        r.status == 200 && r.text().contains(" - "),
        "{} {}\n{}",
        r.status,
        r.text(),
        apache.error_log()
    );
}

#[test]
fn install_module_copies_the_module_and_prints_its_lines() {
    let dir = TestDir::new("express-install");
    let modules = dir.0.join("modules");
    fs::create_dir(&modules).unwrap();
    let module = module_path().display().to_string();
    let out = run_plain(
        &dir.0,
        &[
            "install-module",
            "--module",
            &module,
            "--modules-directory",
            modules.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let installed = modules.join("mod_wsgi_rs.so");
    assert_eq!(
        fs::read(&installed).unwrap(),
        fs::read(module_path()).unwrap()
    );
    assert!(
        text(&out.stdout).starts_with(&format!(
            "LoadModule wsgi_module \"{}\"\nWSGIPythonHome \"",
            installed.display()
        )),
        "{}",
        text(&out.stdout)
    );
}

/// --reload-on-changes: an edited module imported by the application
/// restarts the daemon process, which then serves the new code.
#[test]
fn reload_on_changes_picks_up_an_edited_imported_module() {
    let dir = TestDir::new("express-reload");
    dir.write("site/helper.py", "VALUE = 'one'\n");
    dir.write(
        "site/app.wsgi",
        "import os\nimport helper\n\ndef application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [('%d %s' % (os.getpid(), helper.VALUE)).encode()]\n",
    );
    let site = dir.0.join("site");
    let e = Express::start(&dir, &site, &["app.wsgi", "--reload-on-changes"]);
    let answer = |r: Response| -> Option<(String, String)> {
        let t = r.text();
        let (pid, value) = t.split_once(' ')?;
        (r.status == 200).then(|| (pid.to_string(), value.to_string()))
    };
    let (pid, value) = answer(e.get("/")).unwrap_or_else(|| panic!("{}", e.output()));
    assert_eq!(value, "one");
    // Edited (and dated differently, whatever the clock's resolution).
    let helper = dir.write("site/helper.py", "VALUE = 'two, edited'\n");
    set_mtime(&helper, 30);
    let reloaded = wait_for(SECS10 * 3, || {
        answer(e.get("/")).filter(|(_, v)| v == "two, edited")
    });
    let Some((new_pid, _)) = reloaded else {
        panic!(
            "the edited module was not picked up within 30 s:\n{}\n{}",
            e.output(),
            read(&e.root.join("error_log"))
        );
    };
    assert_ne!(new_pid, pid, "a new daemon process serves it");
    assert!(
        read(&e.root.join("error_log")).contains("Change detected to"),
        "{}",
        read(&e.root.join("error_log"))
    );
}

#[test]
fn an_unknown_option_is_an_error_naming_it() {
    let dir = TestDir::new("express-unknown");
    let app = dir.write("app.wsgi", WHO_AM_I);
    let app = app.to_str().unwrap();
    each_case(
        [
            ("--no-such-option", "--no-such-option"),
            (
                "--http2",
                "--http2 is not supported by mod_wsgi-rs's wsgi-express",
            ),
            (
                "--debug-mode",
                "--debug-mode is not supported by mod_wsgi-rs's wsgi-express",
            ),
        ],
        |(option, said)| {
            let out = run_express(&dir.0, &["start-server", app, option]);
            assert_eq!(out.status.code(), Some(2));
            let err = text(&out.stderr);
            assert!(err.contains(said), "{err}");
        },
    );
}

/// --https-port with a self-signed certificate made here serves the
/// application over TLS (checked with curl).
#[test]
fn https_port_serves_tls_with_a_self_signed_certificate() {
    require_program("openssl", "openssl");
    require_program("curl", "curl");
    let dir = TestDir::new("express-https");
    dir.write("app.wsgi", WHO_AM_I);
    let (cert, key) = (dir.0.join("server.crt"), dir.0.join("server.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let https = free_port().to_string();
    let e = Express::start(
        &dir,
        &dir.0,
        &[
            "app.wsgi",
            "--https-port",
            &https,
            "--ssl-certificate-file",
            cert.to_str().unwrap(),
            "--ssl-certificate-key-file",
            key.to_str().unwrap(),
        ],
    );
    let curl = |url: &str| {
        Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&cert)
            .args([
                "--resolve",
                &format!("localhost:{https}:127.0.0.1"),
                "-v",
                url,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run curl")
    };
    let out = curl(&format!("https://localhost:{https}/"));
    let body = text(&out.stdout);
    assert!(
        out.status.success() && body.contains(&format!(" localhost:{} ", e.port)),
        "curl: {body}\n{}\n{}",
        text(&out.stderr),
        read(&e.root.join("error_log"))
    );
    assert!(
        text(&out.stderr).contains("CN=localhost"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        e.output()
            .contains(&format!("Server URL (HTTPS) : https://localhost:{https}/")),
        "{}",
        e.output()
    );
    // Plain HTTP still works on --port.
    assert_eq!(e.get("/").status, 200);
}

/// Many options at once make a configuration Apache accepts.
#[test]
fn setup_server_with_many_options_passes_configtest() {
    let dir = TestDir::new("express-configtest");
    let app = dir.write("app.wsgi", WHO_AM_I);
    dir.write("docs/index.html", "<p>hi</p>");
    dir.write(
        "auth.py",
        "def check_password(environ, user, password):\n    return None\n",
    );
    dir.write("extra.conf", "# nothing\n");
    let root = dir.0.join("root");
    let args = [
        "setup-server",
        app.to_str().unwrap(),
        "--server-root",
        root.to_str().unwrap(),
        "--port",
        "18080",
        "--host",
        "127.0.0.1",
        "--server-name",
        "www.example.com",
        "--server-alias",
        "*.example.com",
        "--allow-localhost",
        "--processes",
        "3",
        "--threads",
        "2",
        "--max-clients",
        "40",
        "--server-mpm",
        "worker",
        "--document-root",
        "docs",
        "--directory-index",
        "index.html",
        "--directory-listing",
        "--access-log",
        "--access-log-format",
        "combined",
        "--rotate-logs",
        "--startup-log",
        "--compress-responses",
        "--server-status",
        "--setenv",
        "MODE",
        "test",
        "--passenv",
        "PATH",
        "--trust-proxy-header",
        "X-Forwarded-For",
        "--trust-proxy",
        "10.0.0.0/8",
        "--error-document",
        "404",
        "/missing",
        "--error-override",
        "--chunked-request",
        "--enable-sendfile",
        "--python-warnings",
        "ignore",
        "--switch-interval",
        "0.01",
        "--orphan-interpreter",
        "--memory-limit",
        "500000000",
        "--maximum-requests",
        "1000",
        "--restart-interval",
        "3600",
        "--inactivity-timeout",
        "600",
        "--ignore-activity",
        "/health",
        "--server-metrics",
        "--add-handler",
        ".md",
        "auth.py",
        "--auth-user-script",
        "auth.py",
        "--include-file",
        "extra.conf",
        "--map-head-to-get",
        "off",
        "--reload-on-changes",
        "--keep-alive-timeout",
        "5",
        "--limit-request-body",
        "1000",
    ];
    let out = run_express(&dir.0, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let check = Command::new(root.join("apachectl"))
        .arg("configtest")
        .stdin(Stdio::null())
        .output()
        .expect("apachectl configtest");
    assert!(
        check.status.success(),
        "configtest failed:\n{}\n{}",
        text(&check.stderr),
        read(&root.join("httpd.conf"))
    );
}

/// --document-root: its files are served before the application, which
/// answers the rest; with --server-name, other host names are refused.
#[test]
fn document_root_files_come_first_and_other_host_names_are_refused() {
    let dir = TestDir::new("express-docroot");
    dir.write("app.wsgi", WHO_AM_I);
    dir.write("docs/robots.txt", "User-agent: *\n");
    let e = Express::start(
        &dir,
        &dir.0,
        &[
            "app.wsgi",
            "--document-root",
            "docs",
            "--server-name",
            "localhost",
        ],
    );
    let robots = e.get("/robots.txt");
    assert_eq!(robots.status, 200, "{}", e.output());
    assert_eq!(robots.text(), "User-agent: *\n");
    let (_, group) = who_served(&e.get("/robots.txt/not-a-file"));
    assert_eq!(group, format!("localhost:{}", e.port));
    let other = parse_response(
        &exchange(
            e.port,
            b"GET / HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
        ),
        false,
    );
    assert_eq!(other.status, 403, "{}", other.text());
}

/// `--server-metrics` lets the application read Apache's scoreboard in the
/// daemon processes (mod_wsgi-express's `server-metrics=On`); without it
/// `mod_wsgi.server_metrics()` is None.
#[test]
fn server_metrics_are_offered_only_with_the_option() {
    let dir = TestDir::new("express-server-metrics");
    dir.write(
        "app.wsgi",
        r#"
import mod_wsgi

def application(environ, start_response):
    m = mod_wsgi.server_metrics()
    body = 'none' if m is None else 'workers=%d' % sum(
        len(p['workers']) for p in m['processes'])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#,
    );
    for (args, want_metrics) in [
        (&["app.wsgi"][..], false),
        (&["app.wsgi", "--server-metrics"], true),
    ] {
        let e = Express::start(&dir, &dir.0, args);
        let r = e.get("/");
        assert_eq!(r.status, 200, "{}", e.output());
        let text = r.text();
        if want_metrics {
            let workers: usize = text
                .strip_prefix("workers=")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{args:?}: {text}"));
            assert!(workers > 0, "{args:?}: {text}");
        } else {
            assert_eq!(text, "none", "{args:?}");
        }
    }
}

/// `--add-handler .md render.wsgi`: the document root's `.md` files are
/// served by the handler script (in the daemon process group, the main
/// interpreter), the other files as they are, the rest by the application;
/// a handler module without `handle_request` is called as `application`.
#[test]
fn add_handler_serves_document_root_files_of_an_extension_through_a_script() {
    let dir = TestDir::new("express-add-handler");
    dir.write("app.wsgi", WHO_AM_I);
    dir.write(
        "render.wsgi",
        r#"
def handle_request(environ, start_response):
    with open(environ['SCRIPT_FILENAME'], 'rb') as f:
        text = f.read().decode()
    body = 'rendered %s %s %s [%s] %s' % (
        environ['SCRIPT_NAME'], environ['PATH_INFO'] or '-',
        environ['mod_wsgi.process_group'] or '-',
        environ['mod_wsgi.application_group'], text.strip())
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body.encode()]
"#,
    );
    dir.write(
        "upper.wsgi",
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [environ['SCRIPT_NAME'].upper().encode()]
"#,
    );
    dir.write("docs/page.md", "# Title\n");
    dir.write("docs/shout.up", "ignored\n");
    dir.write("docs/plain.txt", "as it is\n");
    dir.write("docs/notes.MD", "# Upper\n");
    let e = Express::start(
        &dir,
        &dir.0,
        &[
            "app.wsgi",
            "--document-root",
            "docs",
            "--add-handler",
            ".md",
            "render.wsgi",
            "--add-handler",
            "up",
            "upper.wsgi",
        ],
    );
    let group = format!("localhost:{}", e.port);
    let r = e.get("/page.md");
    assert_eq!(r.status, 200, "{}", e.output());
    assert_eq!(r.text(), format!("rendered /page.md - {group} [] # Title"));
    assert_eq!(e.get("/shout.up").text(), "/SHOUT.UP");
    // Extensions match without case, as httpd's AddHandler matches them.
    assert_eq!(
        e.get("/notes.MD").text(),
        format!("rendered /notes.MD - {group} [] # Upper")
    );
    assert_eq!(e.get("/plain.txt").text(), "as it is\n");
    let (_, served_by) = who_served(&e.get("/missing.md"));
    assert_eq!(served_by, group, "no file: the application");
    let script = fs::read_to_string(e.root.join("resource.wsgi")).unwrap();
    assert!(script.contains("def handle_request"), "{script}");
}

#[test]
fn add_handler_refuses_a_missing_script_or_a_bad_extension() {
    let dir = TestDir::new("express-add-handler-bad");
    dir.write("app.wsgi", WHO_AM_I);
    for (args, expected) in [
        (
            &["--add-handler", ".md", "missing.wsgi"][..],
            "--add-handler: ",
        ),
        (
            &["--add-handler", "a b", "app.wsgi"],
            "needs a file extension",
        ),
        (
            &["--add-handler", ".", "app.wsgi"],
            "needs a file extension",
        ),
    ] {
        let mut all = vec!["setup-server", "app.wsgi"];
        all.extend_from_slice(args);
        all.extend(["--server-root", "root"]);
        let out = run_express(&dir.0, &all);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("not supported"), "{args:?}: {err}");
    }
}
