//! WSGIHandlerScript (a named httpd handler whose script serves the files
//! `SetHandler`/`AddHandler` give it, embedded and in a daemon) and
//! WSGIDispatchScript (a script that chooses each request's process group,
//! application group and callable, in the Apache child; reloaded when
//! changed; its errors are 500s with a traceback in the log).

mod common;

use common::*;

/// A handler script: reports what it was given, and the target's text.
const HANDLER: &str = r#"
import json, os, mod_wsgi
calls = 0
def handle_request(environ, start_response):
    global calls
    calls += 1
    name = environ['SCRIPT_FILENAME']
    try:
        with open(name) as f:
            content = f.read().strip()
    except OSError:
        content = 'missing'
    body = json.dumps({
        'script_filename': name,
        'content': content,
        'script_name': environ['SCRIPT_NAME'],
        'path_info': environ['PATH_INFO'],
        'handler_script': environ['mod_wsgi.handler_script'],
        'request_handler': environ['mod_wsgi.request_handler'],
        'callable_object': environ['mod_wsgi.callable_object'],
        'process_group': environ['mod_wsgi.process_group'],
        'module_process_group': mod_wsgi.process_group,
        'application_group': environ['mod_wsgi.application_group'],
        'module': __name__,
        'file': __file__,
        'pid': os.getpid(),
        'calls': calls,
    })
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body.encode()]

def reload_required(resource):
    return resource.endswith('reload.tmpl')

def application(environ, start_response):
    start_response('500 Internal Server Error', [])
    return [b'WSGICallableObject must not apply to handler scripts']
"#;

fn handler_server(tag: &str, body: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("handler.wsgi", HANDLER);
    dir.write("files/page.tmpl", "the page\n");
    dir.write("files/other.tmpl", "the other page\n");
    dir.write("files/reload.tmpl", "reload me\n");
    dir.write("files/data.page", "data by extension\n");
    dir.write("files/plain.txt", "plain\n");
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess hd {}threads=2\n\
         TypesConfig /dev/null\n\
         Alias /files {{dir}}/files\n\
         WSGICallableObject application\n\
         {body}",
        daemon_user()
    ))
    .modules(&["alias", "mime"]);
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

#[test]
fn a_handler_script_serves_the_files_sethandler_gives_it() {
    let (dir, apache) = handler_server(
        "handler-embedded",
        "WSGIHandlerScript my-handler {dir}/handler.wsgi\n\
         <Files *.tmpl>\n  SetHandler my-handler\n</Files>\n",
    );
    let body = apache.get_ok("/files/page.tmpl");
    let field = |k| json_field(&body, k);
    assert_eq!(field("script_filename"), dir.path("files/page.tmpl"));
    assert_eq!(field("content"), "the page");
    assert_eq!(field("script_name"), "/files/page.tmpl");
    assert_eq!(field("path_info"), "");
    assert_eq!(field("handler_script"), dir.path("handler.wsgi"));
    assert_eq!(field("file"), dir.path("handler.wsgi"));
    assert_eq!(field("request_handler"), "my-handler");
    assert_eq!(field("callable_object"), "handle_request");
    assert_eq!(field("process_group"), "");
    assert_eq!(field("module_process_group"), "");
    // As for any script: a module named after the handler script's path,
    // in the %{RESOURCE} group of the request.
    assert!(field("module").starts_with("_mod_wsgi_"), "{body}");
    assert_eq!(
        field("application_group"),
        format!("localhost:{}|/files/page.tmpl", apache.port)
    );
    // Other files the handler takes: the same script, its own target.
    let other = apache.get_ok("/files/other.tmpl");
    assert_eq!(json_field(&other, "content"), "the other page");
    assert_eq!(json_field(&other, "module"), field("module"));
    // A target that does not exist is the handler's business, as in mod_wsgi.
    let missing = apache.get_ok("/files/none.tmpl");
    assert_eq!(json_field(&missing, "content"), "missing");
    // Files the handler is not set for are Apache's.
    assert_eq!(apache.get("/files/plain.txt").text(), "plain\n");
    apache.assert_no_crash();
}

#[test]
fn a_handler_script_runs_in_its_daemon_process_group() {
    let (dir, apache) = handler_server(
        "handler-daemon",
        "WSGIHandlerScript daemon-handler {dir}/handler.wsgi process-group=hd application-group=%{GLOBAL}\n\
         WSGIHandlerScript my-handler {dir}/handler.wsgi\n\
         <Files *.tmpl>\n  SetHandler daemon-handler\n</Files>\n\
         <Directory {dir}/files>\n  AddHandler my-handler .page\n</Directory>\n",
    );
    let body = apache.get_ok("/files/page.tmpl/extra");
    let field = |k| json_field(&body, k);
    assert_eq!(field("script_filename"), dir.path("files/page.tmpl"));
    assert_eq!(field("content"), "the page");
    assert_eq!(field("script_name"), "/files/page.tmpl");
    assert_eq!(field("path_info"), "/extra");
    assert_eq!(field("handler_script"), dir.path("handler.wsgi"));
    assert_eq!(field("request_handler"), "daemon-handler");
    assert_eq!(field("callable_object"), "handle_request");
    assert_eq!(field("process_group"), "hd");
    assert_eq!(field("module_process_group"), "hd");
    assert_eq!(field("application_group"), "");
    // AddHandler: the same script, embedded.
    let embedded = apache.get_ok("/files/data.page");
    assert_eq!(json_field(&embedded, "content"), "data by extension");
    assert_eq!(json_field(&embedded, "request_handler"), "my-handler");
    assert_eq!(json_field(&embedded, "process_group"), "");
    assert_ne!(json_field(&embedded, "pid"), field("pid"));
    apache.assert_no_crash();
}

#[test]
fn a_handler_script_can_ask_to_be_reloaded_for_a_target() {
    let (_dir, apache) = handler_server(
        "handler-reload",
        "WSGIHandlerScript my-handler {dir}/handler.wsgi application-group=h\n\
         <Files *.tmpl>\n  SetHandler my-handler\n</Files>\n",
    );
    let calls = |path| json_field(&apache.get_ok(path), "calls");
    assert_eq!(calls("/files/page.tmpl"), "1");
    assert_eq!(calls("/files/page.tmpl"), "2");
    // reload_required(SCRIPT_FILENAME) is true for this target: a fresh module.
    assert_eq!(calls("/files/reload.tmpl"), "1");
    assert_eq!(calls("/files/page.tmpl"), "2");
    assert!(
        apache.wait_for_log("Reloading WSGI script", SECS5),
        "{}",
        apache.error_log()
    );
}

#[test]
fn a_handler_script_in_htaccess_under_allowoverride_fileinfo() {
    let (dir, apache) = handler_server(
        "handler-htaccess",
        "<Directory {dir}/files>\n  AllowOverride FileInfo\n</Directory>\n",
    );
    dir.write(
        "files/.htaccess",
        &format!(
            "WSGIHandlerScript ht-handler {}\n<Files *.tmpl>\n  SetHandler ht-handler\n</Files>\n",
            dir.path("handler.wsgi")
        ),
    );
    let body = apache.get_ok("/files/page.tmpl");
    assert_eq!(json_field(&body, "request_handler"), "ht-handler");
    assert_eq!(json_field(&body, "content"), "the page");
}

/// The application the dispatch tests route: where it ran.
const APP: &str = r#"
import json, os, mod_wsgi
def application(environ, start_response):
    body = json.dumps({
        'process_group': environ['mod_wsgi.process_group'],
        'module_process_group': mod_wsgi.process_group,
        'application_group': environ['mod_wsgi.application_group'],
        'callable_object': environ['mod_wsgi.callable_object'],
        'pid': os.getpid(),
    })
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body.encode()]

def other(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'the other callable']
"#;

/// Routes /app/alpha (or ?to=alpha) and /app/beta to two daemon groups;
/// /app/env names an
/// application group after what the script's own environ says; /app/sub
/// and /app/global choose an application group; /app/other another
/// callable; /app/raise, /app/badtype and /app/latin fail.
const DISPATCH: &str = r#"
def process_group(environ):
    uri = environ['REQUEST_URI']
    if uri.startswith('/app/alpha') or environ['QUERY_STRING'] == 'to=alpha':
        return 'alpha'
    if uri.startswith('/app/beta'):
        return b'beta'
    if uri.startswith('/app/raise'):
        raise RuntimeError('dispatch went wrong')
    if uri.startswith('/app/badtype'):
        return 42
    return None

def application_group(environ):
    uri = environ['REQUEST_URI']
    if uri.startswith('/app/env'):
        return 'env-%s-%s-%s' % (environ['mod_wsgi.application_group'] or 'main',
                                 environ['mod_wsgi.process_group'] or 'child',
                                 'mod_wsgi.callable_object' in environ)
    if uri.startswith('/app/sub'):
        return 'chosen'
    if uri.startswith('/app/global'):
        return '%{GLOBAL}'
    if uri.startswith('/app/latin'):
        return 'caf\u20ac'
    return None

def callable_object(environ):
    if environ['REQUEST_URI'].startswith('/app/other'):
        return 'other'
    return None
"#;

fn dispatch_server(tag: &str, top: &str, dispatch_options: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("app.wsgi", APP);
    let script = dir.write("dispatch.py", DISPATCH);
    set_mtime(&script, 100);
    let conf = ApacheConfig::new(&format!(
        "{top}WSGIDaemonProcess alpha {user}threads=2\n\
         WSGIDaemonProcess beta {user}threads=2\n\
         WSGIDispatchScript {{dir}}/dispatch.py {dispatch_options}\n\
         WSGIScriptAlias /app {{dir}}/app.wsgi\n\
         WSGIApplicationGroup configured\n",
        user = daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

#[test]
fn a_dispatch_script_routes_urls_to_daemon_process_groups() {
    let (_dir, apache) = dispatch_server("dispatch-groups", "", "");
    let alpha = apache.get_ok("/app/alpha");
    let beta = apache.get_ok("/app/beta");
    let embedded = apache.get_ok("/app/neither");
    for (body, group) in [(&alpha, "alpha"), (&beta, "beta"), (&embedded, "")] {
        assert_eq!(json_field(body, "process_group"), group, "{body}");
        assert_eq!(json_field(body, "module_process_group"), group, "{body}");
        // application_group() said nothing: the configured one.
        assert_eq!(
            json_field(body, "application_group"),
            "configured",
            "{body}"
        );
    }
    let pids: std::collections::BTreeSet<String> = [&alpha, &beta, &embedded]
        .iter()
        .map(|b| json_field(b, "pid"))
        .collect();
    assert_eq!(pids.len(), 3, "three processes: {pids:?}");
    apache.assert_no_crash();
}

#[test]
fn a_dispatch_script_chooses_the_application_group_and_callable() {
    let (_dir, apache) = dispatch_server("dispatch-app", "", "");
    let group = |path| json_field(&apache.get_ok(path), "application_group");
    assert_eq!(group("/app/sub"), "chosen");
    assert_eq!(group("/app/global"), "");
    // The script runs in the main interpreter, as the Apache child's, and
    // sees no callable yet.
    assert_eq!(group("/app/env"), "env-main-child-False");
    assert_eq!(apache.get("/app/other").text(), "the other callable");
}

#[test]
fn a_dispatch_script_runs_in_the_interpreter_it_names_even_without_embedded_mode() {
    let (_dir, apache) = dispatch_server(
        "dispatch-own",
        "WSGIRestrictEmbedded On\n",
        "application-group=dispatchers",
    );
    let body = apache.get_ok("/app/env?to=alpha");
    assert_eq!(json_field(&body, "process_group"), "alpha");
    assert_eq!(
        json_field(&body, "application_group"),
        "env-dispatchers-child-False"
    );
    let r = apache.get("/app/env");
    // Routed nowhere: embedded mode is off.
    assert_eq!(r.status, 500);
    assert!(
        apache.wait_for_log("Embedded mode of mod_wsgi disabled", SECS5),
        "{}",
        apache.error_log()
    );
}

#[test]
fn a_changed_dispatch_script_is_reloaded() {
    let (dir, apache) = dispatch_server("dispatch-reload", "", "");
    assert_eq!(
        json_field(&apache.get_ok("/app/sub"), "application_group"),
        "chosen"
    );
    dir.write(
        "dispatch.py",
        &DISPATCH.replace("return 'chosen'", "return 'changed'"),
    );
    assert_eq!(
        json_field(&apache.get_ok("/app/sub"), "application_group"),
        "changed"
    );
    assert!(
        apache.wait_for_log(
            &format!("Reloading WSGI script '{}'", dir.path("dispatch.py")),
            SECS5
        ),
        "{}",
        apache.error_log()
    );
}

#[test]
fn dispatch_script_errors_are_logged_with_a_traceback_and_give_500() {
    let (dir, apache) = dispatch_server("dispatch-errors", "", "");
    let script = dir.path("dispatch.py");
    let cases: &[(&str, &[&str])] = &[
        (
            "/app/raise",
            &[
                "Traceback (most recent call last)",
                "RuntimeError: dispatch went wrong",
            ],
        ),
        (
            "/app/badtype",
            &["TypeError: Process group must be a byte string"],
        ),
        (
            "/app/latin",
            &[
                "TypeError: Application group must be a byte string, value containing non 'latin-1' characters found",
            ],
        ),
    ];
    each_case(cases, |(path, lines)| {
        assert_eq!(apache.get(path).status, 500, "{path}");
        assert!(
            apache.wait_log_line(
                &[&format!(
                    "Exception occurred processing WSGI script '{script}'"
                )],
                SECS5
            ),
            "{}",
            apache.error_log()
        );
        for line in *lines {
            assert!(
                apache.wait_for_log(line, SECS5),
                "{line}: {}",
                apache.error_log()
            );
        }
    });
    // A script that cannot even be loaded: the same.
    dir.write("dispatch.py", "def process_group(environ):\n    return (\n");
    assert_eq!(apache.get("/app/alpha").status, 500);
    assert!(
        apache.wait_for_log(
            &format!("Failed to exec Python script file '{script}'"),
            SECS5
        ) && apache.wait_for_log("SyntaxError", SECS5),
        "{}",
        apache.error_log()
    );
    apache.assert_no_crash();
}

#[test]
fn configtest_checks_handler_and_dispatch_scripts() {
    each_case(
        [
            (
                "WSGIDispatchScript /srv/dispatch.py process-group=web",
                "WSGIDispatchScript: process-group= is not an option",
            ),
            (
                "WSGIHandlerScript wsgi-script /srv/h.wsgi",
                "WSGIHandlerScript: 'wsgi-script' is the handler of WSGI scripts themselves",
            ),
            (
                "WSGIHandlerScript h",
                "WSGIHandlerScript needs a handler name and a script path",
            ),
        ],
        |(line, message)| {
            let (ok, out) = configtest(line);
            assert!(!ok && out.contains(message), "{out}");
        },
    );
    let (ok, out) = configtest(
        "WSGIHandlerScript h /srv/h.wsgi process-group=web application-group=%{GLOBAL} pass-authorization=On\n\
         WSGIDispatchScript /srv/dispatch.py application-group=%{GLOBAL}\n\
         <Location /x>\n  WSGIHandlerScript h /srv/h2.wsgi\n  WSGIDispatchScript /srv/d2.py\n</Location>",
    );
    assert!(ok, "{out}");
}
