//! Issue #3, response side: start_response rules, body iteration, close(),
//! Content-Length, HEAD, streaming, wsgi.file_wrapper, big bodies and client
//! disconnects, all against a real Apache. Each bad-application case must get
//! a defined status and a log line, and the child must keep serving.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

const APP: &str = include_str!("apps/response.wsgi");

fn server(tag: &str, extra: &str) -> (TestDir, Apache) {
    let dir = TestDir::new(tag);
    dir.write("app.wsgi", APP);
    dir.write("events.wsgi", include_str!("apps/events.wsgi"));
    dir.write("small.txt", "small file\n");
    dir.writable_dir("closed");
    let conf = ApacheConfig::new(&format!(
        "WSGIScriptAlias /r {{dir}}/app.wsgi\nWSGIScriptAlias /ev {{dir}}/events.wsgi\n{extra}\n"
    ))
    .threads(4, 1);
    let apache = Apache::start(&dir, &conf);
    (dir, apache)
}

fn pid(apache: &Apache) -> String {
    let r = apache.get("/r/pid");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    r.text()
}

/// What `close()` (or a generator's `finally`) recorded for `tag`.
fn closes(dir: &TestDir, tag: &str) -> String {
    wait_file(&dir.0.join("closed").join(tag), SECS5).unwrap_or_default()
}

#[track_caller]
fn expect_500(apache: &Apache, path: &str, log_parts: &[&str]) {
    let r = apache.get(path);
    assert_eq!(
        r.status,
        500,
        "{path}: {}\n{}",
        r.text(),
        apache.error_log()
    );
    assert!(
        apache.wait_log_line(log_parts, SECS5),
        "{path}: no log line with {log_parts:?}:\n{}",
        apache.error_log()
    );
}

#[test]
fn start_response_validation() {
    let (_dir, apache) = server("sr", "");
    let pid0 = pid(&apache);

    expect_500(&apache, "/r/status-bytes", &["TypeError", "status"]);
    expect_500(&apache, "/r/status-int", &["TypeError", "status"]);
    expect_500(
        &apache,
        "/r/status-bad",
        &["ValueError", "OK 200", "three digit code"],
    );
    expect_500(
        &apache,
        "/r/status-crlf",
        &["ValueError", "control characters"],
    );
    expect_500(
        &apache,
        "/r/headers-tuple",
        &["TypeError", "list object for headers"],
    );
    expect_500(
        &apache,
        "/r/header-not-tuple",
        &["TypeError", "tuple object for header"],
    );
    expect_500(&apache, "/r/header-bytes", &["TypeError", "header name"]);
    expect_500(&apache, "/r/header-3-tuple", &["ValueError", "2 items"]);
    expect_500(&apache, "/r/status-not-latin1", &["ValueError", "latin-1"]);
    expect_500(
        &apache,
        "/r/header-value-int",
        &["TypeError", "header value"],
    );
    expect_500(
        &apache,
        "/r/header-name-space",
        &["ValueError", "\"X Evil\""],
    );
    expect_500(
        &apache,
        "/r/header-control",
        &["ValueError", "\"X-Ctl\"", "control characters"],
    );
    expect_500(
        &apache,
        "/r/header-not-latin1",
        &["ValueError", "\"X-Snow\"", "latin-1"],
    );
    expect_500(
        &apache,
        "/r/hop-by-hop",
        &["ValueError", "\"Transfer-Encoding\"", "hop-by-hop"],
    );
    expect_500(
        &apache,
        "/r/twice",
        &["RuntimeError", "called again without exc_info"],
    );
    expect_500(&apache, "/r/exc-info-bad", &["RuntimeError", "exc_info"]);
    expect_500(
        &apache,
        "/r/cl-bad",
        &["ValueError", "Content-Length", "\"lots\""],
    );

    // CR/LF injection: refused, logged naming the header, never emitted.
    for (path, name) in [("/r/header-crlf", "X-Evil"), ("/r/header-lf", "X-Evil-Lf")] {
        let r = apache.get(path);
        assert_eq!(r.status, 500, "{path}");
        let raw = String::from_utf8_lossy(&r.raw).to_ascii_lowercase();
        assert!(!raw.contains("injected"), "{raw}");
        assert!(!raw.contains("x-evil"), "{raw}");
        assert!(apache.wait_log_line(
            &[
                &format!("\"{name}\""),
                "CR or LF",
                "header injection refused"
            ],
            SECS5
        ));
    }

    // Latin-1 header values go out as latin-1 bytes.
    let r = apache.get("/r/header-latin1");
    assert_eq!(r.status, 200);
    assert!(
        r.raw.windows(14).any(|w| w == b"X-Latin: caf\xe9\r"),
        "{:?}",
        String::from_utf8_lossy(&r.raw)
    );

    // A status with no reason phrase is allowed (httpd supplies it).
    let r = apache.get("/r/status-only-code");
    assert_eq!(r.status, 201, "{}", apache.error_log());
    assert_eq!(r.reason, "Created");
    assert_eq!(r.text(), "code only");

    // A second call without exc_info raises in the app (which may catch it).
    let r = apache.get("/r/twice-caught");
    assert_eq!((r.status, r.text().as_str()), (200, "raised RuntimeError"));

    // exc_info before any output replaces the response.
    let r = apache.get("/r/exc-info-before");
    assert_eq!(r.status, 503, "{}", apache.error_log());
    assert_eq!(r.text(), "replaced body");
    assert_eq!(r.header("X-Second"), Some("1"));
    assert_eq!(r.header("X-First"), None);

    // exc_info after output re-raises: truncated response, logged traceback.
    let r = apache.get("/r/exc-info-after");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "partial output|");
    assert!(!r.complete, "the response must look incomplete");
    assert!(apache.wait_log_line(&["KeyError: 'after output'"], SECS5));
    assert!(apache.wait_log_line(
        &["Exception occurred processing WSGI script", "app.wsgi"],
        SECS5
    ));

    // Multiple Set-Cookie headers, redirects, WWW-Authenticate.
    let r = apache.get("/r/cookies");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers_named("Set-Cookie"),
        vec!["a=1; Path=/", "b=2; Path=/"]
    );
    assert_eq!(r.header("Location"), Some("/elsewhere"));
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"x\""));

    // Connection: close is honoured.
    let r = apache.get("/r/connection-close");
    assert_eq!((r.status, r.text().as_str()), (200, "closing"));
    assert_eq!(r.header("Connection"), Some("close"));

    // No start_response at all.
    expect_500(&apache, "/r/no-start-response", &["start_response()"]);
    expect_500(
        &apache,
        "/r/no-start-response-empty",
        &["returned without calling start_response()"],
    );

    // write().
    let r = apache.get("/r/write");
    assert_eq!((r.status, r.text().as_str()), (200, "one,two,three"));
    expect_500(
        &apache,
        "/r/write-str",
        &["TypeError", "write() argument must be bytes"],
    );

    // mod_wsgi.subscribe_events sees each start_response.
    assert_eq!(apache.get("/ev/x").text(), "created");
    assert_eq!(
        apache.get("/ev/seen").text(),
        "[('201 Created', [('X-A', '1')], False), ('200 OK', [('Content-Type', 'text/plain')], False)]"
    );

    assert_eq!(pid(&apache), pid0, "the child must keep serving");
    apache.assert_no_crash();
}

#[test]
fn body_iteration_close_and_content_length() {
    let (dir, apache) = server("body", "");
    let pid0 = pid(&apache);

    // Lists and tuples: complete bodies, with a Content-Length.
    let r = apache.get("/r/list");
    assert_eq!((r.status, r.text().as_str()), (200, "abcdef"));
    assert_eq!(r.header("Content-Length"), Some("6"));
    assert_eq!(apache.get("/r/tuple").text(), "xy");

    // Generators: streamed (chunked); close() runs the generator's finally.
    let r = apache.get("/r/generator?tag=gen");
    assert_eq!((r.status, r.text().as_str()), (200, "g0;g1;g2;"));
    assert!(r.complete);
    assert_eq!(closes(&dir, "gen"), "gen-finally\n");

    // A custom iterable: close() exactly once.
    let r = apache.get("/r/custom?tag=custom");
    assert_eq!((r.status, r.text().as_str()), (200, "c1c2"));
    assert_eq!(closes(&dir, "custom"), "close\n");

    // An iterable without close() is fine.
    let r = apache.get("/r/no-close");
    assert_eq!((r.status, r.text().as_str()), (200, "n1n2"));

    // Empty bodies.
    let r = apache.get("/r/empty");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert_eq!(r.header("X-Empty"), Some("yes"));
    assert_eq!(r.header("Content-Length"), Some("0"));
    let r = apache.get("/r/empty-items?tag=empty-items");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert!(r.complete);
    assert_eq!(closes(&dir, "empty-items"), "close\n");
    let r = apache.get("/r/no-content");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());

    // Non-bytes item before anything was sent: 500, logged, closed once.
    let r = apache.get("/r/str-first?tag=str-first");
    assert_eq!(r.status, 500);
    assert!(apache.wait_log_line(&["TypeError", "value of type str found"], SECS5));
    assert_eq!(closes(&dir, "str-first"), "close\n");

    // Non-bytes item after output: the connection is aborted, logged, closed once.
    for (tag, t) in [("str-later", "str"), ("none-later", "NoneType")] {
        let r = apache.get(&format!("/r/{tag}?tag={tag}"));
        assert_eq!(r.status, 200, "{tag}");
        assert_eq!(r.text(), "first item|", "{tag}");
        assert!(!r.complete, "{tag}: must not end like a complete response");
        assert!(apache.wait_log_line(&["TypeError", &format!("value of type {t} found")], SECS5));
        assert_eq!(closes(&dir, tag), "close\n", "{tag}");
    }

    // Exceptions: before start_response, in the first item, mid-stream.
    expect_500(
        &apache,
        "/r/raise-before",
        &["ValueError: raised before start_response"],
    );
    let r = apache.get("/r/raise-first-item?tag=raise-first");
    assert_eq!(r.status, 500);
    assert!(apache.wait_log_line(&["RuntimeError: body failed at item 0"], SECS5));
    assert_eq!(closes(&dir, "raise-first"), "close\n");

    let r = apache.get("/r/raise-mid?tag=raise-mid");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "before failure|");
    assert!(
        !r.complete,
        "no chunked terminator after a mid-stream exception"
    );
    assert!(r.header("Transfer-Encoding").is_some());
    assert!(apache.wait_log_line(&["RuntimeError: body failed at item 1"], SECS5));
    assert!(
        apache.wait_log_line(&["Traceback (most recent call last)"], SECS5),
        "{}",
        apache.error_log()
    );
    assert_eq!(closes(&dir, "raise-mid"), "close\n");

    // On a keep-alive connection the server closes it after the truncated
    // response, so the client can tell the body is incomplete.
    let mut s = apache.send_request("GET /r/raise-mid HTTP/1.1\r\nHost: localhost\r\n\r\n", b"");
    let mut buf = Vec::new();
    assert!(
        read_to_close(&mut s, &mut buf, SECS10),
        "connection left open"
    );
    let r = parse_response(&buf, false);
    assert_eq!(
        (r.status, r.text().as_str(), r.complete),
        (200, "before failure|", false)
    );

    let r = apache.get("/r/raise-mid-length?tag=raise-mid-length");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert_eq!(r.text(), "before failure|");
    assert!(!r.complete);
    assert_eq!(closes(&dir, "raise-mid-length"), "close\n");

    expect_500(
        &apache,
        "/r/not-iterable",
        &["TypeError", "'int' object is not iterable"],
    );
    expect_500(
        &apache,
        "/r/return-none",
        &["TypeError", "'NoneType' object is not iterable"],
    );
    // A bare str or bytes is iterated item by item: str items, int items.
    expect_500(
        &apache,
        "/r/return-str",
        &["TypeError", "value of type str found"],
    );
    expect_500(
        &apache,
        "/r/return-bytes",
        &["TypeError", "value of type int found"],
    );
    let r = apache.get("/r/late-start");
    assert_eq!((r.status, r.text().as_str()), (202, "late"));
    assert_eq!(r.header("X-Late"), Some("yes"));

    // close() raising after output: logged; the response is cut short.
    let r = apache.get("/r/bad-close");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "body-before-bad-close");
    assert!(!r.complete);
    assert!(apache.wait_log_line(&["ValueError: close() failed on purpose"], SECS5));

    // Content-Length set by the app: excess cut, short body logged and cut.
    let r = apache.get("/r/cl-excess?tag=cl-excess");
    assert_eq!((r.status, r.text().as_str()), (200, "12345"));
    assert_eq!(r.header("Content-Length"), Some("5"));
    assert_eq!(
        r.raw.len() - (r.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4),
        5
    );
    assert_eq!(closes(&dir, "cl-excess"), "close\n");
    let r = apache.get("/r/cl-short?tag=cl-short");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.text(), "123");
    assert!(!r.complete);
    assert!(apache.wait_log_line(&["shorter than its Content-Length", "3 of 10 bytes"], SECS5));
    assert_eq!(closes(&dir, "cl-short"), "close\n");
    let r = apache.get("/r/not-modified?tag=not-modified");
    assert_eq!(r.status, 304);
    assert_eq!(r.header("ETag"), Some("\"v1\""));
    assert!(r.raw.ends_with(b"\r\n\r\n"), "304 has no body");
    assert_eq!(closes(&dir, "not-modified"), "close\n");
    assert_eq!(
        apache.log_lines_with(&["shorter than its Content-Length", "of 1234"]),
        0
    );
    let r = apache.get("/r/cl-exact");
    assert_eq!((r.status, r.text().as_str()), (200, "abcdef"));

    // HEAD: headers only, the app's Content-Length kept, close() still called.
    let r = apache.request("HEAD", "/r/head?tag=head", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert_eq!(r.header("X-Method"), Some("HEAD"));
    assert!(r.raw.ends_with(b"\r\n\r\n"), "HEAD must have no body");
    assert_eq!(closes(&dir, "head"), "close\n");
    let r = apache.request("HEAD", "/r/head-stream", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.raw.ends_with(b"\r\n\r\n"), "HEAD must have no body");

    assert_eq!(pid(&apache), pid0, "the child must keep serving");
    apache.assert_no_crash();
}

#[test]
fn streaming_big_bodies_and_client_disconnect() {
    let (dir, apache) = server("stream", "");
    let pid0 = pid(&apache);
    let closed = dir.0.join("closed");

    // Each yielded item reaches the client before the next is produced: the
    // app waits for a marker the test creates only after seeing item one.
    for (path, marker) in [("/r/stream", "m1"), ("/r/stream-write", "m2")] {
        let mut s = apache.send_request(&format!(
                "GET {path}?marker={marker} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            ),
            b"",
        );
        let mut buf = Vec::new();
        assert!(
            read_until(&mut s, &mut buf, b"first|", SECS5),
            "{path}: the first item was not streamed: {:?}",
            String::from_utf8_lossy(&buf)
        );
        std::fs::write(closed.join(marker), b"go").unwrap();
        assert!(read_to_close(&mut s, &mut buf, SECS10));
        let r = parse_response(&buf, false);
        assert_eq!(r.status, 200);
        assert!(r.complete);
        assert!(
            r.text().starts_with("first|second:saw-marker"),
            "{}",
            r.text()
        );
    }

    // HTTP/1.0: no chunking; the end of the body is the end of the connection.
    let mut s = apache.send_request("GET /r/generator HTTP/1.0\r\n\r\n", b"");
    let mut buf = Vec::new();
    assert!(read_to_close(&mut s, &mut buf, SECS10));
    let r = parse_response(&buf, false);
    assert_eq!((r.status, r.text().as_str()), (200, "g0;g1;g2;"));
    assert_eq!(r.header("Transfer-Encoding"), None);

    // 10 MiB from a generator, intact.
    let size = 10 * 1024 * 1024;
    let r = apache.get(&format!("/r/big-generator?size={size}"));
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body.len(), size);
    assert_eq!(sha256_hex(&r.body), sha256_hex(&big_generator_body(size)));

    // Client disconnect mid-download: the app stops, close() runs once, it is
    // logged, and the child keeps serving.
    {
        let mut s = apache.send_request(
            "GET /r/download?tag=download HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"",
        );
        let mut buf = Vec::new();
        assert!(read_until(&mut s, &mut buf, b"yyyyyyyy", SECS5));
        drop(s);
    }
    assert_eq!(closes(&dir, "download"), "close\n");
    assert!(
        apache.wait_log_line(
            &["client connection closed while sending the response"],
            SECS10
        ),
        "{}",
        apache.error_log()
    );

    // write() after the client went away raises OSError in the app.
    {
        let mut s = apache.send_request(
            "GET /r/write-loop?tag=write-loop HTTP/1.1\r\nHost: localhost\r\n\r\n",
            b"",
        );
        let mut buf = Vec::new();
        assert!(read_until(&mut s, &mut buf, b"wwwwwwww", SECS5));
        drop(s);
    }
    assert_eq!(closes(&dir, "write-loop"), "write-loop:OSError\n");
    assert!(apache.wait_log_line(&["OSError", "failed to write response data"], SECS10));

    // The GIL is released while a write blocks: a client that stops reading a
    // big response does not stall other requests.
    let mut stalled = apache.send_request(
        "GET /r/big-generator HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"",
    );
    let mut buf = Vec::new();
    assert!(read_until(&mut stalled, &mut buf, b"\r\n\r\n", SECS5));
    std::thread::sleep(Duration::from_millis(500));
    let t0 = std::time::Instant::now();
    assert_eq!(apache.get("/r/ok").text(), "ok");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "blocked for {:?}",
        t0.elapsed()
    );
    drop(stalled);

    // Request objects kept after their request ended refuse to work.
    assert_eq!(apache.get("/r/stash").text(), "stashed");
    let r = apache.get("/r/use-stash");
    assert_eq!(
        r.text(),
        "read:RuntimeError readline:RuntimeError write:RuntimeError start_response:RuntimeError"
    );

    assert_eq!(pid(&apache), pid0, "the child must keep serving");
    apache.assert_no_crash();
}

fn data_file(dir: &TestDir, size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size)
        .map(|i| ((i * 7 + i / 4093) % 251) as u8)
        .collect();
    dir.write_bytes("data.bin", &data);
    data
}

fn check_file_wrapper(dir: &TestDir, apache: &Apache, data: &[u8]) {
    // The whole file: Content-Length set, bytes intact, close() called.
    let r = apache.get("/r/file?tag=f1");
    assert_eq!(r.status, 200, "{}", apache.error_log());
    assert_eq!(
        r.header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(r.body.len(), data.len());
    assert_eq!(sha256_hex(&r.body), sha256_hex(data));
    assert_eq!(closes(dir, "f1"), "file-close\n");

    // From the current file position.
    let r = apache.get("/r/file?tag=f2&skip=1000");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), data.len() - 1000);
    assert!(r.body == data[1000..], "content from offset 1000");
    assert_eq!(closes(dir, "f2"), "file-close\n");

    // The app's Content-Length is honoured (shorter than the file).
    let r = apache.get("/r/file?tag=f3&skip=10&cl=100");
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert!(r.body == data[10..110]);
    assert!(r.complete);

    // A Content-Length longer than the file: short body, logged, cut.
    let r = apache.get(&format!("/r/file?tag=f4&cl={}", data.len() + 10));
    assert_eq!(r.body.len(), data.len());
    assert!(!r.complete);
    assert!(apache.wait_log_line(&["shorter than its Content-Length"], SECS5));

    // A plain open() file object.
    let r = apache.get("/r/file-plain");
    assert_eq!(r.status, 200);
    assert_eq!(sha256_hex(&r.body), sha256_hex(data));

    // A file-like without fileno(): read in blksize chunks, then closed.
    let r = apache.get("/r/filelike?tag=fl&blksize=1000");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 12000);
    assert_eq!(Some(sha256_hex(&r.body).as_str()), r.header("X-Sha256"));
    assert_eq!(closes(dir, "fl"), "filelike-close:[1000]\n");

    // After write(): iterated, after what was written.
    let r = apache.get("/r/file-after-write");
    assert_eq!(r.text(), "prefix|small file\n");

    // No descriptor leaks: the server's duplicates are closed per request.
    let fds = |a: &Apache| a.get("/r/fds").text().parse::<usize>().unwrap();
    let before = fds(apache);
    for _ in 0..30 {
        assert_eq!(apache.get("/r/file-plain").status, 200);
    }
    let after = fds(apache);
    assert!(
        after <= before + 2,
        "descriptors grew from {before} to {after}"
    );

    // HEAD: headers only.
    let r = apache.request("HEAD", "/r/file?tag=f5", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert!(r.raw.ends_with(b"\r\n\r\n"));
    assert_eq!(closes(dir, "f5"), "file-close\n");
}

#[test]
fn file_wrapper_with_sendfile() {
    let (dir, apache) = server("fw-sendfile", "WSGIEnableSendfile On\nEnableSendfile On\n");
    let data = data_file(&dir, 10 * 1024 * 1024);
    let pid0 = pid(&apache);
    check_file_wrapper(&dir, &apache, &data);
    // The file really goes out with sendfile(2).
    let trace = strace_during(&pid0, "sendfile", || {
        assert_eq!(apache.get("/r/file-plain").body.len(), data.len());
    });
    assert!(trace.contains("sendfile("), "no sendfile call:\n{trace}");
    assert_eq!(pid(&apache), pid0);
    apache.assert_no_crash();
}

#[test]
fn file_wrapper_without_sendfile() {
    let (dir, apache) = server("fw-plain", "EnableMMAP Off\nEnableSendfile On\n");
    let data = data_file(&dir, 10 * 1024 * 1024);
    check_file_wrapper(&dir, &apache, &data);
    // Without WSGIEnableSendfile the file is read by httpd, not sendfile(2)'d.
    let pid0 = pid(&apache);
    let trace = strace_during(&pid0, "sendfile", || {
        assert_eq!(apache.get("/r/file-plain").body.len(), data.len());
    });
    assert!(
        !trace.contains("sendfile("),
        "unexpected sendfile call:\n{trace}"
    );
    // Client disconnect during a file response: the child keeps serving.
    {
        let mut s = apache.connect();
        s.write_all(b"GET /r/file?tag=f9 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        assert!(read_until(&mut s, &mut buf, b"\r\n\r\n", SECS5));
        drop(s);
    }
    assert_eq!(closes(&dir, "f9"), "file-close\n");
    assert_eq!(apache.get("/r/ok").text(), "ok");
    apache.assert_no_crash();
}

#[test]
fn prefork_smoke() {
    let dir = TestDir::new("prefork");
    dir.write("app.wsgi", APP);
    dir.write("small.txt", "small file\n");
    dir.writable_dir("closed");
    let data = data_file(&dir, 3 * 1024 * 1024 + 17);
    let apache = Apache::start(
        &dir,
        &ApacheConfig::new("WSGIScriptAlias /r {dir}/app.wsgi\nWSGIEnableSendfile On\n")
            .mpm(Mpm::Prefork),
    );
    let r = apache.get("/r/list");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "abcdef"),
        "{}",
        apache.error_log()
    );
    let r = apache.get("/r/generator?tag=g");
    assert_eq!(r.text(), "g0;g1;g2;");
    assert_eq!(closes(&dir, "g"), "gen-finally\n");
    let r = apache.get("/r/file-plain");
    assert_eq!(sha256_hex(&r.body), sha256_hex(&data));
    let r = apache.get("/r/raise-mid?tag=m");
    assert_eq!((r.status, r.complete), (200, false));
    expect_500(&apache, "/r/header-crlf", &["CR or LF"]);
    let size = 2 * 1024 * 1024;
    let r = apache.get(&format!("/r/big-generator?size={size}"));
    assert_eq!(sha256_hex(&r.body), sha256_hex(&big_generator_body(size)));
    apache.assert_no_crash();
}
