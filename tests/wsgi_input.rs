//! Issue #3, request side: wsgi.input methods, chunked bodies
//! (WSGIChunkedRequest), LimitRequestBody, clients that disconnect or send
//! garbage, big uploads, and the GIL being released while a read blocks.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;

const APP: &str = include_str!("apps/input.wsgi");

fn server(tag: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("input.wsgi", APP);
    dir.writable_dir("notes");
    let body = "CustomLog {dir}/access.log \"%>s %m %U%q\"\n\
        WSGIScriptAlias /i {dir}/input.wsgi\n\
        WSGIScriptAlias /c {dir}/input.wsgi\n\
        WSGIScriptAlias /l {dir}/input.wsgi\n\
        <Location /c>\n  WSGIChunkedRequest On\n</Location>\n\
        <Location /l>\n  WSGIChunkedRequest On\n  LimitRequestBody 1048576\n</Location>\n";
    let conf = ApacheConfig::new(body).mpm(Mpm::Worker).threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

/// The child still answers, and nothing crashed.
#[track_caller]
fn assert_still_serving(apache: &Apache) {
    assert_eq!(apache.get("/i/ok").text(), "\"ok\"");
    apache.assert_no_crash();
}

/// The child that answered `pid0` still serves, and nothing crashed.
#[track_caller]
fn assert_same_child_serving(apache: &Apache, pid0: &str) {
    assert_eq!(
        apache.get("/i/pid").text(),
        pid0,
        "the child must keep serving"
    );
    apache.assert_no_crash();
}

fn post(apache: &Apache, path: &str, body: &[u8]) -> Response {
    apache.request("POST", path, &[("Content-Type", "text/plain")], body)
}

fn chunked(apache: &Apache, path: &str, body: &[u8]) -> Response {
    apache.request(
        "POST",
        path,
        &[
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "text/plain"),
        ],
        body,
    )
}

fn access_log(dir: &TestDir) -> String {
    std::fs::read_to_string(dir.0.join("access.log")).unwrap_or_default()
}

/// Waits (bounded) for an access-log line (`status method path`).
fn wait_access(dir: &TestDir, line: &str) -> bool {
    wait_until(SECS10, || access_log(dir).lines().any(|l| l == line))
}

#[test]
fn wsgi_input_read_methods_return_what_pep_3333_says() {
    let (_dir, apache) = server("input");
    let cases: [(&str, &[u8], &str); 9] = [
        (
            "/i/readline",
            b"line1\nline2\nlast",
            r#"["line1\n", "line2\n", "last"]"#,
        ),
        (
            "/i/readline?n=3",
            b"abcdefg\nhi\n",
            r#"["abc", "def", "g\n", "hi\n"]"#,
        ),
        (
            "/i/readlines",
            b"a\nb\nc\n",
            r#"{"first": ["a\n", "b\n", "c\n"], "rest": []}"#,
        ),
        (
            "/i/readlines?hint=3",
            b"aa\nbb\ncc\n",
            r#"{"first": ["aa\n"], "rest": ["bb\n", "cc\n"]}"#,
        ),
        ("/i/iter", b"x\ny\nz", r#"["x\n", "y\n", "z"]"#),
        ("/i/read-n?n=4", b"0123456789", r#"["0123", "4567", "89"]"#),
        ("/i/read-none?arg=none", b"all of it", r#""all of it""#),
        ("/i/read-none", b"all of it", r#""all of it""#),
        (
            "/i/mixed",
            b"abcdef\nghij\nkl\n",
            r#"["abc", "def\n", "gh", ["ij\n", "kl\n"]]"#,
        ),
    ];
    each_case(cases, |&(path, body, want)| {
        let r = post(&apache, path, body);
        assert_eq!(r.status, 200, "{}", apache.error_log());
        assert_eq!(r.text(), want);
    });
    apache.assert_no_crash();
}

#[test]
fn a_body_is_read_to_its_end_and_input_is_terminated() {
    let (_dir, apache) = server("input-end");
    // No body: b'' at once, and again at the end; input_terminated is True.
    let r = apache.get("/i/read");
    assert_eq!(
        r.text(),
        r#"{"again": "", "again_n": "", "content_length": null, "len": 0, "line": "", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "te": null, "terminated": true}"#
    );
    let r = post(&apache, "/i/read", b"12345");
    assert!(
        r.text()
            .contains(r#""again": "", "again_n": "", "content_length": "5", "len": 5"#),
        "{}",
        r.text()
    );
    apache.assert_no_crash();
}

#[test]
fn expect_100_continue_is_answered_when_the_app_reads() {
    let (_dir, apache) = server("input-expect");
    // Expect: 100-continue: the interim response is sent when the app reads.
    let mut s = apache.send_request("POST /i/read HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        b"",
    );
    let mut buf = Vec::new();
    assert!(read_until(
        &mut s,
        &mut buf,
        b"HTTP/1.1 100 Continue\r\n\r\n",
        SECS5
    ));
    s.write_all(b"abcde").unwrap();
    buf.clear();
    assert!(read_to_close(&mut s, &mut buf, SECS10));
    let r = parse_response(&buf, false);
    assert_eq!(r.status, 200);
    assert!(r.text().contains(r#""len": 5"#), "{}", r.text());
    apache.assert_no_crash();
}

#[test]
fn reading_after_the_response_started_sends_no_100_continue() {
    let (_dir, apache) = server("input-expect-late");
    // Reading after the response started: no "100 Continue" in the body.
    let mut s = apache.send_request("POST /i/write-then-read HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        b"",
    );
    let mut buf = Vec::new();
    assert!(read_until(&mut s, &mut buf, b"first|", SECS5));
    s.write_all(b"body").unwrap();
    assert!(read_to_close(&mut s, &mut buf, SECS10));
    let r = parse_response(&buf, false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "first|read:body");
    assert!(!String::from_utf8_lossy(&buf).contains("100 Continue"));
    apache.assert_no_crash();
}

#[test]
fn a_5_mib_upload_is_read_intact() {
    let (_dir, apache) = server("input-big");
    // A 5 MiB upload is read intact.
    let data = pseudo_random(5 * 1024 * 1024);
    let r = post(&apache, "/i/upload?tag=big", &data);
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(
        r.text(),
        format!(
            r#"{{"len": {}, "sha256": "{}"}}"#,
            data.len(),
            sha256_hex(&data)
        )
    );
    apache.assert_no_crash();
}

#[test]
fn a_chunked_request_is_411_unless_wsgi_chunked_request_is_on() {
    let (_dir, apache) = server("chunked-off");
    // WSGIChunkedRequest Off (the default): 411, as mod_wsgi.
    let r = chunked(&apache, "/i/read", b"5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(r.status, 411, "{}", apache.error_log());
    assert!(apache.wait_log_line(&["status 411", "needs WSGIChunkedRequest On"], SECS5));

    assert_still_serving(&apache);
}

#[test]
fn a_chunked_body_is_dechunked_without_a_content_length() {
    let (_dir, apache) = server("chunked-on");
    // On: the body is de-chunked; no CONTENT_LENGTH.
    let r = chunked(
        &apache,
        "/c/read",
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert!(
        r.text().contains(r#""content_length": null, "len": 11"#),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains(r#""te": "chunked", "terminated": true"#),
        "{}",
        r.text()
    );
    let r = chunked(
        &apache,
        "/c/readline",
        b"3\r\na\nb\r\n2\r\nc\n\r\n0\r\n\r\n",
    );
    assert_eq!(r.text(), r#"["a\n", "bc\n"]"#);
    assert_still_serving(&apache);
}

#[test]
fn a_5_mib_chunked_upload_is_read_intact() {
    let (_dir, apache) = server("chunked-big");
    // A 5 MiB chunked upload, intact.
    let data = pseudo_random(5 * 1024 * 1024 + 123);
    let r = chunked(
        &apache,
        "/c/upload?tag=chunked-big",
        &chunk_encode(&data, 70_000),
    );
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(
        r.text(),
        format!(
            r#"{{"len": {}, "sha256": "{}"}}"#,
            data.len(),
            sha256_hex(&data)
        )
    );
    assert_still_serving(&apache);
}

#[test]
fn an_invalid_chunked_body_is_an_oserror_in_the_app_and_a_400() {
    let (dir, apache) = server("chunked-bad");
    // An invalid chunked body: OSError in the app, 400, logged.
    let r = chunked(
        &apache,
        "/c/upload?tag=bad-chunk",
        b"5\r\nhello\r\nzz\r\nnot hex\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400, "{}", apache.error_log());
    let note = wait_file(&dir.0.join("notes/bad-chunk"), SECS5).unwrap_or_default();
    assert!(note.starts_with("OSError:"), "{note}");
    assert!(apache.wait_log_line(&["OSError", "request data read error"], SECS5));
    assert_still_serving(&apache);
}

#[test]
fn an_unknown_transfer_coding_is_refused_before_the_app() {
    let (_dir, apache) = server("chunked-gzip");
    // Transfer-Encodings httpd refuses before we see the request (2.4.71
    // answers 400 for an unknown coding; older releases 501).
    let r = apache.request("POST", "/c/read", &[("Transfer-Encoding", "gzip")], b"");
    assert!(matches!(r.status, 400 | 501), "{}", r.status);
    assert_still_serving(&apache);
}

#[test]
fn transfer_encoding_with_content_length_is_dechunked() {
    let (_dir, apache) = server("chunked-te-cl");
    // Both Transfer-Encoding and Content-Length: httpd 2.4.71 drops the
    // Content-Length and de-chunks (RFC 9112 §6.3), closing the connection after.
    let r = apache.request(
        "POST",
        "/c/read",
        &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
        b"5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains(r#""content_length": null, "len": 5"#),
        "{}",
        r.text()
    );
    assert_still_serving(&apache);
}

#[test]
fn limit_request_body_refuses_bodies_over_the_limit_with_413() {
    let (dir, apache) = server("chunked-limit");
    // LimitRequestBody: a declared length over the limit is 413 before the
    // app runs; a chunked body that grows over it is 413 once read.
    let big = vec![b'x'; 2 * 1024 * 1024];
    let r = post(&apache, "/l/upload?tag=limit-cl", &big);
    assert_eq!(r.status, 413, "{}", apache.error_log());
    assert!(apache.wait_log_line(&["status 413", "larger than LimitRequestBody"], SECS5));
    let r = chunked(
        &apache,
        "/l/upload?tag=limit-chunked",
        &chunk_encode(&big, 65536),
    );
    assert_eq!(r.status, 413, "{}", apache.error_log());
    let note = wait_file(&dir.0.join("notes/limit-chunked"), SECS5).unwrap_or_default();
    assert!(note.starts_with("OSError:"), "{note}");
    // Under the limit is fine.
    let r = post(&apache, "/l/upload?tag=limit-ok", &big[..1000]);
    assert_eq!(r.status, 200);
    assert_still_serving(&apache);
}

#[test]
fn concurrent_uploads_and_downloads() {
    let (_dir, apache) = server("concurrent");
    let apache = std::sync::Arc::new(apache);
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            let apache = apache.clone();
            std::thread::spawn(move || {
                for i in 0..8u32 {
                    let data = pseudo_random(100_000 + (t as usize) * 1000 + i as usize);
                    let path = format!("/c/upload?tag=t{t}-{i}");
                    let r = if i % 2 == 0 {
                        post(&apache, &path, &data)
                    } else {
                        chunked(&apache, &path, &chunk_encode(&data, 4096))
                    };
                    assert_eq!(r.status, 200);
                    assert_eq!(
                        r.text(),
                        format!(
                            r#"{{"len": {}, "sha256": "{}"}}"#,
                            data.len(),
                            sha256_hex(&data)
                        )
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    apache.assert_no_crash();
}

#[test]
fn a_client_disconnecting_mid_upload_is_an_oserror_and_a_400() {
    let (dir, apache) = server("badclient-gone");
    let pid0 = apache.get("/i/pid").text();
    // Disconnect mid-upload: OSError in the app, a log line, a 400 in the
    // access log, and the child keeps serving.
    {
        let mut s = apache.send_request("POST /i/upload?tag=gone HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n",
            &[b'z'; 1000],
        );
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
    }
    let note = wait_file(&dir.0.join("notes/gone"), SECS10).unwrap_or_default();
    assert!(note.starts_with("OSError:"), "{note}");
    assert!(
        apache.wait_log_line(&["OSError", "request data read error"], SECS5),
        "{}",
        apache.error_log()
    );
    assert!(
        wait_access(&dir, "400 POST /i/upload?tag=gone"),
        "{}",
        access_log(&dir)
    );
    assert_same_child_serving(&apache, &pid0);
}

#[test]
fn a_100_kb_request_header_is_a_400() {
    let (_dir, apache) = server("badclient-header");
    let pid0 = apache.get("/i/pid").text();
    // A 100 KB request header: httpd answers 400 and logs it.
    let huge = "a".repeat(100 * 1024);
    let r = apache.request("GET", "/i/ok", &[("X-Huge", &huge)], b"");
    assert_eq!(r.status, 400);
    assert!(
        apache.wait_log_line(&["LimitRequestFieldSize"], SECS5)
            || apache.wait_log_line(&["exceeds"], SECS5),
        "{}",
        apache.error_log()
    );
    assert_same_child_serving(&apache, &pid0);
}

#[test]
fn a_request_line_that_is_not_http_is_a_400() {
    let (_dir, apache) = server("badclient-garbage");
    let pid0 = apache.get("/i/pid").text();
    // A request line that is not HTTP: 400.
    let raw = apache.raw(b"GARBAGE\r\n\r\n");
    assert!(
        String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert_same_child_serving(&apache, &pid0);
}

#[test]
fn the_gil_is_released_while_a_read_blocks() {
    let (dir, apache) = server("badclient-gil");
    let pid0 = apache.get("/i/pid").text();
    // The GIL is released while a read blocks: another request in the same
    // interpreter is served while the upload is stalled.
    let mut s = apache.send_request("POST /i/slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 10\r\n\r\n",
        b"01234",
    );
    assert!(wait_file(&dir.0.join("notes/slow"), SECS10).is_some());
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let r = apache.get("/i/ok");
    assert_eq!(r.text(), "\"ok\"");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "blocked: {:?}",
        t0.elapsed()
    );
    s.write_all(b"56789").unwrap();
    let mut buf = Vec::new();
    assert!(read_to_close(&mut s, &mut buf, SECS10));
    let r = parse_response(&buf, false);
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("{\"len\": 10,"), "{}", r.text());
    assert_same_child_serving(&apache, &pid0);
}
