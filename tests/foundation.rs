//! Issue "foundation": the module loads, maps WSGIScriptAlias, and serves a
//! WSGI application embedded in the Apache children.

mod common;

use std::process::Command;

use common::*;

const HELLO: &str = r#"
def application(environ, start_response):
    body = ('Hello World!|%s|%s|%s' % (environ['SCRIPT_NAME'], environ['PATH_INFO'],
                                       environ['mod_wsgi.application_group'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"#;

fn hello_server(mpm: Mpm) -> (TestDir, Apache) {
    let dir = TestDir::new("hello");
    dir.write("hello.wsgi", HELLO);
    let conf = ApacheConfig::new("WSGIScriptAlias /hello {dir}/hello.wsgi\n").mpm(mpm);
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

#[test]
fn serves_hello_with_script_name_and_path_info() {
    let (_dir, apache) = hello_server(Mpm::Event);
    let r = apache.get("/hello");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(
        r.text(),
        "Hello World!|/hello||localhost:{port}|/hello".replace("{port}", &apache.port.to_string())
    );
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = apache.get("/hello/x/y");
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("Hello World!|/hello|/x/y|"),
        "{}",
        r.text()
    );
    // Not under the alias: not ours.
    assert_eq!(apache.get("/hellothere").status, 404);
}

#[test]
fn serves_hello_under_prefork() {
    let (_dir, apache) = hello_server(Mpm::Prefork);
    let r = apache.get("/hello/x/y");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert!(
        r.text().starts_with("Hello World!|/hello|/x/y|"),
        "{}",
        r.text()
    );
}

#[test]
fn mounted_at_root_script_name_is_empty() {
    let dir = TestDir::new("root");
    dir.write("app.wsgi", HELLO);
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias / {dir}/app.wsgi application-group=%{GLOBAL}\n"),
    );
    let r = apache.get("/");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "Hello World!||/|");
    let r = apache.get("/a/b");
    assert_eq!(r.text(), "Hello World!||/a/b|");
}

#[test]
fn script_alias_match_substitutes_groups() {
    let dir = TestDir::new("match");
    dir.write("apps/one.wsgi", &HELLO.replace("Hello World!", "one"));
    dir.write("apps/two.wsgi", &HELLO.replace("Hello World!", "two"));
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAliasMatch ^/apps/([^/]+) {dir}/apps/$1.wsgi\n"),
    );
    let r = apache.get("/apps/one/extra");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert!(
        r.text().starts_with("one|/apps/one|/extra|"),
        "{}",
        r.text()
    );
    assert!(
        apache
            .get("/apps/two")
            .text()
            .starts_with("two|/apps/two||")
    );
    assert_eq!(apache.get("/apps/three").status, 404);
}

#[test]
fn missing_script_is_404() {
    let dir = TestDir::new("missing");
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /nope {dir}/nope.wsgi\n"),
    );
    assert_eq!(apache.get("/nope").status, 404);
    assert!(apache.wait_for_log(
        "Target WSGI script not found or unable to stat",
        std::time::Duration::from_secs(5)
    ));
}

#[test]
fn syntax_error_is_500_with_traceback() {
    let dir = TestDir::new("syntax");
    dir.write(
        "bad.wsgi",
        "def application(environ, start_response)\n    return []\n",
    );
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /bad {dir}/bad.wsgi\n"),
    );
    assert_eq!(apache.get("/bad").status, 500);
    let log = apache.error_log();
    assert!(log.contains("Failed to exec Python script file"), "{log}");
    assert!(log.contains("SyntaxError"), "{log}");
    assert!(log.contains("bad.wsgi"), "{log}");
}

#[test]
fn exception_in_app_is_500_and_child_keeps_serving() {
    let dir = TestDir::new("raise");
    dir.write(
        "raise.wsgi",
        "def application(environ, start_response):\n    if environ['PATH_INFO'] == '/boom':\n        raise ValueError('kaboom')\n    start_response('200 OK', [])\n    return [b'fine']\n",
    );
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /r {dir}/raise.wsgi\n").threads(2, 1),
    );
    for _ in 0..5 {
        assert_eq!(apache.get("/r/boom").status, 500);
        assert_eq!(apache.get("/r/ok").text(), "fine");
    }
    let log = apache.error_log();
    assert!(log.contains("ValueError: kaboom"), "{log}");
    assert!(
        log.contains("Exception occurred processing WSGI script"),
        "{log}"
    );
    assert!(
        !log.contains("Segmentation fault") && !log.contains("exit signal"),
        "{log}"
    );
}

#[test]
fn get_and_post_with_body() {
    let dir = TestDir::new("post");
    dir.write(
        "echo.wsgi",
        r#"
def application(environ, start_response):
    n = int(environ.get('CONTENT_LENGTH') or 0)
    data = environ['wsgi.input'].read(n) if n else environ['wsgi.input'].read()
    body = b'%s %s %d:' % (environ['REQUEST_METHOD'].encode(), environ['QUERY_STRING'].encode(), len(data)) + data
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return [body]
"#,
    );
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /echo {dir}/echo.wsgi\n"),
    );
    assert_eq!(apache.get("/echo?a=1").text(), "GET a=1 0:");
    let r = apache.post("/echo?x", b"hello body");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "POST x 10:hello body");
}

#[test]
fn callable_object_option_and_missing_callable() {
    let dir = TestDir::new("callable");
    dir.write("c.wsgi", "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'custom']\n");
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new(
            "WSGIScriptAlias /custom {dir}/c.wsgi callable-object=app\nWSGIScriptAlias /default {dir}/c.wsgi\n",
        ),
    );
    assert_eq!(apache.get("/custom").text(), "custom");
    assert_eq!(apache.get("/default").status, 404);
    assert!(
        apache
            .error_log()
            .contains("does not contain WSGI application 'application'")
    );
}

#[test]
fn global_application_group_runs_in_the_main_interpreter() {
    let dir = TestDir::new("global");
    dir.write(
        "g.wsgi",
        &format!(
            "{INTERPRETER_ID_PY}\ndef application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'%d|%r' % (interpreter_id(), environ['mod_wsgi.application_group'])]\n"
        ),
    );
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /g {dir}/g.wsgi\nWSGIApplicationGroup %{GLOBAL}\n"),
    );
    assert_eq!(apache.get("/g").text(), "0|''");
}

#[test]
fn configtest_accepts_good_aliases() {
    let (ok, out) = configtest(
        "WSGIScriptAlias /x /srv/x.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}\n<IfModule mod_wsgi.c>\nWSGIPythonPath /tmp\n</IfModule>",
    );
    assert!(ok, "{out}");
}

/// mod_wsgi's less common directives are accepted (a configuration keeps
/// working when only LoadModule changes); mod_wsgi 6's telemetry ones are
/// refused saying why, and a bad WSGIAcceptMutex names the valid ones.
#[test]
fn configtest_knows_every_mod_wsgi_directive() {
    let (ok, out) = configtest(
        "WSGIAcceptMutex flock
WSGIIgnoreActivity Off
         <Location /x>
  WSGIRestrictProcess %{GLOBAL}
  WSGIPassApacheRequest On
  WSGIIgnoreActivity On
</Location>",
    );
    assert!(ok, "{out}");
    each_case(
        [
            (
                "WSGITelemetryService unix:/run/t.sock",
                "WSGITelemetryService is not supported by mod_wsgi-rs: it has no telemetry",
            ),
            ("WSGISlowRequests 5", "WSGISlowRequests is not supported"),
            (
                "WSGITelemetryOptions All",
                "WSGITelemetryOptions is not supported",
            ),
            (
                "WSGIAcceptMutex spin",
                "WSGIAcceptMutex must be Default, flock, fcntl, sysvsem, posixsem or pthread, not 'spin'",
            ),
        ],
        |&(body, expect)| {
            let (ok, out) = configtest(body);
            assert!(!ok, "{body} accepted");
            assert!(out.contains(expect), "{body}: {out}");
        },
    );
}

#[test]
fn configtest_rejects_malformed_directives_naming_them() {
    let old = TestDir::new("oldvenv");
    old.write("pyvenv.cfg", "home = /usr/bin\nversion = 3.9.2\n");
    let old_venv = format!("WSGIPythonHome {}", old.0.display());
    each_case(
        [
            (
                "WSGIScriptAlias /only-one-argument",
                "WSGIScriptAlias needs a URL path and a script path",
            ),
            (
                "WSGIScriptAlias /x /srv/x.wsgi bogus=1",
                "unknown option 'bogus'",
            ),
            (
                "<VirtualHost *:80>\nWSGIPythonHome /usr\n</VirtualHost>",
                "WSGIPythonHome",
            ),
            (
                "<Location /x>\nWSGIScriptAlias /x /srv/x.wsgi\n</Location>",
                "WSGIScriptAlias",
            ),
            (
                "WSGIPythonHome /nonexistent/venv",
                "WSGIPythonHome: '/nonexistent/venv' does not exist",
            ),
            (old_venv.as_str(), "was made with Python 3.9.2"),
        ],
        |&(body, expect)| {
            let (ok, out) = configtest(body);
            assert!(!ok, "{body} accepted");
            assert!(out.contains(expect), "{body}: {out}");
        },
    );
}

#[test]
fn module_exports_wsgi_module() {
    require_program("nm", "binutils");
    let out = Command::new("nm")
        .arg("-D")
        .arg("--defined-only")
        .arg(module_path())
        .output()
        .expect("nm");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.ends_with(" wsgi_module")), "{text}");
}
