//! Issue #3, real-world proof: an application wrapped in
//! wsgiref.validate.validator sees no PEP 3333 violation, and Flask and Django
//! (installed from PyPI into the test venv, used through WSGIPythonHome)
//! produce their real output.

mod common;

use common::*;

/// The error log has no sign of a validator complaint.
fn assert_validator_quiet(apache: &Apache) {
    let log = apache.error_log();
    for bad in [
        "AssertionError",
        "WSGIWarning",
        "Traceback",
        "garbage collected",
    ] {
        assert!(!log.contains(bad), "{bad} in the error log:\n{log}");
    }
}

/// Runs tests/apps/validated.wsgi, wrapped in wsgiref's validator, at
/// `/v` with `application_group` (empty: the default sub-interpreter).
fn check_validated_app(tag: &str, application_group: &str) {
    let dir = TestDir::new(tag);
    dir.write("validated.wsgi", include_str!("apps/validated.wsgi"));
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new(&format!(
            "WSGIScriptAlias /v {{dir}}/validated.wsgi {application_group}\n"
        )),
    );
    let v = "/v";
    let r = apache.get(&format!("{v}/get"));
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "validated GET");

    let r = apache.request("HEAD", &format!("{v}/get"), &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.raw.ends_with(b"\r\n\r\n"));

    let r = apache.post(
        &format!("{v}/post"),
        b"first line\nsecond\nthe rest\nand more\n",
    );
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "first line\n|seco|nd\nthe rest\nand more\n|0");

    let r = apache.post(&format!("{v}/iter-input"), b"a\nb\nc\n");
    assert_eq!(r.text(), "3 lines");

    let r = apache.get(&format!("{v}/stream"));
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.text(), "written|item0|item1|item2|item3|item4|");

    let r = apache.get(&format!("{v}/file"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), include_str!("apps/validated.wsgi"));

    let r = apache.get(&format!("{v}/errors"));
    assert_eq!(r.status, 204);
    assert!(apache.wait_log_line(&["[client ", "validated errors stream"], SECS5));
    assert!(apache.wait_log_line(&["[client ", "validated writelines"], SECS5));
    assert_eq!(apache.get("/v/missing").status, 404);
    // Give close()/__del__ complaints time to reach the log.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_validator_quiet(&apache);
    apache.assert_no_crash();
}

#[test]
fn wsgiref_validator_passes_in_a_sub_interpreter() {
    check_validated_app("validator", "");
}

#[test]
fn wsgiref_validator_passes_in_the_main_interpreter() {
    check_validated_app("validator-main", "application-group=%{GLOBAL}");
}

fn framework_server() -> (TestDir, Apache, String) {
    let venv = test_venv();
    let dir = TestDir::new("frameworks");
    dir.write("flask_app.wsgi", include_str!("apps/flask_app.wsgi"));
    for (name, text) in [
        (
            "django.wsgi",
            include_str!("apps/django_project/django.wsgi"),
        ),
        (
            "djproj/__init__.py",
            include_str!("apps/django_project/djproj/__init__.py"),
        ),
        (
            "djproj/settings.py",
            include_str!("apps/django_project/djproj/settings.py"),
        ),
        (
            "djproj/urls.py",
            include_str!("apps/django_project/djproj/urls.py"),
        ),
        (
            "djproj/views.py",
            include_str!("apps/django_project/djproj/views.py"),
        ),
        (
            "templates/home.html",
            include_str!("apps/django_project/templates/home.html"),
        ),
        (
            "templates/form.html",
            include_str!("apps/django_project/templates/form.html"),
        ),
    ] {
        dir.write(&format!("django_project/{name}"), text);
    }
    dir.write_bytes("payload.bin", &served_file());
    let venv_s = venv.display().to_string();
    let conf = ApacheConfig::new(&format!(
        "WSGIPythonHome {venv_s}\n\
         WSGIScriptAlias /flask {{dir}}/flask_app.wsgi\n\
         WSGIScriptAlias /django {{dir}}/django_project/django.wsgi\n"
    ));
    let apache = Apache::start(&dir, &conf);
    (dir, apache, venv_s)
}

/// The file both frameworks serve through wsgi.file_wrapper.
fn served_file() -> Vec<u8> {
    (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(31) >> 3) as u8)
        .collect()
}

fn multipart(boundary: &str, fields: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, data) in fields {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// `name=value` of a Set-Cookie header.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap_or("").trim()
}

#[test]
fn flask_serves_pages_and_json() {
    let (_dir, apache, venv) = framework_server();
    let r = apache.get("/flask/");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), format!("Hello from Flask {venv}"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));

    let r = apache.get("/flask/json?a=1&b=two");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(
        r.text().trim(),
        r#"{"args":{"a":"1","b":"two"},"path":"/json","scheme":"http","script_root":"/flask"}"#
    );

    apache.assert_no_crash();
}

#[test]
fn flask_reads_forms_and_multipart_uploads() {
    let (_dir, apache, _venv) = framework_server();
    let r = apache.request(
        "POST",
        "/flask/form",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"name=J%C3%B6rg+Smith&age=42",
    );
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.text(), "hello J\u{f6}rg Smith, you are 42");

    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let body = multipart("XyZb0undary", &[("file", Some("data.bin"), &payload)]);
    let r = apache.request(
        "POST",
        "/flask/upload",
        &[("Content-Type", "multipart/form-data; boundary=XyZb0undary")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(
        r.text().trim(),
        format!(
            r#"{{"name":"data.bin","sha256":"{}","size":300000}}"#,
            sha256_hex(&payload)
        )
    );

    apache.assert_no_crash();
}

#[test]
fn flask_sets_and_reads_cookies_and_redirects() {
    let (_dir, apache, _venv) = framework_server();
    let r = apache.get("/flask/cookie/set");
    assert_eq!(r.text(), "cookies set");
    let cookies = r.headers_named("Set-Cookie");
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert_eq!(cookie_pair(cookies[0]), "flavor=oatmeal");
    assert_eq!(cookie_pair(cookies[1]), "session_hint=abc");
    assert!(cookies[1].contains("HttpOnly"));
    let r = apache.request(
        "GET",
        "/flask/cookie/get",
        &[("Cookie", "flavor=oatmeal")],
        b"",
    );
    assert_eq!(r.text(), "flavor=oatmeal");

    let r = apache.get("/flask/redirect");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("/flask/json?x=1"));

    apache.assert_no_crash();
}

#[test]
fn flask_streams_and_sends_files() {
    let (_dir, apache, _venv) = framework_server();
    let r = apache.get("/flask/stream");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert!(r.complete);
    assert_eq!(r.text(), "row 0\nrow 1\nrow 2\nrow 3\n");

    let r = apache.get("/flask/download");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.header("Content-Length"), Some("1500000"));
    assert_eq!(sha256_hex(&r.body), sha256_hex(&served_file()));

    apache.assert_no_crash();
}

#[test]
fn flask_answers_404_and_its_own_500_page() {
    let (_dir, apache, _venv) = framework_server();
    let r = apache.get("/flask/nope");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Not Found"), "{}", r.text());

    // Flask handles its own view errors: 500 page, traceback to wsgi.errors.
    let r = apache.get("/flask/boom");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("Internal Server Error"));
    assert!(apache.wait_log_line(&["[client ", "RuntimeError: flask view failed"], SECS5));

    apache.assert_no_crash();
}

#[test]
fn django_serves_pages_and_files() {
    let (_dir, apache, _venv) = framework_server();
    let r = apache.get("/django/");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    let text = r.text();
    // Django 5 on 3.10/3.11, Django 6 on 3.12+.
    assert!(
        text.contains("<h1>Django 5.") || text.contains("<h1>Django 6."),
        "{text}"
    );
    assert!(text.contains("script_name=/django path=/django/"), "{text}");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));

    let r = apache.get("/django/greet/world/");
    assert_eq!((r.status, r.text().as_str()), (200, "greetings, world"));

    let r = apache.get("/django/download/");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(r.header("Content-Length"), Some("1500000"));
    assert_eq!(sha256_hex(&r.body), sha256_hex(&served_file()));

    let r = apache.get("/django/missing/");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Not Found"), "{}", r.text());

    apache.assert_no_crash();
}

#[test]
fn django_csrf_refuses_a_post_without_the_token_and_accepts_the_real_flow() {
    let (_dir, apache, _venv) = framework_server();
    // POST without the CSRF token: refused by Django's middleware.
    let r = apache.request(
        "POST",
        "/django/form/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"item=x",
    );
    assert_eq!(r.status, 403);

    // The real flow: the form sets the csrftoken cookie and hidden field.
    let r = apache.get("/django/form/");
    assert_eq!(r.status, 200);
    let cookie = r
        .headers_named("Set-Cookie")
        .into_iter()
        .find(|c| c.starts_with("csrftoken="))
        .map(cookie_pair)
        .expect("csrftoken cookie")
        .to_string();
    let text = r.text();
    let token = text
        .split("name=\"csrfmiddlewaretoken\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf hidden field")
        .to_string();
    let body = format!("csrfmiddlewaretoken={token}&item=widget");
    let r = apache.request(
        "POST",
        "/django/form/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &cookie),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), apache.error_log());
    assert_eq!(r.text(), "posted widget");

    apache.assert_no_crash();
}
