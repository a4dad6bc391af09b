//! Issue #3, environ parity with mod_wsgi 6 (CGI variables, HTTP_* rules,
//! SetEnv, wsgi.* and mod_wsgi.* keys, latin-1 paths), trusted proxy headers
//! end to end, and wsgi.errors / print() routing to the error log.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;

const APP: &str = include_str!("apps/environ.wsgi");

type Env = BTreeMap<String, String>;

/// Parses the app's `key<TAB>json` lines.
fn environ(r: &Response) -> Env {
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn has(env: &Env, key: &str, json: &str) {
    assert_eq!(
        env.get(key).map(String::as_str),
        Some(json),
        "environ[{key:?}]"
    );
}

fn htpasswd_line(user: &str, password: &str) -> String {
    let out = Command::new(PYTHON_EXECUTABLE)
        .arg("-c")
        .arg(format!(
            "import base64,hashlib;print(base64.b64encode(hashlib.sha1(b'{password}').digest()).decode())"
        ))
        .output()
        .expect("run the embedded Python");
    format!(
        "{user}:{{SHA}}{}\n",
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

const CONF: &str = r#"
SetEnv FROM_SETENV hello-setenv
SetEnvIf User-Agent "^EnvTest" FROM_SETENVIF=matched
ServerAdmin admin@example.com
DocumentRoot {dir}
ErrorDocument 404 /env/errordoc
WSGIScriptAlias /env {dir}/environ.wsgi
WSGIScriptAlias /auth {dir}/environ.wsgi
WSGIScriptAlias /basic {dir}/environ.wsgi
WSGIScriptAlias /proxy {dir}/environ.wsgi
WSGIScriptAlias /untrusted {dir}/environ.wsgi
WSGIScriptAlias /https {dir}/environ.wsgi
<Location /auth>
  WSGIPassAuthorization On
</Location>
WSGIScriptAlias /cgiauth {dir}/environ.wsgi
<Location /cgiauth>
  CGIPassAuth On
</Location>
<Location /basic>
  AuthType Basic
  AuthName "environ test"
  AuthUserFile {dir}/htpasswd
  Require valid-user
</Location>
<Location /proxy>
  WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host X-Forwarded-Port X-Script-Name
  WSGITrustedProxies 127.0.0.1
</Location>
<Location /untrusted>
  WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto
  WSGITrustedProxies 10.0.0.0/8
</Location>
<Location /https>
  SetEnv HTTPS on
</Location>
WSGIScriptAlias /headon {dir}/environ.wsgi
WSGIScriptAlias /headoff {dir}/environ.wsgi
WSGIScriptAlias /headauto {dir}/environ.wsgi
<Location /headon>
  WSGIMapHEADToGET On
</Location>
<Location /headoff>
  WSGIMapHEADToGET Off
  SetOutputFilter DEFLATE
</Location>
<Location /headauto>
  SetOutputFilter DEFLATE
</Location>
"#;

fn server(tag: &str, mpm: Mpm) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("environ.wsgi", APP);
    dir.write("htpasswd", &htpasswd_line("alice", "s3cret"));
    let conf = ApacheConfig::new(CONF).mpm(mpm).modules(&[
        "env",
        "setenvif",
        "auth_basic",
        "authn_core",
        "authn_file",
        "authz_user",
        "deflate",
    ]);
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

/// A server, and the environ of a POST to /env/a/b?x=1&y=%20 with
/// headers that exercise mod_wsgi's rules.
fn posted_environ(tag: &str) -> (TestDir, Apache, Env) {
    let (dir, apache) = server(tag, Mpm::Event);
    let r = apache.request(
        "POST",
        "/env/a/b?x=1&y=%20",
        &[
            ("User-Agent", "EnvTest/1.0"),
            ("X-Custom-Header", "custom"),
            ("X_Underscore", "dropped"),
            ("Proxy", "http://evil.example"),
            ("Authorization", "Basic Zm9vOmJhcg=="),
            ("Content-Type", "text/plain"),
            ("Accept", "a/b"),
            ("Accept", "c/d"),
        ],
        b"body",
    );
    let env = environ(&r);
    (dir, apache, env)
}

#[test]
fn cgi_variables_match_mod_wsgi() {
    let (dir, apache, env) = posted_environ("environ-cgi");
    let port = apache.port.to_string();
    let d = dir.0.display().to_string();
    // CGI variables.
    has(&env, "REQUEST_METHOD", "\"POST\"");
    has(&env, "SCRIPT_NAME", "\"/env\"");
    has(&env, "PATH_INFO", "\"/a/b\"");
    has(&env, "QUERY_STRING", "\"x=1&y=%20\"");
    has(&env, "REQUEST_URI", "\"/env/a/b?x=1&y=%20\"");
    has(&env, "SERVER_PROTOCOL", "\"HTTP/1.1\"");
    has(&env, "SERVER_NAME", "\"localhost\"");
    has(&env, "SERVER_PORT", &format!("\"{port}\""));
    has(&env, "SERVER_ADDR", "\"127.0.0.1\"");
    has(&env, "REMOTE_ADDR", "\"127.0.0.1\"");
    has(&env, "REQUEST_SCHEME", "\"http\"");
    has(&env, "SERVER_ADMIN", "\"admin@example.com\"");
    has(&env, "DOCUMENT_ROOT", &format!("\"{d}\""));
    has(&env, "CONTEXT_DOCUMENT_ROOT", &format!("\"{d}\""));
    has(&env, "CONTEXT_PREFIX", "\"\"");
    has(&env, "SCRIPT_FILENAME", &format!("\"{d}/environ.wsgi\""));
    has(&env, "CONTENT_TYPE", "\"text/plain\"");
    has(&env, "CONTENT_LENGTH", "\"4\"");
    assert!(
        env["SERVER_SOFTWARE"].starts_with("\"Apache/2.4"),
        "{}",
        env["SERVER_SOFTWARE"]
    );
    let remote_port: u16 = env["REMOTE_PORT"]
        .trim_matches('"')
        .parse()
        .expect("REMOTE_PORT");
    assert!(remote_port > 0);
    // Left out by mod_wsgi 6.
    for k in [
        "PATH_TRANSLATED",
        "GATEWAY_INTERFACE",
        "REMOTE_HOST",
        "REMOTE_IDENT",
        "SERVER_SIGNATURE",
        "HTTPS",
        "PATH",
        "HTTP_CONTENT_TYPE",
        "HTTP_CONTENT_LENGTH",
    ] {
        assert!(!env.contains_key(k), "{k} must not be in the environ");
    }

    apache.assert_no_crash();
}

#[test]
fn http_headers_become_http_variables_by_mod_wsgi_s_rules() {
    let (_dir, apache, env) = posted_environ("environ-headers");
    let port = apache.port.to_string();
    // Headers: HTTP_*, with the spoofing, httpoxy and Authorization rules.
    has(&env, "HTTP_X_CUSTOM_HEADER", "\"custom\"");
    has(&env, "HTTP_USER_AGENT", "\"EnvTest/1.0\"");
    has(&env, "HTTP_ACCEPT", "\"a/b, c/d\"");
    has(&env, "HTTP_HOST", &format!("\"localhost:{port}\""));
    assert!(
        !env.contains_key("HTTP_X_UNDERSCORE"),
        "names with '_' are dropped"
    );
    assert!(!env.contains_key("HTTP_PROXY"), "httpoxy");
    assert!(
        !env.contains_key("HTTP_AUTHORIZATION"),
        "needs WSGIPassAuthorization On"
    );

    apache.assert_no_crash();
}

#[test]
fn setenv_and_setenvif_values_reach_the_environ() {
    let (_dir, apache, env) = posted_environ("environ-setenv");
    // SetEnv / SetEnvIf values.
    has(&env, "FROM_SETENV", "\"hello-setenv\"");
    has(&env, "FROM_SETENVIF", "\"matched\"");

    apache.assert_no_crash();
}

#[test]
fn every_cgi_value_is_a_str() {
    let (_dir, apache, env) = posted_environ("environ-str");
    // Every CGI value is a str.
    let types = &env["__types__"];
    for (k, _) in env
        .iter()
        .filter(|(k, _)| !k.contains('.') && !k.starts_with("__"))
    {
        assert!(
            types.contains(&format!("\"{k}\": \"str\"")),
            "{k} is not a str: {types}"
        );
    }

    apache.assert_no_crash();
}

#[test]
fn the_wsgi_keys_are_pep_3333_s() {
    let (_dir, apache, env) = posted_environ("environ-wsgi");
    // WSGI keys.
    has(&env, "wsgi.version", "[1, 0]");
    has(&env, "wsgi.url_scheme", "\"http\"");
    has(&env, "wsgi.multithread", "true");
    has(&env, "wsgi.multiprocess", "false");
    has(&env, "wsgi.run_once", "false");
    has(&env, "wsgi.input_terminated", "true");
    has(&env, "wsgi.input", "\"<Input>\"");
    has(&env, "wsgi.errors", "\"<ErrorLog>\"");
    has(&env, "wsgi.file_wrapper", "\"<type>\"");
    has(
        &env,
        "__input_has__",
        "[\"read\", \"readline\", \"readlines\", \"__iter__\"]",
    );
    has(
        &env,
        "__errors_has__",
        "[\"write\", \"writelines\", \"flush\"]",
    );

    apache.assert_no_crash();
}

#[test]
fn the_mod_wsgi_and_apache_keys_match_mod_wsgi() {
    let (_dir, apache, env) = posted_environ("environ-modwsgi");
    let port = apache.port.to_string();
    // mod_wsgi / apache keys.
    has(&env, "mod_wsgi.version", "[6, 0, 5]");
    has(&env, "mod_wsgi.process_group", "\"\"");
    has(
        &env,
        "mod_wsgi.application_group",
        &format!("\"localhost:{port}|/env\""),
    );
    has(&env, "mod_wsgi.callable_object", "\"application\"");
    has(&env, "mod_wsgi.request_handler", "\"wsgi-script\"");
    has(&env, "mod_wsgi.handler_script", "\"\"");
    has(&env, "mod_wsgi.script_name", "\"/env\"");
    has(&env, "mod_wsgi.path_info", "\"/a/b\"");
    has(&env, "mod_wsgi.listener_host", "\"127.0.0.1\"");
    has(&env, "mod_wsgi.listener_port", &format!("\"{port}\""));
    has(
        &env,
        "mod_wsgi.server_pid",
        &format!("\"{}\"", env["__pid__"]),
    );
    has(&env, "mod_wsgi.queue_start", "0.0");
    has(&env, "mod_wsgi.daemon_start", "0.0");
    assert!(env["mod_wsgi.request_id"].len() > 2, "request_id");
    assert!(env["mod_wsgi.connection_id"].len() > 2, "connection_id");
    assert!(env["mod_wsgi.thread_id"].parse::<i64>().is_ok());
    assert!(!env.contains_key("mod_wsgi.mount_point"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start: f64 = env["mod_wsgi.request_start"].parse().unwrap();
    let app_start: f64 = env["mod_wsgi.application_start"].parse().unwrap();
    assert!(
        (now - start).abs() < 30.0 && app_start >= start,
        "{start} {app_start} {now}"
    );
    let apache_version = &env["apache.version"];
    assert!(apache_version.starts_with("[2, 4, "), "{apache_version}");
    let out = Command::new("apache2").arg("-v").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    let patch = v
        .split("Apache/2.4.")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap();
    assert_eq!(apache_version, &format!("[2, 4, {patch}]"));
    // No internal keys leak.
    assert!(!env.keys().any(|k| k.starts_with("mod_wsgi.x-")));

    apache.assert_no_crash();
}

#[test]
fn non_ascii_paths_and_headers_are_latin1_decoded() {
    let (_dir, apache) = server("environ-latin1", Mpm::Event);
    // Non-ASCII and percent-encoded paths: latin-1 decoded bytes (PEP 3333).
    let r = apache.request(
        "GET",
        "/env/caf%C3%A9/%E2%98%83/%FF?q=%C3%A9",
        &[("X-Latin", "caf\u{e9}")],
        b"",
    );
    let env = environ(&r);
    has(
        &env,
        "PATH_INFO",
        "\"/caf\\u00c3\\u00a9/\\u00e2\\u0098\\u0083/\\u00ff\"",
    );
    has(
        &env,
        "REQUEST_URI",
        "\"/env/caf%C3%A9/%E2%98%83/%FF?q=%C3%A9\"",
    );
    has(&env, "QUERY_STRING", "\"q=%C3%A9\"");
    // The request header bytes were UTF-8 (c3 a9): two latin-1 characters.
    has(&env, "HTTP_X_LATIN", "\"caf\\u00c3\\u00a9\"");
    // Raw latin-1 bytes in a header arrive as the same code points.
    let mut req =
        b"GET /env/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Raw: caf".to_vec();
    req.extend_from_slice(b"\xe9\r\n\r\n");
    let env = environ(&parse_response(&apache.raw(&req), false));
    has(&env, "HTTP_X_RAW", "\"caf\\u00e9\"");

    apache.assert_no_crash();
}

#[test]
fn repeated_slashes_are_collapsed() {
    let (_dir, apache) = server("environ-slashes", Mpm::Event);
    // Repeated slashes are collapsed in SCRIPT_NAME and PATH_INFO.
    let env = environ(&apache.get("/env//a///b"));
    has(&env, "SCRIPT_NAME", "\"/env\"");
    has(&env, "PATH_INFO", "\"/a/b\"");

    apache.assert_no_crash();
}

#[test]
fn authorization_reaches_the_app_only_when_passed() {
    let (_dir, apache) = server("environ-authz", Mpm::Event);
    // Authorization with WSGIPassAuthorization On.
    let env = environ(&apache.request("GET", "/auth", &[("Authorization", "Bearer t0k3n")], b""));
    has(&env, "HTTP_AUTHORIZATION", "\"Bearer t0k3n\"");

    let env = environ(&apache.request(
        "GET",
        "/auth",
        &[
            ("Authorization", "Bearer t0k3n"),
            ("Proxy-Authorization", "Basic cA=="),
        ],
        b"",
    ));
    assert!(!env.contains_key("HTTP_PROXY_AUTHORIZATION"));
    // httpd's CGIPassAuth On passes both.
    let env = environ(&apache.request(
        "GET",
        "/cgiauth",
        &[
            ("Authorization", "Bearer t0k3n"),
            ("Proxy-Authorization", "Basic cA=="),
        ],
        b"",
    ));
    has(&env, "HTTP_AUTHORIZATION", "\"Bearer t0k3n\"");
    has(&env, "HTTP_PROXY_AUTHORIZATION", "\"Basic cA==\"");

    apache.assert_no_crash();
}

#[test]
fn httpd_basic_auth_sets_remote_user_and_auth_type() {
    let (_dir, apache) = server("environ-basic", Mpm::Event);
    // httpd's Basic auth: REMOTE_USER and AUTH_TYPE.
    assert_eq!(apache.get("/basic").status, 401);
    let auth = basic_auth("alice", "s3cret");
    let env = environ(&apache.request("GET", "/basic", &[("Authorization", &auth)], b""));
    has(&env, "REMOTE_USER", "\"alice\"");
    has(&env, "AUTH_TYPE", "\"Basic\"");
    assert!(!env.contains_key("HTTP_AUTHORIZATION"));

    apache.assert_no_crash();
}

#[test]
fn an_internal_redirect_sets_the_redirect_variables() {
    let (_dir, apache) = server("environ-redirect", Mpm::Event);
    // An internal redirect (ErrorDocument) to the app: REDIRECT_* variables.
    // (The app's own status is what the client gets, as with mod_wsgi and CGI.)
    let env = environ(&apache.get("/no-such-page?from=here"));
    has(&env, "REDIRECT_STATUS", "\"404\"");
    has(&env, "REDIRECT_URL", "\"/no-such-page\"");
    has(&env, "REDIRECT_QUERY_STRING", "\"from=here\"");
    has(&env, "SCRIPT_NAME", "\"/env\"");
    has(&env, "PATH_INFO", "\"/errordoc\"");
    has(&env, "REQUEST_URI", "\"/no-such-page?from=here\"");

    apache.assert_no_crash();
}

#[test]
fn https_on_sets_the_url_scheme_and_is_removed() {
    let (_dir, apache) = server("environ-https", Mpm::Event);
    // HTTPS=on (as mod_ssl sets it): wsgi.url_scheme https, HTTPS removed.
    let env = environ(&apache.get("/https"));
    has(&env, "wsgi.url_scheme", "\"https\"");
    assert!(!env.contains_key("HTTPS"));

    apache.assert_no_crash();
    apache.assert_no_crash();
}

/// Proxy headers, trusted and untrusted, as a proxy in front would send them.
const PROXY_HEADERS: [(&str, &str); 6] = [
    ("X-Forwarded-For", "203.0.113.9, 127.0.0.1"),
    ("X-Real-IP", "198.51.100.1"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "public.example.com"),
    ("X-Forwarded-Port", "8443"),
    ("X-Script-Name", "/mounted"),
];

/// The environ of a GET of `path` with PROXY_HEADERS.
fn proxied_environ(tag: &str, path: &str) -> Env {
    let (_dir, apache) = server(tag, Mpm::Event);
    environ(&apache.request("GET", path, &PROXY_HEADERS, b""))
}

#[test]
fn trusted_proxy_headers_from_a_trusted_peer_rewrite_the_environ() {
    // Trusted peer (127.0.0.1).
    let env = proxied_environ("proxy", "/proxy/p?q");
    has(&env, "REMOTE_ADDR", "\"203.0.113.9\"");
    has(&env, "wsgi.url_scheme", "\"https\"");
    has(&env, "HTTP_HOST", "\"public.example.com\"");
    has(&env, "SERVER_PORT", "\"8443\"");
    has(&env, "SCRIPT_NAME", "\"/mounted\"");
    has(&env, "PATH_INFO", "\"/p\"");
    has(&env, "mod_wsgi.mount_point", "\"/mounted\"");
    has(&env, "mod_wsgi.script_name", "\"/proxy\"");
    has(&env, "mod_wsgi.path_info", "\"/p\"");
    // The untrusted synonym of a trusted header is stripped.
    assert!(!env.contains_key("HTTP_X_REAL_IP"));
    has(&env, "HTTP_X_FORWARDED_FOR", "\"203.0.113.9, 127.0.0.1\"");
}

#[test]
fn trusted_proxy_headers_from_an_untrusted_peer_are_stripped() {
    // Only 10/8 is trusted: nothing is rewritten, and the trusted headers are
    // stripped so the app cannot be fooled by them.
    let env = proxied_environ("proxy-untrusted", "/untrusted/p");
    has(&env, "REMOTE_ADDR", "\"127.0.0.1\"");
    has(&env, "wsgi.url_scheme", "\"http\"");
    has(&env, "SCRIPT_NAME", "\"/untrusted\"");
    assert!(!env.contains_key("HTTP_X_FORWARDED_FOR"));
    assert!(!env.contains_key("HTTP_X_FORWARDED_PROTO"));
    assert!(!env.contains_key("HTTP_X_REAL_IP"));
    assert!(!env.contains_key("mod_wsgi.mount_point"));
    // Headers not named in WSGITrustedProxyHeaders are left alone.
    has(&env, "HTTP_X_FORWARDED_HOST", "\"public.example.com\"");
}

#[test]
fn without_trusted_proxy_directives_proxy_headers_are_plain_headers() {
    let env = proxied_environ("proxy-none", "/env/p");
    has(&env, "REMOTE_ADDR", "\"127.0.0.1\"");
    has(&env, "HTTP_X_REAL_IP", "\"198.51.100.1\"");
    has(&env, "wsgi.url_scheme", "\"http\"");
}

#[test]
fn map_head_to_get() {
    let (_dir, apache) = server("maphead", Mpm::Event);
    let method = |path: &str| {
        let r = apache.request("HEAD", path, &[], b"");
        assert_eq!(r.status, 200, "{path}: {}", apache.error_log());
        assert!(
            r.raw.ends_with(b"\r\n\r\n"),
            "{path}: HEAD must have no body"
        );
        r.header("X-Request-Method").unwrap_or("").to_string()
    };
    // Auto (the default): HEAD stays HEAD unless a content filter (here
    // mod_deflate) would see the body; On: always GET; Off: never.
    assert_eq!(method("/env"), "HEAD");
    assert_eq!(method("/headauto"), "GET");
    assert_eq!(method("/headon"), "GET");
    assert_eq!(method("/headoff"), "HEAD");
    assert_eq!(
        apache.get("/headon").header("X-Request-Method"),
        Some("GET")
    );
}

#[test]
fn prefork_is_multiprocess_not_multithread() {
    let (_dir, apache) = server("environ-prefork", Mpm::Prefork);
    let env = environ(&apache.get("/env"));
    has(&env, "wsgi.multithread", "false");
    has(&env, "wsgi.multiprocess", "true");
    has(&env, "wsgi.run_once", "false");
}

#[test]
fn errors_print_and_logging_in_a_request_go_to_its_log_lines() {
    let (_dir, apache) = server("errors", Mpm::Event);
    let r = apache.get("/env/log");
    assert_eq!((r.status, r.text().as_str()), (200, "logged"));
    each_case(
        [
            "wsgi.errors line one",
            "wsgi.errors line two",
            "partial line without newline",
            "printed to stdout",
            "printed to stderr",
            "stderr partial, flushed at the end of the request",
            "logging:WARNING:through the logging module",
        ],
        |text| {
            assert!(
                apache.wait_log_line(&["[wsgi:error]", "[client 127.0.0.1:", text], SECS5),
                "no request-context log line for {text:?}:\n{}",
                apache.error_log()
            );
            assert_eq!(apache.log_lines_with(&[text]), 1, "{text:?} logged once");
        },
    );
}

#[test]
fn print_outside_a_request_is_a_server_level_log_line() {
    let (_dir, apache) = server("errors-thread", Mpm::Event);
    // No client.
    assert_eq!(apache.get("/env/thread-print").text(), "thread");
    assert!(apache.wait_log_line(&["[wsgi:error]", "printed from a background thread"], SECS5));
    assert_eq!(
        apache.log_lines_with(&["[client ", "printed from a background thread"]),
        0
    );
}

/// WSGIPassApacheRequest On: embedded applications get the request_rec as
/// an unnamed capsule (`PyCapsule_GetPointer(capsule, NULL)`, as mod_wsgi's
/// C-extension users open it), here read back through `the_request`; Off
/// (the default) and daemon mode: no such key.
#[test]
fn pass_apache_request_gives_the_request_rec_as_a_capsule() {
    let dir = TestDir::new("environ-request-rec");
    // What a C extension does: PyCapsule_GetPointer(capsule, NULL), then
    // request_rec's seventh field (pool, connection, server, next, prev,
    // main, the_request).
    const THE_REQUEST: &str = r#"
import ctypes

get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
get_pointer.restype = ctypes.c_void_p
get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

def the_request(cap):
    r = get_pointer(cap, None)
    return ctypes.c_char_p.from_address(r + 6 * ctypes.sizeof(ctypes.c_void_p)).value
"#;
    dir.write(
        "rec.wsgi",
        &format!(
            "{THE_REQUEST}\n\
             def application(environ, start_response):\n    \
                 cap = environ.get('apache.request_rec')\n    \
                 body = b'none' if cap is None else type(cap).__name__.encode() + b' ' + the_request(cap)\n    \
                 start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
                 return [body]\n"
        ),
    );
    // The access-control and dispatch scripts get it too (as in mod_wsgi).
    dir.write(
        "access.py",
        &format!(
            "{THE_REQUEST}\n\
             def allow_access(environ, host):\n    \
                 cap = environ.get('apache.request_rec')\n    \
                 return cap is not None and the_request(cap).startswith(b'GET /on-scripts/')\n"
        ),
    );
    dir.write(
        "dispatch.py",
        "def application_group(environ):\n    \
         return 'with-rec' if 'apache.request_rec' in environ else 'without-rec'\n",
    );
    dir.write(
        "group.wsgi",
        "def application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [environ['mod_wsgi.application_group'].encode()]\n",
    );
    let conf = ApacheConfig::new(&format!(
        "WSGIDaemonProcess recd {u}threads=1\n\
         WSGIScriptAlias /on-scripts {{dir}}/group.wsgi\n\
         WSGIScriptAlias /off-scripts {{dir}}/group.wsgi\n\
         <Location /on-scripts>\n    WSGIPassApacheRequest On\n    WSGIAccessScript {{dir}}/access.py\n    WSGIDispatchScript {{dir}}/dispatch.py\n</Location>\n\
         <Location /off-scripts>\n    WSGIDispatchScript {{dir}}/dispatch.py\n</Location>\n\
         WSGIScriptAlias /on {{dir}}/rec.wsgi\n\
         WSGIScriptAlias /off {{dir}}/rec.wsgi\n\
         WSGIScriptAlias /daemon {{dir}}/rec.wsgi process-group=recd\n\
         <Location /on>\n    WSGIPassApacheRequest On\n</Location>\n\
         <Location /daemon>\n    WSGIPassApacheRequest On\n</Location>\n",
        u = daemon_user()
    ));
    let apache = Apache::start(&dir, &conf);
    assert_eq!(
        apache.get_ok("/on/x?y=1"),
        "PyCapsule GET /on/x?y=1 HTTP/1.1"
    );
    assert_eq!(apache.get_ok("/off/x"), "none");
    assert_eq!(apache.get_ok("/daemon/x"), "none");
    assert_eq!(apache.get_ok("/on-scripts/x"), "with-rec");
    assert_eq!(apache.get_ok("/off-scripts/x"), "without-rec");
    apache.assert_no_crash();
}
