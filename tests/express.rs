//! wsgi-express end to end: the built binary writes its configuration, execs
//! a real apache2 on a free loopback port, serves the app, and stops on SIGINT.
//! Every wait is bounded; the server is killed by PID (its own process group)
//! when a test ends.

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
        let mut with_module = vec!["--module", module.as_str()];
        with_module.extend_from_slice(args);
        Express::start_plain(dir, cwd, &with_module)
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
    }
}

/// Runs wsgi-express to completion (errors, --help, --setup-only). The module
/// is named explicitly: `cargo test` refreshes target/<profile>/deps/, not
/// the copy next to the binary that wsgi-express would pick by default.
fn run_express(cwd: &Path, args: &[&str]) -> Output {
    Command::new(EXPRESS)
        .current_dir(cwd)
        .env_remove("VIRTUAL_ENV")
        .arg("--module")
        .arg(module_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run wsgi-express")
}

#[test]
fn serves_a_script_and_stops_on_sigint() {
    let dir = TestDir::new("express-hello");
    dir.write("app/hello.wsgi", &hello_source());
    // The module is found next to the binary (or in deps/ under cargo).
    let mut e = Express::start_plain(&dir, &dir.0, &[&dir.path("app/hello.wsgi"), "--access-log"]);
    let r = e.get("/");
    assert_eq!(r.status, 200, "{}", e.output());
    assert_eq!(r.text(), "Hello World!\n");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(e.get("/some/path").text(), "Hello World!\n");

    let out = e.output();
    assert!(
        out.contains(&format!("at http://127.0.0.1:{}/", e.port)),
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
    // No child outlives the parent.
    let conf = conf.display().to_string();
    assert!(
        wait_until(SECS5, || pids_with_cmdline(&conf).is_empty()),
        "Apache children left over: {:?}",
        pids_with_cmdline(&conf)
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
        stdout.contains(&format!("-f {} -DFOREGROUND", conf.display())),
        "{stdout}"
    );
    let text = fs::read_to_string(&conf).unwrap();
    assert!(text.contains("WSGIScriptReloading Off"), "{text}");
    assert!(text.contains("ThreadsPerChild 3"), "{text}");
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
